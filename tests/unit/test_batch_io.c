/* test_batch_io.c - the results file of `qvl batch`: exact CSV quoting (RFC
 * 4180), JSONL records, resume after a torn write, image discovery by
 * bytes. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/mapped_file.h"
#include "batch/batch_io.h"
#include "check.h"

static char dir[] = "/tmp/qvl-batchio-XXXXXX";

static char *slurp(const char *path) {
    size_t len;
    qvl_error err;
    return read_file_text(path, 1 << 20, &len, &err);
}

static void csv_tests(void) {
    char path[256];
    snprintf(path, sizeof path, "%s/out.csv", dir);
    batch_out o;
    qvl_error err = {0};
    CHECK(batch_out_open(&o, path, BATCH_CSV, false, &err) == 0);
    batch_record r = {.path = "a/b,c.png", .question = "Say \"hi\", twice", .answer = "line1\nline2, \"q\"",
                      .route = "vlm", .finish = "stop", .prompt_tokens = 12, .answer_tokens = 3, .ms = 41.6};
    CHECK(batch_out_write(&o, &r, &err) == 0);
    batch_record e = {.path = "x.png", .question = "q", .route = "vlm", .error = "not an image"};
    CHECK(batch_out_write(&o, &e, &err) == 0);
    batch_out_close(&o);
    char *got = slurp(path);
    const char *want =
        "path,question,answer,route,finish,prompt_tokens,answer_tokens,ms,error\n"
        "\"a/b,c.png\",\"Say \"\"hi\"\", twice\",\"line1\nline2, \"\"q\"\"\",\"vlm\",\"stop\",12,3,42,\"\"\n"
        "\"x.png\",\"q\",\"\",\"vlm\",\"\",0,0,0,\"not an image\"\n";
    CHECK_MSG(got && !strcmp(got, want), "csv:\n%s", got ? got : "(null)");
    free(got);

    /* a second run without --resume is refused; with it, both pairs are known */
    CHECK(batch_out_open(&o, path, BATCH_CSV, false, &err) != 0 && strstr(err.msg, "--resume"));
    CHECK(batch_out_open(&o, path, BATCH_CSV, true, &err) == 0);
    CHECK_EQ_INT(o.n_done, 2);
    CHECK(batch_out_has(&o, "a/b,c.png", 0, "Say \"hi\", twice"));
    CHECK(batch_out_has(&o, "x.png", 0, "q"));
    CHECK(!batch_out_has(&o, "x.png", 0, "Say \"hi\", twice"));
    CHECK(!batch_out_has(&o, "x.png", 1, "q"));   /* page 1 of a document is another record */
    batch_out_close(&o);

    /* a torn record (crash mid-write) is cut off on resume */
    FILE *f = fopen(path, "ab");
    fputs("\"y.png\",\"q\",\"half an ans", f);
    fclose(f);
    CHECK(batch_out_open(&o, path, BATCH_CSV, true, &err) == 0);
    CHECK_EQ_INT(o.n_done, 2);
    batch_out_close(&o);
    got = slurp(path);
    CHECK(got && !strcmp(got, want));
    free(got);
}

static void jsonl_tests(void) {
    char path[256];
    snprintf(path, sizeof path, "%s/out.jsonl", dir);
    batch_out o;
    qvl_error err = {0};
    CHECK(batch_out_open(&o, path, BATCH_JSONL, false, &err) == 0);
    batch_record r = {.path = "p.png", .question = "多少钱?", .answer = "a\n\"b\"", .route = "vlm", .finish = "stop",
                      .prompt_tokens = 5, .answer_tokens = 2, .ms = 10};
    CHECK(batch_out_write(&o, &r, &err) == 0);
    batch_out_close(&o);
    char *got = slurp(path);
    CHECK_MSG(got && !strcmp(got, "{\"path\":\"p.png\",\"question\":\"多少钱?\",\"answer\":\"a\\n\\\"b\\\"\",\"route\":\"vlm\","
                                  "\"finish\":\"stop\",\"prompt_tokens\":5,\"answer_tokens\":2,\"ms\":10,\"error\":null}\n"),
              "jsonl: %s", got);
    free(got);
    FILE *f = fopen(path, "ab");
    fputs("{\"path\":\"q.png\",\"quest", f);
    fclose(f);
    CHECK(batch_out_open(&o, path, BATCH_JSONL, true, &err) == 0);
    CHECK_EQ_INT(o.n_done, 1);
    CHECK(batch_out_has(&o, "p.png", 0, "多少钱?"));
    batch_out_close(&o);
    struct stat st;
    stat(path, &st);
    got = slurp(path);
    CHECK(got && got[st.st_size - 1] == '\n' && !strstr(got, "q.png"));
    free(got);

    /* pages of a document: "page" in JSONL, "FILE#page=n" in CSV; resume tells pages apart */
    char dpath[256], cpath[256];
    snprintf(dpath, sizeof dpath, "%s/pages.jsonl", dir);
    snprintf(cpath, sizeof cpath, "%s/pages.csv", dir);
    batch_out oc;
    CHECK(batch_out_open(&o, dpath, BATCH_JSONL, false, &err) == 0 && batch_out_open(&oc, cpath, BATCH_CSV, false, &err) == 0);
    batch_record pg = {.path = "d.pdf", .question = "q", .answer = "t", .route = "ocr", .finish = "stop", .page = 2};
    CHECK(batch_out_write(&o, &pg, &err) == 0 && batch_out_write(&oc, &pg, &err) == 0);
    batch_out_close(&o);
    batch_out_close(&oc);
    got = slurp(dpath);
    CHECK_MSG(got && strstr(got, "\"page\":2}"), "jsonl page: %s", got ? got : "(null)");
    free(got);
    got = slurp(cpath);
    CHECK_MSG(got && strstr(got, "\n\"d.pdf#page=2\",\"q\""), "csv page: %s", got ? got : "(null)");
    free(got);
    CHECK(batch_out_open(&o, dpath, BATCH_JSONL, true, &err) == 0 && batch_out_open(&oc, cpath, BATCH_CSV, true, &err) == 0);
    CHECK(batch_out_has(&o, "d.pdf", 2, "q") && !batch_out_has(&o, "d.pdf", 1, "q") && !batch_out_has(&o, "d.pdf", 0, "q"));
    CHECK(batch_out_has(&oc, "d.pdf", 2, "q") && !batch_out_has(&oc, "d.pdf", 1, "q"));
    batch_out_close(&o);
    batch_out_close(&oc);
}

static void find_tests(void) {
    char sub[256], p[300];
    snprintf(sub, sizeof sub, "%s/imgs/nested", dir);
    snprintf(p, sizeof p, "%s/imgs", dir);
    mkdir(p, 0755);
    mkdir(sub, 0755);
    const uint8_t png[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    const uint8_t jpg[4] = {0xff, 0xd8, 0xff, 0xe0};
    struct { const char *name; const void *b; size_t n; } files[] = {
        {"imgs/b.png", png, 8}, {"imgs/a.txt", "hello", 5}, {"imgs/nested/c.dat", jpg, 4}, {"imgs/z.jpg", "fake", 4},
    };
    for (size_t i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, files[i].name);
        FILE *f = fopen(p, "wb");
        fwrite(files[i].b, 1, files[i].n, f);
        fclose(f);
    }
    path_list l;
    int skipped;
    qvl_error err;
    snprintf(p, sizeof p, "%s/imgs", dir);
    CHECK(batch_find_images(p, &l, &skipped, &err) == 0);
    CHECK_EQ_INT(l.n, 2);          /* b.png and nested/c.dat (JPEG bytes); not z.jpg (not an image) */
    CHECK_EQ_INT(skipped, 2);
    if (l.n == 2) {
        CHECK(strstr(l.items[0], "imgs/b.png") != NULL);
        CHECK(strstr(l.items[1], "imgs/nested/c.dat") != NULL);
    }
    path_list_free(&l);
    CHECK(batch_find_images("/nonexistent/dir", &l, &skipped, &err) != 0);
}

int main(void) {
    CHECK(mkdtemp(dir) != NULL);
    csv_tests();
    jsonl_tests();
    find_tests();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
    return check_summary();
}
