/* safetensors.h - read (mmap, zero-copy) and write Hugging Face .safetensors.
 *
 * File layout: u64 little-endian N, then N bytes of JSON
 *   {"name": {"dtype": "BF16", "shape": [..], "data_offsets": [begin, end]}, ...,
 *    "__metadata__": {...}}
 * then the data; offsets count from the first byte after the header.
 *
 * The reader trusts nothing: the header length, the JSON, every dtype, shape
 * and offset pair are checked against the file before a tensor is handed out
 * (sizes agree with the shape, data inside the file, aligned to the element
 * size, no two tensors overlapping). Errors name the file and the tensor.
 *
 * A model may be split over several files with a model.safetensors.index.json
 * ("weight_map": {tensor: file}); safetensors_set_open handles both forms.
 */
#ifndef QVL_SAFETENSORS_H
#define QVL_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "base/mapped_file.h"
#include "engine/tensor.h"

typedef struct safetensors_file {
    mapped_file map;
    int n_tensors;
    qvl_tensor *tensors;   /* sorted by name; views into map */
    char *names;           /* storage of the tensor names */
} safetensors_file;

/* Maps and validates one file. Returns 0, or -1 with err set (st zeroed). */
int safetensors_open(safetensors_file *st, const char *path, qvl_error *err);
void safetensors_close(safetensors_file *st);

/* Binary search by name; NULL if absent. */
const qvl_tensor *safetensors_find(const safetensors_file *st, const char *name);

/* All shards of a model directory: model.safetensors, or the files listed in
 * model.safetensors.index.json. */
typedef struct safetensors_set {
    int n_files;
    safetensors_file *files;
} safetensors_set;

int safetensors_set_open(safetensors_set *set, const char *dir, qvl_error *err);
void safetensors_set_close(safetensors_set *set);
const qvl_tensor *safetensors_set_find(const safetensors_set *set, const char *name);

/* Streaming writer: declare every tensor first, then write their bytes in
 * declaration order. Writes to path.tmp and renames on success, so a crash
 * never leaves a partial file under the final name. Only F32/F16/BF16. */
typedef struct safetensors_writer safetensors_writer;

safetensors_writer *safetensors_writer_open(const char *path, qvl_error *err);
/* shape in PyTorch order. Returns 0 or -1. */
int safetensors_writer_add(safetensors_writer *w, const char *name, qvl_dtype type,
                           const int64_t *shape, int n_dims, qvl_error *err);
/* Appends bytes of the current tensor (may be called several times per
 * tensor, in order). Returns 0 or -1. */
int safetensors_writer_write(safetensors_writer *w, const void *data, size_t len, qvl_error *err);
/* Checks every declared byte was written, closes, renames. Frees w. */
int safetensors_writer_finish(safetensors_writer *w, qvl_error *err);
/* Discards everything (removes the temporary file). Frees w. */
void safetensors_writer_abort(safetensors_writer *w);

#endif
