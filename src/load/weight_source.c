/* weight_source.c - see weight_source.h: the checked tensor getters both
 * loaders (model_load.c, vision_load.c) and the packer share, and the
 * buffers a model owns.
 */
#include "load/weight_source.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/matmul.h"

void *weight_adopt(model_storage *s, void *p) {
    void **bufs = p ? realloc(s->bufs, (size_t)(s->n_bufs + 1) * sizeof *s->bufs) : NULL;
    if (!bufs) {
        free(p);
        return NULL;
    }
    s->bufs = bufs;
    s->bufs[s->n_bufs++] = p;
    return p;
}

void *weight_own(model_storage *s, size_t bytes) {
    return weight_adopt(s, malloc(bytes ? bytes : 1));
}

const qvl_tensor *weight_find(const weight_source *src, const char *hf, const char *gg) {
    if (src->gguf) return gguf_find_tensor(src->gguf, gg);
    return safetensors_set_find(&src->store->st, hf);
}

/* Checks shape (ggml order: ne0 = contiguous length, ne1 = rows; ne1 = 0 for
 * a vector) and that the type can be computed with. */
static const qvl_tensor *need(const weight_source *src, const char *hf, const char *gg, int64_t ne0, int64_t ne1,
                              qvl_error *err) {
    const char *name = src->gguf ? gg : hf;
    const qvl_tensor *t = weight_find(src, hf, gg);
    if (!t) {
        qvl_fail(err, "%s: tensor '%s' is missing", src->file, name);
        return NULL;
    }
    const dtype_info *di = dtype_get(t->type);
    if (!di || !di->can_dequantize) {
        qvl_fail(err, "%s: tensor '%s' has type %s, which qvl cannot compute with", src->file, name,
                 di ? di->name : "unknown");
        return NULL;
    }
    int64_t rows = tensor_nrows(t);
    if (t->ne[0] != ne0 || (ne1 ? rows != ne1 || t->n_dims != 2 : rows != 1)) {
        qvl_fail(err, "%s: tensor '%s' has shape [%lld, %lld], expected [%lld, %lld] (ggml order)", src->file, name,
                 (long long)t->ne[0], (long long)rows, (long long)ne0, (long long)(ne1 ? ne1 : 1));
        return NULL;
    }
    return t;
}

const float *need_vector(const weight_source *src, const char *hf, const char *gg, int64_t n, qvl_error *err) {
    const qvl_tensor *t = need(src, hf, gg, n, 0, err);
    if (!t) return NULL;
    float *v = weight_own(src->store, (size_t)n * sizeof *v);
    if (!v) {
        qvl_fail_code(err, QVL_E_NOMEM, "out of memory");
        return NULL;
    }
    dequantize_row(t->type, t->data, v, n);
    return v;
}

typedef struct quant_job {
    const qvl_tensor *from;
    qvl_tensor *to;
    float *rows;   /* (threads, cols) one float row per thread */
} quant_job;

static void quant_worker(void *p, int ith, int nth) {
    const quant_job *j = p;
    int64_t cols = j->from->ne[0];
    long lo, hi;
    threadpool_split((long)j->from->ne[1], ith, nth, &lo, &hi);
    float *row = j->rows + (size_t)ith * cols;
    size_t rb = dtype_row_bytes(j->to->type, cols);
    for (long r = lo; r < hi; r++) {
        tensor_get_row(j->from, r, row);
        quantize_row(j->to->type, row, (uint8_t *)j->to->data + (size_t)r * rb, cols);
    }
}

/* A matrix, quantized to src->quant when the stored type is a float type
 * (quantized GGUF tensors are used as they are). K-quants need rows that
 * are multiples of 256; narrower rows fall back to Q8_0 like llama.cpp. */
int need_matrix(const weight_source *src, const char *hf, const char *gg, int64_t cols, int64_t rows,
                       qvl_dtype want, qvl_tensor *out, qvl_error *err) {
    const qvl_tensor *t = need(src, hf, gg, cols, rows, err);
    if (!t) return -1;
    *out = *t;
    bool is_float = t->type == DT_BF16 || t->type == DT_F16 || t->type == DT_F32;
    if (want == DT_COUNT || !is_float || want == t->type) return 0;
    if (dtype_get(want)->block_size > 1 && cols % dtype_get(want)->block_size) want = DT_Q8_0;
    size_t bytes = dtype_row_bytes(want, cols) * (size_t)rows;
    void *buf = weight_own(src->store, bytes);
    quant_job j = {t, out, malloc((size_t)threadpool_size(src->tp) * cols * sizeof *j.rows)};
    if (!buf || !j.rows) {
        free(j.rows);
        return qvl_fail_code(err, QVL_E_NOMEM, "out of memory quantizing '%s'", hf);
    }
    out->type = want;
    out->data = buf;
    out->nbytes = bytes;
    threadpool_run(src->tp, quant_worker, &j);
    free(j.rows);
    /* the float original is done with: out of resident memory (a first
     * quantize-on-load of a 2b model would otherwise hold 3.4 GB of it) */
    if (src->gguf)
        mapped_file_drop(&src->gguf->map, t->data, t->nbytes);
    else
        for (int f = 0; f < src->store->st.n_files; f++) mapped_file_drop(&src->store->st.files[f].map, t->data, t->nbytes);
    return 0;
}

/* llama.cpp's Q4_K_M type for the text matrix `role` ("token_embd", "output",
 * "attn_v", ... as in GGUF names) of `layer` (llama-quant.cpp,
 * llama_tensor_get_type): Q4_K, but Q6_K for the output matrix (the
 * embedding when tied to it) and for attn_v and ffn_down in the layers
 * use_more_bits picks. llama.cpp counts attn_v / ffn_down tensors in its
 * weight order (layer number first), so its counter is the layer index.
 * Rows that are not a multiple of 256 fall back as there: the output to
 * Q8_0, Q4_K to Q5_0, Q6_K to Q8_0, and to F16 if not even a multiple of 32. */

int gguf_int(const gguf_file *g, const char *key, int lo, int hi, int dflt, int *out, qvl_error *err) {
    int64_t v;
    if (!gguf_find_kv(g, key)) {
        if (dflt < 0) return qvl_fail(err, "%s: metadata key '%s' is missing", g->map.path, key);
        *out = dflt;
        return 0;
    }
    if (gguf_get_int(g, key, lo, hi, &v, err) != 0) return -1;
    *out = (int)v;
    return 0;
}
