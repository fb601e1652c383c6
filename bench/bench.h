/* bench.h - what the files of the benchmark driver (build/release/bench,
 * run by bench/run.sh) share: the parsed command line and small timing
 * helpers. Every measuring command prints "key value" lines (medians over
 * the runs) on stdout and returns 0, or prints a message on stderr and
 * returns non-zero when something cannot be measured.
 */
#ifndef QVL_BENCH_H
#define QVL_BENCH_H

#include <stdbool.h>

#include "load/model_load.h"

#define BENCH_MAX_RUNS 64

typedef struct bench_opts {
    const char *model;      /* HF directory or text GGUF */
    const char *mmproj;     /* vision GGUF for a GGUF model; NULL = none */
    const char *vision_quant;   /* --vision-quant: model_load_opts.vision_quant (default none: the weights as given) */
    const char *quant;      /* quantize-on-load type for an HF directory */
    const char *image;      /* image file for vision / vlm */
    int threads, runs;      /* runs: 1..BENCH_MAX_RUNS */
    int decode, prefill, prefill_runs;   /* text: tokens per decode run, prompt length */
    long max_pixels;        /* image detail; 0 = model default */
    int ctx;                /* vlm: context of the session */
    int answer_tokens;      /* vlm: also time one whole answer of this many tokens; 0 = no */
    double budget_s;        /* vision, vlm: stop after the run that passes this many seconds; 0 = none */
    bool no_pack;           /* --pack no: text matrices as stored (model_load_opts.no_pack) */
} bench_opts;

double bench_now_s(void);
/* Sorts v and returns its median; n >= 1. */
double bench_median(double *v, int n);
bool bench_is_dir(const char *path);
/* True when `done` runs started at t0 are enough: o->runs of them, or at
 * least one and o->budget_s seconds spent (slow machines still finish). */
bool bench_enough(const bench_opts *o, int done, double t0);

int bench_vision(const bench_opts *o);   /* bench_vlm.c */
int bench_vlm(const bench_opts *o);
int bench_grammar(const bench_opts *o);   /* bench_grammar.c */

#endif
