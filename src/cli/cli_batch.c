/* cli_batch.c - `qvl batch`: questions over a folder of images, with a
 * progress display, resumable JSONL/CSV output and clean Ctrl-C.
 *
 * Several questions about one image share its prompt prefix: one session is
 * kept per image, so the image tokens are computed once (see generate.h).
 */
#include <jansson.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "answer/answer.h"
#include "base/mapped_file.h"
#include "batch/batch_io.h"
#include "batch/batch_shard.h"
#include "cli/cli_util.h"
#include "generate/image_cache.h"
#include "load/model_load.h"

static const char *help =
    "usage: qvl batch --model M --images DIR|LIST.txt (--question Q ... | --questions FILE) --out FILE\n"
    "       qvl batch --merge --out FILE SHARD_FILE...\n"
    "\n"
    "Asks every question about every image (found by their bytes, recursively, sorted) and\n"
    "appends one record per (image, question) to FILE, fsynced as it goes. A PDF gives one\n"
    "record per (page, question) with \"page\": n (CSV: path FILE#page=n); \"extract the text\"\n"
    "reads a born-digital page from its text layer.\n"
    "      --format jsonl|csv  output format (default: from the file name, else jsonl)\n"
    "      --resume            skip the pairs FILE already holds (after a crash or Ctrl-C)\n"
    "      --shard I/N         only the images of share I of N (0 <= I < N, by a hash of the path under\n"
    "                          --images): N machines or array jobs run one batch, each its own --out\n"
    "      --merge             join the results files given as arguments into --out (sorted by image,\n"
    "                          each pair once); no model needed\n"
    "      --max-pixels N  --min-pixels N   image detail (fewer pixels = faster; default max 300000)\n"
    "      --max-tokens N      answer length limit (default 512)\n"
    "      --temperature T     default 0 (greedy: reproducible results)\n"
    "      --ctx N             context size (default 8192)\n"
    CLI_MEMORY_HELP
    "      --no-loop-check     do not stop answers that repeat themselves\n"
    CLI_SCHEMA_HELP CLI_OCR_HELP CLI_MODEL_HELP;

static atomic_bool stop_requested;

static void on_sigint(int sig) {
    (void)sig;
    atomic_store(&stop_requested, true);
}

typedef struct progress {
    bool tty;
    int done, total, errors, skipped_before;
    double t0, last_print;
} progress;

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void progress_show(progress *p, bool final) {
    double t = now_s(), el = t - p->t0;
    if (!final && !p->tty && t - p->last_print < 10) return;
    p->last_print = t;
    double rate = el > 0 ? p->done / el * 60 : 0;   /* records per minute */
    int left = p->total - p->done;
    double eta = rate > 0 ? left / rate * 60 : 0;
    if (p->tty) {
        int w = 30, fill = p->total ? p->done * w / p->total : w;
        fprintf(stderr, "\r[%.*s%*s] %d/%d  %.1f/min  ETA %dm%02ds  errors %d ", fill,
                "##############################", w - fill, "", p->done, p->total, rate, (int)eta / 60,
                (int)eta % 60, p->errors);
        if (final) fputc('\n', stderr);
    } else {
        fprintf(stderr, "progress: %d/%d done, %.1f/min, ETA %ds, %d errors\n", p->done, p->total, rate, (int)eta,
                p->errors);
    }
}

typedef struct batch_job {
    qvl_model *m;
    mem_budget *budget;    /* --max-memory, or NULL */
    int n_ctx, threads;
    int n_refused;         /* records refused for the budget: the run then exits 1 */
    threadpool *tp;
    gen_session sess;
    answer_worker worker;
    answer_request rq;     /* messages filled per record */
} batch_job;

static int cancel_if_stopping(void *user, const char *t, size_t n) {
    (void)user, (void)t, (void)n;
    return atomic_load(&stop_requested);
}

/* Answers one (image or document page, question); fills r (answer owned by
 * *answer_out). */
static void ask_one(batch_job *j, const char *path, const char *question,
                    batch_record *r, char **answer_out, qvl_error *err) {
    double t0 = now_s();
    json_t *msgs = json_pack("[{s:s, s:[{s:s, s:s, s:i}, {s:s, s:s}]}]", "role", "user", "content", "type", "image",
                             "image", path, "page", r->page > 0 ? r->page - 1 : 0, "type", "text", "text", question);
    /* a document's page is named by the part: read from its text layer when it has one */
    cli_files files = {0};
    j->rq.chat.load_ctx = &files;
    j->rq.image_bytes = cli_image_bytes;
    *answer_out = NULL;
    j->rq.messages = msgs;
    answer_result res;
    if (cli_memory_check(j->budget, j->m, msgs, j->rq.chat.min_pixels, j->rq.chat.max_pixels, j->n_ctx, j->threads,
                         j->worker.router != NULL, err) != 0) {
        /* an unreadable file is this record's error like any other; only a
         * record that cannot fit the budget makes the run's exit status 1 */
        r->error = err->msg;
        if (err->code == QVL_E_TOO_LARGE) j->n_refused++;
    } else if (answer_run(&j->worker, &j->rq, &res, err) == 0) {
        *answer_out = res.gen.text;
        res.gen.text = NULL;
        r->answer = *answer_out;
        r->route = answer_route_name(&res);
        r->finish = finish_reason_name(res.gen.finish);
        r->prompt_tokens = res.gen.n_prompt;
        r->answer_tokens = res.gen.n_generated;
        answer_result_free(&res);
    } else {
        r->error = err->msg;
    }
    json_decref(msgs);
    cli_files_free(&files);
    r->ms = (now_s() - t0) * 1e3;
}

/* A PDF's bytes and page count (*doc NULL and 1 page for anything else, or
 * a document that cannot be read: its record says why). */
static int document_pages(const char *path, uint8_t **doc, size_t *len) {
    *doc = NULL;
    qvl_error err = {0};
    char *bytes = read_file_text(path, IMAGE_DEFAULT_MAX_BYTES, len, &err);
    const char *type = bytes ? image_sniff((const uint8_t *)bytes, *len) : NULL;
    int n = type && !strcmp(type, "application/pdf") ? image_page_count((const uint8_t *)bytes, *len, NULL, &err) : 0;
    if (n < 1) {
        free(bytes);
        return 1;
    }
    *doc = (uint8_t *)bytes;
    return n;
}

static int run_batch(batch_job *j, const path_list *imgs, const path_list *qs, batch_out *out, progress *pg) {
    qvl_error err = {0};
    for (int i = 0; i < imgs->n && !atomic_load(&stop_requested); i++) {
        uint8_t *doc;
        size_t doc_len;
        int n_pages = document_pages(imgs->items[i], &doc, &doc_len);
        pg->total += doc ? (n_pages - 1) * qs->n : 0;
        for (int p = 0; p < n_pages && !atomic_load(&stop_requested); p++)
        for (int k = 0; k < qs->n && !atomic_load(&stop_requested); k++) {
            int page = doc ? p + 1 : 0;
            if (batch_out_has(out, imgs->items[i], page, qs->items[k])) continue;
            batch_record r = {.path = imgs->items[i], .question = qs->items[k], .route = "none", .page = page};
            char *answer;
            memset(&err, 0, sizeof err);
            ask_one(j, imgs->items[i], qs->items[k], &r, &answer, &err);
            bool interrupted = atomic_load(&stop_requested);
            if (!interrupted) {   /* a record cut short by Ctrl-C is not written: --resume redoes it */
                if (batch_out_write(out, &r, &err) != 0) {
                    fprintf(stderr, "\nqvl batch: %s\n", err.msg);
                    free(answer);
                    free(doc);
                    return -1;
                }
                pg->done++;
                pg->errors += r.error != NULL;
                progress_show(pg, false);
            }
            free(answer);
        }
        free(doc);
    }
    return 0;
}

/* `qvl batch --merge --out FILE INPUT...`. */
static int merge_files(const char *outp, batch_format fmt, const str_list *inputs) {
    if (!inputs->n) {
        fprintf(stderr, "qvl batch: --merge needs the results files to join as arguments\n");
        return 2;
    }
    qvl_error err = {0};
    batch_merge_stats ms;
    if (batch_merge(outp, fmt, inputs->items, inputs->n, &ms, &err) != 0) {
        fprintf(stderr, "qvl batch: %s\n", err.msg);
        return 1;
    }
    fprintf(stderr, "merged %d files into %s: %ld records", inputs->n, outp, ms.records);
    if (ms.dups) fprintf(stderr, ", %ld repeated pairs left out", ms.dups);
    if (ms.torn) fprintf(stderr, ", a torn last record left out of %d file(s) (run that shard again with --resume)",
                         ms.torn);
    fputc('\n', stderr);
    return 0;
}

int cli_batch(int argc, char **argv) {
    cli_model_opts mo = {0};
    cli_ocr_opts oo = {0};
    str_list qlist = {0}, pos = {0};
    const char *images = NULL, *qfile = NULL, *outp = NULL, *format = NULL, *shard = NULL, *schema_arg = NULL;
    const char *max_memory = NULL;
    int resume = 0, max_tokens = 512, max_px = 0, min_px = 0, ctx = 8192, no_loop = 0, merge = 0;
    float temp = 0;
    cli_opt opts[] = {CLI_MODEL_OPTIONS(mo),
                      CLI_OCR_OPTIONS(oo),
                      {"--images", NULL, OPT_STR, &images},
                      {"--question", "-q", OPT_LIST, &qlist},
                      {"--questions", NULL, OPT_STR, &qfile},
                      {"--out", "-o", OPT_STR, &outp},
                      {"--format", NULL, OPT_STR, &format},
                      {"--resume", NULL, OPT_FLAG, &resume},
                      {"--max-pixels", NULL, OPT_INT, &max_px},
                      {"--min-pixels", NULL, OPT_INT, &min_px},
                      {"--max-tokens", "-n", OPT_INT, &max_tokens},
                      {"--temperature", NULL, OPT_FLOAT, &temp},
                      {"--ctx", NULL, OPT_INT, &ctx},
                      {"--max-memory", NULL, OPT_STR, &max_memory},
                      {"--no-loop-check", NULL, OPT_FLAG, &no_loop},
                      {"--shard", NULL, OPT_STR, &shard},
                      {"--merge", NULL, OPT_FLAG, &merge},
                      {"--schema", NULL, OPT_STR, &schema_arg},
                      {0}};
    int rc = cli_parse(argc, argv, opts, help, &pos);
    const char *usage = rc >= 0 ? NULL
                        : !outp ? "need --out"
                        : merge ? (images || qlist.n || qfile || shard || resume
                                       ? "--merge joins files: give only --out, --format and the files" : NULL)
                        : pos.n ? "unexpected arguments (only --merge takes files)"
                        : !images || (!qlist.n && !qfile) || (qlist.n && qfile)
                            ? "need --images, --out and either --question (repeatable) or --questions"
                        : format && strcmp(format, "csv") && strcmp(format, "jsonl") ? "--format must be jsonl or csv"
                                                                                      : NULL;
    if (usage) {
        fprintf(stderr, "qvl batch: %s\n\n%s", usage, help);
        rc = 2;
    }
    if (rc >= 0) {
        free(qlist.items);
        free(pos.items);
        return rc;
    }
    size_t ol = strlen(outp);
    batch_format fmt = format ? (!strcmp(format, "csv") ? BATCH_CSV : BATCH_JSONL)
                              : (ol > 4 && !strcmp(outp + ol - 4, ".csv") ? BATCH_CSV : BATCH_JSONL);
    if (merge) {
        rc = merge_files(outp, fmt, &pos);
        free(qlist.items);
        free(pos.items);
        return rc;
    }
    free(pos.items);
    qvl_error err = {0};
    int shard_i = 0, shard_n = 1;
    if (shard && batch_shard_parse(shard, &shard_i, &shard_n, &err) != 0) {
        fprintf(stderr, "qvl batch: %s\n", err.msg);
        free(qlist.items);
        return 2;
    }
    ocr_mode mode;
    ocr_router *router = NULL;
    ocr_engine *engine = NULL;
    image_cache *cache = NULL;
    path_list imgs = {0}, qs = {0};
    int skipped = 0;
    batch_out out = {0};
    batch_job j = {0};
    cli_schema schema = {0};
    rc = 1;
    if (qfile ? batch_read_questions(qfile, &qs, &err) : 0) goto fail;
    for (int i = 0; i < qlist.n; i++) {
        qs.items = realloc(qs.items, (size_t)(qs.n + 1) * sizeof *qs.items);
        qs.items[qs.n++] = strdup(qlist.items[i]);
    }
    if (batch_find_images(images, &imgs, &skipped, &err) != 0) goto fail;
    if (!imgs.n) {
        snprintf(err.msg, sizeof err.msg, "%s: no images found (%d other files skipped)", images, skipped);
        goto fail;
    }
    if (shard) {
        int all = imgs.n;
        batch_shard_keep(&imgs, images, shard_i, shard_n);
        fprintf(stderr, "shard %d/%d: %d of the %d images\n", shard_i, shard_n, imgs.n, all);
    }
    if (cli_schema_load("qvl batch", schema_arg, &schema) != 0) {
        rc = 2;
        goto cleanup;
    }
    if (batch_out_open(&out, outp, fmt, resume, &err) != 0) goto fail;
    if (cli_ocr_setup("qvl batch", &oo, true, &mode, &router, &engine) != 0) goto cleanup;
    if (!(j.m = cli_load_model("qvl batch", &mo, false))) goto cleanup;
    j.tp = threadpool_create(mo.threads);
    if (gen_session_init(&j.sess, j.m, ctx, &err) != 0) goto fail;
    /* Questions about one image follow each other: a small cache is enough
     * for every question after the first to skip the vision encoder. */
    cache = image_cache_new((size_t)64 << 20);
    j.n_ctx = ctx;
    j.threads = mo.threads;
    if (cli_memory_open("qvl batch", max_memory, j.m, ctx, mo.threads, (uint64_t)64 << 20, &j.budget) != 0) {
        rc = 2;
        goto cleanup;
    }
    j.worker = (answer_worker){.model = j.m, .router = router, .ocr = engine, .ocr_lang = oo.lang, .tp = j.tp,
                               .session = &j.sess};
    j.rq = (answer_request){.mode = mode, .gen = gen_params_defaults(j.m), .on_text = cancel_if_stopping,
                            .cancel = &stop_requested,
                            .chat = {.add_generation_prompt = true, .min_pixels = min_px, .max_pixels = cli_max_pixels(max_px, min_px),
                                     .load_image = cli_load_image_file, .cache = cache}};
    j.rq.gen.sampling.temperature = temp;
    j.rq.gen.max_tokens = max_tokens;
    j.rq.gen.detect_loops = !no_loop;
    if (cli_schema_attach("qvl batch", &schema, j.m, &j.rq.gen) != 0) goto cleanup;
    signal(SIGINT, on_sigint);
    signal(SIGTERM, on_sigint);
    progress pg = {.tty = isatty(2), .total = imgs.n * qs.n - out.n_done, .t0 = now_s()};
    if (pg.total < 0) pg.total = 0;
    fprintf(stderr, "%d images x %d questions%s%s\n", imgs.n, qs.n, out.n_done ? ", resuming: " : "",
            out.n_done ? "some already done" : "");
    if (run_batch(&j, &imgs, &qs, &out, &pg) == 0) rc = 0;
    progress_show(&pg, true);
    double el = now_s() - pg.t0;
    fprintf(stderr, "%s: %d records written (%d errors) in %.1f s, %.1f records/min%s\n",
            atomic_load(&stop_requested) || rc != 0 ? "stopped" : "done", pg.done, pg.errors, el,
            el > 0 ? pg.done / el * 60 : 0, atomic_load(&stop_requested) ? "; run again with --resume to finish" : "");
    if (j.n_refused && rc == 0) {
        fprintf(stderr, "qvl batch: %d record%s needed more memory than --max-memory allows (see their errors)\n",
                j.n_refused, j.n_refused == 1 ? "" : "s");
        rc = 1;
    }
    if (atomic_load(&stop_requested)) rc = 130;
    goto cleanup;
fail:
    fprintf(stderr, "qvl batch: %s\n", err.msg);
cleanup:
    cli_schema_free(&schema);
    mem_budget_free(j.budget);
    image_cache_free(cache);
    ocr_engine_close(engine);
    ocr_router_free(router);
    gen_session_free(&j.sess);
    threadpool_free(j.tp);
    model_free(j.m);
    batch_out_close(&out);
    path_list_free(&imgs);
    path_list_free(&qs);
    free(qlist.items);
    return rc;
}
