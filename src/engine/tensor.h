/* tensor.h - a view of one weight tensor: name, type, shape, bytes.
 *
 * Shapes use ggml order: ne[0] is the contiguous (fastest) dimension, so a
 * PyTorch [out, in] matrix has ne = {in, out, 1, 1} and row r (output unit r)
 * starts at data + r * dtype_row_bytes(type, ne[0]).
 *
 * A tensor never owns its bytes: they live in a mapped file or in a buffer
 * owned by the model that handed out the view.
 */
#ifndef QVL_TENSOR_H
#define QVL_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "engine/dtype.h"

/* 5, not 4: the Hugging Face Conv3d patch-embedding weight is 5-D. GGUF
 * tensors have at most 4 dims; unused dims are 1. */
#define QVL_MAX_DIMS 5

typedef struct qvl_tensor {
    const char *name;        /* points into the owner's storage */
    qvl_dtype type;
    int n_dims;
    int64_t ne[QVL_MAX_DIMS];  /* unused dims are 1 */
    const void *data;
    size_t nbytes;
    /* The same matrix in packed.h's layout, or NULL. matmul uses it when the
     * kernel table can; data stays valid (row lookups, other tables). */
    const void *packed;
} qvl_tensor;

static inline int64_t tensor_nelements(const qvl_tensor *t) {
    return t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3] * t->ne[4];
}

static inline int64_t tensor_nrows(const qvl_tensor *t) {
    return t->ne[1] * t->ne[2] * t->ne[3] * t->ne[4];
}

#endif
