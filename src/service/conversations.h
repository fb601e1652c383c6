/* conversations.h - the simple API's conversations: the messages of a chat
 * about one image, kept for a while so follow-up questions need not resend
 * the image.
 *
 * Bounded: at most max_entries conversations, together at most max_bytes
 * (their images are base64 text: one question may carry 8 images of 10 MB;
 * the least recently used are dropped first, and a conversation larger
 * than the whole budget is not kept), and each expires ttl_s seconds after
 * its last use. A conversation's size is the bytes of its JSON text, close
 * to what it holds in memory. Thread-safe (one mutex). Stored messages are
 * owned by the store; callers get deep copies.
 */
#ifndef QVL_CONVERSATIONS_H
#define QVL_CONVERSATIONS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct conv_store conv_store;

/* Longest conversation id plus its NUL: an instance prefix (up to
 * CONV_PREFIX_MAX characters), '-', 32 hex digits; or an id the client chose. */
enum { CONV_PREFIX_MAX = 48, CONV_ID_SIZE = 96 };

/* Returns NULL when out of memory. max_bytes 0 = no byte limit. */
conv_store *conv_store_new(int max_entries, double ttl_s, size_t max_bytes);
void conv_store_free(conv_store *cs);

/* A deep copy of the messages stored under id, or NULL when the id is
 * unknown or expired. Refreshes the conversation's expiry. */
json_t *conv_get(conv_store *cs, const char *id);

/* Stores messages (reference stolen) under id, replacing what was there.
 * Cannot fail (out of memory drops the conversation). */
void conv_put(conv_store *cs, const char *id, json_t *messages);

/* The conversations held and their bytes, for the metrics. Cannot fail. */
void conv_store_usage(conv_store *cs, int *count, size_t *bytes);

/* Writes a fresh random id into out: 32 hex digits, after "<prefix>-" when
 * prefix is not NULL (at most CONV_PREFIX_MAX characters; longer is cut).
 * A balancer routes follow-ups by that prefix. Cannot fail. */
void conv_new_id(const char *prefix, char out[CONV_ID_SIZE]);

/* True when id is a well-formed conversation id: 1..CONV_ID_SIZE-1
 * characters of A-Z a-z 0-9 . _ : - (what conv_new_id writes, and what a
 * client may choose itself). */
bool conv_id_valid(const char *id);

#endif
