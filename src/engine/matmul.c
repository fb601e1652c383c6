/* matmul.c - see matmul.h.
 *
 * Fast path: each thread takes a contiguous band of output rows; it
 * dequantizes a tile of TILE rows into a private f32 buffer once and dots
 * every input vector against it, so a prompt of n tokens reads each weight
 * once, not n times.
 * Quantized weights instead meet activations quantized once per call
 * (quant_dot.h) and are dotted in integer arithmetic, row by row.
 */
#include "matmul.h"

#include <stdlib.h>

#include "engine/kernels.h"
#include "engine/quant_dot.h"

#define TILE 8

void tensor_get_row(const qvl_tensor *w, int64_t r, float *out) {
    size_t rb = dtype_row_bytes(w->type, w->ne[0]);
    dequantize_row(w->type, (const uint8_t *)w->data + (size_t)r * rb, out, w->ne[0]);
}

typedef struct mm_job {
    const qvl_tensor *w;
    const float *x;
    int n;
    float *y;
    qvl_dtype act;            /* DT_F32: float path */
    const uint8_t *xq;        /* (n, act_bytes) quantized activations */
    size_t act_bytes;
} mm_job;

static void mm_worker_quant(const mm_job *j, int ith, int nth) {
    const qvl_tensor *w = j->w;
    int64_t cols = w->ne[0];
    long rows = (long)w->ne[1], lo, hi;
    threadpool_split(rows, ith, nth, &lo, &hi);
    const kernels *k = kernels_get();
    size_t rb = dtype_row_bytes(w->type, cols);
    for (long r = lo; r < hi; r++) {
        const uint8_t *wr = (const uint8_t *)w->data + (size_t)r * rb;
        for (int t = 0; t < j->n; t++)
            j->y[(size_t)t * rows + r] = k->quant_dot(w->type, wr, j->xq + (size_t)t * j->act_bytes, cols);
    }
}

static void mm_worker(void *p, int ith, int nth) {
    const mm_job *j = p;
    if (j->act != DT_F32) {
        mm_worker_quant(j, ith, nth);
        return;
    }
    const qvl_tensor *w = j->w;
    int cols = (int)w->ne[0];
    long rows = (long)w->ne[1], lo, hi;
    /* Tile-aligned bands keep threads from sharing a tile. */
    threadpool_split((rows + TILE - 1) / TILE, ith, nth, &lo, &hi);
    lo *= TILE;
    hi = hi * TILE < rows ? hi * TILE : rows;
    if (lo >= hi) return;
    const kernels *k = kernels_get();
    size_t rb = dtype_row_bytes(w->type, cols);
    float *buf = w->type == DT_F32 ? NULL : malloc((size_t)TILE * cols * sizeof *buf);
    for (long r0 = lo; r0 < hi; r0 += TILE) {
        int nr = (int)(hi - r0 < TILE ? hi - r0 : TILE);
        const float *tile;
        if (buf) {
            for (int i = 0; i < nr; i++)
                dequantize_row(w->type, (const uint8_t *)w->data + (size_t)(r0 + i) * rb, buf + (size_t)i * cols, cols);
            tile = buf;
        } else {
            tile = (const float *)w->data + (size_t)r0 * cols;
        }
        for (int t = 0; t < j->n; t++) {
            const float *xt = j->x + (size_t)t * cols;
            float *yt = j->y + (size_t)t * rows + r0;
            for (int i = 0; i < nr; i++) yt[i] = k->dot_f32(tile + (size_t)i * cols, xt, cols);
        }
    }
    free(buf);
}

static uint8_t *quantize_inputs(qvl_dtype act, const float *x, int n, int64_t cols, size_t *act_bytes) {
    *act_bytes = quant_dot_act_bytes(act, cols);
    uint8_t *xq = malloc(*act_bytes * (size_t)n);
    for (int t = 0; t < n; t++) quant_dot_quantize_act(act, x + (size_t)t * cols, xq + (size_t)t * *act_bytes, cols);
    return xq;
}

void matmul(threadpool *tp, const qvl_tensor *w, const float *x, int n, float *y) {
    mm_job j = {w, x, n, y, quant_dot_act_type(w->type), NULL, 0};
    uint8_t *xq = NULL;
    if (j.act != DT_F32) j.xq = xq = quantize_inputs(j.act, x, n, w->ne[0], &j.act_bytes);
    threadpool_run(tp, mm_worker, &j);
    free(xq);
}

void matmul_ref(const qvl_tensor *w, const float *x, int n, float *y) {
    int cols = (int)w->ne[0];
    long rows = (long)w->ne[1];
    qvl_dtype act = quant_dot_act_type(w->type);
    if (act != DT_F32) {
        size_t ab;
        uint8_t *xq = quantize_inputs(act, x, n, cols, &ab);
        size_t rb = dtype_row_bytes(w->type, cols);
        for (long r = 0; r < rows; r++)
            for (int t = 0; t < n; t++)
                y[(size_t)t * rows + r] = quant_dot_ref(w->type, (const uint8_t *)w->data + (size_t)r * rb,
                                                        xq + (size_t)t * ab, cols);
        free(xq);
        return;
    }
    float *row = malloc((size_t)cols * sizeof *row);
    for (long r = 0; r < rows; r++) {
        tensor_get_row(w, r, row);
        for (int t = 0; t < n; t++) {
            double s = 0;
            for (int c = 0; c < cols; c++) s += (double)row[c] * x[(size_t)t * cols + c];
            y[(size_t)t * rows + r] = (float)s;
        }
    }
    free(row);
}
