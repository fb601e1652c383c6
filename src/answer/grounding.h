/* grounding.h - the boxes in a model answer, in pixels of the image asked
 * about.
 *
 * Qwen3-VL answers "where is X" with JSON objects such as
 *     [{"bbox_2d": [x1, y1, x2, y2], "label": "cat"}, ...]
 * usually inside a ```json fence, with coordinates RELATIVE to the image it
 * was shown, on a 0-1000 scale (spec, pitfall 10; Qwen2.5-VL used absolute
 * pixels). The model sees the whole image after EXIF rotation, resized
 * without cropping, so relative coordinates map onto the upright original:
 * x_px = x / 1000 * width, y_px = y / 1000 * height, where width and height
 * are the decoded image's (image_decode turns it upright). The model's
 * resize is forgotten on purpose: it changes the scale, not the fractions.
 *
 * What it promises:
 *   - any text, however broken, gives 0 or more valid boxes and never fails;
 *   - every returned box has 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height;
 *   - coordinates outside 0-1000 are clamped to it; a box given as
 *     (x2, y2, x1, y1) is put in order; a box with non-numeric or non-finite
 *     coordinates, or with no area left once in pixels, is dropped;
 *   - the label is the object's "label" (or, for text grounding,
 *     "text_content") string, cut to fit at a UTF-8 character boundary;
 *     "" when there is none.
 * Every object with a "bbox_2d" of four numbers counts, wherever it is in
 * the text (a list, a single object, several fences, a truncated list whose
 * complete objects come first). Points ("point_2d") are not boxes and are
 * ignored. The search gives up after GROUNDING_MAX_TRIES places that looked
 * like an object, so an answer of endless braces stays cheap. Pure
 * functions; thread-safe.
 */
#ifndef QVL_GROUNDING_H
#define QVL_GROUNDING_H

#include <stdbool.h>
#include <stddef.h>

enum { GROUNDING_LABEL_MAX = 128, GROUNDING_MAX_TRIES = 2048 };

typedef struct grounding_box {
    char label[GROUNDING_LABEL_MAX];   /* NUL-terminated UTF-8 */
    int x1, y1, x2, y2;                /* pixels; x1 < x2, y1 < y2 */
} grounding_box;

/* Converts one box in 0-1000 coordinates (any order, any range) to pixels
 * of a width x height image: clamped to 0-1000, ordered, rounded to the
 * nearest pixel. Returns false (and leaves *out alone) when a coordinate is
 * not finite, the image size is not positive, or no area is left. */
bool grounding_to_pixels(const double c[4], int width, int height, grounding_box *out);

/* Finds up to max boxes in text[0..len) (see above) and writes them, in
 * order of appearance, to out converted to pixels of a width x height
 * image. Returns how many were written (0 when there are none). Cannot
 * fail. */
int grounding_boxes(const char *text, size_t len, int width, int height, grounding_box *out, int max);

#endif
