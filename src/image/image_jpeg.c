/* image_jpeg.c - JPEG decoding through libjpeg-turbo.
 *
 * libjpeg reports fatal errors by calling error_exit, which by default
 * exit()s the process; here it longjmps back to image_decode_jpeg, which
 * releases everything and returns a message. "Premature end of JPEG file"
 * is only a warning to libjpeg (it pads with gray); we make it fatal so a
 * truncated upload is refused rather than decoded half gray. libjpeg-turbo
 * reads ahead, so even a file lacking only its final EOI marker hits this
 * and is refused. Other warnings (e.g. extraneous bytes before a marker,
 * common in phone photos) pass.
 *
 * Colour: YCbCr and grayscale are converted to RGB by libjpeg itself (what
 * Pillow does too); CMYK/YCCK are read as CMYK and converted with Pillow's
 * formula, after undoing the inversion Adobe applications write.
 * A progressive file with an absurd number of scans (a known CPU-exhaustion
 * trick) is refused.
 */
#include "image/image_codec.h"

#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

#define JPEG_MAX_SCANS 1000

typedef struct jpeg_guard {
    struct jpeg_error_mgr mgr;      /* first: libjpeg sees only this part */
    struct jpeg_progress_mgr progress;
    jmp_buf jump;
    char msg[JMSG_LENGTH_MAX];
} jpeg_guard;

static void guard_error_exit(j_common_ptr cinfo) {
    jpeg_guard *g = (jpeg_guard *)cinfo->err;
    cinfo->err->format_message(cinfo, g->msg);
    longjmp(g->jump, 1);
}

static void guard_emit_message(j_common_ptr cinfo, int level) {
    if (level >= 0) return;  /* trace messages */
    if (cinfo->err->msg_code == JWRN_JPEG_EOF) guard_error_exit(cinfo);
    cinfo->err->num_warnings++;
}

static void guard_progress(j_common_ptr cinfo) {
    if (!cinfo->is_decompressor) return;
    j_decompress_ptr d = (j_decompress_ptr)cinfo;
    if (d->input_scan_number > JPEG_MAX_SCANS) {
        jpeg_guard *g = (jpeg_guard *)cinfo->err;
        snprintf(g->msg, sizeof g->msg, "more than %d progressive scans", JPEG_MAX_SCANS);
        longjmp(g->jump, 1);
    }
}

/* Pillow's MULDIV255: a*b/255 rounded, with its shift approximation. */
static int muldiv255(int a, int b) {
    int t = a * b + 128;
    return ((t >> 8) + t) >> 8;
}

static void cmyk_row_to_rgb(const JSAMPLE *in, int width, int adobe_inverted, uint8_t *out) {
    for (int x = 0; x < width; x++, in += 4, out += 3) {
        int c[4];
        for (int i = 0; i < 4; i++) c[i] = adobe_inverted ? 255 - in[i] : in[i];
        int nk = 255 - c[3];
        for (int i = 0; i < 3; i++) {
            int v = nk - muldiv255(c[i], nk);
            out[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    }
}

/* The EXIF orientation from the first "Exif\0\0" APP1 segment, or 1. */
static int jpeg_orientation(j_decompress_ptr cinfo) {
    for (jpeg_saved_marker_ptr m = cinfo->marker_list; m; m = m->next) {
        if (m->marker == JPEG_APP0 + 1 && m->data_length >= 6 &&
            memcmp(m->data, "Exif\0\0", 6) == 0)
            return exif_orientation(m->data + 6, m->data_length - 6);
    }
    return 1;
}

int image_decode_jpeg(const uint8_t *bytes, size_t len, uint64_t max_pixels,
                      image_rgb *out, qvl_error *err) {
    struct jpeg_decompress_struct cinfo;
    jpeg_guard guard;
    memset(out, 0, sizeof *out);
    memset(&guard, 0, sizeof guard);
    cinfo.err = jpeg_std_error(&guard.mgr);
    guard.mgr.error_exit = guard_error_exit;
    guard.mgr.emit_message = guard_emit_message;
    guard.progress.progress_monitor = guard_progress;

    /* On a longjmp only objects in memory are reliable: out and cinfo live
     * in memory (their addresses are taken), and scratch rows are allocated
     * from libjpeg's pool, freed by jpeg_destroy_decompress. */
    if (setjmp(guard.jump)) {
        jpeg_destroy_decompress(&cinfo);
        image_free(out);
        return qvl_fail_code(err, QVL_E_BAD_INPUT, "corrupt JPEG: %s", guard.msg);
    }
    jpeg_create_decompress(&cinfo);
    cinfo.progress = &guard.progress;
    jpeg_mem_src(&cinfo, bytes, (unsigned long)len);
    jpeg_save_markers(&cinfo, JPEG_APP0 + 1, 0xffff);
    if (jpeg_read_header(&cinfo, TRUE) != JPEG_HEADER_OK) {
        jpeg_destroy_decompress(&cinfo);
        return qvl_fail_code(err, QVL_E_BAD_INPUT, "corrupt JPEG: no image in the file");
    }
    if (image_check_size("JPEG", cinfo.image_width, cinfo.image_height, max_pixels, err) != 0) {
        jpeg_destroy_decompress(&cinfo);
        return -1;
    }
    int cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
    cinfo.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
    jpeg_start_decompress(&cinfo);

    if (image_alloc(out, (int)cinfo.output_width, (int)cinfo.output_height, err) != 0) {
        jpeg_destroy_decompress(&cinfo);
        return -1;
    }
    JSAMPARRAY scratch = NULL;
    if (cmyk)
        scratch = (*cinfo.mem->alloc_sarray)((j_common_ptr)&cinfo, JPOOL_IMAGE,
                                             cinfo.output_width * 4, 1);
    while (cinfo.output_scanline < cinfo.output_height) {
        uint8_t *row = out->pixels + (size_t)cinfo.output_scanline * (size_t)out->width * 3;
        JSAMPROW dest = cmyk ? scratch[0] : row;
        if (jpeg_read_scanlines(&cinfo, &dest, 1) != 1) {
            /* The memory source never suspends, so this means a broken stream. */
            jpeg_destroy_decompress(&cinfo);
            image_free(out);
            return qvl_fail_code(err, QVL_E_BAD_INPUT, "corrupt JPEG: decoding stopped early");
        }
        if (cmyk) cmyk_row_to_rgb(scratch[0], out->width, cinfo.saw_Adobe_marker, row);
    }
    int orientation = jpeg_orientation(&cinfo);
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);

    if (image_apply_orientation(out, orientation, err) != 0) {
        image_free(out);
        return -1;
    }
    return 0;
}
