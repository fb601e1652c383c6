/* test_generate.c - the sampler on hand-made logits, and the generation loop
 * on the tiny model: stop strings (cut exactly, never emitted), loop
 * detection, cancellation, max tokens, seeds; constrained answers (a JSON
 * Schema, a forced tool call) that parse whatever the seed, and report an
 * answer cut by max_tokens as incomplete. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "check.h"
#include "tiny_model.h"
#include "generate/generate.h"
#include "generate/sampler.h"
#include "grammar/json_schema.h"
#include "grammar/tool_grammar.h"
#include "load/model_load.h"

#define V 1000

static void fill(float *l) {
    for (int i = 0; i < V; i++) l[i] = -10.0f + (float)(i % 7) * 0.01f;
    l[42] = 5.0f;   /* clear winner */
    l[7] = 4.9f;    /* close second */
    l[500] = 4.0f;
}

static void sampler_tests(void) {
    float l[V];
    sampler s;
    sampling_params p = sampling_defaults();
    p.temperature = 0;
    CHECK(sampler_init(&s, &p, V) == 0);
    fill(l);
    CHECK_EQ_INT(sampler_sample(&s, l), 42);
    sampler_free(&s);

    /* top_k = 1 is greedy at any temperature */
    p = sampling_defaults();
    p.top_k = 1;
    p.temperature = 5;
    sampler_init(&s, &p, V);
    for (int k = 0; k < 20; k++) {
        fill(l);
        CHECK_EQ_INT(sampler_sample(&s, l), 42);
    }
    sampler_free(&s);

    /* same seed, same draws; draws stay inside top_k */
    int a[50], b[50];
    for (int run = 0; run < 2; run++) {
        p = sampling_defaults();
        p.temperature = 1.5f;
        p.top_k = 3;
        p.top_p = 1.0f;
        p.seed = 1234;
        sampler_init(&s, &p, V);
        for (int k = 0; k < 50; k++) {
            fill(l);
            (run ? b : a)[k] = sampler_sample(&s, l);
        }
        sampler_free(&s);
    }
    int inside = 1, varied = 0;
    for (int k = 0; k < 50; k++) {
        inside &= a[k] == 42 || a[k] == 7 || a[k] == 500;
        varied |= a[k] != a[0];
    }
    CHECK(!memcmp(a, b, sizeof a));
    CHECK(inside);
    CHECK(varied);

    /* top_p small keeps only the best; min_p drops the far third */
    p = sampling_defaults();
    p.temperature = 1;
    p.top_k = 0;
    p.top_p = 0.01f;
    sampler_init(&s, &p, V);
    for (int k = 0; k < 20; k++) {
        fill(l);
        CHECK_EQ_INT(sampler_sample(&s, l), 42);
    }
    sampler_free(&s);
    p.top_p = 1;
    p.min_p = 0.5f;   /* p(500)/p(42) = e^-1 < 0.5: never drawn; p(7)/p(42) = e^-0.1 */
    p.top_k = 3;
    sampler_init(&s, &p, V);
    int saw7 = 0, saw500 = 0;
    for (int k = 0; k < 200; k++) {
        fill(l);
        int id = sampler_sample(&s, l);
        saw7 |= id == 7;
        saw500 |= id == 500;
    }
    CHECK(saw7 && !saw500);
    sampler_free(&s);

    /* presence penalty: after drawing 42 once, 7 wins */
    p = sampling_defaults();
    p.temperature = 0;
    p.presence_penalty = 0.5f;
    sampler_init(&s, &p, V);
    fill(l);
    CHECK_EQ_INT(sampler_sample(&s, l), 42);
    fill(l);
    CHECK_EQ_INT(sampler_sample(&s, l), 7);
    sampler_free(&s);

    /* sampling among a list equals sampling with every other logit at -inf */
    for (int run = 0; run < 3; run++) {
        sampler s2;
        p = sampling_defaults();
        p.temperature = run == 0 ? 0 : 1.3f;
        p.top_k = run == 2 ? 0 : 5;
        p.presence_penalty = 0.5f;
        p.seed = 99;
        sampler_init(&s, &p, V);
        sampler_init(&s2, &p, V);
        int32_t ids[] = {3, 7, 42, 500, 501, 777};
        float scratch[6];
        for (int k = 0; k < 40; k++) {
            fill(l);
            int32_t a1 = sampler_sample_among(&s, l, ids, 6, scratch);
            for (int i = 0, j = 0; i < V; i++) {
                if (j < 6 && ids[j] == i) j++;
                else l[i] = -INFINITY;
            }
            CHECK_EQ_INT(a1, sampler_sample(&s2, l));
        }
        sampler_free(&s), sampler_free(&s2);
    }

    /* repetition penalty applies to prompt tokens too (HF semantics) */
    p.presence_penalty = 0;
    p.repetition_penalty = 1.1f;
    sampler_init(&s, &p, V);
    int32_t prompt[] = {42};
    sampler_add_prompt(&s, prompt, 1);
    fill(l);
    CHECK_EQ_INT(sampler_sample(&s, l), 7);   /* 5.0/1.1 < 4.9 */
    sampler_free(&s);
}

typedef struct collect {
    char buf[8192];
    size_t len;
    int calls, cancel_after;
} collect;

static int on_text(void *user, const char *t, size_t n) {
    collect *c = user;
    if (c->len + n < sizeof c->buf) {
        memcpy(c->buf + c->len, t, n);
        c->len += n;
        c->buf[c->len] = 0;
    }
    c->calls++;
    return c->cancel_after && c->calls >= c->cancel_after;
}

static void run(const qvl_model *m, const gen_params *gp, collect *c, gen_result *r) {
    int32_t ids[] = {151644, 872, 198, 13048, 0, 151645, 198, 151644, 77091, 198};
    gen_session s;
    qvl_error err = {0};
    CHECK(gen_session_init(&s, m, 512, &err) == 0);
    gen_prompt pr = {.ids = ids, .n = 10};
    memset(c->buf, 0, sizeof c->buf);
    c->len = 0;
    c->calls = 0;
    CHECK_MSG(generate(m, &s, &pr, gp, NULL, on_text, c, NULL, r, &err) == 0, "%s", err.msg);
    gen_session_free(&s);
}

static void generate_tests(const qvl_model *m) {
    gen_params gp = gen_params_defaults(m);
    gp.sampling.temperature = 0;
    gp.max_tokens = 24;
    gp.detect_loops = false;
    gp.ignore_eos = true;
    collect c = {0};
    gen_result r;
    run(m, &gp, &c, &r);
    CHECK_EQ_INT(r.finish, FINISH_LENGTH);
    CHECK_EQ_INT(r.n_generated, 24);
    CHECK(r.text_len == c.len && !memcmp(r.text, c.buf, c.len));   /* streamed == final */
    char full[8192];
    snprintf(full, sizeof full, "%s", r.text);
    gen_result_free(&r);

    /* a stop string from the middle of that answer: text ends right before it */
    size_t L = strlen(full);
    CHECK(L > 8);
    char stop[8];
    memcpy(stop, full + L / 2, 3);
    stop[3] = 0;
    const char *stops[] = {"never-appears", stop};
    gp.stop = stops;
    gp.n_stop = 2;
    run(m, &gp, &c, &r);
    char *first = strstr(full, stop);
    CHECK_EQ_INT(r.finish, FINISH_STOP);
    CHECK_EQ_INT(r.text_len, (size_t)(first - full));
    CHECK(!strncmp(r.text, full, r.text_len));
    CHECK_MSG(c.len == r.text_len && strstr(c.buf, stop) == NULL, "streamed text must not contain the stop string");
    gen_result_free(&r);
    gp.n_stop = 0;

    /* loops: the tiny model repeats itself under greedy decoding */
    gp.max_tokens = 400;
    gp.detect_loops = true;
    run(m, &gp, &c, &r);
    CHECK_EQ_INT(r.finish, FINISH_LOOP);
    CHECK(r.n_generated < 400);
    gen_result_free(&r);

    /* cancellation from the callback */
    gp.detect_loops = false;
    c.cancel_after = 2;
    run(m, &gp, &c, &r);
    CHECK_EQ_INT(r.finish, FINISH_CANCELLED);
    CHECK(r.n_generated < 10);
    c.cancel_after = 0;
    gen_result_free(&r);

    /* sampled generation: the same seed twice gives the same text */
    gp.sampling = sampling_defaults();
    gp.sampling.seed = 7;
    gp.max_tokens = 16;
    run(m, &gp, &c, &r);
    char a[8192];
    snprintf(a, sizeof a, "%s", r.text);
    gen_result_free(&r);
    run(m, &gp, &c, &r);
    CHECK_STR(a, r.text);
    gen_result_free(&r);
}

/* A follow-up reuses the cached prefix and gives the same logits as a fresh
 * session computing everything. */
static void prefix_reuse_tests(const qvl_model *m) {
    int32_t turn1[] = {151644, 872, 198, 13048, 0, 151645, 198, 151644, 77091, 198};
    int32_t turn2[] = {151644, 872, 198, 13048, 0, 151645, 198, 151644, 77091, 198, 9707, 151645, 198,
                       151644, 872, 198, 3838, 30, 151645, 198, 151644, 77091, 198};
    qvl_error err = {0};
    gen_session warm, cold;
    CHECK(gen_session_init(&warm, m, 256, &err) == 0 && gen_session_init(&cold, m, 256, &err) == 0);
    gen_params gp = gen_params_defaults(m);
    gp.sampling.temperature = 0;
    gp.max_tokens = 6;
    gp.ignore_eos = true;
    gp.detect_loops = false;
    gen_result r1, r2, r3;
    gen_prompt p1 = {.ids = turn1, .n = 10}, p2 = {.ids = turn2, .n = 23};
    CHECK(generate(m, &warm, &p1, &gp, NULL, NULL, NULL, NULL, &r1, &err) == 0);
    CHECK_EQ_INT(r1.n_cached, 0);
    CHECK(generate(m, &warm, &p2, &gp, NULL, NULL, NULL, NULL, &r2, &err) == 0);
    CHECK_MSG(r2.n_cached >= 10, "follow-up reused %d tokens", r2.n_cached);
    CHECK(generate(m, &cold, &p2, &gp, NULL, NULL, NULL, NULL, &r3, &err) == 0);
    CHECK_EQ_INT(r3.n_cached, 0);
    CHECK_STR(r2.text, r3.text);   /* greedy: same answer whether reused or recomputed */
    /* asking the same thing again reuses everything but the last token */
    gen_result r4;
    CHECK(generate(m, &cold, &p2, &gp, NULL, NULL, NULL, NULL, &r4, &err) == 0);
    CHECK_EQ_INT(r4.n_cached, 22);
    CHECK_STR(r4.text, r3.text);
    gen_result_free(&r1), gen_result_free(&r2), gen_result_free(&r3), gen_result_free(&r4);
    gen_session_free(&warm);
    gen_session_free(&cold);
}

static void constrained_tests(const qvl_model *m) {
    qvl_error err = {0};
    vocab_index *vx = vocab_index_build(m->tok, &err);
    CHECK_MSG(vx != NULL, "%s", err.msg);
    json_t *schema = json_loads("{\"type\":\"object\",\"properties\":{\"item\":{\"type\":\"string\",\"maxLength\":"
                                "6},\"n\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":9},\"tags\":{\"type\":"
                                "\"array\",\"items\":{\"enum\":[\"a\",\"b\"]},\"maxItems\":2}},\"required\":[\"item\","
                                "\"n\",\"tags\"]}", 0, NULL);
    grammar *g = grammar_from_schema(schema, &err);
    CHECK_MSG(g != NULL, "%s", err.msg);
    gen_params gp = gen_params_defaults(m);
    gp.sampling.temperature = 1.0f;
    gp.max_tokens = 200;
    gp.constraint = g;
    gp.vocab = vx;
    int parsed = 0, forced = 0;
    for (int seed = 1; seed <= 10; seed++) {
        gp.sampling.seed = (uint64_t)seed;
        collect c = {0};
        gen_result r;
        run(m, &gp, &c, &r);
        json_t *v = json_loads(r.text ? r.text : "", 0, NULL);
        bool ok = v && json_is_string(json_object_get(v, "item")) &&
                  json_integer_value(json_object_get(v, "n")) >= 1 && json_integer_value(json_object_get(v, "n")) <= 9 &&
                  json_array_size(json_object_get(v, "tags")) <= 2;
        CHECK_MSG(ok && r.finish == FINISH_STOP && !r.incomplete, "seed %d: '%s' finish %d", seed, r.text, r.finish);
        CHECK(r.text_len == c.len && !memcmp(r.text, c.buf, c.len));
        parsed += ok;
        forced += r.n_forced;
        json_decref(v);
        gen_result_free(&r);
    }
    CHECK_EQ_INT(parsed, 10);
    CHECK(forced > 0);   /* after "item":"..." the key "n" is the only way on: single tokens are forced */

    /* max_tokens inside the JSON: "length", and the result says it is incomplete */
    gp.max_tokens = 3;
    collect c = {0};
    gen_result r;
    run(m, &gp, &c, &r);
    CHECK_EQ_INT(r.finish, FINISH_LENGTH);
    CHECK(r.incomplete);
    gen_result_free(&r);

    /* ignore_eos cannot run past the end of the value */
    gp.max_tokens = 200;
    gp.ignore_eos = true;
    run(m, &gp, &c, &r);
    CHECK(r.finish == FINISH_STOP && !r.incomplete);
    gen_result_free(&r);
    grammar_free(g);
    json_decref(schema);

    json_t *tools = json_loads("[{\"type\":\"function\",\"function\":{\"name\":\"lookup\",\"parameters\":{\"type\":"
                               "\"object\",\"properties\":{\"q\":{\"type\":\"string\",\"maxLength\":5}},\"required\":"
                               "[\"q\"]}}}]", 0, NULL);
    g = grammar_tool_call(tools, "lookup", &err);
    gp.constraint = g;
    gp.ignore_eos = false;
    run(m, &gp, &c, &r);
    const char *head = "<tool_call>\n{\"name\": \"lookup\", \"arguments\": {\"q\":\"";
    CHECK_MSG(r.text && !strncmp(r.text, head, strlen(head)) && strstr(r.text, "}}\n</tool_call>"), "%s", r.text);
    gen_result_free(&r);
    grammar_free(g);
    json_decref(tools);
    vocab_index_free(vx);
}

int main(void) {
    sampler_tests();
    char dir[64];
    qvl_error err = {0};
    tiny_model_make(dir, sizeof dir, "gen");
    model_load_opts o = {.quant = "q8_0", .threads = 1};
    qvl_model *m = model_load(dir, &o, &err);
    CHECK_MSG(m != NULL, "%s", err.msg);
    if (m) generate_tests(m);
    if (m) prefix_reuse_tests(m);
    if (m) constrained_tests(m);
    model_free(m);
    tiny_model_remove(dir);
    return check_summary();
}
