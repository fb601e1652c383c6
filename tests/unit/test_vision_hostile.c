/* test_vision_hostile.c - broken mmproj files are refused with a message
 * naming the file and the tensor or key, never a crash: each case copies the
 * shipped tiny-mmproj-F16.gguf with one defect (a tensor missing or of the
 * wrong shape, metadata missing or wrong) and loads it next to the tiny
 * Q8_0 text model. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "format/gguf.h"
#include "load/model_load.h"

typedef struct mutation {
    const char *drop_tensor;     /* leave this tensor out */
    const char *reshape_tensor;  /* declare it as a zero-filled 2-D {ne0, ne1} tensor */
    int64_t ne0, ne1;
    const char *drop_key;        /* leave this metadata key out */
    const char *str_key, *str_val;   /* replace a string value */
    const char *u32_key;         /* replace a u32 value */
    uint32_t u32_val;
    bool no_deepstack;           /* clip.vision.is_deepstack_layers all false */
    const char *expect;          /* must appear in the error, besides the file name */
} mutation;

static int copy_kv(gguf_writer *w, const gguf_file *g, const gguf_kv *kv, const mutation *mu, qvl_error *err) {
    char key[256];
    snprintf(key, sizeof key, "%.*s", (int)kv->key.len, kv->key.ptr);
    if (mu->drop_key && !strcmp(key, mu->drop_key)) return 0;
    if (mu->str_key && !strcmp(key, mu->str_key)) return gguf_writer_add_str(w, key, mu->str_val, err);
    if (mu->u32_key && !strcmp(key, mu->u32_key)) return gguf_writer_add_u32(w, key, mu->u32_val, err);
    int64_t iv;
    double fv;
    bool bv;
    char s[256];
    switch (kv->type) {
    case GGUF_STRING:
        snprintf(s, sizeof s, "%.*s", (int)kv->strs[0].len, kv->strs[0].ptr);
        return gguf_writer_add_str(w, key, s, err);
    case GGUF_U32:
        if (gguf_kv_int(g, kv, 0, 0, UINT32_MAX, &iv, err)) return -1;
        return gguf_writer_add_u32(w, key, (uint32_t)iv, err);
    case GGUF_I32:
        if (gguf_kv_int(g, kv, 0, INT32_MIN, INT32_MAX, &iv, err)) return -1;
        return gguf_writer_add_i32(w, key, (int32_t)iv, err);
    case GGUF_F32:
        if (gguf_kv_float(g, kv, 0, &fv, err)) return -1;
        return gguf_writer_add_f32(w, key, (float)fv, err);
    case GGUF_BOOL:
        if (gguf_kv_bool(g, kv, 0, &bv, err)) return -1;
        return gguf_writer_add_bool(w, key, bv, err);
    case GGUF_ARRAY: {
        float f[64];
        bool b[64];
        for (uint64_t i = 0; i < kv->count && i < 64; i++) {
            if (kv->elem_type == GGUF_F32 && gguf_kv_float(g, kv, i, &fv, err) == 0) f[i] = (float)fv;
            if (kv->elem_type == GGUF_BOOL && gguf_kv_bool(g, kv, i, &b[i], err) == 0 && mu->no_deepstack)
                b[i] = false;
        }
        if (kv->elem_type == GGUF_F32) return gguf_writer_add_f32_array(w, key, f, kv->count, err);
        if (kv->elem_type == GGUF_BOOL) return gguf_writer_add_bool_array(w, key, b, kv->count, err);
        return 0;
    }
    default: return 0;
    }
}

static int write_mutant(const char *src, const char *dst, const mutation *mu) {
    qvl_error err = {0};
    gguf_file g;
    if (gguf_open(&g, src, &err) != 0) return -1;
    gguf_writer *w = gguf_writer_open(dst, &err);
    int rc = w ? 0 : -1;
    for (size_t i = 0; i < g.n_kv && rc == 0; i++) rc = copy_kv(w, &g, &g.kvs[i], mu, &err);
    for (size_t i = 0; i < g.n_tensors && rc == 0; i++) {
        const qvl_tensor *t = &g.tensors[i];
        if (mu->drop_tensor && !strcmp(t->name, mu->drop_tensor)) continue;
        bool re = mu->reshape_tensor && !strcmp(t->name, mu->reshape_tensor);
        int64_t ne2[2] = {mu->ne0, mu->ne1};
        rc = gguf_writer_add_tensor(w, t->name, t->type, re ? ne2 : t->ne, re ? 2 : t->n_dims, &err);
    }
    for (size_t i = 0; i < g.n_tensors && rc == 0; i++) {
        const qvl_tensor *t = &g.tensors[i];
        if (mu->drop_tensor && !strcmp(t->name, mu->drop_tensor)) continue;
        if (mu->reshape_tensor && !strcmp(t->name, mu->reshape_tensor)) {
            size_t n = dtype_row_bytes(t->type, mu->ne0) * (size_t)mu->ne1;
            void *z = calloc(1, n);
            rc = gguf_writer_write(w, z, n, &err);
            free(z);
        } else {
            rc = gguf_writer_write(w, t->data, t->nbytes, &err);
        }
    }
    if (w) rc = rc == 0 ? gguf_writer_finish(w, &err) : (gguf_writer_abort(w), -1);
    if (rc) fprintf(stderr, "writing %s: %s\n", dst, err.msg);
    gguf_close(&g);
    return rc;
}

static void check_refused(const char *text, const char *mmproj, const char *expect) {
    qvl_error err = {0};
    model_load_opts o = {.mmproj = mmproj, .threads = 1};
    qvl_model *m = model_load(text, &o, &err);
    CHECK_MSG(m == NULL, "%s was accepted (expected an error about %s)", mmproj, expect);
    model_free(m);
    fprintf(stderr, "refused: %s\n", err.msg);
    CHECK_MSG(strstr(err.msg, mmproj) && strstr(err.msg, expect), "message '%s' should name %s and '%s'", err.msg,
              mmproj, expect);
}

int main(void) {
    char text[1024], mmproj[1024], bad[] = "/tmp/qvl-mmproj-XXXXXX", path[1100];
    snprintf(text, sizeof text, "%s/gguf/tiny-Q8_0.gguf", testdata_dir());
    snprintf(mmproj, sizeof mmproj, "%s/gguf/tiny-mmproj-F16.gguf", testdata_dir());
    CHECK(mkdtemp(bad) != NULL);
    snprintf(path, sizeof path, "%s/bad.gguf", bad);
    const mutation cases[] = {
        {.drop_tensor = "v.blk.1.attn_qkv.bias", .expect = "'v.blk.1.attn_qkv.bias' is missing"},
        {.drop_tensor = "v.patch_embd.weight.1", .expect = "'v.patch_embd.weight.1' is missing"},
        {.drop_tensor = "v.deepstack.2.fc2.weight", .expect = "'v.deepstack.2.fc2.weight' is missing"},
        {.reshape_tensor = "mm.0.weight", .ne0 = 256, .ne1 = 128, .expect = "'mm.0.weight' has shape [256, 128]"},
        {.reshape_tensor = "v.patch_embd.weight", .ne0 = 256, .ne1 = 192, .expect = "'v.patch_embd.weight' must be"},
        {.reshape_tensor = "v.position_embd.weight", .ne0 = 64, .ne1 = 60,
         .expect = "'v.position_embd.weight' has 60 rows"},
        {.drop_key = "clip.vision.block_count", .expect = "'clip.vision.block_count' is missing"},
        {.str_key = "clip.projector_type", .str_val = "mlp", .expect = "projector type 'mlp'"},
        {.str_key = "general.architecture", .str_val = "llama", .expect = "not an mmproj"},
        {.u32_key = "clip.vision.embedding_length", .u32_val = 32, .expect = "'v.patch_embd.weight' must be"},
        {.u32_key = "clip.vision.projection_dim", .u32_val = 64, .expect = "projection_dim is 64"},
        {.u32_key = "clip.vision.patch_size", .u32_val = 14, .expect = "patch size 14"},
        {.no_deepstack = true, .expect = "0 DeepStack layers"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        CHECK(write_mutant(mmproj, path, &cases[i]) == 0);
        check_refused(text, path, cases[i].expect);
    }
    check_refused(text, text, "not an mmproj");
    qvl_error err = {0};
    model_load_opts o = {.mmproj = "/nonexistent/mm.gguf"};
    CHECK(model_load(text, &o, &err) == NULL && strstr(err.msg, "/nonexistent/mm.gguf"));
    unlink(path);
    rmdir(bad);
    return check_summary();
}
