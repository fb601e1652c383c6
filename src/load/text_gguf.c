/* text_gguf.c - see text_gguf.h. The tokenizer files of the directory are
 * read again for llama.cpp's tokenizer.ggml.* arrays; every matrix is
 * written in the type it has in memory, so a quantized model round-trips
 * byte for byte.
 */
#include "load/text_gguf.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/gguf.h"

/* llama.cpp's general.file_type values for the mixes we write. */
enum { FTYPE_F32 = 0, FTYPE_F16 = 1, FTYPE_Q8_0 = 7, FTYPE_Q4_K_S = 14, FTYPE_Q4_K_M = 15, FTYPE_BF16 = 32 };
enum { TOK_NORMAL = 1, TOK_CONTROL = 3, TOK_USER = 4, TOK_UNUSED = 5 };

/* ---- tokenizer metadata --------------------------------------------------- */

typedef struct vocab_arrays {
    char **tokens;
    int32_t *types;
    int n;
    char **merges;
    int n_merges;
    char *chat_template;
} vocab_arrays;

static void vocab_free(vocab_arrays *v) {
    for (int i = 0; i < v->n; i++) free(v->tokens[i]);
    for (int i = 0; i < v->n_merges; i++) free(v->merges[i]);
    free(v->tokens), free(v->types), free(v->merges), free(v->chat_template);
    memset(v, 0, sizeof *v);
}

static bool looks_special(const char *s) {
    size_t n = strlen(s);
    return n >= 4 && !strncmp(s, "<|", 2) && !strcmp(s + n - 2, "|>");
}

static int read_vocab(const char *dir, int n_rows, vocab_arrays *v, qvl_error *err) {
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    json_t *model = json_object_get(root, "model"), *vocab = json_object_get(model, "vocab"),
           *merges = json_object_get(model, "merges"), *added = json_object_get(root, "added_tokens");
    if (!json_is_object(vocab) || !json_is_array(merges)) {
        json_decref(root);
        return qvl_fail(err, "%s: no model.vocab / model.merges%s%s", path, root ? "" : ": ", root ? "" : je.text);
    }
    /* A token left NULL would become a [PAD] entry: every copy is checked
     * (oom), and the caller's vocab_free frees what was made. */
    v->tokens = calloc((size_t)n_rows, sizeof *v->tokens);
    v->types = calloc((size_t)n_rows, sizeof *v->types);
    bool oom = !v->tokens || !v->types;
    if (!oom) v->n = n_rows;
    const char *piece;
    json_t *idv;
    json_object_foreach(vocab, piece, idv) {
        json_int_t id = json_integer_value(idv);
        if (!oom && id >= 0 && id < n_rows && !v->tokens[id]) {
            oom = !(v->tokens[id] = strdup(piece));
            v->types[id] = TOK_NORMAL;
        }
    }
    for (size_t i = 0; !oom && json_is_array(added) && i < json_array_size(added); i++) {
        json_t *t = json_array_get(added, i);
        json_int_t id = json_integer_value(json_object_get(t, "id"));
        const char *content = json_string_value(json_object_get(t, "content"));
        if (!content || id < 0 || id >= n_rows) continue;
        free(v->tokens[id]);
        oom = !(v->tokens[id] = strdup(content));
        v->types[id] = json_is_true(json_object_get(t, "special")) || looks_special(content) ? TOK_CONTROL : TOK_USER;
    }
    for (int i = 0; !oom && i < n_rows; i++)
        if (!v->tokens[i]) {
            char pad[32];
            snprintf(pad, sizeof pad, "[PAD%d]", i);
            oom = !(v->tokens[i] = strdup(pad));
            v->types[i] = TOK_UNUSED;
        }
    int n_merges = (int)json_array_size(merges);
    if (!oom) oom = !(v->merges = calloc((size_t)n_merges + 1, sizeof *v->merges));
    for (; !oom && v->n_merges < n_merges; v->n_merges++) {
        json_t *m = json_array_get(merges, (size_t)v->n_merges);
        char **dst = &v->merges[v->n_merges];
        if (json_is_string(m)) {
            oom = !(*dst = strdup(json_string_value(m)));
        } else {
            const char *a = json_string_value(json_array_get(m, 0)), *b = json_string_value(json_array_get(m, 1));
            oom = !(*dst = malloc(strlen(a ? a : "") + strlen(b ? b : "") + 2));
            if (!oom) sprintf(*dst, "%s %s", a ? a : "", b ? b : "");
        }
    }
    json_decref(root);
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    root = !oom ? json_load_file(path, 0, NULL) : NULL;
    const char *tmpl = json_string_value(json_object_get(root, "chat_template"));
    if (tmpl) oom = !(v->chat_template = strdup(tmpl));
    json_decref(root);
    return oom ? qvl_fail_code(err, QVL_E_NOMEM, "%s: out of memory reading the vocabulary", dir) : 0;
}

/* ---- text model ------------------------------------------------------------ */

typedef struct named_tensor {
    char name[64];
    qvl_tensor t;        /* 2-D matrices as stored in memory */
    const float *vec;    /* or a vector of n floats */
    int64_t n;
} named_tensor;

/* Returns how many tensors *out lists, or -1 when out of memory. */
static int collect_text_tensors(const qvl_model *m, named_tensor **out) {
    const text_config *c = &m->cfg.text;
    int cap = 3 + c->n_layers * 11, n = 0;
    named_tensor *l = calloc((size_t)cap, sizeof *l);
    if (!(*out = l)) return -1;
    snprintf(l[n].name, sizeof l[n].name, "token_embd.weight"), l[n++].t = m->text.tok_embd;
    if (m->text.output.data != m->text.tok_embd.data)
        snprintf(l[n].name, sizeof l[n].name, "output.weight"), l[n++].t = m->text.output;
    snprintf(l[n].name, sizeof l[n].name, "output_norm.weight"), l[n].vec = m->text.output_norm, l[n++].n = c->hidden_size;
    for (int i = 0; i < c->n_layers; i++) {
        const text_layer *L = &m->text.layers[i];
        struct { const char *nm; const qvl_tensor *t; const float *v; int64_t n; } e[] = {
            {"attn_norm", NULL, L->attn_norm, c->hidden_size}, {"attn_q", &L->wq, NULL, 0},
            {"attn_k", &L->wk, NULL, 0}, {"attn_v", &L->wv, NULL, 0}, {"attn_output", &L->wo, NULL, 0},
            {"attn_q_norm", NULL, L->q_norm, c->head_dim}, {"attn_k_norm", NULL, L->k_norm, c->head_dim},
            {"ffn_norm", NULL, L->ffn_norm, c->hidden_size}, {"ffn_gate", &L->w_gate, NULL, 0},
            {"ffn_up", &L->w_up, NULL, 0}, {"ffn_down", &L->w_down, NULL, 0},
        };
        for (size_t k = 0; k < sizeof e / sizeof *e; k++) {
            snprintf(l[n].name, sizeof l[n].name, "blk.%d.%s.weight", i, e[k].nm);
            if (e[k].t) l[n].t = *e[k].t;
            l[n].vec = e[k].v;
            l[n++].n = e[k].n;
        }
    }
    return n;
}

/* The file type of a model quantized on load, from its weight_type label
 * (model_load's names for --quant). */
static int text_file_type(const char *weight_type) {
    static const struct { const char *name; int ftype; } map[] = {
        {"q4_k_m", FTYPE_Q4_K_M}, {"q4_k", FTYPE_Q4_K_S}, {"bf16", FTYPE_BF16}, {"f16", FTYPE_F16}, {"f32", FTYPE_F32},
    };
    for (size_t i = 0; weight_type && i < sizeof map / sizeof *map; i++)
        if (!strcmp(weight_type, map[i].name)) return map[i].ftype;
    return FTYPE_Q8_0;
}

static int add_text_metadata(gguf_writer *w, const qvl_model *m, const vocab_arrays *v, int ftype, qvl_error *err) {
    const text_config *c = &m->cfg.text;
    int32_t sections[4] = {c->mrope_section[0], c->mrope_section[1], c->mrope_section[2], 0};
    char name[200];
    snprintf(name, sizeof name, "%s (converted by qvl)", m->name);
    if (gguf_writer_add_str(w, "general.architecture", "qwen3vl", err) ||
        gguf_writer_add_str(w, "general.type", "model", err) || gguf_writer_add_str(w, "general.name", name, err) ||
        gguf_writer_add_u32(w, "general.file_type", (uint32_t)ftype, err) ||
        gguf_writer_add_u32(w, "general.quantization_version", 2, err) ||
        gguf_writer_add_u32(w, "qwen3vl.context_length", (uint32_t)c->max_position_embeddings, err) ||
        gguf_writer_add_u32(w, "qwen3vl.embedding_length", (uint32_t)c->hidden_size, err) ||
        gguf_writer_add_u32(w, "qwen3vl.block_count", (uint32_t)c->n_layers, err) ||
        gguf_writer_add_u32(w, "qwen3vl.feed_forward_length", (uint32_t)c->intermediate_size, err) ||
        gguf_writer_add_u32(w, "qwen3vl.attention.head_count", (uint32_t)c->n_heads, err) ||
        gguf_writer_add_u32(w, "qwen3vl.attention.head_count_kv", (uint32_t)c->n_kv_heads, err) ||
        gguf_writer_add_u32(w, "qwen3vl.attention.key_length", (uint32_t)c->head_dim, err) ||
        gguf_writer_add_u32(w, "qwen3vl.attention.value_length", (uint32_t)c->head_dim, err) ||
        gguf_writer_add_f32(w, "qwen3vl.attention.layer_norm_rms_epsilon", c->rms_norm_eps, err) ||
        gguf_writer_add_f32(w, "qwen3vl.rope.freq_base", c->rope_theta, err) ||
        gguf_writer_add_i32_array(w, "qwen3vl.rope.dimension_sections", sections, 4, err) ||
        gguf_writer_add_u32(w, "qwen3vl.n_deepstack_layers", (uint32_t)m->cfg.vision.n_deepstack, err) ||
        gguf_writer_add_str(w, "tokenizer.ggml.model", "gpt2", err) ||
        gguf_writer_add_str(w, "tokenizer.ggml.pre", "qwen2", err) ||
        gguf_writer_add_str_array(w, "tokenizer.ggml.tokens", (const char *const *)v->tokens, (size_t)v->n, err) ||
        gguf_writer_add_i32_array(w, "tokenizer.ggml.token_type", v->types, (size_t)v->n, err) ||
        gguf_writer_add_str_array(w, "tokenizer.ggml.merges", (const char *const *)v->merges, (size_t)v->n_merges,
                                  err) ||
        gguf_writer_add_u32(w, "tokenizer.ggml.eos_token_id", 151645, err) ||
        gguf_writer_add_u32(w, "tokenizer.ggml.padding_token_id", 151643, err) ||
        gguf_writer_add_u32(w, "tokenizer.ggml.bos_token_id", 151643, err) ||
        gguf_writer_add_bool(w, "tokenizer.ggml.add_bos_token", false, err))
        return -1;
    if (v->chat_template && gguf_writer_add_str(w, "tokenizer.chat_template", v->chat_template, err)) return -1;
    return 0;
}

int text_gguf_write(const qvl_model *m, const char *dir, const char *out, const char *cache_key, qvl_error *err) {
    vocab_arrays v = {0};
    named_tensor *ts = NULL;
    int n = collect_text_tensors(m, &ts), rc = -1;
    int ftype = text_file_type(m->weight_type);
    gguf_writer *w = NULL;
    if (n < 0) {
        qvl_fail_code(err, QVL_E_NOMEM, "%s: out of memory", out);
        goto done;
    }
    if (read_vocab(dir, m->cfg.text.vocab_size, &v, err) != 0) goto done;
    if (!(w = gguf_writer_open(out, err)) || add_text_metadata(w, m, &v, ftype, err) != 0) goto done;
    if (cache_key && gguf_writer_add_str(w, "qvl.cache_key", cache_key, err) != 0) goto done;
    for (int i = 0; i < n; i++) {
        int64_t ne[2] = {ts[i].vec ? ts[i].n : ts[i].t.ne[0], ts[i].vec ? 1 : ts[i].t.ne[1]};
        if (gguf_writer_add_tensor(w, ts[i].name, ts[i].vec ? DT_F32 : ts[i].t.type, ne, ts[i].vec ? 1 : 2, err)) goto done;
    }
    for (int i = 0; i < n; i++) {
        const void *data = ts[i].vec ? (const void *)ts[i].vec : ts[i].t.data;
        size_t bytes = ts[i].vec ? (size_t)ts[i].n * sizeof(float) : ts[i].t.nbytes;
        if (gguf_writer_write(w, data, bytes, err) != 0) goto done;
    }
    rc = gguf_writer_finish(w, err);
    w = NULL;
done:
    if (w) gguf_writer_abort(w);
    free(ts);
    vocab_free(&v);
    return rc;
}
