/* test_gguf.c - reading the shared llama.cpp GGUF files, the metadata
 * getters, and a write -> read round trip through the writer. */
#include "check.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "format/gguf.h"
#include "load/test_weights.h"

static int open_testdata(gguf_file *g, const char *name) {
    char path[512];
    qvl_error err = {0};
    snprintf(path, sizeof path, "%s/gguf/%s", testdata_dir(), name);
    int rc = gguf_open(g, path, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    return rc;
}

static void check_tensor(const gguf_file *g, const char *name, qvl_dtype type, int n_dims, int64_t ne0, int64_t ne1) {
    const qvl_tensor *t = gguf_find_tensor(g, name);
    CHECK_MSG(t != NULL, "tensor %s missing", name);
    if (!t) return;
    CHECK_STR(t->name, name);
    CHECK_MSG(t->type == type, "%s: type %s", name, dtype_get(t->type)->name);
    CHECK_EQ_INT(t->n_dims, n_dims);
    CHECK_EQ_INT(t->ne[0], ne0);
    CHECK_EQ_INT(t->ne[1], ne1);
    CHECK_EQ_INT(t->nbytes, dtype_row_bytes(type, ne0) * (size_t)tensor_nrows(t));
    CHECK((uintptr_t)t->data % 32 == 0);
}

static void check_str(const gguf_file *g, const char *key, const char *want) {
    gguf_str s = {0};
    qvl_error err = {0};
    CHECK_MSG(gguf_get_str(g, key, &s, &err) == 0, "%s", err.msg);
    CHECK_MSG(gguf_str_eq(s, want), "%s = '%.*s'", key, (int)s.len, s.ptr ? s.ptr : "");
}

static int64_t get_int(const gguf_file *g, const char *key) {
    int64_t v = -999;
    qvl_error err = {0};
    CHECK_MSG(gguf_get_int(g, key, INT64_MIN, INT64_MAX, &v, &err) == 0, "%s", err.msg);
    return v;
}

static void test_text_q8(void) {
    gguf_file g;
    qvl_error err = {0};
    clock_t t0 = clock();
    if (open_testdata(&g, "tiny-Q8_0.gguf")) return;
    fprintf(stderr, "  opened tiny-Q8_0.gguf in %.1f ms\n", (double)(clock() - t0) * 1e3 / CLOCKS_PER_SEC);
    CHECK_EQ_INT(g.version, 3);
    CHECK_EQ_INT(g.alignment, 32);
    CHECK_EQ_INT(g.n_tensors, 46);
    check_str(&g, "general.architecture", "qwen3vl");
    check_str(&g, "tokenizer.ggml.model", "gpt2");
    CHECK_EQ_INT(get_int(&g, "qwen3vl.block_count"), 4);
    CHECK_EQ_INT(get_int(&g, "qwen3vl.embedding_length"), 128);
    CHECK_EQ_INT(get_int(&g, "qwen3vl.attention.head_count_kv"), 2);
    CHECK_EQ_INT(get_int(&g, "tokenizer.ggml.eos_token_id"), 151645);
    CHECK_EQ_INT(get_int(&g, "general.sampling.top_k"), 20);   /* an i32 key */
    double f = 0;
    CHECK(gguf_get_float(&g, "qwen3vl.rope.freq_base", &f, &err) == 0 && f == 5e6);
    CHECK(gguf_get_float(&g, "qwen3vl.attention.layer_norm_rms_epsilon", &f, &err) == 0 && f == (double)1e-6f);
    bool b = true;
    CHECK(gguf_get_bool(&g, "tokenizer.ggml.add_bos_token", &b, &err) == 0 && !b);

    /* the M-RoPE sections, an i32 array */
    const gguf_kv *kv = NULL;
    CHECK(gguf_get_array(&g, "qwen3vl.rope.dimension_sections", &kv, &err) == 0);
    if (kv) {
        CHECK(kv->elem_type == GGUF_I32 && kv->count == 4);
        static const int64_t want[4] = {6, 5, 5, 0};
        for (int i = 0; i < 4; i++) {
            int64_t v = -1;
            CHECK(gguf_kv_int(&g, kv, (uint64_t)i, 0, 100, &v, &err) == 0 && v == want[i]);
        }
        int64_t v;
        CHECK(gguf_kv_int(&g, kv, 4, 0, 100, &v, &err) == -1);
        CHECK(strstr(err.msg, "index 4 out of range") != NULL);
    }

    /* the vocabulary: strings without copies */
    const gguf_str *tok = NULL;
    size_t n = 0;
    CHECK_MSG(gguf_get_str_array(&g, "tokenizer.ggml.tokens", &tok, &n, &err) == 0, "%s", err.msg);
    CHECK_EQ_INT(n, 151936);
    if (n == 151936) {
        CHECK(gguf_str_eq(tok[0], "!"));
        CHECK(gguf_str_eq(tok[151645], "<|im_end|>"));
        CHECK(gguf_str_eq(tok[151655], "<|image_pad|>"));
        CHECK(tok[1].ptr > tok[0].ptr && tok[1].ptr < (const char *)g.map.data + g.map.size);
    }
    CHECK(gguf_get_str_array(&g, "tokenizer.ggml.merges", &tok, &n, &err) == 0 && n == 151387);
    if (n == 151387) CHECK(gguf_str_eq(tok[0], "Ġ Ġ"));
    CHECK(gguf_get_array(&g, "tokenizer.ggml.token_type", &kv, &err) == 0 && kv->count == 151936);
    int64_t tt = 0;
    CHECK(gguf_kv_int(&g, kv, 151645, 0, 10, &tt, &err) == 0 && tt == 3);   /* control token */

    /* getter failures name the file and key */
    int64_t v = 0;
    CHECK(gguf_get_int(&g, "qwen3vl.block_count", 5, 10, &v, &err) == -1);
    CHECK(strstr(err.msg, "tiny-Q8_0.gguf: key 'qwen3vl.block_count': value 4 outside [5, 10]") != NULL);
    CHECK(gguf_get_int(&g, "general.architecture", 0, 10, &v, &err) == -1);
    CHECK(strstr(err.msg, "has type string, expected an integer") != NULL);
    CHECK(gguf_get_int(&g, "no.such.key", 0, 10, &v, &err) == -1);
    CHECK(strstr(err.msg, "tiny-Q8_0.gguf: key 'no.such.key' is missing") != NULL);
    CHECK(gguf_get_int(&g, "qwen3vl.rope.dimension_sections", 0, 10, &v, &err) == -1);
    CHECK(strstr(err.msg, "is an array") != NULL);
    CHECK(gguf_get_float(&g, "qwen3vl.block_count", &f, &err) == -1);
    CHECK(gguf_get_str_array(&g, "tokenizer.ggml.token_type", &tok, &n, &err) == -1);
    CHECK(strstr(err.msg, "is an array of i32, expected strings") != NULL);
    CHECK(v == 0);

    check_tensor(&g, "token_embd.weight", DT_Q8_0, 2, 128, 151936);
    check_tensor(&g, "blk.3.ffn_down.weight", DT_Q8_0, 2, 256, 128);
    check_tensor(&g, "blk.0.attn_k.weight", DT_Q8_0, 2, 128, 64);
    check_tensor(&g, "output_norm.weight", DT_F32, 1, 128, 1);
    CHECK(gguf_find_tensor(&g, "output.weight") == NULL);   /* tied embeddings */
    CHECK(gguf_find_tensor(&g, "blk.4.attn_q.weight") == NULL);

    /* a norm's F32 values are the formula's */
    const qvl_tensor *t = gguf_find_tensor(&g, "blk.1.attn_norm.weight");
    if (t) {
        float want[128];
        int64_t shape[1] = {128};
        test_weights_fill("model.language_model.layers.1.input_layernorm.weight", shape, 1, 0, 128, want);
        CHECK(memcmp(t->data, want, sizeof want) == 0);
    }
    gguf_close(&g);
    CHECK(g.map.data == NULL && g.tensors == NULL);
    gguf_close(&g);   /* idempotent */
}

static void test_text_q4km(void) {
    gguf_file g;
    if (open_testdata(&g, "tiny-Q4_K_M.gguf")) return;
    CHECK_EQ_INT(g.n_tensors, 46);
    check_str(&g, "general.architecture", "qwen3vl");
    CHECK_EQ_INT(get_int(&g, "general.file_type"), 15);   /* MOSTLY_Q4_K_M */
    check_tensor(&g, "token_embd.weight", DT_Q8_0, 2, 128, 151936);
    check_tensor(&g, "blk.0.attn_q.weight", DT_Q5_0, 2, 128, 128);
    check_tensor(&g, "blk.0.ffn_gate.weight", DT_Q5_0, 2, 128, 256);
    check_tensor(&g, "blk.0.ffn_down.weight", DT_Q4_K, 2, 256, 128);
    check_tensor(&g, "blk.3.ffn_down.weight", DT_Q6_K, 2, 256, 128);
    check_tensor(&g, "blk.2.ffn_norm.weight", DT_F32, 1, 128, 1);
    int count[DT_COUNT] = {0};
    for (size_t i = 0; i < g.n_tensors; i++) count[g.tensors[i].type]++;
    fprintf(stderr, "  Q4_K_M tensor types: F32 %d, Q8_0 %d, Q5_0 %d, Q4_K %d, Q6_K %d\n", count[DT_F32],
            count[DT_Q8_0], count[DT_Q5_0], count[DT_Q4_K], count[DT_Q6_K]);
    CHECK(count[DT_F32] + count[DT_Q8_0] + count[DT_Q5_0] + count[DT_Q4_K] + count[DT_Q6_K] == 46);
    CHECK(count[DT_Q4_K] == 2 && count[DT_Q6_K] == 2 && count[DT_Q8_0] == 3 && count[DT_Q5_0] == 22);
    check_tensor(&g, "blk.2.attn_v.weight", DT_Q8_0, 2, 128, 64);
    gguf_close(&g);
}

static void test_mmproj(void) {
    gguf_file g;
    qvl_error err = {0};
    if (open_testdata(&g, "tiny-mmproj-F16.gguf")) return;
    CHECK_EQ_INT(g.n_tensors, 76);
    check_str(&g, "general.architecture", "clip");
    check_str(&g, "general.type", "mmproj");
    check_str(&g, "clip.projector_type", "qwen3vl_merger");
    CHECK_EQ_INT(get_int(&g, "clip.vision.patch_size"), 16);
    CHECK_EQ_INT(get_int(&g, "clip.vision.block_count"), 4);
    const gguf_kv *kv = NULL;
    CHECK(gguf_get_array(&g, "clip.vision.is_deepstack_layers", &kv, &err) == 0);
    if (kv) {
        CHECK(kv->elem_type == GGUF_BOOL && kv->count == 4);
        for (uint64_t i = 0; i < kv->count; i++) {
            bool b = false;
            CHECK(gguf_kv_bool(&g, kv, i, &b, &err) == 0 && b == (i < 3));   /* layers 0,1,2 */
        }
    }
    CHECK(gguf_get_array(&g, "clip.vision.image_mean", &kv, &err) == 0);
    double m = 0;
    CHECK(kv && kv->count == 3 && gguf_kv_float(&g, kv, 2, &m, &err) == 0 && m == 0.5);
    check_tensor(&g, "v.blk.0.attn_qkv.weight", DT_F16, 2, 64, 192);
    check_tensor(&g, "v.position_embd.weight", DT_F32, 2, 64, 64);
    const qvl_tensor *pe = gguf_find_tensor(&g, "v.patch_embd.weight.1");
    CHECK(pe && pe->n_dims == 4 && pe->ne[0] == 16 && pe->ne[1] == 16 && pe->ne[2] == 3 && pe->ne[3] == 64);

    /* F16 data = the formula (exact in f16) */
    const qvl_tensor *t = gguf_find_tensor(&g, "v.blk.2.attn_qkv.weight");
    if (t) {
        static float want[192 * 64], got[192 * 64];
        int64_t shape[2] = {192, 64};
        test_weights_fill("model.visual.blocks.2.attn.qkv.weight", shape, 2, 0, 192 * 64, want);
        dequantize_row(DT_F16, t->data, got, 192 * 64);
        CHECK(memcmp(want, got, sizeof want) == 0);
    }
    gguf_close(&g);
}

/* ---------------------------------------------------------------- */

static void test_round_trip(void) {
    char dir[] = "/tmp/qvl_gguf_XXXXXX", path[256], tmp[320];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/rt.gguf", dir);
    snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
    qvl_error err = {0};

    /* tensor payloads */
    enum { NA = 7, NB0 = 64, NB1 = 3, NC0 = 256, NC1 = 2 };
    float a[NA], src_b[NB0 * NB1], src_c[NC0 * NC1];
    for (int i = 0; i < NA; i++) a[i] = (float)i - 3.25f;
    for (int i = 0; i < NB0 * NB1; i++) src_b[i] = sinf((float)i);
    for (int i = 0; i < NC0 * NC1; i++) src_c[i] = cosf((float)i * 0.37f);
    uint16_t b[NB0 * NB1];
    uint8_t c[144 * 2];
    quantize_row(DT_F16, src_b, b, NB0 * NB1);
    quantize_row(DT_Q4_K, src_c, c, NC0 * NC1);
    uint8_t d[34 * 4];
    quantize_row(DT_Q8_0, src_c, d, 128);

    gguf_writer *w = gguf_writer_open(path, &err);
    CHECK(w != NULL);
    if (!w) return;
    const char *strs[] = {"alpha", "", "gamma with spaces", "\xc4\xa0\xc4\xa0"};
    int32_t ints[] = {-5, 0, 7, INT32_MAX};
    float floats[] = {0.5f, -1e-6f, 3e38f};
    bool bools[] = {true, false, true};
    CHECK(gguf_writer_add_str(w, "general.architecture", "qwen3vl", &err) == 0);
    CHECK(gguf_writer_add_u32(w, "x.u32", 4000000000u, &err) == 0);
    CHECK(gguf_writer_add_i32(w, "x.i32", -123456, &err) == 0);
    CHECK(gguf_writer_add_u64(w, "x.u64", 1ull << 40, &err) == 0);
    CHECK(gguf_writer_add_f32(w, "x.f32", 1e-6f, &err) == 0);
    CHECK(gguf_writer_add_bool(w, "x.bool", true, &err) == 0);
    CHECK(gguf_writer_add_str_array(w, "x.strs", strs, 4, &err) == 0);
    CHECK(gguf_writer_add_i32_array(w, "x.ints", ints, 4, &err) == 0);
    CHECK(gguf_writer_add_f32_array(w, "x.floats", floats, 3, &err) == 0);
    CHECK(gguf_writer_add_bool_array(w, "x.bools", bools, 3, &err) == 0);
    CHECK(gguf_writer_add_i32_array(w, "x.empty", NULL, 0, &err) == 0);
    /* refused */
    CHECK(gguf_writer_add_u32(w, "x.u32", 1, &err) == -1 && strstr(err.msg, "duplicate key 'x.u32'"));
    CHECK(gguf_writer_add_u32(w, "general.alignment", 64, &err) == -1);

    int64_t ne_a[1] = {NA}, ne_b[2] = {NB0, NB1}, ne_c[2] = {NC0, NC1}, ne_d[3] = {32, 2, 2};
    CHECK(gguf_writer_add_tensor(w, "a", DT_F32, ne_a, 1, &err) == 0);
    CHECK(gguf_writer_add_tensor(w, "blk.0.b", DT_F16, ne_b, 2, &err) == 0);
    CHECK(gguf_writer_add_tensor(w, "c", DT_Q4_K, ne_c, 2, &err) == 0);
    CHECK(gguf_writer_add_tensor(w, "d", DT_Q8_0, ne_d, 3, &err) == 0);
    CHECK(gguf_writer_add_tensor(w, "a", DT_F32, ne_a, 1, &err) == -1 && strstr(err.msg, "duplicate tensor name"));
    int64_t bad_ne[2] = {100, 1};
    CHECK(gguf_writer_add_tensor(w, "e", DT_Q4_K, bad_ne, 2, &err) == -1 && strstr(err.msg, "not a multiple"));

    /* data in odd-sized chunks crossing tensor boundaries */
    uint8_t all[sizeof a + sizeof b + sizeof c + sizeof d];
    size_t off = 0;
    memcpy(all + off, a, sizeof a), off += sizeof a;
    memcpy(all + off, b, sizeof b), off += sizeof b;
    memcpy(all + off, c, sizeof c), off += sizeof c;
    memcpy(all + off, d, sizeof d), off += sizeof d;
    for (size_t at = 0; at < off;) {
        size_t n = off - at < 13 ? off - at : 13;
        CHECK(gguf_writer_write(w, all + at, n, &err) == 0);
        at += n;
        struct stat st;
        CHECK(stat(path, &st) != 0);   /* nothing under the final name yet */
    }
    CHECK_MSG(gguf_writer_finish(w, &err) == 0, "%s", err.msg);
    CHECK(access(tmp, F_OK) != 0);

    gguf_file g;
    CHECK_MSG(gguf_open(&g, path, &err) == 0, "%s", err.msg);
    if (g.map.data) {
        CHECK_EQ_INT(g.version, 3);
        CHECK_EQ_INT(g.n_kv, 11);
        CHECK_EQ_INT(g.n_tensors, 4);
        check_str(&g, "general.architecture", "qwen3vl");
        CHECK_EQ_INT(get_int(&g, "x.u32"), 4000000000ll);
        CHECK_EQ_INT(get_int(&g, "x.i32"), -123456);
        CHECK_EQ_INT(get_int(&g, "x.u64"), 1ll << 40);
        double f = 0;
        CHECK(gguf_get_float(&g, "x.f32", &f, &err) == 0 && f == (double)1e-6f);
        bool bv = false;
        CHECK(gguf_get_bool(&g, "x.bool", &bv, &err) == 0 && bv);
        const gguf_str *s = NULL;
        size_t n = 0;
        CHECK(gguf_get_str_array(&g, "x.strs", &s, &n, &err) == 0 && n == 4);
        for (size_t i = 0; i < n && i < 4; i++) CHECK(gguf_str_eq(s[i], strs[i]));
        const gguf_kv *kv = NULL;
        CHECK(gguf_get_array(&g, "x.ints", &kv, &err) == 0 && kv->count == 4);
        for (int i = 0; kv && i < 4; i++) {
            int64_t v = 0;
            CHECK(gguf_kv_int(&g, kv, (uint64_t)i, INT32_MIN, INT32_MAX, &v, &err) == 0 && v == ints[i]);
        }
        CHECK(gguf_get_array(&g, "x.floats", &kv, &err) == 0 && kv->count == 3);
        for (int i = 0; kv && i < 3; i++) {
            double v = 0;
            CHECK(gguf_kv_float(&g, kv, (uint64_t)i, &v, &err) == 0 && v == (double)floats[i]);
        }
        CHECK(gguf_get_array(&g, "x.bools", &kv, &err) == 0 && kv->count == 3);
        for (int i = 0; kv && i < 3; i++) {
            bool v = false;
            CHECK(gguf_kv_bool(&g, kv, (uint64_t)i, &v, &err) == 0 && v == bools[i]);
        }
        CHECK(gguf_get_array(&g, "x.empty", &kv, &err) == 0 && kv->count == 0 && kv->elem_type == GGUF_I32);
        /* file order is kept */
        CHECK(gguf_str_eq(g.kvs[0].key, "general.architecture") && gguf_str_eq(g.kvs[10].key, "x.empty"));

        check_tensor(&g, "a", DT_F32, 1, NA, 1);
        check_tensor(&g, "blk.0.b", DT_F16, 2, NB0, NB1);
        check_tensor(&g, "c", DT_Q4_K, 2, NC0, NC1);
        check_tensor(&g, "d", DT_Q8_0, 3, 32, 2);
        const qvl_tensor *t;
        CHECK((t = gguf_find_tensor(&g, "a")) && !memcmp(t->data, a, sizeof a));
        CHECK((t = gguf_find_tensor(&g, "blk.0.b")) && !memcmp(t->data, b, sizeof b));
        CHECK((t = gguf_find_tensor(&g, "c")) && !memcmp(t->data, c, sizeof c));
        CHECK((t = gguf_find_tensor(&g, "d")) && !memcmp(t->data, d, sizeof d) && t->ne[2] == 2);
        CHECK(!strcmp(g.tensors[2].name, "c"));
        gguf_close(&g);
    }

    /* finish with missing data: fails, leaves no file at all */
    char path2[280];
    snprintf(path2, sizeof path2, "%s/short.gguf", dir);
    w = gguf_writer_open(path2, &err);
    CHECK(gguf_writer_add_tensor(w, "a", DT_F32, ne_a, 1, &err) == 0);
    CHECK(gguf_writer_write(w, a, 8, &err) == 0);
    CHECK(gguf_writer_write(w, a, sizeof a, &err) == -1 && strstr(err.msg, "more than the 20 the declared tensors still hold"));
    CHECK(gguf_writer_finish(w, &err) == -1);
    CHECK(strstr(err.msg, "tensor 'a' got 8 of 28 bytes") != NULL);
    CHECK(access(path2, F_OK) != 0);
    snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path2, (long)getpid());
    CHECK(access(tmp, F_OK) != 0);

    /* an unwritable place is an I/O error naming the file */
    char path3[300];
    snprintf(path3, sizeof path3, "%s/no/such/dir/x.gguf", dir);
    w = gguf_writer_open(path3, &err);
    char tmp3[40];
    snprintf(tmp3, sizeof tmp3, "x.gguf.%ld.tmp", (long)getpid());
    CHECK(gguf_writer_finish(w, &err) == -1 && err.code == QVL_E_IO && strstr(err.msg, tmp3));

    /* abort removes the temporary file */
    w = gguf_writer_open(path2, &err);
    CHECK(gguf_writer_add_tensor(w, "a", DT_F32, ne_a, 1, &err) == 0);
    CHECK(gguf_writer_write(w, a, 8, &err) == 0);
    CHECK(access(tmp, F_OK) == 0);
    gguf_writer_abort(w);
    CHECK(access(tmp, F_OK) != 0);

    /* a file with metadata only */
    w = gguf_writer_open(path2, &err);
    CHECK(gguf_writer_add_str(w, "general.architecture", "clip", &err) == 0);
    CHECK(gguf_writer_finish(w, &err) == 0);
    CHECK_MSG(gguf_open(&g, path2, &err) == 0, "%s", err.msg);
    CHECK(g.n_tensors == 0 && g.n_kv == 1);
    gguf_close(&g);

    unlink(path);
    unlink(path2);
    rmdir(dir);
}

int main(void) {
    test_text_q8();
    test_text_q4km();
    test_mmproj();
    test_round_trip();
    return check_summary();
}
