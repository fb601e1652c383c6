/* ocr_page.c - measuring and correcting a page's geometry and light before
 * recognition (see ocr_page.h). Leptonica does the image work: its skew
 * search (a sweep then a binary search over the variance of row sums), its
 * up/down test, background normalisation and area-mapped rotation.
 *
 * Measurements run on a grey copy of at most MEASURE_PIXELS pixels, so a
 * 12 MP photo costs what a 1 MP one does; angles do not depend on scale and
 * mark heights are scaled back.
 */
#include "ocr/ocr_page.h"

#include <leptonica/allheaders.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define MEASURE_PIXELS   1200000.0
#define SKEW_RANGE       12.0f   /* degrees searched either way; phones tilt pages up to ~10 */
#define SKEW_MIN         2.0f    /* Tesseract follows lines this little tilted itself; levelling them
                                    costs resampling blur (measured worse on tests/ocr/set below 2) */
#define SKEW_MIN_CONF    1.2f    /* Leptonica's confidence below which the angle is noise (a receipt of
                                    six CJK lines: 1.3-1.8) */
#define AXIS_TURN        1.25f   /* lines down the picture this much clearer than across: turn it */
#define UPDOWN_FLIP      -6.0f   /* a clear excess of descenders over ascenders: upside down */
#define LIGHT_SPREAD     1.45f   /* background tiles this much brighter than others: a lamp */
#define SMALL_MARKS      8.5f    /* median mark height (px) below which print is enlarged (Latin
                                    x-heights of 9 px read as well as enlarged, at a fifth of the cost) */
#define TARGET_MARKS     20.0f
#define MIN_PRINT        6.0f    /* marks lower than this are specks (noise, texture), not print */
#define MIN_MARKS_LEVEL  20      /* a sign of a few characters: its tilt is Tesseract's business */
#define MAX_SCALE        3.0f

/* ---- conversions ---- */

/* A grey copy of img, shrunk by an integer factor (box average). */
static PIX *grey_reduced(const image_rgb *img, int f) {
    int w = img->width / f, h = img->height / f;
    if (w < 1 || h < 1) return NULL;
    PIX *pix = pixCreate(w, h, 8);
    if (!pix) return NULL;
    l_uint32 *data = pixGetData(pix);
    int wpl = pixGetWpl(pix);
    for (int y = 0; y < h; y++) {
        l_uint32 *line = data + (size_t)y * wpl;
        for (int x = 0; x < w; x++) {
            unsigned sum = 0;
            for (int dy = 0; dy < f; dy++) {
                const uint8_t *p = img->pixels + ((size_t)(y * f + dy) * img->width + (size_t)x * f) * 3;
                for (int dx = 0; dx < f; dx++, p += 3) sum += (unsigned)(77 * p[0] + 150 * p[1] + 29 * p[2]) >> 8;
            }
            SET_DATA_BYTE(line, x, sum / (unsigned)(f * f));
        }
    }
    return pix;
}

static PIX *rgb_to_pix(const image_rgb *img) {
    PIX *pix = pixCreate(img->width, img->height, 32);
    if (!pix) return NULL;
    l_uint32 *data = pixGetData(pix);
    int wpl = pixGetWpl(pix);
    for (int y = 0; y < img->height; y++) {
        const uint8_t *p = img->pixels + (size_t)y * img->width * 3;
        l_uint32 *line = data + (size_t)y * wpl;
        for (int x = 0; x < img->width; x++, p += 3)
            line[x] = ((l_uint32)p[0] << L_RED_SHIFT) | ((l_uint32)p[1] << L_GREEN_SHIFT) |
                      ((l_uint32)p[2] << L_BLUE_SHIFT);
    }
    return pix;
}

/* 8 or 32 bpp pix -> image_rgb. */
static int pix_to_rgb(PIX *pix, image_rgb *out, qvl_error *err) {
    int w = pixGetWidth(pix), h = pixGetHeight(pix), d = pixGetDepth(pix);
    if (image_alloc(out, w, h, err) != 0) return -1;
    l_uint32 *data = pixGetData(pix);
    int wpl = pixGetWpl(pix);
    for (int y = 0; y < h; y++) {
        const l_uint32 *line = data + (size_t)y * wpl;
        uint8_t *q = out->pixels + (size_t)y * w * 3;
        for (int x = 0; x < w; x++, q += 3) {
            if (d == 8) {
                q[0] = q[1] = q[2] = (uint8_t)GET_DATA_BYTE(line, x);
            } else {
                l_uint32 v = line[x];
                q[0] = (uint8_t)(v >> L_RED_SHIFT);
                q[1] = (uint8_t)(v >> L_GREEN_SHIFT);
                q[2] = (uint8_t)(v >> L_BLUE_SHIFT);
            }
        }
    }
    return 0;
}

/* ---- measurements ---- */

/* How unevenly the paper is lit: the brightest over the darkest background
 * level among the paper's tiles of an 8x8 grid. A tile's background is its
 * 90th-percentile grey (dark marks on light paper); tiles under half the
 * brightest are not paper (a desk, a dark frame, a photo) and do not count,
 * so a page on a desk is even while a lamp's fall-off across it is not. */
static float light_spread(PIX *grey) {
    int w = pixGetWidth(grey), h = pixGetHeight(grey);
    if (w < 16 || h < 16) return 1;
    l_uint32 *data = pixGetData(grey);
    int wpl = pixGetWpl(grey);
    int level[64];
    for (int ty = 0; ty < 8; ty++)
        for (int tx = 0; tx < 8; tx++) {
            unsigned hist[256] = {0}, n = 0;
            for (int y = ty * h / 8; y < (ty + 1) * h / 8; y++)
                for (int x = tx * w / 8; x < (tx + 1) * w / 8; x++, n++)
                    hist[GET_DATA_BYTE(data + (size_t)y * wpl, x)]++;
            unsigned want = n - n / 10, acc = 0;
            int l = 0;
            while (l < 255 && (acc += hist[l]) < want) l++;
            level[ty * 8 + tx] = l;
        }
    int hi = 0, lo = 255;
    for (int i = 0; i < 64; i++) hi = level[i] > hi ? level[i] : hi;
    for (int i = 0; i < 64; i++)
        if (2 * level[i] >= hi && level[i] < lo) lo = level[i];
    return (float)(hi + 1) / (float)(lo + 1);
}

/* The marks of a binary picture: what does not touch its edge. A dark desk
 * around the page, a sign's ground or a frame reaches the edge and would
 * drown the text's profile. */
static PIX *small_parts(PIX *bin) { return pixRemoveBorderConnComps(bin, 8); }

/* Share of the picture's edge pixels that are on. */
static float edge_on(PIX *bin) {
    int w = pixGetWidth(bin), h = pixGetHeight(bin);
    l_uint32 *data = pixGetData(bin);
    int wpl = pixGetWpl(bin);
    long on = 0;
    for (int x = 0; x < w; x++)
        on += GET_DATA_BIT(data, x) + GET_DATA_BIT(data + (size_t)(h - 1) * wpl, x);
    for (int y = 0; y < h; y++)
        on += GET_DATA_BIT(data + (size_t)y * wpl, 0) + GET_DATA_BIT(data + (size_t)y * wpl, w - 1);
    return (float)on / (float)(2 * (w + h));
}

/* Whether one light component's box covers more than a sixth of the
 * picture: a sheet of paper lying on something darker (it may run off the
 * picture's edge). */
static bool has_sheet(PIX *light) {
    BOXA *boxa = pixConnCompBB(light, 8);
    if (!boxa) return false;
    double area = (double)pixGetWidth(light) * pixGetHeight(light);
    bool found = false;
    for (int i = 0; i < boxaGetCount(boxa) && !found; i++) {
        l_int32 x, y, bw, bh;
        boxaGetBoxGeometry(boxa, i, &x, &y, &bw, &bh);
        found = (double)bw * bh > area / 6;
    }
    boxaDestroy(&boxa);
    return found;
}

/* Otsu over the whole picture, then the marks: the inner components of the
 * dark side, or of the light side when the ground is dark (the picture's
 * edge is mostly dark and no light sheet lies inside it: a sign, a
 * dark-mode screen; *inverted = 1). NULL when out of memory. */
static PIX *binarise(PIX *grey, bool *inverted) {
    PIX *bin = NULL;
    int w = pixGetWidth(grey), h = pixGetHeight(grey);
    if (pixOtsuAdaptiveThreshold(grey, w, h, 0, 0, 0.1f, NULL, &bin) != 0 || !bin) return NULL;
    *inverted = false;
    if (edge_on(bin) > 0.5f) {
        PIX *inv = pixInvert(NULL, bin);
        PIX *light = inv && !has_sheet(inv) ? small_parts(inv) : NULL;
        *inverted = light != NULL;
        pixDestroy(&inv);
        if (*inverted) { pixDestroy(&bin); return light; }
        pixDestroy(&light);
    }
    PIX *dark = small_parts(bin);
    pixDestroy(&bin);
    return dark;
}

/* Background normalisation (Leptonica maps the paper to grey 200), then
 * that grey stretched to white: a recogniser reads black on white best. */
static PIX *even_light(PIX *grey) {
    PIX *norm = pixBackgroundNormSimple(grey, NULL, NULL);
    if (!norm) return NULL;
    PIX *white = pixGammaTRC(NULL, norm, 1.0f, 40, 190);
    pixDestroy(&norm);
    return white;
}

/* Median height of the connected marks, ignoring specks (under 3 px) and
 * giants; *count receives how many counted. 0 when there are none. */
static float median_mark_height(PIX *bin, int *count) {
    *count = 0;
    BOXA *boxa = pixConnCompBB(bin, 8);
    if (!boxa) return 0;
    int n = boxaGetCount(boxa), k = 0;
    int *hs = n > 0 ? malloc(sizeof *hs * (size_t)n) : NULL;
    for (int i = 0; hs && i < n; i++) {
        l_int32 x, y, bw, bh;
        boxaGetBoxGeometry(boxa, i, &x, &y, &bw, &bh);
        if (bh >= 3 && bh < pixGetHeight(bin) / 2 && bw < pixGetWidth(bin) / 2) hs[k++] = bh;
    }
    boxaDestroy(&boxa);
    float med = 0;
    if (k > 0) {
        for (int i = 1; i < k; i++)   /* insertion sort: k is a few thousand at most */
            for (int j = i; j > 0 && hs[j - 1] > hs[j]; j--) { int t = hs[j]; hs[j] = hs[j - 1]; hs[j - 1] = t; }
        med = (float)hs[k / 2];
    }
    free(hs);
    *count = k;
    return med;
}

/* Leptonica's skew search: angle (degrees), confidence and the profile score at it. */
static void find_skew(PIX *bin, float *angle, float *conf, float *score) {
    l_float32 a = 0, c = 0, s = 0;
    if (pixFindSkewSweepAndSearchScore(bin, &a, &c, &s, 2, 1, 0.0f, SKEW_RANGE, 1.0f, 0.01f) != 0) a = c = s = 0;
    *angle = a;
    *conf = c;
    *score = s;
}

/* Leptonica reports trouble on stderr; ours goes into qvl_error instead. */
static void quiet_leptonica(void) { setMsgSeverity(L_SEVERITY_NONE); }

/* Which way the lines run: marks of one line sit closer together than the
 * lines do, so closing the gaps along the lines joins far more of them into
 * one piece than closing across. Returns pieces after a vertical closing
 * over pieces after a horizontal one: > 1 when lines run across. 1 when
 * there is nothing to tell by. */
static float line_direction(PIX *marks, float mark_h) {
    int size = (int)(mark_h * 0.9f + 0.5f);
    if (mark_h <= 0 || size < 2) return 1;
    /* Rules of a table or a form are not writing: long thin marks go. */
    int longest = (int)(mark_h * 6);
    PIX *letters = pixSelectBySize(marks, longest, longest, 8, L_SELECT_IF_BOTH, L_SELECT_IF_LT, NULL);
    if (!letters) return 1;
    PIX *across = pixCloseBrick(NULL, letters, size, 1), *down = pixCloseBrick(NULL, letters, 1, size);
    pixDestroy(&letters);
    l_int32 n_across = 0, n_down = 0;
    if (across) pixCountConnComp(across, 8, &n_across);
    if (down) pixCountConnComp(down, 8, &n_down);
    pixDestroy(&across);
    pixDestroy(&down);
    return n_across > 0 && n_down > 0 ? (float)n_down / (float)n_across : 1;
}

int ocr_page_measure(const image_rgb *img, ocr_page_plan *plan, qvl_error *err) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, quiet_leptonica);
    memset(plan, 0, sizeof *plan);
    plan->scale = 1;
    plan->axis_ratio = 1;
    plan->light_spread = 1;
    if (!img || !img->pixels || img->width <= 0 || img->height <= 0)
        return qvl_fail_code(err, QVL_E_BAD_INPUT, "OCR needs a non-empty image");
    double px = (double)img->width * img->height;
    int f = px > MEASURE_PIXELS ? (int)ceil(sqrt(px / MEASURE_PIXELS)) : 1;
    if (img->width / f < 32 || img->height / f < 32) return 0;   /* too small to measure: read as it is */
    PIX *grey = grey_reduced(img, f), *norm = NULL, *bin = NULL, *marks = NULL, *turned = NULL, *level = NULL;
    if (!grey) return qvl_fail_code(err, QVL_E_NOMEM, "out of memory measuring the page");
    int rc = -1;
    bool inverted = false;
    bin = binarise(grey, &inverted);
    if (!bin) { qvl_fail_code(err, QVL_E_NOMEM, "out of memory measuring the page"); goto done; }
    /* Light text on a dark ground (a sign, a dark-mode screen) is left
     * alone: background normalisation assumes paper. */
    plan->dark_ground = inverted;
    plan->light_spread = inverted ? 1 : light_spread(grey);
    plan->light = plan->light_spread > LIGHT_SPREAD;
    if (plan->light) {
        norm = even_light(grey);
        pixDestroy(&bin);
        bin = norm ? binarise(norm, &inverted) : NULL;
        if (!bin) { qvl_fail_code(err, QVL_E_NOMEM, "out of memory measuring the page"); goto done; }
    }
    marks = pixClone(bin);
    int n_marks;
    float mark_h = median_mark_height(marks, &n_marks);
    plan->mark_height = mark_h * (float)f;
    /* Noise and photos break into specks a few pixels high; print is larger. */
    plan->print_seen = n_marks >= 3 && plan->mark_height >= MIN_PRINT;
    plan->axis_ratio = line_direction(marks, mark_h);
    bool sideways = plan->axis_ratio < 1 / AXIS_TURN;
    turned = sideways ? pixRotateOrth(marks, 1) : pixClone(marks);
    if (!turned) { qvl_fail_code(err, QVL_E_NOMEM, "out of memory measuring the page"); goto done; }
    float angle, conf, score;
    find_skew(turned, &angle, &conf, &score);
    if (n_marks >= MIN_MARKS_LEVEL && fabsf(angle) >= SKEW_MIN && conf >= SKEW_MIN_CONF) plan->skew = angle;
    PIX *upright = turned;
    level = plan->skew != 0 ? pixRotate(upright, plan->skew * (float)M_PI / 180, L_ROTATE_SAMPLING, L_BRING_IN_WHITE, 0, 0)
                            : pixClone(upright);
    l_float32 ud = 0;
    if (level && pixUpDownDetect(level, &ud, 0, 0, 0) == 0) plan->updown = ud;
    bool flip = plan->updown < UPDOWN_FLIP;
    plan->rotation = (sideways ? 90 : 0) + (flip ? 180 : 0);

    if (plan->print_seen && plan->mark_height < SMALL_MARKS) {
        float s = TARGET_MARKS / plan->mark_height;
        plan->scale = s > MAX_SCALE ? MAX_SCALE : s;
    }
    rc = 0;
done:
    pixDestroy(&level);
    pixDestroy(&turned);
    pixDestroy(&marks);
    pixDestroy(&bin);
    pixDestroy(&norm);
    pixDestroy(&grey);
    return rc;
}

bool ocr_page_plan_is_identity(const ocr_page_plan *plan) {
    return plan->rotation == 0 && plan->skew == 0 && !plan->light && plan->scale == 1;
}

int ocr_page_apply(const image_rgb *img, const ocr_page_plan *plan, uint64_t max_pixels, image_rgb *out,
                   qvl_error *err) {
    memset(out, 0, sizeof *out);
    double grown = (double)img->width * img->height * plan->scale * plan->scale;
    if (max_pixels && grown > (double)max_pixels * 1.5)   /* the rotation's margins come on top */
        return qvl_fail_code(err, QVL_E_TOO_LARGE, "enlarging the small print (x%.1f) would pass the OCR "
                             "limit of %llu pixels", plan->scale, (unsigned long long)max_pixels);
    PIX *pix = rgb_to_pix(img);
    if (!pix) return qvl_fail_code(err, QVL_E_NOMEM, "out of memory correcting the page");
    /* Each step replaces pix; a NULL from Leptonica means memory ran out. */
    PIX *next;
    if (pix && plan->light) {
        PIX *grey = pixConvertRGBToLuminance(pix);
        next = grey ? even_light(grey) : NULL;
        pixDestroy(&grey);
        pixDestroy(&pix);
        pix = next;
    }
    if (pix && plan->rotation) {
        next = pixRotateOrth(pix, plan->rotation / 90);
        pixDestroy(&pix);
        pix = next;
    }
    if (pix && plan->skew != 0) {
        next = pixRotate(pix, plan->skew * (float)M_PI / 180, L_ROTATE_AREA_MAP,
                         plan->dark_ground ? L_BRING_IN_BLACK : L_BRING_IN_WHITE, pixGetWidth(pix), pixGetHeight(pix));
        pixDestroy(&pix);
        pix = next;
    }
    if (pix && plan->scale != 1) {
        next = pixScale(pix, plan->scale, plan->scale);
        pixDestroy(&pix);
        pix = next;
    }
    int rc = pix ? pix_to_rgb(pix, out, err) : qvl_fail_code(err, QVL_E_NOMEM, "out of memory correcting the page");
    pixDestroy(&pix);
    return rc;
}
