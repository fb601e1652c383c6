/* weight_source.h - private to the model loader (model_load.c for the text
 * decoder, vision_load.c for the vision tower): where a model's weights come
 * from and the checked getters both loaders share (weight_source.c).
 *
 * A weight_source answers "the tensor with this Hugging Face name / this GGUF
 * name": from the safetensors set of an HF directory (gguf == NULL) or from
 * one GGUF file (the text GGUF, or the mmproj for the vision tower). Every
 * getter checks presence, shape and type and names the file and the tensor
 * when something is wrong. Buffers made while loading (f32 vectors,
 * quantized or repacked matrices) are owned by the model_storage and freed
 * with the model.
 */
#ifndef QVL_WEIGHT_SOURCE_H
#define QVL_WEIGHT_SOURCE_H

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "engine/tensor.h"
#include "engine/threadpool.h"
#include "format/gguf.h"
#include "format/safetensors.h"
#include "model/model.h"

typedef struct model_storage {
    safetensors_set st;
    gguf_file gguf;
    bool has_gguf;
    gguf_file mmproj;        /* vision tower of a GGUF text model */
    bool has_mmproj;
    void **bufs;             /* owned buffers (f32 vectors, quantized matrices) */
    int n_bufs;
} model_storage;

typedef struct weight_source {
    const char *file;        /* for messages */
    model_storage *store;
    qvl_dtype quant;         /* DT_COUNT = keep stored types */
    threadpool *tp;
    const gguf_file *gguf;   /* GGUF names from this file; NULL = HF names from store->st */
    qvl_dtype vision_quant;  /* the vision tower's float matrices become this (DT_Q8_0); 0 or DT_COUNT = as stored */
} weight_source;

/* A buffer freed with the model; NULL when out of memory. */
void *weight_own(model_storage *s, size_t bytes);

/* Hands the malloc'd buffer p to the model, which frees it with itself.
 * Returns p, or NULL (p freed) when p is NULL or out of memory. */
void *weight_adopt(model_storage *s, void *p);

/* The tensor under its HF or GGUF name (whichever the source uses); NULL if
 * absent. No checks: for optional tensors and special shapes. */
const qvl_tensor *weight_find(const weight_source *src, const char *hf, const char *gg);

/* A vector of n values as f32. NULL with err set when missing, of another
 * length or of a type qvl cannot compute with. */
const float *need_vector(const weight_source *src, const char *hf, const char *gg, int64_t n, qvl_error *err);

/* A [rows][cols] matrix (ggml ne = {cols, rows}), converted to `want` when
 * it is stored in a float type (DT_COUNT = keep the stored type). Returns 0,
 * or -1 with err set (missing, wrong shape or type, out of memory). */
int need_matrix(const weight_source *src, const char *hf, const char *gg, int64_t cols, int64_t rows,
                qvl_dtype want, qvl_tensor *out, qvl_error *err);

/* The integer metadata key of g, within [lo, hi]; a missing key gives dflt,
 * or fails when dflt < 0. Returns 0 or -1 with err naming file and key. */
int gguf_int(const gguf_file *g, const char *key, int lo, int hi, int dflt, int *out, qvl_error *err);

#endif
