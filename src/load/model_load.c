/* model_load.c - builds a qvl_model from a Hugging Face directory or a GGUF
 * file. See model_load.h; the shared getters are weight_source.c's.
 *
 * Both forms go through one path: a weight_source answers "the tensor with
 * this Hugging Face name / this GGUF name", and load_text_weights asks it
 * for every tensor the config implies, checking shapes and types, converting
 * small vectors to f32 and (HF bf16 only) quantizing matrices on request.
 */
#include "load/model_load.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/kernels.h"
#include "engine/matmul.h"
#include "engine/threadpool.h"
#include "format/gguf.h"
#include "format/safetensors.h"
#include "base/mapped_file.h"
#include "load/text_gguf.h"
#include "load/quant_cache.h"
#include "load/weight_pack.h"
#include "load/vision_load.h"
#include "load/weight_source.h"


static qvl_dtype q4_k_m_type(const char *role, int layer, int n_layers, int64_t cols, bool tied) {
    bool more_bits = layer < n_layers / 8 || layer >= 7 * n_layers / 8 || (layer - n_layers / 8) % 3 == 2;
    if (cols % 32) return DT_F16;
    if (!strcmp(role, "output") || (tied && !strcmp(role, "token_embd"))) return cols % 256 ? DT_Q8_0 : DT_Q6_K;
    bool six = more_bits && (!strcmp(role, "attn_v") || !strcmp(role, "ffn_down"));
    if (cols % 256) return six ? DT_Q8_0 : DT_Q5_0;
    return six ? DT_Q6_K : DT_Q4_K;
}

static int load_text_weights(qvl_model *m, const weight_source *src, qvl_error *err) {
    const text_config *c = &m->cfg.text;
    text_model *tm = &m->text;
    tm->cfg = *c;
    tm->n_deepstack = m->cfg.vision.n_deepstack;
    int64_t d = c->hidden_size, qd = (int64_t)c->n_heads * c->head_dim, kvd = (int64_t)c->n_kv_heads * c->head_dim;
    int64_t ffn = c->intermediate_size;
    const char *P = "model.language_model";
    char hf[160], gg[96];
    /* The embedding is also the output matrix: Q6_K keeps the logits close when
     * the rest goes to 4 bits. q4_k_m (named by load_hf_dir in weight_type)
     * is llama.cpp's whole per-tensor mix. */
    bool k_m = src->quant != DT_COUNT && m->weight_type && !strcmp(m->weight_type, "q4_k_m");
    bool tied = !weight_find(src, "lm_head.weight", "output.weight");
    qvl_dtype emb_q = src->quant == DT_Q4_K ? DT_Q6_K : src->quant, out_q = emb_q;
    if (k_m) {
        emb_q = q4_k_m_type("token_embd", 0, c->n_layers, d, tied);
        out_q = q4_k_m_type("output", 0, c->n_layers, d, tied);
    }
    snprintf(hf, sizeof hf, "%s.embed_tokens.weight", P);
    if (need_matrix(src, hf, "token_embd.weight", d, c->vocab_size, emb_q, &tm->tok_embd, err)) return -1;
    tm->output = tm->tok_embd;
    if (!tied && need_matrix(src, "lm_head.weight", "output.weight", d, c->vocab_size, out_q, &tm->output, err))
        return -1;
    snprintf(hf, sizeof hf, "%s.norm.weight", P);
    if (!(tm->output_norm = need_vector(src, hf, "output_norm.weight", d, err))) return -1;
    tm->layers = weight_own(src->store, (size_t)c->n_layers * sizeof *tm->layers);
    if (!tm->layers) return qvl_fail_code(err, QVL_E_NOMEM, "out of memory");
    for (int i = 0; i < c->n_layers; i++) {
        text_layer *L = &tm->layers[i];
        struct {
            const char *hf, *gg;
            const float **dst;
            int64_t n;
        } vecs[] = {
            {"input_layernorm", "attn_norm", &L->attn_norm, d},
            {"post_attention_layernorm", "ffn_norm", &L->ffn_norm, d},
            {"self_attn.q_norm", "attn_q_norm", &L->q_norm, c->head_dim},
            {"self_attn.k_norm", "attn_k_norm", &L->k_norm, c->head_dim},
        };
        for (size_t k = 0; k < sizeof vecs / sizeof *vecs; k++) {
            snprintf(hf, sizeof hf, "%s.layers.%d.%s.weight", P, i, vecs[k].hf);
            snprintf(gg, sizeof gg, "blk.%d.%s.weight", i, vecs[k].gg);
            if (!(*vecs[k].dst = need_vector(src, hf, gg, vecs[k].n, err))) return -1;
        }
        struct {
            const char *hf, *gg;
            qvl_tensor *dst;
            int64_t cols, rows;
        } mats[] = {
            {"self_attn.q_proj", "attn_q", &L->wq, d, qd},
            {"self_attn.k_proj", "attn_k", &L->wk, d, kvd},
            {"self_attn.v_proj", "attn_v", &L->wv, d, kvd},
            {"self_attn.o_proj", "attn_output", &L->wo, qd, d},
            {"mlp.gate_proj", "ffn_gate", &L->w_gate, d, ffn},
            {"mlp.up_proj", "ffn_up", &L->w_up, d, ffn},
            {"mlp.down_proj", "ffn_down", &L->w_down, ffn, d},
        };
        for (size_t k = 0; k < sizeof mats / sizeof *mats; k++) {
            snprintf(hf, sizeof hf, "%s.layers.%d.%s.weight", P, i, mats[k].hf);
            snprintf(gg, sizeof gg, "blk.%d.%s.weight", i, mats[k].gg);
            qvl_dtype want = k_m ? q4_k_m_type(mats[k].gg, i, c->n_layers, mats[k].cols, tied) : src->quant;
            if (need_matrix(src, hf, gg, mats[k].cols, mats[k].rows, want, mats[k].dst, err)) return -1;
        }
    }
    return text_model_init_rope(tm, err);
}

/* ---- Hugging Face directories ----------------------------------------- */

static void load_generation_config(qvl_model *m, const char *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/generation_config.json", dir);
    json_t *root = json_load_file(path, 0, NULL);
    if (!json_is_object(root)) {
        json_decref(root);
        return;   /* optional file: the built-in defaults are the real model's */
    }
    sampling_params *p = &m->gen_defaults;
    json_t *v;
    if (json_is_number(v = json_object_get(root, "temperature"))) p->temperature = (float)json_number_value(v);
    if (json_is_integer(v = json_object_get(root, "top_k"))) p->top_k = (int)json_integer_value(v);
    if (json_is_number(v = json_object_get(root, "top_p"))) p->top_p = (float)json_number_value(v);
    if (json_is_number(v = json_object_get(root, "repetition_penalty")))
        p->repetition_penalty = (float)json_number_value(v);
    if (json_is_false(json_object_get(root, "do_sample"))) p->temperature = 0;
    json_t *eos = json_object_get(root, "eos_token_id");
    if (json_is_integer(eos) && m->n_stop_ids < 8) m->stop_ids[m->n_stop_ids++] = (int32_t)json_integer_value(eos);
    for (size_t i = 0; json_is_array(eos) && i < json_array_size(eos) && m->n_stop_ids < 8; i++)
        if (json_is_integer(json_array_get(eos, i)))
            m->stop_ids[m->n_stop_ids++] = (int32_t)json_integer_value(json_array_get(eos, i));
    json_decref(root);
}

/* Maps the cached GGUF of an earlier quantize-on-load, if it exists and its
 * key matches. Returns 0 when the text weights came from it. */
static int load_cached_text(qvl_model *m, const char *path, const char *key, threadpool *tp) {
    model_storage *s = m->storage;
    qvl_error e = {0};
    gguf_str stored;
    if (access(path, R_OK) != 0 || gguf_open(&s->gguf, path, &e) != 0) return -1;
    s->has_gguf = true;
    weight_source src = {path, s, DT_COUNT, tp, &s->gguf, DT_COUNT};
    if (gguf_get_str(&s->gguf, "qvl.cache_key", &stored, &e) == 0 && gguf_str_eq(stored, key) &&
        load_text_weights(m, &src, &e) == 0)
        return 0;
    gguf_close(&s->gguf);   /* stale or damaged: quantize again and overwrite it */
    s->has_gguf = false;
    return -1;
}

/* Text weights of an HF directory: from the cache when possible, else
 * quantized now (and cached for next time). */
static int load_hf_text(qvl_model *m, const char *dir, const model_load_opts *o, const weight_source *src,
                        qvl_error *err) {
    char path[4096], key[65];
    bool cacheable = o->cache_dir && (src->quant == DT_Q8_0 || src->quant == DT_Q4_K);
    qvl_error ce = {0};
    if (cacheable && quant_cache_locate(o->cache_dir, dir, m->weight_type, path, sizeof path, key, &ce) != 0)
        cacheable = false;
    if (cacheable && load_cached_text(m, path, key, src->tp) == 0) {
        snprintf(m->cache_note, sizeof m->cache_note, "%s weights mapped from the cache %s", m->weight_type, path);
        return 0;
    }
    if (load_text_weights(m, src, err) != 0) return -1;
    if (!cacheable) return 0;
    if (make_dirs(o->cache_dir, &ce) == 0 && text_gguf_write(m, dir, path, key, &ce) == 0) {
        snprintf(m->cache_note, sizeof m->cache_note, "%s weights quantized and cached in %s", m->weight_type, path);
        quant_cache_trim(o->cache_dir, 4);
    } else
        snprintf(m->cache_note, sizeof m->cache_note, "could not cache the quantized weights: %s", ce.msg);
    return 0;
}

/* What model_load_opts.vision_quant asks for (checked by model_load). */
static qvl_dtype vision_quant_type(const model_load_opts *o) {
    const char *v = o->vision_quant;
    if (!v || !strcasecmp(v, "none")) return DT_COUNT;
    if (!strcasecmp(v, "auto")) return kernels_get()->gemm_bf16_tile ? DT_COUNT : DT_Q8_0;
    return DT_Q8_0;
}

static int load_hf_dir(qvl_model *m, const char *dir, const model_load_opts *o, threadpool *tp, qvl_error *err) {
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (config_load_hf(&m->cfg, path, err) != 0) return -1;
    if (safetensors_set_open(&m->storage->st, dir, err) != 0) return -1;
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    if (!(m->tok = tokenizer_load_json(path, err))) return -1;
    qvl_dtype q = DT_Q8_0;
    bool k_m = o->quant && !strcasecmp(o->quant, "q4_k_m");   /* Q4_K base, the mix chosen per tensor */
    if (o->quant) {
        int t = k_m ? DT_Q4_K : dtype_from_name(o->quant);
        if (t != DT_BF16 && t != DT_Q8_0 && t != DT_Q4_K && t != DT_F16 && t != DT_F32)
            return qvl_fail(err, "--quant %s: choose bf16, q8_0, q4_k_m (4-bit, llama.cpp's Q4_K_M mix) or q4_k",
                            o->quant);
        q = (qvl_dtype)t;
    }
    m->weight_type = k_m ? "q4_k_m" : q == DT_BF16 ? "bf16" : q == DT_Q4_K ? "q4_k" : q == DT_F16 ? "f16"
                   : q == DT_F32 ? "f32" : "q8_0";
    weight_source src = {m->storage->st.n_files ? m->storage->st.files[0].map.path : dir, m->storage, q, tp, NULL,
                         vision_quant_type(o)};
    if (load_hf_text(m, dir, o, &src, err) != 0) return -1;
    if (m->cfg.has_vision && !o->text_only && vision_load_hf(m, &src, dir, err) != 0) return -1;
    load_generation_config(m, dir);
    return 0;
}

/* ---- GGUF files -------------------------------------------------------- */

static int load_gguf_config(qvl_model *m, const gguf_file *g, qvl_error *err) {
    gguf_str arch;
    if (gguf_get_str(g, "general.architecture", &arch, err) != 0) return -1;
    if (!gguf_str_eq(arch, "qwen3vl"))
        return qvl_fail(err, "%s: architecture '%.*s' is not supported (qvl runs qwen3vl text models; an mmproj "
                        "file goes to --mmproj)", g->map.path, (int)(arch.len > 40 ? 40 : arch.len), arch.ptr);
    text_config *c = &m->cfg.text;
    const qvl_tensor *emb = gguf_find_tensor(g, "token_embd.weight");
    if (!emb) return qvl_fail(err, "%s: tensor 'token_embd.weight' is missing", g->map.path);
    if (gguf_int(g, "qwen3vl.embedding_length", 1, 1 << 16, -1, &c->hidden_size, err) ||
        gguf_int(g, "qwen3vl.block_count", 1, 1024, -1, &c->n_layers, err) ||
        gguf_int(g, "qwen3vl.feed_forward_length", 1, 1 << 18, -1, &c->intermediate_size, err) ||
        gguf_int(g, "qwen3vl.attention.head_count", 1, 1024, -1, &c->n_heads, err) ||
        gguf_int(g, "qwen3vl.attention.head_count_kv", 1, 1024, c->n_heads, &c->n_kv_heads, err) ||
        gguf_int(g, "qwen3vl.attention.key_length", 2, 1024, c->hidden_size / c->n_heads, &c->head_dim, err) ||
        gguf_int(g, "qwen3vl.context_length", 1, 1 << 30, 262144, &c->max_position_embeddings, err) ||
        gguf_int(g, "qwen3vl.n_deepstack_layers", 0, QVL_MAX_DEEPSTACK, 0, &m->cfg.vision.n_deepstack, err))
        return -1;
    double eps = 1e-6, theta = 5e6;
    if (gguf_find_kv(g, "qwen3vl.attention.layer_norm_rms_epsilon") &&
        gguf_get_float(g, "qwen3vl.attention.layer_norm_rms_epsilon", &eps, err))
        return -1;
    if (gguf_find_kv(g, "qwen3vl.rope.freq_base") && gguf_get_float(g, "qwen3vl.rope.freq_base", &theta, err))
        return -1;
    c->rms_norm_eps = (float)eps;
    c->rope_theta = (float)theta;
    const gguf_kv *sec;
    if (gguf_get_array(g, "qwen3vl.rope.dimension_sections", &sec, err) != 0) return -1;
    for (int i = 0; i < 3; i++) {
        int64_t v;
        if (gguf_kv_int(g, sec, (uint64_t)i, 0, 1 << 16, &v, err) != 0) return -1;
        c->mrope_section[i] = (int)v;
    }
    c->mrope_interleaved = true;
    c->tie_word_embeddings = gguf_find_tensor(g, "output.weight") == NULL;
    c->vocab_size = (int)tensor_nrows(emb);
    m->cfg.image_token_id = 151655;
    m->cfg.video_token_id = 151656;
    m->cfg.vision_start_token_id = 151652;
    m->cfg.vision_end_token_id = 151653;
    return config_validate(&m->cfg, g->map.path, err);
}

static tokenizer *load_gguf_tokenizer(const gguf_file *g, qvl_error *err) {
    const gguf_str *toks, *merges;
    size_t n_tok, n_merge;
    const gguf_kv *types;
    if (gguf_get_str_array(g, "tokenizer.ggml.tokens", &toks, &n_tok, err) ||
        gguf_get_str_array(g, "tokenizer.ggml.merges", &merges, &n_merge, err) ||
        gguf_get_array(g, "tokenizer.ggml.token_type", &types, err))
        return NULL;
    if (types->count != n_tok) {
        qvl_fail(err, "%s: tokenizer.ggml.token_type has %llu entries for %zu tokens", g->map.path,
                 (unsigned long long)types->count, n_tok);
        return NULL;
    }
    /* The tokenizer wants NUL-terminated strings; GGUF strings are not. */
    size_t bytes = 0;
    for (size_t i = 0; i < n_tok; i++) bytes += toks[i].len + 1;
    for (size_t i = 0; i < n_merge; i++) bytes += merges[i].len + 1;
    char *pool = malloc(bytes ? bytes : 1), *p = pool;
    const char **tv = malloc((n_tok + 1) * sizeof *tv), **mv = malloc((n_merge + 1) * sizeof *mv);
    int32_t *tt = malloc((n_tok + 1) * sizeof *tt);
    tokenizer *tk = NULL;
    if (!pool || !tv || !mv || !tt) {
        qvl_fail_code(err, QVL_E_NOMEM, "%s: out of memory for the tokenizer", g->map.path);
        goto done;
    }
    for (size_t i = 0; i < n_tok; i++) {
        int64_t t;
        if (gguf_kv_int(g, types, i, 0, 100, &t, err) != 0) goto done;
        tt[i] = (int32_t)t;
        memcpy(p, toks[i].ptr, toks[i].len);
        p[toks[i].len] = 0;
        tv[i] = p;
        p += toks[i].len + 1;
    }
    for (size_t i = 0; i < n_merge; i++) {
        memcpy(p, merges[i].ptr, merges[i].len);
        p[merges[i].len] = 0;
        mv[i] = p;
        p += merges[i].len + 1;
    }
    tk = tokenizer_from_arrays(tv, tt, n_tok, mv, n_merge, err);
    if (!tk) qvl_error_prefix(err, "%s: tokenizer", g->map.path);
done:
    free(pool), free(tv), free(mv), free(tt);
    return tk;
}

static int load_gguf(qvl_model *m, const char *path, const model_load_opts *o, threadpool *tp, qvl_error *err) {
    model_storage *s = m->storage;
    if (gguf_open(&s->gguf, path, err) != 0) return -1;
    s->has_gguf = true;
    if (load_gguf_config(m, &s->gguf, err) != 0) return -1;
    if (!(m->tok = load_gguf_tokenizer(&s->gguf, err))) return -1;
    m->weight_type = "gguf";
    weight_source src = {path, s, DT_COUNT, tp, &s->gguf, DT_COUNT};
    if (load_text_weights(m, &src, err) != 0) return -1;
    return o->mmproj && !o->text_only ? vision_load_mmproj(m, o->mmproj, vision_quant_type(o), tp, err) : 0;
}

/* ---- entry points ------------------------------------------------------ */

qvl_model *model_load(const char *path, const model_load_opts *opts, qvl_error *err) {
    model_load_opts none = {0};
    const model_load_opts *o = opts ? opts : &none;
    struct stat st;
    if (stat(path, &st) != 0)
        return qvl_fail_code(err, QVL_E_IO, "%s: no such model directory or file", path), NULL;
    qvl_model *m = calloc(1, sizeof *m);
    if (!m || !(m->storage = calloc(1, sizeof *m->storage))) {
        free(m);
        return qvl_fail_code(err, QVL_E_NOMEM, "out of memory"), NULL;
    }
    m->gen_defaults = sampling_defaults();
    snprintf(m->source, sizeof m->source, "%s", path);
    const char *base = path + strlen(path);
    while (base > path && base[-1] == '/') base--;
    const char *end = base;
    while (base > path && base[-1] != '/') base--;
    snprintf(m->name, sizeof m->name, "%.*s", (int)(end - base), base);
    const char *vq = o->vision_quant;
    if (vq && strcasecmp(vq, "none") && strcasecmp(vq, "q8_0") && strcasecmp(vq, "auto")) {
        model_free(m);
        return qvl_fail(err, "--vision-quant %s: choose none (as stored), q8_0 or auto", vq), NULL;
    }
    threadpool *tp = threadpool_create(o->threads > 0 ? o->threads : (int)sysconf(_SC_NPROCESSORS_ONLN));
    int rc;
    if (S_ISDIR(st.st_mode)) {
        rc = load_hf_dir(m, path, o, tp, err);
    } else {
        rc = load_gguf(m, path, o, tp, err);
    }
    if (rc == 0 && !o->no_pack) weight_pack(m, tp);
    threadpool_free(tp);
    if (rc != 0) {
        model_free(m);
        return NULL;
    }
    const char *stops[] = {"<|im_end|>", "<|endoftext|>"};
    for (int i = 0; i < 2; i++) {
        int32_t id = tokenizer_token_id(m->tok, stops[i]);
        if (id >= 0 && !model_is_stop_id(m, id) && m->n_stop_ids < 8) m->stop_ids[m->n_stop_ids++] = id;
    }
    m->n_vocab_real = tokenizer_vocab_size(m->tok);
    if (m->n_vocab_real > m->cfg.text.vocab_size) m->n_vocab_real = m->cfg.text.vocab_size;
    return m;
}

tokenizer *model_load_tokenizer(const char *path, qvl_error *err) {
    struct stat st;
    if (stat(path, &st) != 0) return qvl_fail_code(err, QVL_E_IO, "%s: no such model directory or file", path), NULL;
    if (S_ISDIR(st.st_mode)) {
        char p[4096];
        snprintf(p, sizeof p, "%s/tokenizer.json", path);
        return tokenizer_load_json(p, err);
    }
    gguf_file g;
    if (gguf_open(&g, path, err) != 0) return NULL;
    tokenizer *tk = load_gguf_tokenizer(&g, err);
    gguf_close(&g);
    return tk;
}

void model_free(qvl_model *m) {
    if (!m) return;
    tokenizer_free(m->tok);
    free(m->text.inv_freq);
    free(m->text.rope_axis);
    if (m->storage) {
        for (int i = 0; i < m->storage->n_bufs; i++) free(m->storage->bufs[i]);
        free(m->storage->bufs);
        safetensors_set_close(&m->storage->st);
        if (m->storage->has_gguf) gguf_close(&m->storage->gguf);
        if (m->storage->has_mmproj) gguf_close(&m->storage->mmproj);
        free(m->storage);
    }
    free(m);
}
