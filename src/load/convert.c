/* convert.c - see convert.h.
 *
 * The text model goes through model_load (so quantization is the exact same
 * code as quantize-on-load) and written by text_gguf.c, which the
 * quantize-on-load cache uses too. The
 * vision tower is read straight from the safetensors: matrices become F16,
 * vectors and the position table F32, and the Conv3d patch kernel is split
 * into its two temporal slices, as llama.cpp's converter does.
 */
#include "load/convert.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/gguf.h"
#include "format/safetensors.h"
#include "load/model_load.h"
#include "load/text_gguf.h"

/* llama.cpp's general.file_type values for the mixes we write. */
enum { FTYPE_F16 = 1, FTYPE_Q8_0 = 7 };   /* llama.cpp's general.file_type values */

static int write_text(const char *dir, const convert_opts *o, qvl_error *err) {
    model_load_opts lo = {.quant = o->quant, .threads = o->threads, .text_only = true};
    qvl_model *m = model_load(dir, &lo, err);
    if (!m) return -1;
    int rc = text_gguf_write(m, dir, o->out_text, NULL, err);
    model_free(m);
    return rc;
}

/* ---- vision tower (mmproj) ---------------------------------------------- */

/* Maps a Hugging Face vision tensor name to its mmproj name ("" = skip). */
static void mmproj_name(const char *hf, const model_config *cfg, char *out, size_t cap) {
    int b, k;
    char rest[64];
    const char *p = hf + strlen("model.visual.");
    static const struct { const char *hf, *gg; } blk[] = {
        {"norm1", "ln1"}, {"norm2", "ln2"}, {"attn.qkv", "attn_qkv"}, {"attn.proj", "attn_out"},
        {"mlp.linear_fc1", "ffn_up"}, {"mlp.linear_fc2", "ffn_down"},
    };
    out[0] = 0;
    if (sscanf(p, "blocks.%d.%63s", &b, rest) == 2) {
        for (size_t i = 0; i < sizeof blk / sizeof *blk; i++) {
            size_t l = strlen(blk[i].hf);
            if (!strncmp(rest, blk[i].hf, l) && rest[l] == '.')
                snprintf(out, cap, "v.blk.%d.%s%s", b, blk[i].gg, rest + l);
        }
    } else if (sscanf(p, "deepstack_merger_list.%d.%63s", &k, rest) == 2 && k < cfg->vision.n_deepstack) {
        const char *part = !strncmp(rest, "linear_fc1", 10) ? "fc1" : !strncmp(rest, "linear_fc2", 10) ? "fc2" : "norm";
        snprintf(out, cap, "v.deepstack.%d.%s%s", cfg->vision.deepstack_indexes[k], part, strrchr(rest, '.'));
    } else if (!strncmp(p, "merger.", 7)) {
        const char *suffix = strrchr(p, '.');
        const char *part = strstr(p, "linear_fc1") ? "mm.0" : strstr(p, "linear_fc2") ? "mm.2" : "v.post_ln";
        snprintf(out, cap, "%s%s", part, suffix);
    } else if (!strcmp(p, "patch_embed.proj.bias")) {
        snprintf(out, cap, "v.patch_embd.bias");
    } else if (!strcmp(p, "pos_embed.weight")) {
        snprintf(out, cap, "v.position_embd.weight");
    } else if (!strcmp(p, "patch_embed.proj.weight")) {
        snprintf(out, cap, "v.patch_embd.weight");
    }
}

static int add_mmproj_metadata(gguf_writer *w, const model_config *cfg, int ftype, qvl_error *err) {
    const vision_config *v = &cfg->vision;
    int side = 1;
    while ((side + 1) * (side + 1) <= v->num_position_embeddings) side++;
    float half[3] = {0.5f, 0.5f, 0.5f};
    bool ds[256] = {0};
    for (int i = 0; i < v->n_deepstack; i++) ds[v->deepstack_indexes[i]] = true;
    return gguf_writer_add_str(w, "general.architecture", "clip", err) ||
           gguf_writer_add_str(w, "general.type", "mmproj", err) ||
           gguf_writer_add_u32(w, "general.file_type", (uint32_t)ftype, err) ||
           gguf_writer_add_u32(w, "general.quantization_version", 2, err) ||
           gguf_writer_add_bool(w, "clip.has_vision_encoder", true, err) ||
           gguf_writer_add_str(w, "clip.projector_type", "qwen3vl_merger", err) ||
           gguf_writer_add_bool(w, "clip.use_gelu", true, err) ||
           gguf_writer_add_u32(w, "clip.vision.projection_dim", (uint32_t)v->out_hidden_size, err) ||
           gguf_writer_add_u32(w, "clip.vision.image_size", (uint32_t)(side * v->patch_size), err) ||
           gguf_writer_add_u32(w, "clip.vision.patch_size", (uint32_t)v->patch_size, err) ||
           gguf_writer_add_u32(w, "clip.vision.embedding_length", (uint32_t)v->hidden_size, err) ||
           gguf_writer_add_u32(w, "clip.vision.feed_forward_length", (uint32_t)v->intermediate_size, err) ||
           gguf_writer_add_u32(w, "clip.vision.block_count", (uint32_t)v->depth, err) ||
           gguf_writer_add_u32(w, "clip.vision.attention.head_count", (uint32_t)v->n_heads, err) ||
           gguf_writer_add_f32_array(w, "clip.vision.image_mean", half, 3, err) ||
           gguf_writer_add_f32_array(w, "clip.vision.image_std", half, 3, err) ||
           gguf_writer_add_u32(w, "clip.vision.spatial_merge_size", (uint32_t)v->spatial_merge_size, err) ||
           gguf_writer_add_f32(w, "clip.vision.attention.layer_norm_epsilon", v->layer_norm_eps, err) ||
           gguf_writer_add_bool_array(w, "clip.vision.is_deepstack_layers", ds, (size_t)v->depth, err)
               ? -1 : 0;
}

/* Writes one tensor converted to `to` (F16, Q8_0 or F32); the patch kernel is
 * written as two slices, t = 0 then t = 1. */
static int write_vision_tensor(gguf_writer *w, const qvl_tensor *t, qvl_dtype to, bool split_time, qvl_error *err) {
    int64_t n = tensor_nelements(t), per_t = n / 2;
    float *f = malloc((size_t)n * sizeof *f);
    void *buf = malloc((size_t)n * 4);
    dequantize_row(t->type, t->data, f, n);
    if (split_time) {   /* [out][c][t][kh][kw] -> [t][out][c][kh][kw] */
        int64_t khw = t->ne[0] * t->ne[1], outc = t->ne[3] * t->ne[4];
        float *g = malloc((size_t)n * sizeof *g);
        for (int64_t oc = 0; oc < outc; oc++)
            for (int tt = 0; tt < 2; tt++)
                memcpy(g + tt * per_t + oc * khw, f + (oc * 2 + tt) * khw, (size_t)khw * sizeof *g);
        free(f);
        f = g;
    }
    quantize_row(to, f, buf, n);
    int rc = gguf_writer_write(w, buf, dtype_row_bytes(to, n), err);
    free(f), free(buf);
    return rc;
}

/* The type of the mmproj's big matrices. Q8_0 (as llama.cpp's Q8_0 mmproj
 * files) halves the file and, on the tiers with packed int8 kernels, runs
 * the encoder's matmuls on them (load/weight_pack.c); the patch embedding and
 * the position table stay as they are in every case. */
static int mmproj_matrix_type(const char *name, qvl_dtype *out, qvl_error *err) {
    if (!name || !strcmp(name, "f16")) *out = DT_F16;
    else if (!strcmp(name, "q8_0")) *out = DT_Q8_0;
    else return qvl_fail(err, "--mmproj-quant %s: not a vision weight type (use f16 or q8_0)", name);
    return 0;
}

static int write_mmproj(const char *dir, const convert_opts *o, qvl_error *err) {
    char path[4096];
    qvl_dtype mat_type = DT_F16;
    if (mmproj_matrix_type(o->mmproj_quant, &mat_type, err) != 0) return -1;
    model_config cfg;
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (config_load_hf(&cfg, path, err) != 0) return -1;
    if (!cfg.has_vision) return qvl_fail(err, "%s: the model has no vision_config", path);
    safetensors_set st;
    if (safetensors_set_open(&st, dir, err) != 0) return -1;
    hf_tensor_desc *d = NULL;
    int n = config_hf_tensors(&cfg, &d), rc = -1;
    gguf_writer *w = gguf_writer_open(o->out_mmproj, err);
    if (!w || add_mmproj_metadata(w, &cfg, mat_type == DT_Q8_0 ? FTYPE_Q8_0 : FTYPE_F16, err) != 0) goto done;
    const qvl_tensor **src = calloc((size_t)n, sizeof *src);
    for (int pass = 0; pass < 2; pass++)   /* declare all, then write all */
        for (int i = 0; i < n; i++) {
            if (strncmp(d[i].name, "model.visual.", 13)) continue;
            char gg[96];
            mmproj_name(d[i].name, &cfg, gg, sizeof gg);
            if (!gg[0]) continue;
            const qvl_tensor *t = pass ? src[i] : (src[i] = safetensors_set_find(&st, d[i].name));
            if (!t) {
                qvl_fail(err, "%s: tensor '%s' is missing", dir, d[i].name);
                goto fail;
            }
            bool patch = !strcmp(gg, "v.patch_embd.weight"), matrix = t->n_dims >= 2 && !strstr(gg, "position_embd");
            qvl_dtype to = !matrix ? DT_F32 : patch || t->ne[0] % 32 ? DT_F16 : mat_type;
            if (pass == 0) {
                int64_t ne[4] = {t->ne[0], t->ne[1], patch ? t->ne[3] : t->ne[2], patch ? t->ne[4] : t->ne[3]};
                int nd = patch ? 4 : t->n_dims;
                if (gguf_writer_add_tensor(w, gg, to, ne, nd, err) != 0) goto fail;
                if (patch) {
                    strcat(gg, ".1");
                    if (gguf_writer_add_tensor(w, gg, to, ne, nd, err) != 0) goto fail;
                }
            } else if (write_vision_tensor(w, t, to, patch, err) != 0) {
                goto fail;
            }
        }
    rc = gguf_writer_finish(w, err);
    w = NULL;
fail:
    free(src);
done:
    if (w) gguf_writer_abort(w);
    free(d);
    safetensors_set_close(&st);
    return rc;
}

int convert_hf_to_gguf(const char *hf_dir, const convert_opts *o, qvl_error *err) {
    qvl_dtype mat_type;
    if (mmproj_matrix_type(o->mmproj_quant, &mat_type, err) != 0) return -1;   /* before any work */
    if (write_text(hf_dir, o, err) != 0) return -1;
    return o->out_mmproj ? write_mmproj(hf_dir, o, err) : 0;
}
