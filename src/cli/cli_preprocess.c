/* cli_preprocess.c - `qvl preprocess --image IMG --out FILE.png`: writes the
 * image exactly as the vision encoder will see it (resized, before
 * normalisation) and prints the patch grid, so a user can see what a
 * --max-pixels setting costs and keeps. Needs no model. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mapped_file.h"
#include "cli/cli_image.h"
#include "cli/cli_util.h"
#include "image/preprocess.h"

static const char *help =
    "usage: qvl preprocess --image IMG --out FILE.png [options]\n"
    "\n"
    "Resizes IMG the way the vision encoder receives it and writes it as PNG; prints the\n"
    "patch grid and the number of image tokens.\n"
    "      --min-pixels N   smallest resized area (default 65536; llama mode 8192)\n"
    "      --max-pixels N   largest resized area (default 16777216; llama mode 4194304)\n"
    "      --resize MODE    hf (default: the Hugging Face processor) or llama (llama.cpp's)\n";

int cli_image_opts_check(const char *cmd, const cli_image_opts *io, image_preprocess_opts *po) {
    const char *r = io->resize ? io->resize : "hf";
    if (!io->image || !io->out || io->min_pixels < 0 || io->max_pixels < 0 || (strcmp(r, "hf") && strcmp(r, "llama"))) {
        fprintf(stderr, "%s: need --image IMG and --out FILE; pixel limits >= 0; --resize hf|llama\n", cmd);
        return 2;
    }
    image_preprocess_opts o = {.min_pixels = io->min_pixels, .max_pixels = io->max_pixels,
                               .mode = strcmp(r, "llama") ? IMAGE_RESIZE_HF : IMAGE_RESIZE_LLAMA};
    *po = o;
    return 0;
}

int cli_preprocess(int argc, char **argv) {
    cli_image_opts io = {0};
    image_preprocess_opts po;
    cli_opt opts[] = {CLI_IMAGE_OPTIONS(io), {0}};
    int rc = cli_parse(argc, argv, opts, help, NULL);
    if (rc >= 0 || (rc = cli_image_opts_check("qvl preprocess", &io, &po)) != 0) return rc;
    const char *image = io.image;
    qvl_error err = {0};
    size_t len;
    image_rgb img = {0};
    image_patches p = {0};
    char *bytes = read_file_text(image, IMAGE_DEFAULT_MAX_BYTES + 1, &len, &err);
    rc = bytes && image_decode((const uint8_t *)bytes, len, NULL, &img, &err) == 0 &&
         image_preprocess(&img, &po, &p, &err) == 0 && image_write_png(&p.resized, io.out, &err) == 0 ? 0 : 1;
    if (rc == 0)
        printf("%s: %dx%d -> %dx%d, grid (t, h, w) = (%d, %d, %d), %d patches, %d image tokens\n", image, img.width,
               img.height, p.resized.width, p.resized.height, p.grid_t, p.grid_h, p.grid_w, p.n_patches, p.n_tokens);
    else
        fprintf(stderr, "qvl preprocess: %s: %s\n", image, err.msg);
    free(bytes);
    image_free(&img);
    image_patches_free(&p);
    return rc;
}
