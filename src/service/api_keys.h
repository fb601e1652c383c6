/* api_keys.h - the keys a client may present (--api-key, --api-key-file),
 * and the check of a presented key against them.
 *
 * Promises: the check takes the same time whether a key matches early,
 * late, partly or not at all (every byte of every key is compared, no early
 * exit), so response timing does not reveal a key's prefix; a file's keys
 * are read once at start (one per line; blank lines and '#' comments
 * ignored; surrounding spaces trimmed), so rotating keys is a restart.
 */
#ifndef QVL_API_KEYS_H
#define QVL_API_KEYS_H

#include <stdbool.h>

#include "base/error.h"

typedef struct api_keys api_keys;

/* The key (NULL or "" for none) and the keys in file (NULL for none).
 * Returns the set, or NULL with err set: the file unreadable, holding no
 * key, or a key with spaces or control characters in it.
 * With neither key nor file, returns an empty set (every request passes). */
api_keys *api_keys_load(const char *key, const char *file, qvl_error *err);
void api_keys_free(api_keys *k);

/* Whether keys are required at all. */
bool api_keys_required(const api_keys *k);

/* Whether given (NULL: none presented) is one of the keys; true when none
 * are required. */
bool api_keys_check(const api_keys *k, const char *given);

#endif
