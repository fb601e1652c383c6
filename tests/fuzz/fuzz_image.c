/* fuzz_image.c - libFuzzer target: image_decode on arbitrary bytes with a
 * small pixel limit (so the fuzzer explores parsers, not allocations), and,
 * for a multi-page file (TIFF), the page count and the last page. */
#include "image/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    image_limits lim = {.max_bytes = 1 << 20, .max_pixels = 1 << 20};
    image_rgb img;
    qvl_error err;
    if (image_decode(data, size, &lim, &img, &err) == 0) image_free(&img);
    int pages = image_page_count(data, size, &lim, &err);
    if (pages > 1 && image_decode_page(data, size, pages - 1, &lim, &img, &err) == 0)
        image_free(&img);
    return 0;
}
