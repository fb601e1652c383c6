/* cli_image.h - the image options shared by `qvl preprocess` and
 * `qvl encode-image` (--image, --out, --min-pixels, --max-pixels, --resize),
 * checked in one place (cli_preprocess.c). */
#ifndef QVL_CLI_IMAGE_H
#define QVL_CLI_IMAGE_H

#include "image/preprocess.h"

typedef struct cli_image_opts {
    const char *image, *out, *resize;
    int min_pixels, max_pixels;
} cli_image_opts;

#define CLI_IMAGE_OPTIONS(io) \
    {"--image", NULL, OPT_STR, &(io).image}, {"--out", "-o", OPT_STR, &(io).out}, \
    {"--min-pixels", NULL, OPT_INT, &(io).min_pixels}, {"--max-pixels", NULL, OPT_INT, &(io).max_pixels}, \
    {"--resize", NULL, OPT_STR, &(io).resize}

/* Checks the options after parsing and fills po (limits, resize mode).
 * Returns 0, or 2 (usage error, printed with cmd's name). */
int cli_image_opts_check(const char *cmd, const cli_image_opts *io, image_preprocess_opts *po);

#endif
