/* gguf_write.c - the streaming GGUF v3 writer; see gguf.h.
 *
 * Metadata is serialized into a memory buffer as it is added (it is small:
 * even the 151936-entry token list is ~1.5 MB); tensor infos are kept as a
 * list until the first data byte is written, when the header goes out.
 * Tensor data is then streamed straight to the file with zero padding to
 * the alignment between tensors.
 */
#include "format/gguf.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ALIGN GGUF_DEFAULT_ALIGNMENT

typedef struct wtensor {
    char *name;
    qvl_dtype type;
    int n_dims;
    int64_t ne[GGUF_MAX_DIMS];
    size_t nbytes;
    uint64_t offset;   /* in the data section */
} wtensor;

struct gguf_writer {
    char *path, *tmp_path;
    FILE *f;
    uint8_t *kv;          /* serialized metadata entries */
    size_t kv_len, kv_cap;
    char **keys;          /* for the duplicate check */
    size_t n_kv;
    wtensor *tensors;
    size_t n_tensors, cap_tensors;
    uint64_t data_size;   /* data section size so far (padded) */
    uint64_t data_left;   /* declared tensor bytes not yet written */
    size_t cur;           /* tensor being written */
    size_t cur_done;      /* bytes of it written */
    bool broken;          /* an I/O or memory error left the output incomplete */
};

/* Argument errors leave the writer as it was; I/O and memory errors break it
 * for good, and every later call reports that. */
static int broken(gguf_writer *w, qvl_error *err) {
    return qvl_fail_code(err, QVL_E_GENERIC, "%s: an earlier write error left the file incomplete", w->path);
}

gguf_writer *gguf_writer_open(const char *path, qvl_error *err) {
    gguf_writer *w = calloc(1, sizeof *w);
    size_t n = strlen(path);
    if (w) {
        w->path = strdup(path);
        w->tmp_path = malloc(n + 32);
    }
    if (!w || !w->path || !w->tmp_path) {
        gguf_writer_abort(w);
        qvl_fail_code(err, QVL_E_NOMEM, "%s: out of memory", path);
        return NULL;
    }
    /* The process id keeps two processes writing the same file (replicas
     * quantizing into one shared cache) from writing into each other's
     * temporary file; the last rename wins with a whole file. */
    snprintf(w->tmp_path, n + 32, "%s.%ld.tmp", path, (long)getpid());
    return w;
}

void gguf_writer_abort(gguf_writer *w) {
    if (!w) return;
    if (w->f) {
        fclose(w->f);
        unlink(w->tmp_path);
    }
    for (size_t i = 0; i < w->n_kv; i++) free(w->keys[i]);
    for (size_t i = 0; i < w->n_tensors; i++) free(w->tensors[i].name);
    free(w->keys);
    free(w->tensors);
    free(w->kv);
    free(w->path);
    free(w->tmp_path);
    free(w);
}

/* ------------------------------------------------------------------ */
/* Metadata                                                            */
/* ------------------------------------------------------------------ */

static int put(gguf_writer *w, const void *p, size_t n, qvl_error *err) {
    if (n == 0) return 0;
    if (n > w->kv_cap - w->kv_len) {
        size_t cap = w->kv_cap ? w->kv_cap : 4096;
        while (cap - w->kv_len < n) cap *= 2;
        uint8_t *nk = realloc(w->kv, cap);
        if (!nk) {
            w->broken = true;
            return qvl_fail_code(err, QVL_E_NOMEM, "%s: out of memory for metadata", w->path);
        }
        w->kv = nk;
        w->kv_cap = cap;
    }
    memcpy(w->kv + w->kv_len, p, n);
    w->kv_len += n;
    return 0;
}

static int put_u32(gguf_writer *w, uint32_t v, qvl_error *err) { return put(w, &v, 4, err); }
static int put_u64(gguf_writer *w, uint64_t v, qvl_error *err) { return put(w, &v, 8, err); }

static int put_str(gguf_writer *w, const char *s, size_t len, qvl_error *err) {
    if (put_u64(w, len, err) < 0) return -1;
    return put(w, s, len, err);
}

/* Starts an entry: checks the key is new, then writes key and type. The
 * caller writes the value; a failure half-way leaves the writer unusable,
 * which the header documents. */
static int begin_kv(gguf_writer *w, const char *key, gguf_type type, qvl_error *err) {
    if (w->broken) return broken(w, err);
    if (!strcmp(key, "general.alignment"))
        return qvl_fail_code(err, QVL_E_GENERIC, "%s: key 'general.alignment': the writer always aligns to %d",
                             w->path, ALIGN);
    for (size_t i = 0; i < w->n_kv; i++)
        if (!strcmp(w->keys[i], key))
            return qvl_fail_code(err, QVL_E_GENERIC, "%s: duplicate key '%s'", w->path, key);
    if (w->f) return qvl_fail_code(err, QVL_E_GENERIC, "%s: key '%s' added after the header was written", w->path, key);
    char **nk = realloc(w->keys, (w->n_kv + 1) * sizeof *nk);
    if (nk) w->keys = nk;
    if (!nk || !(w->keys[w->n_kv] = strdup(key))) {
        w->broken = true;
        return qvl_fail_code(err, QVL_E_NOMEM, "%s: out of memory", w->path);
    }
    w->n_kv++;
    if (put_str(w, key, strlen(key), err) < 0) return -1;
    return put_u32(w, (uint32_t)type, err);
}

static int add_scalar(gguf_writer *w, const char *key, gguf_type t, const void *v, size_t n, qvl_error *err) {
    if (begin_kv(w, key, t, err) < 0) return -1;
    return put(w, v, n, err);
}

int gguf_writer_add_u32(gguf_writer *w, const char *key, uint32_t v, qvl_error *err) {
    return add_scalar(w, key, GGUF_U32, &v, 4, err);
}

int gguf_writer_add_i32(gguf_writer *w, const char *key, int32_t v, qvl_error *err) {
    return add_scalar(w, key, GGUF_I32, &v, 4, err);
}

int gguf_writer_add_u64(gguf_writer *w, const char *key, uint64_t v, qvl_error *err) {
    return add_scalar(w, key, GGUF_U64, &v, 8, err);
}

int gguf_writer_add_f32(gguf_writer *w, const char *key, float v, qvl_error *err) {
    return add_scalar(w, key, GGUF_F32, &v, 4, err);
}

int gguf_writer_add_bool(gguf_writer *w, const char *key, bool v, qvl_error *err) {
    uint8_t b = v;
    return add_scalar(w, key, GGUF_BOOL, &b, 1, err);
}

int gguf_writer_add_str(gguf_writer *w, const char *key, const char *v, qvl_error *err) {
    if (begin_kv(w, key, GGUF_STRING, err) < 0) return -1;
    return put_str(w, v, strlen(v), err);
}

static int begin_array(gguf_writer *w, const char *key, gguf_type elem, size_t n, qvl_error *err) {
    if (begin_kv(w, key, GGUF_ARRAY, err) < 0 || put_u32(w, (uint32_t)elem, err) < 0) return -1;
    return put_u64(w, n, err);
}

int gguf_writer_add_str_array(gguf_writer *w, const char *key, const char *const *v, size_t n,
                              qvl_error *err) {
    if (begin_array(w, key, GGUF_STRING, n, err) < 0) return -1;
    for (size_t i = 0; i < n; i++)
        if (put_str(w, v[i], strlen(v[i]), err) < 0) return -1;
    return 0;
}

int gguf_writer_add_str_array_n(gguf_writer *w, const char *key, const gguf_str *v, size_t n,
                                qvl_error *err) {
    if (begin_array(w, key, GGUF_STRING, n, err) < 0) return -1;
    for (size_t i = 0; i < n; i++)
        if (put_str(w, v[i].ptr, v[i].len, err) < 0) return -1;
    return 0;
}

int gguf_writer_add_i32_array(gguf_writer *w, const char *key, const int32_t *v, size_t n, qvl_error *err) {
    if (begin_array(w, key, GGUF_I32, n, err) < 0) return -1;
    return put(w, v, n * 4, err);
}

int gguf_writer_add_f32_array(gguf_writer *w, const char *key, const float *v, size_t n, qvl_error *err) {
    if (begin_array(w, key, GGUF_F32, n, err) < 0) return -1;
    return put(w, v, n * 4, err);
}

int gguf_writer_add_bool_array(gguf_writer *w, const char *key, const bool *v, size_t n, qvl_error *err) {
    if (begin_array(w, key, GGUF_BOOL, n, err) < 0) return -1;
    for (size_t i = 0; i < n; i++) {
        uint8_t b = v[i];
        if (put(w, &b, 1, err) < 0) return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Tensors                                                             */
/* ------------------------------------------------------------------ */

static uint64_t pad_to_align(uint64_t n) { return (ALIGN - n % ALIGN) % ALIGN; }

int gguf_writer_add_tensor(gguf_writer *w, const char *name, qvl_dtype type, const int64_t *ne, int n_dims,
                           qvl_error *err) {
    const dtype_info *ti = dtype_get((uint32_t)type);
    if (w->broken) return broken(w, err);
    if (w->f) return qvl_fail_code(err, QVL_E_GENERIC, "%s: tensor '%s' added after data was written", w->path, name);
    if (!ti) return qvl_fail_code(err, QVL_E_GENERIC, "%s: tensor '%s': unknown type %d", w->path, name, (int)type);
    if (n_dims < 1 || n_dims > GGUF_MAX_DIMS)
        return qvl_fail_code(err, QVL_E_GENERIC, "%s: tensor '%s': n_dims %d not in 1..4", w->path, name, n_dims);
    wtensor t = {.type = type, .n_dims = n_dims, .ne = {1, 1, 1, 1}};
    uint64_t rows = 1;
    for (int d = 0; d < n_dims; d++) {
        if (ne[d] < 1) return qvl_fail_code(err, QVL_E_GENERIC, "%s: tensor '%s': ne[%d] < 1", w->path, name, d);
        t.ne[d] = ne[d];
        if (d > 0) rows *= (uint64_t)ne[d];
    }
    if (ne[0] % ti->block_size)
        return qvl_fail_code(err, QVL_E_GENERIC, "%s: tensor '%s': ne[0] = %lld is not a multiple of %d (%s)", w->path,
                             name, (long long)ne[0], ti->block_size, ti->name);
    t.nbytes = dtype_row_bytes(type, ne[0]) * rows;
    for (size_t i = 0; i < w->n_tensors; i++)
        if (!strcmp(w->tensors[i].name, name))
            return qvl_fail_code(err, QVL_E_GENERIC, "%s: duplicate tensor name '%s'", w->path, name);
    if (w->n_tensors == w->cap_tensors) {
        size_t cap = w->cap_tensors ? 2 * w->cap_tensors : 64;
        wtensor *nt = realloc(w->tensors, cap * sizeof *nt);
        if (!nt) return qvl_fail_code(err, QVL_E_NOMEM, "%s: out of memory", w->path);
        w->tensors = nt;
        w->cap_tensors = cap;
    }
    if (!(t.name = strdup(name))) return qvl_fail_code(err, QVL_E_NOMEM, "%s: out of memory", w->path);
    t.offset = w->data_size;
    w->data_left += t.nbytes;
    w->data_size += t.nbytes + pad_to_align(t.nbytes);
    w->tensors[w->n_tensors++] = t;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Output                                                              */
/* ------------------------------------------------------------------ */

static int io_fail(gguf_writer *w, qvl_error *err) {
    w->broken = true;
    return qvl_fail_code(err, QVL_E_IO, "%s: write failed: %s", w->tmp_path, strerror(errno ? errno : EIO));
}

static int out(gguf_writer *w, const void *p, size_t n, qvl_error *err) {
    errno = 0;
    if (n && fwrite(p, 1, n, w->f) != n) return io_fail(w, err);
    return 0;
}

static int out_zeros(gguf_writer *w, uint64_t n, qvl_error *err) {
    static const uint8_t zeros[ALIGN];
    return out(w, zeros, (size_t)n, err);
}

/* Writes everything up to the data section into a fresh path.tmp. */
static int write_header(gguf_writer *w, qvl_error *err) {
    w->f = fopen(w->tmp_path, "wb");
    if (!w->f) return qvl_fail_code(err, QVL_E_IO, "%s: cannot create: %s", w->tmp_path, strerror(errno));
    uint32_t head32[2] = {0x46554747u, 3};
    uint64_t counts[2] = {w->n_tensors, w->n_kv};
    uint64_t pos = sizeof head32 + sizeof counts + w->kv_len;
    if (out(w, head32, sizeof head32, err) < 0 || out(w, counts, sizeof counts, err) < 0 ||
        out(w, w->kv, w->kv_len, err) < 0)
        return -1;
    for (size_t i = 0; i < w->n_tensors; i++) {
        const wtensor *t = &w->tensors[i];
        uint64_t len = strlen(t->name);
        uint32_t nd = (uint32_t)t->n_dims, type = (uint32_t)t->type;
        if (out(w, &len, 8, err) < 0 || out(w, t->name, len, err) < 0 || out(w, &nd, 4, err) < 0 ||
            out(w, t->ne, 8 * nd, err) < 0 || out(w, &type, 4, err) < 0 || out(w, &t->offset, 8, err) < 0)
            return -1;
        pos += 8 + len + 4 + 8 * nd + 4 + 8;
    }
    return out_zeros(w, pad_to_align(pos), err);
}

int gguf_writer_write(gguf_writer *w, const void *data, size_t len, qvl_error *err) {
    if (w->broken) return broken(w, err);
    if (len > w->data_left)
        return qvl_fail_code(err, QVL_E_GENERIC, "%s: %zu bytes given, more than the %" PRIu64 " the declared tensors still hold",
                             w->path, len, w->data_left);
    if (!w->f && write_header(w, err) < 0) return -1;
    const uint8_t *p = data;
    w->data_left -= len;
    while (len > 0) {
        wtensor *t = &w->tensors[w->cur];
        size_t n = t->nbytes - w->cur_done < len ? t->nbytes - w->cur_done : len;
        if (out(w, p, n, err) < 0) return -1;
        p += n;
        len -= n;
        w->cur_done += n;
        if (w->cur_done == t->nbytes) {
            if (out_zeros(w, pad_to_align(t->nbytes), err) < 0) return -1;
            w->cur++;
            w->cur_done = 0;
        }
    }
    return 0;
}

int gguf_writer_finish(gguf_writer *w, qvl_error *err) {
    int rc = -1;
    if (w->broken) {
        broken(w, err);
        goto done;
    }
    if (!w->f && write_header(w, err) < 0) goto done;
    if (w->cur < w->n_tensors) {
        qvl_fail_code(err, QVL_E_GENERIC, "%s: tensor '%s' got %zu of %zu bytes", w->path, w->tensors[w->cur].name,
                      w->cur_done, w->tensors[w->cur].nbytes);
        goto done;
    }
    errno = 0;
    if (fflush(w->f) != 0 || fsync(fileno(w->f)) != 0) {
        io_fail(w, err);
        goto done;
    }
    FILE *f = w->f;
    w->f = NULL;
    if (fclose(f) != 0) {
        io_fail(w, err);
        unlink(w->tmp_path);
        goto done;
    }
    if (rename(w->tmp_path, w->path) != 0) {
        qvl_fail_code(err, QVL_E_IO, "%s: cannot rename %s: %s", w->path, w->tmp_path, strerror(errno));
        unlink(w->tmp_path);
        goto done;
    }
    rc = 0;
done:
    gguf_writer_abort(w);
    return rc;
}
