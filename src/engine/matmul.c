/* matmul.c - see matmul.h.
 *
 * Quantized weights meet activations quantized once per call (quant_dot.h,
 * split over the threads for prompts) and are dotted in integer arithmetic.
 * Threads claim tiles of output rows from a shared counter, so a core slowed
 * by another process does not hold the other one back. Within a tile each
 * group of TOKEN_GROUP tokens (activations hot in L1) runs over the tile's rows
 * (weights hot in L2): a prompt reads every weight from memory once and
 * unpacks it once per group, not once per token.
 * Float weights: each thread takes a band of rows; it dequantizes a tile of
 * rows into a private f32 buffer once and multiplies every input with it:
 * dot by dot for a few tokens, with single-threaded OpenBLAS sgemm (our
 * threads already split the rows) for prompts and image patches.
 */
#include "matmul.h"

#include <cblas.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "engine/kernels.h"
#include "engine/quant_dot.h"

#define TILE 8
#define GEMM_TILE 256      /* float weights: rows per sgemm call (x is repacked per call) */
#define GEMM_MIN_TOKENS 8  /* fewer tokens: plain dots are as fast */
#define TOKEN_GROUP 8      /* tokens per weight-row pass (the kernels' register blocking) */
#define PREFILL_TILE 16    /* rows per tile when several tokens share it */
#define TILES_PER_THREAD 8 /* decode: enough tiles to balance uneven cores */

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
    uint8_t *xq;              /* (n, act_bytes) quantized activations */
    size_t act_bytes;
    long tile_rows;
    atomic_long next_tile;    /* quantized path: next unclaimed tile */
} mm_job;

static void mm_quantize_worker(void *p, int ith, int nth) {
    mm_job *j = p;
    long lo, hi;
    threadpool_split(j->n, ith, nth, &lo, &hi);
    for (long t = lo; t < hi; t++)
        quant_dot_quantize_act(j->act, j->x + (size_t)t * j->w->ne[0], j->xq + (size_t)t * j->act_bytes, j->w->ne[0]);
}

static void mm_worker_quant(mm_job *j) {
    const qvl_tensor *w = j->w;
    int64_t cols = w->ne[0];
    long rows = (long)w->ne[1], n_tiles = (rows + j->tile_rows - 1) / j->tile_rows;
    const kernels *k = kernels_get();
    size_t rb = dtype_row_bytes(w->type, cols);
    float out[TOKEN_GROUP];
    for (;;) {
        long tile = atomic_fetch_add_explicit(&j->next_tile, 1, memory_order_relaxed);
        if (tile >= n_tiles) return;
        long r0 = tile * j->tile_rows, r1 = r0 + j->tile_rows < rows ? r0 + j->tile_rows : rows;
        for (int t0 = 0; t0 < j->n; t0 += TOKEN_GROUP) {
            int nt = j->n - t0 < TOKEN_GROUP ? j->n - t0 : TOKEN_GROUP;
            const uint8_t *xt = j->xq + (size_t)t0 * j->act_bytes;
            for (long r = r0; r < r1; r++) {
                k->quant_dot_multi(w->type, (const uint8_t *)w->data + (size_t)r * rb, xt, j->act_bytes, nt, out,
                                   cols);
                for (int t = 0; t < nt; t++) j->y[(size_t)(t0 + t) * rows + r] = out[t];
            }
        }
    }
}

static void mm_worker(void *p, int ith, int nth) {
    mm_job *j = p;
    if (j->act != DT_F32) {
        mm_worker_quant(j);
        return;
    }
    const qvl_tensor *w = j->w;
    int cols = (int)w->ne[0];
    long rows = (long)w->ne[1], lo, hi;
    int gemm = j->n >= GEMM_MIN_TOKENS, tr = gemm ? GEMM_TILE : TILE;
    /* Tile-aligned bands keep threads from sharing a tile. */
    threadpool_split((rows + tr - 1) / tr, ith, nth, &lo, &hi);
    lo *= tr;
    hi = hi * tr < rows ? hi * tr : rows;
    if (lo >= hi) return;
    const kernels *k = kernels_get();
    size_t rb = dtype_row_bytes(w->type, cols);
    float *buf = w->type == DT_F32 ? NULL : malloc((size_t)tr * cols * sizeof *buf);
    for (long r0 = lo; r0 < hi; r0 += tr) {
        int nr = (int)(hi - r0 < tr ? hi - r0 : tr);
        const float *tile;
        if (buf) {
            for (int i = 0; i < nr; i++)
                dequantize_row(w->type, (const uint8_t *)w->data + (size_t)(r0 + i) * rb, buf + (size_t)i * cols, cols);
            tile = buf;
        } else {
            tile = (const float *)w->data + (size_t)r0 * cols;
        }
        if (gemm) {   /* y[:, r0:r0+nr] = x tile^T */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, j->n, nr, cols, 1.0f, j->x, cols, tile, cols, 0.0f,
                        j->y + r0, (int)rows);
            continue;
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

/* Our pool splits the rows; OpenBLAS threads on top would oversubscribe. */
static pthread_once_t blas_once = PTHREAD_ONCE_INIT;
static void blas_single_thread(void) { openblas_set_num_threads(1); }

void matmul(threadpool *tp, const qvl_tensor *w, const float *x, int n, float *y) {
    pthread_once(&blas_once, blas_single_thread);
    mm_job j = {.w = w, .x = x, .n = n, .y = y, .act = quant_dot_act_type(w->type)};
    if (j.act != DT_F32) {
        long rows = (long)w->ne[1], per = rows / ((long)threadpool_size(tp) * TILES_PER_THREAD);
        j.tile_rows = n > 1 ? PREFILL_TILE : per > 4 ? per : 4;
        atomic_init(&j.next_tile, 0);
        j.act_bytes = quant_dot_act_bytes(j.act, w->ne[0]);
        j.xq = malloc(j.act_bytes * (size_t)n);
        if (n > 1) threadpool_run(tp, mm_quantize_worker, &j);
        else mm_quantize_worker(&j, 0, 1);
    }
    threadpool_run(tp, mm_worker, &j);
    free(j.xq);
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
