/* fuzz_pdf.c - libFuzzer target: bytes as a PDF through qvl's poppler
 * wrapper (image_pdf.c): the page count, the first and last pages rendered
 * under a low pixel cap (64K pixels, so each input takes milliseconds and
 * the fuzzer explores the wrapper's checks and poppler's parser rather than
 * rasterizing), and the last page's text layer. fuzz_image reaches PDFs
 * too, rarely, among every other format. */
#include <stdlib.h>
#include <string.h>

#include "image/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* only PDFs: the other formats are fuzz_image's */
    if (size < 5 || memcmp(data, "%PDF-", 5) != 0) return 0;
    image_limits lim = {.max_bytes = 1 << 20, .max_pixels = 1 << 16};
    image_rgb img;
    qvl_error err;
    if (image_decode(data, size, &lim, &img, &err) == 0) image_free(&img);
    int pages = image_page_count(data, size, &lim, &err);
    if (pages > 1 && image_decode_page(data, size, pages - 1, &lim, &img, &err) == 0) image_free(&img);
    char *text = NULL;
    if (pages > 0 && image_pdf_page_text(data, size, pages - 1, &text, &err) == 0) free(text);
    return 0;
}
