/* ocr_proc.h - running untrusted OCR plugin code in a child process with a
 * time limit, and getting its standard output back.
 *
 * Both plugin kinds use it: a command plugin is an executed program; a .so
 * plugin runs in a forked copy of this process (so the parent never executes
 * plugin code). Either way the child's stdin gets the given bytes, its stdout
 * is collected (bounded), its stderr is kept as a short tail for messages,
 * and the whole process group is killed when the time limit passes.
 *
 * What it promises: the caller's process survives whatever the child does
 * (crash, hang, flood of output, closing stdin early: SIGPIPE is blocked in
 * the calling thread while writing). Not async-signal-safe itself; safe to
 * call from several threads at once.
 *
 * Memory: ocr_proc_run returns a malloc'd, NUL-terminated stdout buffer that
 * the caller frees.
 */
#ifndef QVL_OCR_PROC_H
#define QVL_OCR_PROC_H

#include <stddef.h>

#include "base/error.h"

typedef struct ocr_proc_spec {
    const char *name;        /* for messages: "plugin 'x'" */
    const char *exec_path;   /* program to run (argv = {path}), or NULL to run child_fn */
    /* Runs in the forked child when exec_path is NULL; writes its answer to
     * fd 1 and returns the exit status. */
    int (*child_fn)(void *arg);
    void *child_arg;
    const char *in;          /* bytes for the child's stdin; may be NULL */
    size_t in_len;
    int timeout_ms;          /* > 0 */
    size_t max_out;          /* stdout larger than this is an error */
} ocr_proc_spec;

/* Runs the child to completion. Returns its stdout (NUL-terminated, length
 * in *out_len) when it exited with status 0, else NULL with err set: "timed
 * out after N ms (killed)", "crashed (signal ...)", "exited with status N:
 * <stderr tail>", "wrote more than N bytes", or a fork/pipe failure. */
char *ocr_proc_run(const ocr_proc_spec *spec, size_t *out_len, qvl_error *err);

#endif
