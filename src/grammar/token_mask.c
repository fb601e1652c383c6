/* token_mask.c - see token_mask.h.
 *
 * Divisions: the vocabulary index (sorting the tokens, the preorder trie,
 * the string shortcut's bitsets), then the matcher (mask computation, the
 * cache, advancing). */
#include "grammar/token_mask.h"

#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "grammar/grammar_state.h"

/* Plain tokens of up to this many characters are in the string shortcut's
 * bitsets; longer ones are stepped one by one like the other tokens. */
#define PLAIN_MAX_CHARS 32
/* Masks kept per matcher (each vocab/8 bytes: 19 KB for Qwen). */
#define CACHE_SLOTS 256
#define CACHE_FILL 192

struct vocab_index {
    const tokenizer *tk;
    int n_vocab, n_words;
    int max_len;               /* longest token in bytes */
    /* The trie in preorder: node i is byte[i] at depth[i] (1 = first byte);
     * its subtree ends before end[i]; tokens sorted[tok[i] .. tok[i] + ntok[i])
     * end at it. */
    int n_nodes;
    uint8_t *byte;
    uint16_t *depth;
    int32_t *end, *tok;
    uint16_t *ntok;
    int32_t *sorted;           /* token ids by their bytes */
    /* string shortcut */
    uint64_t *plain_le;        /* (PLAIN_MAX_CHARS + 1, n_words): plain tokens of <= k characters */
    int32_t *other;            /* ids stepped one by one inside a string */
    int n_other;
};

int vocab_index_size(const vocab_index *vx) { return vx->n_vocab; }

void vocab_index_free(vocab_index *vx) {
    if (!vx) return;
    free(vx->byte), free(vx->depth), free(vx->end), free(vx->tok), free(vx->ntok);
    free(vx->sorted), free(vx->plain_le), free(vx->other);
    free(vx);
}

typedef struct tok_ref {
    const uint8_t *b;
    size_t len;
    int32_t id;
} tok_ref;

static int cmp_tok(const void *x, const void *y) {
    const tok_ref *a = x, *b = y;
    int c = memcmp(a->b, b->b, a->len < b->len ? a->len : b->len);
    if (c) return c;
    if (a->len != b->len) return a->len < b->len ? -1 : 1;
    return a->id - b->id;
}

/* Characters in a token made only of string-safe characters (complete
 * UTF-8, no quote, backslash or control byte), or -1. */
static int plain_chars(const uint8_t *b, size_t len) {
    int chars = 0;
    for (size_t i = 0; i < len; chars++) {
        uint8_t c = b[i];
        size_t need;
        uint8_t lo = 0x80, hi = 0xBF;
        if (c < 0x80) {
            if (c < 0x20 || c == '"' || c == '\\') return -1;
            need = 0;
        } else if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            if (c == 0xE0) lo = 0xA0;
            if (c == 0xED) hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            if (c == 0xF0) lo = 0x90;
            if (c == 0xF4) hi = 0x8F;
        } else {
            return -1;
        }
        if (i + 1 + need > len) return -1;   /* cut at the end */
        for (size_t k = 1; k <= need; k++) {
            uint8_t cc = b[i + k];
            if (cc < (k == 1 ? lo : 0x80) || cc > (k == 1 ? hi : 0xBF)) return -1;
        }
        i += 1 + need;
    }
    return chars;
}

/* Builds the preorder trie over the sorted tokens. Returns 0 or -1 (out of memory). */
static int build_trie(vocab_index *vx, const tok_ref *t, int n) {
    size_t total = 0;
    for (int k = 0; k < n; k++) total += t[k].len;
    vx->byte = malloc(total ? total : 1);
    vx->depth = malloc((total ? total : 1) * sizeof *vx->depth);
    vx->end = malloc((total ? total : 1) * sizeof *vx->end);
    vx->tok = malloc((total ? total : 1) * sizeof *vx->tok);
    vx->ntok = calloc(total ? total : 1, sizeof *vx->ntok);
    int32_t *path = malloc(((size_t)vx->max_len + 1) * sizeof *path);
    if (!vx->byte || !vx->depth || !vx->end || !vx->tok || !vx->ntok || !path) {
        free(path);
        return -1;
    }
    int open = 0;   /* nodes on the path from the root */
    for (int k = 0; k < n; k++) {
        size_t lcp = 0;
        if (k > 0) {
            size_t m = t[k].len < t[k - 1].len ? t[k].len : t[k - 1].len;
            while (lcp < m && t[k].b[lcp] == t[k - 1].b[lcp]) lcp++;
        }
        while ((size_t)open > lcp) vx->end[path[--open]] = vx->n_nodes;
        if (lcp == t[k].len) {   /* the same bytes as the previous token */
            vx->ntok[path[open - 1]]++;
            continue;
        }
        for (size_t d = lcp; d < t[k].len; d++) {
            int i = vx->n_nodes++;
            vx->byte[i] = t[k].b[d];
            vx->depth[i] = (uint16_t)(d + 1);
            vx->tok[i] = -1;
            path[open++] = i;
        }
        vx->tok[path[open - 1]] = k;
        vx->ntok[path[open - 1]] = 1;
    }
    while (open > 0) vx->end[path[--open]] = vx->n_nodes;
    free(path);
    return 0;
}

vocab_index *vocab_index_build(const tokenizer *tk, qvl_error *err) {
    vocab_index *vx = calloc(1, sizeof *vx);
    tok_ref *t = NULL;
    if (!vx) goto nomem;
    vx->tk = tk;
    vx->n_vocab = tokenizer_vocab_size(tk);
    vx->n_words = (vx->n_vocab + 63) / 64;
    t = malloc((size_t)(vx->n_vocab ? vx->n_vocab : 1) * sizeof *t);
    vx->sorted = malloc((size_t)(vx->n_vocab ? vx->n_vocab : 1) * sizeof *vx->sorted);
    vx->other = malloc((size_t)(vx->n_vocab ? vx->n_vocab : 1) * sizeof *vx->other);
    vx->plain_le = calloc((size_t)(PLAIN_MAX_CHARS + 1) * vx->n_words, sizeof *vx->plain_le);
    if (!t || !vx->sorted || !vx->other || !vx->plain_le) goto nomem;
    int n = 0;
    for (int32_t id = 0; id < vx->n_vocab; id++) {
        size_t len = 0;
        const char *p = tokenizer_id_to_piece(tk, id, &len);
        if (!p || len == 0 || len > 0xffff || tokenizer_is_special(tk, id)) continue;
        t[n++] = (tok_ref){(const uint8_t *)p, len, id};
        if ((int)len > vx->max_len) vx->max_len = (int)len;
        int chars = plain_chars((const uint8_t *)p, len);
        if (chars < 0 || chars > PLAIN_MAX_CHARS) {
            vx->other[vx->n_other++] = id;
            continue;
        }
        for (int k = chars; k <= PLAIN_MAX_CHARS; k++)
            vx->plain_le[(size_t)k * vx->n_words + id / 64] |= 1ull << (id % 64);
    }
    qsort(t, (size_t)n, sizeof *t, cmp_tok);
    for (int k = 0; k < n; k++) vx->sorted[k] = t[k].id;
    if (build_trie(vx, t, n) != 0) goto nomem;
    free(t);
    return vx;
nomem:
    free(t);
    vocab_index_free(vx);
    qvl_fail_code(err, QVL_E_NOMEM, "out of memory indexing the vocabulary");
    return NULL;
}

/* ---- the matcher ------------------------------------------------------------------ */

typedef struct cache_entry {
    uint64_t hash;
    gstate *key;               /* NULL: free slot */
    uint64_t *mask;
    int n_allowed;
    int32_t only;
} cache_entry;

struct token_matcher {
    const grammar *g;
    const vocab_index *vx;
    gstate st;
    int32_t stop[8];
    int n_stop;
    bool ended;                /* a stop id was accepted */
    gstate *walk;              /* (max_len + 1) states of the trie walk */
    uint64_t *mask;            /* (n_words) the mask when not cached */
    cache_entry cache[CACHE_SLOTS];
    int n_cached;
    long computed, hits;
    double ms;
};

token_matcher *token_matcher_new(const grammar *g, const vocab_index *vx, const int32_t *stop_ids, int n_stop,
                                 qvl_error *err) {
    token_matcher *tm = calloc(1, sizeof *tm);
    if (!tm) goto nomem;
    tm->g = g;
    tm->vx = vx;
    for (int i = 0; i < n_stop && tm->n_stop < 8; i++) tm->stop[tm->n_stop++] = stop_ids[i];
    tm->walk = malloc(((size_t)vx->max_len + 1) * sizeof *tm->walk);
    tm->mask = malloc((size_t)vx->n_words * sizeof *tm->mask);
    if (!tm->walk || !tm->mask) goto nomem;
    gstate_init(g, &tm->st);
    return tm;
nomem:
    token_matcher_free(tm);
    qvl_fail_code(err, QVL_E_NOMEM, "out of memory for the grammar matcher");
    return NULL;
}

void token_matcher_free(token_matcher *tm) {
    if (!tm) return;
    for (int i = 0; i < CACHE_SLOTS; i++) free(tm->cache[i].key), free(tm->cache[i].mask);
    free(tm->walk), free(tm->mask);
    free(tm);
}

static inline void set_bit(uint64_t *m, int32_t id) { m[id / 64] |= 1ull << (id % 64); }

/* The trie walk: every token whose bytes the grammar takes from st. */
static void walk_trie(token_matcher *tm, uint64_t *mask) {
    const vocab_index *vx = tm->vx;
    gstate *w = tm->walk;
    gstate_copy(&w[0], &tm->st);
    for (int i = 0; i < vx->n_nodes;) {
        int d = vx->depth[i];
        gstate_copy(&w[d], &w[d - 1]);
        if (!gstate_step(tm->g, &w[d], vx->byte[i])) {
            i = vx->end[i];
            continue;
        }
        for (int k = 0; k < vx->ntok[i]; k++) set_bit(mask, vx->sorted[vx->tok[i] + k]);
        i++;
    }
}

/* Inside a string body: the plain tokens that fit, then the others one by one. */
static void string_shortcut(token_matcher *tm, int64_t room, uint64_t *mask) {
    const vocab_index *vx = tm->vx;
    int k = room < 0 || room > PLAIN_MAX_CHARS ? PLAIN_MAX_CHARS : (int)room;
    memcpy(mask, vx->plain_le + (size_t)k * vx->n_words, (size_t)vx->n_words * sizeof *mask);
    gstate *w = &tm->walk[0];
    for (int i = 0; i < vx->n_other; i++) {
        int32_t id = vx->other[i];
        size_t len;
        const char *p = tokenizer_id_to_piece(vx->tk, id, &len);
        gstate_copy(w, &tm->st);
        if (gstate_step_bytes(tm->g, w, p, len)) set_bit(mask, id);
    }
}

static void compute(token_matcher *tm, uint64_t *mask, int *n_allowed, int32_t *only) {
    const vocab_index *vx = tm->vx;
    int64_t room;
    if (!tm->ended && gstate_in_string_body(tm->g, &tm->st, &room)) {
        string_shortcut(tm, room, mask);
    } else {
        memset(mask, 0, (size_t)vx->n_words * sizeof *mask);
        if (!tm->ended) walk_trie(tm, mask);
    }
    if (!tm->ended && gstate_can_end(tm->g, &tm->st))
        for (int i = 0; i < tm->n_stop; i++)
            if (tm->stop[i] >= 0 && tm->stop[i] < vx->n_vocab) set_bit(mask, tm->stop[i]);
    int n = 0;
    *only = -1;
    for (int w = 0; w < vx->n_words; w++) {
        if (!mask[w]) continue;
        if (n == 0) *only = w * 64 + __builtin_ctzll(mask[w]);
        n += __builtin_popcountll(mask[w]);
    }
    *n_allowed = n;
    if (n != 1) *only = -1;
}

const uint64_t *token_matcher_mask(token_matcher *tm, int *n_allowed, int32_t *only) {
    double t0 = clock_ms();
    uint64_t h = gstate_hash(&tm->st) ^ (uint64_t)tm->ended;
    size_t slot = h % CACHE_SLOTS;
    for (int probe = 0; probe < CACHE_SLOTS && tm->cache[slot].key; probe++, slot = (slot + 1) % CACHE_SLOTS) {
        cache_entry *e = &tm->cache[slot];
        if (e->hash == h && gstate_equal(e->key, &tm->st)) {
            *n_allowed = e->n_allowed;
            *only = e->only;
            tm->hits++;
            tm->ms += clock_ms() - t0;
            return e->mask;
        }
    }
    const uint64_t *out = tm->mask;
    cache_entry *e = &tm->cache[slot];
    if (!tm->ended && tm->n_cached < CACHE_FILL && !e->key) {
        e->key = malloc(sizeof *e->key);
        e->mask = malloc((size_t)tm->vx->n_words * sizeof *e->mask);
        if (e->key && e->mask) {
            compute(tm, e->mask, &e->n_allowed, &e->only);
            gstate_copy(e->key, &tm->st);
            e->hash = h;
            tm->n_cached++;
            out = e->mask;
            *n_allowed = e->n_allowed;
            *only = e->only;
        } else {   /* no memory for the cache: compute without it */
            free(e->key), free(e->mask);
            e->key = NULL, e->mask = NULL;
        }
    }
    if (out == tm->mask) compute(tm, tm->mask, n_allowed, only);
    tm->computed++;
    tm->ms += clock_ms() - t0;
    return out;
}

int token_matcher_accept(token_matcher *tm, int32_t id) {
    if (tm->ended) return -1;
    for (int i = 0; i < tm->n_stop; i++)
        if (tm->stop[i] == id) {
            if (!gstate_can_end(tm->g, &tm->st)) return -1;
            tm->ended = true;
            return 0;
        }
    size_t len;
    const char *p = tokenizer_id_to_piece(tm->vx->tk, id, &len);
    if (!p || len == 0 || tokenizer_is_special(tm->vx->tk, id)) return -1;
    gstate t;
    gstate_copy(&t, &tm->st);
    if (!gstate_step_bytes(tm->g, &t, p, len)) return -1;
    gstate_copy(&tm->st, &t);
    return 0;
}

bool token_matcher_can_end(const token_matcher *tm) { return tm->ended || gstate_can_end(tm->g, &tm->st); }

bool token_matcher_finished(const token_matcher *tm) { return tm->ended || gstate_finished(&tm->st); }

void token_matcher_stats(const token_matcher *tm, long *computed, long *cached, double *ms) {
    *computed = tm->computed;
    *cached = tm->hits;
    *ms = tm->ms;
}
