/* test_ocr_plugin.c - OCR plugins: shared objects built from
 * tests/ocr/plugins/so_plugin.c with cc at test time, and the command
 * plugins there. Working ones must answer with what was sent; crashing,
 * hanging, wrong-version and garbage ones must each give a clear error
 * while this process carries on.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "test_time.h"
#include "ocr/ocr.h"

static char tmpdir[] = "/tmp/qvl_ocr_plugXXXXXX";

/* Builds so_plugin.c with the given -D flag into tmpdir/name; NULL if cc fails. */
static const char *build_so(const char *name, const char *define) {
    static char path[8][256];
    static int next;
    char *p = path[next++ % 8];
    snprintf(p, 256, "%s/%s", tmpdir, name);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "cc -shared -fPIC -std=c11 -D_GNU_SOURCE -Isrc %s -o %s tests/ocr/plugins/so_plugin.c",
             define, p);
    return system(cmd) == 0 ? p : NULL;
}

/* A 7x5 image whose first pixel is (10, 20, 30). */
static image_rgb test_image(void) {
    image_rgb img = {0};
    qvl_error err = {0};
    if (image_alloc(&img, 7, 5, &err) == 0) {
        memset(img.pixels, 200, 7 * 5 * 3);
        img.pixels[0] = 10; img.pixels[1] = 20; img.pixels[2] = 30;
    }
    return img;
}

static void test_so_good(void) {
    const char *so = build_so("good.so", "");
    CHECK_MSG(so != NULL, "cc could not build the test plugin");
    if (!so) return;
    qvl_error err = {0};
    ocr_engine *eng = ocr_engine_open_plugin(so, NULL, &err);
    CHECK_MSG(eng != NULL, "%s", err.msg);
    if (!eng) return;
    CHECK_STR(ocr_engine_name(eng), "testplug");
    image_rgb img = test_image();
    ocr_result res;
    for (int round = 0; round < 2; round++) {   /* the engine is reusable */
        int rc = ocr_engine_recognize(eng, &img, "eng+chi_sim", &res, &err);
        CHECK_MSG(rc == 0, "%s", err.msg);
        if (rc) break;
        CHECK_EQ_INT(res.n_lines, 2);
        CHECK_STR(res.lines[0].text, "size 7x5 first 10,20,30 lang eng+chi_sim");
        CHECK_EQ_INT(res.lines[0].x, 1);
        CHECK_EQ_INT(res.lines[0].h, 4);
        CHECK(res.lines[0].confidence == 91.5f);
        CHECK_STR(res.text, "size 7x5 first 10,20,30 lang eng+chi_sim\n第二行 second line");
        /* Weighted by characters: 40 at 91.5, 15 (3 Chinese + 12) at 80. */
        double want = (40 * 91.5 + 15 * 80.0) / 55.0;
        CHECK_MSG(res.confidence > want - 0.01 && res.confidence < want + 0.01, "%f", res.confidence);
        ocr_result_free(&res);
    }
    /* A bad language never reaches the plugin. */
    CHECK(ocr_engine_recognize(eng, &img, "eng;rm -rf", &res, &err) == -1);
    CHECK_EQ_INT(err.code, QVL_E_BAD_INPUT);
    image_free(&img);
    ocr_engine_close(eng);

    ocr_engine_opts o = {.config = "fail-init"};
    CHECK(ocr_engine_open_plugin(so, &o, &err) == NULL);
    CHECK_MSG(strstr(err.msg, "init failed: told to fail") != NULL, "%s", err.msg);
}

static void test_so_bad(void) {
    qvl_error err = {0};
    const char *wrong = build_so("wrong.so", "-DWRONG_VERSION");
    CHECK(wrong != NULL);
    if (wrong) {
        CHECK(ocr_engine_open_plugin(wrong, NULL, &err) == NULL);
        CHECK_MSG(strstr(err.msg, "interface version 2") && strstr(err.msg, "needs version 1"), "%s", err.msg);
    }
    CHECK(ocr_engine_open_plugin("tests/ocr/plugins/so_plugin.c.so", NULL, &err) == NULL);
    CHECK_MSG(strstr(err.msg, "no such file") != NULL, "%s", err.msg);
    /* A file that is not a shared object at all. */
    char fake[300];
    snprintf(fake, sizeof fake, "%s/fake.so", tmpdir);
    FILE *f = fopen(fake, "w");
    if (f) { fputs("not an ELF file\n", f); fclose(f); }
    CHECK(ocr_engine_open_plugin(fake, NULL, &err) == NULL);
    CHECK_MSG(strstr(err.msg, "cannot load it") != NULL, "%s", err.msg);

    image_rgb img = test_image();
    ocr_result res;
    const char *crash = build_so("crash.so", "-DCRASH");
    ocr_engine *eng = crash ? ocr_engine_open_plugin(crash, NULL, &err) : NULL;
    CHECK_MSG(eng != NULL, "%s", err.msg);   /* loads fine; dies when used */
    if (eng) {
        CHECK(ocr_engine_recognize(eng, &img, "eng", &res, &err) == -1);
        CHECK_MSG(strstr(err.msg, "crash.so' crashed (signal 11") != NULL, "%s", err.msg);
        CHECK(res.lines == NULL && res.text == NULL);
        ocr_engine_close(eng);
    }
    const char *hang = build_so("hang.so", "-DHANG");
    ocr_engine_opts o = {.timeout_ms = 300};
    eng = hang ? ocr_engine_open_plugin(hang, &o, &err) : NULL;
    CHECK_MSG(eng != NULL, "%s", err.msg);
    if (eng) {
        double t0 = now_s();
        CHECK(ocr_engine_recognize(eng, &img, "eng", &res, &err) == -1);
        double took = now_s() - t0;
        CHECK_MSG(strstr(err.msg, "timed out after 300 ms") != NULL, "%s", err.msg);
        CHECK_MSG(took < 3.0, "took %.1f s", took);
        ocr_engine_close(eng);
    }
    const char *garbage = build_so("garbage.so", "-DGARBAGE");
    eng = garbage ? ocr_engine_open_plugin(garbage, NULL, &err) : NULL;
    if (eng) {
        CHECK(ocr_engine_recognize(eng, &img, "eng", &res, &err) == -1);
        CHECK_MSG(strstr(err.msg, "lines[1].confidence 250 is not in 0..100") != NULL, "%s", err.msg);
        ocr_engine_close(eng);
    }
    image_free(&img);
}

static void test_cmd(void) {
    qvl_error err = {0};
    image_rgb img = test_image();
    ocr_result res;
    ocr_engine *eng = ocr_engine_open_plugin("tests/ocr/plugins/cmd_good.sh", NULL, &err);
    CHECK_MSG(eng != NULL, "%s", err.msg);
    if (eng) {
        CHECK_STR(ocr_engine_name(eng), "cmd_good.sh");
        int rc = ocr_engine_recognize(eng, &img, "chi_tra", &res, &err);
        CHECK_MSG(rc == 0, "%s", err.msg);
        if (rc == 0) {
            /* PPM = "P6\n7 5\n255\n" (11 bytes) + 7*5*3 pixel bytes. */
            CHECK_STR(res.text, "cmd 7x5 chi_tra bytes 116\n识别");
            CHECK_EQ_INT(res.lines[0].w, 7);
            CHECK(res.lines[1].confidence == 70.0f);
        }
        ocr_result_free(&res);
        ocr_engine_close(eng);
    }
    static const struct { const char *script; const char *want; } bad[] = {
        {"cmd_crash.sh", "crashed (signal 11"},
        {"cmd_garbage.sh", "returned invalid JSON"},
        {"cmd_fail.sh", "exited with status 3: model file not found"},
        {"cmd_error.sh", "reported an error: language not supported"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char path[200];
        snprintf(path, sizeof path, "tests/ocr/plugins/%s", bad[i].script);
        eng = ocr_engine_open_plugin(path, NULL, &err);
        CHECK_MSG(eng != NULL, "%s", err.msg);
        if (!eng) continue;
        CHECK(ocr_engine_recognize(eng, &img, "eng", &res, &err) == -1);
        CHECK_MSG(strstr(err.msg, bad[i].want) != NULL, "%s: %s", bad[i].script, err.msg);
        ocr_engine_close(eng);
    }
    ocr_engine_opts o = {.timeout_ms = 400};
    eng = ocr_engine_open_plugin("tests/ocr/plugins/cmd_hang.sh", &o, &err);
    if (eng) {
        double t0 = now_s();
        CHECK(ocr_engine_recognize(eng, &img, "eng", &res, &err) == -1);
        CHECK_MSG(strstr(err.msg, "timed out after 400 ms (killed)") != NULL, "%s", err.msg);
        CHECK_MSG(now_s() - t0 < 3.0, "took %.1f s", now_s() - t0);
        ocr_engine_close(eng);
    }
    /* Not executable (a C file) -> refused at open. */
    CHECK(ocr_engine_open_plugin("tests/ocr/plugins/so_plugin.c", NULL, &err) == NULL);
    CHECK_MSG(strstr(err.msg, "not an executable file") != NULL, "%s", err.msg);
    image_free(&img);
}

int main(void) {
    if (!mkdtemp(tmpdir)) {
        fprintf(stderr, "cannot make a temp dir\n");
        return 1;
    }
    test_so_good();
    test_so_bad();
    test_cmd();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return check_summary();
}
