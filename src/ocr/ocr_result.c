/* ocr_result.c - building, freeing and (de)serialising OCR results (see
 * ocr_internal.h for the JSON format plugins answer in).
 */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ocr/ocr_internal.h"

/* More lines than any real page has; bounds what a plugin can make us hold. */
#define OCR_MAX_LINES 100000

void ocr_result_free(ocr_result *res) {
    if (!res) return;
    for (int i = 0; i < res->n_lines; i++) free(res->lines[i].text);
    free(res->lines);
    free(res->text);
    memset(res, 0, sizeof *res);
}

int ocr_result_add_line(ocr_result *res, const char *text, int x, int y, int w, int h,
                        float confidence, qvl_error *err) {
    if (res->n_lines >= OCR_MAX_LINES)
        return qvl_fail(err, "more than %d text lines", OCR_MAX_LINES);
    /* Grow by doubling: capacity is the next power of two >= n_lines. */
    int n = res->n_lines;
    if ((n & (n - 1)) == 0) {
        ocr_line *nl = realloc(res->lines, sizeof *nl * (size_t)(n ? 2 * n : 1));
        if (!nl) return qvl_fail_code(err, QVL_E_NOMEM, "out of memory for OCR lines");
        res->lines = nl;
    }
    char *t = strdup(text);
    if (!t) return qvl_fail_code(err, QVL_E_NOMEM, "out of memory for OCR lines");
    for (char *p = t; *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' ';
    res->lines[n] = (ocr_line){t, x, y, w, h, confidence};
    res->n_lines = n + 1;
    return 0;
}

int ocr_result_finish(ocr_result *res, qvl_error *err) {
    size_t total = 1;
    double wsum = 0, csum = 0;
    for (int i = 0; i < res->n_lines; i++) {
        const char *t = res->lines[i].text;
        size_t chars = 0;   /* code points: a Chinese character weighs what a letter does */
        for (const char *p = t; *p; p++) chars += ((unsigned char)*p & 0xc0) != 0x80;
        total += strlen(t) + 1;
        wsum += (double)chars;
        csum += (double)chars * res->lines[i].confidence;
    }
    char *text = malloc(total);
    if (!text) return qvl_fail_code(err, QVL_E_NOMEM, "out of memory for OCR text");
    size_t pos = 0;
    for (int i = 0; i < res->n_lines; i++) {
        size_t len = strlen(res->lines[i].text);
        if (i) text[pos++] = '\n';
        memcpy(text + pos, res->lines[i].text, len);
        pos += len;
    }
    text[pos] = 0;
    free(res->text);
    res->text = text;
    res->confidence = wsum > 0 ? (float)(csum / wsum) : 0.0f;
    return 0;
}

int ocr_lang_valid(const char *lang) {
    size_t n = strlen(lang), run = 0;
    if (n == 0 || n > 128) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = lang[i];
        if (c == '+') {
            if (run == 0) return 0;
            run = 0;
        } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_') {
            run++;
        } else {
            return 0;
        }
    }
    return run > 0;
}

static int parse_line(const char *who, size_t idx, json_t *jl, ocr_result *out, qvl_error *err) {
    json_t *jt = json_object_get(jl, "text"), *jc = json_object_get(jl, "confidence");
    if (!json_is_object(jl) || !json_is_string(jt) || !json_is_number(jc))
        return qvl_fail(err, "%s: bad output: lines[%zu] needs a \"text\" string and a "
                        "\"confidence\" number", who, idx);
    double conf = json_number_value(jc);
    if (!(conf >= 0 && conf <= 100))
        return qvl_fail(err, "%s: bad output: lines[%zu].confidence %g is not in 0..100", who, idx, conf);
    int box[4] = {0, 0, 0, 0};
    json_t *jb = json_object_get(jl, "box");
    if (jb) {
        if (!json_is_array(jb) || json_array_size(jb) != 4)
            return qvl_fail(err, "%s: bad output: lines[%zu].box must be [x, y, w, h]", who, idx);
        for (size_t k = 0; k < 4; k++) {
            json_t *v = json_array_get(jb, k);
            if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 1000000)
                return qvl_fail(err, "%s: bad output: lines[%zu].box[%zu] is not a pixel coordinate",
                                who, idx, k);
            box[k] = (int)json_integer_value(v);
        }
    }
    if (ocr_result_add_line(out, json_string_value(jt), box[0], box[1], box[2], box[3],
                            (float)conf, err) < 0)
        return qvl_error_prefix(err, "%s", who);
    return 0;
}

int ocr_result_from_json(const char *who, const char *json, size_t len, ocr_result *out,
                         qvl_error *err) {
    memset(out, 0, sizeof *out);
    json_error_t je;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        /* Show the start of what came back: usually enough to see the mistake. */
        size_t show = len < 60 ? len : 60;
        for (size_t i = 0; i < show; i++)
            if ((unsigned char)json[i] < 0x20) { show = i; break; }
        return qvl_fail(err, "%s returned invalid JSON (%s at line %d) starting \"%.*s\"", who,
                        je.text, je.line, (int)show, json);
    }
    int rc = -1;
    json_t *jerr = json_object_get(root, "error"), *jl = json_object_get(root, "lines");
    if (!json_is_object(root)) {
        qvl_fail(err, "%s: bad output: expected a JSON object", who);
    } else if (json_is_string(jerr)) {
        qvl_fail(err, "%s reported an error: %.300s", who, json_string_value(jerr));
    } else if (!json_is_array(jl)) {
        qvl_fail(err, "%s: bad output: no \"lines\" array", who);
    } else if (json_array_size(jl) > OCR_MAX_LINES) {
        qvl_fail(err, "%s: bad output: more than %d lines", who, OCR_MAX_LINES);
    } else {
        rc = 0;
        for (size_t i = 0; i < json_array_size(jl) && rc == 0; i++)
            rc = parse_line(who, i, json_array_get(jl, i), out, err);
        if (rc == 0) rc = ocr_result_finish(out, err);
    }
    json_decref(root);
    if (rc < 0) ocr_result_free(out);
    return rc;
}

char *ocr_result_to_json(const ocr_result *res) {
    json_t *root = json_object(), *lines = json_array();
    if (!root || !lines) { json_decref(root); json_decref(lines); return NULL; }
    json_object_set_new(root, "lines", lines);
    for (int i = 0; i < res->n_lines; i++) {
        const ocr_line *l = &res->lines[i];
        double conf = isfinite(l->confidence) ? l->confidence : 0.0;
        json_t *jl = json_pack("{s:s, s:f, s:[iiii]}", "text", l->text ? l->text : "", "confidence", conf,
                               "box", l->x, l->y, l->w, l->h);
        if (!jl || json_array_append_new(lines, jl) < 0) { json_decref(root); return NULL; }
    }
    char *s = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return s;
}
