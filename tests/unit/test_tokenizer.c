/* test_tokenizer.c - the BPE tokenizer against the golden ids produced by
 * llama.cpp / transformers.js (golden/tokenizer/cases.json, text prompts),
 * plus round trips, streaming decode, hostile text and hostile tokenizer
 * files, and the GGUF-style array constructor. */
#include <dirent.h>
#include <glob.h>
#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <utf8proc.h>

#include "base/mapped_file.h"
#include "check.h"
#include "tokenizer/pretokenize.h"
#include "tokenizer/tokenizer.h"

static char path_buf[1024];

static const char *data_path(const char *rel) {
    snprintf(path_buf, sizeof path_buf, "%s/%s", testdata_dir(), rel);
    return path_buf;
}

static bool ids_equal_json(const int32_t *ids, size_t n, const json_t *want) {
    if (n != json_array_size(want)) return false;
    for (size_t i = 0; i < n; i++)
        if (ids[i] != json_integer_value(json_array_get(want, i))) return false;
    return true;
}

static void print_ids(const char *label, const int32_t *ids, size_t n) {
    fprintf(stderr, "  %s:", label);
    for (size_t i = 0; i < n; i++) fprintf(stderr, " %d", (int)ids[i]);
    fputc('\n', stderr);
}

/* Every golden case encodes exactly, and decodes back to its text. */
static void test_cases(const tokenizer *tk, const json_t *cases, const char *label) {
    size_t i;
    const json_t *c;
    int exact = 0;
    json_array_foreach(cases, i, c) {
        const json_t *text = json_object_get(c, "text");
        const char *s = json_string_value(text);
        size_t len = json_string_length(text);
        int32_t *ids = NULL;
        size_t n = 0;
        qvl_error err = { 0 };
        CHECK_MSG(tokenizer_encode(tk, s, len, 0, &ids, &n, &err) == 0, "%s", err.msg);
        bool ok = ids_equal_json(ids, n, json_object_get(c, "ids"));
        CHECK_MSG(ok, "%s: case %zu \"%s\" differs", label, i, s);
        if (!ok) print_ids("got", ids, n);
        exact += ok;
        size_t back_len = 0;
        char *back = tokenizer_decode(tk, ids, n, 0, &back_len, &err);
        CHECK_MSG(back && back_len == len && memcmp(back, s, len) == 0,
                  "%s: round trip of case %zu", label, i);
        free(back);
        free(ids);
    }
    fprintf(stderr, "%s: %d/%zu golden cases exact\n", label, exact, json_array_size(cases));
}

/* The chat-formatted golden prompts encode to their prompt_ids.txt. */
static void test_prompts(const tokenizer *tk) {
    glob_t g;
    char pattern[1024];
    snprintf(pattern, sizeof pattern, "%s/golden/text/T*/F16/prompt.txt", testdata_dir());
    CHECK(glob(pattern, 0, NULL, &g) == 0);
    CHECK(g.gl_pathc >= 3);
    for (size_t k = 0; k < g.gl_pathc; k++) {
        qvl_error err = { 0 };
        size_t len, ids_len;
        char *prompt = read_file_text(g.gl_pathv[k], 1 << 20, &len, &err);
        char ids_path[1100];
        snprintf(ids_path, sizeof ids_path, "%.*s/prompt_ids.txt",
                 (int)(strrchr(g.gl_pathv[k], '/') - g.gl_pathv[k]), g.gl_pathv[k]);
        char *want = read_file_text(ids_path, 1 << 20, &ids_len, &err);
        CHECK_MSG(prompt && want, "%s", err.msg);
        if (!prompt || !want) continue;
        int32_t *ids = NULL;
        size_t n = 0;
        CHECK(tokenizer_encode(tk, prompt, len, 0, &ids, &n, &err) == 0);
        size_t i = 0;
        bool ok = true;
        for (char *p = want, *end; *p; p = end) {
            long v = strtol(p, &end, 10);
            if (end == p) break;
            ok = ok && i < n && ids[i] == v;
            i++;
        }
        CHECK_MSG(ok && i == n, "%s: %zu ids, %zu expected", g.gl_pathv[k], n, i);
        free(ids);
        free(prompt);
        free(want);
    }
    globfree(&g);
}

/* Feeds ids one by one; every chunk must be complete UTF-8 and the chunks
 * must add up to the text. Returns how many pushes held bytes back. */
static int stream_check(const tokenizer *tk, const char *text) {
    int32_t *ids = NULL;
    size_t n = 0, total = 0, len = strlen(text);
    int held_back = 0;
    CHECK(tokenizer_encode(tk, text, len, 0, &ids, &n, NULL) == 0);
    tokenizer_stream *s = tokenizer_stream_new(tk, 0, NULL);
    char *acc = calloc(len + 16, 1);
    for (size_t i = 0; i < n && s && acc; i++) {
        size_t k = 0;
        const char *out = tokenizer_stream_push(s, ids[i], &k, NULL);
        CHECK(out != NULL);
        if (!out) break;
        CHECK_MSG(utf8proc_decompose((const utf8proc_uint8_t *)out, (utf8proc_ssize_t)k,
                                     NULL, 0, 0) >= 0, "chunk %zu is not valid UTF-8", i);
        size_t piece_len = 0;
        tokenizer_id_to_piece(tk, ids[i], &piece_len);
        held_back += k < piece_len;
        CHECK(total + k <= len);
        if (total + k > len) break;
        memcpy(acc + total, out, k);
        total += k;
    }
    size_t k = 9;
    CHECK(s && tokenizer_stream_flush(s, &k) && k == 0);
    CHECK_MSG(total == len && memcmp(acc, text, len) == 0, "stream of \"%s\"", text);
    tokenizer_stream_free(s);
    free(acc);
    free(ids);
    return held_back;
}

static void test_stream(const tokenizer *tk) {
    /* Rare characters are split over byte-level tokens, so the stream must
     * hold bytes back somewhere in here. */
    int held = stream_check(tk, "今天天气很好，我们去公园散步吧。鱻龘靐齉 𠮷野家 emoji 😀🚀🦙✅");
    CHECK_MSG(held > 0, "no token split a character: the test proves nothing");
    stream_check(tk, "");

    /* An incomplete character at the end comes out of flush as U+FFFD. */
    int32_t *ids = NULL;
    size_t n = 0, k = 0;
    CHECK(tokenizer_encode(tk, "\xF0\x9F\x98", 3, 0, &ids, &n, NULL) == 0);
    tokenizer_stream *s = tokenizer_stream_new(tk, TOKENIZER_DECODE_SKIP_SPECIAL, NULL);
    for (size_t i = 0; i < n; i++) {
        tokenizer_stream_push(s, ids[i], &k, NULL);
        CHECK_EQ_INT(k, 0);
    }
    const char *tail = tokenizer_stream_flush(s, &k);
    CHECK(k == 3 && strcmp(tail, "\xEF\xBF\xBD") == 0);
    /* Specials are skipped; bad ids fail and leave the stream usable. */
    qvl_error err = { 0 };
    CHECK(tokenizer_stream_push(s, 151645, &k, &err) && k == 0);
    CHECK(tokenizer_stream_push(s, -5, &k, &err) == NULL && err.msg[0]);
    CHECK(tokenizer_stream_push(s, 1 << 30, &k, &err) == NULL);
    free(ids);
    tokenizer_stream_free(s);
}

/* Encodes raw bytes and checks the pieces give exactly those bytes back. */
static void check_bytes_roundtrip(const tokenizer *tk, const char *text, size_t len,
                                  const char *what) {
    int32_t *ids = NULL;
    size_t n = 0, off = 0;
    qvl_error err = { 0 };
    CHECK_MSG(tokenizer_encode(tk, text, len, 0, &ids, &n, &err) == 0, "%s: %s", what, err.msg);
    bool ok = true;
    for (size_t i = 0; i < n && ok; i++) {
        size_t k;
        const char *p = tokenizer_id_to_piece(tk, ids[i], &k);
        ok = p && off + k <= len && memcmp(text + off, p, k) == 0;
        off += k;
    }
    CHECK_MSG(ok && off == len, "%s: pieces do not spell the input", what);
    free(ids);
}

static void test_hostile_text(const tokenizer *tk) {
    static const char invalid[] = "ok \xFF\xFE bad \xC3 \xE4\xBD cut \xED\xA0\x80 surrogate \xC0\xAF over";
    check_bytes_roundtrip(tk, invalid, sizeof invalid - 1, "invalid UTF-8");
    static const char nul[] = "before\0after\0\0 <|im_end|>\0";
    check_bytes_roundtrip(tk, nul, sizeof nul - 1, "NUL bytes");
    check_bytes_roundtrip(tk, "a lone <|im_", 12, "lone <|im_");

    /* Decoding invalid UTF-8 gives one U+FFFD per maximal subpart. */
    int32_t *ids = NULL;
    size_t n = 0, len = 0;
    CHECK(tokenizer_encode(tk, "a\xFF" "b\xE4\xBD", 5, 0, &ids, &n, NULL) == 0);
    char *back = tokenizer_decode(tk, ids, n, 0, &len, NULL);
    CHECK(back && strcmp(back, "a\xEF\xBF\xBD" "b\xEF\xBF\xBD") == 0);
    free(back);
    free(ids);

    /* Added tokens are only split out when asked to. */
    const char *im = "<|im_end|>";
    CHECK(tokenizer_encode(tk, im, strlen(im), TOKENIZER_ENCODE_NO_SPECIAL, &ids, &n, NULL) == 0);
    CHECK(n > 1);
    for (size_t i = 0; i < n; i++) CHECK(!tokenizer_is_special(tk, ids[i]));
    free(ids);

    size_t big = 100 * 1024;
    char *s = malloc(big);
    const char *units[] = { "a", "!", " ", "\n", "中", "1", "\xFF" };
    for (size_t u = 0; u < sizeof units / sizeof *units; u++) {
        size_t ul = strlen(units[u]), fill = big / ul * ul;
        for (size_t i = 0; i < fill; i += ul) memcpy(s + i, units[u], ul);
        check_bytes_roundtrip(tk, s, fill, units[u]);
    }
    free(s);
}

static void test_api(const tokenizer *tk, const json_t *cases) {
    CHECK_EQ_INT(tokenizer_token_id(tk, "<|im_end|>"), 151645);
    CHECK_EQ_INT(tokenizer_token_id(tk, "<|image_pad|>"), 151655);
    CHECK_EQ_INT(tokenizer_token_id(tk, "no such token at all"), -1);
    CHECK_EQ_INT(tokenizer_token_id(tk, ""), -1);
    CHECK(tokenizer_is_special(tk, 151645));
    CHECK(!tokenizer_is_special(tk, 151667));       /* <think> is added, not special */
    CHECK(!tokenizer_is_special(tk, 100) && !tokenizer_is_special(tk, -1));
    CHECK_EQ_INT(tokenizer_vocab_size(tk), 151669);
    CHECK(tokenizer_id_to_piece(tk, 151669, NULL) == NULL);
    CHECK(tokenizer_id_to_piece(tk, -1, NULL) == NULL);

    /* The last id of "line one\nline two\n" is the newline token. */
    const json_t *want = NULL;
    size_t i;
    const json_t *c;
    json_array_foreach(cases, i, c)
        if (strcmp(json_string_value(json_object_get(c, "text")), "line one\nline two\n") == 0)
            want = json_object_get(c, "ids");
    CHECK(want && json_array_size(want) > 0);
    if (want) {
        int32_t nl = (int32_t)json_integer_value(json_array_get(want, json_array_size(want) - 1));
        size_t k = 0;
        const char *p = tokenizer_id_to_piece(tk, nl, &k);
        CHECK(p && k == 1 && p[0] == '\n');
        CHECK_EQ_INT(tokenizer_token_id(tk, "\n"), nl);
    }

    const char *chat = "<|im_start|>user\nHi<think></think><|im_end|>";
    int32_t *ids = NULL;
    size_t n = 0;
    CHECK(tokenizer_encode(tk, chat, strlen(chat), 0, &ids, &n, NULL) == 0);
    char *plain = tokenizer_decode(tk, ids, n, TOKENIZER_DECODE_SKIP_SPECIAL, NULL, NULL);
    CHECK(plain && strcmp(plain, "user\nHi<think></think>") == 0);
    free(plain);
    qvl_error err = { 0 };
    int32_t bad[] = { ids[0], 151700 };
    CHECK(tokenizer_decode(tk, bad, 2, 0, NULL, &err) == NULL && strstr(err.msg, "151700"));
    free(ids);
}

/* Non-NFC input tokenizes like its NFC form: decompose a golden case with
 * utf8proc and expect the golden ids. */
static void test_nfc(const tokenizer *tk, const json_t *cases) {
    size_t i;
    const json_t *c;
    int tried = 0;
    json_array_foreach(cases, i, c) {
        const char *s = json_string_value(json_object_get(c, "text"));
        char *nfd = (char *)utf8proc_NFD((const utf8proc_uint8_t *)s);
        if (!nfd || strcmp(nfd, s) == 0) {
            free(nfd);
            continue;
        }
        tried++;
        int32_t *ids = NULL;
        size_t n = 0;
        CHECK(tokenizer_encode(tk, nfd, strlen(nfd), 0, &ids, &n, NULL) == 0);
        CHECK_MSG(ids_equal_json(ids, n, json_object_get(c, "ids")), "NFD of case %zu", i);
        free(ids);
        free(nfd);
    }
    CHECK(tried >= 2);
}

typedef struct thread_arg {
    const tokenizer *tk;
    const json_t *cases;
    int mismatches;
} thread_arg;

static void *thread_main(void *p) {
    thread_arg *a = p;
    for (int r = 0; r < 5; r++) {
        size_t i;
        const json_t *c;
        json_array_foreach(a->cases, i, c) {
            const json_t *t = json_object_get(c, "text");
            int32_t *ids = NULL;
            size_t n = 0;
            if (tokenizer_encode(a->tk, json_string_value(t), json_string_length(t), 0, &ids, &n,
                                 NULL) || !ids_equal_json(ids, n, json_object_get(c, "ids")))
                a->mismatches++;
            free(ids);
        }
    }
    return NULL;
}

static void test_threads(const tokenizer *tk, const json_t *cases) {
    pthread_t th[3];
    thread_arg args[3];
    for (int i = 0; i < 3; i++) {
        args[i] = (thread_arg){ tk, cases, 0 };
        CHECK(pthread_create(&th[i], NULL, thread_main, &args[i]) == 0);
    }
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        CHECK_EQ_INT(args[i].mismatches, 0);
    }
}

/* ------------------------------------------- GGUF-style array constructor */

/* Lays tokenizer.json out the way a GGUF file stores it: one string and type
 * per id up to 151936 (padding rows included), merges as "a b" strings. */
static void test_arrays(const json_t *root, const json_t *cases) {
    enum { N = 151936 };
    const json_t *model = json_object_get(root, "model");
    const json_t *merges = json_object_get(model, "merges");
    char **tokens = calloc(N, sizeof *tokens);
    int32_t *types = calloc(N, sizeof *types);
    size_t n_merges = json_array_size(merges);
    char **m = calloc(n_merges, sizeof *m);
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)json_object_get(model, "vocab"), key, v) {
        tokens[json_integer_value(v)] = strdup(key);
        types[json_integer_value(v)] = TOKENIZER_TYPE_NORMAL;
    }
    size_t i;
    json_array_foreach(json_object_get(root, "added_tokens"), i, v) {
        int64_t id = json_integer_value(json_object_get(v, "id"));
        tokens[id] = strdup(json_string_value(json_object_get(v, "content")));
        types[id] = json_is_true(json_object_get(v, "special")) ? TOKENIZER_TYPE_CONTROL
                                                                : TOKENIZER_TYPE_USER_DEFINED;
    }
    for (int id = 0; id < N; id++) {
        if (tokens[id]) continue;
        char name[32];
        snprintf(name, sizeof name, "[PAD%d]", id);
        tokens[id] = strdup(name);
        types[id] = id % 2 ? TOKENIZER_TYPE_UNUSED : TOKENIZER_TYPE_NORMAL;
    }
    json_array_foreach(merges, i, v) {
        if (asprintf(&m[i], "%s %s", json_string_value(json_array_get(v, 0)),
                     json_string_value(json_array_get(v, 1))) < 0) m[i] = NULL;
    }
    qvl_error err = { 0 };
    tokenizer *tk = tokenizer_from_arrays((const char *const *)tokens, types, N,
                                          (const char *const *)m, n_merges, &err);
    CHECK_MSG(tk != NULL, "%s", err.msg);
    if (tk) {
        test_cases(tk, cases, "arrays");
        CHECK_EQ_INT(tokenizer_vocab_size(tk), N);
        CHECK(tokenizer_is_special(tk, 151644) && !tokenizer_is_special(tk, 151657));
        int32_t *ids = NULL;
        size_t n = 0;
        const char *pad = "[PAD151670][PAD151671]";
        CHECK(tokenizer_encode(tk, pad, strlen(pad), 0, &ids, &n, NULL) == 0);
        CHECK(n > 2);
        for (size_t k = 0; k < n; k++) CHECK(ids[k] < 151643);
        free(ids);
        tokenizer_free(tk);
    }
    /* Bad arrays: unknown type, malformed merge. */
    types[5] = 9;
    CHECK(tokenizer_from_arrays((const char *const *)tokens, types, N, NULL, 0, &err) == NULL);
    CHECK(strstr(err.msg, "type") != NULL);
    types[5] = TOKENIZER_TYPE_NORMAL;
    const char *bad_merge[] = { "nospace" };
    CHECK(tokenizer_from_arrays((const char *const *)tokens, types, N, bad_merge, 1, &err) == NULL);
    CHECK(strstr(err.msg, "merge 0") != NULL);
    for (int id = 0; id < N; id++) free(tokens[id]);
    for (i = 0; i < n_merges; i++) free(m[i]);
    free(tokens);
    free(types);
    free(m);
}

/* ------------------------------------------------- hostile tokenizer.json */

/* GPT-2 byte-to-unicode (spec 3.1 step 4), written out independently. */
static void byte_char(int b, char out[3]) {
    static int map[256];
    if (!map['!']) {
        int n = 0;
        for (int x = 0; x < 256; x++) {
            bool self = (x >= 0x21 && x <= 0x7E) || (x >= 0xA1 && x <= 0xAC) || x >= 0xAE;
            map[x] = self ? x : 256 + n++;
        }
    }
    int c = map[b];
    if (c < 0x80) {
        out[0] = (char)c;
        out[1] = 0;
    } else {
        out[0] = (char)(0xC0 | c >> 6);
        out[1] = (char)(0x80 | (c & 0x3F));
        out[2] = 0;
    }
}

/* A small valid tokenizer: 256 byte tokens, "he"=256, "ll"=257,
 * "hell"=258, "hello"=259, " hello"... via merges; plus `extra` JSON text
 * spliced into the vocab and `merges` as given. */
static char *mini_json(const char *extra_vocab, const char *merges, const char *added) {
    size_t cap = 16384, n = 0;
    char *s = malloc(cap);
    n += (size_t)snprintf(s + n, cap - n, "{\"model\":{\"type\":\"BPE\",\"vocab\":{");
    for (int b = 0; b < 256; b++) {
        char c[3];
        byte_char(b, c);
        const char *esc = c[0] == '"' ? "\\\"" : c[0] == '\\' ? "\\\\" : c;
        n += (size_t)snprintf(s + n, cap - n, "\"%s\":%d,", esc, b);
    }
    n += (size_t)snprintf(s + n, cap - n,
                          "\"he\":256,\"ll\":257,\"hell\":258,\"hello\":259%s},\"merges\":%s}"
                          ",\"added_tokens\":%s}", extra_vocab, merges, added);
    return s;
}

static void expect_load_error(const char *dir, const char *name, const char *json, size_t len,
                              const char *keyword) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s.json", dir, name);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    fwrite(json, 1, len, f);
    fclose(f);
    qvl_error err = { 0 };
    tokenizer *tk = tokenizer_load_json(path, &err);
    CHECK_MSG(tk == NULL, "%s loaded", name);
    CHECK_MSG(strstr(err.msg, keyword) != NULL, "%s: \"%s\" lacks \"%s\"", name, err.msg, keyword);
    tokenizer_free(tk);
    unlink(path);
}

static void test_hostile_files(void) {
    char dir[] = "/tmp/qvl_tok_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    static const char merges_ok[] = "[[\"h\",\"e\"],\"l l\",[\"he\",\"ll\"],\"hell o\"]";
    static const char added_ok[] = "[{\"id\":260,\"content\":\"<|x|>\",\"special\":true}]";

    /* Positive control: the mini tokenizer loads and merges as expected. */
    char *good = mini_json("", merges_ok, added_ok);
    qvl_error err = { 0 };
    tokenizer *tk = tokenizer_load_json_text(good, strlen(good), &err);
    CHECK_MSG(tk != NULL, "%s", err.msg);
    if (tk) {
        int32_t *ids = NULL;
        size_t n = 0;
        CHECK(tokenizer_encode(tk, "hello<|x|>hel", 13, 0, &ids, &n, NULL) == 0);
        CHECK(n == 4 && ids[0] == 259 && ids[1] == 260 && ids[2] == 256 && ids[3] == 'l');
        free(ids);
        tokenizer_free(tk);
    }

    struct { const char *name, *extra, *merges, *added, *keyword; } cases[] = {
        { "unknown-merge", "", "[[\"h\",\"zz\"]]", "[]", "not in the vocabulary" },
        { "merge-result-missing", "", "[[\"e\",\"h\"]]", "[]", "the result" },
        { "negative-id", ",\"neg\":-3", merges_ok, "[]", "out of range" },
        { "huge-id", ",\"big\":4000000000", merges_ok, "[]", "out of range" },
        { "duplicate-id", ",\"dup\":256", merges_ok, "[]", "used twice" },
        { "id-not-integer", ",\"str\":\"7\"", merges_ok, "[]", "not an integer" },
        { "merges-not-array", "", "{}", "[]", "model.merges" },
        { "merge-bad-element", "", "[17]", "[]", "model.merges[0]" },
        { "merge-three-parts", "", "[\"h e l\"]", "[]", "one space" },
        { "added-empty", "", merges_ok, "[{\"id\":260,\"content\":\"\"}]", "content" },
        { "added-bad-id", "", merges_ok, "[{\"id\":-1,\"content\":\"<a>\"}]", "out of range" },
        { "added-collides", "", merges_ok, "[{\"id\":65,\"content\":\"<a>\"}]", "used twice" },
        { "added-not-array", "", merges_ok, "{}", "added_tokens" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *j = mini_json(cases[i].extra, cases[i].merges, cases[i].added);
        expect_load_error(dir, cases[i].name, j, strlen(j), cases[i].keyword);
        free(j);
    }
    expect_load_error(dir, "truncated", good, strlen(good) / 2, "invalid tokenizer JSON");
    expect_load_error(dir, "empty", "", 0, "invalid tokenizer JSON");
    expect_load_error(dir, "not-object", "[1,2]", 5, "not an object");
    const char *no_vocab = "{\"model\":{\"type\":\"BPE\",\"merges\":[]}}";
    expect_load_error(dir, "vocab-missing", no_vocab, strlen(no_vocab), "model.vocab");
    const char *no_model = "{\"added_tokens\":[]}";
    expect_load_error(dir, "model-missing", no_model, strlen(no_model), "model");
    const char *wrong_type = "{\"model\":{\"type\":\"WordPiece\",\"vocab\":{},\"merges\":[]}}";
    expect_load_error(dir, "wrong-model-type", wrong_type, strlen(wrong_type), "BPE");
    const char *few = "{\"model\":{\"vocab\":{\"a\":0},\"merges\":[]}}";
    expect_load_error(dir, "missing-bytes", few, strlen(few), "no token for byte");
    const char *dup_key = "{\"model\":{\"vocab\":{\"a\":0,\"a\":1},\"merges\":[]}}";
    expect_load_error(dir, "duplicate-key", dup_key, strlen(dup_key), "invalid tokenizer JSON");
    /* A different model's pre-tokenizer would tokenize silently wrong. */
    char *other = mini_json("", merges_ok, "[]");
    size_t ol = strlen(other);
    other[ol - 1] = 0;
    char *with_pt;
    if (asprintf(&with_pt, "%s,\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"Regex\":\"\\\\s+\"}}}",
                 other) > 0) {
        expect_load_error(dir, "other-pretokenizer", with_pt, strlen(with_pt), "pre-tokenizer");
        free(with_pt);
    }
    free(other);
    CHECK(tokenizer_load_json("/nonexistent/tokenizer.json", &err) == NULL && err.msg[0]);
    free(good);
    rmdir(dir);
}

int main(void) {
    qvl_error err = { 0 };
    json_t *cases = json_load_file(data_path("golden/tokenizer/cases.json"), 0, NULL);
    json_t *root = json_load_file(data_path("tokenizer/tokenizer.json"), 0, NULL);
    CHECK(json_array_size(cases) == 40 && root);
    tokenizer *tk = tokenizer_load_json(data_path("tokenizer/tokenizer.json"), &err);
    CHECK_MSG(tk != NULL, "%s", err.msg);
    if (!tk || !cases || !root) return check_summary();

    test_cases(tk, cases, "tokenizer.json");
    test_prompts(tk);
    test_stream(tk);
    test_hostile_text(tk);
    test_api(tk, cases);
    test_nfc(tk, cases);
    test_threads(tk, cases);
    test_arrays(root, cases);
    test_hostile_files();

    /* Throughput, for information only. */
    size_t len = 0;
    char *prompt = read_file_text(data_path("golden/text/T2/F16/prompt.txt"), 1 << 20, &len, NULL);
    size_t reps = 2000, big_len = 0;
    char *big = prompt ? malloc((len + 256) * reps) : NULL;
    for (size_t r = 0; big && r < reps; r++) {
        const json_t *c = json_array_get(cases, r % 40);
        memcpy(big + big_len, prompt, len);
        big_len += len;
        size_t cl = json_string_length(json_object_get(c, "text"));
        if (cl < 256) {
            memcpy(big + big_len, json_string_value(json_object_get(c, "text")), cl);
            big_len += cl;
        }
    }
    if (big) fprintf(stderr, "encode throughput: %.1f MB/s on %zu bytes of mixed text\n",
                     tokenizer_bench_mb_s(tk, big, big_len, 3), big_len);
    free(big);
    free(prompt);
    tokenizer_free(tk);
    json_decref(cases);
    json_decref(root);
    return check_summary();
}
