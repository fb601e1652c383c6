/* so_plugin.c - test OCR plugins as shared objects, one per -D flag:
 *   (none)          a working plugin: reports the image size, the first
 *                   pixel and the language, so the test can check what
 *                   arrived; config "fail-init" makes init fail
 *   -DWRONG_VERSION claims interface version OCR_API_VERSION + 1
 *   -DCRASH         dereferences NULL in recognize
 *   -DHANG          never returns from recognize
 *   -DGARBAGE       answers a confidence of 250
 * Built by tests/unit/test_ocr_plugin.c with cc at test time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ocr/ocr.h"

static void *plug_init(const char *config, char *errbuf, size_t errlen) {
    if (config && !strcmp(config, "fail-init")) {
        snprintf(errbuf, errlen, "told to fail");
        return NULL;
    }
    static int instance;
    return &instance;
}

static int plug_recognize(void *self, const ocr_image *img, const char *lang, ocr_result *out,
                          char *errbuf, size_t errlen) {
#ifdef CRASH
    volatile int *p = NULL;
    *p = 1;
#endif
#ifdef HANG
    for (;;) pause();
#endif
    char buf[160];
    snprintf(buf, sizeof buf, "size %dx%d first %d,%d,%d lang %s", img->width, img->height, img->rgb[0],
             img->rgb[1], img->rgb[2], lang);
    out->lines = calloc(2, sizeof *out->lines);
    if (!out->lines) return -1;
    out->lines[0] = (ocr_line){strdup(buf), 1, 2, 3, 4, 91.5f};
    out->lines[1] = (ocr_line){strdup("第二行 second line"), 0, 10, 20, 8, 80.0f};
#ifdef GARBAGE
    out->lines[1].confidence = 250.0f;
#endif
    out->n_lines = 2;
    return 0;
}

static void plug_free_result(void *self, ocr_result *res) {
    for (int i = 0; i < res->n_lines; i++) free(res->lines[i].text);
    free(res->lines);
}

static void plug_free(void *self) {}

static const ocr_backend_api api = {
#ifdef WRONG_VERSION
    OCR_API_VERSION + 1,
#else
    OCR_API_VERSION,
#endif
    "testplug", plug_init, plug_recognize, plug_free_result, plug_free,
};

const ocr_backend_api *qvl_ocr_plugin(void) { return &api; }
