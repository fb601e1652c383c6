/* image_heif.c - HEIC/HEIF and AVIF decoding through libheif.
 *
 * Both are the HEIF container (ISO/IEC 23008-12, an ISO-BMFF file): HEIC
 * holds HEVC pictures (the iPhone's default), AVIF holds AV1. Debian 12's
 * libheif 1.15 has its decoders built in: libde265 for HEVC, dav1d and
 * libaom for AV1 (libaom is used, see decode_primary).
 *
 * What is decoded: the primary image, with the transforms of its item
 * properties applied by libheif (clean-aperture crop, irot rotation, imir
 * mirroring) and grids of tiles (how phones store large photos) assembled.
 * irot/imir are HEIF's orientation; the EXIF block a phone also writes
 * states the same turn and the standard says to ignore it, so it is not
 * read: the picture is turned exactly once. Images of more than 8 bits are
 * reduced to 8 by libheif; alpha (straight or, with a 'prem' reference,
 * premultiplied) is composited onto white.
 *
 * Limits: libheif 1.15's one security knob is the largest side, enforced
 * while the boxes are parsed (so a file whose 'ispe' claims 100000 pixels
 * fails before any decoding); it is tightened to max_pixels when that is
 * smaller, and width*height is checked before decoding. The codecs size
 * their frames from their own headers: a grid tile's side is bounded only
 * by libheif (HEIF_MAX_SIDE).
 */
#include "image/image_codec.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <libheif/heif.h>

/* libheif's own default side limit (MAX_IMAGE_WIDTH in its heif_limits.h),
 * which the API can set but not read. */
#define HEIF_MAX_SIDE 32768

static pthread_once_t heif_once = PTHREAD_ONCE_INIT;

/* libheif 1.15 registers its built-in codecs without heif_init; from 1.16
 * on, codecs packaged as plugins are loaded only by heif_init. Called once
 * and never undone. Its error (no plugin directory) is not fatal: a missing
 * codec shows up as an "unsupported codec" error on decode. */
static void heif_start(void) { (void)heif_init(NULL); }

static const char *heif_name(const uint8_t *bytes, size_t len) {
    const char *kind = image_heif_kind(bytes, len);
    return kind && strcmp(kind, "image/avif") == 0   ? "AVIF"
           : kind && strcmp(kind, "image/heic") == 0 ? "HEIC"
                                                     : "HEIF";
}

/* Maps a libheif error to our codes and messages. libheif's text lives in
 * the context (so this runs before that is freed) and ends with a newline. */
static int heif_fail(qvl_error *err, const char *name, struct heif_error e) {
    char why[256];
    snprintf(why, sizeof why, "%s", e.message ? e.message : "unknown libheif error");
    why[strcspn(why, "\r\n")] = 0;
    switch (e.code) {
    case heif_error_Memory_allocation_error:
        if (e.subcode == heif_suberror_Security_limit_exceeded)
            return qvl_fail_code(err, QVL_E_TOO_LARGE, "%s image is too large: %s", name, why);
        return qvl_fail_code(err, QVL_E_NOMEM, "out of memory decoding %s: %s", name, why);
    case heif_error_Unsupported_filetype:
    case heif_error_Unsupported_feature:
        return qvl_fail_code(err, QVL_E_BAD_MEDIA, "unsupported %s: %s", name, why);
    default:
        return qvl_fail_code(err, QVL_E_BAD_INPUT, "corrupt %s: %s", name, why);
    }
}

/* Decodes the primary image of ctx into *out; returns 0 or -1 with err set
 * (the caller frees out). */
static int decode_primary(struct heif_context *ctx, const char *name, uint64_t max_pixels,
                          image_rgb *out, qvl_error *err) {
    struct heif_image_handle *handle = NULL;
    struct heif_error e = heif_context_get_primary_image_handle(ctx, &handle);
    if (e.code != heif_error_Ok) return heif_fail(err, name, e);
    int w = heif_image_handle_get_width(handle), h = heif_image_handle_get_height(handle);
    int alpha = heif_image_handle_has_alpha_channel(handle);
    int premultiplied = alpha && heif_image_handle_is_premultiplied_alpha(handle);
    struct heif_decoding_options *opt = heif_decoding_options_alloc();
    struct heif_image *img = NULL;
    int rc = -1;
    if (image_check_size(name, w > 0 ? (uint64_t)w : 0, h > 0 ? (uint64_t)h : 0, max_pixels,
                         err) != 0)
        goto done;
    if (!opt) {
        qvl_fail_code(err, QVL_E_NOMEM, "out of memory starting the %s decoder", name);
        goto done;
    }
    opt->convert_hdr_to_8bit = 1;
    /* libheif prefers dav1d for AV1, but on some corrupt items its dav1d
     * plugin leaks and dav1d prints to stderr (found by fuzz_image); with
     * libaom, which Debian's libheif also has, fuzzing found neither. A name
     * only picks among
     * the decoders of the item's codec, so HEVC still gets libde265, and
     * without libaom libheif falls back to its first choice. */
    opt->decoder_id = "aom";
    e = heif_decode_image(handle, &img, heif_colorspace_RGB,
                          alpha ? heif_chroma_interleaved_RGBA : heif_chroma_interleaved_RGB, opt);
    if (e.code != heif_error_Ok) {
        heif_fail(err, name, e);
        goto done;
    }
    int stride = 0, channels = alpha ? 4 : 3;
    const uint8_t *plane = heif_image_get_plane_readonly(img, heif_channel_interleaved, &stride);
    int iw = heif_image_get_width(img, heif_channel_interleaved);
    int ih = heif_image_get_height(img, heif_channel_interleaved);
    /* The decoded picture must be what the header promised and was checked. */
    if (!plane || iw != w || ih != h || stride < iw * channels ||
        heif_image_get_bits_per_pixel_range(img, heif_channel_interleaved) != 8) {
        qvl_fail_code(err, QVL_E_BAD_INPUT, "corrupt %s: the decoded image does not match its "
                      "header", name);
        goto done;
    }
    if (image_alloc(out, iw, ih, err) != 0) goto done;
    for (int y = 0; y < ih; y++) {
        const uint8_t *row = plane + (size_t)y * (size_t)stride;
        uint8_t *dst = out->pixels + (size_t)y * (size_t)iw * 3;
        if (premultiplied) image_premultiplied_over_white(row, (size_t)iw, dst);
        else if (alpha) image_rgba_over_white(row, (size_t)iw, dst);
        else memcpy(dst, row, (size_t)iw * 3);
    }
    rc = 0;
done:
    heif_image_release(img);
    heif_decoding_options_free(opt);
    heif_image_handle_release(handle);
    return rc;
}

int image_decode_heif(const uint8_t *bytes, size_t len, uint64_t max_pixels,
                      image_rgb *out, qvl_error *err) {
    memset(out, 0, sizeof *out);
    const char *name = heif_name(bytes, len);
    pthread_once(&heif_once, heif_start);
    struct heif_context *ctx = heif_context_alloc();
    if (!ctx) return qvl_fail_code(err, QVL_E_NOMEM, "out of memory starting the %s decoder", name);
    heif_context_set_maximum_image_size_limit(
        ctx, max_pixels < HEIF_MAX_SIDE ? (int)max_pixels : HEIF_MAX_SIDE);
    struct heif_error e = heif_context_read_from_memory_without_copy(ctx, bytes, len, NULL);
    int rc = e.code == heif_error_Ok ? decode_primary(ctx, name, max_pixels, out, err)
                                     : heif_fail(err, name, e);
    heif_context_free(ctx);
    if (rc != 0) image_free(out);
    return rc;
}
