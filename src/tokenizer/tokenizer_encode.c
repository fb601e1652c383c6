/* tokenizer_encode.c - text -> ids for the byte-level BPE tokenizer:
 * added-token scan, NFC + pre-tokenizer split, per-call word cache, heap
 * BPE. See tokenizer.h for the contract and tokenizer_impl.h for the layout.
 */
#include "tokenizer/tokenizer_impl.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tokenizer/pretokenize.h"

/* ============================================================== encoding */

/* Words up to this many bytes are remembered for the rest of the call:
 * natural text repeats its words a lot, and BPE is the expensive step. */
#define CACHE_MAX_WORD 48
#define CACHE_MAX_SLOTS (1u << 16)

typedef struct cache_slot {
    uint32_t hash;
    uint32_t key_off;    /* into enc.keys */
    uint32_t ids_off;    /* into enc.cids */
    uint8_t key_len;     /* 0 = empty slot */
    uint8_t n_ids;
} cache_slot;

/* A BPE merge candidate: the pair starting at symbol `pos`. */
typedef struct bpe_cand {
    int32_t rank, pos;
    int32_t left, right, merged;   /* ids, to detect stale entries */
} bpe_cand;

/* Per-call state of one encode: output, BPE scratch, word cache. */
typedef struct enc {
    const tokenizer *tk;
    int32_t *ids;
    size_t n, cap;
    int32_t *sym, *prev, *next;    /* [sym_cap] linked symbols of a word */
    size_t sym_cap, next_cap, prev_cap;
    bpe_cand *heap;
    size_t heap_n, heap_cap;
    cache_slot *cache;
    uint32_t cache_mask, cache_used;
    char *keys;
    size_t keys_n, keys_cap;
    int32_t *cids;
    size_t cids_n, cids_cap;
} enc;

static void enc_free(enc *e) {
    free(e->sym);
    free(e->prev);
    free(e->next);
    free(e->heap);
    free(e->cache);
    free(e->keys);
    free(e->cids);
}

static int push_ids(enc *e, const int32_t *ids, size_t n) {
    if (tk_grow((void **)&e->ids, &e->cap, e->n + n, sizeof *e->ids)) return -1;
    memcpy(e->ids + e->n, ids, n * sizeof *ids);
    e->n += n;
    return 0;
}

static const tk_merge *find_merge(const tokenizer *tk, int32_t a, int32_t b) {
    uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
    for (uint32_t h = hash_pair(key) & tk->merge_mask;; h = (h + 1) & tk->merge_mask) {
        const tk_merge *m = &tk->merge_tab[h];
        if (m->key == key) return m;
        if (m->key == MERGE_EMPTY) return NULL;
    }
}

static bool cand_less(const bpe_cand *a, const bpe_cand *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

/* Pushes the pair (pos, next[pos]) if a merge rule exists for it. The heap
 * was sized for the worst case (3 entries per symbol) by bpe_word. */
static void heap_push_pair(enc *e, int32_t pos) {
    int32_t r = e->next[pos];
    if (r < 0) return;
    const tk_merge *m = find_merge(e->tk, e->sym[pos], e->sym[r]);
    if (!m) return;
    bpe_cand c = { m->rank, pos, e->sym[pos], e->sym[r], m->merged };
    size_t i = e->heap_n++;
    while (i > 0 && cand_less(&c, &e->heap[(i - 1) / 2])) {
        e->heap[i] = e->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    e->heap[i] = c;
}

static bpe_cand heap_pop(enc *e) {
    bpe_cand top = e->heap[0], last = e->heap[--e->heap_n];
    size_t i = 0, n = e->heap_n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && cand_less(&e->heap[c + 1], &e->heap[c])) c++;
        if (!cand_less(&e->heap[c], &last)) break;
        e->heap[i] = e->heap[c];
        i = c;
    }
    if (n) e->heap[i] = last;
    return top;
}

/* BPE of one word: start from one symbol per byte, repeatedly apply the
 * lowest-rank (then leftmost) merge present. A heap of candidates with lazy
 * invalidation keeps this O(n log n) even for a 100 KB word. */
static int bpe_word(enc *e, const uint8_t *w, size_t n) {
    if (tk_grow((void **)&e->sym, &e->sym_cap, n, sizeof *e->sym) ||
        tk_grow((void **)&e->prev, &e->prev_cap, n, sizeof *e->prev) ||
        tk_grow((void **)&e->next, &e->next_cap, n, sizeof *e->next) ||
        tk_grow((void **)&e->heap, &e->heap_cap, 3 * n, sizeof *e->heap))
        return -1;
    for (size_t i = 0; i < n; i++) {
        e->sym[i] = e->tk->byte_id[w[i]];
        e->prev[i] = (int32_t)i - 1;
        e->next[i] = i + 1 < n ? (int32_t)i + 1 : -1;
    }
    e->heap_n = 0;
    for (size_t i = 0; i + 1 < n; i++) heap_push_pair(e, (int32_t)i);
    while (e->heap_n) {
        bpe_cand c = heap_pop(e);
        int32_t l = c.pos, r = e->next[l];
        /* Stale when either side has merged since: ids only ever grow into
         * longer pieces, so equal ids mean the same two symbols. */
        if (e->sym[l] != c.left || r < 0 || e->sym[r] != c.right) continue;
        e->sym[l] = c.merged;
        e->sym[r] = -1;
        e->next[l] = e->next[r];
        if (e->next[l] >= 0) e->prev[e->next[l]] = l;
        if (e->prev[l] >= 0) heap_push_pair(e, e->prev[l]);
        heap_push_pair(e, l);
    }
    size_t k = 0;
    for (int32_t i = 0; i >= 0; i = e->next[i]) e->sym[k++] = e->sym[i];
    return push_ids(e, e->sym, k);
}

static cache_slot *cache_find(enc *e, const uint8_t *w, size_t n, uint32_t h) {
    for (uint32_t i = h & e->cache_mask;; i = (i + 1) & e->cache_mask) {
        cache_slot *s = &e->cache[i];
        if (s->key_len == 0) return s;
        if (s->hash == h && s->key_len == n && memcmp(e->keys + s->key_off, w, n) == 0) return s;
    }
}

/* Doubles the cache table (or creates it). Returns -1 on OOM. */
static int cache_rehash(enc *e) {
    uint32_t size = e->cache ? (e->cache_mask + 1) * 2 : 1024;
    cache_slot *old = e->cache;
    uint32_t old_size = old ? e->cache_mask + 1 : 0;
    e->cache = calloc(size, sizeof *e->cache);
    if (!e->cache) {
        e->cache = old;
        return -1;
    }
    e->cache_mask = size - 1;
    for (uint32_t i = 0; i < old_size; i++) {
        if (old[i].key_len == 0) continue;
        uint32_t j = old[i].hash & e->cache_mask;
        while (e->cache[j].key_len) j = (j + 1) & e->cache_mask;
        e->cache[j] = old[i];
    }
    free(old);
    return 0;
}

static int encode_word(enc *e, const uint8_t *w, size_t n) {
    if (n == 1) return push_ids(e, &e->tk->byte_id[w[0]], 1);
    bool cacheable = n <= CACHE_MAX_WORD;
    uint32_t h = 0;
    cache_slot *slot = NULL;
    if (cacheable) {
        if (2 * (e->cache_used + 1) > (e->cache ? e->cache_mask + 1 : 0) &&
            (e->cache_used + 1) * 2 <= CACHE_MAX_SLOTS && cache_rehash(e))
            return -1;
        h = hash_bytes(w, n);
        slot = cache_find(e, w, n, h);
        if (slot->key_len) return push_ids(e, e->cids + slot->ids_off, slot->n_ids);
        /* A full table (CACHE_MAX_SLOTS at half load) stops remembering. */
        if (2 * (e->cache_used + 1) > e->cache_mask + 1) cacheable = false;
    }
    size_t start = e->n;
    if (bpe_word(e, w, n)) return -1;
    if (!cacheable) return 0;
    size_t k = e->n - start;
    if (tk_grow((void **)&e->keys, &e->keys_cap, e->keys_n + n, 1) ||
        tk_grow((void **)&e->cids, &e->cids_cap, e->cids_n + k, sizeof *e->cids))
        return -1;
    memcpy(e->keys + e->keys_n, w, n);
    memcpy(e->cids + e->cids_n, e->ids + start, k * sizeof *e->cids);
    *slot = (cache_slot){ h, (uint32_t)e->keys_n, (uint32_t)e->cids_n, (uint8_t)n, (uint8_t)k };
    e->keys_n += n;
    e->cids_n += k;
    e->cache_used++;
    return 0;
}

/* Ordinary text between added tokens: NFC, split, BPE each word. */
static int encode_segment(enc *e, const char *s, size_t n, qvl_error *err) {
    char *norm;
    size_t norm_len;
    if (pretok_nfc(s, n, &norm, &norm_len, err)) return -1;
    const uint8_t *t = (const uint8_t *)(norm ? norm : s);
    size_t tn = norm ? norm_len : n;
    int rc = 0;
    for (size_t p = 0, q; p < tn && rc == 0; p = q) {
        q = pretok_next(t, tn, p);
        rc = encode_word(e, t + p, q - p);
    }
    free(norm);
    if (rc) qvl_fail_code(err, QVL_E_NOMEM, "out of memory tokenizing %zu bytes", n);
    return rc;
}

/* The added token starting at s[0..n), longest first, or -1. */
static int32_t match_added(const tokenizer *tk, const char *s, size_t n) {
    for (int i = 0; i < tk->n_added; i++) {
        const tk_token *t = &tk->tok[tk->added[i]];
        if (t->len <= n && memcmp(tk->arena + t->off, s, t->len) == 0) return tk->added[i];
    }
    return -1;
}

int tokenizer_encode(const tokenizer *tk, const char *text, size_t len, int flags,
                     int32_t **ids_out, size_t *n_out, qvl_error *err) {
    if (len > TK_MAX_TEXT)
        return qvl_fail_code(err, QVL_E_TOO_LARGE, "text of %zu bytes is over the 1 GiB limit", len);
    enc e = { .tk = tk };
    bool special = !(flags & TOKENIZER_ENCODE_NO_SPECIAL) && tk->n_added > 0;
    size_t seg = 0;
    for (size_t i = 0; special && i < len; i++) {
        if (!tk->added_first[(uint8_t)text[i]]) continue;
        int32_t id = match_added(tk, text + i, len - i);
        if (id < 0) continue;
        if (encode_segment(&e, text + seg, i - seg, err)) goto fail;
        if (push_ids(&e, &id, 1)) goto oom;
        i += tk->tok[id].len - 1;
        seg = i + 1;
    }
    if (encode_segment(&e, text + seg, len - seg, err)) goto fail;
    *ids_out = e.ids;
    *n_out = e.n;
    e.ids = NULL;
    enc_free(&e);
    return 0;
oom:
    qvl_fail_code(err, QVL_E_NOMEM, "out of memory tokenizing %zu bytes", len);
fail:
    free(e.ids);
    enc_free(&e);
    return -1;
}

double tokenizer_bench_mb_s(const tokenizer *tk, const char *text, size_t len, int reps) {
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int r = 0; r < reps; r++) {
        int32_t *ids;
        size_t n;
        if (tokenizer_encode(tk, text, len, 0, &ids, &n, NULL)) return -1;
        free(ids);
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    double s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) * 1e-9;
    return s > 0 ? (double)len * reps / s / 1e6 : -1;
}
