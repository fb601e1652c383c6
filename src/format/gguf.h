/* gguf.h - read (mmap, zero-copy) and write llama.cpp GGUF files.
 *
 * Layout (v2 and v3, little-endian; v1 and big-endian files are refused):
 *   u32 magic "GGUF", u32 version, u64 n_tensors, u64 n_kv,
 *   n_kv x (string key, u32 value type, value),
 *   n_tensors x (string name, u32 n_dims, u64 ne[n_dims], u32 ggml type,
 *                u64 offset relative to the data section),
 *   zero padding to `general.alignment` (default 32), the data section.
 * A string is a u64 byte count and that many bytes, not NUL-terminated.
 *
 * The reader trusts nothing: every count, length, type id, shape and offset
 * is checked against the file before it is used (counts bounded by the bytes
 * left, no integer overflow, n_dims 1..4, ne >= 1, ne[0] a multiple of the
 * block size, offsets aligned, data inside the file, tensors not
 * overlapping, no duplicate keys or tensor names, bools 0/1, nested arrays
 * refused). Every error message starts with the file name and names the key
 * or tensor concerned.
 *
 * Memory: a gguf_file owns its mapping and a few index arrays. Tensors are
 * qvl_tensor views into the mapping; metadata strings are gguf_str views
 * into the mapping (pointer + length, NOT NUL-terminated). All of them die
 * with gguf_close. Tensor names are NUL-terminated copies.
 */
#ifndef QVL_GGUF_H
#define QVL_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "base/mapped_file.h"
#include "engine/tensor.h"

#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_DIMS 4   /* a GGUF tensor has 1..4 dims; qvl_tensor's extra dims are 1 */

typedef enum gguf_type {
    GGUF_U8 = 0, GGUF_I8 = 1, GGUF_U16 = 2, GGUF_I16 = 3, GGUF_U32 = 4, GGUF_I32 = 5,
    GGUF_F32 = 6, GGUF_BOOL = 7, GGUF_STRING = 8, GGUF_ARRAY = 9,
    GGUF_U64 = 10, GGUF_I64 = 11, GGUF_F64 = 12,
    GGUF_TYPE_COUNT
} gguf_type;

/* A string inside the mapping: len bytes at ptr, no terminating NUL. */
typedef struct gguf_str {
    const char *ptr;
    size_t len;
} gguf_str;

/* One metadata entry. For a scalar, elem_type == type and count == 1; for
 * an array, type == GGUF_ARRAY and elem_type/count describe the elements.
 * `data` is the first value byte (scalar) or first element (numeric array)
 * in the mapping, little-endian, elements packed. For strings (scalar or
 * array) `strs` holds count views; it is NULL for other types. */
typedef struct gguf_kv {
    gguf_str key;
    gguf_type type;
    gguf_type elem_type;
    uint64_t count;
    const uint8_t *data;
    const gguf_str *strs;
} gguf_kv;

/* Read-only after gguf_open. */
typedef struct gguf_file {
    mapped_file map;
    uint32_t version;        /* 2 or 3 */
    uint32_t alignment;      /* general.alignment or 32; a power of two */
    size_t data_offset;      /* file offset of the tensor data section */
    size_t n_kv;
    gguf_kv *kvs;            /* in file order */
    size_t n_tensors;
    qvl_tensor *tensors;     /* in file order; data points into map */
    /* private: lookup indexes and storage */
    uint32_t *kv_by_key;     /* kv indexes sorted by key */
    uint32_t *tensor_by_name;
    gguf_str *str_pool;      /* every string value / string array element */
    char *names;             /* NUL-terminated tensor names */
} gguf_file;

/* Maps and validates `path`. Returns 0, or -1 with err set ("path: ...")
 * and g zeroed. */
int gguf_open(gguf_file *g, const char *path, qvl_error *err);

/* Unmaps and frees; safe on a zeroed or closed struct. */
void gguf_close(gguf_file *g);

/* ---- tensors ---- */

/* Tensor by name (binary search); NULL if absent. */
const qvl_tensor *gguf_find_tensor(const gguf_file *g, const char *name);

/* ---- metadata ---- */

/* Entry by key (binary search); NULL if absent. */
const gguf_kv *gguf_find_kv(const gguf_file *g, const char *key);

/* "u32", "string", "array" ... for messages; "?" for an unknown id. */
const char *gguf_type_name(gguf_type t);

/* True when s equals the C string c. */
bool gguf_str_eq(gguf_str s, const char *c);

/* Typed getters for scalar keys. Each fails (-1, err names the file and the
 * key) when the key is missing, has another type, or (integers) lies outside
 * [lo, hi]. gguf_get_int accepts every integer type (not bool);
 * gguf_get_float accepts f32 and f64. On failure *out is untouched. */
int gguf_get_int(const gguf_file *g, const char *key, int64_t lo, int64_t hi,
                 int64_t *out, qvl_error *err);
int gguf_get_float(const gguf_file *g, const char *key, double *out, qvl_error *err);
int gguf_get_bool(const gguf_file *g, const char *key, bool *out, qvl_error *err);
int gguf_get_str(const gguf_file *g, const char *key, gguf_str *out, qvl_error *err);

/* Finds the array `key`; fails if missing or not an array. Element i is then
 * read with the gguf_kv_* accessors (O(1)). */
int gguf_get_array(const gguf_file *g, const char *key, const gguf_kv **out, qvl_error *err);

/* The array `key` of strings as count views (no copy). Fails if missing or
 * not an array of strings. */
int gguf_get_str_array(const gguf_file *g, const char *key, const gguf_str **items,
                       size_t *count, qvl_error *err);

/* Element i of kv (i must be 0 for a scalar). Fail on i out of range, a
 * non-matching element type or (ints) a value outside [lo, hi]. Same type
 * rules as the scalar getters. */
int gguf_kv_int(const gguf_file *g, const gguf_kv *kv, uint64_t i, int64_t lo, int64_t hi,
                int64_t *out, qvl_error *err);
int gguf_kv_float(const gguf_file *g, const gguf_kv *kv, uint64_t i, double *out, qvl_error *err);
int gguf_kv_bool(const gguf_file *g, const gguf_kv *kv, uint64_t i, bool *out, qvl_error *err);
int gguf_kv_str(const gguf_file *g, const gguf_kv *kv, uint64_t i, gguf_str *out, qvl_error *err);

/* ---- writer ----
 * Streaming GGUF v3 writer, alignment 32. Usage:
 *   w = gguf_writer_open(path);
 *   gguf_writer_add_u32/... (metadata, any order, keys unique);
 *   gguf_writer_add_tensor(...) for every tensor (names unique);
 *   gguf_writer_write(w, bytes, n) repeatedly: the data of tensor 0, then
 *     tensor 1, ... (any chunking; the header goes out on the first call);
 *   gguf_writer_finish(w).
 * Output goes to "path.<pid>.tmp", renamed to path by finish, so a crash never
 * leaves a half-written file under the final name. Metadata is copied into
 * the writer; tensor data is not buffered. All functions return 0 or -1 with
 * err set. A refused argument (duplicate key or name, bad shape, more bytes
 * than declared) leaves the writer unchanged; after an I/O or memory error
 * every call fails, and finish or abort cleans up. */
typedef struct gguf_writer gguf_writer;

/* Returns NULL with err set when out of memory. The file is created later. */
gguf_writer *gguf_writer_open(const char *path, qvl_error *err);

int gguf_writer_add_u32(gguf_writer *w, const char *key, uint32_t v, qvl_error *err);
int gguf_writer_add_i32(gguf_writer *w, const char *key, int32_t v, qvl_error *err);
int gguf_writer_add_u64(gguf_writer *w, const char *key, uint64_t v, qvl_error *err);
int gguf_writer_add_f32(gguf_writer *w, const char *key, float v, qvl_error *err);
int gguf_writer_add_bool(gguf_writer *w, const char *key, bool v, qvl_error *err);
int gguf_writer_add_str(gguf_writer *w, const char *key, const char *v, qvl_error *err);
/* Arrays: n elements from v. Strings are NUL-terminated C strings; use
 * gguf_writer_add_str_array_n for strings with explicit lengths. */
int gguf_writer_add_str_array(gguf_writer *w, const char *key, const char *const *v,
                              size_t n, qvl_error *err);
int gguf_writer_add_str_array_n(gguf_writer *w, const char *key, const gguf_str *v,
                                size_t n, qvl_error *err);
int gguf_writer_add_i32_array(gguf_writer *w, const char *key, const int32_t *v,
                              size_t n, qvl_error *err);
int gguf_writer_add_f32_array(gguf_writer *w, const char *key, const float *v,
                              size_t n, qvl_error *err);
int gguf_writer_add_bool_array(gguf_writer *w, const char *key, const bool *v,
                               size_t n, qvl_error *err);

/* Declares the next tensor: ne in ggml order (ne[0] contiguous), n_dims
 * 1..4, ne[0] a multiple of the type's block size. Must precede any write. */
int gguf_writer_add_tensor(gguf_writer *w, const char *name, qvl_dtype type,
                           const int64_t *ne, int n_dims, qvl_error *err);

/* Appends tensor data (see the usage above). Fails if more bytes are given
 * than the declared tensors hold, or on an I/O error (disk full ...). */
int gguf_writer_write(gguf_writer *w, const void *data, size_t len, qvl_error *err);

/* Checks every declared byte was written, flushes, syncs, renames. Frees w
 * whether it succeeds or not. */
int gguf_writer_finish(gguf_writer *w, qvl_error *err);

/* Discards everything (removes the temporary file). Frees w; NULL is ok. */
void gguf_writer_abort(gguf_writer *w);

#endif
