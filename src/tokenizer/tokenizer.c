/* tokenizer.c - byte-level BPE for Qwen2/Qwen3 vocabularies: building,
 * loading, decoding and lookups. Encoding lives in tokenizer_encode.c; the
 * shared layout in tokenizer_impl.h. See tokenizer.h for the contract.
 *
 * Sections:
 *   helpers     table sizing, growable buffers
 *   building    byte-to-unicode inversion, tokens, merges, finalisation
 *   loaders     tokenizer.json (jansson) and GGUF-style arrays
 *   decoding    UTF-8 sanitising, one-shot decode, streaming decode
 *   lookups     token ids, pieces
 */
#include "tokenizer/tokenizer_impl.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/mapped_file.h"
#include "tokenizer/pretokenize.h"

#define TK_MAX_JSON ((size_t)1 << 28)   /* tokenizer.json is ~7 MB */

/* =============================================================== helpers */

/* Smallest power of two >= 2*n (load factor <= 1/2), at least 16. */
static uint32_t table_size(size_t n) {
    uint32_t s = 16;
    while (s < 2 * n) s <<= 1;
    return s;
}

int tk_grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 16;
    while (c < need) c *= 2;
    void *q = realloc(*p, c * elem);
    if (!q) return -1;
    *p = q;
    *cap = c;
    return 0;
}

typedef struct buf {
    char *p;
    size_t n, cap;
} buf;

static int buf_put(buf *b, const void *s, size_t n) {
    if (tk_grow((void **)&b->p, &b->cap, b->n + n + 1, 1)) return -1;
    if (n) memcpy(b->p + b->n, s, n);   /* s may be NULL when n is 0 */
    b->n += n;
    b->p[b->n] = 0;
    return 0;
}

/* ============================================================== building */

/* GPT-2 byte-to-unicode inverse: code point -> byte, for cp < 0x144. The
 * printable bytes 21..7E, A1..AC, AE..FF stand for themselves; the other 68
 * bytes are numbered from U+0100 in byte order. */
typedef struct byte_unmap {
    int16_t byte_of[0x144];
} byte_unmap;

static void byte_unmap_init(byte_unmap *m) {
    for (int c = 0; c < 0x144; c++) m->byte_of[c] = -1;
    int n = 0;
    for (int b = 0; b < 256; b++) {
        bool self = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
        m->byte_of[self ? b : 0x100 + n++] = (int16_t)b;
    }
}

/* Decodes a piece written in the byte-to-unicode alphabet into out (room for
 * n bytes always suffices). Characters outside the alphabet keep their own
 * UTF-8 bytes, as the Hugging Face ByteLevel decoder does. Returns the
 * decoded length. */
static size_t unmap_piece(const byte_unmap *m, const char *s, size_t n, char *out) {
    const uint8_t *u = (const uint8_t *)s;
    size_t i = 0, o = 0;
    while (i < n) {
        uint32_t cp;
        int k = pretok_utf8_step(u + i, n - i, &cp);
        if (k > 0 && cp < 0x144 && m->byte_of[cp] >= 0) {
            out[o++] = (char)m->byte_of[cp];
            i += (size_t)k;
            continue;
        }
        size_t c = k > 0 ? (size_t)k : 1;
        memcpy(out + o, s + i, c);
        o += c;
        i += c;
    }
    return o;
}

static tokenizer *tk_new(int32_t n_vocab, size_t n_merges, qvl_error *err) {
    tokenizer *tk = calloc(1, sizeof *tk);
    if (tk) {
        tk->n_vocab = n_vocab;
        tk->tok = calloc((size_t)n_vocab, sizeof *tk->tok);
        tk->merge_mask = table_size(n_merges) - 1;
        tk->merge_tab = malloc(((size_t)tk->merge_mask + 1) * sizeof *tk->merge_tab);
    }
    if (!tk || !tk->tok || !tk->merge_tab) {
        tokenizer_free(tk);
        qvl_fail_code(err, QVL_E_NOMEM, "out of memory for a %d-token vocabulary", (int)n_vocab);
        return NULL;
    }
    for (uint32_t i = 0; i <= tk->merge_mask; i++) tk->merge_tab[i].key = MERGE_EMPTY;
    return tk;
}

/* Records token id with its decoded bytes. Fails on a bad or repeated id. */
static int tk_set(tokenizer *tk, int64_t id, const char *bytes, size_t len, int kind,
                  qvl_error *err) {
    if (id < 0 || id >= tk->n_vocab)
        return qvl_fail_code(err, QVL_E_BAD_INPUT, "token id %lld out of range", (long long)id);
    if (tk->tok[id].kind != K_NONE)
        return qvl_fail_code(err, QVL_E_BAD_INPUT, "token id %lld is used twice", (long long)id);
    if (len > UINT32_MAX - tk->arena_len)
        return qvl_fail_code(err, QVL_E_TOO_LARGE, "token pieces too large");
    if (tk_grow((void **)&tk->arena, &tk->arena_cap, tk->arena_len + len, 1))
        return qvl_fail_code(err, QVL_E_NOMEM, "out of memory for token pieces");
    memcpy(tk->arena + tk->arena_len, bytes, len);
    tk->tok[id] = (tk_token){ (uint32_t)tk->arena_len, (uint32_t)len, (uint8_t)kind };
    tk->arena_len += len;
    return 0;
}

/* Id of the NORMAL token with these bytes, or -1. */
static int32_t vocab_find(const tokenizer *tk, const char *s, size_t n) {
    uint32_t hash = hash_bytes(s, n);
    for (uint32_t h = hash & tk->vocab_mask;; h = (h + 1) & tk->vocab_mask) {
        const tk_vslot *v = &tk->vocab_tab[h];
        if (v->id < 0) return -1;
        const tk_token *t = &tk->tok[v->id];
        if (v->hash == hash && t->len == n && memcmp(tk->arena + t->off, s, n) == 0) return v->id;
    }
}

static int cmp_added(const void *a, const void *b, void *ctx) {
    const tokenizer *tk = ctx;
    uint32_t la = tk->tok[*(const int32_t *)a].len, lb = tk->tok[*(const int32_t *)b].len;
    return la < lb ? 1 : la > lb ? -1 : 0;
}

/* After all tokens are set: builds the vocabulary table, the byte tokens and
 * the added-token list. Must run before merges are added. */
static int tk_index(tokenizer *tk, qvl_error *err) {
    size_t n_normal = 0;
    for (int32_t i = 0; i < tk->n_vocab; i++) {
        int k = tk->tok[i].kind;
        n_normal += k == K_NORMAL;
        tk->n_added += k == K_SPECIAL || k == K_ADDED;
    }
    tk->vocab_mask = table_size(n_normal) - 1;
    tk->vocab_tab = malloc(((size_t)tk->vocab_mask + 1) * sizeof *tk->vocab_tab);
    tk->added = malloc(((size_t)tk->n_added + 1) * sizeof *tk->added);
    if (!tk->vocab_tab || !tk->added)
        return qvl_fail_code(err, QVL_E_NOMEM, "out of memory indexing the vocabulary");
    for (uint32_t h = 0; h <= tk->vocab_mask; h++) tk->vocab_tab[h].id = -1;

    int n_added = 0;
    for (int32_t i = 0; i < tk->n_vocab; i++) {
        const tk_token *t = &tk->tok[i];
        const char *s = tk->arena + t->off;
        if (t->kind == K_SPECIAL || t->kind == K_ADDED) {
            tk->added[n_added++] = i;
            tk->added_first[(uint8_t)s[0]] = 1;
        }
        if (t->kind != K_NORMAL) continue;
        if (t->len == 0)
            return qvl_fail_code(err, QVL_E_BAD_INPUT, "token %d has an empty piece", (int)i);
        uint32_t hash = hash_bytes(s, t->len), h = hash & tk->vocab_mask;
        for (; tk->vocab_tab[h].id >= 0; h = (h + 1) & tk->vocab_mask) {
            const tk_token *o = &tk->tok[tk->vocab_tab[h].id];
            if (o->len == t->len && memcmp(tk->arena + o->off, s, t->len) == 0)
                return qvl_fail_code(err, QVL_E_BAD_INPUT,
                                     "tokens %d and %d have the same bytes",
                                     (int)tk->vocab_tab[h].id, (int)i);
        }
        tk->vocab_tab[h] = (tk_vslot){ hash, i };
    }
    qsort_r(tk->added, (size_t)tk->n_added, sizeof *tk->added, cmp_added, tk);

    for (int b = 0; b < 256; b++) {
        char c = (char)b;
        tk->byte_id[b] = vocab_find(tk, &c, 1);
        if (tk->byte_id[b] < 0)
            return qvl_fail_code(err, QVL_E_BAD_INPUT,
                                 "vocabulary has no token for byte 0x%02X", b);
    }
    return 0;
}

/* Adds merge number `rank`: pieces a and b (byte-to-unicode alphabet). Both
 * and their concatenation must be vocabulary entries. A repeated pair keeps
 * its first (best) rank, as llama.cpp does. */
static int tk_add_merge(tokenizer *tk, const byte_unmap *m, const char *a, size_t na,
                        const char *b, size_t nb, int32_t rank, qvl_error *err) {
    char stack[256], *tmp = na + nb <= sizeof stack ? stack : malloc(na + nb);
    if (!tmp) return qvl_fail_code(err, QVL_E_NOMEM, "out of memory reading merges");
    size_t la = unmap_piece(m, a, na, tmp);
    size_t lb = unmap_piece(m, b, nb, tmp + la);
    int32_t ia = vocab_find(tk, tmp, la);
    int32_t ib = vocab_find(tk, tmp + la, lb);
    int32_t im = vocab_find(tk, tmp, la + lb);
    if (tmp != stack) free(tmp);
    if (ia < 0 || ib < 0 || im < 0)
        return qvl_fail_code(err, QVL_E_BAD_INPUT,
                             "merge %d (\"%.*s\" + \"%.*s\"): %s is not in the vocabulary",
                             (int)rank, (int)(na > 40 ? 40 : na), a, (int)(nb > 40 ? 40 : nb), b,
                             ia < 0 ? "the left piece" : ib < 0 ? "the right piece" : "the result");
    uint64_t key = (uint64_t)(uint32_t)ia << 32 | (uint32_t)ib;
    uint32_t h = hash_pair(key) & tk->merge_mask;
    for (; tk->merge_tab[h].key != MERGE_EMPTY; h = (h + 1) & tk->merge_mask)
        if (tk->merge_tab[h].key == key) return 0;
    tk->merge_tab[h] = (tk_merge){ key, rank, im };
    return 0;
}

/* Splits an "a b" merge string at its single space. */
static int split_merge(const char *s, size_t n, size_t *sp, int32_t rank, qvl_error *err) {
    const char *p = memchr(s, ' ', n);
    if (!p || p == s || p == s + n - 1 || memchr(p + 1, ' ', (size_t)(s + n - p - 1)))
        return qvl_fail_code(err, QVL_E_BAD_INPUT,
                             "merge %d (\"%.*s\") is not two pieces separated by one space",
                             (int)rank, (int)(n > 60 ? 60 : n), s);
    *sp = (size_t)(p - s);
    return 0;
}

/* =============================================================== loaders */

/* The Qwen2 split pattern, which pretokenize.c implements by hand. */
static const char QWEN2_PATTERN[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}|"
    " ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/* Refuses a tokenizer.json whose Split regex is not the one we implement
 * (another model family would silently tokenize wrong). Absent = accepted. */
static int check_pre_tokenizer(const json_t *root, qvl_error *err) {
    const json_t *pt = json_object_get(root, "pre_tokenizer");
    const json_t *list = json_object_get(pt, "pretokenizers");
    size_t n = json_is_array(list) ? json_array_size(list) : 1;
    for (size_t i = 0; i < n; i++) {
        const json_t *p = json_is_array(list) ? json_array_get(list, i) : pt;
        const json_t *re = json_object_get(json_object_get(p, "pattern"), "Regex");
        if (json_is_string(re) && strcmp(json_string_value(re), QWEN2_PATTERN) != 0)
            return qvl_fail_code(err, QVL_E_BAD_INPUT,
                                 "unsupported pre-tokenizer pattern (only the Qwen2 one is implemented)");
    }
    return 0;
}

static int json_token_id(const json_t *v, int64_t *id, qvl_error *err) {
    if (!json_is_integer(v))
        return qvl_fail_code(err, QVL_E_BAD_INPUT, "id is not an integer");
    *id = json_integer_value(v);
    if (*id < 0 || *id >= TK_MAX_IDS)
        return qvl_fail_code(err, QVL_E_BAD_INPUT, "id %lld out of range [0, %d)",
                             (long long)*id, TK_MAX_IDS);
    return 0;
}

static int load_vocab(tokenizer *tk, const json_t *vocab, const byte_unmap *m, qvl_error *err) {
    char stack[256];
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)vocab, key, v) {
        int64_t id;
        size_t n = strlen(key);
        char *tmp = n <= sizeof stack ? stack : malloc(n);
        if (!tmp) return qvl_fail_code(err, QVL_E_NOMEM, "out of memory reading the vocabulary");
        int rc = json_token_id(v, &id, err);
        if (rc == 0) rc = tk_set(tk, id, tmp, unmap_piece(m, key, n, tmp), K_NORMAL, err);
        if (tmp != stack) free(tmp);
        if (rc) return qvl_error_prefix(err, "model.vocab[\"%.40s\"]", key);
    }
    return 0;
}

static int load_added(tokenizer *tk, const json_t *added, qvl_error *err) {
    for (size_t i = 0; i < json_array_size(added); i++) {
        const json_t *a = json_array_get(added, i);
        const json_t *content = json_object_get(a, "content");
        const json_t *special = json_object_get(a, "special");
        int64_t id;
        if (!json_is_object(a) || !json_is_string(content) || json_string_length(content) == 0 ||
            (special && !json_is_boolean(special)))
            return qvl_fail_code(err, QVL_E_BAD_INPUT,
                                 "added_tokens[%zu]: needs a non-empty \"content\" string "
                                 "and a boolean \"special\"", i);
        if (json_token_id(json_object_get(a, "id"), &id, err))
            return qvl_error_prefix(err, "added_tokens[%zu]", i);
        const char *s = json_string_value(content);
        size_t n = json_string_length(content);
        /* An added token may repeat a vocabulary entry with the same text. */
        const tk_token *t = &tk->tok[id];
        if (t->kind == K_NORMAL && t->len == n && memcmp(tk->arena + t->off, s, n) == 0)
            tk->tok[id].kind = K_NONE;
        if (tk_set(tk, id, s, n, json_is_true(special) ? K_SPECIAL : K_ADDED, err))
            return qvl_error_prefix(err, "added_tokens[%zu]", i);
    }
    return 0;
}

static int load_merges(tokenizer *tk, const json_t *merges, const byte_unmap *m, qvl_error *err) {
    for (size_t i = 0; i < json_array_size(merges); i++) {
        const json_t *e = json_array_get(merges, i);
        int32_t rank = (int32_t)i;
        int rc;
        if (json_is_string(e)) {
            const char *s = json_string_value(e);
            size_t n = json_string_length(e), sp;
            rc = split_merge(s, n, &sp, rank, err);
            if (rc == 0) rc = tk_add_merge(tk, m, s, sp, s + sp + 1, n - sp - 1, rank, err);
        } else if (json_is_array(e) && json_array_size(e) == 2 &&
                   json_is_string(json_array_get(e, 0)) && json_is_string(json_array_get(e, 1))) {
            const json_t *a = json_array_get(e, 0), *b = json_array_get(e, 1);
            rc = tk_add_merge(tk, m, json_string_value(a), json_string_length(a),
                              json_string_value(b), json_string_length(b), rank, err);
        } else {
            rc = qvl_fail_code(err, QVL_E_BAD_INPUT,
                               "model.merges[%zu] is neither \"a b\" nor [\"a\", \"b\"]", i);
        }
        if (rc) return -1;
    }
    return 0;
}

static tokenizer *load_json_root(const json_t *root, qvl_error *err) {
    const json_t *model = json_object_get(root, "model");
    const json_t *type = json_object_get(model, "type");
    const json_t *vocab = json_object_get(model, "vocab");
    const json_t *merges = json_object_get(model, "merges");
    const json_t *added = json_object_get(root, "added_tokens");
    if (!json_is_object(model)) {
        qvl_fail_code(err, QVL_E_BAD_INPUT, "no \"model\" object");
        return NULL;
    }
    if (type && !(json_is_string(type) && strcmp(json_string_value(type), "BPE") == 0)) {
        qvl_fail_code(err, QVL_E_BAD_INPUT, "model.type is not \"BPE\"");
        return NULL;
    }
    if (!json_is_object(vocab) || !json_is_array(merges) || (added && !json_is_array(added))) {
        qvl_fail_code(err, QVL_E_BAD_INPUT, "%s",
                      !json_is_object(vocab) ? "model.vocab missing or not an object"
                      : !json_is_array(merges) ? "model.merges missing or not an array"
                      : "added_tokens is not an array");
        return NULL;
    }
    if (check_pre_tokenizer(root, err)) return NULL;

    /* The vocabulary size is one more than the largest id anywhere. */
    int64_t max_id = -1, id;
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)vocab, key, v) {
        if (json_token_id(v, &id, err)) {
            qvl_error_prefix(err, "model.vocab[\"%.40s\"]", key);
            return NULL;
        }
        if (id > max_id) max_id = id;
    }
    for (size_t i = 0; i < json_array_size(added); i++) {
        const json_t *a = json_array_get(added, i);
        if (json_token_id(json_object_get(a, "id"), &id, err)) {
            qvl_error_prefix(err, "added_tokens[%zu]", i);
            return NULL;
        }
        if (id > max_id) max_id = id;
    }
    if (max_id < 0) {
        qvl_fail_code(err, QVL_E_BAD_INPUT, "the vocabulary is empty");
        return NULL;
    }

    byte_unmap m;
    byte_unmap_init(&m);
    tokenizer *tk = tk_new((int32_t)max_id + 1, json_array_size(merges), err);
    if (!tk) return NULL;
    if (load_vocab(tk, vocab, &m, err) || load_added(tk, added, err) || tk_index(tk, err) ||
        load_merges(tk, merges, &m, err)) {
        tokenizer_free(tk);
        return NULL;
    }
    return tk;
}

tokenizer *tokenizer_load_json_text(const char *json, size_t len, qvl_error *err) {
    json_error_t je;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(root)) {
        if (root) qvl_fail_code(err, QVL_E_BAD_INPUT, "tokenizer JSON is not an object");
        else qvl_fail_code(err, QVL_E_BAD_INPUT, "invalid tokenizer JSON at line %d column %d: %s",
                           je.line, je.column, je.text);
        json_decref(root);
        return NULL;
    }
    tokenizer *tk = load_json_root(root, err);
    json_decref(root);
    return tk;
}

tokenizer *tokenizer_load_json(const char *path, qvl_error *err) {
    /* Reading the whole file first: jansson's file reader goes through
     * getc, which costs a noticeable part of the load time. */
    size_t len;
    char *text = read_file_text(path, TK_MAX_JSON, &len, err);
    tokenizer *tk = text ? tokenizer_load_json_text(text, len, err) : NULL;
    free(text);
    if (!tk) qvl_error_prefix(err, "%s", path);
    return tk;
}

tokenizer *tokenizer_from_arrays(const char *const *tokens, const int32_t *types,
                                 size_t n_tokens, const char *const *merges,
                                 size_t n_merges, qvl_error *err) {
    if (!tokens || !types || (n_merges && !merges)) {
        qvl_fail_code(err, QVL_E_BAD_INPUT, "tokenizer arrays missing");
        return NULL;
    }
    if (n_tokens == 0 || n_tokens > TK_MAX_IDS || n_merges > TK_MAX_IDS) {
        qvl_fail_code(err, QVL_E_BAD_INPUT, "bad vocabulary size %zu or merge count %zu",
                      n_tokens, n_merges);
        return NULL;
    }
    byte_unmap m;
    byte_unmap_init(&m);
    tokenizer *tk = tk_new((int32_t)n_tokens, n_merges, err);
    if (!tk) return NULL;
    char stack[256];
    for (size_t i = 0; i < n_tokens; i++) {
        const char *s = tokens[i];
        int kind = types[i] == TOKENIZER_TYPE_NORMAL ? K_NORMAL
                 : types[i] == TOKENIZER_TYPE_CONTROL ? K_SPECIAL
                 : types[i] == TOKENIZER_TYPE_USER_DEFINED ? K_ADDED
                 : types[i] == TOKENIZER_TYPE_UNKNOWN || types[i] == TOKENIZER_TYPE_UNUSED ||
                   types[i] == TOKENIZER_TYPE_BYTE ? K_INERT : K_NONE;
        if (!s || kind == K_NONE || (kind != K_INERT && !s[0])) {
            qvl_fail_code(err, QVL_E_BAD_INPUT, "token %zu: %s", i,
                          !s ? "missing text" : kind == K_NONE ? "unknown token type" : "empty text");
            goto fail;
        }
        size_t n = kind == K_INERT ? 0 : strlen(s);
        char *tmp = n <= sizeof stack ? stack : malloc(n);
        if (!tmp) {
            qvl_fail_code(err, QVL_E_NOMEM, "out of memory reading tokens");
            goto fail;
        }
        size_t len = kind == K_NORMAL ? unmap_piece(&m, s, n, tmp) : n;
        if (kind != K_NORMAL) memcpy(tmp, s, n);
        int rc = tk_set(tk, (int64_t)i, tmp, len, kind, err);
        if (tmp != stack) free(tmp);
        if (rc) goto fail;
    }
    if (tk_index(tk, err)) goto fail;
    for (size_t k = 0; k < n_merges; k++) {
        const char *s = merges[k];
        size_t n = s ? strlen(s) : 0, sp;
        if (split_merge(s ? s : "", n, &sp, (int32_t)k, err) ||
            tk_add_merge(tk, &m, s, sp, s + sp + 1, n - sp - 1, (int32_t)k, err))
            goto fail;
    }
    return tk;
fail:
    tokenizer_free(tk);
    return NULL;
}

void tokenizer_free(tokenizer *tk) {
    if (!tk) return;
    free(tk->tok);
    free(tk->arena);
    free(tk->vocab_tab);
    free(tk->merge_tab);
    free(tk->added);
    free(tk);
}

/* ============================================================== decoding */

/* Appends s[0..n) to out as valid UTF-8, each invalid maximal subpart
 * becoming U+FFFD. When !final an incomplete sequence at the very end is not
 * written; its length is returned so the caller can keep it. Returns -1 on
 * OOM. */
static long utf8_sanitize(buf *out, const uint8_t *s, size_t n, bool final) {
    static const char REPLACEMENT[] = "\xEF\xBF\xBD";
    size_t i = 0, run = 0;    /* s[run..i) is valid and not yet written */
    if (n == 0) return 0;     /* s may be NULL then */
    while (i < n) {
        uint32_t cp;
        int k = pretok_utf8_step(s + i, n - i, &cp);
        if (k > 0) {
            i += (size_t)k;
            continue;
        }
        if (buf_put(out, s + run, i - run)) return -1;
        if (k == 0 && !final) return (long)(n - i);
        if (buf_put(out, REPLACEMENT, 3)) return -1;
        i += k == 0 ? n - i : (size_t)-k;
        run = i;
    }
    return buf_put(out, s + run, i - run) ? -1 : 0;
}

/* Appends the bytes of id to b (nothing for skipped specials). */
static int append_piece(const tokenizer *tk, int32_t id, int flags, buf *b, qvl_error *err) {
    if (id < 0 || id >= tk->n_vocab || tk->tok[id].kind == K_NONE)
        return qvl_fail_code(err, QVL_E_BAD_INPUT, "token id %d is not in the vocabulary", (int)id);
    const tk_token *t = &tk->tok[id];
    if ((flags & TOKENIZER_DECODE_SKIP_SPECIAL) && t->kind == K_SPECIAL) return 0;
    if (buf_put(b, tk->arena + t->off, t->len))
        return qvl_fail_code(err, QVL_E_NOMEM, "out of memory decoding");
    return 0;
}

char *tokenizer_decode(const tokenizer *tk, const int32_t *ids, size_t n, int flags,
                       size_t *len_out, qvl_error *err) {
    buf raw = { 0 }, out = { 0 };
    for (size_t i = 0; i < n; i++)
        if (append_piece(tk, ids[i], flags, &raw, err)) goto fail;
    if (utf8_sanitize(&out, (const uint8_t *)raw.p, raw.n, true) < 0 || buf_put(&out, "", 0)) {
        qvl_fail_code(err, QVL_E_NOMEM, "out of memory decoding");
        goto fail;
    }
    free(raw.p);
    if (len_out) *len_out = out.n;
    return out.p;
fail:
    free(raw.p);
    free(out.p);
    return NULL;
}

struct tokenizer_stream {
    const tokenizer *tk;
    int flags;
    uint8_t held[4];     /* incomplete UTF-8 tail of the previous pieces */
    size_t n_held;
    buf raw, out;
};

tokenizer_stream *tokenizer_stream_new(const tokenizer *tk, int flags, qvl_error *err) {
    tokenizer_stream *s = calloc(1, sizeof *s);
    if (!s || buf_put(&s->out, "", 0)) {
        free(s);
        qvl_fail_code(err, QVL_E_NOMEM, "out of memory for a decode stream");
        return NULL;
    }
    s->tk = tk;
    s->flags = flags;
    return s;
}

const char *tokenizer_stream_push(tokenizer_stream *s, int32_t id, size_t *len_out,
                                  qvl_error *err) {
    s->raw.n = 0;
    s->out.n = 0;
    s->out.p[0] = 0;
    long held;
    if (buf_put(&s->raw, s->held, s->n_held)) goto oom;
    if (append_piece(s->tk, id, s->flags, &s->raw, err)) return NULL;
    held = utf8_sanitize(&s->out, (const uint8_t *)s->raw.p, s->raw.n, false);
    if (held < 0 || buf_put(&s->out, "", 0)) goto oom;
    /* A valid UTF-8 prefix is at most 3 bytes, so it fits. */
    memcpy(s->held, s->raw.p + s->raw.n - (size_t)held, (size_t)held);
    s->n_held = (size_t)held;
    if (len_out) *len_out = s->out.n;
    return s->out.p;
oom:
    s->out.n = 0;
    qvl_fail_code(err, QVL_E_NOMEM, "out of memory decoding");
    return NULL;
}

const char *tokenizer_stream_flush(tokenizer_stream *s, size_t *len_out) {
    s->out.n = 0;
    s->out.p[0] = 0;
    /* Cannot fail: the buffer (>= 16 bytes since stream_new) already has
     * room for the one U+FFFD that at most 3 held bytes become. */
    utf8_sanitize(&s->out, s->held, s->n_held, true);
    s->n_held = 0;
    if (len_out) *len_out = s->out.n;
    return s->out.p;
}

void tokenizer_stream_free(tokenizer_stream *s) {
    if (!s) return;
    free(s->raw.p);
    free(s->out.p);
    free(s);
}

/* =============================================================== lookups */

int32_t tokenizer_token_id(const tokenizer *tk, const char *piece) {
    size_t n = strlen(piece);
    for (int i = 0; i < tk->n_added; i++) {
        const tk_token *t = &tk->tok[tk->added[i]];
        if (t->len == n && memcmp(tk->arena + t->off, piece, n) == 0) return tk->added[i];
    }
    return n ? vocab_find(tk, piece, n) : -1;
}

const char *tokenizer_id_to_piece(const tokenizer *tk, int32_t id, size_t *len_out) {
    if (id < 0 || id >= tk->n_vocab || tk->tok[id].kind == K_NONE) return NULL;
    if (len_out) *len_out = tk->tok[id].len;
    return tk->arena + tk->tok[id].off;
}

int32_t tokenizer_vocab_size(const tokenizer *tk) {
    return tk->n_vocab;
}

bool tokenizer_is_special(const tokenizer *tk, int32_t id) {
    return id >= 0 && id < tk->n_vocab && tk->tok[id].kind == K_SPECIAL;
}
