/* test_ocr_router.c - routing questions to ocr / vlm / ocr+vlm with the
 * shipped data/ocr-rules.txt (a table of what a person would expect), plus
 * the rules-file parser and the confidence fallback.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ocr/ocr_router.h"

typedef struct { const char *q; ocr_route want; } route_case;

#define O OCR_ROUTE_OCR
#define V OCR_ROUTE_VLM
#define B OCR_ROUTE_OCR_VLM

static const route_case cases[] = {
    /* English: just the text */
    {"Extract the text from this image", O},
    {"What does this sign say?", O},
    {"What does the label on the bottle say", O},
    {"OCR this", O},
    {"please ocr the screenshot", O},
    {"Read the text in the picture", O},
    {"Transcribe this page.", O},
    {"What is written on the whiteboard?", O},
    {"Copy the text from this photo", O},
    {"Can you recognize the text in this image?", O},
    {"Convert this scan to text", O},
    {"What words are on the poster?", O},
    {"  READ   THE   SIGN  ", O},
    {"ＯＣＲ ｔｈｉｓ", O},   /* full-width letters */
    /* English: about what is seen */
    {"Describe this image", V},
    {"What is in the picture?", V},
    {"What color is the car?", V},
    {"How many people are in the photo?", V},
    {"Who is the man on the left?", V},
    {"Where is the cat sitting?", V},
    {"What is happening here?", V},
    {"Describe the texture of the wall", V},   /* "text" must not match "texture" */
    {"Give me some context about this scene", V},
    {"What colour is the text on the sign?", V},
    {"Is there any text in this image?", V},
    {"What animal is this?", V},
    {"Write a caption for this photo", V},
    {"Is this a dog or a cat?", V},
    /* English: reading and understanding */
    {"What is the total on this receipt?", B},
    {"How much did I pay?", B},
    {"Summarize this document", B},
    {"Translate the text in this image into Chinese", B},
    {"What is the invoice number?", B},
    {"Which row has the highest score in the table?", B},
    {"What is the phone number on the business card?", B},
    /* Chinese (simplified): just the text */
    {"提取图片中的文字", O},
    {"请提取这张图里的所有文字", O},
    {"识别这张发票", O},
    {"识别一下图片上的文字", O},
    {"这个牌子上写了什么？", O},
    {"上面写着什么", O},
    {"图片转文字", O},
    {"帮我把文字抄下来", O},
    {"这是什么字", O},
    /* Chinese (traditional): just the text */
    {"識別這張發票", O},
    {"圖片中的文字是什麼", O},
    {"這個招牌寫了什麼", O},
    /* Chinese: about what is seen */
    {"描述一下这张图片", V},
    {"图片里有什么？", V},
    {"这辆车是什么颜色", V},
    {"照片里有几个人", V},
    {"这个人是谁", V},
    {"猫在哪里", V},
    {"發生了什麼事", V},
    {"文字是什么颜色的", V},
    {"这张图有没有文字", V},
    {"这是什么动物", V},
    /* Chinese: reading and understanding */
    {"这张收据的总金额是多少", B},
    {"一共多少钱", B},
    {"总结一下这份文件", B},
    {"把图片里的文字翻译成英文", B},
    {"發票號碼是多少", B},
    {"表格中哪一行分数最高", B},
};

static void test_table(const ocr_router *r) {
    int n = (int)(sizeof cases / sizeof cases[0]);
    CHECK(n >= 50);
    for (int i = 0; i < n; i++) {
        ocr_decision d;
        ocr_route got = ocr_router_decide(r, cases[i].q, OCR_MODE_AUTO, &d);
        CHECK_MSG(got == cases[i].want, "\"%s\": got %s (rule line %d '%s'), want %s", cases[i].q,
                  ocr_route_name(got), d.rule_line, d.rule, ocr_route_name(cases[i].want));
        CHECK(d.forced == 0);
    }
}

static void test_modes(const ocr_router *r) {
    ocr_mode m;
    qvl_error err = {0};
    CHECK(ocr_mode_parse("OCR+VLM", &m, &err) == 0 && m == OCR_MODE_OCR_VLM);
    CHECK(ocr_mode_parse("auto", &m, &err) == 0 && m == OCR_MODE_AUTO);
    CHECK(ocr_mode_parse("fast", &m, &err) == -1);
    CHECK_MSG(strstr(err.msg, "auto, ocr, vlm or ocr+vlm") != NULL, "%s", err.msg);
    ocr_decision d;
    CHECK(ocr_router_decide(r, "Describe this image", OCR_MODE_OCR, &d) == OCR_ROUTE_OCR && d.forced);
    CHECK(ocr_router_decide(r, "OCR this", OCR_MODE_VLM, &d) == OCR_ROUTE_VLM && d.forced);
    CHECK(ocr_router_decide(r, "OCR this", OCR_MODE_OCR_VLM, NULL) == OCR_ROUTE_OCR_VLM);
    /* No rule, NULL or invalid UTF-8: the VLM, never a crash. */
    CHECK(ocr_router_decide(r, "", OCR_MODE_AUTO, &d) == OCR_ROUTE_VLM && d.rule_line == 0);
    CHECK(ocr_router_decide(r, NULL, OCR_MODE_AUTO, NULL) == OCR_ROUTE_VLM);
    CHECK(ocr_router_decide(r, "read \xff\xfe the text", OCR_MODE_AUTO, NULL) == OCR_ROUTE_VLM);
}

static void test_accepts(const ocr_router *r) {
    CHECK(ocr_router_min_confidence(r) == 60.0f);
    ocr_result res = {0};
    CHECK(!ocr_router_accepts(r, &res));            /* no text at all */
    res.text = "EXIT";
    res.confidence = 91;
    CHECK(ocr_router_accepts(r, &res));
    res.confidence = 35;                             /* blurred / handwriting */
    CHECK(!ocr_router_accepts(r, &res));
    res.text = " \n ";
    res.confidence = 99;
    CHECK(!ocr_router_accepts(r, &res));
}

static ocr_router *parse(const char *text, qvl_error *err) {
    return ocr_router_parse(text, strlen(text), "rules", err);
}

static void test_parser(void) {
    qvl_error err = {0};
    ocr_router *r = parse("# comment\n\nmin-confidence 75.5\nocr  look at *words\r\nvlm look at * words in red\n"
                          "ocr+vlm 合计 # trailing comment\n", &err);
    CHECK_MSG(r != NULL, "%s", err.msg);
    if (r) {
        CHECK_EQ_INT(ocr_router_rule_count(r), 3);
        CHECK(ocr_router_min_confidence(r) == 75.5f);
        ocr_decision d;
        CHECK(ocr_router_decide(r, "Look at the words", OCR_MODE_AUTO, &d) == OCR_ROUTE_OCR);
        CHECK_EQ_INT(d.rule_line, 4);
        CHECK_STR(d.rule, "look at *words");
        /* the longer phrase wins */
        CHECK(ocr_router_decide(r, "look at the words in red", OCR_MODE_AUTO, &d) == OCR_ROUTE_VLM);
        CHECK_EQ_INT(d.rule_line, 5);
        /* pieces must come in order and as whole words */
        CHECK(ocr_router_decide(r, "words look at", OCR_MODE_AUTO, NULL) == OCR_ROUTE_VLM);
        CHECK(ocr_router_decide(r, "look at the swords", OCR_MODE_AUTO, NULL) == OCR_ROUTE_VLM);
        CHECK(ocr_router_decide(r, "合计是多少", OCR_MODE_AUTO, NULL) == OCR_ROUTE_OCR_VLM);
        ocr_router_free(r);
    }
    /* equal length: the earlier rule wins */
    r = parse("vlm abc\nocr abc\n", &err);
    CHECK(r && ocr_router_decide(r, "abc", OCR_MODE_AUTO, NULL) == OCR_ROUTE_VLM);
    ocr_router_free(r);

    static const struct { const char *text; const char *want; } bad[] = {
        {"ocr read\nfast read it\n", "rules:2: unknown route 'fast'"},
        {"min-confidence 120\n", "rules:1: min-confidence needs a number 0..100"},
        {"min-confidence x\n", "rules:1: min-confidence"},
        {"ocr\n", "rules:1: 'ocr' needs a phrase"},
        {"ocr * *\n", "rules:1: 'ocr' needs a phrase"},
        {"ocr \xc3\x28\n", "rules:1: phrase is not valid UTF-8"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(parse(bad[i].text, &err) == NULL);
        CHECK_MSG(strstr(err.msg, bad[i].want) != NULL, "%s", err.msg);
        CHECK_EQ_INT(err.code, QVL_E_BAD_INPUT);
    }
    CHECK(ocr_router_parse("ocr a\0b", 7, "rules", &err) == NULL);
    CHECK_MSG(strstr(err.msg, "NUL") != NULL, "%s", err.msg);
    CHECK(ocr_router_load("/nonexistent/rules.txt", &err) == NULL);
    CHECK_EQ_INT(err.code, QVL_E_IO);
    CHECK_MSG(strstr(err.msg, "/nonexistent/rules.txt") != NULL, "%s", err.msg);
}

int main(void) {
    qvl_error err = {0};
    ocr_router *r = ocr_router_load("data/ocr-rules.txt", &err);
    CHECK_MSG(r != NULL, "%s", err.msg);
    if (r) {
        test_table(r);
        test_modes(r);
        test_accepts(r);
        ocr_router_free(r);
    }
    test_parser();
    return check_summary();
}
