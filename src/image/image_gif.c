/* image_gif.c - GIF decoding (the first frame) through giflib.
 *
 * giflib's record-level reader is used, not DGifSlurp: slurping reads and
 * allocates every frame of an animation before anything can be checked,
 * while here the first image descriptor is read, the canvas it implies is
 * checked against max_pixels, and only then are its lines decoded. giflib
 * reports errors through return codes and never prints.
 *
 * What the pixels are, as Pillow gives the first frame:
 *   - The canvas is the logical screen, grown to hold the frame when the
 *     frame reaches past it (writers do produce such files).
 *   - Colours come from the frame's local colour map, else the global one,
 *     else a gray ramp; an index past the map's end is black.
 *   - The transparent index of a Graphic Control Extension before the frame
 *     becomes alpha 0, composited onto white; canvas the frame does not
 *     cover is that transparent colour when there is one, else colour 0.
 *   - Interlaced frames are put back in row order.
 */
#include "image/image_codec.h"

#include <stdlib.h>
#include <string.h>

#include <gif_lib.h>

typedef struct gif_src {
    const uint8_t *bytes;
    size_t len, pos;
} gif_src;

static int gif_read(GifFileType *gif, GifByteType *buf, int n) {
    gif_src *s = gif->UserData;
    size_t k = n < 0 ? 0 : (size_t)n;
    if (k > s->len - s->pos) k = s->len - s->pos;
    memcpy(buf, s->bytes + s->pos, k);
    s->pos += k;
    return (int)k;
}

static int gif_fail(qvl_error *err, int code) {
    if (code == D_GIF_ERR_NOT_ENOUGH_MEM)
        return qvl_fail_code(err, QVL_E_NOMEM, "out of memory decoding a GIF image");
    const char *why = GifErrorString(code);
    return qvl_fail_code(err, QVL_E_BAD_INPUT, "corrupt GIF: %s",
                         why ? why : "unknown giflib error");
}

/* Reads one extension; a Graphic Control Extension sets *transparent. */
static int read_extension(GifFileType *gif, int *transparent, qvl_error *err) {
    int code;
    GifByteType *ext;
    if (DGifGetExtension(gif, &code, &ext) == GIF_ERROR) return gif_fail(err, gif->Error);
    GraphicsControlBlock gcb;
    if (code == GRAPHICS_EXT_FUNC_CODE && ext &&
        DGifExtensionToGCB(ext[0], ext + 1, &gcb) == GIF_OK)
        *transparent = gcb.TransparentColor;
    while (ext)
        if (DGifGetExtensionNext(gif, &ext) == GIF_ERROR) return gif_fail(err, gif->Error);
    return 0;
}

/* The 256 colours an index can name, already composited onto white. */
static void frame_palette(const ColorMapObject *map, int transparent, uint8_t rgb[256 * 3]) {
    uint8_t rgba[256 * 4];
    for (int i = 0; i < 256; i++) {
        uint8_t *p = rgba + i * 4;
        if (!map) {
            p[0] = p[1] = p[2] = (uint8_t)i;
        } else if (i < map->ColorCount) {
            p[0] = map->Colors[i].Red;
            p[1] = map->Colors[i].Green;
            p[2] = map->Colors[i].Blue;
        } else {
            p[0] = p[1] = p[2] = 0;
        }
        p[3] = i == transparent ? 0 : 255;
    }
    image_rgba_over_white(rgba, 256, rgb);
}

static int decode_first_frame(GifFileType *gif, uint64_t max_pixels, image_rgb *out,
                              qvl_error *err) {
    int transparent = NO_TRANSPARENT_COLOR;
    GifRecordType rec;
    do {
        if (DGifGetRecordType(gif, &rec) == GIF_ERROR) return gif_fail(err, gif->Error);
        if (rec == TERMINATE_RECORD_TYPE)
            return qvl_fail_code(err, QVL_E_BAD_INPUT, "corrupt GIF: no image in the file");
        if (rec == EXTENSION_RECORD_TYPE && read_extension(gif, &transparent, err) != 0)
            return -1;
    } while (rec != IMAGE_DESC_RECORD_TYPE);
    if (DGifGetImageDesc(gif) == GIF_ERROR) return gif_fail(err, gif->Error);

    const GifImageDesc *d = &gif->Image;
    if (d->Width <= 0 || d->Height <= 0)
        return qvl_fail_code(err, QVL_E_BAD_INPUT, "corrupt GIF: the first frame is empty");
    /* giflib reads every field as an unsigned 16-bit number, so these sums
     * are at most 131070. */
    int cw = gif->SWidth > d->Left + d->Width ? gif->SWidth : d->Left + d->Width;
    int ch = gif->SHeight > d->Top + d->Height ? gif->SHeight : d->Top + d->Height;
    if (image_check_size("GIF", (uint64_t)cw, (uint64_t)ch, max_pixels, err) != 0) return -1;

    uint8_t palette[256 * 3];
    frame_palette(d->ColorMap ? d->ColorMap : gif->SColorMap, transparent, palette);
    /* On failure the caller frees out. */
    if (image_alloc(out, cw, ch, err) != 0) return -1;
    GifPixelType *line = malloc((size_t)d->Width);
    if (!line) return qvl_fail_code(err, QVL_E_NOMEM, "out of memory decoding a GIF image");
    const uint8_t *fill = palette + 3 * (transparent >= 0 ? transparent : 0);
    for (size_t i = 0; i < (size_t)cw * (size_t)ch; i++) memcpy(out->pixels + i * 3, fill, 3);

    /* Interlaced rows come in four passes: every 8th from 0, every 8th from
     * 4, every 4th from 2, every 2nd from 1. */
    static const int start[4] = {0, 4, 2, 1}, step[4] = {8, 8, 4, 2};
    int passes = d->Interlace ? 4 : 1;
    for (int p = 0; p < passes; p++) {
        for (int y = d->Interlace ? start[p] : 0; y < d->Height; y += d->Interlace ? step[p] : 1) {
            if (DGifGetLine(gif, line, d->Width) == GIF_ERROR) {
                free(line);
                return gif_fail(err, gif->Error);
            }
            uint8_t *dst = out->pixels + (((size_t)(d->Top + y)) * (size_t)cw + (size_t)d->Left) * 3;
            for (int x = 0; x < d->Width; x++) memcpy(dst + x * 3, palette + line[x] * 3, 3);
        }
    }
    free(line);
    return 0;
}

int image_decode_gif(const uint8_t *bytes, size_t len, uint64_t max_pixels,
                     image_rgb *out, qvl_error *err) {
    memset(out, 0, sizeof *out);
    gif_src src = {.bytes = bytes, .len = len};
    int code = 0;
    GifFileType *gif = DGifOpen(&src, gif_read, &code);
    if (!gif) return gif_fail(err, code);
    int rc = decode_first_frame(gif, max_pixels, out, err);
    DGifCloseFile(gif, &code);
    if (rc != 0) image_free(out);
    return rc;
}
