/* ocr_tesseract.c - the built-in OCR backend, through Tesseract's C API.
 *
 * One ocr_tess keeps a TessBaseAPI per language set it has been asked for
 * (a few at most, least recently used evicted), because loading a language
 * model costs far more than recognising a page. Pixels go straight from our
 * RGB buffer (one channel when the page is grey) into Tesseract
 * (TessBaseAPISetImage copies them into its own Pix); nothing touches the
 * disk. Lines come from the result iterator in Tesseract's reading order,
 * each with its box and confidence. One pass of full layout analysis a
 * page; a second only when it found no text, or read a table column by
 * column (then the page is read as one block of rows).
 *
 * Not thread-safe: one ocr_tess per thread (ocr.h says so to callers).
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tesseract/capi.h>

#include "ocr/ocr_internal.h"
#include "ocr/ocr_text.h"

#define TESS_SLOTS 4

typedef struct {
    TessBaseAPI *api;
    char lang[132];
    unsigned long last_use;
} tess_slot;

struct ocr_tess {
    char *datapath;           /* NULL = Tesseract's compiled-in default */
    tess_slot slots[TESS_SLOTS];
    unsigned long clock;
};

/* Debian's Tesseract runs parts of its LSTM in OpenMP teams of 4 threads.
 * On a server that already runs one OCR engine per worker thread on a few
 * cores, those teams oversubscribe the CPU and spin: measured 4.2 s instead
 * of 0.73 s for a 1024x768 page on 2 busy cores. Setting OpenMP's
 * max-active-levels to 0 makes every parallel region run on the calling
 * thread. It is process-wide, which is fine: nothing else in qvl uses
 * OpenMP. Looked up at run time because qvl does not link libgomp itself
 * (Tesseract does); without it nothing changes. */
static void openmp_single_thread(void) {
    void (*set_levels)(int);
    *(void **)&set_levels = dlsym(RTLD_DEFAULT, "omp_set_max_active_levels");
    if (set_levels) set_levels(0);
}

ocr_tess *ocr_tess_open(const char *tessdata, qvl_error *err) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, openmp_single_thread);
    ocr_tess *t = calloc(1, sizeof *t);
    if (!t) { qvl_fail_code(err, QVL_E_NOMEM, "out of memory"); return NULL; }
    if (tessdata && !(t->datapath = strdup(tessdata))) {
        free(t);
        qvl_fail_code(err, QVL_E_NOMEM, "out of memory");
        return NULL;
    }
    return t;
}

void ocr_tess_close(ocr_tess *t) {
    if (!t) return;
    for (int i = 0; i < TESS_SLOTS; i++)
        if (t->slots[i].api) TessBaseAPIDelete(t->slots[i].api);
    free(t->datapath);
    free(t);
}

/* Returns an API initialised for lang, loading it into the least recently
 * used slot when needed. */
static TessBaseAPI *tess_get(ocr_tess *t, const char *lang, qvl_error *err) {
    tess_slot *pick = &t->slots[0];
    for (int i = 0; i < TESS_SLOTS; i++) {
        tess_slot *s = &t->slots[i];
        if (s->api && !strcmp(s->lang, lang)) { s->last_use = ++t->clock; return s->api; }
        if (!s->api || (pick->api && s->last_use < pick->last_use)) pick = s;
    }
    if (pick->api) { TessBaseAPIDelete(pick->api); pick->api = NULL; }
    TessBaseAPI *api = TessBaseAPICreate();
    if (!api) { qvl_fail_code(err, QVL_E_NOMEM, "cannot create a Tesseract instance"); return NULL; }
    /* Set at init so the "cannot open data file" chatter of a missing
     * language goes nowhere: our error message says it instead. */
    char *names[] = {"debug_file"}, *values[] = {"/dev/null"};
    if (TessBaseAPIInit4(api, t->datapath, lang, OEM_DEFAULT, NULL, 0, names, values, 1, 0) != 0) {
        TessBaseAPIDelete(api);
        qvl_fail_code(err, QVL_E_BAD_INPUT,
                      "Tesseract cannot load language '%s' from %s (installed languages are "
                      "the *.traineddata files there; Debian: apt install tesseract-ocr-<lang>)",
                      lang, t->datapath ? t->datapath : "its default tessdata directory");
        return NULL;
    }
    /* PSM_AUTO: full page layout analysis, which is what keeps columns and
     * table cells in reading order. */
    TessBaseAPISetPageSegMode(api, PSM_AUTO);
    pick->api = api;
    snprintf(pick->lang, sizeof pick->lang, "%s", lang);
    pick->last_use = ++t->clock;
    return api;
}

/* Drops the newlines and spaces Tesseract ends a line's text with. */
static void trim_end(char *text) {
    size_t n = strlen(text);
    while (n && (text[n - 1] == '\n' || text[n - 1] == ' ')) text[--n] = 0;
}

/* Walks the text lines of a finished recognition into out. */
static int collect_lines(TessBaseAPI *api, ocr_result *out, qvl_error *err) {
    TessResultIterator *it = TessBaseAPIGetIterator(api);
    if (!it) return 0;   /* no text found */
    int rc = 0;
    do {
        char *text = TessResultIteratorGetUTF8Text(it, RIL_TEXTLINE);
        if (!text) continue;
        trim_end(text);
        if (!text[0]) { TessDeleteText(text); continue; }
        ocr_text_join_cjk(text);
        int l = 0, tp = 0, r = 0, b = 0;
        TessPageIteratorBoundingBox(TessResultIteratorGetPageIteratorConst(it), RIL_TEXTLINE,
                                    &l, &tp, &r, &b);
        float conf = TessResultIteratorConfidence(it, RIL_TEXTLINE);
        if (!(conf >= 0)) conf = 0;
        if (conf > 100) conf = 100;
        rc = ocr_result_add_line(out, text, l, tp, r - l, b - tp, conf, err);
        TessDeleteText(text);
    } while (rc == 0 && TessResultIteratorNext(it, RIL_TEXTLINE));
    TessResultIteratorDelete(it);
    return rc;
}

/* Tesseract's cancel callback: asked between words. */
static bool cancel_requested(void *flag, int words) {
    (void)words;
    return atomic_load_explicit((const atomic_bool *)flag, memory_order_relaxed);
}

/* One byte a pixel of img when every pixel is grey (a page whose light was
 * evened is), else NULL (also when out of memory: the colour image does).
 * Tesseract thresholds each channel of a colour image; handed one channel
 * it does a third of that work, for the same text (measured ~5% of a dense
 * page's recognition). */
static uint8_t *grey_pixels(const ocr_image *img) {
    size_t n = (size_t)img->width * (size_t)img->height;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p = img->rgb + 3 * i;
        if (p[0] != p[1] || p[1] != p[2]) return NULL;
    }
    uint8_t *grey = malloc(n);
    for (size_t i = 0; grey && i < n; i++) grey[i] = img->rgb[3 * i];
    return grey;
}

/* Hands img (grey: grey_pixels of img, or NULL) to api. */
static void set_page(TessBaseAPI *api, const ocr_image *img, const uint8_t *grey) {
    if (grey) TessBaseAPISetImage(api, grey, img->width, img->height, 1, img->width);
    else TessBaseAPISetImage(api, img->rgb, img->width, img->height, 3, img->width * 3);
    /* Images carry no trustworthy DPI. 70 (screen resolution, Tesseract's
     * own fallback) scored better than 300 on tests/ocr/set, mostly on
     * signs and tilted text; setting it also silences Tesseract's warning.
     * Global Otsu thresholding (the default) also beat Sauvola there, though
     * Sauvola reads unevenly lit photos such as page.png better. */
    TessBaseAPISetSourceResolution(api, 70);
}

/* One pass over the page (grey: grey_pixels of img, or NULL) with the
 * current segmentation mode. */
static int recognize_page(TessBaseAPI *api, const ocr_image *img, const uint8_t *grey, const atomic_bool *cancel,
                          ocr_result *out, qvl_error *err) {
    set_page(api, img, grey);
    int rc = -1;
    ETEXT_DESC *monitor = cancel ? TessMonitorCreate() : NULL;
    if (monitor) {
        TessMonitorSetCancelFunc(monitor, cancel_requested);
        TessMonitorSetCancelThis(monitor, (void *)cancel);
    }
    if (cancel && !monitor) {
        qvl_fail_code(err, QVL_E_NOMEM, "out of memory for the OCR monitor");
    } else {
        int failed = TessBaseAPIRecognize(api, monitor) != 0;
        if (cancel && atomic_load(cancel))
            qvl_fail_code(err, QVL_E_CANCELLED, "OCR cancelled");
        else if (failed)
            qvl_fail(err, "Tesseract could not recognise the image (%dx%d)", img->width, img->height);
        else
            rc = collect_lines(api, out, err);
    }
    TessMonitorDelete(monitor);
    /* Drops the page and results but keeps the loaded language. */
    TessBaseAPIClear(api);
    return rc;
}

static long text_chars(const ocr_result *res) {
    long n = 0;
    for (int i = 0; i < res->n_lines; i++)
        for (const char *p = res->lines[i].text; *p; p++) n += *p != ' ' && ((unsigned char)*p & 0xc0) != 0x80;
    return n;
}

/* A table that layout analysis read column by column (ocr_layout.c) is read
 * again as one block of rows, which keeps each row's cells together and in
 * order. The rows replace the columns unless they lost text: the columns
 * reading has dropped whole columns before, the rows reading never did. */
static int reread_as_rows(TessBaseAPI *api, const ocr_image *img, const uint8_t *grey, const atomic_bool *cancel,
                          ocr_result *out, qvl_error *err) {
    ocr_result rows = {0};
    TessBaseAPISetPageSegMode(api, PSM_SINGLE_BLOCK);
    int rc = recognize_page(api, img, grey, cancel, &rows, err);
    TessBaseAPISetPageSegMode(api, PSM_AUTO);
    if (rc == 0 && 10 * text_chars(&rows) >= 9 * text_chars(out)) {
        ocr_result_free(out);
        *out = rows;
    } else {
        ocr_result_free(&rows);
    }
    return rc;
}

/* The CJK languages of lang ("chi_sim+eng" -> "chi_sim") into buf when lang
 * mixes them with others; 0 when it does not (then there is nothing to
 * re-read with). */
static int cjk_only(const char *lang, char *buf, size_t n) {
    int cjk = 0, other = 0;
    size_t w = 0;
    buf[0] = 0;
    for (const char *p = lang; *p;) {
        size_t k = strcspn(p, "+");
        bool is_cjk = !strncmp(p, "chi_", 4) || !strncmp(p, "jpn", 3) || !strncmp(p, "kor", 3);
        if (is_cjk && w + k + 2 <= n) {
            w += (size_t)snprintf(buf + w, n - w, "%s%.*s", w ? "+" : "", (int)k, p);
            cjk++;
        }
        other += !is_cjk;
        p += k + (p[k] == '+');
    }
    return cjk && other;
}

/* Mixed Chinese and English pages: Tesseract reads some two-character
 * Chinese words as short English ones with high confidence ("合计 78.51"
 * as "Bit 78.51", "橙汁" as "it"). On a page that is mostly Chinese, a line
 * whose only Latin words are such short ones is read once more by the
 * Chinese model alone (its character set has Latin letters and digits too),
 * and that reading replaces the line when it turned Latin letters into
 * Chinese and is not much less sure (10 points). Lines such as "使用 USB
 * 接口" are read again too, and keep their reading: the Chinese model reads
 * "USB" as it is. The box is padded by an eighth of the line's height: the
 * re-read of a tight box mistook strokes cut at its edges. */
static int reread_short_latin(ocr_tess *t, const ocr_image *img, const uint8_t *grey, const char *lang,
                              const atomic_bool *cancel, ocr_result *out, qvl_error *err) {
    char cjk_lang[132];
    if (!cjk_only(lang, cjk_lang, sizeof cjk_lang)) return 0;
    long cjk = 0, latin = 0;
    for (int i = 0; i < out->n_lines; i++) {
        long c, l;
        ocr_text_scripts(out->lines[i].text, &c, &l);
        cjk += c;
        latin += l;
    }
    if (cjk < 2 * latin) return 0;
    TessBaseAPI *api = NULL;
    int rc = 0;
    for (int i = 0; rc == 0 && i < out->n_lines; i++) {
        ocr_line *line = &out->lines[i];
        if (line->w <= 0 || !ocr_text_only_short_latin(line->text, 3)) continue;
        if (cancel && atomic_load(cancel)) {
            rc = qvl_fail_code(err, QVL_E_CANCELLED, "OCR cancelled");
            break;
        }
        if (!api) {
            if (!(api = tess_get(t, cjk_lang, err))) return -1;
            set_page(api, img, grey);
            TessBaseAPISetPageSegMode(api, PSM_SINGLE_LINE);
        }
        int pad = line->h / 8, x = line->x - pad > 0 ? line->x - pad : 0, y = line->y - pad > 0 ? line->y - pad : 0;
        int r = line->x + line->w + pad < img->width ? line->x + line->w + pad : img->width;
        int b = line->y + line->h + pad < img->height ? line->y + line->h + pad : img->height;
        TessBaseAPISetRectangle(api, x, y, r - x, b - y);
        char *text = TessBaseAPIRecognize(api, NULL) == 0 ? TessBaseAPIGetUTF8Text(api) : NULL;
        float conf = (float)TessBaseAPIMeanTextConf(api);
        if (!text) continue;
        trim_end(text);
        ocr_text_join_cjk(text);
        long c, l, c0, l0;
        ocr_text_scripts(text, &c, &l);
        ocr_text_scripts(line->text, &c0, &l0);
        if (c > c0 && l < l0 && conf >= line->confidence - 10) {
            char *keep = strdup(text);
            if (keep) {
                free(line->text);
                line->text = keep;
                line->confidence = conf < 100 ? conf : 100;
            }
        }
        TessDeleteText(text);
    }
    /* the slot may read whole pages in this language next, cancelled or not */
    if (api) {
        TessBaseAPISetPageSegMode(api, PSM_AUTO);
        TessBaseAPIClear(api);
    }
    return rc;
}

int ocr_tess_recognize(ocr_tess *t, const ocr_image *img, const char *lang, const atomic_bool *cancel,
                       ocr_result *out, qvl_error *err) {
    TessBaseAPI *api = tess_get(t, lang, err);
    if (!api) return -1;
    uint8_t *grey = grey_pixels(img);
    int rc = recognize_page(api, img, grey, cancel, out, err);
    /* Full layout analysis sometimes files a whole clean page as a picture
     * (thin rules, a slight tilt) and finds no text; reading the page as one
     * column of lines then works, at the cost of a second pass only then. */
    if (rc == 0 && out->n_lines == 0) {
        TessBaseAPISetPageSegMode(api, PSM_SINGLE_COLUMN);
        rc = recognize_page(api, img, grey, cancel, out, err);
        TessBaseAPISetPageSegMode(api, PSM_AUTO);
    } else if (rc == 0 && ocr_lines_table_by_columns(out)) {
        rc = reread_as_rows(api, img, grey, cancel, out, err);
    }
    if (rc == 0) rc = reread_short_latin(t, img, grey, lang, cancel, out, err);
    free(grey);
    if (rc == 0) rc = ocr_result_finish(out, err);
    if (rc < 0) ocr_result_free(out);
    return rc;
}
