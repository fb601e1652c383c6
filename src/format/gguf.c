/* gguf.c - the GGUF reader and metadata getters; see gguf.h (the writer is
 * gguf_write.c).
 *
 * The parse is one bounds-checked walk over the mapping with a cursor that
 * refuses to read past the end; nothing is dereferenced before the cursor
 * has vouched for it. Counts from the file are bounded by the bytes that
 * remain before anything is allocated for them.
 */
#include "format/gguf.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GGUF_MAGIC 0x46554747u   /* "GGUF" read as a little-endian u32 */
#define MAX_KEY_LEN 65535u
#define MAX_NAME_LEN 1023u
/* Smallest possible encodings, used to bound counts by the file size. */
#define MIN_KV_BYTES 13u          /* u64 key length, u32 type, 1-byte value */
#define MIN_TENSOR_INFO_BYTES 32u /* u64 name length, u32 n_dims, one u64 ne, u32 type, u64 offset */

static const uint8_t scalar_size[GGUF_TYPE_COUNT] = {
    [GGUF_U8] = 1, [GGUF_I8] = 1, [GGUF_U16] = 2, [GGUF_I16] = 2, [GGUF_U32] = 4,
    [GGUF_I32] = 4, [GGUF_F32] = 4, [GGUF_BOOL] = 1, [GGUF_U64] = 8, [GGUF_I64] = 8,
    [GGUF_F64] = 8,
};

const char *gguf_type_name(gguf_type t) {
    static const char *const names[GGUF_TYPE_COUNT] = {
        "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64",
    };
    return (unsigned)t < GGUF_TYPE_COUNT ? names[t] : "?";
}

bool gguf_str_eq(gguf_str s, const char *c) {
    return strlen(c) == s.len && memcmp(s.ptr, c, s.len) == 0;
}

static int str_cmp(gguf_str a, gguf_str b) {
    int r = memcmp(a.ptr, b.ptr, a.len < b.len ? a.len : b.len);
    if (r) return r;
    return (a.len > b.len) - (a.len < b.len);
}

/* A name from the file made fit for an error message: printable ASCII only,
 * at most ~60 characters. */
typedef struct printable { char s[72]; } printable;

static printable show(gguf_str str) {
    printable p;
    size_t n = str.len > 60 ? 60 : str.len, i;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)str.ptr[i];
        p.s[i] = isprint(c) ? (char)c : '?';
    }
    if (str.len > n) {
        memcpy(p.s + i, "...", 3);
        i += 3;
    }
    p.s[i] = 0;
    return p;
}

/* ------------------------------------------------------------------ */
/* The cursor                                                          */
/* ------------------------------------------------------------------ */

typedef struct cursor {
    const uint8_t *base;
    size_t pos, size;
    const char *path;
    qvl_error *err;
} cursor;

static size_t left(const cursor *c) { return c->size - c->pos; }

/* Claims n bytes, or fails naming `what` (the message ends up as
 * "path: <context>: truncated ..."; callers add the context). */
static const uint8_t *take(cursor *c, size_t n, const char *what) {
    if (n > left(c)) {
        qvl_fail_code(c->err, QVL_E_BAD_INPUT,
                      "truncated: %s needs %zu bytes at offset %zu, file size is %zu", what, n,
                      c->pos, c->size);
        return NULL;
    }
    const uint8_t *p = c->base + c->pos;
    c->pos += n;
    return p;
}

static int take_u32(cursor *c, uint32_t *v, const char *what) {
    const uint8_t *p = take(c, 4, what);
    if (!p) return -1;
    memcpy(v, p, 4);
    return 0;
}

static int take_u64(cursor *c, uint64_t *v, const char *what) {
    const uint8_t *p = take(c, 8, what);
    if (!p) return -1;
    memcpy(v, p, 8);
    return 0;
}

static int take_str(cursor *c, gguf_str *s, const char *what) {
    uint64_t len;
    if (take_u64(c, &len, what) < 0) return -1;
    if (len > left(c))
        return qvl_fail_code(c->err, QVL_E_BAD_INPUT,
                             "%s length %" PRIu64 " at offset %zu runs past the end of the file (size %zu)",
                             what, len, c->pos - 8, c->size);
    s->ptr = (const char *)take(c, (size_t)len, what);
    s->len = (size_t)len;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Metadata                                                            */
/* ------------------------------------------------------------------ */

typedef struct str_vec {
    gguf_str *v;
    size_t n, cap;
} str_vec;

static int str_vec_push(str_vec *sv, gguf_str s, qvl_error *err) {
    if (sv->n == sv->cap) {
        size_t cap = sv->cap ? sv->cap * 2 : 256;
        gguf_str *nv = realloc(sv->v, cap * sizeof *nv);
        if (!nv) return qvl_fail_code(err, QVL_E_NOMEM, "out of memory for string table");
        sv->v = nv;
        sv->cap = cap;
    }
    sv->v[sv->n++] = s;
    return 0;
}

/* Checks and records `count` values of scalar type t at the cursor. String
 * views go to pool; the index of the first one is returned in *first. */
static int parse_values(cursor *c, gguf_type t, uint64_t count, gguf_kv *kv, str_vec *pool,
                        size_t *first) {
    if (t == GGUF_STRING) {
        if (count > left(c) / 8)
            return qvl_fail_code(c->err, QVL_E_BAD_INPUT,
                                 "%" PRIu64 " strings cannot fit in the %zu bytes left", count, left(c));
        *first = pool->n;
        for (uint64_t i = 0; i < count; i++) {
            gguf_str s;
            if (take_str(c, &s, "string value") < 0 || str_vec_push(pool, s, c->err) < 0) return -1;
        }
        kv->data = NULL;
        return 0;
    }
    size_t sz = scalar_size[t];
    if (count > left(c) / sz)
        return qvl_fail_code(c->err, QVL_E_BAD_INPUT,
                             "%" PRIu64 " values of type %s cannot fit in the %zu bytes left", count,
                             gguf_type_name(t), left(c));
    kv->data = take(c, (size_t)count * sz, "value");
    if (t == GGUF_BOOL)
        for (uint64_t i = 0; i < count; i++)
            if (kv->data[i] > 1)
                return qvl_fail_code(c->err, QVL_E_BAD_INPUT, "bool value %u at index %" PRIu64 " is not 0 or 1",
                                     kv->data[i], i);
    return 0;
}

static int check_type(cursor *c, uint32_t t, bool in_array) {
    if (t >= GGUF_TYPE_COUNT)
        return qvl_fail_code(c->err, QVL_E_BAD_INPUT, "unknown %svalue type %u", in_array ? "array element " : "", t);
    if (t == GGUF_ARRAY && in_array)
        return qvl_fail_code(c->err, QVL_E_BAD_INPUT, "nested arrays are not supported");
    return 0;
}

static int parse_kv(cursor *c, gguf_kv *kv, str_vec *pool, size_t *first) {
    uint32_t t;
    if (take_str(c, &kv->key, "key") < 0) return -1;
    if (kv->key.len == 0 || kv->key.len > MAX_KEY_LEN || memchr(kv->key.ptr, 0, kv->key.len))
        return qvl_fail_code(c->err, QVL_E_BAD_INPUT, "key at offset %zu is empty, longer than %u bytes or contains NUL",
                             c->pos - kv->key.len - 8, MAX_KEY_LEN);
    if (take_u32(c, &t, "value type") < 0 || check_type(c, t, false) < 0) return -1;
    kv->type = (gguf_type)t;
    kv->elem_type = kv->type;
    kv->count = 1;
    if (kv->type == GGUF_ARRAY) {
        if (take_u32(c, &t, "array element type") < 0 || check_type(c, t, true) < 0) return -1;
        kv->elem_type = (gguf_type)t;
        if (take_u64(c, &kv->count, "array length") < 0) return -1;
    }
    return parse_values(c, kv->elem_type, kv->count, kv, pool, first);
}

typedef struct keyed {
    gguf_str key;
    uint32_t idx;
} keyed;

static int keyed_cmp(const void *a, const void *b) {
    return str_cmp(((const keyed *)a)->key, ((const keyed *)b)->key);
}

/* Builds a sorted index over n keys; fails on the first duplicate, naming
 * it. `what` is "key" or "tensor name". */
static int build_index(const char *path, keyed *tmp, size_t n, uint32_t *out, const char *what,
                       qvl_error *err) {
    qsort(tmp, n, sizeof *tmp, keyed_cmp);
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && str_cmp(tmp[i - 1].key, tmp[i].key) == 0)
            return qvl_fail_code(err, QVL_E_BAD_INPUT, "%s: duplicate %s '%s'", path, what, show(tmp[i].key).s);
        out[i] = tmp[i].idx;
    }
    return 0;
}

static int parse_metadata(gguf_file *g, cursor *c, uint64_t n_kv, str_vec *pool) {
    size_t *first = calloc(n_kv ? n_kv : 1, sizeof *first);
    keyed *tmp = calloc(n_kv ? n_kv : 1, sizeof *tmp);
    g->kvs = calloc(n_kv ? n_kv : 1, sizeof *g->kvs);
    g->kv_by_key = calloc(n_kv ? n_kv : 1, sizeof *g->kv_by_key);
    int rc = -1;
    if (!first || !tmp || !g->kvs || !g->kv_by_key) {
        qvl_fail_code(c->err, QVL_E_NOMEM, "%s: out of memory for %" PRIu64 " metadata entries", c->path, n_kv);
        goto out;
    }
    for (g->n_kv = 0; g->n_kv < n_kv; g->n_kv++) {
        gguf_kv *kv = &g->kvs[g->n_kv];
        if (parse_kv(c, kv, pool, &first[g->n_kv]) < 0) {
            if (kv->key.ptr)
                qvl_error_prefix(c->err, "%s: key '%s'", c->path, show(kv->key).s);
            else
                qvl_error_prefix(c->err, "%s: metadata entry %zu", c->path, g->n_kv);
            goto out;
        }
        tmp[g->n_kv] = (keyed){kv->key, (uint32_t)g->n_kv};
    }
    /* The pool has stopped moving: string views can now point into it. */
    for (size_t i = 0; i < g->n_kv; i++)
        if (g->kvs[i].elem_type == GGUF_STRING) g->kvs[i].strs = pool->v ? pool->v + first[i] : NULL;   /* NULL: no strings at all */
    rc = build_index(c->path, tmp, g->n_kv, g->kv_by_key, "key", c->err);
out:
    free(first);
    free(tmp);
    return rc;
}

static int read_alignment(gguf_file *g, qvl_error *err) {
    const gguf_kv *kv = gguf_find_kv(g, "general.alignment");
    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    if (!kv) return 0;
    if (kv->type != GGUF_U32)
        return qvl_fail_code(err, QVL_E_BAD_INPUT, "%s: key 'general.alignment': type %s, expected u32",
                             g->map.path, gguf_type_name(kv->type));
    uint32_t a;
    memcpy(&a, kv->data, 4);
    if (a == 0 || (a & (a - 1)))
        return qvl_fail_code(err, QVL_E_BAD_INPUT, "%s: key 'general.alignment': %u is not a power of two",
                             g->map.path, a);
    g->alignment = a;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Tensor infos                                                        */
/* ------------------------------------------------------------------ */

/* Parses one tensor info: name (kept in *name), shape, type, offset. */
static int parse_tensor_info(cursor *c, qvl_tensor *t, gguf_str *name, uint64_t *offset) {
    uint32_t n_dims, type;
    if (take_str(c, name, "tensor name") < 0) return -1;
    if (name->len == 0 || name->len > MAX_NAME_LEN || memchr(name->ptr, 0, name->len))
        return qvl_fail_code(c->err, QVL_E_BAD_INPUT, "name empty, longer than %u bytes or containing NUL",
                             MAX_NAME_LEN);
    if (take_u32(c, &n_dims, "n_dims") < 0) return -1;
    if (n_dims < 1 || n_dims > GGUF_MAX_DIMS)
        return qvl_fail_code(c->err, QVL_E_BAD_INPUT, "n_dims %u is not in 1..%d", n_dims, GGUF_MAX_DIMS);
    t->n_dims = (int)n_dims;
    int64_t nel = 1;
    for (int d = 0; d < QVL_MAX_DIMS; d++) {
        uint64_t ne = 1;
        if (d < t->n_dims && take_u64(c, &ne, "shape") < 0) return -1;
        if (ne < 1 || ne > (uint64_t)INT64_MAX / (uint64_t)nel)
            return qvl_fail_code(c->err, QVL_E_BAD_INPUT, "ne[%d] = %" PRIu64 " is 0 or makes the element count overflow",
                                 d, ne);
        t->ne[d] = (int64_t)ne;
        nel *= (int64_t)ne;
    }
    if (take_u32(c, &type, "type") < 0 || take_u64(c, offset, "offset") < 0) return -1;
    const dtype_info *ti = dtype_get(type);
    if (!ti) return qvl_fail_code(c->err, QVL_E_BAD_INPUT, "unknown or unsupported ggml type %u", type);
    t->type = (qvl_dtype)type;
    if (t->ne[0] % ti->block_size)
        return qvl_fail_code(c->err, QVL_E_BAD_INPUT, "ne[0] = %" PRId64 " is not a multiple of the %s block size %d",
                             t->ne[0], ti->name, ti->block_size);
    size_t row = dtype_row_bytes(t->type, t->ne[0]);
    uint64_t rows = (uint64_t)(nel / t->ne[0]);
    if (row == 0 || rows > SIZE_MAX / row)
        return qvl_fail_code(c->err, QVL_E_BAD_INPUT, "byte size overflows");
    t->nbytes = row * (size_t)rows;
    return 0;
}

typedef struct span {
    uint64_t begin, end;
    uint32_t idx;
} span;

static int span_cmp(const void *a, const void *b) {
    const span *x = a, *y = b;
    return (x->begin > y->begin) - (x->begin < y->begin);
}

/* Places every tensor in the data section: aligned, inside the file, and
 * not overlapping another one. */
static int place_tensors(gguf_file *g, span *sp, qvl_error *err) {
    const char *path = g->map.path;
    size_t room = g->data_offset <= g->map.size ? g->map.size - g->data_offset : 0;
    for (size_t i = 0; i < g->n_tensors; i++) {
        qvl_tensor *t = &g->tensors[i];
        uint64_t off = sp[i].begin;
        if (off % g->alignment)
            return qvl_fail_code(err, QVL_E_BAD_INPUT, "%s: tensor '%s': offset %" PRIu64 " is not a multiple of the alignment %u",
                                 path, t->name, off, g->alignment);
        if (off > room || t->nbytes > room - off)
            return qvl_fail_code(err, QVL_E_BAD_INPUT,
                                 "%s: tensor '%s': data [%" PRIu64 "..%" PRIu64 ") of the data section at %zu lies outside the file (size %zu)",
                                 path, t->name, off, off + (uint64_t)t->nbytes, g->data_offset, g->map.size);
        sp[i].end = off + t->nbytes;
        t->data = g->map.data + g->data_offset + off;
    }
    qsort(sp, g->n_tensors, sizeof *sp, span_cmp);
    for (size_t i = 1; i < g->n_tensors; i++)
        if (sp[i].begin < sp[i - 1].end)
            return qvl_fail_code(err, QVL_E_BAD_INPUT, "%s: tensors '%s' and '%s' overlap in the data section", path,
                                 g->tensors[sp[i - 1].idx].name, g->tensors[sp[i].idx].name);
    return 0;
}

static int parse_tensors(gguf_file *g, cursor *c, uint64_t n) {
    size_t cnt = n ? (size_t)n : 1;
    span *sp = calloc(cnt, sizeof *sp);
    keyed *tmp = calloc(cnt, sizeof *tmp);
    gguf_str *names = calloc(cnt, sizeof *names);
    g->tensors = calloc(cnt, sizeof *g->tensors);
    g->tensor_by_name = calloc(cnt, sizeof *g->tensor_by_name);
    int rc = -1;
    if (!sp || !tmp || !names || !g->tensors || !g->tensor_by_name) {
        qvl_fail_code(c->err, QVL_E_NOMEM, "%s: out of memory for %" PRIu64 " tensors", c->path, n);
        goto out;
    }
    size_t name_bytes = 0;
    for (size_t i = 0; i < n; i++) {
        if (parse_tensor_info(c, &g->tensors[i], &names[i], &sp[i].begin) < 0) {
            if (names[i].ptr)
                qvl_error_prefix(c->err, "%s: tensor '%s'", c->path, show(names[i]).s);
            else
                qvl_error_prefix(c->err, "%s: tensor info %zu", c->path, i);
            goto out;
        }
        sp[i].idx = (uint32_t)i;
        tmp[i] = (keyed){names[i], (uint32_t)i};
        name_bytes += names[i].len + 1;
    }
    g->n_tensors = (size_t)n;
    g->names = malloc(name_bytes ? name_bytes : 1);
    if (!g->names) {
        qvl_fail_code(c->err, QVL_E_NOMEM, "%s: out of memory for tensor names", c->path);
        goto out;
    }
    for (size_t i = 0, at = 0; i < n; i++) {
        memcpy(g->names + at, names[i].ptr, names[i].len);
        g->names[at + names[i].len] = 0;
        g->tensors[i].name = g->names + at;
        at += names[i].len + 1;
    }
    if (build_index(c->path, tmp, g->n_tensors, g->tensor_by_name, "tensor name", c->err) < 0) goto out;
    /* Data starts at the first multiple of the alignment after the infos. */
    g->data_offset = c->pos + (g->alignment - c->pos % g->alignment) % g->alignment;
    rc = place_tensors(g, sp, c->err);
out:
    free(sp);
    free(tmp);
    free(names);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Open / close                                                        */
/* ------------------------------------------------------------------ */

static int parse_header(cursor *c, uint32_t *version, uint64_t *n_tensors, uint64_t *n_kv) {
    uint32_t magic = 0;
    if (c->size >= 4) memcpy(&magic, c->base, 4);
    if (magic != GGUF_MAGIC)
        return qvl_fail_code(c->err, QVL_E_BAD_INPUT, "%s: not a GGUF file (bad magic)", c->path);
    c->pos = 4;
    if (take_u32(c, version, "version") < 0) return qvl_error_prefix(c->err, "%s", c->path);
    uint32_t v = *version;
    if (v != 2 && v != 3) {
        uint32_t swapped = __builtin_bswap32(v);
        if (swapped >= 1 && swapped <= 3)
            return qvl_fail_code(c->err, QVL_E_BAD_INPUT, "%s: big-endian GGUF files are not supported", c->path);
        return qvl_fail_code(c->err, QVL_E_BAD_INPUT, "%s: GGUF version %u is not supported (only 2 and 3)",
                             c->path, v);
    }
    if (take_u64(c, n_tensors, "tensor count") < 0 || take_u64(c, n_kv, "metadata count") < 0)
        return qvl_error_prefix(c->err, "%s", c->path);
    /* Every entry takes some bytes: counts the file cannot hold are lies, and
     * refusing them early keeps allocations bounded by the file size. */
    if (*n_kv > left(c) / MIN_KV_BYTES)
        return qvl_fail_code(c->err, QVL_E_BAD_INPUT, "%s: %" PRIu64 " metadata entries cannot fit in %zu bytes",
                             c->path, *n_kv, c->size);
    if (*n_tensors > left(c) / MIN_TENSOR_INFO_BYTES)
        return qvl_fail_code(c->err, QVL_E_BAD_INPUT, "%s: %" PRIu64 " tensors cannot fit in %zu bytes",
                             c->path, *n_tensors, c->size);
    if (*n_kv > UINT32_MAX || *n_tensors > UINT32_MAX)
        return qvl_fail_code(c->err, QVL_E_BAD_INPUT, "%s: too many entries", c->path);
    return 0;
}

int gguf_open(gguf_file *g, const char *path, qvl_error *err) {
    memset(g, 0, sizeof *g);
    if (mapped_file_open(&g->map, path, err) < 0) return -1;
    cursor c = {g->map.data, 0, g->map.size, path, err};
    str_vec pool = {0};
    uint64_t n_tensors = 0, n_kv = 0;
    if (parse_header(&c, &g->version, &n_tensors, &n_kv) < 0) goto fail;
    if (parse_metadata(g, &c, n_kv, &pool) < 0) {
        g->str_pool = pool.v;
        goto fail;
    }
    g->str_pool = pool.v;
    if (read_alignment(g, err) < 0 || parse_tensors(g, &c, n_tensors) < 0) goto fail;
    return 0;
fail:
    gguf_close(g);
    return -1;
}

void gguf_close(gguf_file *g) {
    mapped_file_close(&g->map);
    free(g->kvs);
    free(g->kv_by_key);
    free(g->tensors);
    free(g->tensor_by_name);
    free(g->str_pool);
    free(g->names);
    memset(g, 0, sizeof *g);
}

/* ------------------------------------------------------------------ */
/* Lookup                                                              */
/* ------------------------------------------------------------------ */

const qvl_tensor *gguf_find_tensor(const gguf_file *g, const char *name) {
    gguf_str want = {name, strlen(name)};
    size_t lo = 0, hi = g->n_tensors;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const qvl_tensor *t = &g->tensors[g->tensor_by_name[mid]];
        int r = str_cmp((gguf_str){t->name, strlen(t->name)}, want);
        if (r == 0) return t;
        if (r < 0) lo = mid + 1; else hi = mid;
    }
    return NULL;
}

const gguf_kv *gguf_find_kv(const gguf_file *g, const char *key) {
    gguf_str want = {key, strlen(key)};
    size_t lo = 0, hi = g->n_kv;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const gguf_kv *kv = &g->kvs[g->kv_by_key[mid]];
        int r = str_cmp(kv->key, want);
        if (r == 0) return kv;
        if (r < 0) lo = mid + 1; else hi = mid;
    }
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Typed access                                                        */
/* ------------------------------------------------------------------ */

__attribute__((format(printf, 4, 5)))
static int kv_fail(const gguf_file *g, const gguf_kv *kv, qvl_error *err, const char *fmt, ...) {
    char what[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return qvl_fail_code(err, QVL_E_BAD_INPUT, "%s: key '%s': %s", g->map.path, show(kv->key).s, what);
}

/* Checks element i exists and has one of the wanted element types (a
 * bitmask over gguf_type); `expected` words the wish for the message. */
static int kv_elem(const gguf_file *g, const gguf_kv *kv, uint64_t i, unsigned wanted, const char *expected,
                   qvl_error *err) {
    if (!(wanted & 1u << kv->elem_type))
        return kv_fail(g, kv, err, "has type %s, expected %s", gguf_type_name(kv->elem_type), expected);
    if (i >= kv->count)
        return kv_fail(g, kv, err, "index %" PRIu64 " out of range (%" PRIu64 " elements)", i, kv->count);
    return 0;
}

#define INT_TYPES (1u << GGUF_U8 | 1u << GGUF_I8 | 1u << GGUF_U16 | 1u << GGUF_I16 | 1u << GGUF_U32 | \
                   1u << GGUF_I32 | 1u << GGUF_U64 | 1u << GGUF_I64)

int gguf_kv_int(const gguf_file *g, const gguf_kv *kv, uint64_t i, int64_t lo, int64_t hi, int64_t *out,
                qvl_error *err) {
    if (kv_elem(g, kv, i, INT_TYPES, "an integer", err) < 0) return -1;
    const uint8_t *p = kv->data + i * scalar_size[kv->elem_type];
    int64_t v = 0;
    uint64_t u = 0;
    switch (kv->elem_type) {
    case GGUF_U8:  v = p[0]; break;
    case GGUF_I8:  v = (int8_t)p[0]; break;
    case GGUF_U16: { uint16_t x; memcpy(&x, p, 2); v = x; break; }
    case GGUF_I16: { int16_t x; memcpy(&x, p, 2); v = x; break; }
    case GGUF_U32: { uint32_t x; memcpy(&x, p, 4); v = x; break; }
    case GGUF_I32: { int32_t x; memcpy(&x, p, 4); v = x; break; }
    case GGUF_I64: memcpy(&v, p, 8); break;
    default:
        memcpy(&u, p, 8);
        if (u > INT64_MAX)
            return kv_fail(g, kv, err, "value %" PRIu64 " outside [%" PRId64 ", %" PRId64 "]", u, lo, hi);
        v = (int64_t)u;
        break;
    }
    if (v < lo || v > hi)
        return kv_fail(g, kv, err, "value %" PRId64 " outside [%" PRId64 ", %" PRId64 "]", v, lo, hi);
    *out = v;
    return 0;
}

int gguf_kv_float(const gguf_file *g, const gguf_kv *kv, uint64_t i, double *out, qvl_error *err) {
    if (kv_elem(g, kv, i, 1u << GGUF_F32 | 1u << GGUF_F64, "a float", err) < 0) return -1;
    if (kv->elem_type == GGUF_F32) {
        float f;
        memcpy(&f, kv->data + 4 * i, 4);
        *out = f;
    } else {
        memcpy(out, kv->data + 8 * i, 8);
    }
    return 0;
}

int gguf_kv_bool(const gguf_file *g, const gguf_kv *kv, uint64_t i, bool *out, qvl_error *err) {
    if (kv_elem(g, kv, i, 1u << GGUF_BOOL, "bool", err) < 0) return -1;
    *out = kv->data[i] != 0;
    return 0;
}

int gguf_kv_str(const gguf_file *g, const gguf_kv *kv, uint64_t i, gguf_str *out, qvl_error *err) {
    if (kv_elem(g, kv, i, 1u << GGUF_STRING, "string", err) < 0) return -1;
    *out = kv->strs[i];
    return 0;
}

/* The scalar entry `key`, or -1 with err set. */
static const gguf_kv *scalar_kv(const gguf_file *g, const char *key, qvl_error *err) {
    const gguf_kv *kv = gguf_find_kv(g, key);
    if (!kv) {
        qvl_fail_code(err, QVL_E_BAD_INPUT, "%s: key '%s' is missing", g->map.path, key);
        return NULL;
    }
    if (kv->type == GGUF_ARRAY) {
        kv_fail(g, kv, err, "is an array, expected a single value");
        return NULL;
    }
    return kv;
}

int gguf_get_int(const gguf_file *g, const char *key, int64_t lo, int64_t hi, int64_t *out, qvl_error *err) {
    const gguf_kv *kv = scalar_kv(g, key, err);
    return kv ? gguf_kv_int(g, kv, 0, lo, hi, out, err) : -1;
}

int gguf_get_float(const gguf_file *g, const char *key, double *out, qvl_error *err) {
    const gguf_kv *kv = scalar_kv(g, key, err);
    return kv ? gguf_kv_float(g, kv, 0, out, err) : -1;
}

int gguf_get_bool(const gguf_file *g, const char *key, bool *out, qvl_error *err) {
    const gguf_kv *kv = scalar_kv(g, key, err);
    return kv ? gguf_kv_bool(g, kv, 0, out, err) : -1;
}

int gguf_get_str(const gguf_file *g, const char *key, gguf_str *out, qvl_error *err) {
    const gguf_kv *kv = scalar_kv(g, key, err);
    return kv ? gguf_kv_str(g, kv, 0, out, err) : -1;
}

int gguf_get_array(const gguf_file *g, const char *key, const gguf_kv **out, qvl_error *err) {
    const gguf_kv *kv = gguf_find_kv(g, key);
    if (!kv) return qvl_fail_code(err, QVL_E_BAD_INPUT, "%s: key '%s' is missing", g->map.path, key);
    if (kv->type != GGUF_ARRAY) return kv_fail(g, kv, err, "has type %s, expected an array", gguf_type_name(kv->type));
    *out = kv;
    return 0;
}

int gguf_get_str_array(const gguf_file *g, const char *key, const gguf_str **items, size_t *count,
                       qvl_error *err) {
    const gguf_kv *kv;
    if (gguf_get_array(g, key, &kv, err) < 0) return -1;
    if (kv->elem_type != GGUF_STRING)
        return kv_fail(g, kv, err, "is an array of %s, expected strings", gguf_type_name(kv->elem_type));
    *items = kv->strs;
    *count = (size_t)kv->count;
    return 0;
}
