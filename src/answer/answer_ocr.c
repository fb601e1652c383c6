/* answer_ocr.c - see answer_ocr.h. */
#include "answer/answer_ocr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/image.h"

/* Reads one unit into *u; k is its index among view's units. */
static int read_unit(const pages_view *view, int k, const ocr_read_opts *o, ocr_unit_reading *u, qvl_error *err) {
    const page_unit *pu = &view->units[k];
    u->plan = (ocr_page_plan){.scale = 1};
    if (pu->pdf) {
        size_t len = 0;
        const uint8_t *b = o->bytes ? o->bytes(o->chat->load_ctx, pu->part, &len) : NULL;
        int layer = b ? ocr_read_text_layer(b, len, pu->page, &u->res, err) : 0;
        if (layer != 0) {
            u->text_layer = layer > 0;
            return layer < 0 ? -1 : 0;
        }
    }
    const image_rgb *img = NULL;
    image_rgb mine = {0};
    if (o->in && o->in->n_images >= view->n_units) {
        img = &o->in->images[o->in->n_images - view->n_units + k];
    } else if (!o->chat->load_image) {
        return qvl_fail_code(err, QVL_E_BAD_INPUT, "images are not accepted here");
    } else if (o->chat->load_image(o->chat->load_ctx, pu->part, pu->image - 1, &mine, err) == 0) {
        img = &mine;
    }
    int rc = img ? ocr_engine_read_page(o->engine, img, o->lang, o->cancel, &u->res, &u->plan, err) : -1;
    image_free(&mine);
    return rc;
}

static bool unit_trusted(const ocr_read_opts *o, const ocr_result *res) {
    return o->router ? ocr_router_accepts(o->router, res) != 0 : ocr_result_trusted(res);
}

int ocr_read_units(const pages_view *view, const ocr_read_opts *o, ocr_reading *out, qvl_error *err) {
    memset(out, 0, sizeof *out);
    out->view = view;
    out->units = calloc((size_t)(view->n_units ? view->n_units : 1), sizeof *out->units);
    if (!out->units) return qvl_fail_code(err, QVL_E_NOMEM, "out of memory");
    double weighted = 0, chars = 0;
    for (int k = 0; k < view->n_units; k++) {
        const page_unit *pu = &view->units[k];
        /* Between images and pages: a document's pages are many, each read in up to a second. */
        int rc = o->cancel && atomic_load(o->cancel) ? qvl_fail_code(err, QVL_E_CANCELLED, "cancelled")
                                                     : read_unit(view, k, o, &out->units[k], err);
        if (rc != 0) {
            if (err->code != QVL_E_CANCELLED && pu->page >= 0) qvl_error_prefix(err, "page %d", pu->page + 1);
            if (err->code != QVL_E_CANCELLED && view->n_units > 1) qvl_error_prefix(err, "image %d", pu->image);
            ocr_reading_free(out);
            return -1;
        }
        ocr_unit_reading *u = &out->units[k];
        u->trusted = unit_trusted(o, &u->res);
        out->n_trusted += u->trusted;
        double n = u->res.text ? (double)strlen(u->res.text) : 0;
        weighted += u->res.confidence * n;
        chars += n;
    }
    out->confidence = chars > 0 ? (float)(weighted / chars) : 0;
    return 0;
}

/* Whether every unit is a page of one document (headers then name pages only). */
static bool one_document(const pages_view *v) {
    for (int k = 0; k < v->n_units; k++)
        if (v->units[k].page < 0 || v->units[k].image != v->units[0].image) return false;
    return true;
}

static bool has_text(const char *s) {
    for (; s && *s; s++)
        if (*s != ' ' && *s != '\n') return true;
    return false;
}

char *ocr_answer_text(const ocr_reading *r, bool hide_untrusted) {
    const pages_view *v = r->view;
    size_t cap = 1;
    for (int k = 0; k < v->n_units; k++) cap += (r->units[k].res.text ? strlen(r->units[k].res.text) : 0) + 128;
    char *s = malloc(cap);
    if (!s) return NULL;
    size_t n = 0;
    s[0] = 0;
    bool pages_only = one_document(v);
    for (int k = 0; k < v->n_units; k++) {
        const page_unit *pu = &v->units[k];
        const ocr_unit_reading *u = &r->units[k];
        if (v->n_units > 1) {
            if (pages_only) n += (size_t)snprintf(s + n, cap - n, "%s--- page %d ---\n", k ? "\n" : "", pu->page + 1);
            else if (pu->page >= 0)
                n += (size_t)snprintf(s + n, cap - n, "%s--- image %d, page %d ---\n", k ? "\n" : "", pu->image,
                                      pu->page + 1);
            else n += (size_t)snprintf(s + n, cap - n, "%s--- image %d ---\n", k ? "\n" : "", pu->image);
        }
        const char *text = u->res.text ? u->res.text : "";
        if (hide_untrusted && !u->trusted) {
            if (!has_text(text)) n += (size_t)snprintf(s + n, cap - n, "(no text found)");
            else n += (size_t)snprintf(s + n, cap - n, "(not read reliably: OCR confidence %.0f)", u->res.confidence);
        } else {
            n += (size_t)snprintf(s + n, cap - n, "%s", text);
        }
        if (v->n_units > 1 && k + 1 < v->n_units) n += (size_t)snprintf(s + n, cap - n, "\n");
    }
    return s;
}

static json_t *plan_json(const ocr_page_plan *plan) {
    return json_pack("{s:i, s:f, s:b, s:f}", "rotation", plan->rotation, "skew", (double)plan->skew, "light",
                     plan->light, "scale", (double)plan->scale);
}

/* Appends unit k's lines (with its image and page) to lines; -1 when out of memory. */
static int add_lines(json_t *lines, const page_unit *pu, const ocr_result *res) {
    for (int i = 0; i < res->n_lines; i++) {
        const ocr_line *l = &res->lines[i];
        json_t *line = json_pack("{s:s, s:f, s:[iiii], s:i}", "text", l->text, "confidence", (double)l->confidence,
                                 "box", l->x, l->y, l->w, l->h, "image", pu->image);
        if (line && pu->page >= 0) json_object_set_new(line, "page", json_integer(pu->page + 1));
        if (json_array_append_new(lines, line) != 0) return -1;
    }
    return 0;
}

json_t *ocr_reading_json(const ocr_reading *r) {
    const pages_view *v = r->view;
    json_t *lines = json_array(), *units = json_array();
    bool bad = !lines || !units;
    for (int k = 0; !bad && k < v->n_units; k++) {
        const page_unit *pu = &v->units[k];
        const ocr_unit_reading *u = &r->units[k];
        json_t *one = json_pack("{s:i, s:f, s:b, s:s, s:i, s:o}", "image", pu->image, "confidence",
                                (double)u->res.confidence, "trusted", u->trusted, "source",
                                u->text_layer ? "text layer" : "ocr", "lines", u->res.n_lines, "geometry",
                                plan_json(&u->plan));
        if (one && pu->page >= 0) json_object_set_new(one, "page", json_integer(pu->page + 1));
        bad = json_array_append_new(units, one) != 0 || add_lines(lines, pu, &u->res) != 0;
    }
    ocr_page_plan none = {.scale = 1};
    json_t *out = bad ? NULL : json_pack("{s:f, s:b, s:O, s:o, s:O}", "confidence", (double)r->confidence,
                                         "trusted", r->n_trusted == v->n_units && v->n_units > 0, "lines", lines,
                                         "page", plan_json(v->n_units ? &r->units[0].plan : &none), "images", units);
    json_decref(lines);
    json_decref(units);
    return out;
}

void ocr_reading_free(ocr_reading *r) {
    for (int k = 0; r->units && k < r->view->n_units; k++) ocr_result_free(&r->units[k].res);
    free(r->units);
    memset(r, 0, sizeof *r);
}
