/* tokenizer_impl.h - the tokenizer's private layout, shared by
 * tokenizer.c (building, loading, decoding, lookups) and tokenizer_encode.c
 * (encoding). Not for use outside these two files.
 */
#ifndef QVL_TOKENIZER_IMPL_H
#define QVL_TOKENIZER_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "tokenizer/tokenizer.h"

#define TK_MAX_IDS   (1 << 24)          /* refuse absurd vocabularies */
#define TK_MAX_TEXT  ((size_t)1 << 30)  /* refuse absurd inputs */

/* What a token id is. */
enum {
    K_NONE,      /* hole: no token has this id */
    K_NORMAL,    /* BPE vocabulary entry, produced by merges */
    K_SPECIAL,   /* added token, skipped by TOKENIZER_DECODE_SKIP_SPECIAL */
    K_ADDED,     /* added token, not special */
    K_INERT,     /* GGUF unused/unknown/byte row: never produced, decodes to "" */
};

typedef struct tk_token {
    uint32_t off, len;   /* decoded bytes: arena[off .. off+len) */
    uint8_t kind;        /* K_* */
} tk_token;

typedef struct tk_vslot {
    uint32_t hash;       /* of the token's bytes, to skip most memcmps */
    int32_t id;          /* -1 when empty */
} tk_vslot;

/* One merge rule: the pair (left id, right id) -> merged id, with its rank. */
typedef struct tk_merge {
    uint64_t key;        /* left << 32 | right; MERGE_EMPTY when unused */
    int32_t rank;
    int32_t merged;
} tk_merge;
#define MERGE_EMPTY UINT64_MAX

struct tokenizer {
    int32_t n_vocab;
    tk_token *tok;            /* [n_vocab] */
    char *arena;              /* decoded bytes of every token */
    size_t arena_len, arena_cap;
    tk_vslot *vocab_tab;      /* open addressing over NORMAL token bytes */
    uint32_t vocab_mask;
    tk_merge *merge_tab;      /* open addressing over id pairs */
    uint32_t merge_mask;
    int32_t byte_id[256];     /* the single-byte token of each byte */
    int32_t *added;           /* [n_added] added-token ids, longest content first */
    int n_added;
    uint8_t added_first[256]; /* 1 when some added token starts with this byte */
};

static inline uint32_t hash_bytes(const void *p, size_t n) {
    const uint8_t *s = p;
    uint32_t h = 2166136261u;                  /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * 16777619u;
    return h;
}

static inline uint32_t hash_pair(uint64_t key) {
    return (uint32_t)((key * 0x9E3779B97F4A7C15ull) >> 32);
}

/* Ensures *cap >= need elements of size elem in *p (doubling). Returns -1 on
 * OOM, leaving *p and *cap as they were. */
int tk_grow(void **p, size_t *cap, size_t need, size_t elem);

#endif
