/* conversations.c - see conversations.h. A small array searched linearly:
 * max_entries is tens, not thousands. */
#include "service/conversations.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

typedef struct conv_entry {
    char id[CONV_ID_SIZE];
    json_t *messages;     /* NULL = free entry */
    double last_used;     /* seconds, monotonic */
    size_t bytes;         /* its JSON text */
} conv_entry;

struct conv_store {
    pthread_mutex_t mu;
    conv_entry *e;
    int n;
    double ttl_s;
    size_t max_bytes, bytes;   /* the budget (0 = none) and what the entries hold */
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

conv_store *conv_store_new(int max_entries, double ttl_s, size_t max_bytes) {
    conv_store *cs = calloc(1, sizeof *cs);
    if (!cs) return NULL;
    cs->n = max_entries > 0 ? max_entries : 1;
    cs->e = calloc((size_t)cs->n, sizeof *cs->e);
    if (!cs->e) {
        free(cs);
        return NULL;
    }
    cs->ttl_s = ttl_s;
    cs->max_bytes = max_bytes;
    pthread_mutex_init(&cs->mu, NULL);
    return cs;
}

void conv_store_free(conv_store *cs) {
    if (!cs) return;
    for (int i = 0; i < cs->n; i++) json_decref(cs->e[i].messages);
    free(cs->e);
    pthread_mutex_destroy(&cs->mu);
    free(cs);
}

static void drop_locked(conv_store *cs, int i) {
    json_decref(cs->e[i].messages);
    cs->e[i].messages = NULL;
    cs->bytes -= cs->e[i].bytes;
    cs->e[i].bytes = 0;
}

static void expire_locked(conv_store *cs, double now) {
    for (int i = 0; i < cs->n; i++)
        if (cs->e[i].messages && now - cs->e[i].last_used > cs->ttl_s) drop_locked(cs, i);
}

/* The least recently used entry other than keep, or -1 when none is held. */
static int oldest_locked(const conv_store *cs, int keep) {
    int old = -1;
    for (int i = 0; i < cs->n; i++)
        if (i != keep && cs->e[i].messages && (old < 0 || cs->e[i].last_used < cs->e[old].last_used)) old = i;
    return old;
}

/* Adds the size of s's JSON text to *n (a json_dump_callback). */
static int count_bytes(const char *s, size_t len, void *n) {
    (void)s;
    *(size_t *)n += len;
    return 0;
}

json_t *conv_get(conv_store *cs, const char *id) {
    double now = now_s();
    json_t *copy = NULL;
    pthread_mutex_lock(&cs->mu);
    expire_locked(cs, now);
    for (int i = 0; i < cs->n; i++)
        if (cs->e[i].messages && !strcmp(cs->e[i].id, id)) {
            copy = json_deep_copy(cs->e[i].messages);
            cs->e[i].last_used = now;
            break;
        }
    pthread_mutex_unlock(&cs->mu);
    return copy;
}

void conv_put(conv_store *cs, const char *id, json_t *messages) {
    double now = now_s();
    size_t bytes = 0;
    json_dump_callback(messages, count_bytes, &bytes, JSON_COMPACT);   /* outside the lock: megabytes of base64 */
    pthread_mutex_lock(&cs->mu);
    expire_locked(cs, now);
    int slot = -1;
    for (int i = 0; i < cs->n && slot < 0; i++)
        if (cs->e[i].messages && !strcmp(cs->e[i].id, id)) slot = i;
    for (int i = 0; i < cs->n && slot < 0; i++)
        if (!cs->e[i].messages) slot = i;
    if (slot < 0) slot = oldest_locked(cs, -1);   /* full: drop the least recently used */
    drop_locked(cs, slot);
    if (cs->max_bytes && bytes > cs->max_bytes) {   /* larger than the whole budget: not kept */
        json_decref(messages);
        pthread_mutex_unlock(&cs->mu);
        return;
    }
    for (int old; cs->max_bytes && cs->bytes + bytes > cs->max_bytes && (old = oldest_locked(cs, slot)) >= 0;)
        drop_locked(cs, old);
    snprintf(cs->e[slot].id, sizeof cs->e[slot].id, "%s", id);
    cs->e[slot].messages = messages;
    cs->e[slot].last_used = now;
    cs->e[slot].bytes = bytes;
    cs->bytes += bytes;
    pthread_mutex_unlock(&cs->mu);
}

void conv_store_usage(conv_store *cs, int *count, size_t *bytes) {
    pthread_mutex_lock(&cs->mu);
    expire_locked(cs, now_s());
    *count = 0;
    for (int i = 0; i < cs->n; i++) *count += cs->e[i].messages != NULL;
    *bytes = cs->bytes;
    pthread_mutex_unlock(&cs->mu);
}

void conv_new_id(const char *prefix, char out[CONV_ID_SIZE]) {
    unsigned char r[16];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) {
        /* No entropy source: time and address still make collisions unlikely
         * for a store of tens of entries. */
        unsigned long long t = (unsigned long long)(now_s() * 1e9) ^ (unsigned long long)(size_t)out;
        for (int i = 0; i < 16; i++) r[i] = (unsigned char)(t >> (i % 8 * 8)) ^ (unsigned char)(i * 37);
    }
    int at = prefix ? snprintf(out, CONV_PREFIX_MAX + 2, "%.*s-", CONV_PREFIX_MAX, prefix) : 0;
    for (int i = 0; i < 16; i++) snprintf(out + at + 2 * i, 3, "%02x", r[i]);
}

bool conv_id_valid(const char *id) {
    size_t n = strlen(id);
    if (n == 0 || n >= CONV_ID_SIZE) return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)id[i]) && !strchr("._:-", id[i])) return false;
    return true;
}
