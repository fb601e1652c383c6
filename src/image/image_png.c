/* image_png.c - PNG decoding and encoding through libpng.
 *
 * libpng reports errors by longjmp; our error callback records the message
 * and jumps back, and everything a jump must release lives in one struct in
 * memory (png_job), so no local variable is relied on after the jump.
 *
 * Decoding normalises every PNG flavour to 8-bit RGB: palette and low-bit
 * gray are expanded, a tRNS chunk becomes alpha, 16-bit samples keep their
 * high byte (Pillow's "RGB;16B" unpacking does the same), gray is
 * replicated, and any alpha is composited onto white. Interlaced images are
 * de-interlaced by libpng. Gamma and colour-profile chunks are ignored,
 * like Pillow. Missing data after the last row (no IEND) is tolerated.
 */
#include "image/image_codec.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>

typedef struct png_job {
    const uint8_t *bytes;
    size_t len, pos;
    uint8_t *rgba;          /* decode buffer when the PNG has alpha */
    png_bytep *rows;        /* row pointers into rgba or the output */
    FILE *file;             /* writer only */
    char msg[256];
} png_job;

static void job_error(png_structp png, png_const_charp msg) {
    png_job *job = png_get_error_ptr(png);
    snprintf(job->msg, sizeof job->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void job_warning(png_structp png, png_const_charp msg) {
    (void)png;
    (void)msg;  /* warnings (bad ancillary chunk CRCs etc.) are not failures */
}

static void job_read(png_structp png, png_bytep data, png_size_t n) {
    png_job *job = png_get_io_ptr(png);
    if (job->len - job->pos < n) png_error(png, "file is truncated");
    memcpy(data, job->bytes + job->pos, n);
    job->pos += n;
}

static void job_release(png_job *job) {
    free(job->rows);
    free(job->rgba);
    job->rows = NULL;
    job->rgba = NULL;
}

/* Whether every chunk's declared length fits in the bytes after it. libpng
 * allocates an ancillary chunk's claimed length before reading it: a
 * 277-byte file whose tEXt chunk claimed 1.7 GB took that much (found by
 * fuzz_image; Debian's libpng does not bound tEXt by
 * png_set_chunk_malloc_max). Returns 0, or -1 with err set. */
static int chunks_fit(const uint8_t *b, size_t len, qvl_error *err) {
    size_t at = 8;   /* after the signature */
    while (at + 8 <= len) {
        uint32_t n = (uint32_t)b[at] << 24 | (uint32_t)b[at + 1] << 16 | (uint32_t)b[at + 2] << 8 | b[at + 3];
        if (n > len - at - 8)
            return qvl_fail_code(err, QVL_E_BAD_INPUT, "corrupt PNG: a chunk claims %lu bytes but the file has %zu left",
                                 (unsigned long)n, len - at - 8);
        if (!memcmp(b + at + 4, "IEND", 4)) return 0;
        at += 12 + (size_t)n;
    }
    return 0;
}

int image_decode_png(const uint8_t *bytes, size_t len, uint64_t max_pixels,
                     image_rgb *out, qvl_error *err) {
    png_job job = {.bytes = bytes, .len = len};
    memset(out, 0, sizeof *out);
    if (chunks_fit(bytes, len, err) != 0) return -1;
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &job, job_error, job_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return qvl_fail_code(err, QVL_E_NOMEM, "out of memory starting the PNG decoder");
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        job_release(&job);
        image_free(out);
        return qvl_fail_code(err, QVL_E_BAD_INPUT, "corrupt PNG: %s", job.msg);
    }
    png_set_read_fn(png, &job, job_read);
    png_read_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    if (image_check_size("PNG", w, h, max_pixels, err) != 0) {
        png_destroy_read_struct(&png, &info, NULL);
        return -1;
    }
    png_set_expand(png);
    png_set_strip_16(png);
    png_set_gray_to_rgb(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    int channels = png_get_channels(png, info);
    if ((channels != 3 && channels != 4) ||
        png_get_rowbytes(png, info) != (size_t)w * (size_t)channels)
        png_error(png, "unexpected pixel layout after conversion");

    if (image_alloc(out, (int)w, (int)h, err) != 0) {
        png_destroy_read_struct(&png, &info, NULL);
        return -1;
    }
    job.rows = malloc(sizeof *job.rows * h);
    if (channels == 4) job.rgba = malloc((size_t)w * h * 4);
    if (!job.rows || (channels == 4 && !job.rgba)) png_error(png, "out of memory");
    uint8_t *base = channels == 4 ? job.rgba : out->pixels;
    for (png_uint_32 y = 0; y < h; y++) job.rows[y] = base + (size_t)y * w * channels;
    png_read_image(png, job.rows);
    png_destroy_read_struct(&png, &info, NULL);
    if (channels == 4) image_rgba_over_white(job.rgba, (size_t)w * h, out->pixels);
    job_release(&job);
    return 0;
}

int image_write_png(const image_rgb *img, const char *path, qvl_error *err) {
    png_job job = {0};
    job.file = fopen(path, "wb");
    if (!job.file)
        return qvl_fail_code(err, QVL_E_IO, "cannot create %s: %s", path, strerror(errno));
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &job, job_error, job_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        fclose(job.file);
        return qvl_fail_code(err, QVL_E_NOMEM, "out of memory starting the PNG encoder");
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        fclose(job.file);
        job_release(&job);
        return qvl_fail_code(err, QVL_E_IO, "cannot write PNG %s: %s", path, job.msg);
    }
    png_init_io(png, job.file);
    png_set_IHDR(png, info, (png_uint_32)img->width, (png_uint_32)img->height, 8,
                 PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    job.rows = malloc(sizeof *job.rows * (size_t)img->height);
    if (!job.rows) png_error(png, "out of memory");
    for (int y = 0; y < img->height; y++)
        job.rows[y] = img->pixels + (size_t)y * (size_t)img->width * 3;
    png_set_rows(png, info, job.rows);
    png_write_png(png, info, PNG_TRANSFORM_IDENTITY, NULL);
    png_destroy_write_struct(&png, &info);
    job_release(&job);
    if (fclose(job.file) != 0)
        return qvl_fail_code(err, QVL_E_IO, "cannot write PNG %s: %s", path, strerror(errno));
    return 0;
}
