/* image_files.h - test images in the formats image_decode reads, made the
 * way users make them: PNGs of known pixels (our writer) converted by
 * ImageMagick's `convert` in a temporary directory that is removed again.
 * Nothing is committed; every file is generated when the test runs.
 */
#ifndef QVL_TEST_IMAGE_FILES_H
#define QVL_TEST_IMAGE_FILES_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jpeglib.h>

#include "image/image.h"
#include "text_file.h"

/* Size of the APP1 payload exif_app1 writes. */
enum { EXIF_APP1_LEN = 6 + 8 + 2 + 12 + 4 };

/* An "Exif\0\0" APP1 payload whose IFD0 holds only the orientation tag o
 * (1..8): a big-endian TIFF for odd values, little-endian for even ones, so
 * both byte orders are exercised. */
static inline void exif_app1(uint8_t app1[EXIF_APP1_LEN], int o) {
    memset(app1, 0, EXIF_APP1_LEN);
    memcpy(app1, "Exif\0\0", 6);
    uint8_t *t = app1 + 6;
    int be = o % 2;
    memcpy(t, be ? "MM\0\x2a\0\0\0\x08" : "II\x2a\0\x08\0\0\0", 8);
    uint8_t entry[14] = {0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, (uint8_t)o, 0, 0};
    if (!be) {
        uint8_t le[14] = {1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0, (uint8_t)o, 0, 0, 0};
        memcpy(entry, le, 14);
    }
    memcpy(t + 8, entry, 14);
}

/* JPEG of w x h pixels with `components` (1 gray, 3 RGB, 4 CMYK), baseline
 * or progressive, with an optional APP1 payload. Returns a malloc'd buffer. */
static inline uint8_t *encode_jpeg(const uint8_t *px, int w, int h, int components, bool progressive,
                                   const uint8_t *app1, size_t app1_len, size_t *len) {
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr jerr;
    unsigned char *buf = NULL;
    unsigned long n = 0;
    c.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&c);
    jpeg_mem_dest(&c, &buf, &n);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = components;
    c.in_color_space = components == 1 ? JCS_GRAYSCALE : components == 3 ? JCS_RGB : JCS_CMYK;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 95, TRUE);
    if (progressive) jpeg_simple_progression(&c);
    jpeg_start_compress(&c, TRUE);
    if (app1) jpeg_write_marker(&c, JPEG_APP0 + 1, app1, (unsigned)app1_len);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = (JSAMPROW)(px + (size_t)c.next_scanline * w * components);
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    uint8_t *out = malloc(n);
    if (out) memcpy(out, buf, n);
    free(buf);
    *len = n;
    return out;
}

/* A baseline JPEG (see encode_jpeg). */
static inline uint8_t *make_jpeg(const uint8_t *px, int w, int h, int components,
                                 const uint8_t *app1, size_t app1_len, size_t *len) {
    return encode_jpeg(px, w, h, components, false, app1, app1_len, len);
}

/* `convert in0.png ... in<n-1>.png <opts> out.<ext>` on the n images (n
 * pages for a multi-page format); returns the output's bytes (malloc'd), or
 * NULL with the reason on stderr. */
static inline uint8_t *magick_convert(const image_rgb *imgs, int n, const char *opts,
                                      const char *ext, size_t *len) {
    char dir[] = "/tmp/qvl-test-image-XXXXXX", cmd[1024], path[64];
    if (!mkdtemp(dir)) return NULL;
    int k = snprintf(cmd, sizeof cmd, "convert");
    uint8_t *bytes = NULL;
    int written = 0;
    for (; written < n; written++) {
        snprintf(path, sizeof path, "%s/in%d.png", dir, written);
        qvl_error err = {0};
        if (image_write_png(&imgs[written], path, &err) != 0) {
            fprintf(stderr, "magick_convert: %s\n", err.msg);
            break;
        }
        k += snprintf(cmd + k, sizeof cmd - (size_t)k, " %s", path);
    }
    snprintf(path, sizeof path, "%s/out.%s", dir, ext);
    snprintf(cmd + k, sizeof cmd - (size_t)k, " %s %s", opts, path);
    if (written == n && system(cmd) == 0) bytes = (uint8_t *)slurp(path, len);
    if (!bytes) fprintf(stderr, "magick_convert: `%s` made nothing\n", cmd);
    unlink(path);
    for (int i = 0; i < written; i++) {
        snprintf(path, sizeof path, "%s/in%d.png", dir, i);
        unlink(path);
    }
    rmdir(dir);
    return bytes;
}

#endif
