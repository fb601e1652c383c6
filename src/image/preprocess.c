/* preprocess.c - smart_resize, resize, normalise, patchify (see preprocess.h). */
#include "image/preprocess.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "image/resize.h"

static int check_resize_args(int height, int width, long min_pixels, long max_pixels,
                             qvl_error *err) {
    if (height <= 0 || width <= 0)
        return qvl_fail_code(err, QVL_E_BAD_INPUT, "invalid image size %dx%d", width, height);
    /* min > max is allowed, as in HF: the max branch is tested first and wins. */
    if (min_pixels <= 0 || max_pixels <= 0)
        return qvl_fail_code(err, QVL_E_BAD_INPUT,
                             "invalid pixel limits: min %ld, max %ld", min_pixels, max_pixels);
    int big = height > width ? height : width, small = height > width ? width : height;
    if ((double)big / small > 200)
        return qvl_fail_code(err, QVL_E_BAD_INPUT,
                             "image is %dx%d: the aspect ratio must be at most 200", width, height);
    return 0;
}

/* Shared body of both variants; they differ only in how h/F and w/F are
 * rounded to the nearest integer. */
static int smart_resize_with(double (*round_fn)(double), int height, int width,
                             long min_pixels, long max_pixels, int *out_h, int *out_w,
                             qvl_error *err) {
    if (check_resize_args(height, width, min_pixels, max_pixels, err) != 0) return -1;
    const double f = IMAGE_FACTOR;
    double h_bar = round_fn(height / f) * f;
    double w_bar = round_fn(width / f) * f;
    double area = (double)height * (double)width;
    if (h_bar * w_bar > (double)max_pixels) {
        double beta = sqrt(area / (double)max_pixels);
        h_bar = fmax(f, floor(height / beta / f) * f);
        w_bar = fmax(f, floor(width / beta / f) * f);
    } else if (h_bar * w_bar < (double)min_pixels) {
        double beta = sqrt((double)min_pixels / area);
        h_bar = ceil(height * beta / f) * f;
        w_bar = ceil(width * beta / f) * f;
    }
    if (h_bar > 1 << 20 || w_bar > 1 << 20)
        return qvl_fail_code(err, QVL_E_TOO_LARGE, "resized image would be %.0fx%.0f", w_bar, h_bar);
    *out_h = (int)h_bar;
    *out_w = (int)w_bar;
    return 0;
}

int image_smart_resize(int height, int width, long min_pixels, long max_pixels,
                       int *out_height, int *out_width, qvl_error *err) {
    /* Python's round() on floats ties to even: nearbyint in the default mode. */
    return smart_resize_with(nearbyint, height, width, min_pixels, max_pixels,
                             out_height, out_width, err);
}

int image_smart_resize_llama(int height, int width, long min_pixels, long max_pixels,
                             int *out_height, int *out_width, qvl_error *err) {
    return smart_resize_with(round, height, width, min_pixels, max_pixels,
                             out_height, out_width, err);
}

/* llama.cpp mode: shrink/grow to fit inside the target keeping the aspect
 * ratio (sides rounded up, capped at the target), paste centred on black. */
static int resize_fit_pad(const image_rgb *img, int tw, int th, image_rgb *out, qvl_error *err) {
    double scale = fmin((double)tw / img->width, (double)th / img->height);
    int nw = (int)ceil(img->width * scale), nh = (int)ceil(img->height * scale);
    if (nw > tw) nw = tw;
    if (nh > th) nh = th;
    if (nw < 1) nw = 1;
    if (nh < 1) nh = 1;
    image_rgb fitted;
    if (image_resize_bilinear_corners(img, nw, nh, &fitted, err) != 0) return -1;
    if (nw == tw && nh == th) {
        *out = fitted;
        return 0;
    }
    if (image_alloc(out, tw, th, err) != 0) {
        image_free(&fitted);
        return -1;
    }
    memset(out->pixels, 0, (size_t)tw * th * 3);
    int x0 = (tw - nw) / 2, y0 = (th - nh) / 2;
    for (int y = 0; y < nh; y++)
        memcpy(out->pixels + ((size_t)(y0 + y) * tw + x0) * 3,
               fitted.pixels + (size_t)y * nw * 3, (size_t)nw * 3);
    image_free(&fitted);
    return 0;
}

/* Writes the HF pixel_values layout (spec 5.5) for a single frame repeated
 * IMAGE_TEMPORAL times. */
static void patchify(const image_rgb *img, const float mean[3], const float std[3],
                     int grid_h, int grid_w, float *values) {
    const int P = IMAGE_PATCH_SIZE, M = IMAGE_MERGE_SIZE;
    /* The 256 possible normalised values per channel, in double and rounded
     * once: HF's own float32 steps agree with this to within an ulp. */
    float lut[3][256];
    for (int c = 0; c < 3; c++)
        for (int v = 0; v < 256; v++)
            lut[c][v] = (float)((v / 255.0 - mean[c]) / std[c]);
    size_t r = 0;
    for (int bh = 0; bh < grid_h / M; bh++)
        for (int bw = 0; bw < grid_w / M; bw++)
            for (int ih = 0; ih < M; ih++)
                for (int iw = 0; iw < M; iw++, r++) {
                    int y0 = (bh * M + ih) * P, x0 = (bw * M + iw) * P;
                    float *row = values + r * IMAGE_PATCH_DIM;
                    for (int c = 0; c < 3; c++)
                        for (int t = 0; t < IMAGE_TEMPORAL; t++)
                            for (int py = 0; py < P; py++) {
                                const uint8_t *src =
                                    img->pixels + ((size_t)(y0 + py) * img->width + x0) * 3 + c;
                                float *dst = row + ((c * IMAGE_TEMPORAL + t) * P + py) * P;
                                for (int px = 0; px < P; px++) dst[px] = lut[c][src[px * 3]];
                            }
                }
}

int image_target_size(int height, int width, const image_preprocess_opts *opts, int *out_height, int *out_width,
                      qvl_error *err) {
    bool llama = opts && opts->mode == IMAGE_RESIZE_LLAMA;
    long lo = opts && opts->min_pixels ? opts->min_pixels : llama ? IMAGE_LLAMA_MIN_PIXELS : IMAGE_HF_MIN_PIXELS;
    long hi = opts && opts->max_pixels ? opts->max_pixels : llama ? IMAGE_LLAMA_MAX_PIXELS : IMAGE_HF_MAX_PIXELS;
    return llama ? image_smart_resize_llama(height, width, lo, hi, out_height, out_width, err)
                 : image_smart_resize(height, width, lo, hi, out_height, out_width, err);
}

int image_preprocess(const image_rgb *img, const image_preprocess_opts *opts,
                     image_patches *out, qvl_error *err) {
    image_preprocess_opts o = {0};
    if (opts) o = *opts;
    int llama = o.mode == IMAGE_RESIZE_LLAMA;
    if (o.std[0] == 0 && o.std[1] == 0 && o.std[2] == 0)
        for (int c = 0; c < 3; c++) o.mean[c] = o.std[c] = 0.5f;
    memset(out, 0, sizeof *out);
    for (int c = 0; c < 3; c++)
        if (!(o.std[c] > 0))
            return qvl_fail_code(err, QVL_E_BAD_INPUT, "image std must be positive");

    int th, tw;
    int rc = image_target_size(img->height, img->width, &o, &th, &tw, err);
    if (rc != 0) return -1;
    rc = llama ? resize_fit_pad(img, tw, th, &out->resized, err)
               : image_resize_bicubic(img, tw, th, &out->resized, err);
    if (rc != 0) return -1;

    out->grid_t = 1;
    out->grid_h = th / IMAGE_PATCH_SIZE;
    out->grid_w = tw / IMAGE_PATCH_SIZE;
    out->n_patches = out->grid_t * out->grid_h * out->grid_w;
    out->n_tokens = out->n_patches / (IMAGE_MERGE_SIZE * IMAGE_MERGE_SIZE);
    out->values = malloc(sizeof *out->values * (size_t)out->n_patches * IMAGE_PATCH_DIM);
    if (!out->values) {
        image_patches_free(out);
        return qvl_fail_code(err, QVL_E_NOMEM, "out of memory for %dx%d image patches", tw, th);
    }
    patchify(&out->resized, o.mean, o.std, out->grid_h, out->grid_w, out->values);
    return 0;
}

void image_patches_free(image_patches *p) {
    if (!p) return;
    image_free(&p->resized);
    free(p->values);
    memset(p, 0, sizeof *p);
}
