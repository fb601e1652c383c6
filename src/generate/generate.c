/* generate.c - see generate.h. */
#include "generate/generate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"

const char *finish_reason_name(finish_reason f) {
    switch (f) {
    case FINISH_STOP: return "stop";
    case FINISH_LENGTH: return "length";
    case FINISH_CONTEXT: return "context";
    case FINISH_LOOP: return "loop";
    case FINISH_CANCELLED: return "cancelled";
    default: return "none";
    }
}

gen_params gen_params_defaults(const qvl_model *m) {
    gen_params p = {0};
    p.sampling = m->gen_defaults;
    p.max_tokens = 1024;
    p.detect_loops = true;
    return p;
}

void gen_result_free(gen_result *r) {
    free(r->text);
    memset(r, 0, sizeof *r);
}

int gen_session_init(gen_session *s, const qvl_model *m, int n_ctx, qvl_error *err) {
    memset(s, 0, sizeof *s);
    if (kv_cache_init(&s->kv, &m->cfg.text, n_ctx, err) != 0) return -1;
    s->ids = malloc((size_t)n_ctx * sizeof *s->ids);
    s->pos = malloc((size_t)n_ctx * 3 * sizeof *s->pos);
    s->feature_hash = malloc((size_t)n_ctx * sizeof *s->feature_hash);
    if (!s->ids || !s->pos || !s->feature_hash) {
        gen_session_free(s);
        return qvl_fail_code(err, QVL_E_NOMEM, "out of memory for a session of %d tokens", n_ctx);
    }
    return 0;
}

void gen_session_free(gen_session *s) {
    kv_cache_free(&s->kv);
    free(s->ids), free(s->pos), free(s->feature_hash);
    memset(s, 0, sizeof *s);
}

static uint64_t hash_floats(const float *v, int n) {
    uint64_t h = 0xcbf29ce484222325ull;
    const uint8_t *b = (const uint8_t *)v;
    for (size_t i = 0; i < (size_t)n * sizeof *v; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h | 1;   /* never 0, which marks text */
}

static void session_record(gen_session *s, int at, int32_t id, const int32_t *pos3, uint64_t hash) {
    s->ids[at] = id;
    memcpy(s->pos + 3 * at, pos3, 3 * sizeof *pos3);
    s->feature_hash[at] = hash;
}

/* ---- output text with stop strings -------------------------------------- */

typedef struct out_text {
    char *buf;
    size_t len, cap;
    size_t emitted;            /* bytes already given to on_text */
} out_text;

/* Returns 0, or -1 when out of memory (o unchanged). */
static int out_append(out_text *o, const char *s, size_t n) {
    if (o->len + n + 1 > o->cap) {
        size_t cap = (o->len + n + 1) * 2;
        char *buf = realloc(o->buf, cap);
        if (!buf) return -1;
        o->buf = buf;
        o->cap = cap;
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    o->buf[o->len] = 0;
    return 0;
}

/* Cuts the text at the first stop string; returns true if one was found. */
static bool cut_at_stop(out_text *o, const gen_params *p) {
    size_t best = o->len;
    for (int i = 0; i < p->n_stop; i++) {
        size_t sl = strlen(p->stop[i]);
        if (!sl) continue;
        /* only new text can complete a match: start a little before emitted */
        size_t from = o->emitted > sl ? o->emitted - sl : 0;
        char *hit = memmem(o->buf + from, o->len - from, p->stop[i], sl);
        if (hit && (size_t)(hit - o->buf) < best) best = (size_t)(hit - o->buf);
    }
    if (best == o->len) return false;
    o->len = best;
    o->buf[best] = 0;
    return true;
}

/* Bytes at the end that could still become a stop string: hold them back. */
static size_t held_back(const out_text *o, const gen_params *p) {
    size_t hold = 0;
    for (int i = 0; i < p->n_stop; i++) {
        size_t sl = strlen(p->stop[i]);
        for (size_t k = sl > 1 ? sl - 1 : 0; k > hold; k--)
            if (k <= o->len - o->emitted && !memcmp(o->buf + o->len - k, p->stop[i], k)) {
                hold = k;
                break;
            }
    }
    return hold;
}

static int emit(out_text *o, size_t upto, gen_on_text cb, void *user) {
    if (upto <= o->emitted) return 0;
    int rc = cb ? cb(user, o->buf + o->emitted, upto - o->emitted) : 0;
    o->emitted = upto;
    return rc;
}

/* ---- loop detection ------------------------------------------------------ */

/* True when the last tokens are one n-gram (length 1..32) repeated so often
 * that the model is clearly stuck: at least 64 tokens and 8 repetitions. */
static bool is_looping(const int32_t *ids, int n) {
    for (int period = 1; period <= 32; period++) {
        int span = period * 8 > 64 ? period * 8 : 64;
        if (n < span) return false;
        const int32_t *tail = ids + n - span;
        int k = period;
        while (k < span && tail[k] == tail[k - period]) k++;
        if (k == span) return true;
    }
    return false;
}

/* ---- constrained choice ---------------------------------------------------- */

/* Up to this many allowed tokens are sampled as a list; more (inside a
 * string nearly all are allowed) by setting the others' logits to -inf. */
#define SMALL_SET 4096

typedef struct constraint_run {
    token_matcher *tm;
    int32_t *ids;              /* (SMALL_SET) the allowed ids, ascending */
    float *scratch;            /* (SMALL_SET) their logits */
} constraint_run;

/* -inf for every id the mask leaves out (ids past the mask included). */
static void apply_mask(float *logits, int n_logits, const uint64_t *mask, int mask_bits) {
    for (int w = 0; w * 64 < n_logits; w++) {
        uint64_t bits = w * 64 < mask_bits ? mask[w] : 0;
        if (w * 64 + 64 > mask_bits && w * 64 < mask_bits) bits &= (1ull << (mask_bits - w * 64)) - 1;
        if (bits == ~0ull) continue;
        int end = w * 64 + 64 < n_logits ? w * 64 + 64 : n_logits;
        for (int i = w * 64; i < end; i++)
            if (!((bits >> (i - w * 64)) & 1)) logits[i] = -INFINITY;
    }
}

/* The allowed ids below n_logits, ascending, if there are at most SMALL_SET; else -1. */
static int small_set(const uint64_t *mask, int mask_bits, int n_logits, int32_t *ids) {
    int n = 0;
    for (int w = 0; w * 64 < mask_bits; w++)
        for (uint64_t bits = mask[w]; bits; bits &= bits - 1) {
            int32_t id = w * 64 + __builtin_ctzll(bits);
            if (id >= n_logits) continue;
            if (n == SMALL_SET) return -1;
            ids[n++] = id;
        }
    return n;
}

/* Jump-forward: after a sampled token, the text the grammar then allows in
 * one way only (the next key and its quotes, a closing bracket ...) is
 * tokenized as the tokenizer would and goes into the same forward pass
 * as the sampled token, so a run of k forced tokens costs one pass instead
 * of k. At most JUMP_BYTES bytes, room tokens. Returns how many ids were
 * written to out (not yet accepted by the matcher). */
#define JUMP_BYTES 64
#define JUMP_TOKENS 64

static int jump_forward(const constraint_run *cr, const qvl_model *m, int32_t *out, int room) {
    char bytes[JUMP_BYTES];
    int n = room > 0 ? token_matcher_forced_bytes(cr->tm, bytes, sizeof bytes) : 0;
    int32_t *ids = NULL;
    size_t k = 0;
    if (n == 0 || tokenizer_encode(m->tok, bytes, (size_t)n, TOKENIZER_ENCODE_NO_SPECIAL, &ids, &k, NULL) != 0)
        return 0;
    int take = (int)k < room ? (int)k : room;
    take = take < JUMP_TOKENS ? take : JUMP_TOKENS;
    memcpy(out, ids, (size_t)take * sizeof *out);
    free(ids);
    return take;
}

/* The next token under the grammar: the only one allowed, or a sample of
 * the allowed ones. Returns 0 with *id, 1 when the grammar is complete and
 * nothing may follow, 2 when no token is allowed, or -1 with err set (the
 * grammar refused a token its own mask allowed: a bug). */
static int constrained_pick(constraint_run *cr, const qvl_model *m, sampler *smp, float *logits, int32_t *id,
                            gen_result *out, qvl_error *err) {
    if (token_matcher_finished(cr->tm)) return 1;
    int n_allowed, bits = tokenizer_vocab_size(m->tok), n;
    int32_t only;
    const uint64_t *mask = token_matcher_mask(cr->tm, &n_allowed, &only);
    if (n_allowed == 0) return 2;
    if (n_allowed == 1) {
        *id = only;
        sampler_record(smp, only);
        out->n_forced++;
    } else if ((n = small_set(mask, bits, m->n_vocab_real, cr->ids)) > 0) {
        *id = sampler_sample_among(smp, logits, cr->ids, n, cr->scratch);
    } else {
        apply_mask(logits, m->n_vocab_real, mask, bits);
        *id = sampler_sample(smp, logits);
    }
    if (token_matcher_accept(cr->tm, *id) != 0)
        return qvl_fail(err, "the grammar refused token %d that its mask allowed", *id);
    return 0;
}

/* ---- the loop ------------------------------------------------------------ */

static int session_forward(const qvl_model *m, gen_session *s, const text_batch *b, float *logits, threadpool *tp,
                           qvl_error *err) {
    return s->pool ? decoder_pool_forward(s->pool, &s->kv, b, logits, err)
                   : text_forward(&m->text, &s->kv, b, logits, tp, err);
}

/* Prompt tokens per forward pass of the prefill. Between passes the cancel
 * flag is read, so a client that leaves during a long prompt (a big image
 * is thousands of tokens) frees its slot within one pass; with a decoder
 * pool the other streams also wait at most one pass for their next step.
 * llama.cpp's default micro-batch: large enough that the matmuls keep
 * their speed. */
#define PREFILL_CHUNK 512

static bool cancel_set(atomic_bool *cancel) { return cancel && atomic_load(cancel); }

/* Runs prompt tokens keep..n-1 in passes of PREFILL_CHUNK, recording each
 * pass in the session (so a cancelled prompt's finished passes are reused
 * by a retry); the last pass writes the logits. img_before counts the image
 * tokens before keep; progress hears each finished pass. Returns 0 when
 * done, 1 when *cancel stopped it, or -1 with err set (the session then
 * holds nothing). */
static int prefill(const qvl_model *m, gen_session *s, const gen_prompt *prompt, const int32_t *ppos,
                   const uint64_t *hashes, int keep, int img_before, float *logits, threadpool *tp,
                   atomic_bool *cancel, const qvl_progress *progress, qvl_error *err) {
    int d_img = m->cfg.text.hidden_size * (1 + m->text.n_deepstack), img = img_before;
    for (int at = keep; at < prompt->n; at += PREFILL_CHUNK) {
        if (cancel_set(cancel)) return 1;
        int n = prompt->n - at < PREFILL_CHUNK ? prompt->n - at : PREFILL_CHUNK, n_img = 0;
        bool last = at + n == prompt->n;
        for (int i = at; i < at + n; i++) n_img += prompt->ids[i] == m->cfg.image_token_id;
        /* the last pass takes every row left, so a count that does not
         * match the image tokens still fails text_forward's check */
        if (last) n_img = prompt->n_image_rows - img;
        text_batch b = {n, prompt->ids + at, ppos + 3 * at,
                        prompt->image_embd ? prompt->image_embd + (size_t)img * d_img : NULL, n_img,
                        m->cfg.image_token_id};
        if (session_forward(m, s, &b, last ? logits : NULL, tp, err) != 0) {
            s->kv.n = 0;   /* the cache may hold a partial prompt: forget it */
            return -1;
        }
        for (int i = at; i < at + n; i++) session_record(s, i, prompt->ids[i], ppos + 3 * i, hashes[i]);
        img += n_img;
        qvl_progress_report(progress, "prompt", at + n, prompt->n);
    }
    return 0;
}

/* How many leading prompt tokens the session's cache already holds (same id,
 * same position, same image features); at least the last prompt token is
 * always recomputed, since its logits are needed. *img_before counts the
 * image tokens among them. */
static int reusable_prefix(const gen_session *s, const gen_prompt *prompt, const int32_t *ppos,
                           const uint64_t *hashes, int *img_before) {
    int keep = 0;
    *img_before = 0;
    while (keep < s->kv.n && keep < prompt->n - 1 && s->ids[keep] == prompt->ids[keep] &&
           !memcmp(s->pos + 3 * keep, ppos + 3 * keep, 3 * sizeof *ppos) && s->feature_hash[keep] == hashes[keep])
        *img_before += hashes[keep++] != 0;
    return keep;
}

int generate(const qvl_model *m, gen_session *s, const gen_prompt *prompt, const gen_params *p, threadpool *tp,
             gen_on_text on_text, void *user, atomic_bool *cancel, gen_result *out, qvl_error *err) {
    memset(out, 0, sizeof *out);
    const text_config *c = &m->cfg.text;
    if (prompt->n < 1) return qvl_fail_code(err, QVL_E_BAD_INPUT, "the prompt is empty");
    if (prompt->n >= s->kv.n_ctx)
        return qvl_fail_code(err, QVL_E_TOO_LARGE, "the prompt (%d tokens) does not fit the context (%d tokens)",
                             prompt->n, s->kv.n_ctx);
    int cap = 256, n_gen = 0, rc = -1;
    bool joined = false, cut = false;   /* cut: a stop string ended the text */
    int32_t *pos = prompt->pos ? NULL : malloc((size_t)prompt->n * 3 * sizeof *pos);
    uint64_t *hashes = calloc((size_t)prompt->n, sizeof *hashes);
    float *logits = malloc((size_t)c->vocab_size * sizeof *logits);
    int32_t *gen = malloc((size_t)cap * sizeof *gen);
    sampler smp = {0};
    tokenizer_stream *ts = NULL;
    constraint_run cr = {0};
    out_text o = {0};
    if ((!prompt->pos && !pos) || !hashes || !logits || !gen || sampler_init(&smp, &p->sampling, m->n_vocab_real) ||
        out_append(&o, "", 0)) {
        qvl_fail_code(err, QVL_E_NOMEM, "out of memory");
        goto done;
    }
    if (!(ts = tokenizer_stream_new(m->tok, TOKENIZER_DECODE_SKIP_SPECIAL, err))) goto done;
    if (p->constraint && !p->vocab) {
        qvl_fail(err, "a constrained answer needs the vocabulary index (gen_params.vocab)");
        goto done;
    }
    if (p->constraint) {
        if (!(cr.tm = token_matcher_new(p->constraint, p->vocab, m->stop_ids, m->n_stop_ids, err))) goto done;
        cr.ids = malloc(SMALL_SET * sizeof *cr.ids);
        cr.scratch = malloc(SMALL_SET * sizeof *cr.scratch);
        if (!cr.ids || !cr.scratch) {
            qvl_fail_code(err, QVL_E_NOMEM, "out of memory");
            goto done;
        }
    }
    const int32_t *ppos = prompt->pos;
    int next_pos = prompt->next_pos;
    if (!ppos) {
        text_positions_1d(pos, prompt->n, 0);
        ppos = pos;
        next_pos = prompt->n;
    }
    /* Feature hashes of the prompt's image tokens, then the reusable prefix. */
    int d_img = m->cfg.text.hidden_size * (1 + m->text.n_deepstack);
    for (int i = 0, r = 0; i < prompt->n; i++)
        if (prompt->image_embd && prompt->ids[i] == m->cfg.image_token_id && r < prompt->n_image_rows)
            hashes[i] = hash_floats(prompt->image_embd + (size_t)r++ * d_img, d_img);
    int img_before = 0, keep = reusable_prefix(s, prompt, ppos, hashes, &img_before);
    s->kv.n = keep;
    sampler_add_prompt(&smp, prompt->ids, prompt->n);

    double t0 = clock_ms();
    int pre = prefill(m, s, prompt, ppos, hashes, keep, img_before, logits, tp, cancel, &p->progress, err);
    if (pre < 0) goto done;
    s->next_pos = next_pos;
    out->n_cached = keep;
    double t1 = clock_ms();
    out->prompt_ms = t1 - t0;
    finish_reason fin = pre ? FINISH_CANCELLED : FINISH_NONE;
    int32_t step_ids[1 + JUMP_TOKENS];
    int32_t step_pos[(1 + JUMP_TOKENS) * 3];
    joined = !fin && s->pool != NULL;   /* decoding from here: the pool waits for our steps */
    if (joined) decoder_pool_join(s->pool);

    while (fin == FINISH_NONE) {
        if (cancel_set(cancel)) {
            fin = FINISH_CANCELLED;
            break;
        }
        int32_t id;
        if (cr.tm) {
            int r = constrained_pick(&cr, m, &smp, logits, &id, out, err);
            if (r < 0) goto done;
            if (r > 0) {   /* complete: stop without another step; or stuck (too deep): as if out of room */
                fin = r == 1 ? FINISH_STOP : FINISH_LENGTH;
                break;
            }
        } else {
            id = sampler_sample(&smp, logits);
        }
        if ((!p->ignore_eos || cr.tm) && model_is_stop_id(m, id)) {
            fin = FINISH_STOP;
            break;
        }
        /* the sampled token, then what the grammar forces after it (constrained answers) */
        int n_step = 1;
        step_ids[0] = id;
        if (cr.tm) {
            int room = s->kv.n_ctx - s->kv.n - 2;
            if (p->max_tokens > 0 && p->max_tokens - n_gen - 1 < room) room = p->max_tokens - n_gen - 1;
            n_step += jump_forward(&cr, m, step_ids + 1, room);
        }
        for (int k = 0; k < n_step && !fin; k++) {
            id = step_ids[k];
            if (k > 0) {
                if (token_matcher_accept(cr.tm, id) != 0) {
                    qvl_fail(err, "the grammar refused the forced token %d", id);
                    goto done;
                }
                sampler_record(&smp, id);
                out->n_forced++;
            }
            if (n_gen == cap) {
                int32_t *more = realloc(gen, (size_t)cap * 2 * sizeof *gen);
                if (!more) {
                    qvl_fail_code(err, QVL_E_NOMEM, "out of memory after %d tokens", n_gen);
                    goto done;
                }
                gen = more;
                cap *= 2;
            }
            gen[n_gen++] = id;
            size_t len;
            const char *piece = tokenizer_stream_push(ts, id, &len, err);
            if (!piece) goto done;
            if (out_append(&o, piece, len) != 0) {
                qvl_fail_code(err, QVL_E_NOMEM, "out of memory after %d tokens", n_gen);
                goto done;
            }
            if (cut_at_stop(&o, p)) fin = FINISH_STOP, cut = true;
            if (emit(&o, fin ? o.len : o.len - held_back(&o, p), on_text, user) != 0 && !fin) fin = FINISH_CANCELLED;
        }
        if (fin) break;
        if (p->detect_loops && !cr.tm && is_looping(gen, n_gen)) fin = FINISH_LOOP;
        else if (p->max_tokens > 0 && n_gen >= p->max_tokens) fin = FINISH_LENGTH;
        else if (s->kv.n + n_step >= s->kv.n_ctx) fin = FINISH_CONTEXT;
        if (fin) break;
        for (int k = 0; k < n_step; k++) step_pos[3 * k] = step_pos[3 * k + 1] = step_pos[3 * k + 2] = s->next_pos + k;
        text_batch step = {n_step, step_ids, step_pos, NULL, 0, m->cfg.image_token_id};
        int at = s->kv.n;
        if (session_forward(m, s, &step, logits, tp, err) != 0) goto done;
        for (int k = 0; k < n_step; k++) session_record(s, at + k, step_ids[k], step_pos + 3 * k, 0);
        s->next_pos += n_step;
    }
    if (joined) decoder_pool_leave(s->pool);   /* no more steps: do not make the others wait */
    joined = false;
    if (fin != FINISH_STOP || !p->n_stop) {
        size_t len;
        const char *rest = tokenizer_stream_flush(ts, &len);
        if (out_append(&o, rest, len) != 0) {
            qvl_fail_code(err, QVL_E_NOMEM, "out of memory after %d tokens", n_gen);
            goto done;
        }
    }
    emit(&o, o.len, fin == FINISH_CANCELLED ? NULL : on_text, user);
    out->finish = fin;
    if (cr.tm) {
        out->incomplete = cut || !token_matcher_can_end(cr.tm);
        token_matcher_stats(cr.tm, &out->masks_computed, &out->masks_cached, &out->mask_ms);
    }
    out->n_prompt = prompt->n;
    out->n_generated = n_gen;
    out->gen_ms = clock_ms() - t1;
    out->text = o.buf;
    out->text_len = o.len;
    o.buf = NULL;
    rc = 0;
done:
    if (joined) decoder_pool_leave(s->pool);
    free(o.buf), free(gen), free(pos), free(logits), free(hashes);
    tokenizer_stream_free(ts);
    token_matcher_free(cr.tm);
    free(cr.ids), free(cr.scratch);
    sampler_free(&smp);
    return rc;
}
