/* text_gguf.h - writes a loaded text model as a llama.cpp GGUF file (the
 * matrices as they are in memory, the tokenizer and chat template in the
 * metadata). Used by `qvl convert` and by the quantize-on-load cache, which
 * both sit above it; it needs nothing but the model and the format writer.
 */
#ifndef QVL_TEXT_GGUF_H
#define QVL_TEXT_GGUF_H

#include "base/error.h"
#include "model/model.h"

/* Writes the text model m, loaded from the Hugging Face directory dir (its
 * tokenizer files are read again for the metadata), as a GGUF file at out,
 * with the metadata key qvl.cache_key when cache_key is not NULL. Returns 0
 * or -1 with err set; no partial file is left under `out`. */
int text_gguf_write(const qvl_model *m, const char *dir, const char *out, const char *cache_key, qvl_error *err);

#endif
