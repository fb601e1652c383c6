/* test_gguf_hostile.c - malformed GGUF files must fail cleanly.
 *
 * A small valid file is written with our writer into a fresh temporary
 * directory; each case patches one field of it (located by searching for the
 * key or tensor name next to it), writes the result and expects gguf_open to
 * fail with a message that names the file and the problem. Then every
 * truncation of the header region, and 2000 random mutations that must
 * either load (and then hold only in-bounds views) or fail cleanly. Run
 * under ASan/UBSan by `make test`. */
#include "check.h"

#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "format/gguf.h"

static char dir[] = "/tmp/qvl_hostile_XXXXXX";
static char path[256];
static uint8_t *base;
static size_t base_len, data_offset;

static void write_file(const uint8_t *p, size_t n) {
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    CHECK(fwrite(p, 1, n, f) == n);
    fclose(f);
}

/* Offset of the first occurrence of s in the base file. */
static size_t find(const char *s) {
    size_t n = strlen(s);
    for (size_t i = 0; i + n <= base_len; i++)
        if (!memcmp(base + i, s, n)) return i;
    fprintf(stderr, "anchor '%s' not found\n", s);
    exit(1);
}

static void make_base(void) {
    qvl_error err = {0};
    snprintf(path, sizeof path, "%s/base.gguf", dir);
    gguf_writer *w = gguf_writer_open(path, &err);
    const char *strs[] = {"ab", "cd"};
    int32_t arr[] = {1, 2, 3};
    int64_t ne1[1] = {8}, ne2[2] = {32, 2}, ne3[2] = {4, 2};
    int ok = w && !gguf_writer_add_str(w, "general.architecture", "qwen3vl", &err) &&
             /* renamed to general.alignment below (the writer refuses it) */
             !gguf_writer_add_u32(w, "general.alignmenX", 32, &err) &&
             !gguf_writer_add_i32_array(w, "x.arr", arr, 3, &err) &&
             !gguf_writer_add_str_array(w, "x.strs", strs, 2, &err) &&
             !gguf_writer_add_bool(w, "x.flag", true, &err) && !gguf_writer_add_u32(w, "x.dup1", 1, &err) &&
             !gguf_writer_add_u32(w, "x.dup2", 2, &err) &&
             !gguf_writer_add_tensor(w, "t.one", DT_F32, ne1, 1, &err) &&
             !gguf_writer_add_tensor(w, "t.two", DT_Q8_0, ne2, 2, &err) &&
             !gguf_writer_add_tensor(w, "t.thr", DT_F16, ne3, 2, &err);
    uint8_t data[32 + 68 + 16];
    for (size_t i = 0; i < sizeof data; i++) data[i] = (uint8_t)(i * 7);
    ok = ok && !gguf_writer_write(w, data, sizeof data, &err) && !gguf_writer_finish(w, &err);
    if (!ok) {
        fprintf(stderr, "cannot write the base file: %s\n", err.msg);
        exit(1);
    }
    size_t len;
    base = (uint8_t *)read_file_text(path, 1 << 20, &len, &err);
    base_len = len;
    memcpy(base + find("general.alignmenX"), "general.alignment", 17);
    write_file(base, base_len);
    gguf_file g;
    CHECK_MSG(gguf_open(&g, path, &err) == 0, "base file: %s", err.msg);
    CHECK(g.n_tensors == 3 && g.alignment == 32);
    data_offset = g.data_offset;
    gguf_close(&g);
}

/* Writes buf and expects gguf_open to fail mentioning the file and
 * `expect`. Returns 1 if it behaved. */
static int expect_fail(const uint8_t *buf, size_t len, const char *what, const char *expect) {
    gguf_file g;
    qvl_error err = {0};
    write_file(buf, len);
    int rc = gguf_open(&g, path, &err);
    if (rc == 0) {
        gguf_close(&g);
        CHECK_MSG(0, "%s: loaded", what);
        return 0;
    }
    int ok = strstr(err.msg, path) == err.msg && strstr(err.msg, expect) != NULL && g.map.data == NULL;
    CHECK_MSG(ok, "%s: message \"%s\" lacks \"%s\"", what, err.msg, expect);
    return ok;
}

typedef struct hostile {
    const char *what;
    const char *anchor;   /* NULL: offset from file start */
    int delta;            /* from the anchor's first byte */
    int width;            /* 1, 4, 8: integer patch; 0: `bytes` */
    uint64_t value;
    bool add;             /* value is added to the present one */
    const char *bytes;
    const char *expect;
} hostile;

static const hostile cases[] = {
    {"bad magic", NULL, 0, 4, 0x46554748, false, NULL, "not a GGUF file (bad magic)"},
    {"version 1", NULL, 4, 4, 1, false, NULL, "GGUF version 1 is not supported"},
    {"version 4", NULL, 4, 4, 4, false, NULL, "GGUF version 4 is not supported"},
    {"big-endian", NULL, 4, 4, 0x03000000, false, NULL, "big-endian"},
    {"huge n_tensors", NULL, 8, 8, 1ull << 62, false, NULL, "tensors cannot fit"},
    {"huge n_kv", NULL, 16, 8, 1ull << 40, false, NULL, "metadata entries cannot fit"},
    {"n_kv one too many", NULL, 16, 8, 1, true, NULL, ""},
    {"n_tensors one too many", NULL, 8, 8, 1, true, NULL, "tensor"},
    {"key length past EOF", "general.architecture", -8, 8, 1ull << 40, false, NULL, "runs past the end of the file"},
    {"key length max", "general.architecture", -8, 8, UINT64_MAX, false, NULL, "runs past the end of the file"},
    {"empty key", "general.architecture", -8, 8, 0, false, NULL, "key '': key at offset 24 is empty"},
    {"string value past EOF", "qwen3vl", -8, 8, 1ull << 50, false, NULL, "key 'general.architecture'"},
    {"array count overflow", "x.arr", 13, 8, (1ull << 62) + 1, false, NULL, "key 'x.arr'"},
    {"string array count huge", "x.strs", 14, 8, 1ull << 61, false, NULL, "strings cannot fit"},
    {"string element past EOF", "ab", -8, 8, 1ull << 33, false, NULL, "key 'x.strs'"},
    {"unknown value type", "x.flag", 6, 4, 99, false, NULL, "unknown value type 99"},
    {"unknown element type", "x.arr", 9, 4, 13, false, NULL, "unknown array element value type 13"},
    {"nested array", "x.arr", 9, 4, 9, false, NULL, "nested arrays are not supported"},
    {"bool not 0/1", "x.flag", 10, 1, 2, false, NULL, "bool value 2"},
    {"duplicate key", "x.dup2", 0, 0, 0, false, "x.dup1", "duplicate key 'x.dup1'"},
    {"key with NUL", "x.dup2", 1, 0, 0, false, "\0", "key 'x?dup2': key at offset"},
    {"alignment 0", "general.alignment", 21, 4, 0, false, NULL, "key 'general.alignment': 0 is not a power of two"},
    {"alignment 48", "general.alignment", 21, 4, 48, false, NULL, "48 is not a power of two"},
    {"alignment as i32", "general.alignment", 17, 4, 5, false, NULL, "type i32, expected u32"},
    {"alignment 64", "general.alignment", 21, 4, 64, false, NULL, "alignment 64"},
    {"n_dims 0", "t.one", 5, 4, 0, false, NULL, "tensor 't.one': n_dims 0 is not in 1..4"},
    {"n_dims 5", "t.one", 5, 4, 5, false, NULL, "n_dims 5 is not in 1..4"},
    {"n_dims huge", "t.two", 5, 4, 0xFFFFFFFF, false, NULL, "n_dims 4294967295"},
    {"ne 0", "t.one", 9, 8, 0, false, NULL, "ne[0] = 0 is 0"},
    {"ne negative as i64", "t.one", 9, 8, 1ull << 63, false, NULL, "overflow"},
    {"element count overflow", "t.two", 17, 8, 1ull << 62, false, NULL, "ne[1] = 4611686018427387904"},
    {"byte size overflow", "t.one", 9, 8, 1ull << 62, false, NULL, "tensor 't.one': byte size overflows"},
    {"retired ggml type", "t.one", 17, 4, 4, false, NULL, "unknown or unsupported ggml type 4"},
    {"unsupported ggml type", "t.one", 17, 4, 16, false, NULL, "ggml type 16"},
    {"huge ggml type", "t.one", 17, 4, 0x80000000u, false, NULL, "ggml type 2147483648"},
    {"ne[0] not a block multiple", "t.two", 9, 8, 33, false, NULL, "ne[0] = 33 is not a multiple of the Q8_0 block size 32"},
    {"misaligned offset", "t.thr", 29, 8, 4, true, NULL, "tensor 't.thr': offset 132 is not a multiple of the alignment 32"},
    {"data past EOF", "t.thr", 29, 8, 1 << 20, true, NULL, "lies outside the file"},
    {"offset near 2^64", "t.thr", 29, 8, 0xFFFFFFFFFFFFFFE0ull, false, NULL, "lies outside the file"},
    {"overlapping tensors", "t.thr", 29, 8, 0, false, NULL, "tensors 't.one' and 't.thr' overlap"},
    {"overlap by one block", "t.two", 29, 8, 0, false, NULL, "tensors 't.one' and 't.two' overlap"},
    {"duplicate tensor name", "t.thr", 0, 0, 0, false, "t.one", "duplicate tensor name 't.one'"},
    {"tensor name with NUL", "t.thr", 1, 0, 0, false, "\0", "tensor 't?thr': name empty"},
    {"tensor name length huge", "t.two", -8, 8, 1ull << 40, false, NULL, "tensor info 1"},
};

static void test_cases(void) {
    int passed = 0;
    size_t n = sizeof cases / sizeof cases[0];
    uint8_t *buf = malloc(base_len);
    for (size_t k = 0; k < n; k++) {
        const hostile *h = &cases[k];
        memcpy(buf, base, base_len);
        size_t at = (h->anchor ? find(h->anchor) : 0) + (size_t)(ptrdiff_t)h->delta;
        if (h->width == 0) {
            memcpy(buf + at, h->bytes, h->bytes[0] ? strlen(h->bytes) : 1);
        } else {
            uint64_t v = 0;
            memcpy(&v, buf + at, (size_t)h->width);
            v = h->add ? v + h->value : h->value;
            memcpy(buf + at, &v, (size_t)h->width);
        }
        passed += expect_fail(buf, base_len, h->what, h->expect);
    }
    passed += expect_fail(base, 0, "empty file", "bad magic");
    passed += expect_fail(base, 3, "3 bytes", "bad magic");
    passed += expect_fail(base, data_offset + 143, "last data byte missing", "tensor 't.thr': data [128..144)");
    fprintf(stderr, "  %d of %zu malformed files refused with the expected message\n", passed, n + 3);
    free(buf);
}

static void test_truncations(void) {
    int refused = 0;
    for (size_t len = 0; len < data_offset + 16; len++) refused += expect_fail(base, len, "truncated", "");
    fprintf(stderr, "  %d truncations of the first %zu bytes refused\n", refused, data_offset + 16);
}

/* ---------------------------------------------------------------- */

static uint64_t rng = 0x243F6A8885A308D3ull;

static uint32_t next(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 32);
}

static int in_map(const gguf_file *g, const void *p, size_t n) {
    const uint8_t *b = g->map.data, *q = p;
    return q >= b && n <= g->map.size && (size_t)(q - b) <= g->map.size - n;
}

/* Touches everything a loaded file hands out. Returns 0 if it is sound. */
static int walk(const gguf_file *g) {
    int bad = 0;
    volatile uint8_t sink = 0;
    for (size_t i = 0; i < g->n_tensors; i++) {
        const qvl_tensor *t = &g->tensors[i];
        bad |= !in_map(g, t->data, t->nbytes) || t->nbytes == 0;
        bad |= gguf_find_tensor(g, t->name) != t;
        if (!bad) sink ^= ((const uint8_t *)t->data)[0] ^ ((const uint8_t *)t->data)[t->nbytes - 1];
    }
    for (size_t i = 0; i < g->n_kv; i++) {
        const gguf_kv *kv = &g->kvs[i];
        qvl_error err;
        int64_t v;
        double f;
        bool b;
        gguf_str s;
        bad |= !in_map(g, kv->key.ptr, kv->key.len);
        for (uint64_t e = 0; e < kv->count && e < 3; e++) {
            gguf_kv_int(g, kv, e, INT64_MIN, INT64_MAX, &v, &err);
            gguf_kv_float(g, kv, e, &f, &err);
            gguf_kv_bool(g, kv, e, &b, &err);
            if (gguf_kv_str(g, kv, e, &s, &err) == 0) bad |= !in_map(g, s.ptr, s.len);
        }
    }
    (void)sink;
    return bad;
}

static void test_mutations(void) {
    uint8_t *buf = malloc(base_len);
    int loaded = 0, refused = 0, unsound = 0, unnamed = 0;
    for (int it = 0; it < 2000; it++) {
        memcpy(buf, base, base_len);
        size_t len = base_len;
        int n_mut = 1 + (int)(next() % 4);
        for (int m = 0; m < n_mut; m++) {
            size_t span = next() % 4 ? data_offset : base_len;
            size_t at = next() % span;
            static const uint8_t special[] = {0x00, 0xFF, 0x80, 0x7F, 0x01, 0x20};
            buf[at] = next() % 2 ? (uint8_t)next() : special[next() % sizeof special];
        }
        if (next() % 10 == 0) len = next() % base_len;
        write_file(buf, len);
        gguf_file g;
        qvl_error err = {0};
        if (gguf_open(&g, path, &err) == 0) {
            loaded++;
            unsound += walk(&g);
            gguf_close(&g);
        } else {
            refused++;
            unnamed += strstr(err.msg, path) != err.msg;
        }
    }
    fprintf(stderr, "  2000 random mutations: %d loaded, %d refused\n", loaded, refused);
    CHECK_EQ_INT(loaded + refused, 2000);
    CHECK_EQ_INT(unsound, 0);
    CHECK_EQ_INT(unnamed, 0);
    CHECK(refused > 100);
    free(buf);
}

int main(void) {
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    make_base();
    test_cases();
    test_truncations();
    test_mutations();
    unlink(path);
    rmdir(dir);
    free(base);
    return check_summary();
}
