/* ocr_engine.c - the ocr_engine handle of ocr.h: checks the request once,
 * then hands it to the backend it was opened with.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ocr/ocr_internal.h"
#include "ocr/ocr_page.h"

typedef enum { ENGINE_TESS, ENGINE_SO, ENGINE_CMD } engine_kind;

struct ocr_engine {
    engine_kind kind;
    ocr_tess *tess;      /* ENGINE_TESS */
    ocr_so *so;          /* ENGINE_SO */
    char *cmd_path;      /* ENGINE_CMD */
    char name[64];
    char who[160];       /* "OCR plugin 'x'" for messages */
    int timeout_ms;
    uint64_t max_pixels;
    bool as_is;          /* no page correction (opts.as_is) */
};

static ocr_engine *engine_new(engine_kind kind, const ocr_engine_opts *opts, qvl_error *err) {
    ocr_engine *e = calloc(1, sizeof *e);
    if (!e) { qvl_fail_code(err, QVL_E_NOMEM, "out of memory"); return NULL; }
    e->kind = kind;
    e->timeout_ms = opts && opts->timeout_ms > 0 ? opts->timeout_ms : OCR_DEFAULT_TIMEOUT_MS;
    e->max_pixels = opts && opts->max_pixels ? opts->max_pixels : OCR_DEFAULT_MAX_PIXELS;
    e->as_is = opts && opts->as_is;
    return e;
}

ocr_engine *ocr_engine_open_tesseract(const ocr_engine_opts *opts, qvl_error *err) {
    ocr_engine *e = engine_new(ENGINE_TESS, opts, err);
    if (!e) return NULL;
    if (!(e->tess = ocr_tess_open(opts ? opts->tessdata : NULL, err))) { free(e); return NULL; }
    snprintf(e->name, sizeof e->name, "tesseract");
    return e;
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

ocr_engine *ocr_engine_open_plugin(const char *path, const ocr_engine_opts *opts, qvl_error *err) {
    int is_so = ends_with(path, ".so") || strstr(path, ".so.") != NULL;
    ocr_engine *e = engine_new(is_so ? ENGINE_SO : ENGINE_CMD, opts, err);
    if (!e) return NULL;
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(e->who, sizeof e->who, "OCR plugin '%s'", base);
    if (is_so) {
        if (!(e->so = ocr_so_open(path, opts ? opts->config : NULL, e->timeout_ms, err))) {
            free(e);
            return NULL;
        }
        snprintf(e->name, sizeof e->name, "%s", ocr_so_name(e->so));
        return e;
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || !(st.st_mode & 0111)) {
        free(e);
        qvl_fail_code(err, QVL_E_IO, "OCR plugin %s: not an executable file (a command plugin must "
                      "be a program; a shared object must end in .so)", path);
        return NULL;
    }
    if (!(e->cmd_path = strdup(path))) {
        free(e);
        qvl_fail_code(err, QVL_E_NOMEM, "out of memory");
        return NULL;
    }
    snprintf(e->name, sizeof e->name, "%s", base);
    return e;
}

const char *ocr_engine_name(const ocr_engine *eng) { return eng->name; }

int ocr_engine_recognize(ocr_engine *eng, const image_rgb *img, const char *lang,
                         ocr_result *out, qvl_error *err) {
    return ocr_engine_recognize_cancellable(eng, img, lang, NULL, out, err);
}

/* The backend on one image as it is. */
static int backend_recognize(ocr_engine *eng, const image_rgb *img, const char *lang, const atomic_bool *cancel,
                             ocr_result *out, qvl_error *err) {
    ocr_image view = {img->width, img->height, img->pixels};
    memset(out, 0, sizeof *out);
    switch (eng->kind) {
    case ENGINE_TESS: return ocr_tess_recognize(eng->tess, &view, lang, cancel, out, err);
    case ENGINE_SO:   return ocr_so_recognize(eng->so, &view, lang, out, err);
    case ENGINE_CMD:  return ocr_cmd_recognize(eng->cmd_path, eng->who, eng->timeout_ms, &view, lang,
                                               out, err);
    }
    return qvl_fail(err, "unknown OCR engine kind");
}

/* The backend on img corrected by plan. */
static int recognize_planned(ocr_engine *eng, const image_rgb *img, const ocr_page_plan *plan, const char *lang,
                             const atomic_bool *cancel, ocr_result *out, qvl_error *err) {
    if (ocr_page_plan_is_identity(plan)) return backend_recognize(eng, img, lang, cancel, out, err);
    image_rgb fixed;
    if (ocr_page_apply(img, plan, eng->max_pixels, &fixed, err) != 0) return -1;
    int rc = backend_recognize(eng, &fixed, lang, cancel, out, err);
    image_free(&fixed);
    return rc;
}

/* Reads the page turned by `turn` more degrees than plan says; keeps the
 * better reading in *best (and its plan in *plan). */
static int try_turn(ocr_engine *eng, const image_rgb *img, ocr_page_plan *plan, int turn, const char *lang,
                    const atomic_bool *cancel, ocr_result *best, qvl_error *err) {
    ocr_page_plan alt = *plan;
    alt.rotation = (plan->rotation + turn) % 360;
    ocr_result res;
    if (recognize_planned(eng, img, &alt, lang, cancel, &res, err) != 0) return -1;
    if (ocr_result_better(&res, best)) {
        ocr_result_free(best);
        *best = res;
        *plan = alt;
    } else {
        ocr_result_free(&res);
    }
    return 0;
}

int ocr_engine_read_page(ocr_engine *eng, const image_rgb *img, const char *lang, const atomic_bool *cancel,
                         ocr_result *out, ocr_page_plan *used, qvl_error *err) {
    memset(out, 0, sizeof *out);
    ocr_page_plan plan = {.scale = 1, .axis_ratio = 1, .light_spread = 1};
    if (used) *used = plan;
    if (!lang || !*lang) lang = OCR_DEFAULT_LANG;
    if (!ocr_lang_valid(lang))
        return qvl_fail_code(err, QVL_E_BAD_INPUT, "bad OCR language '%.100s': expected names like "
                             "eng, chi_sim or chi_tra joined by '+'", lang);
    if (!img || !img->pixels || img->width <= 0 || img->height <= 0)
        return qvl_fail_code(err, QVL_E_BAD_INPUT, "OCR needs a non-empty image");
    if ((uint64_t)img->width * (uint64_t)img->height > eng->max_pixels)
        return qvl_fail_code(err, QVL_E_TOO_LARGE, "image of %dx%d pixels is over the OCR limit of "
                             "%llu pixels", img->width, img->height, (unsigned long long)eng->max_pixels);
    if (eng->as_is) return backend_recognize(eng, img, lang, cancel, out, err);
    if (ocr_page_measure(img, &plan, err) != 0) return -1;
    if (recognize_planned(eng, img, &plan, lang, cancel, out, err) != 0) return -1;
    /* The up/down guess only reads Latin and the axis guess can be fooled
     * by tables: a reading the engine itself does not believe is tried the
     * other way up, and across when the axis was a close call. */
    int rc = 0;
    if (!plan.print_seen) goto out;   /* noise or a photo: no other way up will read better */
    if (!ocr_result_trusted(out)) rc = try_turn(eng, img, &plan, 180, lang, cancel, out, err);
    bool close_call = plan.axis_ratio > 1 / OCR_PAGE_AXIS_CLOSE && plan.axis_ratio < OCR_PAGE_AXIS_CLOSE;
    if (rc == 0 && close_call && !ocr_result_trusted(out)) rc = try_turn(eng, img, &plan, 90, lang, cancel, out, err);
    if (rc == 0 && close_call && !ocr_result_trusted(out)) rc = try_turn(eng, img, &plan, 270, lang, cancel, out, err);
out:
    if (rc != 0) ocr_result_free(out);
    else if (used) *used = plan;
    return rc;
}

int ocr_engine_recognize_cancellable(ocr_engine *eng, const image_rgb *img, const char *lang,
                                     const atomic_bool *cancel, ocr_result *out, qvl_error *err) {
    return ocr_engine_read_page(eng, img, lang, cancel, out, NULL, err);
}

void ocr_engine_close(ocr_engine *eng) {
    if (!eng) return;
    ocr_tess_close(eng->tess);
    ocr_so_close(eng->so);
    free(eng->cmd_path);
    free(eng);
}
