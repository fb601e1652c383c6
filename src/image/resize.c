/* resize.c - Pillow-exact bicubic resampling and llama.cpp's bilinear one.
 *
 * Bicubic (facts from Pillow's libImaging/Resample.c, own code): for each
 * output index i along an axis, scale = in/out, fs = max(scale, 1),
 * support = 2 * fs, center = (i + 0.5) * scale; the taps are source
 * indices [lo, hi) with lo = (int)(center - support + 0.5) clamped to 0 and
 * hi = (int)(center + support + 0.5) clamped to in; tap j weighs
 * cubic((j - center + 0.5) / fs), weights are divided by their sum, then
 * stored as round-half-away(w * 2^22). A pass accumulates
 * 2^21 + sum(sample * weight) in 32-bit ints and keeps bits 22.. clamped to
 * 0..255. The horizontal pass runs first, only over the source rows the
 * vertical pass will read; a pass is skipped when its size is unchanged.
 * Every floating-point expression keeps Pillow's evaluation order, since
 * the result must match to the last bit before rounding.
 */
#include "image/resize.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define RESIZE_PRECISION_BITS 22

typedef struct axis_taps {
    int ksize;       /* taps stored per output index (some may be unused) */
    int *first;      /* [out] first source index */
    int *count;      /* [out] taps used */
    int32_t *weight; /* [out][ksize] fixed-point weights */
} axis_taps;

static double cubic(double x) {
    const double a = -0.5;
    if (x < 0.0) x = -x;
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

static void axis_taps_free(axis_taps *t) {
    free(t->first);
    free(t->count);
    free(t->weight);
    memset(t, 0, sizeof *t);
}

static int axis_taps_build(int in_size, int out_size, axis_taps *t, qvl_error *err) {
    memset(t, 0, sizeof *t);
    /* Pillow's box is float; (float)in - 0.0f is exact for any image size. */
    double scale = (double)((float)in_size - 0.0f) / out_size;
    double fs = scale < 1.0 ? 1.0 : scale;
    double support = 2.0 * fs;
    t->ksize = (int)ceil(support) * 2 + 1;
    t->first = malloc(sizeof *t->first * (size_t)out_size);
    t->count = malloc(sizeof *t->count * (size_t)out_size);
    t->weight = malloc(sizeof *t->weight * (size_t)out_size * (size_t)t->ksize);
    double *w = malloc(sizeof *w * (size_t)t->ksize);
    if (!t->first || !t->count || !t->weight || !w) {
        free(w);
        axis_taps_free(t);
        return qvl_fail_code(err, QVL_E_NOMEM, "out of memory for resize coefficients");
    }
    for (int i = 0; i < out_size; i++) {
        double center = 0.0 + (i + 0.5) * scale;
        double inv = 1.0 / fs, sum = 0.0;
        int lo = (int)(center - support + 0.5);
        int hi = (int)(center + support + 0.5);
        if (lo < 0) lo = 0;
        if (hi > in_size) hi = in_size;
        int n = hi - lo;
        for (int j = 0; j < n; j++) {
            w[j] = cubic((j + lo - center + 0.5) * inv);
            sum += w[j];
        }
        int32_t *k = t->weight + (size_t)i * t->ksize;
        for (int j = 0; j < t->ksize; j++) {
            double v = j < n ? (sum != 0.0 ? w[j] / sum : w[j]) : 0.0;
            k[j] = (int32_t)(v < 0 ? -0.5 + v * (1 << RESIZE_PRECISION_BITS)
                                   : 0.5 + v * (1 << RESIZE_PRECISION_BITS));
        }
        t->first[i] = lo;
        t->count[i] = n;
    }
    free(w);
    return 0;
}

static uint8_t fixed_to_u8(int32_t acc) {
    if (acc < 0) return 0;
    int32_t v = acc >> RESIZE_PRECISION_BITS;
    return (uint8_t)(v > 255 ? 255 : v);
}

/* Resamples rows [row0, row0 + rows) of src horizontally into dst (rows x out_w). */
static void pass_horizontal(const image_rgb *src, int row0, int rows, const axis_taps *t,
                            image_rgb *dst) {
    for (int y = 0; y < rows; y++) {
        const uint8_t *in = src->pixels + (size_t)(row0 + y) * src->width * 3;
        uint8_t *out = dst->pixels + (size_t)y * dst->width * 3;
        for (int x = 0; x < dst->width; x++) {
            const int32_t *k = t->weight + (size_t)x * t->ksize;
            const uint8_t *p = in + (size_t)t->first[x] * 3;
            int32_t acc[3] = {1 << (RESIZE_PRECISION_BITS - 1), 1 << (RESIZE_PRECISION_BITS - 1),
                              1 << (RESIZE_PRECISION_BITS - 1)};
            for (int j = 0; j < t->count[x]; j++)
                for (int c = 0; c < 3; c++) acc[c] += p[j * 3 + c] * k[j];
            for (int c = 0; c < 3; c++) out[x * 3 + c] = fixed_to_u8(acc[c]);
        }
    }
}

/* Resamples src vertically into dst; tap rows are relative to src row row0. */
static void pass_vertical(const image_rgb *src, int row0, const axis_taps *t, image_rgb *dst) {
    size_t row_bytes = (size_t)src->width * 3;
    for (int y = 0; y < dst->height; y++) {
        const int32_t *k = t->weight + (size_t)y * t->ksize;
        const uint8_t *base = src->pixels + (size_t)(t->first[y] - row0) * row_bytes;
        uint8_t *out = dst->pixels + (size_t)y * row_bytes;
        for (size_t i = 0; i < row_bytes; i++) {
            int32_t acc = 1 << (RESIZE_PRECISION_BITS - 1);
            for (int j = 0; j < t->count[y]; j++) acc += base[(size_t)j * row_bytes + i] * k[j];
            out[i] = fixed_to_u8(acc);
        }
    }
}

int image_resize_bicubic(const image_rgb *in, int out_w, int out_h, image_rgb *out,
                         qvl_error *err) {
    memset(out, 0, sizeof *out);
    if (out_w <= 0 || out_h <= 0)
        return qvl_fail_code(err, QVL_E_BAD_INPUT, "invalid resize target %dx%d", out_w, out_h);
    axis_taps tv, th = {0};
    if (axis_taps_build(in->height, out_h, &tv, err) != 0) return -1;
    int need_h = out_w != in->width, need_v = out_h != in->height;
    /* Source rows the vertical pass reads: only those need the horizontal pass. */
    int row0 = need_v ? tv.first[0] : 0;
    int row_end = need_v ? tv.first[out_h - 1] + tv.count[out_h - 1] : in->height;
    image_rgb mid = {0};
    const image_rgb *cur = in;
    int rc = -1;
    if (need_h) {
        if (axis_taps_build(in->width, out_w, &th, err) != 0) goto done;
        if (image_alloc(&mid, out_w, row_end - row0, err) != 0) goto done;
        pass_horizontal(in, row0, row_end - row0, &th, &mid);
        cur = &mid;
    } else {
        row0 = 0;
    }
    if (need_v) {
        if (image_alloc(out, out_w, out_h, err) != 0) goto done;
        pass_vertical(cur, row0, &tv, out);
    } else if (need_h) {
        *out = mid;
        memset(&mid, 0, sizeof mid);
    } else {
        if (image_alloc(out, out_w, out_h, err) != 0) goto done;
        memcpy(out->pixels, in->pixels, (size_t)out_w * out_h * 3);
    }
    rc = 0;
done:
    axis_taps_free(&tv);
    axis_taps_free(&th);
    image_free(&mid);
    return rc;
}

int image_resize_bilinear_corners(const image_rgb *in, int out_w, int out_h, image_rgb *out,
                                  qvl_error *err) {
    if (out_w <= 0 || out_h <= 0) {
        memset(out, 0, sizeof *out);
        return qvl_fail_code(err, QVL_E_BAD_INPUT, "invalid resize target %dx%d", out_w, out_h);
    }
    if (image_alloc(out, out_w, out_h, err) != 0) return -1;
    float rx = out_w > 1 ? (float)(in->width - 1) / (float)(out_w - 1) : 0.0f;
    float ry = out_h > 1 ? (float)(in->height - 1) / (float)(out_h - 1) : 0.0f;
    for (int y = 0; y < out_h; y++) {
        float sy = ry * (float)y;
        int y0 = (int)sy, y1 = y0 + 1 < in->height ? y0 + 1 : y0;
        float fy = sy - (float)y0;
        for (int x = 0; x < out_w; x++) {
            float sx = rx * (float)x;
            int x0 = (int)sx, x1 = x0 + 1 < in->width ? x0 + 1 : x0;
            float fx = sx - (float)x0;
            const uint8_t *p00 = in->pixels + ((size_t)y0 * in->width + x0) * 3;
            const uint8_t *p01 = in->pixels + ((size_t)y0 * in->width + x1) * 3;
            const uint8_t *p10 = in->pixels + ((size_t)y1 * in->width + x0) * 3;
            const uint8_t *p11 = in->pixels + ((size_t)y1 * in->width + x1) * 3;
            for (int c = 0; c < 3; c++) {
                float top = p00[c] + (p01[c] - p00[c]) * fx;
                float bot = p10[c] + (p11[c] - p10[c]) * fx;
                float v = top + (bot - top) * fy;
                out->pixels[((size_t)y * out_w + x) * 3 + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
        }
    }
    return 0;
}
