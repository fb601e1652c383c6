/* test_chat_positions.c - chat_positions (generate/chat.h): the 3-D M-RoPE
 * positions of a prompt with image token runs, against tables written by
 * hand from the algorithm and the worked example of
 * ../shared/docs/qwen3-vl-spec.md section 7.4 (get_rope_index), never
 * against the function's own output:
 *   text: t = h = w = running position;
 *   image with a merged grid of R x C tokens starting at base: token (r, c)
 *     in raster order gets (base, base + r, base + c);
 *   the text after it continues at base + max(R, C).
 * Plus the failures the header promises: a run whose length is not its
 * image's token count, a run without an image, an image without a run.
 */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "generate/chat.h"

/* Token ids of section 1.2 of the spec; only "is it IMG or not" matters. */
enum { IM_START = 151644, VSTART = 151652, VEND = 151653, IMG = 151655, USER = 872, NL = 198, WORD = 9707 };

static vision_image grid(int rows, int cols) {
    vision_image v = {.n_tokens = rows * cols, .rows = rows, .cols = cols, .grid_h = 2 * rows, .grid_w = 2 * cols};
    return v;
}

/* Runs chat_positions and compares every (t, h, w) with want (n, 3). */
static void expect(const char *name, const int32_t *ids, int n, const vision_image *imgs, int n_imgs,
                   const int32_t (*want)[3], int want_next) {
    int32_t pos[64 * 3];
    memset(pos, 0x7f, sizeof pos);
    int next = -1;
    qvl_error err = {0};
    int rc = chat_positions(ids, n, IMG, imgs, n_imgs, pos, &next, &err);
    CHECK_MSG(rc == 0, "%s: %s", name, err.msg);
    if (rc) return;
    for (int i = 0; i < n; i++)
        CHECK_MSG(pos[i * 3] == want[i][0] && pos[i * 3 + 1] == want[i][1] && pos[i * 3 + 2] == want[i][2],
                  "%s token %d: (%d,%d,%d), want (%d,%d,%d)", name, i, pos[i * 3], pos[i * 3 + 1], pos[i * 3 + 2],
                  want[i][0], want[i][1], want[i][2]);
    CHECK_MSG(next == want_next, "%s: next position %d, want %d", name, next, want_next);
    CHECK_MSG(pos[n * 3] == 0x7f7f7f7f, "%s: wrote past the prompt", name);
}

/* Text only: (s, s, s) for s = 0..n-1, next = n (spec: "Text-only prompts"). */
static void test_text_only(void) {
    const int32_t ids[] = {IM_START, USER, NL, WORD, WORD};
    const int32_t want[][3] = {{0, 0, 0}, {1, 1, 1}, {2, 2, 2}, {3, 3, 3}, {4, 4, 4}};
    expect("text only", ids, 5, NULL, 0, want, 5);
}

/* A wide image (2 rows x 3 columns of merged tokens) between text:
 * <|im_start|> user \n <|vision_start|> get 0..3; the image base is 4; token
 * (r, c) -> (4, 4 + r, 4 + c); <|vision_end|> gets 4 + max(2, 3) = 7; then 8, 9. */
static void test_wide_image(void) {
    const int32_t ids[] = {IM_START, USER, NL, VSTART, IMG, IMG, IMG, IMG, IMG, IMG, VEND, WORD, NL};
    const int32_t want[][3] = {
        {0, 0, 0}, {1, 1, 1}, {2, 2, 2}, {3, 3, 3},
        {4, 4, 4}, {4, 4, 5}, {4, 4, 6},   /* row 0 */
        {4, 5, 4}, {4, 5, 5}, {4, 5, 6},   /* row 1 */
        {7, 7, 7}, {8, 8, 8}, {9, 9, 9},
    };
    vision_image v = grid(2, 3);
    expect("wide image", ids, 13, &v, 1, want, 10);
}

/* A tall image (3 x 1) first, then a square one (2 x 2): the text after the
 * tall one continues at base + max(3, 1) = rows, and the second image's base
 * is the running position when its run starts. */
static void test_two_images(void) {
    const int32_t ids[] = {VSTART, IMG, IMG, IMG, VEND, WORD, VSTART, IMG, IMG, IMG, IMG, VEND};
    const int32_t want[][3] = {
        {0, 0, 0},
        {1, 1, 1}, {1, 2, 1}, {1, 3, 1},   /* 3 rows, 1 column: h moves, w stays */
        {4, 4, 4},                          /* 1 + max(3, 1) */
        {5, 5, 5}, {6, 6, 6},
        {7, 7, 7}, {7, 7, 8}, {7, 8, 7}, {7, 8, 8},
        {9, 9, 9},                          /* 7 + max(2, 2) */
    };
    vision_image v[2] = {grid(3, 1), grid(2, 2)};
    expect("two images", ids, 12, v, 2, want, 10);
}

/* The spec's worked example: a 1024x768 image is a 24 x 32 merged grid after
 * <|im_start|> user \n <|vision_start|>: image tokens t = 4, h = 4..27,
 * w = 4..35; <|vision_end|> 36; following text 37, 38, ...; with n_after
 * tokens from <|vision_end|> on, the position after the prompt is 36 + n_after
 * (rope_delta = 32 - 768). */
static void test_spec_example(void) {
    enum { R = 24, C = 32, N_AFTER = 3, N = 4 + R * C + N_AFTER };
    static int32_t ids[N], pos[N * 3];
    ids[0] = IM_START, ids[1] = USER, ids[2] = NL, ids[3] = VSTART;
    for (int i = 0; i < R * C; i++) ids[4 + i] = IMG;
    ids[4 + R * C] = VEND, ids[5 + R * C] = WORD, ids[6 + R * C] = NL;
    vision_image v = grid(R, C);
    int next = -1;
    qvl_error err = {0};
    CHECK_MSG(chat_positions(ids, N, IMG, &v, 1, pos, &next, &err) == 0, "%s", err.msg);
    const int32_t *first = pos + 4 * 3, *last = pos + (4 + R * C - 1) * 3, *end = pos + (4 + R * C) * 3;
    CHECK(pos[3 * 3] == 3 && pos[3 * 3 + 1] == 3 && pos[3 * 3 + 2] == 3);
    CHECK(first[0] == 4 && first[1] == 4 && first[2] == 4);
    CHECK_MSG(last[0] == 4 && last[1] == 27 && last[2] == 35, "last image token (%d,%d,%d)", last[0], last[1], last[2]);
    /* token 4 + 33 is row 1, column 1 (raster order, 32 per row) */
    CHECK(pos[(4 + 33) * 3] == 4 && pos[(4 + 33) * 3 + 1] == 5 && pos[(4 + 33) * 3 + 2] == 5);
    int t_all4 = 1, h_max = 0, w_max = 0;
    for (int i = 4; i < 4 + R * C; i++) {
        t_all4 &= pos[i * 3] == 4;
        h_max = pos[i * 3 + 1] > h_max ? pos[i * 3 + 1] : h_max;
        w_max = pos[i * 3 + 2] > w_max ? pos[i * 3 + 2] : w_max;
    }
    CHECK(t_all4 && h_max == 27 && w_max == 35);
    CHECK(end[0] == 36 && end[1] == 36 && end[2] == 36);
    CHECK(pos[(N - 1) * 3] == 38);
    CHECK_EQ_INT(next, 36 + N_AFTER);
    CHECK_EQ_INT(next - N, 32 - 768);   /* rope_delta */
}

/* The promised failures: QVL_E_BAD_INPUT, whatever the mismatch. */
static void test_mismatches(void) {
    int32_t pos[32 * 3];
    int next;
    qvl_error err;
    const int32_t five[] = {WORD, IMG, IMG, IMG, IMG, IMG, WORD};   /* one run of 5 */
    vision_image six = grid(2, 3), two[2] = {grid(1, 5), grid(1, 1)};

    err = (qvl_error){0};   /* run of 5, image of 6 tokens */
    CHECK(chat_positions(five, 7, IMG, &six, 1, pos, &next, &err) == -1);
    CHECK_EQ_INT(err.code, QVL_E_BAD_INPUT);
    CHECK(err.msg[0] != 0);

    err = (qvl_error){0};   /* a run and no image */
    CHECK(chat_positions(five, 7, IMG, NULL, 0, pos, &next, &err) == -1);
    CHECK_EQ_INT(err.code, QVL_E_BAD_INPUT);

    err = (qvl_error){0};   /* two images and one run */
    CHECK(chat_positions(five, 7, IMG, two, 2, pos, &next, &err) == -1);
    CHECK_EQ_INT(err.code, QVL_E_BAD_INPUT);

    const int32_t text[] = {WORD, WORD};   /* an image and no run */
    err = (qvl_error){0};
    CHECK(chat_positions(text, 2, IMG, &six, 1, pos, &next, &err) == -1);
    CHECK_EQ_INT(err.code, QVL_E_BAD_INPUT);

    /* the same run with the right image is fine (the failures above were the mismatch) */
    vision_image ok = grid(1, 5);
    CHECK(chat_positions(five, 7, IMG, &ok, 1, pos, &next, &err) == 0);
    CHECK_EQ_INT(next, 1 + 5 + 1);   /* WORD 0, image base 1 advances by max(1, 5), WORD 6 */
}

int main(void) {
    test_text_only();
    test_wide_image();
    test_two_images();
    test_spec_example();
    test_mismatches();
    return check_summary();
}
