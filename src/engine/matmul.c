/* matmul.c - see matmul.h.
 *
 * Packed weights (tensor.packed, packed.h) take the packed kernels when the
 * table has them: activations quantized once per call, threads claim groups
 * of 16 rows, and one kernel call covers a claim for a chunk of tokens. The
 * paths below serve matrices as stored.
 * Quantized weights meet activations quantized once per call (quant_dot.h,
 * split over the threads for prompts) and are dotted in integer arithmetic.
 * Threads claim tiles of output rows from a shared counter, so a core slowed
 * by another process does not hold the other one back. For prompts on CPUs
 * whose kernel table has a GEMM (kernels.h gemm_*), activations are packed
 * once and each tile of GEMM_ROWS rows is one register-blocked kernel call
 * per chunk of tokens that fits L2; otherwise each group of TOKEN_GROUP
 * tokens runs over the tile's rows with the dot kernels. Either way a prompt
 * reads every weight from memory once per tile and results are bit for bit
 * the reference's.
 * Float weights: each thread takes a band of rows; it dequantizes a tile of
 * rows into a private f32 buffer once and multiplies every input with it:
 * dot by dot for a few tokens, with single-threaded OpenBLAS sgemm (our
 * threads already split the rows) for prompts and image patches; BF16
 * weights under MATMUL_BF16_ACT use the kernels' BF16 GEMM instead.
 * (An AVX2 GEMM that widened BF16 weights in its registers, with the
 * attention GEMM's tiles, was measured against the sgemm path on a Zen 5
 * forced to AVX2: 7% faster for a 448x448 image, 6% slower for 1024x768,
 * both near the FMA peak; not kept. AVX2's default vision weights are
 * int8 instead: model_load's vision_quant.)
 */
#include "engine/matmul.h"

#include <cblas.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "engine/kernels.h"
#include "engine/packed.h"
#include "engine/quant_dot.h"

#define TILE 8
#define GEMM_TILE_FLOATS (4L << 20) /* float weights: most dequantized values per sgemm call */
#define GEMM_MIN_TOKENS 8  /* fewer tokens: plain dots are as fast */
#define TOKEN_GROUP 8      /* tokens per weight-row pass (the kernels' register blocking) */
#define PREFILL_TILE 16    /* rows per tile when several tokens share it */
#define DECODE_MIN_ROWS 8  /* decode: smallest claim of rows (a fraction of a microsecond) */
#define CLAIM_SHARE 3      /* quantized dots: a claim takes 1/(CLAIM_SHARE x threads) of the rows left */
#define GEMM_CHUNK_BYTES (768L << 10) /* kernel GEMM: packed activations kept in L2 per pass */

void tensor_get_row(const qvl_tensor *w, int64_t r, float *out) {
    size_t rb = dtype_row_bytes(w->type, w->ne[0]);
    dequantize_row(w->type, (const uint8_t *)w->data + (size_t)r * rb, out, w->ne[0]);
}

typedef struct mm_job {
    const qvl_tensor *w;      /* the matrix (packed: the first of ws) */
    const float *x;
    int n;
    float *y;
    qvl_dtype act;            /* DT_F32: float path */
    uint8_t *xq;              /* (n, act_bytes) quantized activations */
    size_t act_bytes;
    uint8_t *xp;              /* kernel GEMM: (n, pack_bytes) packed activations, else NULL */
    size_t pack_bytes;
    uint8_t *xb;              /* BF16 GEMM: (n, 2 cols) BF16 activations, else NULL */
    float *tiles;             /* float weights not stored as f32: (threads, tile_floats) dequantized rows */
    size_t tile_floats;
    bool packed;              /* w->packed with kernels.packed_matmul: xq holds packed_quantize_act rows */
    /* packed: nw matrices sharing x; their groups are numbered in one range,
     * matrix i's ending at group_end[i] */
    int nw;
    const qvl_tensor *ws[MATMUL_MANY_MAX];
    float *ys[MATMUL_MANY_MAX];
    long group_end[MATMUL_MANY_MAX];
    long tile_rows;           /* quantized dots: smallest claim of rows (packed: of groups) */
    atomic_long next_tile;    /* next unclaimed tile (quantized dots: row) */
} mm_job;

static void mm_quantize_worker(void *p, int ith, int nth) {
    mm_job *j = p;
    long lo, hi;
    threadpool_split(j->n, ith, nth, &lo, &hi);
    const kernels *k = kernels_get();
    int64_t cols = j->w->ne[0];
    if (j->xb) {
        for (long t = lo; t < hi; t++) k->gemm_bf16_pack_x(j->x + (size_t)t * cols, j->xb + (size_t)t * 2 * cols, cols);
        return;
    }
    for (long t = lo; t < hi; t++) {
        if (j->packed) packed_quantize_act(j->w->type, j->x + (size_t)t * cols, j->xq + (size_t)t * j->act_bytes, cols,
                                          k->quantize_act);
        else if (j->xp) k->gemm_pack_act(j->w->type, j->x + (size_t)t * cols, j->xp + (size_t)t * j->pack_bytes, cols);
        else k->quantize_act(j->act, j->x + (size_t)t * cols, j->xq + (size_t)t * j->act_bytes, cols);
    }
}

/* Tiles of GEMM_ROWS rows; each chunk of tokens (packed activations hot in
 * L2) is one kernel call, which unpacks the tile's weights once. */
static void mm_worker_gemm(mm_job *j) {
    const qvl_tensor *w = j->w;
    long rows = (long)w->ne[1], n_tiles = (rows + GEMM_ROWS - 1) / GEMM_ROWS;
    const kernels *k = kernels_get();
    size_t rb = dtype_row_bytes(w->type, w->ne[0]);
    /* as many tokens as fit the L2 budget, at least a few register tiles */
    long fit = GEMM_CHUNK_BYTES / (long)j->pack_bytes;
    int chunk = fit < 16 ? 16 : fit > 512 ? 512 : (int)fit;
    for (;;) {
        long tile = atomic_fetch_add_explicit(&j->next_tile, 1, memory_order_relaxed);
        if (tile >= n_tiles) return;
        long r0 = tile * GEMM_ROWS, r1 = r0 + GEMM_ROWS < rows ? r0 + GEMM_ROWS : rows;
        for (int t0 = 0; t0 < j->n; t0 += chunk) {
            int nt = j->n - t0 < chunk ? j->n - t0 : chunk;
            k->gemm_tile(w->type, (const uint8_t *)w->data + (size_t)r0 * rb, rb, (int)(r1 - r0),
                         j->xp + (size_t)t0 * j->pack_bytes, j->pack_bytes, nt, j->y + (size_t)t0 * rows + r0,
                         (size_t)rows, w->ne[0]);
        }
    }
}

/* Quantized dots claim rows in shares of what is left: big ranges first
 * (few claims on the shared counter), small ones at the end, so the threads
 * finish within a few rows of each other however the OS runs them. Returns
 * the first row of the claim, or -1 when all are taken. */
static long mm_claim_rows(mm_job *j, long rows, int nth, long *r1) {
    long r0 = atomic_load_explicit(&j->next_tile, memory_order_relaxed);
    for (;;) {
        if (r0 >= rows) return -1;
        long take = (rows - r0) / ((long)CLAIM_SHARE * nth);
        take = take > j->tile_rows ? take : j->tile_rows;
        long end = rows - r0 > take ? r0 + take : rows;
        if (atomic_compare_exchange_weak_explicit(&j->next_tile, &r0, end, memory_order_relaxed,
                                                  memory_order_relaxed)) {
            *r1 = end;
            return r0;
        }
    }
}

static void mm_worker_quant(mm_job *j, int nth) {
    const qvl_tensor *w = j->w;
    int64_t cols = w->ne[0];
    long rows = (long)w->ne[1], r0, r1;
    const kernels *k = kernels_get();
    size_t rb = dtype_row_bytes(w->type, cols);
    float out[TOKEN_GROUP];
    while ((r0 = mm_claim_rows(j, rows, nth, &r1)) >= 0) {
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

/* Groups [g0, g1) of packed matrix i: every chunk of tokens whose
 * activations fit L2 is one kernel call, which keeps the tokens of a block
 * in registers. */
static void mm_packed_range(const mm_job *j, int i, long g0, long g1) {
    const qvl_tensor *w = j->ws[i];
    int64_t cols = w->ne[0];
    long rows = (long)w->ne[1];
    size_t gb = packed_group_bytes(w->type, cols);
    long fit = GEMM_CHUNK_BYTES / (long)j->act_bytes;
    int chunk = fit < 16 ? 16 : fit > 512 ? 512 : (int)fit;
    for (int t0 = 0; t0 < j->n; t0 += chunk) {
        int nt = j->n - t0 < chunk ? j->n - t0 : chunk;
        kernels_get()->packed_matmul(w->type, (const uint8_t *)w->packed + (size_t)g0 * gb, (int)(g1 - g0),
                                     j->xq + (size_t)t0 * j->act_bytes, j->act_bytes, nt,
                                     j->ys[i] + (size_t)t0 * rows + g0 * PACK_ROWS, (size_t)rows, cols);
    }
}

/* Packed weights: claims of whole groups, big ones first as for the dots,
 * over all the job's matrices at once (a claim may span two). */
static void mm_worker_packed(mm_job *j, int nth) {
    long g0, g1;
    while ((g0 = mm_claim_rows(j, j->group_end[j->nw - 1], nth, &g1)) >= 0)
        for (int i = 0; i < j->nw && g0 < g1; i++) {
            long first = i ? j->group_end[i - 1] : 0, end = g1 < j->group_end[i] ? g1 : j->group_end[i];
            if (g0 >= end) continue;
            mm_packed_range(j, i, g0 - first, end - first);
            g0 = end;
        }
}

/* BF16 weights: tiles of GEMM_BF16_ROWS rows claimed one by one, all
 * tokens per tile. */
static void mm_worker_bf16(mm_job *j) {
    const qvl_tensor *w = j->w;
    long rows = (long)w->ne[1], n_tiles = (rows + GEMM_BF16_ROWS - 1) / GEMM_BF16_ROWS;
    const kernels *k = kernels_get();
    size_t rb = dtype_row_bytes(w->type, w->ne[0]);
    for (;;) {
        long tile = atomic_fetch_add_explicit(&j->next_tile, 1, memory_order_relaxed);
        if (tile >= n_tiles) return;
        long r0 = tile * GEMM_BF16_ROWS;
        int nr = (int)(rows - r0 < GEMM_BF16_ROWS ? rows - r0 : GEMM_BF16_ROWS);
        k->gemm_bf16_tile((const uint8_t *)w->data + (size_t)r0 * rb, rb, nr, j->xb, j->n, w->ne[0], j->y + r0,
                          (size_t)rows);
    }
}

static void mm_worker(void *p, int ith, int nth) {
    mm_job *j = p;
    if (j->packed) {
        mm_worker_packed(j, nth);
        return;
    }
    if (j->xp) {
        mm_worker_gemm(j);
        return;
    }
    if (j->xb) {
        mm_worker_bf16(j);
        return;
    }
    if (j->act != DT_F32) {
        mm_worker_quant(j, nth);
        return;
    }
    const qvl_tensor *w = j->w;
    int cols = (int)w->ne[0];
    long rows = (long)w->ne[1], lo, hi;
    int gemm = j->n >= GEMM_MIN_TOKENS;
    /* Bands of whole TILEs keep threads from sharing a tile; a prompt takes
     * its band in as few sgemm calls as GEMM_TILE_FLOATS allows (each call
     * repacks all of x). */
    threadpool_split((rows + TILE - 1) / TILE, ith, nth, &lo, &hi);
    lo *= TILE;
    hi = hi * TILE < rows ? hi * TILE : rows;
    if (lo >= hi) return;
    long tr = TILE;
    if (gemm) {
        long cap = GEMM_TILE_FLOATS / cols > TILE ? GEMM_TILE_FLOATS / cols : TILE;
        long nt = (hi - lo + cap - 1) / cap;
        tr = (hi - lo + nt - 1) / nt;
    }
    const kernels *k = kernels_get();
    size_t rb = dtype_row_bytes(w->type, cols);
    float *buf = j->tiles ? j->tiles + (size_t)ith * j->tile_floats : NULL;
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
}

/* Our pool splits the rows; OpenBLAS threads on top would oversubscribe. */
static pthread_once_t blas_once = PTHREAD_ONCE_INIT;
static void blas_single_thread(void) { openblas_set_num_threads(1); }

int matmul(threadpool *tp, const qvl_tensor *w, const float *x, int n, float *y, qvl_error *err) {
    return matmul_prec(tp, w, x, n, y, MATMUL_EXACT_F32, err);
}

/* Rows of dequantized weights a thread of mm_worker's float path holds at
 * once: a TILE, or for prompts up to GEMM_TILE_FLOATS worth of its band. */
static size_t mm_tile_floats(const qvl_tensor *w, int n, int nth) {
    long cols = (long)w->ne[0], rows = (long)w->ne[1];
    long band = ((rows + TILE - 1) / TILE + nth - 1) / nth * TILE;
    long cap = n >= GEMM_MIN_TOKENS && GEMM_TILE_FLOATS / cols > TILE ? GEMM_TILE_FLOATS / cols : TILE;
    return (size_t)(band < cap ? band : cap) * (size_t)cols;
}

static void mm_free(mm_job *j) {
    free(j->xq);
    free(j->xp);
    free(j->xb);
    free(j->tiles);
}

/* Every buffer a job needs is allocated before it starts, on the calling
 * thread: the workers cannot fail. */
static int mm_nomem(mm_job *j, qvl_error *err) {
    mm_free(j);
    return qvl_fail_code(err, QVL_E_NOMEM, "out of memory for the inputs of a %lldx%lld matmul over %d tokens",
                         (long long)j->w->ne[1], (long long)j->w->ne[0], j->n);
}

/* Converts the inputs once (quantized, packed or rounded to BF16), runs the
 * job on the pool and frees its buffers. */
static int mm_run(threadpool *tp, mm_job *j) {
    if (j->xq || j->xp || j->xb) {
        if (j->n > 1) threadpool_run(tp, mm_quantize_worker, j);
        else mm_quantize_worker(j, 0, 1);
    }
    threadpool_run(tp, mm_worker, j);
    mm_free(j);
    return 0;
}

/* Sets j up for the packed kernels over w[0..nw) (all packed, one
 * activation format); false when out of memory. */
static bool mm_setup_packed(mm_job *j, const qvl_tensor *const *w, int nw, float *const *y) {
    j->act_bytes = packed_act_bytes(w[0]->type, w[0]->ne[0]);
    j->xq = malloc(j->act_bytes * (size_t)j->n);
    j->packed = true;
    j->tile_rows = 1;   /* groups */
    j->nw = nw;
    for (int i = 0; i < nw; i++) {
        j->ws[i] = w[i];
        j->ys[i] = y[i];
        j->group_end[i] = (i ? j->group_end[i - 1] : 0) + (long)(w[i]->ne[1] / PACK_ROWS);
    }
    return j->xq != NULL;
}

int matmul_prec(threadpool *tp, const qvl_tensor *w, const float *x, int n, float *y, matmul_precision prec,
                qvl_error *err) {
    pthread_once(&blas_once, blas_single_thread);
    mm_job j = {.w = w, .x = x, .n = n, .y = y, .act = quant_dot_act_type(w->type)};
    const kernels *k = kernels_get();
    atomic_init(&j.next_tile, 0);
    bool ok;
    if (w->packed && k->packed_matmul) {
        ok = mm_setup_packed(&j, &w, 1, &y);
    } else if (j.act != DT_F32) {
        j.tile_rows = n > 1 ? PREFILL_TILE : DECODE_MIN_ROWS;
        j.act_bytes = quant_dot_act_bytes(j.act, w->ne[0]);
        j.pack_bytes = n >= GEMM_MIN_TOKENS && k->gemm_act_bytes ? k->gemm_act_bytes(w->type, w->ne[0]) : 0;
        if (j.pack_bytes) ok = (j.xp = aligned_alloc(64, j.pack_bytes * (size_t)n)) != NULL;
        else ok = (j.xq = malloc(j.act_bytes * (size_t)n)) != NULL;
    } else if (prec == MATMUL_BF16_ACT && w->type == DT_BF16 && n >= GEMM_MIN_TOKENS && k->gemm_bf16_ok && k->gemm_bf16_ok(w->ne[0])) {
        ok = (j.xb = malloc((size_t)n * 2 * w->ne[0])) != NULL;
    } else if (w->type != DT_F32) {
        j.tile_floats = mm_tile_floats(w, n, threadpool_size(tp));
        ok = (j.tiles = malloc((size_t)threadpool_size(tp) * j.tile_floats * sizeof *j.tiles)) != NULL;
    } else {
        ok = true;   /* f32 weights are multiplied where they lie */
    }
    return ok ? mm_run(tp, &j) : mm_nomem(&j, err);
}

int matmul_many(threadpool *tp, const qvl_tensor *const *w, int nw, const float *x, int n, float *const *y,
                qvl_error *err) {
    bool shared = nw <= MATMUL_MANY_MAX && kernels_get()->packed_matmul;
    for (int i = 0; shared && i < nw; i++)
        shared = w[i]->packed && w[i]->ne[0] == w[0]->ne[0] &&
                 quant_dot_act_type(w[i]->type) == quant_dot_act_type(w[0]->type);
    if (!shared) {
        for (int i = 0; i < nw; i++)
            if (matmul(tp, w[i], x, n, y[i], err) != 0) return -1;
        return 0;
    }
    mm_job j = {.w = w[0], .x = x, .n = n, .act = quant_dot_act_type(w[0]->type)};
    atomic_init(&j.next_tile, 0);
    if (!mm_setup_packed(&j, w, nw, y)) return mm_nomem(&j, err);
    pthread_once(&blas_once, blas_single_thread);
    return mm_run(tp, &j);
}

int matmul_ref(const qvl_tensor *w, const float *x, int n, float *y, qvl_error *err) {
    int cols = (int)w->ne[0];
    long rows = (long)w->ne[1];
    qvl_dtype act = quant_dot_act_type(w->type);
    if (act != DT_F32) {
        size_t ab = quant_dot_act_bytes(act, cols), rb = dtype_row_bytes(w->type, cols);
        uint8_t *xq = malloc(ab * (size_t)n);
        if (!xq) return qvl_fail_code(err, QVL_E_NOMEM, "out of memory for the inputs of a reference matmul");
        for (int t = 0; t < n; t++) quant_dot_quantize_act(act, x + (size_t)t * cols, xq + (size_t)t * ab, cols);
        for (long r = 0; r < rows; r++)
            for (int t = 0; t < n; t++)
                y[(size_t)t * rows + r] = quant_dot_ref(w->type, (const uint8_t *)w->data + (size_t)r * rb,
                                                        xq + (size_t)t * ab, cols);
        free(xq);
        return 0;
    }
    float *row = malloc((size_t)cols * sizeof *row);
    if (!row) return qvl_fail_code(err, QVL_E_NOMEM, "out of memory for a row of a reference matmul");
    for (long r = 0; r < rows; r++) {
        tensor_get_row(w, r, row);
        for (int t = 0; t < n; t++) {
            double s = 0;
            for (int c = 0; c < cols; c++) s += (double)row[c] * x[(size_t)t * cols + c];
            y[(size_t)t * rows + r] = (float)s;
        }
    }
    free(row);
    return 0;
}
