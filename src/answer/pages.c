/* pages.c - see pages.h. */
#include "answer/pages.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/image.h"

static bool is_image_part(const json_t *part) {
    const char *type = json_string_value(json_object_get(part, "type"));
    return (type && !strcmp(type, "image")) || json_object_get(part, "image") || json_object_get(part, "image_url");
}

/* Roles whose images the chat template shows the model. */
static bool has_media(const json_t *msg) {
    const char *role = json_string_value(json_object_get(msg, "role"));
    return role && (!strcmp(role, "user") || !strcmp(role, "tool"));
}

/* What one image part of the conversation is. */
typedef struct part_info {
    int first, last;   /* the pages read, 0-based; first = -1: not a document */
    int n_pages;       /* of the document */
    bool pdf;
    bool one_page;     /* the part names its page ("page"): kept as it is */
} part_info;

/* Whether part (image n of its message, 1-based) is a document, and which of
 * its pages are read. -1 with err set when its bytes cannot be opened or the
 * selection is bad. */
static int inspect(const json_t *part, int n, answer_bytes_fn bytes, void *ctx, const char *default_pages,
                   part_info *info, qvl_error *err) {
    *info = (part_info){.first = -1};
    size_t len = 0;
    const uint8_t *b = bytes ? bytes(ctx, part, &len) : NULL;
    const char *type = b ? image_sniff(b, len) : NULL;
    if (!type) return 0;
    info->pdf = !strcmp(type, "application/pdf");
    if (!info->pdf && strcmp(type, "image/tiff")) return 0;
    const json_t *page = json_object_get(part, "page");
    if (page) {   /* a page already (qvl batch's records): read by the loader, checked there */
        info->one_page = true;
        info->first = info->last = (int)json_integer_value(page);
        return 0;
    }
    info->n_pages = image_page_count(b, len, NULL, err);
    if (info->n_pages < 0) return qvl_error_prefix(err, "image %d", n);
    if (!info->pdf && info->n_pages == 1) return 0;
    const char *spec = json_string_value(json_object_get(part, "pages"));
    if (image_pages_parse(spec ? spec : default_pages, info->n_pages, &info->first, &info->last, err) != 0)
        return qvl_error_prefix(err, "image %d", n);
    return 0;
}

static int add_unit(pages_view *v, const json_t *part, int image, int page, bool pdf) {
    page_unit *u = realloc(v->units, (size_t)(v->n_units + 1) * sizeof *u);
    if (!u) return -1;
    v->units = u;
    v->units[v->n_units++] = (page_unit){.part = part, .image = image, .page = page, .pdf = pdf};
    return 0;
}

/* The limit message for a user message holding n images after expansion;
 * doc_image/doc_pages name its largest document (0: none). */
static void over_limit(pages_view *v, int n, int max_images, int doc_image, int doc_pages) {
    v->over_limit = true;
    if (doc_image)
        qvl_fail_code(&v->limit_err, QVL_E_TOO_LARGE,
                      "the question has %d images once its documents are split into pages (image %d has %d "
                      "pages), and the model reads at most %d per question: choose the pages it should read "
                      "with 'pages' (e.g. \"1-%d\"; --pages in the CLI), or ask for the text (OCR reads every page)",
                      n, doc_image, doc_pages, max_images, max_images);
    else
        qvl_fail_code(&v->limit_err, QVL_E_TOO_LARGE, "the question has %d images and the model reads at most %d per "
                      "question: send fewer", n, max_images);
}

/* Expands the content of one message in place (content is the copy's). */
static int expand_message(pages_view *v, json_t *content, bool latest, answer_bytes_fn bytes, void *ctx,
                          const char *default_pages, int max_images, qvl_error *err) {
    json_t *parts = json_array();
    if (!parts) return qvl_fail_code(err, QVL_E_NOMEM, "out of memory");
    int n_img = 0, n_out = 0, doc_image = 0, doc_pages = 0, rc = 0;
    size_t k;
    json_t *part;
    json_array_foreach(content, k, part) {
        if (!json_is_object(part) || !is_image_part(part)) {
            rc = json_array_append(parts, part);
            if (rc != 0) break;
            continue;
        }
        part_info info;
        if ((rc = inspect(part, ++n_img, bytes, ctx, default_pages, &info, err)) != 0) break;
        if (info.first < 0 || info.one_page) {
            n_out++;
            rc = json_array_append(parts, part) != 0 || (latest && add_unit(v, part, n_img, info.first, info.pdf) != 0);
            if (rc != 0) break;
            continue;
        }
        if (info.n_pages > doc_pages) doc_image = n_img, doc_pages = info.n_pages;
        for (int p = info.first; rc == 0 && p <= info.last; p++, n_out++) {
            json_t *one = json_copy(part);   /* shallow: the bytes' string is shared, not copied */
            rc = !one || json_object_set_new(one, "page", json_integer(p)) != 0 || json_array_append_new(parts, one);
            if (rc == 0 && latest) rc = add_unit(v, one, n_img, p, info.pdf);
        }
        if (rc != 0) break;
    }
    if (rc == 0 && json_array_clear(content) == 0 && json_array_extend(content, parts) == 0) {
        v->n_images += n_out;
        if (max_images > 0 && n_out > max_images && !v->over_limit) over_limit(v, n_out, max_images, doc_image, doc_pages);
    } else if (rc == 0 || !err->msg[0]) {
        rc = qvl_fail_code(err, QVL_E_NOMEM, "out of memory");
    }
    json_decref(parts);
    return rc ? -1 : 0;
}

/* The index of the last message with an image the template shows, or -1. */
static long latest_with_images(const json_t *messages) {
    for (size_t i = json_array_size(messages); i-- > 0;) {
        const json_t *m = json_array_get(messages, i);
        const json_t *content = json_object_get(m, "content");
        size_t k;
        const json_t *part;
        if (has_media(m))
            json_array_foreach(content, k, part) if (json_is_object(part) && is_image_part(part)) return (long)i;
    }
    return -1;
}

int pages_expand(const json_t *messages, answer_bytes_fn bytes, void *ctx, const char *default_pages, int max_images,
                 pages_view *out, qvl_error *err) {
    memset(out, 0, sizeof *out);
    /* Messages and contents are copied, parts are shared: a document's bytes
     * are never duplicated. */
    out->messages = json_array();
    long latest = latest_with_images(messages);
    int rc = out->messages ? 0 : qvl_fail_code(err, QVL_E_NOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < json_array_size(messages); i++) {
        const json_t *m = json_array_get(messages, i);
        json_t *content = json_object_get(m, "content");
        if (!json_is_object(m) || !json_is_array(content) || !has_media(m)) {
            rc = json_array_append(out->messages, (json_t *)m) ? qvl_fail_code(err, QVL_E_NOMEM, "out of memory") : 0;
            continue;
        }
        json_t *mc = json_copy((json_t *)m), *cc = json_copy(content);
        if (!mc || !cc || json_object_set_new(mc, "content", cc) != 0) {
            if (!mc) json_decref(cc);
            json_decref(mc);
            rc = qvl_fail_code(err, QVL_E_NOMEM, "out of memory");
            break;
        }
        rc = json_array_append_new(out->messages, mc) ? qvl_fail_code(err, QVL_E_NOMEM, "out of memory")
             : expand_message(out, cc, (long)i == latest, bytes, ctx, default_pages, max_images, err);
    }
    if (rc != 0) pages_free(out);
    return rc;
}

void pages_free(pages_view *v) {
    json_decref(v->messages);
    free(v->units);
    memset(v, 0, sizeof *v);
}
