/* cli_ask.c - `qvl ask --model M [--image IMG]... "question"`: one question,
 * the answer streamed to stdout as it is produced, routed to OCR or the
 * model like every other entry point (answer.h). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "answer/answer.h"
#include "cli/cli_util.h"
#include "load/model_load.h"

/* The images the model reads for one question, a document's pages counting
 * one each: the server's limit, so both answer alike. */

static const char *help =
    "usage: qvl ask --model M [options] \"question\"\n"
    "\n"
    "Answers one question, streaming the text to stdout as it is generated.\n"
    "      --image IMG         an image to ask about (repeatable); a PDF too\n"
    "      --pages P           of each PDF or multi-page TIFF: \"2\", \"1-3\" (default all); each page\n"
    "                          is an image for the model (at most 8 images in all) and for OCR (a\n"
    "                          born-digital page is read from its text layer, any number of pages)\n"
    "      --system TEXT       system message\n"
    "      --max-pixels N  --min-pixels N   image detail (fewer pixels = faster; default max 300000)\n"
    "      --max-tokens N      answer length limit (default 1024)\n"
    "      --temperature T     0 = greedy; default from generation_config.json (0.7)\n"
    "      --top-k K  --top-p P  --min-p P  --seed S\n"
    "      --repeat-penalty R  --presence-penalty P  --frequency-penalty F\n"
    "      --stop TEXT         stop when TEXT appears (repeatable)\n"
    "      --ctx N             context size in tokens (default 4096)\n"
    CLI_MEMORY_HELP
    "      --no-loop-check     do not stop when the output repeats itself\n"
    "  -v, --verbose           print the route and timings to stderr\n"
    CLI_SCHEMA_HELP CLI_OCR_HELP CLI_MODEL_HELP;

static int print_piece(void *user, const char *text, size_t len) {
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    return 0;
}

typedef struct ask_opts {
    const char *system, *schema, *pages, *max_memory;
    int max_tokens, top_k, seed, ctx, no_loop, verbose, max_px, min_px;
    float temp, top_p, min_p, rep, pres, freq;
} ask_opts;

static json_t *build_messages(const ask_opts *a, const str_list *images, const char *question) {
    json_t *msgs = json_array(), *content = json_array();
    if (a->system) json_array_append_new(msgs, json_pack("{s:s, s:s}", "role", "system", "content", a->system));
    for (int i = 0; i < images->n; i++)
        json_array_append_new(content, json_pack("{s:s, s:s}", "type", "image", "image", images->items[i]));
    json_array_append_new(content, json_pack("{s:s, s:s}", "type", "text", "text", question));
    json_array_append_new(msgs, json_pack("{s:s, s:o}", "role", "user", "content", content));
    return msgs;
}

static gen_params gen_options(const qvl_model *m, const ask_opts *a, const str_list *stops) {
    gen_params gp = gen_params_defaults(m);
    gp.max_tokens = a->max_tokens;
    if (a->temp >= 0) gp.sampling.temperature = a->temp;
    if (a->top_k >= 0) gp.sampling.top_k = a->top_k;
    if (a->top_p >= 0) gp.sampling.top_p = a->top_p;
    if (a->min_p >= 0) gp.sampling.min_p = a->min_p;
    if (a->rep > 0) gp.sampling.repetition_penalty = a->rep;
    gp.sampling.presence_penalty = a->pres;
    gp.sampling.frequency_penalty = a->freq;
    if (a->seed >= 0) gp.sampling.seed = (uint64_t)a->seed;
    gp.stop = stops->items;
    gp.n_stop = stops->n;
    gp.detect_loops = !a->no_loop;
    return gp;
}

/* A terminal's stderr gets one line rewritten in place while the image and
 * the prompt are read, erased once the prompt is done, so the answer starts
 * on a clean line. */
static void print_progress(void *user, const char *stage, int done, int total) {
    bool prompt = !strcmp(stage, "prompt");
    fprintf(stderr, "\r\033[Kreading the %s %d%%", prompt ? "question" : stage, total ? 100 * done / total : 100);
    if (prompt && done == total) fputs("\r\033[K", stderr);
}

static void report(const ask_opts *a, const answer_result *r) {
    const gen_result *g = &r->gen;
    if (g->finish == FINISH_LOOP) fprintf(stderr, "[stopped early: the answer kept repeating itself]\n");
    else if (g->finish == FINISH_LENGTH) fprintf(stderr, "[stopped at --max-tokens %d]\n", a->max_tokens);
    if (g->incomplete) fprintf(stderr, "[the JSON is incomplete]\n");
    if (r->fell_back)
        fprintf(stderr, "[OCR confidence %.0f was too low: answered by the model]\n", r->ocr_confidence);
    if (!a->verbose) return;
    fprintf(stderr, "route: %s", answer_route_name(r));
    if (r->ocr_ms > 0) fprintf(stderr, " (OCR %.0f ms, confidence %.0f)", r->ocr_ms, r->ocr_confidence);
    fprintf(stderr, "\n");
    if (r->image_ms > 0) fprintf(stderr, "images: %.0f ms\n", r->image_ms);
    if (g->n_prompt)
        fprintf(stderr, "prompt: %d tokens in %.0f ms (%.1f tok/s); answer: %d tokens in %.0f ms (%.1f tok/s)\n",
                g->n_prompt, g->prompt_ms, g->n_prompt / (g->prompt_ms / 1e3), g->n_generated, g->gen_ms,
                g->n_generated > 1 ? (g->n_generated - 1) / (g->gen_ms / 1e3) : 0.0);
}

int cli_ask(int argc, char **argv) {
    cli_model_opts mo = {0};
    cli_ocr_opts oo = {0};
    str_list images = {0}, stops = {0}, pos = {0};
    ask_opts a = {.max_tokens = 1024, .top_k = -1, .seed = -1, .ctx = 4096, .temp = -1, .top_p = -1, .min_p = -1,
                  .rep = -1};
    cli_opt opts[] = {CLI_MODEL_OPTIONS(mo),
                      CLI_OCR_OPTIONS(oo),
                      {"--image", NULL, OPT_LIST, &images},
                      {"--system", NULL, OPT_STR, &a.system},
                      {"--pages", NULL, OPT_STR, &a.pages},
                      {"--max-pixels", NULL, OPT_INT, &a.max_px},
                      {"--min-pixels", NULL, OPT_INT, &a.min_px},
                      {"--max-tokens", "-n", OPT_INT, &a.max_tokens},
                      {"--temperature", NULL, OPT_FLOAT, &a.temp},
                      {"--top-k", NULL, OPT_INT, &a.top_k},
                      {"--top-p", NULL, OPT_FLOAT, &a.top_p},
                      {"--min-p", NULL, OPT_FLOAT, &a.min_p},
                      {"--seed", NULL, OPT_INT, &a.seed},
                      {"--repeat-penalty", NULL, OPT_FLOAT, &a.rep},
                      {"--presence-penalty", NULL, OPT_FLOAT, &a.pres},
                      {"--frequency-penalty", NULL, OPT_FLOAT, &a.freq},
                      {"--stop", NULL, OPT_LIST, &stops},
                      {"--schema", NULL, OPT_STR, &a.schema},
                      {"--ctx", NULL, OPT_INT, &a.ctx},
                      {"--max-memory", NULL, OPT_STR, &a.max_memory},
                      {"--no-loop-check", NULL, OPT_FLAG, &a.no_loop},
                      {"--verbose", "-v", OPT_FLAG, &a.verbose},
                      {0}};
    int rc = cli_parse(argc, argv, opts, help, &pos);
    if (rc < 0 && pos.n != 1) {
        fprintf(stderr, "qvl ask: give exactly one question (quote it)\n\n%s", help);
        rc = 2;
    }
    ocr_mode mode;
    ocr_router *router = NULL;
    ocr_engine *engine = NULL;
    if (rc < 0 && cli_ocr_setup("qvl ask", &oo, images.n > 0, &mode, &router, &engine) != 0) rc = 2;
    cli_schema schema = {0};
    if (rc < 0 && cli_schema_load("qvl ask", a.schema, &schema) != 0) rc = 2;
    qvl_model *m = NULL;
    if (rc < 0 && !(m = cli_load_model("qvl ask", &mo, images.n == 0))) rc = 1;
    gen_params gp = {0};
    if (rc < 0) gp = gen_options(m, &a, &stops);
    if (rc < 0 && cli_schema_attach("qvl ask", &schema, m, &gp) != 0) rc = 1;
    if (rc >= 0) goto out;

    qvl_error err = {0};
    threadpool *tp = threadpool_create(mo.threads);
    gen_session sess;
    json_t *msgs = build_messages(&a, &images, pos.items[0]);
    rc = gen_session_init(&sess, m, a.ctx, &err);
    mem_budget *budget = NULL;
    if (rc == 0 && cli_memory_open("qvl ask", a.max_memory, m, a.ctx, mo.threads, 0, &budget) != 0) {
        gen_session_free(&sess);
        rc = 2;
        goto done;
    }
    /* Before any pixel is decoded: a question that cannot fit is refused at once. */
    if (rc == 0 && cli_memory_check(budget, m, msgs, a.min_px, cli_max_pixels(a.max_px, a.min_px), a.ctx,
                                    mo.threads, router != NULL, &err) != 0) {
        gen_session_free(&sess);
        rc = -1;
    }
    mem_budget_free(budget);
    if (rc == 0) {
        answer_worker w = {.model = m, .router = router, .ocr = engine, .ocr_lang = oo.lang, .tp = tp, .session = &sess};
        answer_request rq = {.messages = msgs, .mode = mode, .gen = gp, .on_text = print_piece,
                             .chat = {.add_generation_prompt = true, .min_pixels = a.min_px, .max_pixels = cli_max_pixels(a.max_px, a.min_px),
                                      .load_image = cli_load_image_file}};
        if (isatty(STDERR_FILENO)) rq.progress = (qvl_progress){print_progress, NULL};
        /* documents are split into pages for the model and OCR alike */
        cli_files files = {0};
        rq.chat.load_ctx = &files;
        rq.image_bytes = cli_image_bytes;
        rq.pages = a.pages;
        rq.max_images = CLI_MAX_IMAGES;
        answer_result res;
        rc = answer_run(&w, &rq, &res, &err);
        if (rc != 0 && rq.progress.fn) fputs("\r\033[K", stderr);   /* the error gets a line of its own */
        if (rc == 0) {
            printf("\n");
            fflush(stdout);
            report(&a, &res);
            answer_result_free(&res);
        }
        cli_files_free(&files);
        gen_session_free(&sess);
    }
    if (rc != 0) fprintf(stderr, "qvl ask: %s\n", err.msg);
    rc = rc ? 1 : 0;
done:
    json_decref(msgs);
    threadpool_free(tp);
out:
    cli_schema_free(&schema);
    ocr_engine_close(engine);
    ocr_router_free(router);
    model_free(m);
    free(images.items), free(stops.items), free(pos.items);
    return rc;
}
