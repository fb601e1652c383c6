/* web_assets.h - the web page's files, embedded into the binary at build
 * time (tools/embed_web.sh turns the files in web/ into
 * build/<kind>/web_assets_data.c), so `qvl serve` works offline with nothing
 * beside the binary.
 *
 * The data is static and read-only; nothing is allocated.
 */
#ifndef QVL_WEB_ASSETS_H
#define QVL_WEB_ASSETS_H

#include <stddef.h>

typedef struct web_asset {
    const char *path;            /* "/index.html" */
    const char *mime;            /* "text/html; charset=utf-8" */
    const unsigned char *data;
    size_t len;
} web_asset;

/* The generated table, ended by an entry with path == NULL. */
extern const web_asset web_asset_table[];

/* The asset served at path, or NULL. Cannot fail. */
const web_asset *web_asset_find(const char *path);

#endif
