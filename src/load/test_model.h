/* test_model.h - writes the deterministic synthetic test model as a Hugging
 * Face snapshot directory (test-model.md): config.json, bf16
 * model.safetensors, tokenizer files, preprocessor and generation configs.
 *
 * Memory stays bounded (one chunk of a tensor at a time), so the 4 GB `2b`
 * model is written in the time the disk needs.
 */
#ifndef QVL_TEST_MODEL_H
#define QVL_TEST_MODEL_H

#include "base/error.h"
#include "model/config.h"

/* Writes the model into out_dir (created if missing). tokenizer_dir holds the
 * real tokenizer.json and tokenizer_config.json, which are copied. Returns 0
 * or -1 with err set; never leaves a half-written model.safetensors. */
int test_model_write(test_model_size size, const char *out_dir, const char *tokenizer_dir, qvl_error *err);

/* Finds the shared test data's tokenizer directory: $QVL_TESTDATA/tokenizer,
 * ../shared/testdata/tokenizer from the working directory, or from the
 * directory holding the qvl executable. NULL if none exists. */
const char *test_model_find_tokenizer_dir(void);

#endif
