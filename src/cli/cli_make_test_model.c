/* cli_make_test_model.c - `qvl make-test-model --config tiny|2b --out DIR`. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli/cli_util.h"
#include "load/test_model.h"

static const char *help =
    "usage: qvl make-test-model --config tiny|2b --out DIR [--tokenizer-dir DIR]\n"
    "\n"
    "Writes the deterministic synthetic Qwen3-VL model (../shared/docs/test-model.md) as a\n"
    "Hugging Face directory: config.json, bf16 model.safetensors, tokenizer files, configs.\n"
    "tiny: 4 text layers of width 128 (~80 MB). 2b: the real 2B shapes (~4.3 GB).\n"
    "The tokenizer is copied from --tokenizer-dir (default: ../shared/testdata/tokenizer).\n";

int cli_make_test_model(int argc, char **argv) {
    const char *config = NULL, *out = NULL, *tok = NULL;
    cli_opt opts[] = {
        {"--config", NULL, OPT_STR, &config},
        {"--out", "-o", OPT_STR, &out},
        {"--tokenizer-dir", NULL, OPT_STR, &tok},
        {0},
    };
    int rc = cli_parse(argc, argv, opts, help, NULL);
    if (rc >= 0) return rc;
    if (!config || !out || (strcmp(config, "tiny") && strcmp(config, "2b"))) {
        fprintf(stderr, "qvl make-test-model: need --config tiny|2b and --out DIR\n\n%s", help);
        return 2;
    }
    if (!tok) tok = test_model_find_tokenizer_dir();
    if (!tok) {
        fprintf(stderr, "qvl make-test-model: cannot find the tokenizer files; pass --tokenizer-dir DIR "
                        "(a directory with tokenizer.json and tokenizer_config.json)\n");
        return 1;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    qvl_error err = {0};
    if (test_model_write(!strcmp(config, "tiny") ? TEST_MODEL_TINY : TEST_MODEL_2B, out, tok, &err) != 0) {
        fprintf(stderr, "qvl make-test-model: %s\n", err.msg);
        return 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    fprintf(stderr, "wrote the %s test model to %s in %.1f s\n", config, out,
            (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));
    return 0;
}
