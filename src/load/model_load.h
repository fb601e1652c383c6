/* model_load.h - loads a Qwen3-VL model (model/model.h) from the files users have.
 *
 * model_load accepts what users have:
 *   - a Hugging Face snapshot directory (config.json, model.safetensors or
 *     shards + index, tokenizer.json, generation_config.json); bf16 matrices
 *     are kept as they are (--quant bf16, zero-copy from the mmap) or
 *     quantized on load (q8_0, q4_k_m, q4_k);
 *   - a llama.cpp text GGUF (+ an mmproj GGUF for vision), used as stored.
 * Every tensor the architecture needs is checked for presence, type and shape
 * before anything runs; errors name the file and the tensor.
 *
 * A loaded model owns its mappings and buffers; model_free releases everything.
 */
#ifndef QVL_MODEL_LOAD_H
#define QVL_MODEL_LOAD_H

#include <stdbool.h>

#include "base/error.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

typedef struct model_load_opts {
    const char *mmproj;      /* vision GGUF, for GGUF text models; NULL = none */
    const char *quant;       /* HF directories: "bf16", "q8_0", "q4_k_m", "q4_k"; NULL = default (q8_0) */
    int threads;             /* for quantize-on-load; < 1 = all cores */
    bool text_only;          /* skip the vision tower even if present */
    /* Quantize-on-load cache (quant_cache.h): where a quantized HF model is
     * kept as GGUF so the next load maps it instead of quantizing; NULL =
     * no cache. */
    const char *cache_dir;
    /* Keep the text matrices in their stored layout only (no packed copies,
     * weight_pack.h): logits then equal llama.cpp's bit for bit, at the
     * speed of the row-by-row kernels. For conformance tests. */
    bool no_pack;
    /* The vision tower's float (BF16/F16) matrices: NULL or "none" = as
     * stored; "q8_0" = quantized to Q8_0 while loading (about a second for
     * the 2b tower, not cached), run by the packed int8 kernels: faster on
     * every tier, embeddings within ~3e-2 of the float ones; "auto" = q8_0
     * where the active kernel table has no BF16 GEMM (every tier but
     * avx512bf16), else as stored. A Q8_0 mmproj stays as it is. */
    const char *vision_quant;
} model_load_opts;

/* Loads a model directory or .gguf file. Returns NULL with err set. */
qvl_model *model_load(const char *path, const model_load_opts *opts, qvl_error *err);
void model_free(qvl_model *m);

/* Loads only the tokenizer of a model directory or GGUF file (fast: no
 * weights are touched). Returns NULL with err set. */
tokenizer *model_load_tokenizer(const char *path, qvl_error *err);

#endif
