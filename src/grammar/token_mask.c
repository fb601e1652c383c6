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

/* Token byte strings as a trie in preorder: node i is byte[i] at depth[i]
 * (1 = first byte); its subtree ends before end[i]; the tokens
 * sorted[tok[i] .. tok[i] + ntok[i]) end at it. */
typedef struct token_trie {
    int n_nodes;
    uint8_t *byte;
    uint16_t *depth;
    int32_t *end, *tok;
    uint16_t *ntok;
    int32_t *sorted;           /* token ids by their bytes */
} token_trie;

struct vocab_index {
    const tokenizer *tk;
    int n_vocab, n_words;
    int max_len;               /* longest token in bytes */
    token_trie all;            /* every ordinary token */
    /* string shortcut */
    uint64_t *plain_le;        /* (PLAIN_MAX_CHARS + 1, n_words): plain tokens of <= k characters */
    token_trie in_string;      /* the tokens stepped inside a string (quote, backslash, long) */
};

int vocab_index_size(const vocab_index *vx) { return vx->n_vocab; }

static void trie_free(token_trie *t) {
    free(t->byte), free(t->depth), free(t->end), free(t->tok), free(t->ntok), free(t->sorted);
}

void vocab_index_free(vocab_index *vx) {
    if (!vx) return;
    trie_free(&vx->all);
    trie_free(&vx->in_string);
    free(vx->plain_le);
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

enum { NEVER_IN_STRING = -1, STEP_IN_STRING = -2 };

/* How a token fares at a character boundary inside a JSON string: its
 * character count when it is only ordinary characters (the last one may be
 * cut: the next token completes it, and the string counts a character at
 * its first byte), NEVER_IN_STRING when the string refuses it whatever the
 * grammar (a control byte, a stray continuation byte, invalid UTF-8 before
 * any quote or backslash), STEP_IN_STRING when it holds a quote or a
 * backslash and must be stepped (it may close the string and go on). */
static int string_class(const uint8_t *b, size_t len) {
    int chars = 0;
    for (size_t i = 0; i < len; chars++) {
        uint8_t c = b[i];
        size_t need;
        uint8_t lo = 0x80, hi = 0xBF;
        if (c < 0x80) {
            if (c == '"' || c == '\\') return STEP_IN_STRING;
            if (c < 0x20) return NEVER_IN_STRING;
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) need = 1;
        else if (c >= 0xE0 && c <= 0xEF) need = 2, lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
        else if (c >= 0xF0 && c <= 0xF4) need = 3, lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
        else return NEVER_IN_STRING;
        for (size_t k = 1; k <= need; k++) {
            if (i + k == len) return chars + 1;   /* cut at the end */
            uint8_t cc = b[i + k];
            if (cc < (k == 1 ? lo : 0x80) || cc > (k == 1 ? hi : 0xBF)) return NEVER_IN_STRING;
        }
        i += 1 + need;
    }
    return chars;
}

/* Sorts the n tokens of t and builds their trie. Returns 0 or -1 (out of memory). */
static int trie_build(token_trie *tr, tok_ref *t, int n, int max_len) {
    qsort(t, (size_t)n, sizeof *t, cmp_tok);
    size_t total = 1;
    for (int k = 0; k < n; k++) total += t[k].len;
    tr->byte = malloc(total);
    tr->depth = malloc(total * sizeof *tr->depth);
    tr->end = malloc(total * sizeof *tr->end);
    tr->tok = malloc(total * sizeof *tr->tok);
    tr->ntok = calloc(total, sizeof *tr->ntok);
    tr->sorted = malloc(((size_t)n + 1) * sizeof *tr->sorted);
    int32_t *path = malloc(((size_t)max_len + 1) * sizeof *path);
    if (!tr->byte || !tr->depth || !tr->end || !tr->tok || !tr->ntok || !tr->sorted || !path) {
        free(path);
        return -1;
    }
    int open = 0;   /* nodes on the path from the root */
    for (int k = 0; k < n; k++) {
        tr->sorted[k] = t[k].id;
        size_t lcp = 0;
        if (k > 0) {
            size_t m = t[k].len < t[k - 1].len ? t[k].len : t[k - 1].len;
            while (lcp < m && t[k].b[lcp] == t[k - 1].b[lcp]) lcp++;
        }
        while ((size_t)open > lcp) tr->end[path[--open]] = tr->n_nodes;
        if (lcp == t[k].len) {   /* the same bytes as the previous token */
            tr->ntok[path[open - 1]]++;
            continue;
        }
        for (size_t d = lcp; d < t[k].len; d++) {
            int i = tr->n_nodes++;
            tr->byte[i] = t[k].b[d];
            tr->depth[i] = (uint16_t)(d + 1);
            tr->tok[i] = -1;
            path[open++] = i;
        }
        tr->tok[path[open - 1]] = k;
        tr->ntok[path[open - 1]] = 1;
    }
    while (open > 0) tr->end[path[--open]] = tr->n_nodes;
    free(path);
    return 0;
}

vocab_index *vocab_index_build(const tokenizer *tk, qvl_error *err) {
    vocab_index *vx = calloc(1, sizeof *vx);
    tok_ref *t = NULL, *in_str = NULL;
    if (!vx) goto nomem;
    vx->tk = tk;
    vx->n_vocab = tokenizer_vocab_size(tk);
    vx->n_words = (vx->n_vocab + 63) / 64;
    t = malloc((size_t)(vx->n_vocab ? vx->n_vocab : 1) * sizeof *t);
    in_str = malloc((size_t)(vx->n_vocab ? vx->n_vocab : 1) * sizeof *in_str);
    vx->plain_le = calloc((size_t)(PLAIN_MAX_CHARS + 1) * vx->n_words, sizeof *vx->plain_le);
    if (!t || !in_str || !vx->plain_le) goto nomem;
    int n = 0, n_in_str = 0;
    for (int32_t id = 0; id < vx->n_vocab; id++) {
        size_t len = 0;
        const char *p = tokenizer_id_to_piece(tk, id, &len);
        if (!p || len == 0 || len > 0xffff || tokenizer_is_special(tk, id)) continue;
        t[n++] = (tok_ref){(const uint8_t *)p, len, id};
        if ((int)len > vx->max_len) vx->max_len = (int)len;
        int chars = string_class((const uint8_t *)p, len);
        if (chars == NEVER_IN_STRING) continue;
        if (chars == STEP_IN_STRING || chars > PLAIN_MAX_CHARS) {
            in_str[n_in_str++] = t[n - 1];
            continue;
        }
        for (int k = chars; k <= PLAIN_MAX_CHARS; k++)
            vx->plain_le[(size_t)k * vx->n_words + id / 64] |= 1ull << (id % 64);
    }
    if (trie_build(&vx->all, t, n, vx->max_len) != 0 || trie_build(&vx->in_string, in_str, n_in_str, vx->max_len) != 0)
        goto nomem;
    free(t), free(in_str);
    return vx;
nomem:
    free(t), free(in_str);
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

/* The trie walk: every token of tr whose bytes the grammar takes from st. */
static void walk_trie(token_matcher *tm, const token_trie *tr, uint64_t *mask) {
    gstate *w = tm->walk;
    gstate_copy(&w[0], &tm->st);
    for (int i = 0; i < tr->n_nodes;) {
        int d = tr->depth[i];
        gstate_copy(&w[d], &w[d - 1]);
        if (!gstate_step(tm->g, &w[d], tr->byte[i])) {
            i = tr->end[i];
            continue;
        }
        for (int k = 0; k < tr->ntok[i]; k++) set_bit(mask, tr->sorted[tr->tok[i] + k]);
        i++;
    }
}

/* Inside a string body: the plain tokens that fit, then a walk of the others. */
static void string_shortcut(token_matcher *tm, int64_t room, uint64_t *mask) {
    const vocab_index *vx = tm->vx;
    int k = room < 0 || room > PLAIN_MAX_CHARS ? PLAIN_MAX_CHARS : (int)room;
    memcpy(mask, vx->plain_le + (size_t)k * vx->n_words, (size_t)vx->n_words * sizeof *mask);
    walk_trie(tm, &vx->in_string, mask);
}

static void compute(token_matcher *tm, uint64_t *mask, int *n_allowed, int32_t *only) {
    const vocab_index *vx = tm->vx;
    int64_t room;
    if (!tm->ended && gstate_in_string_body(tm->g, &tm->st, &room)) {
        string_shortcut(tm, room, mask);
    } else {
        memset(mask, 0, (size_t)vx->n_words * sizeof *mask);
        if (!tm->ended) walk_trie(tm, &vx->all, mask);
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

int token_matcher_forced_bytes(const token_matcher *tm, char *buf, int cap) {
    if (tm->ended) return 0;
    gstate s, next, t;
    gstate_copy(&s, &tm->st);
    int n = 0;
    while (n < cap && !gstate_can_end(tm->g, &s)) {
        int only = -1;
        for (int c = 0; c < 256 && only != -2; c++) {
            gstate_copy(&t, &s);
            if (!gstate_step(tm->g, &t, c)) continue;
            if (only >= 0) only = -2;
            else only = c, gstate_copy(&next, &t);
        }
        if (only < 0) break;
        buf[n++] = (char)only;
        gstate_copy(&s, &next);
    }
    /* a character cut at the end is left to the next token */
    int start = n;
    while (start > 0 && ((uint8_t)buf[start - 1] & 0xC0) == 0x80) start--;
    if (start > 0 && (uint8_t)buf[start - 1] >= 0xC0) {
        uint8_t lead = (uint8_t)buf[start - 1];
        int need = lead >= 0xF0 ? 3 : lead >= 0xE0 ? 2 : 1;
        if (n - start < need) n = start - 1;
    }
    return n;
}

bool token_matcher_can_end(const token_matcher *tm) { return tm->ended || gstate_can_end(tm->g, &tm->st); }

bool token_matcher_finished(const token_matcher *tm) { return tm->ended || gstate_finished(&tm->st); }

void token_matcher_stats(const token_matcher *tm, long *computed, long *cached, double *ms) {
    *computed = tm->computed;
    *cached = tm->hits;
    *ms = tm->ms;
}
