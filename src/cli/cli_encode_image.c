/* cli_encode_image.c - `qvl encode-image --model M --image IMG --out F.f32`:
 * runs the vision tower alone and writes the merged image embeddings as
 * little-endian float32, one row per merged token (row-major over the merged
 * grid): the main merger output followed by the DeepStack merger outputs -
 * the layout of the golden image_embd.f32 files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/mapped_file.h"
#include "cli/cli_image.h"
#include "cli/cli_util.h"
#include "model/vision_model.h"
#include "load/model_load.h"

static const char *help =
    "usage: qvl encode-image --model M [--mmproj P] --image IMG --out FILE.f32 [options]\n"
    "\n"
    "Encodes IMG with the vision tower and writes the image embeddings (float32, one row per\n"
    "image token: main merger output, then each DeepStack merger output). Prints the shape.\n"
    "      --min-pixels N  --max-pixels N   resize limits (default: the model's processor)\n"
    "      --resize MODE   hf (default) or llama (llama.cpp-compatible resize)\n"
    CLI_MODEL_HELP;

int cli_encode_image(int argc, char **argv) {
    cli_model_opts mo = {0};
    cli_image_opts io = {0};
    image_preprocess_opts po;
    cli_opt opts[] = {CLI_MODEL_OPTIONS(mo), CLI_IMAGE_OPTIONS(io), {0}};
    int rc = cli_parse(argc, argv, opts, help, NULL);
    if (rc >= 0 || (rc = cli_image_opts_check("qvl encode-image", &io, &po)) != 0) return rc;
    const char *image = io.image, *out = io.out;
    qvl_model *m = cli_load_model("qvl encode-image", &mo, false);
    if (!m) return 1;
    qvl_error err = {0};
    size_t len;
    image_rgb img = {0};
    vision_image v = {0};
    char *bytes = NULL;
    threadpool *tp = threadpool_create(mo.threads);
    struct timespec t0, t1;
    rc = 1;
    if (!m->vision) {
        fprintf(stderr, "qvl encode-image: %s has no vision tower (a GGUF model needs --mmproj FILE)\n", mo.model);
        goto done;
    }
    if (!(bytes = read_file_text(image, IMAGE_DEFAULT_MAX_BYTES + 1, &len, &err)) ||
        image_decode((const uint8_t *)bytes, len, NULL, &img, &err) != 0) {
        fprintf(stderr, "qvl encode-image: %s: %s\n", image, err.msg);
        goto done;
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (vision_encode_image(m->vision, &img, &po, tp, NULL, NULL, &v, &err) != 0) {
        fprintf(stderr, "qvl encode-image: %s: %s\n", image, err.msg);
        goto done;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    int W = vision_embd_width(m->vision);
    FILE *f = fopen(out, "wb");
    bool wrote = f && fwrite(v.embd, sizeof(float) * W, (size_t)v.n_tokens, f) == (size_t)v.n_tokens;
    if (!f || fclose(f) != 0 || !wrote) {
        fprintf(stderr, "qvl encode-image: cannot write %s\n", out);
        goto done;
    }
    printf("%s: %d x %d floats (%d x %d image tokens from a %d x %d patch grid; %d = %d x (1 main + %d DeepStack)) "
           "in %.0f ms -> %s\n", image, v.n_tokens, W, v.rows, v.cols, v.grid_h, v.grid_w, W,
           m->cfg.vision.out_hidden_size, m->cfg.vision.n_deepstack,
           (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6, out);
    rc = 0;
done:
    free(bytes);
    image_free(&img);
    vision_image_free(&v);
    threadpool_free(tp);
    model_free(m);
    return rc;
}
