/* text_model.c - the batched, threaded forward pass of the text decoder.
 * See text_model.h; text_reference.c holds the plain version it is tested
 * against.
 */
#include "text_model.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "engine/attn_prompt.h"
#include "engine/kernels.h"
#include "engine/matmul.h"
#include "engine/ops.h"

void text_model_init_rope(text_model *m) {
    const text_config *c = &m->cfg;
    int half = c->head_dim / 2;
    m->inv_freq = malloc((size_t)half * sizeof *m->inv_freq);
    m->rope_axis = malloc((size_t)half);
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
}

int kv_cache_init(kv_cache *kv, const text_config *cfg, int n_ctx, qvl_error *err) {
    memset(kv, 0, sizeof *kv);
    kv->n_layers = cfg->n_layers;
    kv->n_ctx = n_ctx;
    kv->kv_dim = cfg->n_kv_heads * cfg->head_dim;
    size_t count = (size_t)kv->n_layers * n_ctx * kv->kv_dim;
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

typedef struct attn_job {
    const text_config *c;
    const float *q;        /* (n, n_heads*hd) */
    const float *kc, *vc;  /* this layer's cache, (n_ctx, kv_dim) */
    float *out;            /* (n, n_heads*hd) */
    int n, start;          /* tokens, cache position of the first */
    int n_ctx;
    atomic_long next;      /* prompt path: next unclaimed (query block, head) */
    float *scores;         /* prompt path: (threads, ATTN_PROMPT_QB, start + n) */
} attn_job;

static void attn_worker(void *p, int ith, int nth) {
    const attn_job *j = p;
    const text_config *c = j->c;
    int hd = c->head_dim, qdim = c->n_heads * hd, kvd = c->n_kv_heads * hd, group = c->n_heads / c->n_kv_heads;
    const kernels *k = kernels_get();
    float scale = 1.0f / sqrtf((float)hd);
    float *scores = malloc((size_t)(j->start + j->n) * sizeof *scores);
    long lo, hi;
    threadpool_split((long)j->n * c->n_heads, ith, nth, &lo, &hi);
    for (long task = lo; task < hi; task++) {
        int t = (int)(task / c->n_heads), h = (int)(task % c->n_heads), g = h / group;
        int len = j->start + t + 1;   /* causal: positions 0 .. own */
        const float *q = j->q + (size_t)t * qdim + (size_t)h * hd;
        for (int s = 0; s < len; s++) scores[s] = k->dot_f32_lanes16(q, j->kc + (size_t)s * kvd + (size_t)g * hd, hd) * scale;
        softmax_masked(scores, len, j->start + j->n);
        float *o = j->out + (size_t)t * qdim + (size_t)h * hd;
        memset(o, 0, (size_t)hd * sizeof *o);
        for (int s = 0; s < len; s++) k->axpy_f32(o, j->vc + (size_t)s * kvd + (size_t)g * hd, scores[s], hd);
    }
    free(scores);
}

/* Prompts on AVX-512: blocks of ATTN_PROMPT_QB queries of one head share
 * every key and value load (attn_prompt.h, same bits as attn_worker).
 * Blocks are claimed latest first: their cost grows with their position
 * (causal), so the cheap early ones even out the threads at the end. */
static void attn_worker_prompt(void *p, int ith, int nth) {
    attn_job *j = p;
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
        attn_prompt_scores(j->q + (size_t)t0 * qdim + (size_t)h * hd, (size_t)qdim, nq, j->kc + (size_t)g * hd,
                           (size_t)kvd, len[nq - 1], hd, scale, scores, row);
        for (int i = 0; i < nq; i++) softmax_masked(scores + i * row, len[i], (int)row);
        attn_prompt_pv(scores, row, len, nq, j->vc + (size_t)g * hd, (size_t)kvd, hd,
                       j->out + (size_t)t0 * qdim + (size_t)h * hd, (size_t)qdim);
    }
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

int text_forward_multi(const text_model *m, kv_cache *const *kvs, const text_batch *bs, int n_seq,
                       float *const *logits, threadpool *tp, qvl_error *err) {
    if (check_batches(m, kvs, bs, n_seq, err) != 0) return -1;
    const text_config *c = &m->cfg;
    int n = 0, n_out = 0, d = c->hidden_size, hd = c->head_dim, half = hd / 2;
    for (int s = 0; s < n_seq; s++) {
        n += bs[s].n;
        n_out += logits && logits[s];
    }
    int qdim = c->n_heads * hd, kvd = c->n_kv_heads * hd, ffn = c->intermediate_size, vocab = c->vocab_size;
    int img_w = d * (1 + m->n_deepstack), rc = -1;
    float *x = malloc((size_t)n * d * sizeof *x);          /* residual stream, all sequences' tokens in order */
    float *xn = malloc((size_t)n * d * sizeof *xn);        /* normalised input of a block */
    float *q = malloc((size_t)n * qdim * sizeof *q);
    float *kk = malloc((size_t)n * kvd * sizeof *kk);
    float *vv = malloc((size_t)n * kvd * sizeof *vv);
    float *att = malloc((size_t)n * qdim * sizeof *att);
    float *gate = malloc((size_t)n * ffn * sizeof *gate);
    float *up = malloc((size_t)n * ffn * sizeof *up);
    float *cosv = malloc((size_t)n * half * sizeof *cosv), *sinv = malloc((size_t)n * half * sizeof *sinv);
    const float **img = malloc((size_t)n * sizeof *img);   /* image feature row of token i, or NULL */
    /* Several logits rows come out of one matmul, then go to their owners. */
    float *lg = n_out > 1 ? malloc((size_t)n_out * vocab * sizeof *lg) : NULL;
    if (!x || !xn || !q || !kk || !vv || !att || !gate || !up || !cosv || !sinv || !img || (n_out > 1 && !lg)) {
        qvl_fail_code(err, QVL_E_NOMEM, "out of memory for a forward pass of %d tokens", n);
        goto done;
    }

    /* Embeddings, with image tokens replaced by their sequence's image
     * features; rotary angles per token, shared by every layer and head. */
    for (int s = 0, i = 0; s < n_seq; s++) {
        const text_batch *b = &bs[s];
        for (int t = 0, r = 0; t < b->n; t++, i++) {
            img[i] = b->image_embd && b->ids[t] == b->image_token_id ? b->image_embd + (size_t)r++ * img_w : NULL;
            if (img[i]) memcpy(x + (size_t)i * d, img[i], (size_t)d * sizeof *x);
            else tensor_get_row(&m->tok_embd, b->ids[t], x + (size_t)i * d);
            for (int j = 0; j < half; j++) {
                float ang = (float)b->pos[3 * t + m->rope_axis[j]] * m->inv_freq[j];
                cosv[(size_t)i * half + j] = cosf(ang);
                sinv[(size_t)i * half + j] = sinf(ang);
            }
        }
    }

    for (int l = 0; l < c->n_layers; l++) {
        const text_layer *L = &m->layers[l];
        for (int i = 0; i < n; i++) rmsnorm(xn + (size_t)i * d, x + (size_t)i * d, L->attn_norm, d, c->rms_norm_eps);
        matmul(tp, &L->wq, xn, n, q);
        matmul(tp, &L->wk, xn, n, kk);
        matmul(tp, &L->wv, xn, n, vv);
        for (int i = 0; i < n; i++) {
            const float *ci = cosv + (size_t)i * half, *si = sinv + (size_t)i * half;
            for (int h = 0; h < c->n_heads; h++) {
                float *qh = q + (size_t)i * qdim + (size_t)h * hd;
                rmsnorm(qh, qh, L->q_norm, hd, c->rms_norm_eps);
                rope_apply(qh, ci, si, half);
            }
            for (int h = 0; h < c->n_kv_heads; h++) {
                float *kh = kk + (size_t)i * kvd + (size_t)h * hd;
                rmsnorm(kh, kh, L->k_norm, hd, c->rms_norm_eps);
                rope_apply(kh, ci, si, half);
            }
        }
        /* Attention: each sequence against its own cache. */
        for (int s = 0, i = 0; s < n_seq; i += bs[s++].n) {
            kv_cache *kv = kvs[s];
            float *kc = kv->k + (size_t)l * kv->n_ctx * kvd, *vc = kv->v + (size_t)l * kv->n_ctx * kvd;
            memcpy(kc + (size_t)kv->n * kvd, kk + (size_t)i * kvd, (size_t)bs[s].n * kvd * sizeof *kk);
            memcpy(vc + (size_t)kv->n * kvd, vv + (size_t)i * kvd, (size_t)bs[s].n * kvd * sizeof *vv);
            attn_job aj = {.c = c, .q = q + (size_t)i * qdim, .kc = kc, .vc = vc, .out = att + (size_t)i * qdim,
                           .n = bs[s].n, .start = kv->n, .n_ctx = kv->n_ctx};
            atomic_init(&aj.next, 0);
            if (bs[s].n >= ATTN_PROMPT_QB && kernels_get() == &kernels_avx512 && attn_prompt_supported(hd)) {
                aj.scores = malloc((size_t)threadpool_size(tp) * ATTN_PROMPT_QB * (kv->n + bs[s].n) * sizeof(float));
                if (!aj.scores) {
                    qvl_fail_code(err, QVL_E_NOMEM, "out of memory for the attention of %d tokens", bs[s].n);
                    goto done;
                }
                threadpool_run(tp, attn_worker_prompt, &aj);
                free(aj.scores);
            } else {
                threadpool_run(tp, attn_worker, &aj);
            }
        }
        matmul(tp, &L->wo, att, n, xn);
        vec_add(x, xn, n * d);

        for (int i = 0; i < n; i++) rmsnorm(xn + (size_t)i * d, x + (size_t)i * d, L->ffn_norm, d, c->rms_norm_eps);
        matmul(tp, &L->w_gate, xn, n, gate);
        matmul(tp, &L->w_up, xn, n, up);
        swiglu(gate, up, n * ffn);
        matmul(tp, &L->w_down, gate, n, xn);
        vec_add(x, xn, n * d);

        /* DeepStack: slice l+1 of each image row is added after layer l. */
        if (l < m->n_deepstack)
            for (int i = 0; i < n; i++)
                if (img[i]) vec_add(x + (size_t)i * d, img[i] + (size_t)(l + 1) * d, d);
    }
    for (int s = 0; s < n_seq; s++) kvs[s]->n += bs[s].n;
    if (n_out) {
        /* The last token of each sequence that wants logits, in order. */
        for (int s = 0, i = 0, o = 0; s < n_seq; i += bs[s++].n)
            if (logits[s]) rmsnorm(xn + (size_t)o++ * d, x + (size_t)(i + bs[s].n - 1) * d, m->output_norm, d,
                                   c->rms_norm_eps);
        if (n_out == 1) {
            for (int s = 0; s < n_seq; s++)
                if (logits[s]) matmul(tp, &m->output, xn, 1, logits[s]);
        } else {
            matmul(tp, &m->output, xn, n_out, lg);
            for (int s = 0, o = 0; s < n_seq; s++)
                if (logits[s]) memcpy(logits[s], lg + (size_t)o++ * vocab, (size_t)vocab * sizeof *lg);
        }
    }
    rc = 0;
done:
    free(x), free(xn), free(q), free(kk), free(vv), free(att), free(gate), free(up), free(cosv), free(sinv);
    free(img), free(lg);
    return rc;
}

int text_forward(const text_model *m, kv_cache *kv, const text_batch *b, float *logits, threadpool *tp,
                 qvl_error *err) {
    return text_forward_multi(m, &kv, b, 1, &logits, tp, err);
}
