/* config.c - see config.h. */
#include "model/config.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void config_test_model(model_config *cfg, test_model_size size) {
    memset(cfg, 0, sizeof *cfg);
    text_config *t = &cfg->text;
    vision_config *v = &cfg->vision;
    bool tiny = size == TEST_MODEL_TINY;
    t->vocab_size = 151936;
    t->hidden_size = tiny ? 128 : 2048;
    t->n_layers = tiny ? 4 : 28;
    t->n_heads = tiny ? 4 : 16;
    t->n_kv_heads = tiny ? 2 : 8;
    t->head_dim = tiny ? 32 : 128;
    t->intermediate_size = tiny ? 256 : 6144;
    t->rope_theta = 5000000.0f;
    t->rms_norm_eps = 1e-6f;
    int sec_tiny[3] = {6, 5, 5}, sec_2b[3] = {24, 20, 20};
    memcpy(t->mrope_section, tiny ? sec_tiny : sec_2b, sizeof t->mrope_section);
    t->mrope_interleaved = true;
    t->tie_word_embeddings = true;
    t->max_position_embeddings = 262144;
    cfg->has_vision = true;
    v->depth = tiny ? 4 : 24;
    v->hidden_size = tiny ? 64 : 1024;
    v->intermediate_size = tiny ? 128 : 4096;
    v->n_heads = tiny ? 4 : 16;
    v->patch_size = 16;
    v->spatial_merge_size = 2;
    v->temporal_patch_size = 2;
    v->in_channels = 3;
    v->num_position_embeddings = tiny ? 64 : 2304;
    v->out_hidden_size = t->hidden_size;
    v->n_deepstack = 3;
    int ds_tiny[3] = {0, 1, 2}, ds_2b[3] = {5, 11, 17};
    memcpy(v->deepstack_indexes, tiny ? ds_tiny : ds_2b, 3 * sizeof(int));
    v->layer_norm_eps = 1e-6f;
    cfg->image_token_id = 151655;
    cfg->video_token_id = 151656;
    cfg->vision_start_token_id = 151652;
    cfg->vision_end_token_id = 151653;
    snprintf(cfg->test_model, sizeof cfg->test_model, "%s", tiny ? "tiny" : "2b");
}

/* ---- reading config.json ---------------------------------------------- */

typedef struct reader {
    const char *path;
    qvl_error *err;
    int failed;
} reader;

static int get_int(reader *r, json_t *obj, const char *section, const char *key, int *out, int dflt, bool required) {
    json_t *v = json_object_get(obj, key);
    if (!v) {
        if (required && !r->failed)
            r->failed = qvl_fail(r->err, "%s: %s.%s is missing", r->path, section, key);
        *out = dflt;
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 1 << 30) {
        if (!r->failed)
            r->failed = qvl_fail(r->err, "%s: %s.%s must be a non-negative integer", r->path, section, key);
        return -1;
    }
    *out = (int)json_integer_value(v);
    return 0;
}

static void get_float(reader *r, json_t *obj, const char *section, const char *key, float *out, float dflt) {
    json_t *v = json_object_get(obj, key);
    *out = dflt;
    if (!v) return;
    if (!json_is_number(v)) {
        if (!r->failed) r->failed = qvl_fail(r->err, "%s: %s.%s must be a number", r->path, section, key);
        return;
    }
    *out = (float)json_number_value(v);
}

static void get_bool(json_t *obj, const char *key, bool *out, bool dflt) {
    json_t *v = json_object_get(obj, key);
    *out = json_is_boolean(v) ? json_is_true(v) : dflt;
}

static void get_int_array(reader *r, json_t *obj, const char *section, const char *key, int *out, int max,
                          int *n_out) {
    json_t *a = json_object_get(obj, key);
    *n_out = 0;
    if (!a) return;
    if (!json_is_array(a) || (int)json_array_size(a) > max) {
        if (!r->failed)
            r->failed = qvl_fail(r->err, "%s: %s.%s must be an array of at most %d integers", r->path, section,
                                 key, max);
        return;
    }
    for (size_t i = 0; i < json_array_size(a); i++) {
        json_t *e = json_array_get(a, i);
        if (!json_is_integer(e) || json_integer_value(e) < 0 || json_integer_value(e) > 1 << 20) {
            if (!r->failed)
                r->failed = qvl_fail(r->err, "%s: %s.%s[%zu] must be a small non-negative integer", r->path,
                                     section, key, i);
            return;
        }
        out[i] = (int)json_integer_value(e);
    }
    *n_out = (int)json_array_size(a);
}

int config_load_hf(model_config *cfg, const char *path, qvl_error *err) {
    memset(cfg, 0, sizeof *cfg);
    json_error_t je;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!root && je.line < 0) return qvl_fail_code(err, QVL_E_BAD_INPUT, "%s", je.text);   /* cannot open: names the path */
    if (!root) return qvl_fail_code(err, QVL_E_BAD_INPUT, "%s: %s (line %d)", path, je.text, je.line);
    reader r = {path, err, 0};
    json_t *tc = json_object_get(root, "text_config");
    if (!json_is_object(root) || !json_is_object(tc)) {
        json_decref(root);
        return qvl_fail(err, "%s: no \"text_config\" object: not a Qwen3-VL config.json", path);
    }
    json_t *mt = json_object_get(root, "model_type");
    if (json_is_string(mt) && strcmp(json_string_value(mt), "qwen3_vl") != 0) {
        qvl_fail(err, "%s: model_type is \"%s\"; qvl runs \"qwen3_vl\" models", path, json_string_value(mt));
        json_decref(root);
        return -1;
    }
    text_config *t = &cfg->text;
    get_int(&r, tc, "text_config", "vocab_size", &t->vocab_size, 0, true);
    get_int(&r, tc, "text_config", "hidden_size", &t->hidden_size, 0, true);
    get_int(&r, tc, "text_config", "num_hidden_layers", &t->n_layers, 0, true);
    get_int(&r, tc, "text_config", "num_attention_heads", &t->n_heads, 0, true);
    get_int(&r, tc, "text_config", "num_key_value_heads", &t->n_kv_heads, t->n_heads, false);
    get_int(&r, tc, "text_config", "head_dim", &t->head_dim, t->n_heads ? t->hidden_size / t->n_heads : 0, false);
    get_int(&r, tc, "text_config", "intermediate_size", &t->intermediate_size, 0, true);
    get_int(&r, tc, "text_config", "max_position_embeddings", &t->max_position_embeddings, 262144, false);
    get_float(&r, tc, "text_config", "rope_theta", &t->rope_theta, 5000000.0f);
    get_float(&r, tc, "text_config", "rms_norm_eps", &t->rms_norm_eps, 1e-6f);
    get_bool(root, "tie_word_embeddings", &t->tie_word_embeddings, true);
    json_t *rs = json_object_get(tc, "rope_scaling");
    if (!rs) rs = json_object_get(tc, "rope_parameters");
    if (json_is_object(rs)) {
        int n = 0;
        get_int_array(&r, rs, "text_config.rope_scaling", "mrope_section", t->mrope_section, 3, &n);
        if (!r.failed && n != 3)
            r.failed = qvl_fail(err, "%s: text_config.rope_scaling.mrope_section must have 3 entries", path);
        get_bool(rs, "mrope_interleaved", &t->mrope_interleaved, true);
        json_t *theta = json_object_get(rs, "rope_theta");
        if (json_is_number(theta)) t->rope_theta = (float)json_number_value(theta);
    } else if (!r.failed) {
        r.failed = qvl_fail(err, "%s: text_config.rope_scaling (mrope_section) is missing", path);
    }
    get_int(&r, root, "config", "image_token_id", &cfg->image_token_id, 151655, false);
    get_int(&r, root, "config", "video_token_id", &cfg->video_token_id, 151656, false);
    get_int(&r, root, "config", "vision_start_token_id", &cfg->vision_start_token_id, 151652, false);
    get_int(&r, root, "config", "vision_end_token_id", &cfg->vision_end_token_id, 151653, false);

    json_t *vc = json_object_get(root, "vision_config");
    if (json_is_object(vc)) {
        vision_config *v = &cfg->vision;
        cfg->has_vision = true;
        get_int(&r, vc, "vision_config", "depth", &v->depth, 0, true);
        get_int(&r, vc, "vision_config", "hidden_size", &v->hidden_size, 0, true);
        get_int(&r, vc, "vision_config", "intermediate_size", &v->intermediate_size, 0, true);
        get_int(&r, vc, "vision_config", "num_heads", &v->n_heads, 0, true);
        get_int(&r, vc, "vision_config", "patch_size", &v->patch_size, 16, false);
        get_int(&r, vc, "vision_config", "spatial_merge_size", &v->spatial_merge_size, 2, false);
        get_int(&r, vc, "vision_config", "temporal_patch_size", &v->temporal_patch_size, 2, false);
        get_int(&r, vc, "vision_config", "in_channels", &v->in_channels, 3, false);
        get_int(&r, vc, "vision_config", "num_position_embeddings", &v->num_position_embeddings, 0, true);
        get_int(&r, vc, "vision_config", "out_hidden_size", &v->out_hidden_size, t->hidden_size, false);
        get_int_array(&r, vc, "vision_config", "deepstack_visual_indexes", v->deepstack_indexes,
                      QVL_MAX_DEEPSTACK, &v->n_deepstack);
        v->layer_norm_eps = 1e-6f;   /* hard-coded in the reference model */
    }
    json_t *tm = json_object_get(root, "qvl_test_model");
    if (json_is_string(tm)) snprintf(cfg->test_model, sizeof cfg->test_model, "%s", json_string_value(tm));
    json_decref(root);
    if (r.failed) return -1;
    return config_validate(cfg, path, err);
}

int config_validate(const model_config *cfg, const char *src, qvl_error *err) {
    const text_config *t = &cfg->text;
    if (t->vocab_size < 1 || t->hidden_size < 1 || t->n_layers < 1 || t->n_heads < 1 || t->n_kv_heads < 1 ||
        t->head_dim < 2 || t->intermediate_size < 1)
        return qvl_fail(err, "%s: text sizes must all be positive", src);
    if (t->head_dim % 2 || t->n_heads % t->n_kv_heads)
        return qvl_fail(err, "%s: head_dim must be even and heads a multiple of kv heads", src);
    if (t->mrope_section[0] + t->mrope_section[1] + t->mrope_section[2] != t->head_dim / 2)
        return qvl_fail(err, "%s: mrope_section %d+%d+%d must add up to head_dim/2 = %d", src,
                        t->mrope_section[0], t->mrope_section[1], t->mrope_section[2], t->head_dim / 2);
    if (!(t->rope_theta > 1.0f) || !(t->rms_norm_eps > 0.0f) || !(t->rms_norm_eps < 1.0f))
        return qvl_fail(err, "%s: rope_theta or rms_norm_eps out of range", src);
    if (t->vocab_size > 1 << 22 || t->hidden_size > 1 << 16 || t->n_layers > 1024 || t->n_heads > 1024 ||
        (int64_t)t->n_heads * t->head_dim > 1 << 16 || t->intermediate_size > 1 << 18)
        return qvl_fail(err, "%s: text sizes are implausibly large", src);
    if (!cfg->has_vision) return 0;
    const vision_config *v = &cfg->vision;
    int side = 0;
    while ((side + 1) * (side + 1) <= v->num_position_embeddings) side++;
    if (v->depth < 1 || v->hidden_size < 1 || v->n_heads < 1 || v->hidden_size % v->n_heads ||
        v->intermediate_size < 1 || v->patch_size < 1 || v->spatial_merge_size < 1 || v->in_channels != 3 ||
        v->temporal_patch_size != 2 || side * side != v->num_position_embeddings || side < 2 ||
        v->out_hidden_size != t->hidden_size)
        return qvl_fail(err, "%s: vision_config sizes are inconsistent (need 3 channels, temporal patch 2, "
                        "a square position table, out_hidden_size = text hidden_size)", src);
    if (v->depth > 256 || v->hidden_size > 1 << 14 || v->intermediate_size > 1 << 16 || v->patch_size > 64 ||
        v->spatial_merge_size > 8 || (v->hidden_size / v->n_heads) % 4)
        return qvl_fail(err, "%s: vision sizes are implausible", src);
    for (int i = 0; i < v->n_deepstack; i++)
        if (v->deepstack_indexes[i] >= v->depth)
            return qvl_fail(err, "%s: deepstack_visual_indexes[%d] = %d is not a ViT block (depth %d)", src, i,
                            v->deepstack_indexes[i], v->depth);
    return 0;
}

/* ---- writing config.json ---------------------------------------------- */

/* A float as the short decimal people write (1e-06, not 9.99999997e-07). */
static double clean(float f) {
    char buf[32];
    snprintf(buf, sizeof buf, "%.7g", (double)f);
    return strtod(buf, NULL);
}

int config_write_hf(const model_config *cfg, const char *path, qvl_error *err) {
    const text_config *t = &cfg->text;
    const vision_config *v = &cfg->vision;
    json_t *ds = json_array();
    for (int i = 0; i < v->n_deepstack; i++) json_array_append_new(ds, json_integer(v->deepstack_indexes[i]));
    json_t *text = json_pack(
        "{s:b, s:f, s:i, s:s, s:i, s:i, s:s, s:i, s:f, s:i, s:i, s:s, s:i, s:i, s:i, s:f, "
        "s:{s:b, s:[i,i,i], s:s}, s:f, s:b, s:b, s:i}",
        "attention_bias", 0, "attention_dropout", 0.0, "bos_token_id", 151643, "dtype", "bfloat16",
        "eos_token_id", 151645, "head_dim", t->head_dim, "hidden_act", "silu", "hidden_size", t->hidden_size,
        "initializer_range", 0.02, "intermediate_size", t->intermediate_size, "max_position_embeddings",
        t->max_position_embeddings, "model_type", "qwen3_vl_text", "num_attention_heads", t->n_heads,
        "num_hidden_layers", t->n_layers, "num_key_value_heads", t->n_kv_heads, "rms_norm_eps",
        clean(t->rms_norm_eps), "rope_scaling", "mrope_interleaved", t->mrope_interleaved, "mrope_section",
        t->mrope_section[0], t->mrope_section[1], t->mrope_section[2], "rope_type", "default", "rope_theta",
        clean(t->rope_theta), "tie_word_embeddings", t->tie_word_embeddings, "use_cache", 1, "vocab_size",
        t->vocab_size);
    json_t *vision = json_pack(
        "{s:o, s:i, s:s, s:i, s:i, s:f, s:i, s:s, s:i, s:i, s:i, s:i, s:i, s:i}", "deepstack_visual_indexes", ds,
        "depth", v->depth, "hidden_act", "gelu_pytorch_tanh", "hidden_size", v->hidden_size, "in_channels",
        v->in_channels, "initializer_range", 0.02, "intermediate_size", v->intermediate_size, "model_type",
        "qwen3_vl", "num_heads", v->n_heads, "num_position_embeddings", v->num_position_embeddings,
        "out_hidden_size", v->out_hidden_size, "patch_size", v->patch_size, "spatial_merge_size",
        v->spatial_merge_size, "temporal_patch_size", v->temporal_patch_size);
    json_t *root = json_pack("{s:[s], s:i, s:s, s:o, s:b, s:s, s:i, s:o, s:i, s:i}", "architectures",
                             "Qwen3VLForConditionalGeneration", "image_token_id", cfg->image_token_id,
                             "model_type", "qwen3_vl", "text_config", text, "tie_word_embeddings",
                             t->tie_word_embeddings, "transformers_version", "4.57.0.dev0", "video_token_id",
                             cfg->video_token_id, "vision_config", vision, "vision_end_token_id",
                             cfg->vision_end_token_id, "vision_start_token_id", cfg->vision_start_token_id);
    if (root && cfg->test_model[0]) json_object_set_new(root, "qvl_test_model", json_string(cfg->test_model));
    int rc = root ? json_dump_file(root, path, JSON_INDENT(2) | JSON_SORT_KEYS) : -1;
    json_decref(root);
    if (rc != 0) return qvl_fail_code(err, QVL_E_IO, "%s: cannot write config", path);
    return 0;
}

/* ---- the checkpoint's tensor list ------------------------------------- */

typedef struct desc_list {
    hf_tensor_desc *d;
    int n, cap;
} desc_list;

__attribute__((format(printf, 4, 5)))
static void add(desc_list *l, int n_dims, const int64_t *shape, const char *fmt, ...) {
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 256;
        l->d = realloc(l->d, (size_t)l->cap * sizeof *l->d);
    }
    hf_tensor_desc *d = &l->d[l->n++];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->name, sizeof d->name, fmt, ap);
    va_end(ap);
    d->n_dims = n_dims;
    memcpy(d->shape, shape, (size_t)n_dims * sizeof *shape);
}

#define SHAPE(...) (int64_t[]){__VA_ARGS__}
#define ADD1(l, a, ...) add(l, 1, SHAPE(a), __VA_ARGS__)
#define ADD2(l, a, b, ...) add(l, 2, SHAPE(a, b), __VA_ARGS__)

static int cmp_desc(const void *a, const void *b) {
    return strcmp(((const hf_tensor_desc *)a)->name, ((const hf_tensor_desc *)b)->name);
}

int config_hf_tensors(const model_config *cfg, hf_tensor_desc **out) {
    desc_list l = {0};
    const text_config *t = &cfg->text;
    const char *tp = "model.language_model";
    int64_t d = t->hidden_size, q = (int64_t)t->n_heads * t->head_dim, kv = (int64_t)t->n_kv_heads * t->head_dim;
    ADD2(&l, t->vocab_size, d, "%s.embed_tokens.weight", tp);
    ADD1(&l, d, "%s.norm.weight", tp);
    if (!t->tie_word_embeddings) ADD2(&l, t->vocab_size, d, "lm_head.weight");
    for (int i = 0; i < t->n_layers; i++) {
        ADD1(&l, d, "%s.layers.%d.input_layernorm.weight", tp, i);
        ADD1(&l, d, "%s.layers.%d.post_attention_layernorm.weight", tp, i);
        ADD2(&l, q, d, "%s.layers.%d.self_attn.q_proj.weight", tp, i);
        ADD2(&l, kv, d, "%s.layers.%d.self_attn.k_proj.weight", tp, i);
        ADD2(&l, kv, d, "%s.layers.%d.self_attn.v_proj.weight", tp, i);
        ADD2(&l, d, q, "%s.layers.%d.self_attn.o_proj.weight", tp, i);
        ADD1(&l, t->head_dim, "%s.layers.%d.self_attn.q_norm.weight", tp, i);
        ADD1(&l, t->head_dim, "%s.layers.%d.self_attn.k_norm.weight", tp, i);
        ADD2(&l, t->intermediate_size, d, "%s.layers.%d.mlp.gate_proj.weight", tp, i);
        ADD2(&l, t->intermediate_size, d, "%s.layers.%d.mlp.up_proj.weight", tp, i);
        ADD2(&l, d, t->intermediate_size, "%s.layers.%d.mlp.down_proj.weight", tp, i);
    }
    if (cfg->has_vision) {
        const vision_config *v = &cfg->vision;
        const char *vp = "model.visual";
        int64_t h = v->hidden_size, f = v->intermediate_size, ps = v->patch_size;
        int64_t merged = h * v->spatial_merge_size * v->spatial_merge_size, out = v->out_hidden_size;
        add(&l, 5, SHAPE(h, v->in_channels, v->temporal_patch_size, ps, ps), "%s.patch_embed.proj.weight", vp);
        ADD1(&l, h, "%s.patch_embed.proj.bias", vp);
        ADD2(&l, v->num_position_embeddings, h, "%s.pos_embed.weight", vp);
        for (int b = 0; b < v->depth; b++) {
            const char *ln[2] = {"norm1", "norm2"};
            for (int k = 0; k < 2; k++) {
                ADD1(&l, h, "%s.blocks.%d.%s.weight", vp, b, ln[k]);
                ADD1(&l, h, "%s.blocks.%d.%s.bias", vp, b, ln[k]);
            }
            ADD2(&l, 3 * h, h, "%s.blocks.%d.attn.qkv.weight", vp, b);
            ADD1(&l, 3 * h, "%s.blocks.%d.attn.qkv.bias", vp, b);
            ADD2(&l, h, h, "%s.blocks.%d.attn.proj.weight", vp, b);
            ADD1(&l, h, "%s.blocks.%d.attn.proj.bias", vp, b);
            ADD2(&l, f, h, "%s.blocks.%d.mlp.linear_fc1.weight", vp, b);
            ADD1(&l, f, "%s.blocks.%d.mlp.linear_fc1.bias", vp, b);
            ADD2(&l, h, f, "%s.blocks.%d.mlp.linear_fc2.weight", vp, b);
            ADD1(&l, h, "%s.blocks.%d.mlp.linear_fc2.bias", vp, b);
        }
        for (int k = -1; k < v->n_deepstack; k++) {
            char prefix[64];
            if (k < 0) snprintf(prefix, sizeof prefix, "%s.merger", vp);
            else snprintf(prefix, sizeof prefix, "%s.deepstack_merger_list.%d", vp, k);
            int64_t norm = k < 0 ? h : merged;   /* main merger normalises before the 2x2 concat */
            ADD1(&l, norm, "%s.norm.weight", prefix);
            ADD1(&l, norm, "%s.norm.bias", prefix);
            ADD2(&l, merged, merged, "%s.linear_fc1.weight", prefix);
            ADD1(&l, merged, "%s.linear_fc1.bias", prefix);
            ADD2(&l, out, merged, "%s.linear_fc2.weight", prefix);
            ADD1(&l, out, "%s.linear_fc2.bias", prefix);
        }
    }
    qsort(l.d, (size_t)l.n, sizeof *l.d, cmp_desc);
    *out = l.d;
    return l.n;
}

sampling_params sampling_defaults(void) {
    sampling_params p = {.temperature = 0.7f, .top_k = 20, .top_p = 0.8f, .min_p = 0.0f,
                         .repetition_penalty = 1.0f, .presence_penalty = 0.0f, .frequency_penalty = 0.0f,
                         .seed = 0};
    return p;
}
