/* image_load.h - a test image file decoded with image_decode, the failure
 * counted as a failed check (named by the path) so a missing or unreadable
 * test file can never pass quietly. Include check.h first.
 */
#ifndef QVL_TEST_IMAGE_LOAD_H
#define QVL_TEST_IMAGE_LOAD_H

#include <stdlib.h>

#include "text_file.h"
#include "image/image.h"

/* Decodes the file at path into *img; returns 0, or -1 after a failed check. */
static inline int load_image(const char *path, image_rgb *img) {
    size_t len;
    char *bytes = slurp(path, &len);
    qvl_error err = {0};
    int rc = bytes ? image_decode((const uint8_t *)bytes, len, NULL, img, &err) : -1;
    free(bytes);
    CHECK_MSG(rc == 0, "cannot load %s: %s", path, bytes ? err.msg : "missing");
    return rc;
}

#endif
