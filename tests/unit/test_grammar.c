/* test_grammar.c - the JSON Schema compiler, the byte automaton and the
 * token mask (src/grammar).
 *
 *   - byte level: texts each schema must take and texts it must refuse
 *     (bounds, lengths in characters, UTF-8, escapes, dates, order of
 *     properties, anyOf, recursion, json_object mode, the tool-call form);
 *   - the compiler: unsupported keywords and contradictions are refused
 *     with a message naming them; hostile schemas (self references, deep
 *     nesting) neither hang nor crash;
 *   - the mask over the real Qwen vocabulary equals, token for token, a
 *     brute-force check of every token's bytes, at states reached by
 *     random walks (so the trie walk, its subtree skips and the string
 *     shortcut are all exercised);
 *   - random walks (a random allowed token at each step) always end in
 *     JSON that parses and keeps the schema's bounds.
 */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "grammar/grammar_state.h"
#include "grammar/json_schema.h"
#include "grammar/token_mask.h"
#include "grammar/tool_grammar.h"
#include "tokenizer/tokenizer.h"

static grammar *compile_text(const char *schema_text, qvl_error *err) {
    json_error_t je;
    json_t *s = json_loads(schema_text, JSON_DECODE_ANY, &je);
    if (!s) {
        fprintf(stderr, "bad test schema: %s\n", je.text);
        return NULL;
    }
    grammar *g = grammar_from_schema(s, err);
    json_decref(s);
    return g;
}

/* True when g takes all of text and may end after it. */
static bool takes(const grammar *g, const char *text) {
    gstate s;
    gstate_init(g, &s);
    return gstate_step_bytes(g, &s, text, strlen(text)) && gstate_can_end(g, &s);
}

#define ACCEPTS(g, t) CHECK_MSG(takes(g, t), "should accept %s", t)
#define REFUSES(g, t) CHECK_MSG(!takes(g, t), "should refuse %s", t)

static void test_objects_and_numbers(void) {
    qvl_error err = {0};
    grammar *g = compile_text("{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\",\"minimum\":1,"
                              "\"maximum\":12}},\"required\":[\"a\"],\"additionalProperties\":false}", &err);
    CHECK_MSG(g != NULL, "%s", err.msg);
    ACCEPTS(g, "{\"a\":7}");
    ACCEPTS(g, "{\"a\":12}");
    ACCEPTS(g, "{\"a\":1}");
    REFUSES(g, "{\"a\":13}");
    REFUSES(g, "{\"a\":0}");
    REFUSES(g, "{\"a\":-1}");
    REFUSES(g, "{\"a\":07}");
    REFUSES(g, "{\"a\":-0}");
    REFUSES(g, "{\"a\":7.0}");
    REFUSES(g, "{}");
    REFUSES(g, "{\"a\": 7}");   /* compact output: no whitespace */
    REFUSES(g, "{\"b\":1}");
    REFUSES(g, "{\"a\":7");
    grammar_free(g);

    g = compile_text("{\"type\":\"number\",\"minimum\":0.5,\"exclusiveMaximum\":2.5}", &err);
    ACCEPTS(g, "0.5");
    ACCEPTS(g, "2.49");
    ACCEPTS(g, "1");
    REFUSES(g, "0.4");
    REFUSES(g, "2.5");
    REFUSES(g, "3");
    REFUSES(g, "-1");
    REFUSES(g, "1e3");   /* no exponents */
    REFUSES(g, "-0");
    grammar_free(g);

    g = compile_text("{\"type\":\"number\"}", &err);
    ACCEPTS(g, "-0.5");
    ACCEPTS(g, "123456789012345.123456789");
    REFUSES(g, "-0");
    REFUSES(g, "1234567890123456");   /* 16 integer digits */
    grammar_free(g);
    g = compile_text("{\"type\":\"integer\"}", &err);
    REFUSES(g, "-0");
    ACCEPTS(g, "-10");
    grammar_free(g);

    g = compile_text("{\"type\":\"integer\",\"minimum\":-20,\"maximum\":-3}", &err);
    ACCEPTS(g, "-3");
    ACCEPTS(g, "-20");
    REFUSES(g, "-21");
    REFUSES(g, "-2");
    REFUSES(g, "5");
    grammar_free(g);

    /* properties in order; optional ones may be skipped, required ones not */
    g = compile_text("{\"properties\":{\"a\":{\"type\":\"boolean\"},\"b\":{\"type\":\"null\"},\"c\":{}},"
                     "\"required\":[\"b\"]}", &err);
    ACCEPTS(g, "{\"b\":null}");
    ACCEPTS(g, "{\"a\":true,\"b\":null,\"c\":[1,\"x\",{\"k\":false}]}");
    ACCEPTS(g, "{\"b\":null,\"c\":-0.25}");
    REFUSES(g, "{\"b\":null,\"a\":true}");
    REFUSES(g, "{\"a\":true}");
    REFUSES(g, "{\"b\":null,\"b\":null}");
    grammar_free(g);
}

static void test_strings(void) {
    qvl_error err = {0};
    grammar *g = compile_text("{\"type\":\"string\",\"minLength\":1,\"maxLength\":2}", &err);
    ACCEPTS(g, "\"\xe4\xb8\xad\xe6\x96\x87\"");   /* 中文: two characters, six bytes */
    ACCEPTS(g, "\"a\\n\"");
    ACCEPTS(g, "\"\xf0\x9f\x98\x80\"");           /* one 4-byte character */
    REFUSES(g, "\"\xe4\xb8\xad\xe6\x96\x87\xe5\xad\x97\"");
    REFUSES(g, "\"\"");
    REFUSES(g, "\"abc\"");
    REFUSES(g, "\"\\u0041\"");                    /* no \u escapes */
    REFUSES(g, "\"\xc0\xaf\"");                   /* overlong */
    REFUSES(g, "\"\xed\xa0\x80\"");               /* surrogate */
    REFUSES(g, "\"\xe4\xb8\"");                   /* cut character */
    REFUSES(g, "\"a\tb\"");                       /* raw control byte */
    grammar_free(g);

    g = compile_text("{\"enum\":[\"red\",\"green\",1,12,null,{\"k\":[1]}]}", &err);
    ACCEPTS(g, "\"red\"");
    ACCEPTS(g, "1");
    ACCEPTS(g, "12");
    ACCEPTS(g, "null");
    ACCEPTS(g, "{\"k\":[1]}");
    REFUSES(g, "\"re\"");
    REFUSES(g, "2");
    REFUSES(g, "\"blue\"");
    grammar_free(g);

    g = compile_text("{\"type\":\"string\",\"format\":\"date\"}", &err);
    ACCEPTS(g, "\"2024-02-29\"");
    ACCEPTS(g, "\"1999-12-31\"");
    REFUSES(g, "\"2023-02-29\"");
    REFUSES(g, "\"2024-13-01\"");
    REFUSES(g, "\"2024-04-31\"");
    REFUSES(g, "\"2024-00-10\"");
    grammar_free(g);
    g = compile_text("{\"type\":\"string\",\"format\":\"date-time\"}", &err);
    ACCEPTS(g, "\"2024-06-01T23:59:59Z\"");
    REFUSES(g, "\"2024-06-01T24:00:00Z\"");
    REFUSES(g, "\"2024-06-01\"");
    grammar_free(g);
}

static void test_any_of_refs_modes(void) {
    qvl_error err = {0};
    grammar *g = compile_text("{\"type\":[\"string\",\"null\"],\"maxLength\":3}", &err);
    ACCEPTS(g, "\"abc\"");
    ACCEPTS(g, "null");
    REFUSES(g, "\"abcd\"");
    grammar_free(g);

    g = compile_text("{\"$defs\":{\"node\":{\"type\":\"object\",\"properties\":{\"v\":{\"type\":\"integer\"},"
                     "\"kids\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/$defs/node\"},\"maxItems\":2}},"
                     "\"required\":[\"v\"],\"additionalProperties\":false}},\"$ref\":\"#/$defs/node\"}", &err);
    CHECK_MSG(g != NULL, "%s", err.msg);
    ACCEPTS(g, "{\"v\":1,\"kids\":[{\"v\":2},{\"v\":3,\"kids\":[]}]}");
    REFUSES(g, "{\"v\":1,\"kids\":[{\"v\":2},{\"v\":3},{\"v\":4}]}");
    grammar_free(g);

    g = compile_text("{\"anyOf\":[{\"type\":\"object\",\"properties\":{\"x\":{\"type\":\"integer\"}},\"required\":[\"x\"]},"
                     "{\"type\":\"array\",\"items\":{\"type\":\"string\"},\"minItems\":1}]}", &err);
    ACCEPTS(g, "{\"x\":5}");
    ACCEPTS(g, "[\"a\",\"b\"]");
    REFUSES(g, "[]");
    grammar_free(g);

    g = grammar_json_object(&err);
    ACCEPTS(g, "{\"x\":[1,{\"y\":null}],\"z\":\"q\",\"w\":-1.5}");
    ACCEPTS(g, "{}");
    REFUSES(g, "[1]");
    REFUSES(g, "\"x\"");
    grammar_free(g);

    json_t *tools = json_loads("[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"parameters\":"
                               "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}},\"required\":"
                               "[\"city\"]}}},{\"type\":\"function\",\"function\":{\"name\":\"get_time\"}}]", 0, NULL);
    g = grammar_tool_call(tools, NULL, &err);
    CHECK_MSG(g != NULL, "%s", err.msg);
    ACCEPTS(g, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\":\"Paris\"}}\n</tool_call>");
    ACCEPTS(g, "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>");
    REFUSES(g, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {}}\n</tool_call>");
    REFUSES(g, "<tool_call>\n{\"name\": \"other\", \"arguments\": {}}\n</tool_call>");
    grammar_free(g);
    g = grammar_tool_call(tools, "get_time", &err);
    ACCEPTS(g, "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {\"a\":1}}\n</tool_call>");
    REFUSES(g, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\":\"Paris\"}}\n</tool_call>");
    grammar_free(g);
    CHECK(grammar_tool_call(tools, "nope", &err) == NULL && strstr(err.msg, "nope"));
    json_decref(tools);
}

/* Every prefix a number grammar takes can still be completed: it may end
 * there or some byte may follow (a dead end would leave the generation
 * with no allowed token). Walks all prefixes of up to `left` more bytes. */
static int dead_ends(const grammar *g, const gstate *s, int left, char *buf, int len) {
    static const char alphabet[] = "-0123456789.";
    bool can_go = gstate_can_end(g, s);
    int dead = 0;
    for (const char *c = alphabet; *c; c++) {
        gstate t;
        gstate_copy(&t, s);
        if (!gstate_step(g, &t, *c)) continue;
        can_go = true;
        buf[len] = *c;
        if (left > 1) dead += dead_ends(g, &t, left - 1, buf, len + 1);
    }
    if (!can_go && dead++ == 0) fprintf(stderr, "dead end after '%.*s'\n", len, buf);
    return dead;
}

static void test_number_dead_ends(void) {
    static const char *const ranges[] = {
        "\"integer\",\"minimum\":0,\"maximum\":100", "\"integer\",\"minimum\":-5,\"maximum\":5",
        "\"number\",\"minimum\":0.25,\"maximum\":0.75", "\"number\",\"exclusiveMinimum\":0,\"maximum\":1",
        "\"integer\",\"minimum\":-50,\"maximum\":-10", "\"integer\",\"exclusiveMinimum\":7,\"exclusiveMaximum\":12",
        "\"number\",\"minimum\":1000,\"maximum\":1001", "\"number\",\"minimum\":-0.5,\"maximum\":0",
        "\"integer\",\"minimum\":0", "\"number\",\"maximum\":-3.5"};
    for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++) {
        char text[200], buf[16];
        snprintf(text, sizeof text, "{\"type\":%s}", ranges[i]);
        qvl_error err = {0};
        grammar *g = compile_text(text, &err);
        CHECK_MSG(g != NULL, "%s", err.msg);
        if (!g) continue;
        gstate s;
        gstate_init(g, &s);
        CHECK_MSG(dead_ends(g, &s, 6, buf, 0) == 0, "%s", text);
        grammar_free(g);
    }
}

/* Each schema must be refused with a message containing `needle`. */
static void test_refused(void) {
    static const char *const cases[][2] = {
        {"{\"type\":\"string\",\"pattern\":\"^a\"}", "'pattern' is not supported"},
        {"{\"oneOf\":[{\"type\":\"string\"}]}", "'oneOf'"},
        {"{\"type\":\"string\",\"format\":\"email\"}", "format 'email'"},
        {"{\"type\":\"string\",\"minLength\":3,\"maxLength\":2}", "minLength exceeds maxLength"},
        {"{\"type\":\"array\",\"minItems\":3,\"maxItems\":1}", "minItems"},
        {"{\"type\":\"integer\",\"minimum\":5,\"maximum\":4}", "no integer"},
        {"{\"type\":\"number\",\"exclusiveMinimum\":1,\"exclusiveMaximum\":1}", "no number"},
        {"{\"type\":\"thing\"}", "unknown type"},
        {"{\"type\":\"number\",\"exclusiveMinimum\":0,\"exclusiveMaximum\":1e-10}", "9 decimals"},
        {"{\"$ref\":\"http://example.com/s.json\"}", "not local"},
        {"{\"$ref\":\"#/$defs/missing\"}", "points to nothing"},
        {"{\"properties\":{\"a\":{\"type\":\"string\",\"minLength\":-1}}}", "#/properties/a"},
        {"{\"type\":\"array\",\"prefixItems\":[{}]}", "'prefixItems'"},
        {"{\"enum\":[]}", "'enum'"},
        {"{\"type\":\"string\",\"enum\":[1,2]}", "allows no value"},
        {"false", "allows nothing"},
        {"{\"allOf\":[{},{}]}", "'allOf'"},
        {"[1]", "must be an object"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        qvl_error err = {0};
        grammar *g = compile_text(cases[i][0], &err);
        CHECK_MSG(g == NULL && err.code == QVL_E_BAD_INPUT && strstr(err.msg, cases[i][1]),
                  "%s -> '%s' (wanted '%s')", cases[i][0], err.msg, cases[i][1]);
        grammar_free(g);
    }
    /* nesting beyond the limit */
    char deep[4096] = "";
    for (int i = 0; i < 80; i++) strcat(deep, "{\"type\":\"array\",\"items\":");
    strcat(deep, "{}");
    for (int i = 0; i < 80; i++) strcat(deep, "}");
    qvl_error err = {0};
    CHECK(compile_text(deep, &err) == NULL && strstr(err.msg, "nested"));
}

/* ---- the mask over the real vocabulary ------------------------------------------------ */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static const int32_t STOPS[] = {151645, 151643};

/* The mask by brute force: every ordinary token's bytes stepped from s. */
static int brute_mask_diff(const grammar *g, const tokenizer *tk, const gstate *s, const uint64_t *mask) {
    int diffs = 0;
    for (int32_t id = 0; id < tokenizer_vocab_size(tk); id++) {
        bool want;
        if (id == STOPS[0] || id == STOPS[1]) {
            want = gstate_can_end(g, s);
        } else {
            size_t len = 0;
            const char *p = tokenizer_id_to_piece(tk, id, &len);
            gstate t;
            gstate_copy(&t, s);
            want = p && len && !tokenizer_is_special(tk, id) && gstate_step_bytes(g, &t, p, len);
        }
        bool got = (mask[id / 64] >> (id % 64)) & 1;
        if (want != got && diffs++ < 3) {
            size_t len = 0;
            const char *p = tokenizer_id_to_piece(tk, id, &len);
            fprintf(stderr, "token %d '%.*s': mask says %d, bytes say %d\n", id, (int)len, p ? p : "", got, want);
        }
    }
    return diffs;
}

/* A random allowed token; every 4th step prefers one that closes something
 * (quote, bracket) so walks end in reasonable time. */
static int32_t pick(const tokenizer *tk, const uint64_t *mask, int n_words, int n_allowed) {
    int target = (int)(rnd() % (uint64_t)n_allowed);
    int32_t chosen = -1;
    bool prefer_close = rnd() % 4 == 0;
    for (int w = 0, seen = 0; w < n_words; w++) {
        uint64_t bits = mask[w];
        while (bits) {
            int32_t id = w * 64 + __builtin_ctzll(bits);
            bits &= bits - 1;
            if (prefer_close) {
                size_t len;
                const char *p = tokenizer_id_to_piece(tk, id, &len);
                if (id == STOPS[0] || (p && len && strchr("\"]}", p[len - 1]) && memchr(p, '"', len) == p + len - 1))
                    return id;
            }
            if (seen++ == target) chosen = id;
        }
    }
    return chosen;
}

typedef struct walk_case {
    const char *schema;
    const char *check;   /* a JSON pointer-ish field to look at, see check_walk */
} walk_case;

static void check_output(const char *schema, const char *out) {
    json_error_t je;
    json_t *v = json_loads(out, JSON_DECODE_ANY, &je);
    CHECK_MSG(v != NULL, "schema %s: output does not parse: %s (%s)", schema, out, je.text);
    json_decref(v);
}

static void test_mask(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s/tokenizer/tokenizer.json", testdata_dir());
    qvl_error err = {0};
    tokenizer *tk = tokenizer_load_json(path, &err);
    CHECK_MSG(tk != NULL, "%s", err.msg);
    if (!tk) return;
    vocab_index *vx = vocab_index_build(tk, &err);
    CHECK_MSG(vx != NULL, "%s", err.msg);
    int n_words = (vocab_index_size(vx) + 63) / 64;
    static const char *const schemas[] = {
        "{\"type\":\"object\",\"properties\":{\"brand\":{\"type\":\"string\",\"maxLength\":12},\"size\":{\"enum\":"
        "[\"S\",\"M\",\"L\"]},\"price\":{\"type\":\"number\",\"minimum\":0,\"maximum\":999.99},\"wash\":{\"type\":"
        "\"array\",\"items\":{\"type\":\"string\",\"maxLength\":6},\"maxItems\":3}},\"required\":[\"brand\",\"size\"],"
        "\"additionalProperties\":false}",
        "{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{\"n\":{\"type\":\"integer\",\"minimum\":"
        "-5,\"maximum\":5},\"d\":{\"type\":\"string\",\"format\":\"date\"},\"ok\":{\"type\":\"boolean\"}},\"required\":"
        "[\"n\",\"d\",\"ok\"]},\"minItems\":1,\"maxItems\":3}",
        "{\"type\":\"string\",\"minLength\":2,\"maxLength\":5}",
        NULL,   /* json_object mode */
    };
    /* jump-forward: the bytes allowed one way only, cut back to whole characters */
    static const char *const forced[][2] = {
        {"{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"}},\"required\":[\"name\"]}",
         "{\"name\":\""},
        {"{\"enum\":[\"\xe4\xb8\xad\xe6\x96\x87\",\"\xe4\xb8\xad\xe5\x9b\xbd\"]}", "\"\xe4\xb8\xad"},
        {"{\"enum\":[\"\xe4\xb8\xad\",\"\xe4\xb8\xae\"]}", "\""},
        {"{\"type\":\"integer\"}", ""},
    };
    for (size_t k = 0; k < sizeof forced / sizeof forced[0]; k++) {
        grammar *g = compile_text(forced[k][0], &err);
        token_matcher *tm = g ? token_matcher_new(g, vx, STOPS, 2, &err) : NULL;
        char buf[64];
        int n = tm ? token_matcher_forced_bytes(tm, buf, sizeof buf) : -1;
        CHECK_MSG(n == (int)strlen(forced[k][1]) && !memcmp(buf, forced[k][1], (size_t)n), "%s: %d bytes", forced[k][0], n);
        token_matcher_free(tm);
        grammar_free(g);
    }

    int brute_checked = 0, walks = 0;
    for (size_t k = 0; k < sizeof schemas / sizeof schemas[0]; k++) {
        grammar *g = schemas[k] ? compile_text(schemas[k], &err) : grammar_json_object(&err);
        CHECK_MSG(g != NULL, "%s", err.msg);
        if (!g) continue;
        for (int w = 0; w < 12; w++) {
            token_matcher *tm = token_matcher_new(g, vx, STOPS, 2, &err);
            gstate shadow;   /* the same walk, byte by byte, for the brute-force check */
            gstate_init(g, &shadow);
            char out[8192];
            size_t len = 0;
            bool ended = false;
            for (int step = 0; step < 400 && !ended; step++) {
                int n_allowed;
                int32_t only;
                const uint64_t *mask = token_matcher_mask(tm, &n_allowed, &only);
                if (w < 2 && step % 3 == 0) {
                    CHECK_EQ_INT(brute_mask_diff(g, tk, &shadow, mask), 0);
                    brute_checked++;
                }
                CHECK(n_allowed > 0);
                if (n_allowed == 0) break;
                int32_t id = pick(tk, mask, n_words, n_allowed);
                CHECK(n_allowed != 1 || id == only);
                CHECK_EQ_INT(token_matcher_accept(tm, id), 0);
                if (id == STOPS[0] || id == STOPS[1]) {
                    ended = true;
                    break;
                }
                size_t plen;
                const char *p = tokenizer_id_to_piece(tk, id, &plen);
                CHECK(gstate_step_bytes(g, &shadow, p, plen));
                if (len + plen < sizeof out) memcpy(out + len, p, plen), len += plen;
            }
            out[len] = 0;
            CHECK_MSG(ended || token_matcher_finished(tm), "walk %d of schema %zu did not end: %s", w, k, out);
            if (ended || token_matcher_finished(tm)) check_output(schemas[k] ? schemas[k] : "json_object", out);
            walks++;
            token_matcher_free(tm);
        }
        grammar_free(g);
    }
    fprintf(stderr, "%d random walks, %d masks checked against brute force\n", walks, brute_checked);
    vocab_index_free(vx);
    tokenizer_free(tk);
}

/* A $ref loop without content, an anyOf of itself: no hang, no token allowed. */
static void test_hostile(void) {
    static const char *const loops[] = {"{\"$ref\":\"#\"}", "{\"anyOf\":[{\"$ref\":\"#\"}]}",
                                        "{\"$defs\":{\"a\":{\"$ref\":\"#/$defs/b\"},\"b\":{\"$ref\":\"#/$defs/a\"}},"
                                        "\"$ref\":\"#/$defs/a\"}"};
    for (size_t i = 0; i < sizeof loops / sizeof loops[0]; i++) {
        qvl_error err = {0};
        grammar *g = compile_text(loops[i], &err);
        if (g) {
            REFUSES(g, "{}");
            REFUSES(g, "1");
        } else {
            CHECK(err.code == QVL_E_BAD_INPUT);
        }
        grammar_free(g);
    }
    /* anyOf of 200 alternatives that each are the whole schema again: refusing
     * a byte must not try 200^depth paths */
    char wide[8192] = "{\"anyOf\":[";
    for (int i = 0; i < 200; i++) strcat(wide, i ? ",{\"$ref\":\"#\"}" : "{\"$ref\":\"#\"}");
    strcat(wide, ",{\"type\":\"integer\"}]}");
    qvl_error werr = {0};
    grammar *w = compile_text(wide, &werr);
    CHECK_MSG(w != NULL, "%s", werr.msg);
    if (w) {
        REFUSES(w, "x");
        REFUSES(w, "{}");
        grammar_free(w);
    }

    /* json_object nesting stops at the depth limit instead of overflowing */
    qvl_error err = {0};
    grammar *g = grammar_json_object(&err);
    gstate s;
    gstate_init(g, &s);
    CHECK(gstate_step_bytes(g, &s, "{\"a\":", 5));
    int opened = 0;
    while (opened < 100 && gstate_step(g, &s, '[')) opened++;
    CHECK(opened > 5 && opened < GSTATE_MAX_DEPTH);
    grammar_free(g);
}

int main(void) {
    test_objects_and_numbers();
    test_strings();
    test_any_of_refs_modes();
    test_refused();
    test_number_dead_ends();
    test_hostile();
    test_mask();
    return check_summary();
}
