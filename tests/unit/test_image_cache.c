/* test_image_cache.c - encoded images are reused: the second prompt about
 * the same picture takes its features from the cache (identical bytes), a
 * different detail level is a different entry, and the cache stays within
 * its byte budget. */
#include <stdlib.h>
#include <string.h>

#include "base/mapped_file.h"
#include "check.h"
#include "tiny_model.h"
#include "generate/chat.h"
#include "generate/image_cache.h"
#include "load/model_load.h"

static int load_path(void *ctx, const json_t *part, int index, image_rgb *out, qvl_error *err) {
    size_t len;
    char *bytes = read_file_text(json_string_value(json_object_get(part, "image")), 1 << 24, &len, err);
    if (!bytes) return -1;
    int rc = image_decode((const uint8_t *)bytes, len, NULL, out, err);
    free(bytes);
    return rc;
}

static json_t *ask(const char *img, const char *q) {
    return json_pack("[{s:s, s:[{s:s, s:s}, {s:s, s:s}]}]", "role", "user", "content", "type", "image", "image", img,
                     "type", "text", "text", q);
}

int main(void) {
    char dir[64], img1[1024], img2[1024];
    qvl_error err = {0};
    tiny_model_make(dir, sizeof dir, "imgcache");
    snprintf(img1, sizeof img1, "%s/images/img_256x256.png", testdata_dir());
    snprintf(img2, sizeof img2, "%s/images/img_320x256.png", testdata_dir());
    model_load_opts lo = {.quant = "q8_0", .threads = 1};
    qvl_model *m = model_load(dir, &lo, &err);
    CHECK_MSG(m != NULL, "%s", err.msg);
    if (!m) return check_summary();
    image_cache *c = image_cache_new((size_t)8 << 20);
    chat_opts o = {.add_generation_prompt = true, .load_image = load_path, .cache = c};
    chat_prompt a, b, d;
    json_t *q1 = ask(img1, "What is this?"), *q2 = ask(img1, "And the colour?"), *q3 = ask(img2, "What is this?");
    CHECK(chat_prompt_build(m, q1, &o, &a, &err) == 0);
    CHECK_EQ_INT(a.n_images_cached, 0);
    CHECK(chat_prompt_build(m, q2, &o, &b, &err) == 0);
    CHECK_EQ_INT(b.n_images_cached, 1);
    CHECK_EQ_INT(a.n_image_rows, b.n_image_rows);
    int width = m->cfg.text.hidden_size * (1 + m->cfg.vision.n_deepstack);
    CHECK(a.image_embd && b.image_embd &&
          !memcmp(a.image_embd, b.image_embd, (size_t)a.n_image_rows * width * sizeof(float)));
    /* another detail level is another entry */
    o.max_pixels = 65536;
    o.min_pixels = 32768;
    chat_prompt_free(&b);
    CHECK(chat_prompt_build(m, q2, &o, &b, &err) == 0);
    CHECK_EQ_INT(b.n_images_cached, 0);
    o.max_pixels = o.min_pixels = 0;
    CHECK(chat_prompt_build(m, q3, &o, &d, &err) == 0);
    image_cache_stats st = image_cache_get_stats(c);
    CHECK_EQ_INT(st.hits, 1);
    CHECK_EQ_INT(st.misses, 3);
    CHECK(st.bytes <= ((size_t)8 << 20));
    CHECK_EQ_INT(st.entries, 3);
    chat_prompt_free(&a), chat_prompt_free(&b), chat_prompt_free(&d);
    image_cache_free(c);

    /* a budget of one image keeps only the most recent */
    c = image_cache_new((size_t)64 * width * sizeof(float) + 100);
    o.cache = c;
    CHECK(chat_prompt_build(m, q1, &o, &a, &err) == 0);   /* 64 tokens: fits */
    CHECK(chat_prompt_build(m, q3, &o, &d, &err) == 0);   /* 80 tokens: larger than the budget, not kept */
    chat_prompt_free(&a), chat_prompt_free(&d);
    CHECK(chat_prompt_build(m, q2, &o, &a, &err) == 0);
    CHECK_EQ_INT(a.n_images_cached, 1);
    st = image_cache_get_stats(c);
    CHECK_EQ_INT(st.entries, 1);
    chat_prompt_free(&a);
    image_cache_free(c);
    json_decref(q1), json_decref(q2), json_decref(q3);
    model_free(m);
    tiny_model_remove(dir);
    return check_summary();
}
