/* vision_model.c - see vision_model.h. Spec section 6.
 *
 * Layout of one image's activations: N patches in the merge-block order of
 * the preprocessor (row r is patch (prow, pcol), each 2x2 merge group four
 * consecutive rows), D floats per row. Attention keeps no N x N matrix:
 * each thread takes a block of queries of one head at a time and scores it
 * against all keys with the kernels' register-blocked BF16 attention
 * products (q read from a BF16 copy of the qkv rows, keys and values packed
 * into pairs once per layer).
 * The element work between matmuls (norms, biases, GELU, residuals,
 * rotary) is split over the pool by rows too.
 */
#include "model/vision_model.h"

#include <math.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "engine/kernels.h"
#include "engine/matmul.h"
#include "engine/ops.h"

/* Token rows per MLP step: bounds the (rows, F) activation buffer for big
 * images (16 MB for the 2B tower) while each weight tile, repacked by the
 * GEMM on every call, is reused across many rows: a 448x448 image (784
 * patches) takes one step. */
#define MLP_CHUNK 1024

int vision_embd_width(const vision_model *vm) {
    return vm->cfg.out_hidden_size * (1 + vm->cfg.n_deepstack);
}

/* ---- row-parallel element work -------------------------------------------
 * Everything between the matmuls (norms, biases, GELU, residuals, rotary)
 * is split over the pool by rows: done on one thread it left the other
 * core spinning for a tenth of the encoder's time. */

typedef enum row_op {
    ROW_LAYERNORM,      /* out = layernorm(in) with w, b */
    ROW_BIAS,           /* out += b */
    ROW_BIAS_GELU_TANH, /* out = gelu_tanh(out + b) */
    ROW_BIAS_GELU_ERF,  /* out = gelu_erf(out + b) */
    ROW_RESIDUAL,       /* out += in + b */
} row_op;

typedef struct row_job {
    row_op op;
    float *out, *in;
    const float *w, *b;
    int width;
    float eps;
    long n;
} row_job;

static void row_worker(void *p, int ith, int nth) {
    const row_job *j = p;
    const kernels *k = kernels_get();
    long lo, hi;
    threadpool_split(j->n, ith, nth, &lo, &hi);
    for (long r = lo; r < hi; r++) {
        float *out = j->out + r * j->width, *in = j->in ? j->in + r * j->width : NULL;
        switch (j->op) {
        case ROW_LAYERNORM: k->layernorm(out, in, j->w, j->b, j->width, j->eps); break;
        case ROW_BIAS: k->vec_add(out, j->b, j->width); break;
        case ROW_BIAS_GELU_TANH: k->add_gelu_tanh(out, j->b, j->width); break;
        case ROW_BIAS_GELU_ERF: k->vec_add(out, j->b, j->width), gelu_erf(out, j->width); break;
        case ROW_RESIDUAL: k->add_residual(out, in, j->b, j->width); break;
        }
    }
}

static void rows_run(threadpool *tp, row_op op, float *out, float *in, const float *w, const float *b, int width,
                     float eps, long n) {
    row_job j = {op, out, in, w, b, width, eps, n};
    threadpool_run(tp, row_worker, &j);
}

/* y = x W^T for n rows, then the row op `epi` with bias b (ROW_RESIDUAL:
 * res += y + b). BF16 weights may take BF16-rounded activations
 * (matmul.h; within the tower's tolerance, twice as fast). Fails like
 * matmul. */
static int linear(threadpool *tp, const qvl_tensor *w, const float *b, const float *x, int n, float *y, row_op epi,
                  float *res, qvl_error *err) {
    if (matmul_prec(tp, w, x, n, y, MATMUL_BF16_ACT, err) != 0) return -1;
    if (epi == ROW_RESIDUAL) rows_run(tp, epi, res, y, NULL, b, (int)w->ne[1], 0, n);
    else rows_run(tp, epi, y, NULL, NULL, b, (int)w->ne[1], 0, n);
    return 0;
}

/* ---- positions: learned table and 2-D rotary ---------------------------- */

/* Patch coordinates of sequence row r (merge-block order, spec 5.5). */
static void patch_coords(int r, int grid_w, int *prow, int *pcol) {
    int group = r / 4, bw_n = grid_w / 2;
    *prow = (group / bw_n) * 2 + (r / 2) % 2;
    *pcol = (group % bw_n) * 2 + r % 2;
}

/* torch.linspace(0, S-1, n)[i] in float32, and its bilinear neighbours. */
static void align_corners(int i, int n, int side, int *i0, int *i1, float *frac) {
    float p = n == 1 ? 0.0f : (float)((double)i * (side - 1) / (n - 1));
    *i0 = (int)p;
    *i1 = *i0 + 1 < side ? *i0 + 1 : side - 1;
    *frac = p - (float)*i0;
}

/* h[r] += the position table sampled at patch (prow, pcol) of a grid_h x
 * grid_w grid, align-corners bilinear (spec 6.2). */
static void add_position_embedding(const vision_model *vm, int grid_h, int grid_w, float *h) {
    int D = vm->cfg.hidden_size, S = vm->pos_side, N = grid_h * grid_w;
    for (int r = 0; r < N; r++) {
        int prow, pcol, h0, h1, w0, w1;
        float dh, dw;
        patch_coords(r, grid_w, &prow, &pcol);
        align_corners(prow, grid_h, S, &h0, &h1, &dh);
        align_corners(pcol, grid_w, S, &w0, &w1, &dw);
        const float *t00 = vm->pos_embd + (size_t)(h0 * S + w0) * D, *t01 = vm->pos_embd + (size_t)(h0 * S + w1) * D;
        const float *t10 = vm->pos_embd + (size_t)(h1 * S + w0) * D, *t11 = vm->pos_embd + (size_t)(h1 * S + w1) * D;
        float a = (1 - dh) * (1 - dw), b = (1 - dh) * dw, c = dh * (1 - dw), d = dh * dw;
        float *row = h + (size_t)r * D;
        for (int k = 0; k < D; k++) row[k] += a * t00[k] + b * t01[k] + c * t10[k] + d * t11[k];
    }
}

/* cos/sin tables (N, head_dim/2): angle i < head_dim/4 turns with the patch
 * row, the rest with the patch column (spec 6.3). */
static void rope_tables(const vision_model *vm, int grid_w, int N, float *cs, float *sn) {
    int half = vm->cfg.hidden_size / vm->cfg.n_heads / 2, quarter = half / 2;
    for (int r = 0; r < N; r++) {
        int prow, pcol;
        patch_coords(r, grid_w, &prow, &pcol);
        for (int i = 0; i < half; i++) {
            float ang = (float)(i < quarter ? prow : pcol) * vm->rope_inv_freq[i % quarter];
            cs[(size_t)r * half + i] = cosf(ang);
            sn[(size_t)r * half + i] = sinf(ang);
        }
    }
}

/* NeoX rotation of one head vector: pairs (i, i + half). */
static void rope_apply(float *v, const float *cs, const float *sn, int half) {
    for (int i = 0; i < half; i++) {
        float x1 = v[i], x2 = v[i + half];
        v[i] = x1 * cs[i] - x2 * sn[i];
        v[i + half] = x2 * cs[i] + x1 * sn[i];
    }
}

/* ---- attention ----------------------------------------------------------- */

/* Queries per work item: their (qb, N) score block is bounded by
 * ATTN_SCORES floats, so no N x N matrix exists for big images. */
#define ATTN_SCORES (1L << 18)
#define ATTN_QMAX 256

static int attn_qblock(int N) {
    long qb = ATTN_SCORES / N;
    qb = qb > ATTN_QMAX ? ATTN_QMAX : qb < 8 ? 8 : qb / 8 * 8;
    return (int)qb;
}

/* The products run on BF16 operands (kernels.h attn_*_bf16): the tower's
 * matmuls already round their inputs to BF16, and this halves the work that
 * dominates big images. Keys and values are packed once per layer into the
 * kernels' pair layouts; N is even (vision_encode takes even grids only), so
 * keys pair up without padding. */
typedef struct attn_bufs {
    uint16_t *qkvb;   /* (N, 3D) the rotated qkv rows rounded to BF16 */
    uint32_t *kp;     /* per head (hd/2, N): key pairs of dimensions */
    uint32_t *vp;     /* per head (N/2, hd): value pairs of keys 2m, 2m+1 */
    float *scores;    /* (nth, qb * N) score blocks */
    uint16_t *probs;  /* (nth, qb * N) their BF16 probabilities */
} attn_bufs;

typedef struct attn_job {
    const attn_bufs *ab;
    float *out;            /* (N, D) */
    int N, D, hd, heads;
    atomic_long next;      /* next unclaimed (head, query block) item */
    atomic_bool *cancel;   /* NULL, or set to leave the remaining items undone */
} attn_job;

/* A relaxed load is enough: the flag only has to be seen eventually, and
 * nothing else is published through it. */
static bool cancelled(atomic_bool *cancel) { return cancel && atomic_load_explicit(cancel, memory_order_relaxed); }

static void attn_worker(void *p, int ith, int nth) {
    attn_job *j = p;
    const kernels *k = kernels_get();
    const attn_bufs *ab = j->ab;
    int N = j->N, D = j->D, hd = j->hd, qb = attn_qblock(N), nqb = (N + qb - 1) / qb;
    float *s = ab->scores + (size_t)ith * qb * N;
    uint16_t *pb = ab->probs + (size_t)ith * qb * N;
    float scale = 1.0f / sqrtf((float)hd);
    for (;;) {   /* items claimed one by one: a core slowed by other work does not hold the other back */
        /* One layer's attention over a 16 M-pixel image takes minutes on
         * the 2B tower: a cancelled encode must not wait for its end. */
        if (cancelled(j->cancel)) return;
        long item = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (item >= (long)j->heads * nqb) return;
        int h = (int)(item / nqb), q0 = (int)(item % nqb) * qb;
        int nq = N - q0 < qb ? N - q0 : qb;
        k->attn_scores_bf16(ab->qkvb + (size_t)q0 * 3 * D + (size_t)h * hd, 3 * (size_t)D, nq,
                            ab->kp + (size_t)h * hd / 2 * N, N, N, hd, scale, s, N);
        float inv[ATTN_QMAX];
        for (int i = 0; i < nq; i++) inv[i] = k->softmax_bf16(s + (size_t)i * N, pb + (size_t)i * N, N);
        float *o = j->out + (size_t)q0 * D + (size_t)h * hd;
        k->attn_pv_bf16(pb, N, nq, ab->vp + (size_t)h * N / 2 * hd, hd, N, hd, o, D);
        for (int i = 0; i < nq; i++)   /* the softmax's normalisation, on hd outputs instead of N inputs */
            for (int d = 0; d < hd; d++) o[(size_t)i * D + d] *= inv[i];
    }
}

typedef struct rope_job {
    float *qkv;
    const attn_bufs *ab;
    const float *cs, *sn;
    int N, D, hd;
} rope_job;

/* Rotates q and k of this thread's rows (whole key pairs 2m, 2m+1), rounds
 * the rows to BF16 and packs their keys and values; keys 16 rows at a time
 * so each kp row gets a cache line per write. */
static void rope_worker(void *p, int ith, int nth) {
    const rope_job *j = p;
    const attn_bufs *ab = j->ab;
    int N = j->N, D = j->D, hd = j->hd, half = hd / 2, n2 = N / 2;
    long lo2, hi2;
    threadpool_split(n2, ith, nth, &lo2, &hi2);
    long lo = 2 * lo2, hi = 2 * hi2;
    for (long r = lo; r < hi; r++) {
        float *row = j->qkv + (size_t)r * 3 * D;
        for (int h = 0; h < D / hd; h++) {
            rope_apply(row + h * hd, j->cs + (size_t)r * half, j->sn + (size_t)r * half, half);
            rope_apply(row + D + h * hd, j->cs + (size_t)r * half, j->sn + (size_t)r * half, half);
        }
        kernels_get()->round_bf16(row, ab->qkvb + (size_t)r * 3 * D, 3 * D);
    }
    for (long r0 = lo; r0 < hi; r0 += 16) {
        long r1 = r0 + 16 < hi ? r0 + 16 : hi;
        for (int c = 0; c < D; c += 2)   /* column c = head c / hd, dimension c % hd */
            for (long r = r0; r < r1; r++) {
                const uint16_t *kr = ab->qkvb + (size_t)r * 3 * D + D + c;
                ab->kp[(size_t)c / 2 * N + r] = kr[0] | (uint32_t)kr[1] << 16;
            }
    }
    for (long m = lo2; m < hi2; m++) {
        const uint16_t *v0 = ab->qkvb + (size_t)2 * m * 3 * D + 2 * D, *v1 = v0 + 3 * D;
        for (int c = 0; c < D; c++) ab->vp[((size_t)(c / hd) * n2 + m) * hd + c % hd] = v0[c] | (uint32_t)v1[c] << 16;
    }
}

/* out = softmax(q k^T / sqrt(hd)) v per head over all N patches. Rotates q
 * and k in qkv first. Once *cancel is set, out is left partly written. */
static void attention(const vision_model *vm, float *qkv, int N, const float *cs, const float *sn,
                      const attn_bufs *ab, threadpool *tp, atomic_bool *cancel, float *out) {
    int D = vm->cfg.hidden_size, heads = vm->cfg.n_heads, hd = D / heads;
    rope_job rj = {qkv, ab, cs, sn, N, D, hd};
    threadpool_run(tp, rope_worker, &rj);
    attn_job j = {.ab = ab, .out = out, .N = N, .D = D, .hd = hd, .heads = heads, .cancel = cancel};
    atomic_init(&j.next, 0);
    threadpool_run(tp, attn_worker, &j);
}

/* ---- mergers ------------------------------------------------------------- */

/* out rows (stride out_stride) = fc2(gelu_erf(fc1(z))) for M rows of 4D
 * normalised features. tmp holds (M, 4D), y (M, out_hidden_size). */
static int merger_mlp(const vision_merger *mg, const float *z, int M, float *tmp, float *y, threadpool *tp,
                      float *out, int out_stride, qvl_error *err) {
    int O = (int)mg->fc2.ne[1];
    if (linear(tp, &mg->fc1, mg->fc1_b, z, M, tmp, ROW_BIAS_GELU_ERF, NULL, err) != 0 ||
        linear(tp, &mg->fc2, mg->fc2_b, tmp, M, y, ROW_BIAS, NULL, err) != 0)
        return -1;
    for (int m = 0; m < M; m++) memcpy(out + (size_t)m * out_stride, y + (size_t)m * O, (size_t)O * sizeof *y);
    return 0;
}

/* ---- forward ------------------------------------------------------------- */

typedef struct vision_bufs {
    float *h, *y, *tmp, *qkv, *mlp, *cs, *sn, *merged;
    attn_bufs ab;
} vision_bufs;

static void bufs_free(vision_bufs *b) {
    free(b->h), free(b->y), free(b->tmp), free(b->qkv), free(b->mlp), free(b->cs), free(b->sn), free(b->merged);
    free(b->ab.qkvb), free(b->ab.kp), free(b->ab.vp), free(b->ab.scores), free(b->ab.probs);
}

enum { VB_COUNT = 13 };

/* The bytes of each vision_bufs buffer for N patches and nth threads, in
 * the order bufs_alloc hands them out; vision_encode_bytes sums the same
 * table, so the estimate follows any change here. */
static void bufs_sizes(const vision_config *c, size_t N, int nth, size_t sz[VB_COUNT]) {
    size_t D = (size_t)c->hidden_size, F = (size_t)c->intermediate_size, half = D / c->n_heads / 2;
    size_t chunk = N < MLP_CHUNK ? N : MLP_CHUNK, qb = (size_t)attn_qblock((int)N), f = sizeof(float);
    size_t table[VB_COUNT] = {
        N * D * f, N * D * f, N * D * f, N * 3 * D * f, chunk * F * f, N * half * f, N * half * f,
        N / 4 * (size_t)c->out_hidden_size * f, N * 3 * D * sizeof(uint16_t), N * D / 2 * sizeof(uint32_t),
        N / 2 * D * sizeof(uint32_t), (size_t)nth * qb * N * f, (size_t)nth * qb * N * sizeof(uint16_t)};
    memcpy(sz, table, sizeof table);
}

static int bufs_alloc(vision_bufs *b, const vision_config *c, int N, int nth) {
    size_t sz[VB_COUNT];
    void *p[VB_COUNT];
    bufs_sizes(c, (size_t)N, nth, sz);
    memset(b, 0, sizeof *b);
    bool ok = true;
    for (int i = 0; i < VB_COUNT; i++) ok = (p[i] = malloc(sz[i])) != NULL && ok;
    b->h = p[0], b->y = p[1], b->tmp = p[2], b->qkv = p[3], b->mlp = p[4], b->cs = p[5], b->sn = p[6];
    b->merged = p[7], b->ab.qkvb = p[8], b->ab.kp = p[9], b->ab.vp = p[10], b->ab.scores = p[11];
    b->ab.probs = p[12];
    if (ok) return 0;
    bufs_free(b);
    return -1;
}

size_t vision_encode_bytes(const vision_model *vm, int n_patches, int threads) {
    size_t sz[VB_COUNT], total = 0, N = (size_t)n_patches;
    bufs_sizes(&vm->cfg, N, threads < 1 ? 1 : threads, sz);
    for (int i = 0; i < VB_COUNT; i++) total += sz[i];
    /* The patch rows it reads and the feature rows it writes. */
    return total + N * IMAGE_PATCH_DIM * sizeof(float) + N / 4 * (size_t)vision_embd_width(vm) * sizeof(float);
}

static int fail_cancelled(qvl_error *err) {
    return qvl_fail_code(err, QVL_E_CANCELLED, "the image encoding was cancelled");
}

/* Checks *cancel after the attention and between MLP chunks, the steps that
 * grow with the image. */
static int block_forward(const vision_model *vm, const vision_block *blk, int N, vision_bufs *b, threadpool *tp,
                         atomic_bool *cancel, qvl_error *err) {
    int D = vm->cfg.hidden_size;
    float eps = vm->cfg.layer_norm_eps;
    rows_run(tp, ROW_LAYERNORM, b->y, b->h, blk->ln1_w, blk->ln1_b, D, eps, N);
    if (linear(tp, &blk->qkv, blk->qkv_b, b->y, N, b->qkv, ROW_BIAS, NULL, err) != 0) return -1;
    attention(vm, b->qkv, N, b->cs, b->sn, &b->ab, tp, cancel, b->y);
    if (cancelled(cancel)) return fail_cancelled(err);
    if (linear(tp, &blk->proj, blk->proj_b, b->y, N, b->tmp, ROW_RESIDUAL, b->h, err) != 0) return -1;
    for (int r0 = 0; r0 < N; r0 += MLP_CHUNK) {
        if (cancelled(cancel)) return fail_cancelled(err);
        int n = N - r0 < MLP_CHUNK ? N - r0 : MLP_CHUNK;
        float *h = b->h + (size_t)r0 * D;
        rows_run(tp, ROW_LAYERNORM, b->y, h, blk->ln2_w, blk->ln2_b, D, eps, n);
        if (linear(tp, &blk->fc1, blk->fc1_b, b->y, n, b->mlp, ROW_BIAS_GELU_TANH, NULL, err) != 0 ||
            linear(tp, &blk->fc2, blk->fc2_b, b->mlp, n, b->tmp, ROW_RESIDUAL, h, err) != 0)
            return -1;
    }
    return 0;
}

int vision_encode(const vision_model *vm, const image_patches *p, threadpool *tp, atomic_bool *cancel,
                  const qvl_progress *progress, float *out, qvl_error *err) {
    const vision_config *c = &vm->cfg;
    int gh = p->grid_h, gw = p->grid_w, D = c->hidden_size, O = c->out_hidden_size, W = vision_embd_width(vm);
    if (p->grid_t != 1 || gh < 2 || gw < 2 || gh % 2 || gw % 2 || p->n_patches != gh * gw ||
        p->n_tokens * 4 != p->n_patches || (long)gh * gw > 1L << 22)
        return qvl_fail_code(err, QVL_E_BAD_INPUT, "image patch grid %dx%dx%d does not fit the vision encoder",
                             p->grid_t, gh, gw);
    int N = p->n_patches, M = p->n_tokens;
    vision_bufs b;
    if (bufs_alloc(&b, c, N, threadpool_size(tp)) != 0)
        return qvl_fail_code(err, QVL_E_NOMEM, "out of memory encoding a %dx%d-patch image", gw, gh);

    int rc = -1;
    if (linear(tp, &vm->patch_embd, vm->patch_b, p->values, N, b.h, ROW_BIAS, NULL, err) != 0) goto done;
    add_position_embedding(vm, gh, gw, b.h);
    rope_tables(vm, gw, N, b.cs, b.sn);
    /* The merger scratch (M, 4D) = (N, D) fits in b.tmp; its input in b.y. */
    for (int L = 0; L < c->depth; L++) {
        if (block_forward(vm, &vm->blocks[L], N, &b, tp, cancel, err) != 0) goto done;
        for (int k = 0; k < c->n_deepstack; k++) {
            if (c->deepstack_indexes[k] != L) continue;
            const vision_merger *ds = &vm->deepstack[k];
            rows_run(tp, ROW_LAYERNORM, b.y, b.h, ds->norm_w, ds->norm_b, 4 * D, c->layer_norm_eps, M);
            if (merger_mlp(ds, b.y, M, b.tmp, b.merged, tp, out + (size_t)(k + 1) * O, W, err) != 0) goto done;
        }
        qvl_progress_report(progress, "image", L + 1, c->depth);
    }
    rows_run(tp, ROW_LAYERNORM, b.y, b.h, vm->merger.norm_w, vm->merger.norm_b, D, c->layer_norm_eps, N);
    rc = merger_mlp(&vm->merger, b.y, M, b.tmp, b.merged, tp, out, W, err);
done:
    bufs_free(&b);
    return rc;
}

/* The preprocessing a request gets: the model's, with the request's
 * limits and mode on top. Fails when the limits pass the model's maximum. */
static int request_preprocess(const vision_model *vm, const image_preprocess_opts *opts, image_preprocess_opts *o,
                              qvl_error *err) {
    *o = vm->preprocess;
    if (opts) {
        if (opts->mode != o->mode) o->min_pixels = o->max_pixels = 0;   /* the other mode's own limits */
        if (opts->min_pixels) o->min_pixels = opts->min_pixels;
        if (opts->max_pixels) o->max_pixels = opts->max_pixels;
        o->mode = opts->mode;
    }
    /* The model's own maximum bounds memory (about 2 GB of activations for
     * the 2B tower at 16.7 M pixels) whatever a request asks for. */
    if (o->min_pixels > IMAGE_HF_MAX_PIXELS || o->max_pixels > IMAGE_HF_MAX_PIXELS)
        return qvl_fail_code(err, QVL_E_TOO_LARGE, "image pixel limits %ld/%ld: at most %d pixels", o->min_pixels,
                             o->max_pixels, IMAGE_HF_MAX_PIXELS);
    return 0;
}

int vision_image_tokens(const vision_model *vm, int height, int width, const image_preprocess_opts *opts,
                        int *n_tokens, qvl_error *err) {
    image_preprocess_opts o;
    int h, w;
    if (request_preprocess(vm, opts, &o, err) != 0 || image_target_size(height, width, &o, &h, &w, err) != 0) return -1;
    *n_tokens = (h / IMAGE_FACTOR) * (w / IMAGE_FACTOR);
    return 0;
}

int vision_encode_image(const vision_model *vm, const image_rgb *img, const image_preprocess_opts *opts,
                        threadpool *tp, atomic_bool *cancel, const qvl_progress *progress, vision_image *out,
                        qvl_error *err) {
    memset(out, 0, sizeof *out);
    image_preprocess_opts o;
    if (request_preprocess(vm, opts, &o, err) != 0) return -1;
    image_patches p;
    if (image_preprocess(img, &o, &p, err) != 0) return -1;
    out->embd = malloc((size_t)p.n_tokens * vision_embd_width(vm) * sizeof *out->embd);
    if (!out->embd) {
        image_patches_free(&p);
        return qvl_fail_code(err, QVL_E_NOMEM, "out of memory for %d image tokens", p.n_tokens);
    }
    if (vision_encode(vm, &p, tp, cancel, progress, out->embd, err) != 0) {
        image_patches_free(&p);
        vision_image_free(out);
        return -1;
    }
    out->n_tokens = p.n_tokens;
    out->grid_h = p.grid_h;
    out->grid_w = p.grid_w;
    out->rows = p.grid_h / 2;
    out->cols = p.grid_w / 2;
    image_patches_free(&p);
    return 0;
}

void vision_image_free(vision_image *v) {
    free(v->embd);
    memset(v, 0, sizeof *v);
}
