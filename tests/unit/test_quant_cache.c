/* test_quant_cache.c - the quantize-on-load cache: the first load writes it,
 * the second maps it and computes the same logits, a changed model gets a
 * new entry, and a damaged cache file is never trusted. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "load/model_load.h"
#include "load/test_model.h"

static float *logits_of(const qvl_model *m) {
    int32_t ids[] = {151644, 872, 198, 9707, 151645};
    int32_t pos[15];
    text_positions_1d(pos, 5, 0);
    kv_cache kv;
    qvl_error err;
    kv_cache_init(&kv, &m->cfg.text, 8, &err);
    float *l = malloc((size_t)m->cfg.text.vocab_size * sizeof *l);
    text_batch b = {5, ids, pos, NULL, 0, 0};
    CHECK(text_forward(&m->text, &kv, &b, l, NULL, &err) == 0);
    kv_cache_free(&kv);
    return l;
}

static int count_files(const char *dir) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "exit $(ls '%s' | grep -c gguf$)", dir);
    return WEXITSTATUS(system(cmd));
}

int main(void) {
    char tmp[] = "/tmp/qvl-qcache-XXXXXX", dir[300], cache[300], tok[1024], cmd[1200];
    qvl_error err = {0};
    CHECK(mkdtemp(tmp) != NULL);
    snprintf(dir, sizeof dir, "%s/model", tmp);
    snprintf(cache, sizeof cache, "%s/cache/nested", tmp);
    snprintf(tok, sizeof tok, "%s/tokenizer", testdata_dir());
    CHECK(test_model_write(TEST_MODEL_TINY, dir, tok, &err) == 0);
    model_load_opts o = {.quant = "q8_0", .threads = 2, .text_only = true, .cache_dir = cache};

    qvl_model *a = model_load(dir, &o, &err);
    CHECK_MSG(a && strstr(a->cache_note, "cached in"), "%s", a ? a->cache_note : err.msg);
    CHECK_EQ_INT(count_files(cache), 1);
    qvl_model *b = model_load(dir, &o, &err);
    CHECK_MSG(b && strstr(b->cache_note, "mapped from the cache"), "%s", b ? b->cache_note : err.msg);
    if (a && b) {
        float *la = logits_of(a), *lb = logits_of(b);
        CHECK(!memcmp(la, lb, (size_t)a->cfg.text.vocab_size * sizeof *la));
        free(la), free(lb);
    }
    model_free(b);

    /* another quantization is another entry; bf16 is never cached */
    o.quant = "q4_k";
    b = model_load(dir, &o, &err);
    CHECK(b && strstr(b->cache_note, "cached in"));
    model_free(b);
    CHECK_EQ_INT(count_files(cache), 2);
    o.quant = "bf16";
    b = model_load(dir, &o, &err);
    CHECK(b && b->cache_note[0] == 0);
    model_free(b);

    /* a damaged cache file: quantize again, overwrite, still correct */
    snprintf(cmd, sizeof cmd, "for f in '%s'/*q8_0.gguf; do truncate -s 100000 \"$f\"; done", cache);
    CHECK(system(cmd) == 0);
    o.quant = "q8_0";
    b = model_load(dir, &o, &err);
    CHECK_MSG(b && strstr(b->cache_note, "cached in"), "%s", b ? b->cache_note : err.msg);
    if (a && b) {
        float *la = logits_of(a), *lb = logits_of(b);
        CHECK(!memcmp(la, lb, (size_t)a->cfg.text.vocab_size * sizeof *la));
        free(la), free(lb);
    }
    model_free(b);

    /* a changed model (new weights file): a new key, a new file */
    snprintf(cmd, sizeof cmd, "touch -d '2001-02-03' '%s/model.safetensors'", dir);
    CHECK(system(cmd) == 0);
    b = model_load(dir, &o, &err);
    CHECK(b && strstr(b->cache_note, "cached in"));
    CHECK_EQ_INT(count_files(cache), 3);
    model_free(b);
    model_free(a);

    /* the cache keeps the 4 most recent files */
    for (int i = 0; i < 3; i++) {
        snprintf(cmd, sizeof cmd, "touch -d '2002-01-0%d' '%s/model.safetensors'", i + 1, dir);
        CHECK(system(cmd) == 0);
        b = model_load(dir, &o, &err);
        model_free(b);
    }
    CHECK_EQ_INT(count_files(cache), 4);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    CHECK(system(cmd) == 0);
    return check_summary();
}
