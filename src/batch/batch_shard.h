/* batch_shard.h - one batch across many machines without coordination:
 * each machine takes a stable share of the images (`qvl batch --shard I/N`)
 * and writes its own results file; `qvl batch --merge` joins the files.
 *
 * The share is decided by a hash of each image's path relative to the
 * --images folder (FNV-1a, 64 bits, mod N), so it does not depend on where
 * each machine mounts the folder, on the order files are found, or on how
 * many images other shards hold; every image belongs to exactly one of the
 * N shards. A Kubernetes Indexed Job passes its JOB_COMPLETION_INDEX as I, a
 * Slurm array (--array=0-(N-1)) its SLURM_ARRAY_TASK_ID.
 */
#ifndef QVL_BATCH_SHARD_H
#define QVL_BATCH_SHARD_H

#include <stdbool.h>

#include "base/error.h"
#include "batch/batch_io.h"

/* Parses "I/N" (0 <= I < N <= 100000). Returns 0, or -1 with err naming the
 * problem. */
int batch_shard_parse(const char *spec, int *index, int *count, qvl_error *err);

/* The shard (0..count-1) of an image found under source: the hash of its
 * path with source (and the '/' after it) taken off the front when present. */
int batch_shard_of(const char *path, const char *source, int count);

/* Keeps in list only the images of shard index of count; frees the rest.
 * Cannot fail. */
void batch_shard_keep(path_list *list, const char *source, int index, int count);

/* Writes the records of the results files inputs[0..n) (all in format fmt)
 * to out_path, which must not exist or be empty: sorted by image path (a
 * stable sort, so each image's questions keep their order), each (path,
 * question) pair once (the first seen wins), the bytes of every record
 * exactly as in its input; a torn last record of an input is left out.
 * Fills *stats. Returns 0, or -1 with err set (an input unreadable or not
 * in fmt, out_path holding results, a write error). */
typedef struct batch_merge_stats {
    long records;          /* written */
    long dups;             /* pairs seen more than once (later copies left out) */
    int torn;              /* inputs whose torn last record was left out */
} batch_merge_stats;

int batch_merge(const char *out_path, batch_format fmt, const char *const *inputs, int n, batch_merge_stats *stats,
                qvl_error *err);

#endif
