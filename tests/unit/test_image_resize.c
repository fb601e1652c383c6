/* test_image_resize.c - smart_resize and the Pillow-exact bicubic resize
 * against golden/resize (made with Pillow and the HF processor semantics). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/mapped_file.h"
#include "check.h"
#include "image/image.h"
#include "image/preprocess.h"
#include "image/resize.h"

static int load_image(const char *path, image_rgb *img) {
    mapped_file mf = {0};
    qvl_error err = {0};
    if (mapped_file_open(&mf, path, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    int rc = image_decode(mf.data, mf.size, NULL, img, &err);
    if (rc != 0) fprintf(stderr, "%s: %s\n", path, err.msg);
    mapped_file_close(&mf);
    return rc;
}

/* The worked examples of spec section 5.2 (W x H -> W x H). */
static void test_spec_examples(void) {
    static const int cases[][4] = {
        {1024, 768, 1024, 768}, {800, 600, 800, 608},  {1040, 720, 1024, 704},
        {224, 224, 256, 256},   {100, 80, 288, 256},   {5000, 4000, 4576, 3648},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int h = 0, w = 0;
        qvl_error err = {0};
        CHECK(image_smart_resize(cases[i][1], cases[i][0], IMAGE_HF_MIN_PIXELS,
                                 IMAGE_HF_MAX_PIXELS, &h, &w, &err) == 0);
        CHECK_EQ_INT(w, cases[i][2]);
        CHECK_EQ_INT(h, cases[i][3]);
    }
    /* llama.cpp rounds ties away from zero: 1040 -> 1056 (spec 5.2). */
    int h = 0, w = 0;
    CHECK(image_smart_resize_llama(720, 1040, IMAGE_LLAMA_MIN_PIXELS, IMAGE_HF_MAX_PIXELS,
                                   &h, &w, NULL) == 0);
    CHECK_EQ_INT(w, 1056);
    qvl_error err = {0};
    CHECK(image_smart_resize(10, 2001, 65536, 16777216, &h, &w, &err) == -1);
    CHECK(err.code == QVL_E_BAD_INPUT);
    CHECK(image_smart_resize(0, 10, 65536, 16777216, &h, &w, NULL) == -1);
    CHECK(image_smart_resize(10, 10, 0, 50, &h, &w, NULL) == -1);
}

static void test_table(json_t *root) {
    json_t *table = json_object_get(root, "smart_resize_table");
    CHECK(json_array_size(table) >= 30);
    size_t i;
    json_t *e;
    json_array_foreach(table, i, e) {
        int h = 0, w = 0;
        int rc = image_smart_resize((int)json_integer_value(json_object_get(e, "height")),
                                    (int)json_integer_value(json_object_get(e, "width")),
                                    IMAGE_HF_MIN_PIXELS,
                                    (long)json_integer_value(json_object_get(e, "max_pixels")),
                                    &h, &w, NULL);
        CHECK(rc == 0);
        CHECK_EQ_INT(h, json_integer_value(json_object_get(e, "resized_height")));
        CHECK_EQ_INT(w, json_integer_value(json_object_get(e, "resized_width")));
    }
}

static void test_cases(json_t *root, const char *dir) {
    json_t *cases = json_object_get(root, "cases");
    CHECK(json_array_size(cases) >= 18);
    size_t i;
    json_t *c;
    char path[1024];
    json_array_foreach(cases, i, c) {
        const char *src = json_string_value(json_object_get(c, "source"));
        const char *png = json_string_value(json_object_get(c, "resized_png"));
        json_t *size = json_object_get(c, "resized_size"), *grid = json_object_get(c, "grid_thw");
        image_rgb in = {0}, gold = {0};
        snprintf(path, sizeof path, "%s/images/real/%s", testdata_dir(), src);
        CHECK_MSG(load_image(path, &in) == 0, "%s", path);
        snprintf(path, sizeof path, "%s/%s", dir, png);
        CHECK_MSG(load_image(path, &gold) == 0, "%s", path);
        if (!in.pixels || !gold.pixels) continue;

        image_preprocess_opts opts = {
            .min_pixels = (long)json_integer_value(json_object_get(c, "min_pixels")),
            .max_pixels = (long)json_integer_value(json_object_get(c, "max_pixels")),
        };
        image_patches p = {0};
        qvl_error err = {0};
        CHECK_MSG(image_preprocess(&in, &opts, &p, &err) == 0, "%s", err.msg);
        CHECK_EQ_INT(p.resized.width, json_integer_value(json_array_get(size, 0)));
        CHECK_EQ_INT(p.resized.height, json_integer_value(json_array_get(size, 1)));
        CHECK_EQ_INT(p.grid_t, json_integer_value(json_array_get(grid, 0)));
        CHECK_EQ_INT(p.grid_h, json_integer_value(json_array_get(grid, 1)));
        CHECK_EQ_INT(p.grid_w, json_integer_value(json_array_get(grid, 2)));
        CHECK_EQ_INT(p.n_tokens, json_integer_value(json_object_get(c, "image_tokens")));
        if (p.resized.width == gold.width && p.resized.height == gold.height) {
            size_t n = (size_t)gold.width * gold.height * 3, ndiff = 0;
            int maxd = 0;
            for (size_t k = 0; k < n; k++) {
                int d = abs((int)p.resized.pixels[k] - (int)gold.pixels[k]);
                if (d) ndiff++;
                if (d > maxd) maxd = d;
            }
            fprintf(stderr, "  %-36s max |diff| %d, %zu of %zu samples differ\n", png, maxd, ndiff, n);
            CHECK_MSG(maxd == 0, "%s: max diff %d over %zu samples", png, maxd, ndiff);
        } else {
            CHECK_MSG(0, "%s: size mismatch", png);
        }
        image_patches_free(&p);
        image_free(&in);
        image_free(&gold);
    }
}

/* Same size in and out: a copy. Width only / height only: one pass each. */
static void test_identity_and_single_pass(void) {
    image_rgb a = {0}, b = {0};
    CHECK(image_alloc(&a, 37, 23, NULL) == 0);
    for (size_t k = 0; k < 37 * 23 * 3; k++) a.pixels[k] = (uint8_t)(k * 7);
    CHECK(image_resize_bicubic(&a, 37, 23, &b, NULL) == 0);
    CHECK(memcmp(a.pixels, b.pixels, 37 * 23 * 3) == 0);
    image_free(&b);
    /* A constant image stays constant whatever the scale (weights sum to 1). */
    memset(a.pixels, 200, 37 * 23 * 3);
    static const int sizes[][2] = {{37, 5}, {5, 23}, {100, 90}, {1, 1}};
    for (int s = 0; s < 4; s++) {
        CHECK(image_resize_bicubic(&a, sizes[s][0], sizes[s][1], &b, NULL) == 0);
        int ok = 1;
        for (size_t k = 0; k < (size_t)sizes[s][0] * sizes[s][1] * 3; k++) ok &= b.pixels[k] == 200;
        CHECK_MSG(ok, "constant image changed at %dx%d", sizes[s][0], sizes[s][1]);
        image_free(&b);
    }
    CHECK(image_resize_bicubic(&a, 0, 5, &b, NULL) == -1);
    image_free(&a);
}

int main(void) {
    char dir[512], path[600];
    snprintf(dir, sizeof dir, "%s/golden/resize", testdata_dir());
    snprintf(path, sizeof path, "%s/resize.json", dir);
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    CHECK_MSG(root != NULL, "%s: %s", path, jerr.text);
    test_spec_examples();
    test_identity_and_single_pass();
    if (root) {
        test_table(root);
        test_cases(root, dir);
        json_decref(root);
    }
    return check_summary();
}
