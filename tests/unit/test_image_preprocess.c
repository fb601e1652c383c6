/* test_image_preprocess.c - normalisation and the HF pixel_values patch
 * order (spec 5.5), and the token grid against the llama.cpp golden runs. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mapped_file.h"
#include "check.h"
#include "image/image.h"
#include "image/preprocess.h"

/* A pixel value that differs between neighbouring pixels, channels and patches. */
static uint8_t synth(int x, int y, int c) {
    return (uint8_t)(c == 0 ? x * 7 + y : c == 1 ? y * 3 + x / 16 : (x / 16) * 31 + (y / 16) * 17);
}

static void test_patch_order(void) {
    const int W = 320, H = 256;   /* multiples of 32, 81920 >= 65536 px: no resize */
    image_rgb img = {0};
    CHECK(image_alloc(&img, W, H, NULL) == 0);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            for (int c = 0; c < 3; c++) img.pixels[((size_t)y * W + x) * 3 + c] = synth(x, y, c);
    image_patches p = {0};
    qvl_error err = {0};
    CHECK_MSG(image_preprocess(&img, NULL, &p, &err) == 0, "%s", err.msg);
    CHECK_EQ_INT(p.grid_t, 1);
    CHECK_EQ_INT(p.grid_h, 16);
    CHECK_EQ_INT(p.grid_w, 20);
    CHECK_EQ_INT(p.n_patches, 320);
    CHECK_EQ_INT(p.n_tokens, 80);
    CHECK(p.resized.width == W && p.resized.height == H &&
          memcmp(p.resized.pixels, img.pixels, (size_t)W * H * 3) == 0);
    if (!p.values) return;

    /* The index formulas of spec 5.5, written out independently. */
    size_t bad = 0;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int prow = y / 16, pcol = x / 16, py = y % 16, px = x % 16;
            int bh = prow / 2, ih = prow % 2, bw = pcol / 2, iw = pcol % 2;
            size_t r = (size_t)(((bh * (p.grid_w / 2) + bw) * 2 + ih) * 2 + iw);
            for (int c = 0; c < 3; c++)
                for (int tt = 0; tt < 2; tt++) {
                    size_t k = (size_t)(((c * 2 + tt) * 16 + py) * 16 + px);
                    float want = synth(x, y, c) / 127.5f - 1.0f;
                    float got = p.values[r * IMAGE_PATCH_DIM + k];
                    if (!(got > want - 1e-6f && got < want + 1e-6f)) bad++;
                }
        }
    CHECK_MSG(bad == 0, "%zu patch values misplaced", bad);

    /* One pixel by hand: (x=37, y=18) is patch row 1, col 2 -> merge block
     * (0, 1), inside it (1, 0) -> row 1*4 + 2 = 6; green, frame 1, py 2,
     * px 5 -> column ((1*2+1)*16+2)*16+5 = 805. */
    float want = synth(37, 18, 1) / 127.5f - 1.0f;
    CHECK(p.values[6 * IMAGE_PATCH_DIM + 805] > want - 1e-6f &&
          p.values[6 * IMAGE_PATCH_DIM + 805] < want + 1e-6f);
    image_patches_free(&p);

    /* Extremes and a custom mean/std. */
    memset(img.pixels, 0, (size_t)W * H * 3);
    img.pixels[0] = 255;
    CHECK(image_preprocess(&img, NULL, &p, NULL) == 0);
    CHECK(p.values && p.values[0] == 1.0f && p.values[1] == -1.0f);
    image_patches_free(&p);
    image_preprocess_opts o = {.mean = {0.25f, 0.5f, 0.75f}, .std = {0.5f, 0.25f, 0.125f}};
    CHECK(image_preprocess(&img, &o, &p, NULL) == 0);
    if (p.values) {
        CHECK(p.values[0] == 1.5f);                   /* (1 - 0.25) / 0.5 */
        CHECK(p.values[1 * 512] == -2.0f);            /* green: (0 - 0.5) / 0.25 */
        CHECK(p.values[2 * 512] == -6.0f);            /* blue: (0 - 0.75) / 0.125 */
    }
    image_patches_free(&p);
    o.std[1] = 0;
    CHECK(image_preprocess(&img, &o, &p, NULL) == -1);
    image_free(&img);
}

/* Token counts and grid shape of the llama.cpp golden image runs: I1-I3
 * need no resize in either mode, I4 only in llama.cpp's. */
static void test_golden_grids(void) {
    static const struct { const char *run; image_resize_mode mode; } runs[] = {
        {"I1", IMAGE_RESIZE_HF}, {"I2", IMAGE_RESIZE_HF}, {"I3", IMAGE_RESIZE_HF},
        {"I1", IMAGE_RESIZE_LLAMA}, {"I4", IMAGE_RESIZE_LLAMA},
    };
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        char path[1024], name[256] = {0};
        snprintf(path, sizeof path, "%s/golden/image/%s/image.txt", testdata_dir(), runs[i].run);
        char *txt = read_file_text(path, 4096, NULL, NULL);
        CHECK_MSG(txt != NULL, "%s", path);
        if (!txt) continue;
        sscanf(txt, "%255s", name);
        free(txt);
        snprintf(path, sizeof path, "%s/images/%s", testdata_dir(), name);
        mapped_file mf = {0};
        image_rgb img = {0};
        image_patches p = {0};
        CHECK(mapped_file_open(&mf, path, NULL) == 0);
        CHECK(mf.data && image_decode(mf.data, mf.size, NULL, &img, NULL) == 0);
        mapped_file_close(&mf);
        image_preprocess_opts o = {.mode = runs[i].mode};
        CHECK(img.pixels && image_preprocess(&img, &o, &p, NULL) == 0);

        snprintf(path, sizeof path, "%s/golden/image/%s/F16/chunks.json", testdata_dir(), runs[i].run);
        json_t *root = json_load_file(path, 0, NULL);
        CHECK_MSG(root != NULL, "%s", path);
        size_t k;
        json_t *chunk;
        json_array_foreach(root, k, chunk) {
            if (strcmp(json_string_value(json_object_get(chunk, "type")), "image") != 0) continue;
            json_t *pos = json_object_get(chunk, "decoder_pos_txy");
            json_t *last = json_array_get(pos, json_array_size(pos) - 1);
            int pos0 = (int)json_integer_value(json_object_get(chunk, "pos_0"));
            CHECK_EQ_INT(p.n_tokens, json_integer_value(json_object_get(chunk, "n_tokens")));
            CHECK_EQ_INT(p.grid_h / 2, json_integer_value(json_array_get(last, 1)) - pos0 + 1);
            CHECK_EQ_INT(p.grid_w / 2, json_integer_value(json_array_get(last, 2)) - pos0 + 1);
        }
        json_decref(root);
        if (strcmp(runs[i].run, "I4") != 0)  /* no resize: pixels pass through */
            CHECK(p.resized.pixels && p.resized.width == img.width &&
                  memcmp(p.resized.pixels, img.pixels, (size_t)img.width * img.height * 3) == 0);
        image_patches_free(&p);
        image_free(&img);
    }
}

/* llama.cpp mode pads with black when the ratio changes: 451 x 300 fits
 * 448 x 288 as 433 x 288 (scale 0.96, sides rounded up). */
static void test_llama_pad(void) {
    image_rgb img = {0};
    CHECK(image_alloc(&img, 451, 300, NULL) == 0);
    memset(img.pixels, 200, (size_t)451 * 300 * 3);
    image_preprocess_opts o = {.mode = IMAGE_RESIZE_LLAMA};
    image_patches p = {0};
    CHECK(image_preprocess(&img, &o, &p, NULL) == 0);
    CHECK_EQ_INT(p.resized.width, 448);
    CHECK_EQ_INT(p.resized.height, 288);
    if (p.resized.pixels) {
        CHECK(p.resized.pixels[0] == 0);                            /* left pad */
        CHECK(p.resized.pixels[(288 / 2 * 448 + 224) * 3] == 200);  /* centre */
    }
    image_patches_free(&p);
    image_free(&img);
}

int main(void) {
    test_patch_order();
    test_golden_grids();
    test_llama_pad();
    return check_summary();
}
