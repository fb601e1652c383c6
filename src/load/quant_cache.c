/* quant_cache.c - see quant_cache.h. */
#include "load/quant_cache.h"

#include <dirent.h>
#include <stdbool.h>
#include <errno.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/mapped_file.h"

#define CACHE_FORMAT "qvl-quant-cache-1"

const char *quant_cache_default_dir(void) {
    static char buf[4096];
    const char *d = getenv("QVL_CACHE_DIR");
    if (d && *d) return d;
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    if (xdg && *xdg) snprintf(buf, sizeof buf, "%s/qvl", xdg);
    else if (home && *home) snprintf(buf, sizeof buf, "%s/.cache/qvl", home);
    else return NULL;
    return buf;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int quant_cache_locate(const char *cache_dir, const char *dir, const char *quant, char *path, size_t cap,
                       char key[65], qvl_error *err) {
    struct sha256_ctx ctx;
    sha256_init(&ctx);
    sha256_update(&ctx, sizeof CACHE_FORMAT, (const uint8_t *)CACHE_FORMAT);
    sha256_update(&ctx, strlen(quant) + 1, (const uint8_t *)quant);
    char p[4096];
    snprintf(p, sizeof p, "%s/config.json", dir);
    size_t len;
    char *cfg = read_file_text(p, 1 << 20, &len, err);
    if (!cfg) return -1;
    sha256_update(&ctx, len, (const uint8_t *)cfg);
    free(cfg);
    DIR *d = opendir(dir);
    if (!d) return qvl_fail_code(err, QVL_E_IO, "%s: %s", dir, strerror(errno));
    char **names = NULL;
    int n = 0;
    bool oom = false;
    struct dirent *e;
    while (!oom && (e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l > 12 && !strcmp(e->d_name + l - 12, ".safetensors")) {
            char **more = realloc(names, (size_t)(n + 1) * sizeof *names);
            if (more) names = more;
            oom = !more || !(names[n] = strdup(e->d_name));
            n += !oom;
        }
    }
    closedir(d);
    if (oom) {
        for (int i = 0; i < n; i++) free(names[i]);
        free(names);
        return qvl_fail_code(err, QVL_E_NOMEM, "%s: out of memory", dir);
    }
    if (n > 1) qsort(names, (size_t)n, sizeof *names, cmp_str);
    for (int i = 0; i < n; i++) {
        struct stat st;
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        long long meta[3] = {0, 0, 0};
        if (stat(p, &st) == 0) {
            meta[0] = (long long)st.st_size;
            meta[1] = (long long)st.st_mtim.tv_sec;
            meta[2] = (long long)st.st_mtim.tv_nsec;
        }
        sha256_update(&ctx, strlen(names[i]) + 1, (const uint8_t *)names[i]);
        sha256_update(&ctx, sizeof meta, (const uint8_t *)meta);
        free(names[i]);
    }
    free(names);
    uint8_t digest[32];
    sha256_digest(&ctx, sizeof digest, digest);
    for (int i = 0; i < 32; i++) sprintf(key + 2 * i, "%02x", digest[i]);
    snprintf(path, cap, "%s/%.24s-%s.gguf", cache_dir, key, quant);
    return 0;
}


typedef struct cached_file {
    char name[256];
    time_t used;
} cached_file;

static int newest_first(const void *a, const void *b) {
    time_t x = ((const cached_file *)a)->used, y = ((const cached_file *)b)->used;
    return x < y ? 1 : x > y ? -1 : 0;
}

static bool is_cache_name(const char *n) {
    size_t l = strlen(n);
    if (l < 30 || strcmp(n + l - 5, ".gguf") || n[24] != '-') return false;
    for (int i = 0; i < 24; i++)
        if (!strchr("0123456789abcdef", n[i])) return false;
    return true;
}

void quant_cache_trim(const char *cache_dir, int keep) {
    DIR *d = opendir(cache_dir);
    if (!d) return;
    cached_file *f = NULL;
    int n = 0;
    struct dirent *e;
    char p[4096];
    while ((e = readdir(d))) {
        struct stat st;
        if (!is_cache_name(e->d_name)) continue;
        snprintf(p, sizeof p, "%s/%s", cache_dir, e->d_name);
        if (stat(p, &st) != 0) continue;
        cached_file *more = realloc(f, (size_t)(n + 1) * sizeof *f);
        if (!more) {   /* out of memory: delete nothing rather than guess */
            n = 0;
            break;
        }
        f = more;
        snprintf(f[n].name, sizeof f[n].name, "%s", e->d_name);
        /* a load maps the file, which updates its access time only with
         * some mount options: the newer of access and modification time */
        f[n++].used = st.st_atime > st.st_mtime ? st.st_atime : st.st_mtime;
    }
    closedir(d);
    if (n > 1) qsort(f, (size_t)n, sizeof *f, newest_first);
    for (int i = keep; i < n; i++) {
        snprintf(p, sizeof p, "%s/%s", cache_dir, f[i].name);
        unlink(p);
    }
    free(f);
}
