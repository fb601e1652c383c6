/* tiny_model.h - the tiny test model in a temporary directory, for the unit
 * tests that load a model: tiny_model_make writes it (with the real
 * tokenizer from the test data) into a new /tmp/qvl-<tag>-XXXXXX, and
 * tiny_model_remove deletes that directory and everything in it. */
#ifndef QVL_TINY_MODEL_H
#define QVL_TINY_MODEL_H

#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "load/test_model.h"

/* dir (cap >= 64 bytes) receives the directory. Returns 0, or -1 after a
 * failed CHECK saying why. */
static inline int tiny_model_make(char *dir, size_t cap, const char *tag) {
    char tok[1024];
    qvl_error err = {0};
    snprintf(dir, cap, "/tmp/qvl-%s-XXXXXX", tag);
    CHECK_MSG(mkdtemp(dir) != NULL, "cannot make a directory %s", dir);
    snprintf(tok, sizeof tok, "%s/tokenizer", testdata_dir());
    int rc = test_model_write(TEST_MODEL_TINY, dir, tok, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    return rc == 0 ? 0 : -1;
}

static inline void tiny_model_remove(const char *dir) {
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

#endif
