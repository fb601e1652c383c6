/* preprocess.h - Qwen3-VL image preprocessing: from an RGB image to the
 * patch matrix the vision encoder consumes.
 *
 * Default mode (IMAGE_RESIZE_HF) follows Hugging Face's Qwen2VLImageProcessor
 * exactly (docs/qwen3-vl-spec.md section 5): smart_resize to multiples of 32
 * within [min_pixels, max_pixels] (Python round-half-to-even), Pillow
 * bicubic resize, x/255 then (x - mean)/std, the frame repeated twice in
 * time, and patches of 3x2x16x16 ordered so that each 2x2 merge group is 4
 * consecutive rows (the HF pixel_values order).
 *
 * IMAGE_RESIZE_LLAMA imitates llama.cpp's preprocessing for comparisons with
 * it: limits 8192..4194304 pixels by default, half-away-from-zero rounding,
 * aspect-preserving fit padded with black, align-corners bilinear. Only
 * its target size is checked against a reference (golden case I4); the
 * fit/pad arithmetic for images whose ratio changes is a best effort.
 *
 * Memory: image_patches owns resized.pixels and values; release with
 * image_patches_free.
 */
#ifndef QVL_IMAGE_PREPROCESS_H
#define QVL_IMAGE_PREPROCESS_H

#include "image/image.h"

#define IMAGE_PATCH_SIZE    16
#define IMAGE_MERGE_SIZE    2
#define IMAGE_TEMPORAL      2
#define IMAGE_FACTOR        (IMAGE_PATCH_SIZE * IMAGE_MERGE_SIZE)                    /* 32 */
#define IMAGE_PATCH_DIM     (3 * IMAGE_TEMPORAL * IMAGE_PATCH_SIZE * IMAGE_PATCH_SIZE) /* 1536 */

/* The detail qvl's commands and server ask for unless told otherwise: ~290
 * image tokens (a 12 MP phone photo becomes 608x448), enough to read a sign
 * or a price tag and encoded in seconds on a 2-core CPU, where the
 * processor's own maximum below would take hours for such a photo. The OCR
 * path reads the full-resolution image whatever this is. */
#define IMAGE_QVL_MAX_PIXELS   300000

/* preprocessor_config.json of Qwen3-VL: size.shortest_edge / longest_edge. */
#define IMAGE_HF_MIN_PIXELS    65536
#define IMAGE_HF_MAX_PIXELS    16777216
#define IMAGE_LLAMA_MIN_PIXELS 8192
#define IMAGE_LLAMA_MAX_PIXELS 4194304

typedef enum image_resize_mode {
    IMAGE_RESIZE_HF = 0,
    IMAGE_RESIZE_LLAMA = 1,
} image_resize_mode;

typedef struct image_preprocess_opts {
    long min_pixels;          /* 0 = the mode's default */
    long max_pixels;          /* 0 = the mode's default */
    float mean[3], std[3];    /* all zero = 0.5 each (Qwen3-VL) */
    image_resize_mode mode;
} image_preprocess_opts;

typedef struct image_patches {
    image_rgb resized;        /* the RGB image after resizing, before normalising */
    int grid_t, grid_h, grid_w;  /* grid_t = 1; grid_h = H/16; grid_w = W/16 */
    int n_patches;            /* grid_t * grid_h * grid_w */
    int n_tokens;             /* n_patches / 4: LLM tokens after the 2x2 merge */
    /* [n_patches][IMAGE_PATCH_DIM]; row r is patch (prow, pcol) with
     * r = ((prow/2 * grid_w/2 + pcol/2) * 2 + prow%2) * 2 + pcol%2;
     * column ((c * 2 + t) * 16 + py) * 16 + px holds channel c, frame t,
     * pixel (prow*16 + py, pcol*16 + px), normalised. */
    float *values;
} image_patches;

/* The HF smart_resize (spec 5.2) for factor 32: writes the target size.
 * Returns 0, or -1 with err set (QVL_E_BAD_INPUT: a side <= 0, aspect ratio
 * over 200 or a non-positive limit; min_pixels > max_pixels is accepted as
 * in HF, where max_pixels then wins). */
int image_smart_resize(int height, int width, long min_pixels, long max_pixels,
                       int *out_height, int *out_width, qvl_error *err);

/* llama.cpp's variant (std::round, same branches). Same contract. */
int image_smart_resize_llama(int height, int width, long min_pixels, long max_pixels,
                             int *out_height, int *out_width, qvl_error *err);

/* The size image_preprocess resizes a height x width image to under opts
 * (the mode's smart_resize; 0 limits = the mode's defaults), without
 * touching pixels. Same failures as the smart_resize. */
int image_target_size(int height, int width, const image_preprocess_opts *opts, int *out_height, int *out_width,
                      qvl_error *err);

/* Runs the whole pipeline on img; opts may be NULL for defaults. Returns 0,
 * or -1 with err set (see image_smart_resize; QVL_E_NOMEM) and *out zeroed. */
int image_preprocess(const image_rgb *img, const image_preprocess_opts *opts,
                     image_patches *out, qvl_error *err);

/* Frees everything and zeroes *p; safe on a zeroed struct. */
void image_patches_free(image_patches *p);

#endif
