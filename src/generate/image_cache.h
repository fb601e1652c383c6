/* image_cache.h - remembers encoded images, so a follow-up question, a
 * second question about the same product photo or the same image in another
 * request starts decoding at once instead of re-running the vision encoder.
 *
 * The key is the SHA-256 of the decoded pixels together with the size and
 * the preprocessing limits (the same picture at another detail level is a
 * different entry). Entries are copied in and out, so callers never share
 * buffers with the cache; the least recently used entries are dropped to
 * stay under max_bytes. Thread-safe (one mutex; copies are done under it and
 * take about a millisecond per megabyte).
 */
#ifndef QVL_IMAGE_CACHE_H
#define QVL_IMAGE_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "image/image.h"
#include "model/vision_model.h"

typedef struct image_cache image_cache;

/* max_bytes of embeddings to keep (0 = a cache that stores nothing). NULL
 * only when out of memory. */
image_cache *image_cache_new(size_t max_bytes);
void image_cache_free(image_cache *c);

/* The key of an image at the given preprocessing limits. */
void image_cache_key(const image_rgb *img, long min_pixels, long max_pixels, uint8_t key[32]);

/* Copies the entry for key into *out (free with vision_image_free). Returns
 * false when absent (or out of memory), leaving *out zeroed. */
bool image_cache_get(image_cache *c, const uint8_t key[32], vision_image *out);

/* Stores a copy of v under key (replacing an older entry). Silently does
 * nothing when v alone is larger than the cache or memory runs out. */
void image_cache_put(image_cache *c, const uint8_t key[32], const vision_image *v, int width);

typedef struct image_cache_stats {
    uint64_t hits, misses;
    size_t bytes, entries;
} image_cache_stats;

image_cache_stats image_cache_get_stats(image_cache *c);

#endif
