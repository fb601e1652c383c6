/* resize.h - resampling 8-bit RGB images.
 *
 * image_resize_bicubic reproduces Pillow's Image.resize(size, BICUBIC) on an
 * 8-bit RGB image byte for byte (the resampler Hugging Face's Qwen2-VL /
 * Qwen3-VL image processor uses): a separable convolution with the cubic
 * kernel a = -0.5 whose support widens by the scale factor when shrinking
 * (antialiasing), coefficients normalised in double and rounded to 22-bit
 * fixed point, a horizontal pass (8-bit result) then a vertical pass.
 *
 * image_resize_bilinear_corners is the simpler resampler of llama.cpp's
 * Qwen-VL preprocessing (align-corners sampling, float interpolation,
 * truncated to 8 bits), for a llama.cpp-compatible mode only.
 *
 * Memory: out->pixels is malloc'd; free with image_free.
 */
#ifndef QVL_IMAGE_RESIZE_H
#define QVL_IMAGE_RESIZE_H

#include "image/image.h"

/* Resizes in to out_w x out_h (either may be larger or smaller than the
 * input; equal sizes give a copy). Returns 0, or -1 with err set
 * (QVL_E_BAD_INPUT for a non-positive size, QVL_E_NOMEM) and *out zeroed. */
int image_resize_bicubic(const image_rgb *in, int out_w, int out_h, image_rgb *out,
                         qvl_error *err);

/* Same contract, llama.cpp's bilinear resampler (see above). */
int image_resize_bilinear_corners(const image_rgb *in, int out_w, int out_h, image_rgb *out,
                                  qvl_error *err);

#endif
