/* web_assets.c - see web_assets.h (the table itself is generated). */
#include "server/web_assets.h"

#include <string.h>

const web_asset *web_asset_find(const char *path) {
    for (const web_asset *a = web_asset_table; a->path; a++)
        if (!strcmp(a->path, path)) return a;
    return NULL;
}
