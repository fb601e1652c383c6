/* test_convert.c - `qvl convert` output against the GGUF files llama.cpp's own
 * converter and quantizer made from the same test model: every tensor in the
 * reference's type and byte-identical (q8_0 and the q4_k_m mix, whose
 * per-tensor types and row-length fallbacks must be llama.cpp's), the file
 * type and the tokenizer metadata equal. Then each converted model must load
 * and give the same logits as the directory it came from, quantized on load. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "format/gguf.h"
#include "load/convert.h"
#include "load/model_load.h"
#include "load/test_model.h"

static void compare_files(const char *ours_path, const char *ref_path, int expect_all_equal) {
    gguf_file ours, ref;
    qvl_error err = {0};
    CHECK_MSG(gguf_open(&ours, ours_path, &err) == 0, "%s", err.msg);
    CHECK_MSG(gguf_open(&ref, ref_path, &err) == 0, "%s", err.msg);
    int same_type = 0, equal = 0;
    for (size_t i = 0; i < ref.n_tensors; i++) {
        const qvl_tensor *r = &ref.tensors[i], *o = gguf_find_tensor(&ours, r->name);
        CHECK_MSG(o != NULL, "%s: tensor %s missing", ours_path, r->name);
        if (!o) continue;
        CHECK_MSG(!memcmp(o->ne, r->ne, sizeof o->ne), "%s: shape differs", r->name);
        if (o->type != r->type) continue;
        same_type++;
        int eq = o->nbytes == r->nbytes && !memcmp(o->data, r->data, r->nbytes);
        CHECK_MSG(eq, "%s: bytes differ from the reference", r->name);
        equal += eq;
    }
    fprintf(stderr, "%s: %d/%zu reference tensors in the same type, %d byte-identical\n", ours_path, same_type,
            ref.n_tensors, equal);
    if (expect_all_equal) CHECK_EQ_INT(same_type, (int)ref.n_tensors);
    CHECK_EQ_INT(ours.n_tensors, ref.n_tensors);
    const char *arrays[] = {"tokenizer.ggml.tokens", "tokenizer.ggml.merges"};
    for (int a = 0; a < 2 && gguf_find_kv(&ref, arrays[a]); a++) {
        const gguf_str *x, *y;
        size_t nx = 0, ny = 0;
        CHECK(gguf_get_str_array(&ours, arrays[a], &x, &nx, &err) == 0);
        CHECK(gguf_get_str_array(&ref, arrays[a], &y, &ny, &err) == 0);
        CHECK_EQ_INT(nx, ny);
        int diff = 0;
        for (size_t i = 0; i < nx && i < ny; i++) diff += x[i].len != y[i].len || memcmp(x[i].ptr, y[i].ptr, x[i].len);
        CHECK_MSG(diff == 0, "%s: %d entries differ", arrays[a], diff);
    }
    int64_t ft_ours = -1, ft_ref = -2;
    if (gguf_find_kv(&ref, "general.file_type")) {
        CHECK(gguf_get_int(&ours, "general.file_type", 0, 1 << 16, &ft_ours, &err) == 0);
        CHECK(gguf_get_int(&ref, "general.file_type", 0, 1 << 16, &ft_ref, &err) == 0);
        CHECK_MSG(ft_ours == ft_ref, "%s: general.file_type %lld, reference %lld", ours_path, (long long)ft_ours,
                  (long long)ft_ref);
    }
    const gguf_kv *tx = gguf_find_kv(&ours, "tokenizer.ggml.token_type"), *ty = gguf_find_kv(&ref, "tokenizer.ggml.token_type");
    if (ty) {
        CHECK(tx && tx->count == ty->count && tx->elem_type == ty->elem_type &&
              !memcmp(tx->data, ty->data, (size_t)ty->count * 4));
    }
    gguf_close(&ours);
    gguf_close(&ref);
}

/* The converted file runs like the directory it came from, quantized on load. */
static void check_same_logits(const char *dir, const char *quant, const char *gguf) {
    qvl_error err = {0};
    model_load_opts lo = {.quant = quant, .threads = 2};
    qvl_model *a = model_load(dir, &lo, &err), *b = model_load(gguf, NULL, &err);
    CHECK_MSG(a && b, "%s", err.msg);
    if (a && b) {
        int32_t ids[] = {151644, 872, 198, 9707, 11, 1879, 0, 151645};
        int32_t pos[24];
        text_positions_1d(pos, 8, 0);
        int V = a->cfg.text.vocab_size;
        float *la = malloc((size_t)V * sizeof *la), *lb = malloc((size_t)V * sizeof *lb);
        kv_cache ka, kb;
        kv_cache_init(&ka, &a->cfg.text, 8, &err);
        kv_cache_init(&kb, &b->cfg.text, 8, &err);
        text_batch batch = {8, ids, pos, NULL, 0, 0};
        CHECK(text_forward(&a->text, &ka, &batch, la, NULL, &err) == 0);
        CHECK(text_forward(&b->text, &kb, &batch, lb, NULL, &err) == 0);
        CHECK_MSG(!memcmp(la, lb, (size_t)V * sizeof *la), "%s: logits of the converted model differ", quant);
        kv_cache_free(&ka), kv_cache_free(&kb);
        free(la), free(lb);
    }
    model_free(a);
    model_free(b);
}

int main(void) {
    char dir[] = "/tmp/qvl-convert-XXXXXX", tok[1024], path[1200], text[1200], mmproj[1200];
    qvl_error err = {0};
    CHECK(mkdtemp(dir) != NULL);
    snprintf(tok, sizeof tok, "%s/tokenizer", testdata_dir());
    CHECK_MSG(test_model_write(TEST_MODEL_TINY, dir, tok, &err) == 0, "%s", err.msg);
    snprintf(text, sizeof text, "%s/q8.gguf", dir);
    snprintf(mmproj, sizeof mmproj, "%s/mmproj.gguf", dir);
    convert_opts o = {.quant = "q8_0", .out_text = text, .out_mmproj = mmproj, .threads = 2};
    CHECK_MSG(convert_hf_to_gguf(dir, &o, &err) == 0, "%s", err.msg);
    snprintf(path, sizeof path, "%s/gguf/tiny-Q8_0.gguf", testdata_dir());
    compare_files(text, path, 1);
    snprintf(path, sizeof path, "%s/gguf/tiny-mmproj-F16.gguf", testdata_dir());
    compare_files(mmproj, path, 1);

    /* q4_k_m: llama.cpp's Q4_K_M, whose tiny rows (128 wide) fall back to
     * Q5_0 / Q8_0 while ffn_down (256 wide) is Q4_K or Q6_K by layer. */
    char q4[1200];
    snprintf(q4, sizeof q4, "%s/q4.gguf", dir);
    convert_opts o4 = {.quant = "q4_k_m", .out_text = q4, .threads = 2};
    CHECK_MSG(convert_hf_to_gguf(dir, &o4, &err) == 0, "%s", err.msg);
    snprintf(path, sizeof path, "%s/gguf/tiny-Q4_K_M.gguf", testdata_dir());
    compare_files(q4, path, 1);

    check_same_logits(dir, "q8_0", text);
    check_same_logits(dir, "q4_k_m", q4);
    const char *files[] = {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                           "preprocessor_config.json", "generation_config.json", "q8.gguf", "mmproj.gguf", "q4.gguf"};
    for (int i = 0; i < 9; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
    return check_summary();
}
