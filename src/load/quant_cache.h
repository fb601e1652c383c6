/* quant_cache.h - the quantize-on-load cache: a Hugging Face directory
 * quantized to q8_0, q4_k_m or q4_k is written once as a GGUF file in a cache
 * folder, and later loads map that file instead of quantizing again (the
 * 2b model takes about a minute to quantize, a second to map).
 *
 * The cache file is named after a key that changes whenever the model can
 * have changed: SHA-256 over config.json, the name, size and modification
 * time of every safetensors file, the quantization and a format version.
 * The key is also stored inside the file (qvl.cache_key), so a renamed or
 * truncated file is never trusted.
 */
#ifndef QVL_QUANT_CACHE_H
#define QVL_QUANT_CACHE_H

#include "base/error.h"

/* The default cache folder: $QVL_CACHE_DIR, else $XDG_CACHE_HOME/qvl, else
 * $HOME/.cache/qvl; NULL when none can be determined. Not created here. */
const char *quant_cache_default_dir(void);

/* Fills path (cap bytes) with the cache file for dir at quant ("q8_0",
 * "q4_k_m", "q4_k") and key (65 bytes: hex SHA-256). Returns 0, or -1 with err set
 * when dir cannot be read or memory runs out. */
int quant_cache_locate(const char *cache_dir, const char *dir, const char *quant, char *path, size_t cap,
                       char key[65], qvl_error *err);

/* Deletes the least recently used cache files beyond the newest `keep`
 * (a quantized 2B model is 1-2 GB: the cache must not grow without bound).
 * Only files this module names (<24 hex digits>-<quant>.gguf) are touched.
 * Cannot fail (what cannot be deleted stays; out of memory, all stays). */
void quant_cache_trim(const char *cache_dir, int keep);

#endif
