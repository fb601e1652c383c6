/* fuzz_grounding.c - libFuzzer target: arbitrary bytes as a model answer
 * through the grounding-box finder (answer/grounding.h), with an image size
 * taken from the first bytes; every box returned must lie inside the image. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "answer/grounding.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 4) return 0;
    int w = 1 + (data[0] | data[1] << 8) % 9000, h = 1 + (data[2] | data[3] << 8) % 9000;
    grounding_box b[64];
    int n = grounding_boxes((const char *)data + 4, size - 4, w, h, b, 64);
    for (int i = 0; i < n; i++)
        if (b[i].x1 < 0 || b[i].x1 >= b[i].x2 || b[i].x2 > w || b[i].y1 < 0 || b[i].y1 >= b[i].y2 || b[i].y2 > h ||
            strlen(b[i].label) >= GROUNDING_LABEL_MAX)
            abort();   /* a promise of grounding.h broken */
    return 0;
}
