/* matmul.c - see matmul.h.
 *
 * Fast path: each thread takes a contiguous band of output rows; it
 * dequantizes a tile of TILE rows into a private f32 buffer once and dots
 * every input vector against it, so a prompt of n tokens reads each weight
 * once, not n times.
 */
#include "matmul.h"

#include <stdlib.h>

#include "engine/kernels.h"

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
} mm_job;

static void mm_worker(void *p, int ith, int nth) {
    const mm_job *j = p;
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

void matmul(threadpool *tp, const qvl_tensor *w, const float *x, int n, float *y) {
    mm_job j = {w, x, n, y};
    threadpool_run(tp, mm_worker, &j);
}

void matmul_ref(const qvl_tensor *w, const float *x, int n, float *y) {
    int cols = (int)w->ne[0];
    long rows = (long)w->ne[1];
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
