/* conversations.h - the simple API's conversations: the messages of a chat
 * about one image, kept for a while so follow-up questions need not resend
 * the image.
 *
 * Bounded: at most max_entries conversations (the least recently used is
 * dropped first) and each expires ttl_s seconds after its last use.
 * Thread-safe (one mutex). Stored messages are owned by the store; callers
 * get deep copies.
 */
#ifndef QVL_CONVERSATIONS_H
#define QVL_CONVERSATIONS_H

#include <jansson.h>

typedef struct conv_store conv_store;

/* Returns NULL when out of memory. */
conv_store *conv_store_new(int max_entries, double ttl_s);
void conv_store_free(conv_store *cs);

/* A deep copy of the messages stored under id, or NULL when the id is
 * unknown or expired. Refreshes the conversation's expiry. */
json_t *conv_get(conv_store *cs, const char *id);

/* Stores messages (reference stolen) under id, replacing what was there.
 * Cannot fail (out of memory drops the conversation). */
void conv_put(conv_store *cs, const char *id, json_t *messages);

/* Writes a fresh random id (32 hex digits) into out. Cannot fail. */
void conv_new_id(char out[33]);

#endif
