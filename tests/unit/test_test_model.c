/* test_test_model.c - `qvl make-test-model --config tiny` output matches the
 * independent generator's per-tensor SHA-256 list exactly, and the files
 * around it are readable. */
#include <nettle/sha2.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "format/safetensors.h"
#include "model/config.h"
#include "load/test_model.h"

static void hex(const uint8_t *d, int n, char *out) {
    for (int i = 0; i < n; i++) sprintf(out + 2 * i, "%02x", d[i]);
}

int main(void) {
    char dir[] = "/tmp/qvl-test-model-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char tok[1024];
    snprintf(tok, sizeof tok, "%s/tokenizer", testdata_dir());
    qvl_error err = {0};
    int rc = test_model_write(TEST_MODEL_TINY, dir, tok, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);

    char path[1200];
    snprintf(path, sizeof path, "%s/tiny-tensors.sha256", testdata_dir());
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    safetensors_file st;
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    CHECK_MSG(safetensors_open(&st, path, &err) == 0, "%s", err.msg);
    char want[65], name[200];
    int n_lines = 0, n_match = 0;
    while (f && fscanf(f, "%64s %199s", want, name) == 2) {
        n_lines++;
        const qvl_tensor *t = safetensors_find(&st, name);
        CHECK_MSG(t != NULL, "missing tensor %s", name);
        if (!t) continue;
        struct sha256_ctx ctx;
        uint8_t digest[SHA256_DIGEST_SIZE];
        char got[65];
        sha256_init(&ctx);
        sha256_update(&ctx, t->nbytes, t->data);
        sha256_digest(&ctx, sizeof digest, digest);
        hex(digest, sizeof digest, got);
        CHECK_MSG(!strcmp(got, want), "tensor %s: sha256 %s, want %s", name, got, want);
        n_match += !strcmp(got, want);
    }
    if (f) fclose(f);
    CHECK_EQ_INT(n_lines, 121);
    CHECK_EQ_INT(st.n_tensors, n_lines);
    fprintf(stderr, "%d/%d tensors match the reference hashes\n", n_match, n_lines);
    safetensors_close(&st);

    model_config cfg;
    snprintf(path, sizeof path, "%s/config.json", dir);
    CHECK_MSG(config_load_hf(&cfg, path, &err) == 0, "%s", err.msg);
    CHECK_EQ_INT(cfg.text.hidden_size, 128);
    CHECK_EQ_INT(cfg.text.mrope_section[0], 6);
    CHECK_EQ_INT(cfg.vision.deepstack_indexes[2], 2);
    CHECK_EQ_INT(cfg.vision.num_position_embeddings, 64);

    const char *files[] = {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                           "preprocessor_config.json", "generation_config.json"};
    for (int i = 0; i < 6; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        CHECK_MSG(access(path, R_OK) == 0, "%s missing", files[i]);
        unlink(path);
    }
    rmdir(dir);
    return check_summary();
}
