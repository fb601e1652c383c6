/* safetensors.c - see safetensors.h.
 *
 * Reader: a bounds-checked walk over the mapped file. Writer: header first
 * (computed from the declared tensors), then the caller streams the data.
 */
#include "format/safetensors.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HEADER_BYTES (100u << 20)   /* real headers are ~100 KB */

static int dtype_from_st(const char *s, qvl_dtype *out) {
    if (!strcmp(s, "F32"))  { *out = DT_F32;  return 0; }
    if (!strcmp(s, "F16"))  { *out = DT_F16;  return 0; }
    if (!strcmp(s, "BF16")) { *out = DT_BF16; return 0; }
    return -1;
}

static const char *dtype_to_st(qvl_dtype t) {
    switch (t) {
    case DT_F32:  return "F32";
    case DT_F16:  return "F16";
    case DT_BF16: return "BF16";
    default:      return NULL;
    }
}

static size_t elem_size(qvl_dtype t) { return t == DT_F32 ? 4 : 2; }

static int cmp_tensor_name(const void *a, const void *b) {
    return strcmp(((const qvl_tensor *)a)->name, ((const qvl_tensor *)b)->name);
}

static int cmp_tensor_data(const void *a, const void *b) {
    const uint8_t *x = ((const qvl_tensor *)a)->data, *y = ((const qvl_tensor *)b)->data;
    return x < y ? -1 : x > y;
}

/* Validates one header entry and fills t (name set by caller). */
static int parse_entry(const char *path, const char *name, json_t *v, const uint8_t *data,
                       uint64_t data_size, qvl_tensor *t, qvl_error *err) {
    if (!json_is_object(v))
        return qvl_fail(err, "%s: tensor '%s': header entry is not an object", path, name);
    json_t *jd = json_object_get(v, "dtype"), *js = json_object_get(v, "shape"),
           *jo = json_object_get(v, "data_offsets");
    if (!json_is_string(jd))
        return qvl_fail(err, "%s: tensor '%s': missing or non-string dtype", path, name);
    if (dtype_from_st(json_string_value(jd), &t->type) != 0)
        return qvl_fail(err, "%s: tensor '%s': unsupported dtype '%s' (supported: F32, F16, BF16)",
                        path, name, json_string_value(jd));
    if (!json_is_array(js) || json_array_size(js) > QVL_MAX_DIMS)
        return qvl_fail(err, "%s: tensor '%s': shape must be an array of at most %d dimensions",
                        path, name, QVL_MAX_DIMS);
    int nd = (int)json_array_size(js);
    uint64_t numel = 1;
    for (int d = 0; d < QVL_MAX_DIMS; d++) t->ne[d] = 1;
    for (int d = 0; d < nd; d++) {
        json_t *e = json_array_get(js, (size_t)d);
        if (!json_is_integer(e) || json_integer_value(e) < 0)
            return qvl_fail(err, "%s: tensor '%s': shape entry %d is not a non-negative integer", path, name, d);
        uint64_t n = (uint64_t)json_integer_value(e);
        if (n != 0 && numel > UINT64_MAX / 8 / n)
            return qvl_fail(err, "%s: tensor '%s': shape is absurdly large", path, name);
        numel *= n;
        t->ne[nd - 1 - d] = (int64_t)n;   /* PyTorch order -> ggml order */
    }
    t->n_dims = nd ? nd : 1;
    if (!json_is_array(jo) || json_array_size(jo) != 2 || !json_is_integer(json_array_get(jo, 0)) ||
        !json_is_integer(json_array_get(jo, 1)))
        return qvl_fail(err, "%s: tensor '%s': data_offsets must be [begin, end]", path, name);
    json_int_t b = json_integer_value(json_array_get(jo, 0)), e = json_integer_value(json_array_get(jo, 1));
    if (b < 0 || e < b || (uint64_t)e > data_size)
        return qvl_fail(err, "%s: tensor '%s': data_offsets [%lld, %lld] outside the data section (%llu bytes)",
                        path, name, (long long)b, (long long)e, (unsigned long long)data_size);
    uint64_t want = numel * elem_size(t->type);
    if ((uint64_t)(e - b) != want)
        return qvl_fail(err, "%s: tensor '%s': %lld data bytes but shape and dtype need %llu",
                        path, name, (long long)(e - b), (unsigned long long)want);
    t->data = data + b;
    if ((uintptr_t)t->data % elem_size(t->type) != 0)
        return qvl_fail(err, "%s: tensor '%s': data is misaligned for %s", path, name,
                        dtype_to_st(t->type));
    t->nbytes = (size_t)want;
    return 0;
}

int safetensors_open(safetensors_file *st, const char *path, qvl_error *err) {
    memset(st, 0, sizeof *st);
    if (mapped_file_open(&st->map, path, err) != 0) return -1;
    const uint8_t *p = st->map.data;
    size_t size = st->map.size;
    json_t *root = NULL;
    if (size < 8) {
        qvl_fail(err, "%s: too short to be a safetensors file (%zu bytes)", path, size);
        goto fail;
    }
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | p[i];
    if (hlen > size - 8 || hlen > MAX_HEADER_BYTES || hlen < 2) {
        qvl_fail(err, "%s: header length %llu does not fit the file (%zu bytes); not a safetensors file?",
                 path, (unsigned long long)hlen, size);
        goto fail;
    }
    json_error_t je;
    root = json_loadb((const char *)p + 8, (size_t)hlen, JSON_REJECT_DUPLICATES, &je);
    if (!root || !json_is_object(root)) {
        qvl_fail(err, "%s: header is not a JSON object: %s (line %d, column %d)", path,
                 root ? "wrong type" : je.text, je.line, je.column);
        goto fail;
    }
    size_t n = json_object_size(root), name_bytes = 0;
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) name_bytes += strlen(key) + 1;
    st->tensors = calloc(n ? n : 1, sizeof *st->tensors);
    st->names = malloc(name_bytes + 1);
    if (!st->tensors || !st->names) {
        qvl_fail_code(err, QVL_E_NOMEM, "%s: out of memory for %zu tensors", path, n);
        goto fail;
    }
    const uint8_t *data = p + 8 + hlen;
    uint64_t data_size = size - 8 - hlen;
    char *np = st->names;
    json_object_foreach(root, key, v) {
        if (!strcmp(key, "__metadata__")) continue;
        qvl_tensor *t = &st->tensors[st->n_tensors];
        if (parse_entry(path, key, v, data, data_size, t, err) != 0) goto fail;
        size_t kl = strlen(key) + 1;
        memcpy(np, key, kl);
        t->name = np;
        np += kl;
        st->n_tensors++;
    }
    json_decref(root);
    root = NULL;
    /* Overlap check on a copy sorted by position. */
    qvl_tensor *by_pos = malloc((size_t)(st->n_tensors ? st->n_tensors : 1) * sizeof *by_pos);
    if (!by_pos) {
        qvl_fail_code(err, QVL_E_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    memcpy(by_pos, st->tensors, (size_t)st->n_tensors * sizeof *by_pos);
    qsort(by_pos, (size_t)st->n_tensors, sizeof *by_pos, cmp_tensor_data);
    for (int i = 1; i < st->n_tensors; i++) {
        const uint8_t *prev_end = (const uint8_t *)by_pos[i - 1].data + by_pos[i - 1].nbytes;
        if ((const uint8_t *)by_pos[i].data < prev_end) {
            qvl_fail(err, "%s: tensors '%s' and '%s' overlap", path, by_pos[i - 1].name, by_pos[i].name);
            free(by_pos);
            goto fail;
        }
    }
    free(by_pos);
    qsort(st->tensors, (size_t)st->n_tensors, sizeof *st->tensors, cmp_tensor_name);
    return 0;
fail:
    json_decref(root);
    safetensors_close(st);
    return -1;
}

void safetensors_close(safetensors_file *st) {
    mapped_file_close(&st->map);
    free(st->tensors);
    free(st->names);
    memset(st, 0, sizeof *st);
}

const qvl_tensor *safetensors_find(const safetensors_file *st, const char *name) {
    qvl_tensor key = {.name = name};
    return bsearch(&key, st->tensors, (size_t)st->n_tensors, sizeof key, cmp_tensor_name);
}

/* ---- sets of shards ---------------------------------------------------- */

static int add_shard(safetensors_set *set, const char *dir, const char *file, qvl_error *err) {
    for (int i = 0; i < set->n_files; i++) {
        const char *p = strrchr(set->files[i].map.path, '/');
        if (p && !strcmp(p + 1, file)) return 0;
    }
    if (strchr(file, '/') || !strcmp(file, "..") || !*file)
        return qvl_fail(err, "%s/model.safetensors.index.json: refusing shard name '%s'", dir, file);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    safetensors_file *files = realloc(set->files, (size_t)(set->n_files + 1) * sizeof *set->files);
    if (!files) return qvl_fail_code(err, QVL_E_NOMEM, "out of memory");
    set->files = files;
    if (safetensors_open(&set->files[set->n_files], path, err) != 0) return -1;
    set->n_files++;
    return 0;
}

int safetensors_set_open(safetensors_set *set, const char *dir, qvl_error *err) {
    memset(set, 0, sizeof *set);
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (add_shard(set, dir, "model.safetensors", err) != 0) {
            safetensors_set_close(set);
            return -1;
        }
        return 0;
    }
    json_error_t je;
    json_t *root = json_loadf(f, JSON_REJECT_DUPLICATES, &je);
    fclose(f);
    json_t *map = root ? json_object_get(root, "weight_map") : NULL;
    if (!json_is_object(map)) {
        json_decref(root);
        return qvl_fail(err, "%s: no \"weight_map\" object%s%s", path, root ? "" : ": ", root ? "" : je.text);
    }
    const char *name;
    json_t *v;
    json_object_foreach(map, name, v) {
        if (!json_is_string(v) || add_shard(set, dir, json_string_value(v), err) != 0) {
            if (!json_is_string(v)) qvl_fail(err, "%s: weight_map entry '%s' is not a file name", path, name);
            json_decref(root);
            safetensors_set_close(set);
            return -1;
        }
    }
    json_decref(root);
    return 0;
}

void safetensors_set_close(safetensors_set *set) {
    for (int i = 0; i < set->n_files; i++) safetensors_close(&set->files[i]);
    free(set->files);
    memset(set, 0, sizeof *set);
}

const qvl_tensor *safetensors_set_find(const safetensors_set *set, const char *name) {
    for (int i = 0; i < set->n_files; i++) {
        const qvl_tensor *t = safetensors_find(&set->files[i], name);
        if (t) return t;
    }
    return NULL;
}

/* ---- writer ------------------------------------------------------------ */

typedef struct pending {
    char *name;
    qvl_dtype type;
    int64_t shape[QVL_MAX_DIMS];
    int n_dims;
    uint64_t nbytes;
} pending;

struct safetensors_writer {
    char *path, *tmp;
    FILE *f;
    pending *t;
    int n, cap;
    int cur;            /* tensor being written; -1 before the header */
    uint64_t written;   /* bytes of t[cur] so far */
};

safetensors_writer *safetensors_writer_open(const char *path, qvl_error *err) {
    safetensors_writer *w = calloc(1, sizeof *w);
    if (!w || !(w->path = strdup(path)) || !(w->tmp = malloc(strlen(path) + 5))) {
        if (w) free(w->path);
        free(w);
        qvl_fail_code(err, QVL_E_NOMEM, "out of memory");
        return NULL;
    }
    sprintf(w->tmp, "%s.tmp", path);
    w->f = fopen(w->tmp, "wb");
    if (!w->f) {
        qvl_fail_code(err, QVL_E_IO, "%s: cannot create: %s", w->tmp, strerror(errno));
        free(w->path);
        free(w->tmp);
        free(w);
        return NULL;
    }
    w->cur = -1;
    return w;
}

int safetensors_writer_add(safetensors_writer *w, const char *name, qvl_dtype type,
                           const int64_t *shape, int n_dims, qvl_error *err) {
    if (w->cur >= 0) return qvl_fail(err, "safetensors writer: add after data was written");
    if (!dtype_to_st(type) || n_dims < 1 || n_dims > QVL_MAX_DIMS)
        return qvl_fail(err, "safetensors writer: tensor '%s': unsupported type or rank", name);
    if (w->n == w->cap) {
        int cap = w->cap ? 2 * w->cap : 64;
        pending *t = realloc(w->t, (size_t)cap * sizeof *t);
        if (!t) return qvl_fail_code(err, QVL_E_NOMEM, "out of memory");
        w->t = t;
        w->cap = cap;
    }
    pending *p = &w->t[w->n];
    if (!(p->name = strdup(name))) return qvl_fail_code(err, QVL_E_NOMEM, "out of memory");
    w->n++;
    p->type = type;
    p->n_dims = n_dims;
    p->nbytes = elem_size(type);
    for (int d = 0; d < n_dims; d++) {
        p->shape[d] = shape[d];
        p->nbytes *= (uint64_t)shape[d];
    }
    return 0;
}

static int write_header(safetensors_writer *w, qvl_error *err) {
    json_t *root = json_object();
    uint64_t off = 0;
    for (int i = 0; i < w->n; i++) {
        json_t *shape = json_array();
        for (int d = 0; d < w->t[i].n_dims; d++) json_array_append_new(shape, json_integer(w->t[i].shape[d]));
        json_t *offs = json_array();
        json_array_append_new(offs, json_integer((json_int_t)off));
        json_array_append_new(offs, json_integer((json_int_t)(off + w->t[i].nbytes)));
        json_object_set_new(root, w->t[i].name,
                            json_pack("{s:s, s:o, s:o}", "dtype", dtype_to_st(w->t[i].type), "shape", shape,
                                      "data_offsets", offs));
        off += w->t[i].nbytes;
    }
    json_object_set_new(root, "__metadata__", json_pack("{s:s}", "format", "pt"));
    char *text = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(root);
    if (!text) return qvl_fail_code(err, QVL_E_NOMEM, "%s: out of memory for the header", w->tmp);
    size_t len = strlen(text), padded = (len + 7) / 8 * 8;   /* keeps data 8-byte aligned */
    uint8_t lenbuf[8];
    for (int i = 0; i < 8; i++) lenbuf[i] = (uint8_t)(padded >> (8 * i));
    int ok = fwrite(lenbuf, 1, 8, w->f) == 8 && fwrite(text, 1, len, w->f) == len;
    for (size_t i = len; ok && i < padded; i++) ok = fputc(' ', w->f) != EOF;
    free(text);
    if (!ok) return qvl_fail_code(err, QVL_E_IO, "%s: write failed: %s", w->tmp, strerror(errno));
    w->cur = 0;
    w->written = 0;
    return 0;
}

int safetensors_writer_write(safetensors_writer *w, const void *data, size_t len, qvl_error *err) {
    if (w->cur < 0 && write_header(w, err) != 0) return -1;
    const uint8_t *p = data;
    while (len > 0) {
        while (w->cur < w->n && w->written == w->t[w->cur].nbytes) {
            w->cur++;
            w->written = 0;
        }
        if (w->cur >= w->n) return qvl_fail(err, "%s: more data written than declared", w->tmp);
        uint64_t room = w->t[w->cur].nbytes - w->written;
        size_t k = len < room ? len : (size_t)room;
        if (fwrite(p, 1, k, w->f) != k)
            return qvl_fail_code(err, QVL_E_IO, "%s: write failed: %s", w->tmp, strerror(errno));
        w->written += k;
        p += k;
        len -= k;
    }
    return 0;
}

static void writer_free(safetensors_writer *w) {
    for (int i = 0; i < w->n; i++) free(w->t[i].name);
    free(w->t);
    free(w->path);
    free(w->tmp);
    free(w);
}

int safetensors_writer_finish(safetensors_writer *w, qvl_error *err) {
    int rc = 0;
    if (w->cur < 0 && write_header(w, err) != 0) rc = -1;
    while (rc == 0 && w->cur < w->n && w->written == w->t[w->cur].nbytes) {
        w->cur++;
        w->written = 0;
    }
    if (rc == 0 && w->cur < w->n)
        rc = qvl_fail(err, "%s: tensor '%s' was not fully written", w->tmp, w->t[w->cur].name);
    if (fclose(w->f) != 0 && rc == 0) rc = qvl_fail_code(err, QVL_E_IO, "%s: %s", w->tmp, strerror(errno));
    if (rc == 0 && rename(w->tmp, w->path) != 0)
        rc = qvl_fail_code(err, QVL_E_IO, "%s: cannot rename: %s", w->path, strerror(errno));
    if (rc != 0) remove(w->tmp);
    writer_free(w);
    return rc;
}

void safetensors_writer_abort(safetensors_writer *w) {
    fclose(w->f);
    remove(w->tmp);
    writer_free(w);
}
