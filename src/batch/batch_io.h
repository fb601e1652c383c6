/* batch_io.h - the file side of `qvl batch`: finding the images, and an
 * append-only results file (JSONL or CSV) that survives crashes and can be
 * resumed.
 *
 * Promises: images are found by their bytes (magic numbers), never by file
 * name, in a stable sorted order; each record is written whole and fsynced
 * before the next one starts, so a crash or kill loses at most the record in
 * progress; on resume a torn last record is cut off and every (path,
 * question) pair already in the file is skipped. A document (PDF) gives one
 * record per page, its page number kept with the path.
 */
#ifndef QVL_BATCH_IO_H
#define QVL_BATCH_IO_H

#include <stdbool.h>
#include <stdio.h>

#include "base/error.h"

typedef struct path_list {
    char **items;
    int n, cap;
} path_list;

void path_list_free(path_list *l);

/* Collects the images under `source`: a directory (walked recursively,
 * symlinked directories not followed), or a text file listing one path per
 * line. Non-images are skipped and counted in *n_skipped. Sorted by path.
 * Returns 0 or -1 with err set (source unreadable). */
int batch_find_images(const char *source, path_list *out, int *n_skipped, qvl_error *err);

/* Reads questions, one per non-empty line. */
int batch_read_questions(const char *path, path_list *out, qvl_error *err);

typedef enum { BATCH_JSONL, BATCH_CSV } batch_format;

/* The first line of a CSV results file. */
#define BATCH_CSV_HEADER "path,question,answer,route,finish,prompt_tokens,answer_tokens,ms,error\n"

/* Called for each complete record of a results file: its path, page (of a
 * PDF or multi-page TIFF in JSONL; 0 otherwise - CSV paths say
 * "#page=n") and question, and its bytes text[start..end) (end after its
 * newline). */
typedef void (*batch_record_fn)(void *ctx, const char *path, int page, const char *question, size_t start,
                                size_t end);

/* Walks the complete records of the text of a results file in format fmt
 * (a CSV header is skipped, not reported), calling fn for each. Returns the
 * length of the usable part: a torn last record (a crash mid-write) and
 * anything after it are left out. Cannot fail. */
size_t batch_scan_records(batch_format fmt, const char *text, size_t len, batch_record_fn fn, void *ctx);

typedef struct batch_record {
    const char *path, *question, *answer, *route, *finish, *error;   /* answer/error may be NULL */
    int page;   /* 0: an image; n >= 1: page n of a document (JSONL "page": n; CSV path "FILE#page=n") */
    int prompt_tokens, answer_tokens;
    double ms;
} batch_record;

typedef struct batch_out {
    FILE *f;
    batch_format fmt;
    char *path;
    /* pairs already present (from a previous run), "path\x1fquestion" sorted */
    char **done;
    int n_done;
} batch_out;

/* Opens (creating or appending to) the results file. With resume, reads
 * what it holds, truncates a torn final record and remembers the finished
 * pairs; without resume an existing non-empty file is refused (so a second
 * run cannot silently mix results). */
int batch_out_open(batch_out *o, const char *path, batch_format fmt, bool resume, qvl_error *err);

/* True if (path, page, question) is already in the file (page 0: an image). */
bool batch_out_has(const batch_out *o, const char *path, int page, const char *question);

/* Appends one record, flushed and fsynced. */
int batch_out_write(batch_out *o, const batch_record *r, qvl_error *err);

void batch_out_close(batch_out *o);

#endif
