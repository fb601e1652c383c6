/* grounding.c - see grounding.h. */
#include "answer/grounding.h"

#include <jansson.h>
#include <math.h>
#include <string.h>

static double clamp1000(double v) { return v < 0 ? 0 : v > 1000 ? 1000 : v; }

static int to_pixel(double c, int size) { return (int)lround(clamp1000(c) / 1000.0 * size); }

bool grounding_to_pixels(const double c[4], int width, int height, grounding_box *out) {
    if (width <= 0 || height <= 0) return false;
    for (int i = 0; i < 4; i++)
        if (!isfinite(c[i])) return false;
    int xa = to_pixel(c[0], width), ya = to_pixel(c[1], height);
    int xb = to_pixel(c[2], width), yb = to_pixel(c[3], height);
    grounding_box b = {.x1 = xa < xb ? xa : xb, .x2 = xa < xb ? xb : xa,
                       .y1 = ya < yb ? ya : yb, .y2 = ya < yb ? yb : ya};
    if (b.x1 == b.x2 || b.y1 == b.y2) return false;
    out->x1 = b.x1, out->y1 = b.y1, out->x2 = b.x2, out->y2 = b.y2;
    return true;
}

/* Copies s into dst (GROUNDING_LABEL_MAX bytes), cut before a character
 * that would not fit whole. */
static void copy_label(char *dst, const char *s, size_t n) {
    if (n >= GROUNDING_LABEL_MAX) {
        n = GROUNDING_LABEL_MAX - 1;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) n--;   /* s[n] continues a character */
    }
    memcpy(dst, s, n);
    dst[n] = 0;
}

/* One parsed object: a box when it has a "bbox_2d" of four numbers. */
static bool object_box(const json_t *obj, int width, int height, grounding_box *out) {
    const json_t *bb = json_object_get(obj, "bbox_2d");
    if (!json_is_array(bb) || json_array_size(bb) != 4) return false;
    double c[4];
    for (size_t i = 0; i < 4; i++) {
        const json_t *v = json_array_get(bb, i);
        if (!json_is_number(v)) return false;
        c[i] = json_number_value(v);
    }
    grounding_box b;
    if (!grounding_to_pixels(c, width, height, &b)) return false;
    const json_t *label = json_object_get(obj, "label");
    if (!json_is_string(label)) label = json_object_get(obj, "text_content");
    if (json_is_string(label)) copy_label(b.label, json_string_value(label), json_string_length(label));
    else b.label[0] = 0;
    *out = b;
    return true;
}

int grounding_boxes(const char *text, size_t len, int width, int height, grounding_box *out, int max) {
    if (!text || max <= 0) return 0;
    int n = 0, tries = 0;
    size_t i = 0;
    while (n < max && tries < GROUNDING_MAX_TRIES) {
        const char *open = memchr(text + i, '{', len - i);
        if (!open) break;
        i = (size_t)(open - text);
        tries++;
        /* Parse one object starting here and ignore what follows it: the
         * complete objects of a list cut off by max_tokens still count. */
        json_error_t je;
        json_t *obj = json_loadb(text + i, len - i, JSON_DISABLE_EOF_CHECK, &je);
        if (obj && object_box(obj, width, height, &out[n])) {
            n++;
            i += je.position > 0 ? (size_t)je.position : 1;
        } else {
            i++;   /* not a box (or not JSON): an inner object may be one */
        }
        json_decref(obj);
    }
    return n;
}
