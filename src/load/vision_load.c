/* vision_load.c - fills a vision_model from a Hugging Face directory
 * (tensors model.visual.*, preprocessor_config.json) or from a llama.cpp
 * mmproj GGUF (v.*, mm.0 / mm.2, v.deepstack.{L}.*, clip.vision.* metadata;
 * spec 2.3). See vision_load.h for the two entry points.
 *
 * Both forms go through the shared weight_source getters, so every tensor is
 * checked for presence, shape and type with the file and tensor named.
 * Matrices stay in their stored type (bf16/f32, or whatever quantized type
 * an mmproj holds), except F16 matrices whose values BF16 holds exactly:
 * those become BF16 copies owned by the model (see matrices_to_bf16). The
 * patch embedding of an mmproj, stored as two temporal Conv2d kernels, is
 * interleaved into one f32 (D, 1536) matrix so both forms run the same
 * single matmul.
 */
#include <jansson.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "engine/kernels.h"
#include "engine/matmul.h"
#include "load/vision_load.h"
#include "load/weight_source.h"

/* The type the tower's matrices are loaded as (need_matrix's want). */
static qvl_dtype vision_want(const weight_source *src) {
    return src->vision_quant == DT_Q8_0 ? DT_Q8_0 : DT_COUNT;
}

static int load_block(const weight_source *src, const vision_config *c, int b, vision_block *blk, qvl_error *err) {
    int64_t D = c->hidden_size, F = c->intermediate_size;
    struct {
        const char *hf, *gg;
        const float **dst;
        int64_t n;
    } vecs[] = {
        {"norm1.weight", "ln1.weight", &blk->ln1_w, D},
        {"norm1.bias", "ln1.bias", &blk->ln1_b, D},
        {"attn.qkv.bias", "attn_qkv.bias", &blk->qkv_b, 3 * D},
        {"attn.proj.bias", "attn_out.bias", &blk->proj_b, D},
        {"norm2.weight", "ln2.weight", &blk->ln2_w, D},
        {"norm2.bias", "ln2.bias", &blk->ln2_b, D},
        {"mlp.linear_fc1.bias", "ffn_up.bias", &blk->fc1_b, F},
        {"mlp.linear_fc2.bias", "ffn_down.bias", &blk->fc2_b, D},
    };
    struct {
        const char *hf, *gg;
        qvl_tensor *dst;
        int64_t cols, rows;
    } mats[] = {
        {"attn.qkv.weight", "attn_qkv.weight", &blk->qkv, D, 3 * D},
        {"attn.proj.weight", "attn_out.weight", &blk->proj, D, D},
        {"mlp.linear_fc1.weight", "ffn_up.weight", &blk->fc1, D, F},
        {"mlp.linear_fc2.weight", "ffn_down.weight", &blk->fc2, F, D},
    };
    char hf[160], gg[96];
    for (size_t k = 0; k < sizeof vecs / sizeof *vecs; k++) {
        snprintf(hf, sizeof hf, "model.visual.blocks.%d.%s", b, vecs[k].hf);
        snprintf(gg, sizeof gg, "v.blk.%d.%s", b, vecs[k].gg);
        if (!(*vecs[k].dst = need_vector(src, hf, gg, vecs[k].n, err))) return -1;
    }
    for (size_t k = 0; k < sizeof mats / sizeof *mats; k++) {
        snprintf(hf, sizeof hf, "model.visual.blocks.%d.%s", b, mats[k].hf);
        snprintf(gg, sizeof gg, "v.blk.%d.%s", b, mats[k].gg);
        if (need_matrix(src, hf, gg, mats[k].cols, mats[k].rows, vision_want(src), mats[k].dst, err)) return -1;
    }
    return 0;
}

/* k < 0: the final merger; else DeepStack merger k (GGUF names it by the ViT
 * block it reads, deepstack_indexes[k]). */
static int load_merger(const weight_source *src, const vision_config *c, int k, vision_merger *mg, qvl_error *err) {
    int64_t W = 4 * (int64_t)c->hidden_size, O = c->out_hidden_size, norm = k < 0 ? c->hidden_size : W;
    const char *names[2][8] = {
        {"model.visual.merger.norm.weight", "model.visual.merger.norm.bias", "model.visual.merger.linear_fc1.weight",
         "model.visual.merger.linear_fc1.bias", "model.visual.merger.linear_fc2.weight",
         "model.visual.merger.linear_fc2.bias"},
        {"v.post_ln.weight", "v.post_ln.bias", "mm.0.weight", "mm.0.bias", "mm.2.weight", "mm.2.bias"}};
    const char *ds[2][8] = {
        {"model.visual.deepstack_merger_list.%d.norm.weight", "model.visual.deepstack_merger_list.%d.norm.bias",
         "model.visual.deepstack_merger_list.%d.linear_fc1.weight",
         "model.visual.deepstack_merger_list.%d.linear_fc1.bias",
         "model.visual.deepstack_merger_list.%d.linear_fc2.weight",
         "model.visual.deepstack_merger_list.%d.linear_fc2.bias"},
        {"v.deepstack.%d.norm.weight", "v.deepstack.%d.norm.bias", "v.deepstack.%d.fc1.weight",
         "v.deepstack.%d.fc1.bias", "v.deepstack.%d.fc2.weight", "v.deepstack.%d.fc2.bias"}};
    char hf[6][160], gg[6][96];
    for (int i = 0; i < 6; i++) {
        snprintf(hf[i], sizeof hf[i], k < 0 ? names[0][i] : ds[0][i], k);
        snprintf(gg[i], sizeof gg[i], k < 0 ? names[1][i] : ds[1][i], k < 0 ? 0 : c->deepstack_indexes[k]);
    }
    if (!(mg->norm_w = need_vector(src, hf[0], gg[0], norm, err)) ||
        !(mg->norm_b = need_vector(src, hf[1], gg[1], norm, err)) ||
        need_matrix(src, hf[2], gg[2], W, W, vision_want(src), &mg->fc1, err) ||
        !(mg->fc1_b = need_vector(src, hf[3], gg[3], W, err)) ||
        need_matrix(src, hf[4], gg[4], W, O, vision_want(src), &mg->fc2, err) ||
        !(mg->fc2_b = need_vector(src, hf[5], gg[5], O, err)))
        return -1;
    return 0;
}

static bool is_float_type(qvl_dtype t) {
    return t == DT_F32 || t == DT_F16 || t == DT_BF16;
}

/* A Conv kernel tensor with ne = {ps, ps, (T,) 3, D} in a float type. */
static const qvl_tensor *need_kernel(const weight_source *src, const char *hf, const char *gg, const int64_t *ne,
                                     int n_dims, qvl_error *err) {
    const char *name = src->gguf ? gg : hf;
    const qvl_tensor *t = weight_find(src, hf, gg);
    if (!t) return qvl_fail(err, "%s: tensor '%s' is missing", src->file, name), NULL;
    bool ok = is_float_type(t->type) && t->n_dims == n_dims;
    for (int i = 0; i < n_dims; i++) ok = ok && t->ne[i] == ne[i];
    if (!ok)
        return qvl_fail(err, "%s: tensor '%s' must be a float %d-D tensor of shape [%lld, %lld, %lld, %lld%s] "
                        "(ggml order), found %s [%lld, %lld, %lld, %lld, %lld]", src->file, name, n_dims,
                        (long long)ne[0], (long long)ne[1], (long long)ne[2], (long long)ne[3],
                        n_dims == 5 ? ", D" : "", dtype_get(t->type) ? dtype_get(t->type)->name : "unknown",
                        (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2], (long long)t->ne[3],
                        (long long)t->ne[4]), NULL;
    return t;
}

/* HF: the Conv3d weight [D, 3, 2, ps, ps] is already the (D, 1536) matrix.
 * GGUF: two Conv2d kernels (t = 0, 1) of [D, 3, ps, ps], interleaved per
 * channel into f32 rows ordered (channel, time, py, px). */
static int load_patch_embedding(const weight_source *src, vision_model *vm, qvl_error *err) {
    const vision_config *c = &vm->cfg;
    int64_t D = c->hidden_size, ps = c->patch_size, area = ps * ps, cols = 3 * 2 * area;
    if (!src->gguf) {
        int64_t ne[5] = {ps, ps, 2, 3, D};
        const qvl_tensor *t = need_kernel(src, "model.visual.patch_embed.proj.weight", NULL, ne, 5, err);
        if (!t) return -1;
        vm->patch_embd = *t;
        vm->patch_embd.n_dims = 2;
        int64_t ne2[QVL_MAX_DIMS] = {cols, D, 1, 1, 1};
        memcpy(vm->patch_embd.ne, ne2, sizeof ne2);
    } else {
        int64_t ne[4] = {ps, ps, 3, D};
        const qvl_tensor *k[2] = {need_kernel(src, NULL, "v.patch_embd.weight", ne, 4, err), NULL};
        if (!k[0] || !(k[1] = need_kernel(src, NULL, "v.patch_embd.weight.1", ne, 4, err))) return -1;
        float *w = weight_own(src->store, (size_t)(D * cols) * sizeof *w);
        if (!w) return qvl_fail_code(err, QVL_E_NOMEM, "out of memory loading the patch embedding");
        for (int64_t d = 0; d < D; d++)
            for (int ch = 0; ch < 3; ch++)
                for (int t = 0; t < 2; t++) {
                    size_t off = dtype_row_bytes(k[t]->type, area) * (size_t)(d * 3 + ch);
                    dequantize_row(k[t]->type, (const uint8_t *)k[t]->data + off, w + d * cols + (ch * 2 + t) * area,
                                   area);
                }
        qvl_tensor pe = {"v.patch_embd.weight", DT_F32, 2, {cols, D, 1, 1, 1}, w, (size_t)(D * cols) * sizeof *w, NULL};
        vm->patch_embd = pe;
    }
    return (vm->patch_b = need_vector(src, "model.visual.patch_embed.proj.bias", "v.patch_embd.bias", D, err)) ? 0 : -1;
}

/* ---- F16 matrices as BF16 ------------------------------------------------
 * mmproj files of llama.cpp hold F16 weights converted from BF16
 * checkpoints, so each value is exactly a BF16 value: stored as BF16 they
 * are the same weights and take the BF16 GEMM (twice the rate of
 * dequantize + sgemm, with BF16-rounded activations as for a bf16 HF
 * directory: the tower's tolerance allows it). A matrix with any value BF16
 * cannot hold stays F16 (f32 activations, exact weights).
 */

typedef struct bf16_job {
    const qvl_tensor *w;
    uint8_t *dst;
    atomic_bool inexact;
} bf16_job;

static void bf16_worker(void *p, int ith, int nth) {
    bf16_job *j = p;
    long lo, hi;
    threadpool_split((long)tensor_nrows(j->w), ith, nth, &lo, &hi);
    size_t rb = dtype_row_bytes(DT_F16, j->w->ne[0]);
    if (!kernels_get()->f16_to_bf16_exact((const uint8_t *)j->w->data + lo * rb, j->dst + lo * rb,
                                          (hi - lo) * j->w->ne[0]))
        atomic_store(&j->inexact, true);
}

static bool in_mapping(const mapped_file *mf, const void *p, size_t n) {
    const uint8_t *b = p;
    return mf->data && b >= mf->data && n <= mf->size && (size_t)(b - mf->data) <= mf->size - n;
}

/* Gives the mapped pages of a tensor the model no longer reads back to the
 * kernel, so the process does not hold the F16 and the BF16 copy at once.
 * The mapping is private and read-only: a later read would fault them in
 * from the file again, never see zeros. Only whole pages inside the tensor
 * go (neighbours may still be in use); only views into src's own files
 * qualify, never buffers the model allocated. */
static void release_pages(const weight_source *src, const void *data, size_t n) {
    bool mapped = src->gguf && in_mapping(&src->gguf->map, data, n);
    for (int i = 0; !src->gguf && i < src->store->st.n_files; i++)
        mapped = mapped || in_mapping(&src->store->st.files[i].map, data, n);
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t a = ((uintptr_t)data + page - 1) & ~(page - 1), b = ((uintptr_t)data + n) & ~(page - 1);
    if (mapped && b > a) (void)madvise((void *)a, b - a, MADV_DONTNEED);
}

/* w (F16) becomes a BF16 copy owned by the model when every value is exact;
 * otherwise it stays as it is. Fails only when out of memory. */
static int f16_matrix_to_bf16(const weight_source *src, qvl_tensor *w, qvl_error *err) {
    if (w->type != DT_F16) return 0;
    size_t bytes = dtype_row_bytes(DT_F16, w->ne[0]) * (size_t)tensor_nrows(w);
    bf16_job j = {.w = w, .dst = malloc(bytes ? bytes : 1)};
    if (!j.dst) return qvl_fail_code(err, QVL_E_NOMEM, "out of memory converting '%s' to BF16", w->name);
    atomic_init(&j.inexact, false);
    threadpool_run(src->tp, bf16_worker, &j);
    if (atomic_load(&j.inexact)) {
        free(j.dst);
        return 0;
    }
    if (!weight_adopt(src->store, j.dst))
        return qvl_fail_code(err, QVL_E_NOMEM, "out of memory converting '%s' to BF16", w->name);
    release_pages(src, w->data, bytes);
    w->type = DT_BF16;
    w->data = j.dst;
    w->nbytes = bytes;
    return 0;
}

static int matrices_to_bf16(const weight_source *src, vision_model *vm, qvl_error *err) {
    for (int b = 0; b < vm->cfg.depth; b++) {
        vision_block *blk = &vm->blocks[b];
        if (f16_matrix_to_bf16(src, &blk->qkv, err) || f16_matrix_to_bf16(src, &blk->proj, err) ||
            f16_matrix_to_bf16(src, &blk->fc1, err) || f16_matrix_to_bf16(src, &blk->fc2, err))
            return -1;
    }
    for (int k = -1; k < vm->cfg.n_deepstack; k++) {
        vision_merger *mg = k < 0 ? &vm->merger : &vm->deepstack[k];
        if (f16_matrix_to_bf16(src, &mg->fc1, err) || f16_matrix_to_bf16(src, &mg->fc2, err)) return -1;
    }
    return 0;
}

static int load_weights(qvl_model *m, const weight_source *src, qvl_error *err) {
    const vision_config *c = &m->cfg.vision;
    if (c->patch_size != IMAGE_PATCH_SIZE || c->spatial_merge_size != IMAGE_MERGE_SIZE)
        return qvl_fail(err, "%s: vision patch size %d / merge size %d: qvl supports %d / %d (Qwen3-VL)", src->file,
                        c->patch_size, c->spatial_merge_size, IMAGE_PATCH_SIZE, IMAGE_MERGE_SIZE);
    vision_model *vm = weight_own(src->store, sizeof *vm);
    int hd = c->hidden_size / c->n_heads;
    if (!vm) return qvl_fail_code(err, QVL_E_NOMEM, "out of memory");
    memset(vm, 0, sizeof *vm);
    vm->cfg = *c;
    vm->blocks = weight_own(src->store, (size_t)c->depth * sizeof *vm->blocks);
    vm->rope_inv_freq = weight_own(src->store, (size_t)(hd / 4) * sizeof *vm->rope_inv_freq);
    if (!vm->blocks || !vm->rope_inv_freq) return qvl_fail_code(err, QVL_E_NOMEM, "out of memory");
    for (int j = 0; j < hd / 4; j++) vm->rope_inv_freq[j] = (float)(1.0 / pow(10000.0, 2.0 * j / (hd / 2)));
    int S = 0;
    while ((S + 1) * (S + 1) <= c->num_position_embeddings) S++;
    vm->pos_side = S;
    qvl_tensor pos;
    if (load_patch_embedding(src, vm, err) ||
        need_matrix(src, "model.visual.pos_embed.weight", "v.position_embd.weight", c->hidden_size,
                    c->num_position_embeddings, DT_COUNT, &pos, err))
        return -1;
    float *pe = weight_own(src->store, (size_t)c->num_position_embeddings * c->hidden_size * sizeof *pe);
    if (!pe) return qvl_fail_code(err, QVL_E_NOMEM, "out of memory");
    for (int r = 0; r < c->num_position_embeddings; r++) tensor_get_row(&pos, r, pe + (size_t)r * c->hidden_size);
    vm->pos_embd = pe;
    for (int b = 0; b < c->depth; b++)
        if (load_block(src, c, b, &vm->blocks[b], err)) return -1;
    if (load_merger(src, c, -1, &vm->merger, err)) return -1;
    for (int k = 0; k < c->n_deepstack; k++)
        if (load_merger(src, c, k, &vm->deepstack[k], err)) return -1;
    if (matrices_to_bf16(src, vm, err)) return -1;
    vm->preprocess.min_pixels = IMAGE_HF_MIN_PIXELS;
    vm->preprocess.max_pixels = IMAGE_HF_MAX_PIXELS;
    for (int i = 0; i < 3; i++) vm->preprocess.mean[i] = vm->preprocess.std[i] = 0.5f;
    m->vision = vm;
    return 0;
}

/* ---- Hugging Face directory ---------------------------------------------- */

static int json_floats3(json_t *a, float *out) {
    if (!json_is_array(a) || json_array_size(a) != 3) return -1;
    for (int i = 0; i < 3; i++) {
        if (!json_is_number(json_array_get(a, i))) return -1;
        out[i] = (float)json_number_value(json_array_get(a, i));
    }
    return 0;
}

/* Reads the image defaults of preprocessor_config.json (absent file: the
 * real model's values stay). */
static int load_preprocessor_config(image_preprocess_opts *o, const char *dir, qvl_error *err) {
    char path[4096];
    snprintf(path, sizeof path, "%s/preprocessor_config.json", dir);
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    fclose(f);
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je), *v;
    if (!json_is_object(root)) {
        json_decref(root);
        return qvl_fail(err, "%s: not a JSON object (line %d: %s)", path, je.line, je.text);
    }
    int rc = 0;
    json_t *size = json_object_get(root, "size");
    json_t *mn = json_object_get(size, "shortest_edge"), *mx = json_object_get(size, "longest_edge");
    if (!mn) mn = json_object_get(root, "min_pixels");
    if (!mx) mx = json_object_get(root, "max_pixels");
    if (mn && (!json_is_integer(mn) || json_integer_value(mn) < 1 || json_integer_value(mn) > IMAGE_HF_MAX_PIXELS))
        rc = qvl_fail(err, "%s: min pixels must be 1..%d", path, IMAGE_HF_MAX_PIXELS);
    else if (mn) o->min_pixels = (long)json_integer_value(mn);
    if (mx && (!json_is_integer(mx) || json_integer_value(mx) < 1 || json_integer_value(mx) > IMAGE_HF_MAX_PIXELS))
        rc = qvl_fail(err, "%s: max pixels must be 1..%d", path, IMAGE_HF_MAX_PIXELS);
    else if (mx) o->max_pixels = (long)json_integer_value(mx);
    if ((v = json_object_get(root, "image_mean")) && json_floats3(v, o->mean))
        rc = qvl_fail(err, "%s: image_mean must be 3 numbers", path);
    if ((v = json_object_get(root, "image_std")) && (json_floats3(v, o->std) || !(o->std[0] > 0) ||
                                                     !(o->std[1] > 0) || !(o->std[2] > 0)))
        rc = qvl_fail(err, "%s: image_std must be 3 positive numbers", path);
    const char *fixed[3] = {"patch_size", "merge_size", "temporal_patch_size"};
    int want[3] = {IMAGE_PATCH_SIZE, IMAGE_MERGE_SIZE, IMAGE_TEMPORAL};
    for (int i = 0; i < 3; i++)
        if ((v = json_object_get(root, fixed[i])) && json_integer_value(v) != want[i])
            rc = qvl_fail(err, "%s: %s must be %d (Qwen3-VL)", path, fixed[i], want[i]);
    json_decref(root);
    return rc;
}

int vision_load_hf(qvl_model *m, const weight_source *src, const char *dir, qvl_error *err) {
    if (load_weights(m, src, err) != 0) return -1;
    return load_preprocessor_config(&m->vision->preprocess, dir, err);
}

/* ---- mmproj GGUF --------------------------------------------------------- */

static int clip_floats3(const gguf_file *g, const char *key, float *out, qvl_error *err) {
    const gguf_kv *kv;
    if (!gguf_find_kv(g, key)) return 0;
    if (gguf_get_array(g, key, &kv, err) != 0) return -1;
    if (kv->count != 3) return qvl_fail(err, "%s: '%s' must hold 3 values", g->map.path, key);
    for (int i = 0; i < 3; i++) {
        double v;
        if (gguf_kv_float(g, kv, (uint64_t)i, &v, err) != 0) return -1;
        out[i] = (float)v;
    }
    return 0;
}

/* clip.vision.* -> vision_config (spec 2.3). */
static int mmproj_config(const gguf_file *g, vision_config *v, qvl_error *err) {
    gguf_str s;
    const char *path = g->map.path;
    if (gguf_get_str(g, "general.architecture", &s, err) != 0) return -1;
    if (!gguf_str_eq(s, "clip"))
        return qvl_fail(err, "%s: not an mmproj file (general.architecture '%.*s', expected 'clip')", path,
                        (int)(s.len > 40 ? 40 : s.len), s.ptr);
    const char *ptype = gguf_find_kv(g, "clip.vision.projector_type") ? "clip.vision.projector_type"
                                                                      : "clip.projector_type";
    if (gguf_get_str(g, ptype, &s, err) != 0) return -1;
    if (!gguf_str_eq(s, "qwen3vl_merger"))
        return qvl_fail(err, "%s: projector type '%.*s' is not supported (qvl needs a Qwen3-VL mmproj, "
                        "'qwen3vl_merger')", path, (int)(s.len > 40 ? 40 : s.len), s.ptr);
    bool has = true;
    if (gguf_find_kv(g, "clip.has_vision_encoder") && gguf_get_bool(g, "clip.has_vision_encoder", &has, err))
        return -1;
    if (!has) return qvl_fail(err, "%s: clip.has_vision_encoder is false", path);
    memset(v, 0, sizeof *v);
    if (gguf_int(g, "clip.vision.block_count", 1, 256, -1, &v->depth, err) ||
        gguf_int(g, "clip.vision.embedding_length", 1, 1 << 14, -1, &v->hidden_size, err) ||
        gguf_int(g, "clip.vision.feed_forward_length", 1, 1 << 16, -1, &v->intermediate_size, err) ||
        gguf_int(g, "clip.vision.attention.head_count", 1, 1024, -1, &v->n_heads, err) ||
        gguf_int(g, "clip.vision.patch_size", 1, 64, -1, &v->patch_size, err) ||
        gguf_int(g, "clip.vision.spatial_merge_size", 1, 8, 2, &v->spatial_merge_size, err) ||
        gguf_int(g, "clip.vision.projection_dim", 1, 1 << 16, -1, &v->out_hidden_size, err))
        return -1;
    double eps = 1e-6;
    if (gguf_find_kv(g, "clip.vision.attention.layer_norm_epsilon") &&
        gguf_get_float(g, "clip.vision.attention.layer_norm_epsilon", &eps, err))
        return -1;
    if (!(eps > 0 && eps < 1)) return qvl_fail(err, "%s: clip.vision.attention.layer_norm_epsilon out of range", path);
    v->layer_norm_eps = (float)eps;
    v->in_channels = 3;
    v->temporal_patch_size = 2;
    const qvl_tensor *pos = gguf_find_tensor(g, "v.position_embd.weight");
    if (!pos) return qvl_fail(err, "%s: tensor 'v.position_embd.weight' is missing", path);
    v->num_position_embeddings = tensor_nrows(pos) > 1 << 20 ? 0 : (int)tensor_nrows(pos);
    const gguf_kv *ds;
    if (gguf_get_array(g, "clip.vision.is_deepstack_layers", &ds, err) != 0) return -1;
    if (ds->count != (uint64_t)v->depth)
        return qvl_fail(err, "%s: clip.vision.is_deepstack_layers has %llu entries for %d blocks", path,
                        (unsigned long long)ds->count, v->depth);
    for (int i = 0; i < v->depth; i++) {
        bool on;
        if (gguf_kv_bool(g, ds, (uint64_t)i, &on, err) != 0) return -1;
        if (!on) continue;
        if (v->n_deepstack == QVL_MAX_DEEPSTACK)
            return qvl_fail(err, "%s: more than %d DeepStack layers", path, QVL_MAX_DEEPSTACK);
        v->deepstack_indexes[v->n_deepstack++] = i;
    }
    return 0;
}

int vision_load_mmproj(qvl_model *m, const char *path, qvl_dtype quant, threadpool *tp, qvl_error *err) {
    model_storage *s = m->storage;
    if (gguf_open(&s->mmproj, path, err) != 0) return -1;
    s->has_mmproj = true;
    vision_config v;
    if (mmproj_config(&s->mmproj, &v, err) != 0) return -1;
    if (v.n_deepstack != m->cfg.vision.n_deepstack)
        return qvl_fail(err, "%s: %d DeepStack layers, but the text model %s expects %d", path, v.n_deepstack,
                        m->source, m->cfg.vision.n_deepstack);
    if (v.out_hidden_size != m->cfg.text.hidden_size)
        return qvl_fail(err, "%s: clip.vision.projection_dim is %d, but the text model %s has hidden size %d", path,
                        v.out_hidden_size, m->source, m->cfg.text.hidden_size);
    int side = (int)sqrt((double)v.num_position_embeddings);
    if (side < 2 || side * side != v.num_position_embeddings)
        return qvl_fail(err, "%s: tensor 'v.position_embd.weight' has %d rows, not a square grid of positions", path,
                        v.num_position_embeddings);
    m->cfg.vision = v;
    m->cfg.has_vision = true;
    if (config_validate(&m->cfg, path, err) != 0) return -1;
    weight_source src = {path, s, DT_COUNT, tp, &s->mmproj, quant};
    if (load_weights(m, &src, err) != 0) return -1;
    image_preprocess_opts *o = &m->vision->preprocess;
    if (clip_floats3(&s->mmproj, "clip.vision.image_mean", o->mean, err) ||
        clip_floats3(&s->mmproj, "clip.vision.image_std", o->std, err))
        return -1;
    if (!(o->std[0] > 0 && o->std[1] > 0 && o->std[2] > 0))
        return qvl_fail(err, "%s: clip.vision.image_std must be positive", path);
    return 0;
}
