/* image_cache.c - see image_cache.h. A small array with linear search: a
 * cache of a few hundred MB holds tens of images, not thousands. */
#include "generate/image_cache.h"

#include <nettle/sha2.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct entry {
    uint8_t key[32];
    vision_image v;
    size_t bytes;
    uint64_t last_use;
} entry;

struct image_cache {
    pthread_mutex_t mu;
    size_t max_bytes, bytes;
    entry *e;
    int n, cap;
    uint64_t tick, hits, misses;
};

image_cache *image_cache_new(size_t max_bytes) {
    image_cache *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    pthread_mutex_init(&c->mu, NULL);
    c->max_bytes = max_bytes;
    return c;
}

void image_cache_free(image_cache *c) {
    if (!c) return;
    for (int i = 0; i < c->n; i++) vision_image_free(&c->e[i].v);
    free(c->e);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

void image_cache_key(const image_rgb *img, long min_pixels, long max_pixels, uint8_t key[32]) {
    struct sha256_ctx ctx;
    int64_t head[4] = {img->width, img->height, min_pixels, max_pixels};
    sha256_init(&ctx);
    sha256_update(&ctx, sizeof head, (const uint8_t *)head);
    sha256_update(&ctx, (size_t)img->width * img->height * 3, img->pixels);
    sha256_digest(&ctx, 32, key);
}

static int find(const image_cache *c, const uint8_t key[32]) {
    for (int i = 0; i < c->n; i++)
        if (!memcmp(c->e[i].key, key, 32)) return i;
    return -1;
}

static bool copy_image(vision_image *dst, const vision_image *src, size_t bytes) {
    *dst = *src;
    dst->embd = malloc(bytes);
    if (!dst->embd) {
        memset(dst, 0, sizeof *dst);
        return false;
    }
    memcpy(dst->embd, src->embd, bytes);
    return true;
}

static void drop(image_cache *c, int i) {
    c->bytes -= c->e[i].bytes;
    vision_image_free(&c->e[i].v);
    c->e[i] = c->e[--c->n];
}

bool image_cache_get(image_cache *c, const uint8_t key[32], vision_image *out) {
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&c->mu);
    int i = find(c, key);
    bool ok = i >= 0 && copy_image(out, &c->e[i].v, c->e[i].bytes);
    if (ok) c->e[i].last_use = ++c->tick;
    ok ? c->hits++ : c->misses++;
    pthread_mutex_unlock(&c->mu);
    return ok;
}

void image_cache_put(image_cache *c, const uint8_t key[32], const vision_image *v, int width) {
    size_t bytes = (size_t)v->n_tokens * (size_t)width * sizeof(float);
    if (bytes > c->max_bytes) return;
    pthread_mutex_lock(&c->mu);
    int i = find(c, key);
    if (i >= 0) drop(c, i);
    while (c->bytes + bytes > c->max_bytes && c->n > 0) {
        int oldest = 0;
        for (int k = 1; k < c->n; k++)
            if (c->e[k].last_use < c->e[oldest].last_use) oldest = k;
        drop(c, oldest);
    }
    if (c->n == c->cap) {
        int cap = c->cap ? 2 * c->cap : 16;
        entry *e = realloc(c->e, (size_t)cap * sizeof *e);
        if (!e) goto out;
        c->e = e;
        c->cap = cap;
    }
    entry *e = &c->e[c->n];
    if (!copy_image(&e->v, v, bytes)) goto out;
    memcpy(e->key, key, 32);
    e->bytes = bytes;
    e->last_use = ++c->tick;
    c->bytes += bytes;
    c->n++;
out:
    pthread_mutex_unlock(&c->mu);
}

image_cache_stats image_cache_get_stats(image_cache *c) {
    pthread_mutex_lock(&c->mu);
    image_cache_stats s = {c->hits, c->misses, c->bytes, (size_t)c->n};
    pthread_mutex_unlock(&c->mu);
    return s;
}
