/* api_ollama_models.c - the Ollama API's model routes: GET /api/tags,
 * POST /api/show, GET /api/ps, GET /api/version; the model-name check the
 * chat routes share; and the capability list that /v1/models shows too.
 *
 * One model is served, loaded at start and kept: /api/tags and /api/ps both
 * list it. Its Ollama name is the loaded model's name in lower case with
 * the tag ":latest" (a directory ".../Qwen3-VL-2B-Instruct" is
 * "qwen3-vl-2b-instruct:latest"); requests may name it with or without the
 * tag, in any case. Fields Ollama fills from its own model store are given
 * their nearest true value: "size" is the bytes of the model's files,
 * "digest" a SHA-256 of its name, path and weight type (it names the loaded
 * model, it is not a file hash), "expires_at" is far away (the model is
 * never unloaded), "modelfile" says there is none.
 */
#include <dirent.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "service/http_util.h"
#include "server/server_impl.h"

/* The Ollama API level followed (clients compare versions to enable
 * features: images, "format" schemas and /api/show's capabilities are all
 * older than this). */
#define OLLAMA_API_VERSION "0.12.0"

/* "model" in /api/show's model_info and details */
#define OLLAMA_FAMILY "qwen3vl"

/* ---- the name ------------------------------------------------------------------- */

/* The model's Ollama name: lower case, ":latest" unless it has a tag. */
static void ollama_name(const qvl_model *m, char *out, size_t size) {
    snprintf(out, size, "%s%s", m->name, strchr(m->name, ':') ? "" : ":latest");
    for (char *p = out; *p; p++)
        if (*p >= 'A' && *p <= 'Z') *p = (char)(*p - 'A' + 'a');
}

static bool name_matches(const qvl_model *m, const char *given) {
    char full[sizeof m->name + 8];
    ollama_name(m, full, sizeof full);
    size_t n = strlen(m->name);
    return !strcasecmp(given, full) || !strcasecmp(given, m->name) ||
           (!strncasecmp(given, m->name, n) && !strcasecmp(given + n, ":latest"));
}

const char *ollama_check_model(qvl_server *s, const json_t *body, qvl_error *err) {
    const json_t *v = json_object_get(body, "model");
    if (!v || json_is_null(v)) v = json_object_get(body, "name");   /* older clients' /api/show */
    const char *given = json_string_value(v);
    if (!given || !*given) {
        qvl_fail_code(err, QVL_E_BAD_INPUT, "model is required");
        return NULL;
    }
    if (!name_matches(s->m, given)) {
        char full[sizeof s->m->name + 8];
        ollama_name(s->m, full, sizeof full);
        qvl_fail_code(err, SRV_E_NOT_FOUND, "model '%.100s' not found (this server has '%s'; see /api/tags)", given,
                      full);
        return NULL;
    }
    return given;
}

json_t *api_model_capabilities(const qvl_model *m) {
    json_t *caps = json_array();
    json_array_append_new(caps, json_string("completion"));
    if (m->vision) json_array_append_new(caps, json_string("vision"));
    json_array_append_new(caps, json_string("tools"));
    return caps;
}

/* ---- what is known about the model ------------------------------------------ */

static uint64_t parameter_count(const qvl_model *m) {
    hf_tensor_desc *t = NULL;
    int n = config_hf_tensors(&m->cfg, &t);
    uint64_t total = 0;
    for (int i = 0; i < n; i++) {
        uint64_t e = 1;
        for (int d = 0; d < t[i].n_dims; d++) e *= (uint64_t)t[i].shape[d];
        total += e;
    }
    free(t);
    return total;
}

static bool has_suffix(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcasecmp(s + n - k, suffix);
}

/* Bytes of the model's files: the file, or a directory's weight files. */
static uint64_t files_size(const char *source, time_t *mtime) {
    struct stat st;
    *mtime = 0;
    if (stat(source, &st) != 0) return 0;
    *mtime = st.st_mtime;
    if (!S_ISDIR(st.st_mode)) return (uint64_t)st.st_size;
    DIR *d = opendir(source);
    if (!d) return 0;
    uint64_t total = 0;
    struct dirent *e;
    char path[2048];
    while ((e = readdir(d))) {
        if (!has_suffix(e->d_name, ".safetensors") && !has_suffix(e->d_name, ".gguf")) continue;
        snprintf(path, sizeof path, "%s/%s", source, e->d_name);
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) total += (uint64_t)st.st_size;
    }
    closedir(d);
    return total;
}

static void iso_time(time_t t, char *buf, size_t size) {
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* details: format, family, parameter size ("2.1B"), quantization. */
static json_t *details_json(const qvl_model *m, uint64_t params) {
    char psize[32], quant[32];
    if (params >= 1000000000ull) snprintf(psize, sizeof psize, "%.1fB", params / 1e9);
    else snprintf(psize, sizeof psize, "%.0fM", params / 1e6);
    snprintf(quant, sizeof quant, "%s", m->weight_type ? m->weight_type : "unknown");
    for (char *p = quant; *p; p++) {
        if (*p == ' ') *p = 0;   /* "Q4_K_M gguf" -> "Q4_K_M" */
        else if (*p >= 'a' && *p <= 'z') *p = (char)(*p - 'a' + 'A');
    }
    const char *format = has_suffix(m->source, ".gguf") ? "gguf" : "safetensors";
    return json_pack("{s:s, s:s, s:s, s:[s], s:s, s:s}", "parent_model", "", "format", format, "family", OLLAMA_FAMILY,
                     "families", OLLAMA_FAMILY, "parameter_size", psize, "quantization_level", quant);
}

/* The entry /api/tags and /api/ps list. */
static json_t *model_entry(const qvl_model *m) {
    char name[sizeof m->name + 8], when[40], digest[2 * SHA256_DIGEST_SIZE + 1];
    ollama_name(m, name, sizeof name);
    time_t mtime;
    uint64_t size = files_size(m->source, &mtime);
    iso_time(mtime, when, sizeof when);
    struct sha256_ctx h;
    uint8_t d[SHA256_DIGEST_SIZE];
    sha256_init(&h);
    const char *parts[] = {m->name, m->source, m->weight_type ? m->weight_type : ""};
    for (int i = 0; i < 3; i++) sha256_update(&h, strlen(parts[i]) + 1, (const uint8_t *)parts[i]);   /* with the NUL */
    sha256_digest(&h, sizeof d, d);
    for (int i = 0; i < SHA256_DIGEST_SIZE; i++) snprintf(digest + 2 * i, 3, "%02x", d[i]);
    return json_pack("{s:s, s:s, s:s, s:I, s:s, s:o}", "name", name, "model", name, "modified_at", when, "size",
                     (json_int_t)size, "digest", digest, "details", details_json(m, parameter_count(m)));
}

/* ---- the routes ------------------------------------------------------------------ */

enum MHD_Result api_ollama_tags(srv_req *r) {
    return srv_reply_json(r, 200, json_pack("{s:[o]}", "models", model_entry(r->srv->m)));
}

enum MHD_Result api_ollama_ps(srv_req *r) {
    json_t *e = model_entry(r->srv->m);
    json_object_set_new(e, "expires_at", json_string("9999-12-31T23:59:59Z"));
    json_object_set_new(e, "size_vram", json_integer(0));
    json_object_set_new(e, "context_length", json_integer(r->srv->cfg.ctx));
    return srv_reply_json(r, 200, json_pack("{s:[o]}", "models", e));
}

enum MHD_Result api_ollama_version(srv_req *r) {
    return srv_reply_json(r, 200, json_pack("{s:s}", "version", OLLAMA_API_VERSION));
}

/* model_info: the architecture as Ollama's GGUF keys name it. */
static json_t *model_info(const qvl_model *m, uint64_t params) {
    const text_config *t = &m->cfg.text;
    json_t *info = json_pack("{s:s, s:I, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:f, s:i}", "general.architecture",
                             OLLAMA_FAMILY, "general.parameter_count", (json_int_t)params,
                             OLLAMA_FAMILY ".context_length", t->max_position_embeddings,
                             OLLAMA_FAMILY ".embedding_length", t->hidden_size, OLLAMA_FAMILY ".block_count",
                             t->n_layers, OLLAMA_FAMILY ".attention.head_count", t->n_heads,
                             OLLAMA_FAMILY ".attention.head_count_kv", t->n_kv_heads,
                             OLLAMA_FAMILY ".attention.key_length", t->head_dim, OLLAMA_FAMILY ".feed_forward_length",
                             t->intermediate_size, OLLAMA_FAMILY ".rope.freq_base", (double)t->rope_theta,
                             OLLAMA_FAMILY ".vocab_size", t->vocab_size);
    if (m->vision) {
        const vision_config *v = &m->cfg.vision;
        json_object_set_new(info, OLLAMA_FAMILY ".vision.block_count", json_integer(v->depth));
        json_object_set_new(info, OLLAMA_FAMILY ".vision.embedding_length", json_integer(v->hidden_size));
        json_object_set_new(info, OLLAMA_FAMILY ".vision.patch_size", json_integer(v->patch_size));
    }
    json_object_set_new(info, "qvl.test_model", json_boolean(m->cfg.test_model[0] != 0));
    return info;
}

/* The Modelfile-style "parameters" text: the sampling defaults and the
 * server's context. */
static json_t *parameters_text(const qvl_server *s) {
    const sampling_params *d = &s->m->gen_defaults;
    return json_sprintf("num_ctx %d\ntemperature %g\ntop_k %d\ntop_p %g\nstop \"<|im_end|>\"\nstop \"<|endoftext|>\"",
                        s->cfg.ctx, d->temperature, d->top_k, d->top_p);
}

enum MHD_Result api_ollama_show(srv_req *r) {
    qvl_error err = {0};
    json_t *body = srv_parse_json_body(r, &err);
    if (!body || !ollama_check_model(r->srv, body, &err)) {
        json_decref(body);
        return srv_reply_error(r, &err);
    }
    json_decref(body);
    const qvl_model *m = r->srv->m;
    uint64_t params = parameter_count(m);
    time_t mtime;
    files_size(m->source, &mtime);
    char when[40];
    iso_time(mtime, when, sizeof when);
    json_t *modelfile = json_sprintf("# qvl serves this model directly: there is no Modelfile.\nFROM %s\n", m->source);
    json_t *show = json_pack("{s:s, s:o, s:o, s:s, s:s, s:o, s:o, s:o, s:s}", "license", "", "modelfile", modelfile,
                             "parameters", parameters_text(r->srv), "template",
                             "{{ .Prompt }} (qvl applies the Qwen3-VL chat template itself)", "system", "", "details",
                             details_json(m, params), "model_info", model_info(m, params), "capabilities",
                             api_model_capabilities(m), "modified_at", when);
    return srv_reply_json(r, 200, show);
}
