/* weight_pack.h - gives the model's quantized matrices (the text decoder's,
 * and the vision tower's of a quantized mmproj) their packed copies
 * (engine/packed.h) when the CPU's kernel table has packed kernels.
 *
 * Runs once after loading. The packed copies live in one buffer owned by
 * the model's storage, on 2 MiB pages where the kernel grants them. Originals that are file mappings (GGUF files, the
 * quantize-on-load cache) are dropped from memory afterwards with
 * MADV_DONTNEED, so resident memory stays about one copy of the weights;
 * they stay readable (a read faults the page back in from the file), which
 * the embedding lookup relies on. Originals in malloc'd buffers (a first
 * quantize-on-load) are kept: both copies are resident until the next start
 * maps the cache.
 */
#ifndef QVL_WEIGHT_PACK_H
#define QVL_WEIGHT_PACK_H

#include "engine/threadpool.h"
#include "model/model.h"

/* Packs every matrix of m that packed_supported allows, on tp's
 * threads. Does nothing if the kernel table has no packed kernels or
 * memory is short (matmul then uses the originals: same results to float
 * rounding). Cannot fail. */
void weight_pack(qvl_model *m, threadpool *tp);

#endif
