/* text_model.c - the batched, threaded forward pass of the text decoder.
 * See text_model.h; text_reference.c holds the plain version it is tested
 * against.
 *
 * Every step runs on the pool, not only the matmuls: the residual adds and
 * RMSNorms by token row, the q/k norms, rotations and cache writes by head,
 * SwiGLU by chunk, attention by (token, head). Work is split across rows
 * and heads, never inside a sum, so each value comes from the same
 * operations in the same order as in the serial loops: the bits do not
 * depend on the number of threads. Steps too small to pay for a hand-off
 * (a decode step's single row) run on the calling thread.
 *
 * Memory: a pass's buffers are carved from one block, the leading cache's
 * scratch (kv_cache.scratch), so a decode step allocates nothing but what
 * matmul converts its inputs into.
 */
#include "model/text_model.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "engine/attn_prompt.h"
#include "engine/kernels.h"
#include "engine/matmul.h"
#include "engine/ops.h"

int text_model_init_rope(text_model *m, qvl_error *err) {
    const text_config *c = &m->cfg;
    int half = c->head_dim / 2;
    m->inv_freq = malloc((size_t)half * sizeof *m->inv_freq);
    m->rope_axis = malloc((size_t)half);
    if (!m->inv_freq || !m->rope_axis) {
        free(m->inv_freq), free(m->rope_axis);
        m->inv_freq = NULL, m->rope_axis = NULL;
        return qvl_fail_code(err, QVL_E_NOMEM, "out of memory for the rotary tables");
    }
    for (int j = 0; j < half; j++) {
        m->inv_freq[j] = (float)(1.0 / pow((double)c->rope_theta, (double)(2 * j) / c->head_dim));
        /* Interleaved M-RoPE: frequency j follows the row axis when j%3 == 1,
         * the column axis when j%3 == 2 (within their section sizes), else t. */
        uint8_t axis = 0;
        if (c->mrope_interleaved) {
            if (j % 3 == 1 && j < 3 * c->mrope_section[1]) axis = 1;
            else if (j % 3 == 2 && j < 3 * c->mrope_section[2]) axis = 2;
        } else {
            axis = j < c->mrope_section[0] ? 0 : j < c->mrope_section[0] + c->mrope_section[1] ? 1 : 2;
        }
        m->rope_axis[j] = axis;
    }
    return 0;
}

int kv_cache_init(kv_cache *kv, const text_config *cfg, int n_ctx, qvl_error *err) {
    memset(kv, 0, sizeof *kv);
    kv->n_layers = cfg->n_layers;
    kv->n_ctx = n_ctx;
    kv->kv_dim = cfg->n_kv_heads * cfg->head_dim;
    size_t count = kv_cache_bytes(cfg, n_ctx) / 2 / sizeof(float);
    kv->k = malloc(count * sizeof(float));
    kv->v = malloc(count * sizeof(float));
    if (!kv->k || !kv->v) {
        kv_cache_free(kv);
        return qvl_fail_code(err, QVL_E_NOMEM, "cannot allocate a KV cache of %d positions (%.1f MB)", n_ctx,
                             2.0 * count * sizeof(float) / 1e6);
    }
    return 0;
}

void kv_cache_free(kv_cache *kv) {
    free(kv->k);
    free(kv->v);
    free(kv->scratch);
    memset(kv, 0, sizeof *kv);
}

void text_positions_1d(int32_t *pos, int n, int p0) {
    for (int i = 0; i < n; i++) pos[3 * i] = pos[3 * i + 1] = pos[3 * i + 2] = p0 + i;
}

/* Rotates one head in place (NeoX pairing: i with i + half). */
static void rope_apply(float *v, const float *cosv, const float *sinv, int half) {
    for (int i = 0; i < half; i++) {
        float x1 = v[i], x2 = v[i + half];
        v[i] = x1 * cosv[i] - x2 * sinv[i];
        v[i + half] = x2 * cosv[i] + x1 * sinv[i];
    }
}

/* ---- attention --------------------------------------------------------- */

/* One sequence of at least ATTN_PROMPT_QB tokens for the prompt kernel. */
typedef struct attn_job {
    const text_config *c;
    const float *q;        /* (n, n_heads*hd) */
    const float *kc, *vc;  /* this layer's cache, (n_ctx, kv_dim) */
    float *out;            /* (n, n_heads*hd) */
    int n, start;          /* tokens, cache position of the first */
    atomic_long next;      /* next unclaimed (query block, head) */
    float *scores;         /* (threads, ATTN_PROMPT_QB, start + n) */
} attn_job;

/* Prompts on AVX-512: blocks of ATTN_PROMPT_QB queries of one head share
 * every key and value load (attn_prompt.h, same bits as attn_head).
 * Blocks are claimed latest first: their cost grows with their position
 * (causal), so the cheap early ones even out the threads at the end. */
static void attn_worker_prompt(void *p, int ith, int nth) {
    attn_job *j = p;
    const kernels *k = kernels_get();
    const text_config *c = j->c;
    int hd = c->head_dim, qdim = c->n_heads * hd, kvd = c->n_kv_heads * hd, group = c->n_heads / c->n_kv_heads;
    float scale = 1.0f / sqrtf((float)hd);
    size_t row = (size_t)j->start + j->n;
    float *scores = j->scores + (size_t)ith * ATTN_PROMPT_QB * row;
    long nblk = (j->n + ATTN_PROMPT_QB - 1) / ATTN_PROMPT_QB, tasks = nblk * c->n_heads;
    for (;;) {
        long task = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (task >= tasks) break;
        int t0 = (int)(nblk - 1 - task / c->n_heads) * ATTN_PROMPT_QB, h = (int)(task % c->n_heads), g = h / group;
        int nq = j->n - t0 < ATTN_PROMPT_QB ? j->n - t0 : ATTN_PROMPT_QB, len[ATTN_PROMPT_QB];
        for (int i = 0; i < nq; i++) len[i] = j->start + t0 + i + 1;   /* causal: positions 0 .. own */
        k->attn_prompt_scores(j->q + (size_t)t0 * qdim + (size_t)h * hd, (size_t)qdim, nq, j->kc + (size_t)g * hd,
                              (size_t)kvd, len[nq - 1], hd, scale, scores, row);
        for (int i = 0; i < nq; i++) k->softmax_masked(scores + i * row, len[i], (int)row);
        k->attn_prompt_pv(scores, row, len, nq, j->vc + (size_t)g * hd, (size_t)kvd, hd,
                          j->out + (size_t)t0 * qdim + (size_t)h * hd, (size_t)qdim);
    }
}

/* ---- the steps between the matmuls, on every thread -------------------- */

/* Work is handed out in chunks from a shared counter, so a thread the OS
 * runs late does less of it instead of holding the others back. Returns 0
 * when [0, n) is used up. */
static int claim(atomic_long *next, long n, long chunk, long *lo, long *hi) {
    *lo = atomic_fetch_add_explicit(next, chunk, memory_order_relaxed);
    if (*lo >= n) return 0;
    *hi = *lo + chunk < n ? *lo + chunk : n;
    return 1;
}

/* Below this many floats a step runs on the calling thread: the hand-off
 * to the pool would cost more than the other threads save. */
#define STEP_MIN_FLOATS 4096
#define SWIGLU_CHUNK 2048   /* floats per claim; a multiple of swiglu's 16 */

static void run_step(threadpool *tp, threadpool_fn fn, void *job, long floats) {
    if (floats < STEP_MIN_FLOATS) fn(job, 0, 1);
    else threadpool_run(tp, fn, job);
}

/* Per token row: x += o (the block's output), x += the DeepStack slice of
 * image rows, then xn = rmsnorm(x). Each step optional; the same operations
 * per element as doing each over all rows in turn. */
typedef struct resid_job {
    float *x;
    const float *o;         /* NULL = nothing to add; may equal xn */
    const float *const *img;   /* image feature row per token, or NULL */
    long ds_off;            /* offset of the DeepStack slice in an image row, 0 = none */
    float *xn;
    const float *norm;      /* NULL = no norm */
    int n, d;
    float eps;
    atomic_long next;
} resid_job;

static void resid_worker(void *p, int ith, int nth) {
    resid_job *j = p;
    long lo, hi;
    while (claim(&j->next, j->n, 1, &lo, &hi)) {
        float *x = j->x + (size_t)lo * j->d;
        if (j->o) vec_add(x, j->o + (size_t)lo * j->d, j->d);
        if (j->ds_off && j->img[lo]) vec_add(x, j->img[lo] + j->ds_off, j->d);
        if (j->norm) rmsnorm(j->xn + (size_t)lo * j->d, x, j->norm, j->d, j->eps);
    }
}

/* A block's residual add fused with the RMSNorm that opens the next block
 * (one pass over x instead of two): x += o, x += DeepStack slice `level`
 * (1-based; 0 = none) at image tokens, then xn = rmsnorm(x) * norm. o and
 * norm may be NULL for none. */
static void residual_add_norm(threadpool *tp, resid_job *j, const float *o, int level, const float *norm) {
    j->o = o;
    j->ds_off = (long)level * j->d;
    j->norm = norm;
    atomic_init(&j->next, 0);
    run_step(tp, resid_worker, j, j->n > 1 ? (long)j->n * j->d : 0);   /* one row cannot be split */
}

typedef struct swiglu_job {
    float *gate;
    const float *up;
    long n;
    atomic_long next;
} swiglu_job;

/* Chunks start at multiples of 16, so swiglu's split into 16-wide
 * polynomial blocks and an expf tail falls where it does for the whole. */
static void swiglu_worker(void *p, int ith, int nth) {
    swiglu_job *j = p;
    const kernels *k = kernels_get();
    long lo, hi;
    while (claim(&j->next, j->n, SWIGLU_CHUNK, &lo, &hi)) k->swiglu(j->gate + lo, j->up + lo, (int)(hi - lo));
}

/* Attention of every sequence in two jobs. First, per (token, head): q
 * heads get RMSNorm + M-RoPE in place; k heads the same from kk into the
 * token's cache row; v heads are copied there. Then each (token, q head) of
 * the sequences not left to the prompt kernel scores all its cache
 * positions up to its own. */
typedef struct attn_stage {
    const text_config *c;
    const text_layer *L;
    int l, n, half;
    float *q;                   /* (n, qdim), normalised and rotated in place */
    const float *kk, *vv;       /* (n, kvd) */
    const float *cosv, *sinv;   /* (n, half) */
    kv_cache *const *kvs;
    const text_batch *bs;
    const int *tok_seq;         /* sequence of each token */
    const int *seq_first;       /* first token of each sequence */
    const char *per_pair;       /* sequences whose attention runs here */
    int n_seq;
    long pair_tasks;            /* (token, KV head) pairs of those */
    float *out;                 /* (n, qdim) */
    float *scores;              /* (threads, scores_stride) */
    size_t scores_stride;       /* the largest n_ctx of the caches */
    float *prompt_scores;       /* (threads, ATTN_PROMPT_QB, scores_stride) for the prompt kernel */
    atomic_long next;
} attn_stage;

static void attn_prepare(attn_stage *j, long task) {
    const text_config *c = j->c;
    int hd = c->head_dim, kvd = c->n_kv_heads * hd, slots = c->n_heads + 2 * c->n_kv_heads;
    int i = (int)(task / slots), h = (int)(task % slots), s = j->tok_seq[i];
    const float *ci = j->cosv + (size_t)i * j->half, *si = j->sinv + (size_t)i * j->half;
    if (h < c->n_heads) {
        float *qh = j->q + (size_t)i * c->n_heads * hd + (size_t)h * hd;
        rmsnorm(qh, qh, j->L->q_norm, hd, c->rms_norm_eps);
        rope_apply(qh, ci, si, j->half);
        return;
    }
    h -= c->n_heads;
    const kv_cache *kv = j->kvs[s];
    size_t row = ((size_t)j->l * kv->n_ctx + (size_t)(kv->n + i - j->seq_first[s])) * kvd;
    if (h < c->n_kv_heads) {
        float *kh = kv->k + row + (size_t)h * hd;
        rmsnorm(kh, j->kk + (size_t)i * kvd + (size_t)h * hd, j->L->k_norm, hd, c->rms_norm_eps);
        rope_apply(kh, ci, si, j->half);
    } else {
        h -= c->n_kv_heads;
        memcpy(kv->v + row + (size_t)h * hd, j->vv + (size_t)i * kvd + (size_t)h * hd, (size_t)hd * sizeof(float));
    }
}

/* Query head h of token i against its sequence's cache: the order of
 * operations the prompt kernel promises to match (attn_prompt.h). */
static void attn_head(const attn_stage *j, int i, int h, float *scores) {
    const text_config *c = j->c;
    int hd = c->head_dim, qdim = c->n_heads * hd, kvd = c->n_kv_heads * hd, g = h / (c->n_heads / c->n_kv_heads);
    int s = j->tok_seq[i], start = j->kvs[s]->n;
    const kernels *k = kernels_get();
    const float *kc = j->kvs[s]->k + (size_t)j->l * j->kvs[s]->n_ctx * kvd + (size_t)g * hd;
    const float *vc = j->kvs[s]->v + (size_t)j->l * j->kvs[s]->n_ctx * kvd + (size_t)g * hd;
    int len = start + i - j->seq_first[s] + 1;   /* causal: positions 0 .. own */
    float scale = 1.0f / sqrtf((float)hd);
    const float *q = j->q + (size_t)i * qdim + (size_t)h * hd;
    float *o = j->out + (size_t)i * qdim + (size_t)h * hd;
    if (k->attn_scores_rows) k->attn_scores_rows(q, kc, (size_t)kvd, len, hd, scale, scores);
    else
        for (int p = 0; p < len; p++) scores[p] = k->dot_f32_lanes16(q, kc + (size_t)p * kvd, hd) * scale;
    k->softmax_masked(scores, len, start + j->bs[s].n);
    if (k->attn_pv_rows) {
        k->attn_pv_rows(o, vc, (size_t)kvd, scores, len, hd);
        return;
    }
    memset(o, 0, (size_t)hd * sizeof *o);
    for (int p = 0; p < len; p++) k->axpy_f32(o, vc + (size_t)p * kvd, scores[p], hd);
}

static void attn_prepare_worker(void *p, int ith, int nth) {
    attn_stage *j = p;
    const text_config *c = j->c;
    long lo, hi;
    threadpool_split((long)j->n * (c->n_heads + 2 * c->n_kv_heads), ith, nth, &lo, &hi);
    for (long t = lo; t < hi; t++) attn_prepare(j, t);
}

static void attn_pairs_worker(void *p, int ith, int nth) {
    attn_stage *j = p;
    const text_config *c = j->c;
    float *scores = j->scores + (size_t)ith * j->scores_stride;
    /* pair tasks in sequence order; the cursor only moves forward */
    int s = 0;
    long base = 0, lo, hi;   /* base: first pair task of sequence s */
    int rep = c->n_heads / c->n_kv_heads;
    while (claim(&j->next, j->pair_tasks, 1, &lo, &hi)) {
        for (;;) {
            long len = j->per_pair[s] ? (long)j->bs[s].n * c->n_kv_heads : 0;
            if (lo < base + len) break;
            base += len, s++;
        }
        /* the query heads sharing a KV head run back to back: the second
         * finds its keys and values in cache */
        long r = lo - base;
        for (int h = (int)(r % c->n_kv_heads) * rep, e = h + rep; h < e; h++)
            attn_head(j, j->seq_first[s] + (int)(r / c->n_kv_heads), h, scores);
    }
}

/* ---- the pass's working memory ------------------------------------------ */

/* Every buffer of a pass over n tokens of n_seq sequences, carved from one
 * block by fwd_layout. */
typedef struct fwd_bufs {
    float *x;               /* (n, d) residual stream, all sequences' tokens in order */
    float *xn;              /* (n, d) normalised input of a block, then its output */
    float *q, *att;         /* (n, qdim) queries; attention output */
    float *kk, *vv;         /* (n, kvd) new keys and values, before they go to the caches */
    float *gate, *up;       /* (n, ffn) */
    float *cosv, *sinv;     /* (n, half) rotary cos/sin per token, shared by every layer and head */
    float *scores;          /* (threads, max_ctx) per-pair attention */
    float *prompt_scores;   /* (threads, ATTN_PROMPT_QB, max_ctx) if a sequence takes the prompt kernel */
    float *lg;              /* (n_out, vocab) if several sequences want logits: one matmul, then to their owners */
    const float **img;      /* (n) image feature row of each token, or NULL */
    int *tok_seq;           /* (n) sequence of each token */
    int *seq_first;         /* (n_seq) first token of each sequence */
    char *per_pair;         /* (n_seq) whether a sequence's attention runs per (token, head) */
} fwd_bufs;

typedef struct fwd_shape {
    int n, n_seq, n_out, threads;
    int max_ctx;            /* the largest n_ctx of the caches: score rows fit any position */
    bool prompt_kernel;     /* a sequence takes the prompt kernel */
} fwd_shape;

/* Takes bytes at *at of base, rounded up to a cache line so that no two
 * buffers share one; base NULL only measures. */
static void *carve(char *base, size_t *at, size_t bytes) {
    void *p = base ? base + *at : NULL;
    *at += (bytes + 63) & ~(size_t)63;
    return p;
}

/* Points b's buffers into base (NULL: only measures); returns the bytes
 * they take, a multiple of 64. */
static size_t fwd_layout(fwd_bufs *b, char *base, const text_config *c, const fwd_shape *sh) {
    size_t n = (size_t)sh->n, d = (size_t)c->hidden_size, qdim = (size_t)c->n_heads * c->head_dim;
    size_t kvd = (size_t)c->n_kv_heads * c->head_dim, ffn = (size_t)c->intermediate_size, half = c->head_dim / 2;
    size_t row = (size_t)sh->threads * sh->max_ctx * sizeof(float), f = sizeof(float), at = 0;
    b->x = carve(base, &at, n * d * f);
    b->xn = carve(base, &at, n * d * f);
    b->q = carve(base, &at, n * qdim * f);
    b->att = carve(base, &at, n * qdim * f);
    b->kk = carve(base, &at, n * kvd * f);
    b->vv = carve(base, &at, n * kvd * f);
    b->gate = carve(base, &at, n * ffn * f);
    b->up = carve(base, &at, n * ffn * f);
    b->cosv = carve(base, &at, n * half * f);
    b->sinv = carve(base, &at, n * half * f);
    b->scores = carve(base, &at, row);
    b->prompt_scores = carve(base, &at, sh->prompt_kernel ? ATTN_PROMPT_QB * row : 0);
    b->lg = carve(base, &at, sh->n_out > 1 ? (size_t)sh->n_out * c->vocab_size * f : 0);
    b->img = carve(base, &at, n * sizeof *b->img);
    b->tok_seq = carve(base, &at, n * sizeof *b->tok_seq);
    b->seq_first = carve(base, &at, (size_t)sh->n_seq * sizeof *b->seq_first);
    b->per_pair = carve(base, &at, (size_t)sh->n_seq);
    return at;
}

/* The block for a pass of n tokens: the leading cache's scratch if it is
 * big enough, or made big enough for a pass of up to
 * TEXT_SCRATCH_KEEP_TOKENS tokens; for a longer one a block of its own,
 * also returned in *own for the caller to free. NULL when out of memory
 * (the cache's scratch then freed, to be allocated again by a later pass). */
static char *fwd_memory(kv_cache *lead, size_t bytes, int n, char **own) {
    *own = NULL;
    if (bytes <= lead->scratch_bytes) return lead->scratch;
    if (n > TEXT_SCRATCH_KEEP_TOKENS) return *own = aligned_alloc(64, bytes);
    free(lead->scratch);
    lead->scratch = aligned_alloc(64, bytes);
    lead->scratch_bytes = lead->scratch ? bytes : 0;
    return lead->scratch;
}

/* ---- the forward pass -------------------------------------------------- */

static int check_batch(const text_model *m, const kv_cache *kv, const text_batch *b, qvl_error *err) {
    if (b->n < 1) return qvl_fail(err, "empty batch");
    if (kv->n + b->n > kv->n_ctx)
        return qvl_fail_code(err, QVL_E_TOO_LARGE, "context full: %d tokens in the cache + %d new > %d", kv->n, b->n,
                             kv->n_ctx);
    int n_img = 0;
    for (int i = 0; i < b->n; i++) {
        if (b->ids[i] < 0 || b->ids[i] >= m->cfg.vocab_size)
            return qvl_fail_code(err, QVL_E_BAD_INPUT, "token id %d out of range (vocabulary %d)", b->ids[i],
                                 m->cfg.vocab_size);
        n_img += b->image_embd && b->ids[i] == b->image_token_id;
    }
    if (b->image_embd && n_img != b->n_image_rows)
        return qvl_fail_code(err, QVL_E_BAD_INPUT, "%d image tokens but %d image feature rows", n_img,
                             b->n_image_rows);
    return 0;
}

/* Checks every sequence and that no cache appears twice (its keys would be
 * written at the same positions by two batches). */
static int check_batches(const text_model *m, kv_cache *const *kvs, const text_batch *bs, int n_seq, qvl_error *err) {
    if (n_seq < 1) return qvl_fail(err, "no sequences to run");
    for (int s = 0; s < n_seq; s++) {
        if (check_batch(m, kvs[s], &bs[s], err) != 0)
            return n_seq > 1 ? qvl_error_prefix(err, "sequence %d of %d", s + 1, n_seq) : -1;
        for (int o = 0; o < s; o++)
            if (kvs[o] == kvs[s]) return qvl_fail(err, "sequences %d and %d share one KV cache", o + 1, s + 1);
    }
    return 0;
}

/* Attention of layer l for every sequence: the norms, rotations and cache
 * writes, the per-pair attention of short sequences, then the prompt kernel
 * for each sequence long enough for it. */
static void attention(attn_stage *st, int l, threadpool *tp) {
    const text_config *c = st->c;
    int hd = c->head_dim, qdim = c->n_heads * hd, kvd = c->n_kv_heads * hd;
    st->l = l;
    run_step(tp, attn_prepare_worker, st, (long)st->n * (qdim + kvd));   /* the norms and rotations */
    atomic_init(&st->next, 0);
    if (st->pair_tasks) threadpool_run(tp, attn_pairs_worker, st);
    for (int s = 0; s < st->n_seq; s++) {
        if (st->per_pair[s]) continue;
        kv_cache *kv = st->kvs[s];
        int i = st->seq_first[s], n = st->bs[s].n;
        attn_job aj = {.c = c, .q = st->q + (size_t)i * qdim, .kc = kv->k + (size_t)l * kv->n_ctx * kvd,
                       .vc = kv->v + (size_t)l * kv->n_ctx * kvd, .out = st->out + (size_t)i * qdim, .n = n,
                       .start = kv->n, .scores = st->prompt_scores};
        atomic_init(&aj.next, 0);
        threadpool_run(tp, attn_worker_prompt, &aj);
    }
}

size_t text_pass_bytes(const text_model *m, int n_tokens, int n_ctx, int threads) {
    fwd_shape sh = {.n = n_tokens, .n_seq = 1, .n_out = 1, .threads = threads < 1 ? 1 : threads, .max_ctx = n_ctx,
                    .prompt_kernel = n_tokens >= ATTN_PROMPT_QB};
    fwd_bufs b;
    return fwd_layout(&b, NULL, &m->cfg, &sh);
}

size_t kv_cache_bytes(const text_config *cfg, int n_ctx) {
    return 2 * (size_t)cfg->n_layers * (size_t)n_ctx * (size_t)cfg->n_kv_heads * (size_t)cfg->head_dim * sizeof(float);
}

int text_forward_multi(const text_model *m, kv_cache *const *kvs, const text_batch *bs, int n_seq,
                       float *const *logits, threadpool *tp, qvl_error *err) {
    if (check_batches(m, kvs, bs, n_seq, err) != 0) return -1;
    const text_config *c = &m->cfg;
    int d = c->hidden_size, hd = c->head_dim, half = hd / 2, ffn = c->intermediate_size, vocab = c->vocab_size;
    int img_w = d * (1 + m->n_deepstack), rc = -1;
    int prompt_kernel = kernels_get()->attn_prompt_ok && kernels_get()->attn_prompt_ok(hd);
    fwd_shape sh = {.n_seq = n_seq, .threads = threadpool_size(tp)};
    for (int s = 0; s < n_seq; s++) {
        sh.n += bs[s].n;
        sh.n_out += logits && logits[s];
        sh.max_ctx = kvs[s]->n_ctx > sh.max_ctx ? kvs[s]->n_ctx : sh.max_ctx;
        sh.prompt_kernel |= prompt_kernel && bs[s].n >= ATTN_PROMPT_QB;
    }
    int n = sh.n, n_out = sh.n_out;
    fwd_bufs b;
    char *own, *mem = fwd_memory(kvs[0], fwd_layout(&b, NULL, c, &sh), n, &own);
    if (!mem) return qvl_fail_code(err, QVL_E_NOMEM, "out of memory for a forward pass of %d tokens", n);
    fwd_layout(&b, mem, c, &sh);
    float *x = b.x, *xn = b.xn;

    /* Embeddings, with image tokens replaced by their sequence's image
     * features; rotary angles per token. */
    attn_stage st = {.c = c, .n = n, .half = half, .q = b.q, .kk = b.kk, .vv = b.vv, .cosv = b.cosv,
                     .sinv = b.sinv, .kvs = kvs, .bs = bs, .tok_seq = b.tok_seq, .seq_first = b.seq_first,
                     .per_pair = b.per_pair, .n_seq = n_seq, .out = b.att, .scores = b.scores,
                     .scores_stride = (size_t)sh.max_ctx, .prompt_scores = b.prompt_scores};
    for (int s = 0, i = 0; s < n_seq; s++) {
        const text_batch *bt = &bs[s];
        b.seq_first[s] = i;
        b.per_pair[s] = !(prompt_kernel && bt->n >= ATTN_PROMPT_QB);
        st.pair_tasks += b.per_pair[s] ? (long)bt->n * c->n_kv_heads : 0;
        for (int t = 0, r = 0; t < bt->n; t++, i++) {
            b.tok_seq[i] = s;
            b.img[i] = bt->image_embd && bt->ids[t] == bt->image_token_id ? bt->image_embd + (size_t)r++ * img_w
                                                                          : NULL;
            if (b.img[i]) memcpy(x + (size_t)i * d, b.img[i], (size_t)d * sizeof *x);
            else tensor_get_row(&m->tok_embd, bt->ids[t], x + (size_t)i * d);
            for (int j = 0; j < half; j++) {
                float ang = (float)bt->pos[3 * t + m->rope_axis[j]] * m->inv_freq[j];
                b.cosv[(size_t)i * half + j] = cosf(ang);
                b.sinv[(size_t)i * half + j] = sinf(ang);
            }
        }
    }

    /* Each layer: x += attention(rmsnorm(x)), then x += mlp(rmsnorm(x)).
     * A block leaves its output in xn; its residual add is fused into the
     * RMSNorm that follows it (residual_add_norm), so each add is written
     * where that norm runs. */
    resid_job rj = {.x = x, .img = b.img, .xn = xn, .n = n, .d = d, .eps = c->rms_norm_eps};
    residual_add_norm(tp, &rj, NULL, 0, m->layers[0].attn_norm);   /* xn = rmsnorm(embeddings) */
    for (int l = 0; l < c->n_layers; l++) {
        const text_layer *L = &m->layers[l];
        /* attention block: xn = o_proj(attention(q, k, v of xn)) */
        if (matmul_many(tp, (const qvl_tensor *[]){&L->wq, &L->wk, &L->wv}, 3, xn, n,
                        (float *[]){b.q, b.kk, b.vv}, err) != 0)
            goto done;
        st.L = L;
        attention(&st, l, tp);
        if (matmul(tp, &L->wo, b.att, n, xn, err) != 0) goto done;
        /* x += attn_out, fused into the MLP's rmsnorm */
        residual_add_norm(tp, &rj, xn, 0, L->ffn_norm);

        /* MLP block: xn = w_down(silu(w_gate xn) * w_up xn) */
        if (matmul_many(tp, (const qvl_tensor *[]){&L->w_gate, &L->w_up}, 2, xn, n, (float *[]){b.gate, b.up},
                        err) != 0)
            goto done;
        swiglu_job sj = {.gate = b.gate, .up = b.up, .n = (long)n * ffn};
        atomic_init(&sj.next, 0);
        run_step(tp, swiglu_worker, &sj, sj.n);
        if (matmul(tp, &L->w_down, b.gate, n, xn, err) != 0) goto done;
        /* x += mlp_out, and after the first n_deepstack layers their
         * DeepStack slice at image tokens; fused into the next layer's
         * rmsnorm (the last layer has none: the output norm below is
         * applied to the last tokens only) */
        residual_add_norm(tp, &rj, xn, l < m->n_deepstack ? l + 1 : 0,
                          l + 1 < c->n_layers ? m->layers[l + 1].attn_norm : NULL);
    }
    if (n_out) {
        /* The last token of each sequence that wants logits, in order. */
        for (int s = 0, i = 0, o = 0; s < n_seq; i += bs[s++].n)
            if (logits[s]) rmsnorm(xn + (size_t)o++ * d, x + (size_t)(i + bs[s].n - 1) * d, m->output_norm, d,
                                   c->rms_norm_eps);
        if (n_out == 1) {
            for (int s = 0; s < n_seq; s++)
                if (logits[s] && matmul(tp, &m->output, xn, 1, logits[s], err) != 0) goto done;
        } else {
            if (matmul(tp, &m->output, xn, n_out, b.lg, err) != 0) goto done;
            for (int s = 0, o = 0; s < n_seq; s++)
                if (logits[s]) memcpy(logits[s], b.lg + (size_t)o++ * vocab, (size_t)vocab * sizeof *b.lg);
        }
    }
    for (int s = 0; s < n_seq; s++) kvs[s]->n += bs[s].n;   /* only now: a failed pass appends nothing */
    rc = 0;
done:
    free(own);
    return rc;
}

int text_forward(const text_model *m, kv_cache *kv, const text_batch *b, float *logits, threadpool *tp,
                 qvl_error *err) {
    return text_forward_multi(m, &kv, b, 1, &logits, tp, err);
}
