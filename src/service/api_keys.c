/* api_keys.c - see api_keys.h. */
#include "service/api_keys.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_MAX 256   /* longer lines are refused, not cut */

struct api_keys {
    char **keys;
    int n;
};

void api_keys_free(api_keys *k) {
    if (!k) return;
    for (int i = 0; i < k->n; i++) free(k->keys[i]);
    free(k->keys);
    free(k);
}

static int add_key(api_keys *k, const char *key, size_t len, const char *where, qvl_error *err) {
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)key[i] < 0x21 || key[i] == 0x7f)
            return qvl_fail_code(err, QVL_E_BAD_INPUT, "%s: a key must not contain spaces or control characters",
                                 where);
    char **more = realloc(k->keys, (size_t)(k->n + 1) * sizeof *more);
    char *copy = strndup(key, len);
    if (!more || !copy) {
        if (more) k->keys = more;
        free(copy);
        return qvl_fail_code(err, QVL_E_NOMEM, "out of memory");
    }
    k->keys = more;
    k->keys[k->n++] = copy;
    return 0;
}

static int load_file(api_keys *k, const char *file, qvl_error *err) {
    FILE *f = fopen(file, "r");
    if (!f) return qvl_fail_code(err, QVL_E_BAD_INPUT, "--api-key-file %s: %s", file, strerror(errno));
    char line[KEY_MAX + 2], where[300];
    int lineno = 0, rc = 0, before = k->n;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        lineno++;
        snprintf(where, sizeof where, "--api-key-file %s line %d", file, lineno);
        size_t len = strlen(line);
        if (len == sizeof line - 1 && line[len - 1] != '\n') {
            rc = qvl_fail_code(err, QVL_E_BAD_INPUT, "%s: longer than %d characters", where, KEY_MAX);
            break;
        }
        char *s = line;
        while (*s == ' ' || *s == '\t') s++;
        while (len > 0 && strchr(" \t\r\n", line[len - 1])) line[--len] = 0;
        if (!*s || *s == '#') continue;
        rc = add_key(k, s, strlen(s), where, err);
    }
    if (rc == 0 && ferror(f)) rc = qvl_fail_code(err, QVL_E_BAD_INPUT, "--api-key-file %s: cannot read", file);
    fclose(f);
    if (rc == 0 && k->n == before)
        rc = qvl_fail_code(err, QVL_E_BAD_INPUT, "--api-key-file %s holds no key (one per line)", file);
    return rc;
}

api_keys *api_keys_load(const char *key, const char *file, qvl_error *err) {
    api_keys *k = calloc(1, sizeof *k);
    if (!k) {
        qvl_fail_code(err, QVL_E_NOMEM, "out of memory");
        return NULL;
    }
    if ((key && *key && add_key(k, key, strlen(key), "--api-key", err) != 0) ||
        (file && load_file(k, file, err) != 0)) {
        api_keys_free(k);
        return NULL;
    }
    return k;
}

bool api_keys_required(const api_keys *k) { return k && k->n > 0; }

/* Every byte of want is compared with given, cycled (given's length is no
 * secret); the lengths are part of the difference. */
static unsigned differs(const char *want, const char *given, size_t gl) {
    size_t wl = strlen(want);
    unsigned diff = (unsigned)(wl ^ gl);
    for (size_t i = 0; i < wl; i++) diff |= (unsigned char)want[i] ^ (unsigned char)(gl ? given[i % gl] : 0);
    return diff;
}

bool api_keys_check(const api_keys *k, const char *given) {
    if (!api_keys_required(k)) return true;
    if (!given) return false;
    size_t gl = strlen(given);
    unsigned match = 0;
    for (int i = 0; i < k->n; i++) match |= differs(k->keys[i], given, gl) == 0;
    return match != 0;
}
