/* convert.h - writes a Hugging Face Qwen3-VL directory as llama.cpp GGUF
 * files: the text model (quantized as requested, with the tokenizer and
 * chat template in the metadata) and, optionally, the vision tower as an
 * F16 "mmproj" file. Both use llama.cpp's names and metadata keys, so
 * llama.cpp can read them and qvl loads them without re-quantizing.
 */
#ifndef QVL_CONVERT_H
#define QVL_CONVERT_H

#include "base/error.h"
#include "model/model.h"

typedef struct convert_opts {
    const char *quant;        /* "bf16", "q8_0", "q4_k_m", "q4_k" (text matrices); NULL = q8_0 */
    const char *out_text;     /* text model .gguf (required) */
    const char *out_mmproj;   /* vision .gguf, or NULL to skip */
    const char *mmproj_quant; /* its matrices: "f16" (NULL) or "q8_0" (half the bytes; see convert.c) */
    int threads;
} convert_opts;

/* Returns 0, or -1 with err set; never leaves a partial file under either
 * output name (the writer renames a finished temporary). */
int convert_hf_to_gguf(const char *hf_dir, const convert_opts *o, qvl_error *err);

#endif
