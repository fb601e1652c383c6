/* test_ocr_text.c - edit distance, normalisation and CER against values
 * worked out by hand, and the CJK space joining applied to Tesseract output.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ocr/ocr_text.h"

static void test_edit_distance(void) {
    qvl_error err = {0};
    CHECK_EQ_INT(ocr_edit_distance("kitten", "sitting", &err), 3);
    CHECK_EQ_INT(ocr_edit_distance("", "abc", &err), 3);
    CHECK_EQ_INT(ocr_edit_distance("abc", "", &err), 3);
    CHECK_EQ_INT(ocr_edit_distance("flaw", "lawn", &err), 2);
    CHECK_EQ_INT(ocr_edit_distance("same", "same", &err), 0);
    /* code points, not bytes: one Chinese character = one edit */
    CHECK_EQ_INT(ocr_edit_distance("提取文字", "提取文本", &err), 1);
    CHECK_EQ_INT(ocr_edit_distance("出口", "出口EXIT", &err), 4);
    CHECK_EQ_INT(ocr_edit_distance("a\xff", "a", &err), -1);
    CHECK_EQ_INT(err.code, QVL_E_BAD_INPUT);
}

static void test_normalize(void) {
    static const struct { const char *in, *want; } cases[] = {
        {"  Hello   world \n", "Hello world"},
        {"Ｈｅｌｌｏ　世界\n\n foo", "Hello世界foo"},      /* full width -> ASCII; no spaces at CJK */
        {"提 取 文 字", "提取文字"},
        {"Name\tCity\n\nAge", "Name City Age"},
        {"EXIT", "EXIT"},                                  /* case is kept */
        {"", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        qvl_error err = {0};
        char *got = ocr_text_normalize(cases[i].in, &err);
        CHECK_MSG(got != NULL, "%s", err.msg);
        if (got) CHECK_STR(got, cases[i].want);
        free(got);
    }
}

static void test_join_cjk(void) {
    char s1[] = "提 取 文 字 OCR 结 果";
    ocr_text_join_cjk(s1);
    CHECK_STR(s1, "提取文字 OCR 结果");
    char s2[] = "the  quick fox";
    ocr_text_join_cjk(s2);
    CHECK_STR(s2, "the  quick fox");
    char s3[] = "合 计 204.04 元";
    ocr_text_join_cjk(s3);
    CHECK_STR(s3, "合计 204.04 元");
}

static void test_cer(void) {
    double cer;
    long edits, n;
    qvl_error err = {0};
    CHECK(ocr_cer("abcd", "abxd", &cer, &edits, &n, &err) == 0);
    CHECK(cer == 0.25 && edits == 1 && n == 4);
    CHECK(ocr_cer("今天 天气\n很好", "今天天气很好", &cer, &edits, &n, &err) == 0);
    CHECK(cer == 0.0 && n == 6);
    CHECK(ocr_cer("", "noise", &cer, &edits, &n, &err) == 0);
    CHECK(cer == 5.0 && n == 0);
    CHECK(ocr_cer("ok", "\xc3", &cer, NULL, NULL, &err) == -1);
}

static void test_scripts(void) {
    long cjk, latin;
    ocr_text_scripts("合计 78.51", &cjk, &latin);
    CHECK(cjk == 2 && latin == 0);
    ocr_text_scripts("Bit 78.51 使用 USB", &cjk, &latin);
    CHECK(cjk == 2 && latin == 6);
    ocr_text_scripts("ok\xc3", &cjk, &latin);   /* invalid UTF-8 ends the count */
    CHECK(cjk == 0 && latin == 2);
    CHECK(ocr_text_only_short_latin("Bit 78.51", 3));
    CHECK(ocr_text_only_short_latin("使用 USB 接口", 3));
    CHECK(ocr_text_only_short_latin("A2024-0815 已发货", 3));
    CHECK(!ocr_text_only_short_latin("Total 78.51", 3));
    CHECK(!ocr_text_only_short_latin("Wi-Fi USB", 1));
    CHECK(!ocr_text_only_short_latin("合计 78.51", 3));   /* no Latin word at all */
    CHECK(!ocr_text_only_short_latin("", 3));
}

int main(void) {
    test_edit_distance();
    test_normalize();
    test_join_cjk();
    test_cer();
    test_scripts();
    return check_summary();
}
