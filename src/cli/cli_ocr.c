/* cli_ocr.c - `qvl ocr` (read the text in an image, time it, or score it
 * against ground truth) and `qvl route` (show the OCR/VLM routing decision).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "image/image.h"
#include "ocr/ocr.h"
#include "ocr/ocr_router.h"
#include "ocr/ocr_text.h"

static const char *ocr_help =
    "usage: qvl ocr --image IMG [options]\n"
    "       qvl ocr --bench IMG [--runs N] [options]\n"
    "       qvl ocr --eval DIR [--json] [options]\n"
    "\n"
    "Reads the text in an image with the OCR engine and prints it, then one line per text\n"
    "line with its confidence (0..100) and box, whether the reading is trusted (served as an\n"
    "answer) and what was done to the page first (turned, levelled, light evened, enlarged).\n"
    "  --bench IMG         time one cold and N warm recognitions; prints JSON\n"
    "  --eval DIR          score DIR/manifest.tsv (file, category, lang[, tags] per line, tab-\n"
    "                      separated; ground truth DIR/<FILE's base name>.gt.txt) by character\n"
    "                      error rate per category and per tag\n"
    "\n"
    "options:\n"
    "  --lang L            languages joined by '+' (default " OCR_DEFAULT_LANG ")\n"
    "  --plugin P          use a plugin: a .so backend or an executable command plugin\n"
    "  --tessdata DIR      Tesseract language data directory (default: Tesseract's)\n"
    "  --timeout MS        plugin time limit per image (default 20000)\n"
    "  --runs N            warm runs for --bench (default 5)\n"
    "  --pages P           of a PDF or multi-page TIFF: \"2\", \"1-3\" or \"all\" (the default); a PDF\n"
    "                      page with a text layer (born-digital) is read from it, exactly\n"
    "                      (confidence 100); a scanned page is rendered at 200 dpi and read by OCR\n"
    "  --as-is             no page correction (turning, levelling, light, enlarging): the\n"
    "                      engine sees the image as given\n"
    "  --json              machine-readable output\n";

static int64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int load_image(const char *path, image_rgb *img) {
    size_t len;
    char *bytes = cli_read_all("qvl ocr", path, &len);
    if (!bytes) return -1;
    qvl_error err = {0};
    int rc = image_decode((const uint8_t *)bytes, len, NULL, img, &err);
    free(bytes);
    if (rc < 0) fprintf(stderr, "qvl ocr: %s: %s\n", path, err.msg);
    return rc;
}

static int recognize_file(ocr_engine *eng, const char *path, const char *lang, ocr_result *res,
                          ocr_page_plan *plan) {
    image_rgb img = {0};
    if (load_image(path, &img) < 0) return -1;
    qvl_error err = {0};
    int rc = ocr_engine_read_page(eng, &img, lang, NULL, res, plan, &err);
    image_free(&img);
    if (rc < 0) fprintf(stderr, "qvl ocr: %s: %s\n", path, err.msg);
    return rc;
}

/* "turned 90, levelled 3.1 deg, light evened, enlarged x2.0" or "as given". */
static const char *plan_words(const ocr_page_plan *p, char *buf, size_t n) {
    int k = snprintf(buf, n, "%s", "");
    if (p->rotation) k += snprintf(buf + k, n - (size_t)k, ", turned %d", p->rotation);
    if (p->skew != 0) k += snprintf(buf + k, n - (size_t)k, ", levelled %.1f deg", p->skew);
    if (p->light) k += snprintf(buf + k, n - (size_t)k, ", light evened");
    if (p->scale != 1) k += snprintf(buf + k, n - (size_t)k, ", enlarged x%.1f", p->scale);
    snprintf(buf + k, n - (size_t)k, "%s(lines across/down %.2f, up/down %.1f, light spread %.2f, marks %.0f px)",
             k ? " " : "as given ", p->axis_ratio, p->updown, p->light_spread, p->mark_height);
    return *buf == ',' ? buf + 2 : buf;
}

static void print_result(const ocr_engine *eng, const ocr_result *res, const ocr_page_plan *plan, int as_json,
                         double ms) {
    char words[256];
    if (!as_json) {
        printf("%s\n\n", res->text);
        for (int i = 0; i < res->n_lines; i++) {
            const ocr_line *l = &res->lines[i];
            printf("[%5.1f] (%d,%d %dx%d) %s\n", l->confidence, l->x, l->y, l->w, l->h, l->text);
        }
        printf("-- %s, %d lines, confidence %.1f, %s, page %s, %.0f ms\n", ocr_engine_name(eng), res->n_lines,
               res->confidence, ocr_result_trusted(res) ? "trusted" : "NOT trusted",
               plan_words(plan, words, sizeof words), ms);
        return;
    }
    json_t *lines = json_array();
    for (int i = 0; i < res->n_lines; i++) {
        const ocr_line *l = &res->lines[i];
        json_array_append_new(lines, json_pack("{s:s, s:f, s:[iiii]}", "text", l->text, "confidence",
                                               (double)l->confidence, "box", l->x, l->y, l->w, l->h));
    }
    json_t *root = json_pack("{s:s, s:s, s:f, s:b, s:f, s:o, s:{s:i, s:f, s:b, s:f}}", "engine",
                             ocr_engine_name(eng), "text", res->text, "confidence", (double)res->confidence,
                             "trusted", ocr_result_trusted(res), "ms", ms, "lines", lines, "page", "rotation",
                             plan->rotation, "skew", (double)plan->skew, "light", plan->light, "scale",
                             (double)plan->scale);
    json_dumpf(root, stdout, JSON_INDENT(1));
    printf("\n");
    json_decref(root);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int run_bench(ocr_engine *eng, const char *path, const char *lang, int runs) {
    image_rgb img = {0};
    if (load_image(path, &img) < 0) return 1;
    if (runs < 1 || runs > 1000) runs = 5;
    double *ms = calloc((size_t)runs + 1, sizeof *ms);
    ocr_result res = {0};
    qvl_error err = {0};
    int rc = 0;
    for (int i = 0; i <= runs && rc == 0 && ms; i++) {
        ocr_result_free(&res);
        int64_t t0 = now_us();
        rc = ocr_engine_recognize(eng, &img, lang, &res, &err);
        ms[i] = (double)(now_us() - t0) / 1000.0;
    }
    if (rc < 0 || !ms) {
        fprintf(stderr, "qvl ocr: %s: %s\n", path, ms ? err.msg : "out of memory");
        free(ms); image_free(&img);
        return 1;
    }
    double cold = ms[0];
    qsort(ms + 1, (size_t)runs, sizeof *ms, cmp_double);
    printf("{\"bench\": \"ocr\", \"engine\": \"%s\", \"image\": \"%s\", \"width\": %d, \"height\": %d, "
           "\"lang\": \"%s\", \"cold_ms\": %.1f, \"warm_ms_median\": %.1f, \"warm_ms_min\": %.1f, "
           "\"warm_ms_max\": %.1f, \"runs\": %d, \"lines\": %d, \"confidence\": %.1f}\n",
           ocr_engine_name(eng), path, img.width, img.height, lang ? lang : OCR_DEFAULT_LANG, cold,
           ms[1 + runs / 2], ms[1], ms[runs], runs, res.n_lines, res.confidence);
    ocr_result_free(&res);
    free(ms);
    image_free(&img);
    return 0;
}

/* ---- documents: PDF and multi-page TIFF ---- */

/* Reads pages first..last of a document one by one (ocr_engine_read_document:
 * a PDF page by its text layer when it has one, else rendered and read by
 * OCR) and prints each. Returns 0, or 1 when a page failed. */
static int read_document(ocr_engine *eng, const uint8_t *bytes, size_t len, const char *pages, const char *lang,
                         int as_json) {
    qvl_error err = {0};
    int n = image_page_count(bytes, len, NULL, &err), first, last;
    if (n < 0 || image_pages_parse(pages, n, &first, &last, &err) != 0) {
        fprintf(stderr, "qvl ocr: %s\n", err.msg);
        return 1;
    }
    json_t *all = json_array();
    int rc = 0;
    for (int p = first; p <= last && rc == 0; p++) {
        int64_t t0 = now_us();
        char one[16];
        snprintf(one, sizeof one, "%d", p + 1);
        ocr_result res = {0};
        rc = ocr_engine_read_document(eng, bytes, len, NULL, one, lang, NULL, &res, &err) != 0;
        double ms = (double)(now_us() - t0) / 1000.0;
        if (rc)
            fprintf(stderr, "qvl ocr: %s\n", err.msg);
        else if (as_json)
            json_array_append_new(all, json_pack("{s:i, s:s, s:f, s:b, s:f}", "page", p + 1, "text", res.text,
                                                 "confidence", (double)res.confidence, "trusted",
                                                 ocr_result_trusted(&res), "ms", ms));
        else
            printf("== page %d: confidence %.1f, %s, %.0f ms ==\n%s\n", p + 1, res.confidence,
                   ocr_result_trusted(&res) ? "trusted" : "NOT trusted", ms, res.text);
        ocr_result_free(&res);
    }
    if (as_json && rc == 0) {
        json_t *root = json_pack("{s:s, s:i, s:o}", "engine", ocr_engine_name(eng), "page_count", n, "pages", all);
        json_dumpf(root, stdout, JSON_INDENT(1));
        printf("\n");
        json_decref(root);
    } else {
        json_decref(all);
    }
    return rc;
}

/* ---- --eval: character error rate per category ---- */

typedef struct { char name[64]; long edits, chars; int images; } cat_sum;

static cat_sum *cat_get(cat_sum *cats, int *n, const char *name) {
    for (int i = 0; i < *n; i++)
        if (!strcmp(cats[i].name, name)) return &cats[i];
    if (*n >= 64) return &cats[63];   /* more categories than any manifest needs: lump them */
    cat_sum *c = &cats[(*n)++];
    snprintf(c->name, sizeof c->name, "%s", name);
    return c;
}

static void cat_add(cat_sum *c, long edits, long chars) {
    c->edits += edits;
    c->chars += chars;
    c->images++;
}

/* Scores one manifest row; returns -1 when the image could not be read. */
static int eval_one(ocr_engine *eng, const char *dir, const char *file, const char *lang,
                    long *edits, long *chars, double *cer_out, int as_json) {
    /* The ground truth sits in DIR under the image's base name, so a
     * manifest can point at images kept elsewhere (the shared test data). */
    char path[4096], gt_path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    const char *base = strrchr(file, '/');
    snprintf(gt_path, sizeof gt_path, "%s/%s", dir, base ? base + 1 : file);
    char *dot = strrchr(gt_path, '.');
    if (dot) *dot = 0;
    strncat(gt_path, ".gt.txt", sizeof gt_path - strlen(gt_path) - 1);
    size_t len;
    char *gt = cli_read_all("qvl ocr", gt_path, &len);
    if (!gt) return -1;
    ocr_result res = {0};
    ocr_page_plan plan;
    int rc = recognize_file(eng, path, lang, &res, &plan);
    double cer = 0;
    qvl_error err = {0};
    if (rc == 0 && ocr_cer(gt, res.text, &cer, edits, chars, &err) < 0) {
        fprintf(stderr, "qvl ocr: %s: %s\n", file, err.msg);
        rc = -1;
    }
    char words[256];
    if (rc == 0 && !as_json)
        printf("%-36s %-12s CER %6.3f  conf %5.1f%s  %s\n", file, lang, cer, res.confidence,
               ocr_result_trusted(&res) ? "" : " (not trusted)", plan_words(&plan, words, sizeof words));
    *cer_out = cer;
    ocr_result_free(&res);
    free(gt);
    return rc;
}

static int run_eval(ocr_engine *eng, const char *dir, int as_json) {
    char mpath[4096];
    snprintf(mpath, sizeof mpath, "%s/manifest.tsv", dir);
    size_t len;
    char *man = cli_read_all("qvl ocr", mpath, &len);
    if (!man) return 1;
    cat_sum cats[64], all = {.name = "all"};
    memset(cats, 0, sizeof cats);
    int ncat = 0, failed = 0;
    double worst_cer = -1, cer_sum = 0;
    int scored = 0;
    char worst[128] = "";
    int64_t t0 = now_us();
    for (char *line = man, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        if (*line == '#' || !*line) continue;
        char *file = strtok(line, "\t"), *cat = strtok(NULL, "\t"), *lang = strtok(NULL, "\t\r");
        char *tags = strtok(NULL, "\t\r");
        if (!file || !cat || !lang) {
            fprintf(stderr, "qvl ocr: %s: a line needs file<TAB>category<TAB>lang\n", mpath);
            failed++;
            continue;
        }
        long e = 0, c = 0;
        double cer = 0;
        if (eval_one(eng, dir, file, lang, &e, &c, &cer, as_json) < 0) { failed++; continue; }
        cer_sum += cer;
        scored++;
        if (cer > worst_cer) {
            worst_cer = cer;
            snprintf(worst, sizeof worst, "%s", file);
        }
        cat_add(cat_get(cats, &ncat, cat), e, c);
        /* Tags (language, degradation) give a second cut of the same numbers. */
        for (char *save = NULL, *t = tags ? strtok_r(tags, ",", &save) : NULL; t; t = strtok_r(NULL, ",", &save)) {
            char tag[64];
            snprintf(tag, sizeof tag, "tag:%s", t);
            cat_add(cat_get(cats, &ncat, tag), e, c);
        }
        cat_add(&all, e, c);
    }
    free(man);
    double secs = (double)(now_us() - t0) / 1e6;
    cats[ncat++] = all;
    if (as_json) printf("{\"eval\": \"ocr\", \"dir\": \"%s\", \"failed\": %d, \"seconds\": %.1f, \"max_cer\": %.4f, "
                        "\"worst\": \"%s\", \"mean_image_cer\": %.4f, \"categories\": {", dir, failed, secs, worst_cer, worst,
                        scored ? cer_sum / scored : 0.0);
    else printf("\n%-14s %6s %8s %8s\n", "category", "images", "chars", "CER");
    for (int i = 0; i < ncat; i++) {
        double cer = cats[i].chars ? (double)cats[i].edits / (double)cats[i].chars : 0;
        if (as_json)
            printf("%s\"%s\": {\"images\": %d, \"chars\": %ld, \"edits\": %ld, \"cer\": %.4f}", i ? ", " : "",
                   cats[i].name, cats[i].images, cats[i].chars, cats[i].edits, cer);
        else
            printf("%-14s %6d %8ld %8.4f\n", cats[i].name, cats[i].images, cats[i].chars, cer);
    }
    if (as_json) printf("}}\n");
    else printf("(%d failed, %.1f s; mean CER per image %.4f; worst image %s at CER %.3f)\n", failed, secs,
                scored ? cer_sum / scored : 0.0, worst, worst_cer);
    return failed ? 1 : 0;
}

int cli_ocr(int argc, char **argv) {
    const char *image = NULL, *bench = NULL, *eval = NULL, *lang = NULL, *plugin = NULL, *tessdata = NULL;
    const char *pages = NULL;
    int timeout = 0, runs = 5, as_json = 0, as_is = 0;
    cli_opt opts[] = {
        {"--image", "-i", OPT_STR, &image}, {"--bench", NULL, OPT_STR, &bench},
        {"--eval", NULL, OPT_STR, &eval}, {"--lang", "-l", OPT_STR, &lang},
        {"--plugin", NULL, OPT_STR, &plugin}, {"--tessdata", NULL, OPT_STR, &tessdata},
        {"--timeout", NULL, OPT_INT, &timeout}, {"--runs", NULL, OPT_INT, &runs},
        {"--json", NULL, OPT_FLAG, &as_json}, {"--as-is", NULL, OPT_FLAG, &as_is},
        {"--pages", NULL, OPT_STR, &pages}, {0}};
    int rc = cli_parse(argc, argv, opts, ocr_help, NULL);
    if (rc >= 0) return rc;
    if (!!image + !!bench + !!eval != 1) {
        fprintf(stderr, "qvl ocr: give exactly one of --image, --bench, --eval (see --help)\n");
        return 2;
    }
    qvl_error err = {0};
    ocr_engine_opts eo = {.tessdata = tessdata, .timeout_ms = timeout, .as_is = as_is};
    ocr_engine *eng = plugin ? ocr_engine_open_plugin(plugin, &eo, &err) : ocr_engine_open_tesseract(&eo, &err);
    if (!eng) {
        fprintf(stderr, "qvl ocr: %s\n", err.msg);
        return 1;
    }
    if (bench) rc = run_bench(eng, bench, lang, runs);
    else if (eval) rc = run_eval(eng, eval, as_json);
    else {
        size_t len;
        uint8_t *bytes = (uint8_t *)cli_read_all("qvl ocr", image, &len);
        const char *type = bytes ? image_sniff(bytes, len) : NULL;
        qvl_error perr = {0};
        int n_pages = type ? image_page_count(bytes, len, NULL, &perr) : 1;
        if (!bytes) {
            rc = 1;
        } else if (type && (!strcmp(type, "application/pdf") || n_pages > 1 || pages)) {
            rc = read_document(eng, bytes, len, pages, lang, as_json);
        } else {
            ocr_result res = {0};
            int64_t t0 = now_us();
            ocr_page_plan plan;
            rc = recognize_file(eng, image, lang, &res, &plan) < 0 ? 1 : 0;
            if (rc == 0) print_result(eng, &res, &plan, as_json, (double)(now_us() - t0) / 1000.0);
            ocr_result_free(&res);
        }
        free(bytes);
    }
    ocr_engine_close(eng);
    return rc;
}

static const char *route_help =
    "usage: qvl route [--ocr-rules FILE] [--mode auto|ocr|vlm|ocr+vlm] QUESTION\n"
    "\n"
    "Prints the route (ocr, vlm or ocr+vlm) a question about an image would take, and the\n"
    "rule that chose it. Rules come from --ocr-rules FILE, $QVL_OCR_RULES or data/ocr-rules.txt.\n";

int cli_route(int argc, char **argv) {
    const char *rules = NULL, *mode_s = "auto";
    str_list pos = {0};
    cli_opt opts[] = {{"--ocr-rules", NULL, OPT_STR, &rules}, {"--mode", NULL, OPT_STR, &mode_s}, {0}};
    int rc = cli_parse(argc, argv, opts, route_help, &pos);
    if (rc < 0 && pos.n != 1) {
        fprintf(stderr, "qvl route: give the question as one argument (quote it)\n");
        rc = 2;
    }
    qvl_error err = {0};
    ocr_mode mode = OCR_MODE_AUTO;
    if (rc < 0 && ocr_mode_parse(mode_s, &mode, &err) < 0) {
        fprintf(stderr, "qvl route: %s\n", err.msg);
        rc = 2;
    }
    ocr_router *r = rc < 0 ? ocr_router_load(rules, &err) : NULL;
    if (rc < 0 && !r) {
        fprintf(stderr, "qvl route: %s\n", err.msg);
        rc = 1;
    }
    if (rc < 0) {
        ocr_decision d;
        ocr_router_decide(r, pos.items[0], mode, &d);
        if (d.forced) printf("%s\t(forced by --mode)\n", ocr_route_name(d.route));
        else if (d.rule_line) printf("%s\t(rule at line %d: %s)\n", ocr_route_name(d.route), d.rule_line, d.rule);
        else printf("%s\t(no rule matched)\n", ocr_route_name(d.route));
        rc = 0;
    }
    ocr_router_free(r);
    free(pos.items);
    return rc;
}
