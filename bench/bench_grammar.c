/* bench_grammar.c - `bench grammar MODEL`: what a JSON Schema costs the
 * generation (issue 18).
 *
 * Decodes a tag-extraction answer through generate() twice per run, once
 * free (ignore_eos, as many tokens as the constrained answer had) and once
 * constrained by TAG_SCHEMA, at temperature 1 with the same seed, and
 * prints the medians:
 *   decode_tok_s_unconstrained, decode_tok_s_json_schema, json_schema_ratio
 *   mask_us_per_token      allowed-token mask time per generated token
 *   masks_cached_share     share of steps whose mask came from the cache
 *   forced_share           share of tokens taken without sampling
 *   json_tokens            tokens of the constrained answer
 *   schema_compile_ms      compiling TAG_SCHEMA (median of 200)
 *   vocab_index_ms         indexing the tokenizer (once per server start)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "bench.h"
#include "generate/generate.h"
#include "grammar/json_schema.h"
#include "grammar/token_mask.h"

/* A clothing tag, the example, with the bounds such forms have. */
static const char TAG_SCHEMA[] =
    "{\"type\":\"object\",\"properties\":{"
    "\"brand\":{\"type\":\"string\",\"maxLength\":40},"
    "\"item_number\":{\"type\":\"string\",\"maxLength\":24},"
    "\"size\":{\"enum\":[\"XS\",\"S\",\"M\",\"L\",\"XL\",\"XXL\"]},"
    "\"price\":{\"type\":\"number\",\"minimum\":0,\"maximum\":100000},"
    "\"composition\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{"
    "\"fiber\":{\"type\":\"string\",\"maxLength\":24},\"percent\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":100}},"
    "\"required\":[\"fiber\",\"percent\"],\"additionalProperties\":false},\"maxItems\":4},"
    "\"washing\":{\"type\":\"array\",\"items\":{\"type\":\"string\",\"maxLength\":32},\"maxItems\":4}},"
    "\"required\":[\"brand\",\"item_number\",\"size\",\"price\",\"composition\",\"washing\"],"
    "\"additionalProperties\":false}";

static const char PROMPT[] = "<|im_start|>user\nRead this clothing tag: brand, item number, size, price, "
                             "composition and washing instructions, as JSON.<|im_end|>\n<|im_start|>assistant\n";

/* Tokens per second of r's decode (after the first token). */
static double decode_rate(const gen_result *r) {
    return r->gen_ms > 0 && r->n_generated > 1 ? (r->n_generated - 1) / (r->gen_ms / 1e3) : 0;
}

int bench_grammar(const bench_opts *o) {
    qvl_error err = {0};
    model_load_opts lo = {.quant = o->quant, .threads = o->threads, .text_only = true, .no_pack = o->no_pack};
    qvl_model *m = model_load(o->model, &lo, &err);
    if (!m) {
        fprintf(stderr, "bench: %s\n", err.msg);
        return 1;
    }
    double t0 = bench_now_s();
    vocab_index *vx = vocab_index_build(m->tok, &err);
    printf("vocab_index_ms %.1f\n", (bench_now_s() - t0) * 1e3);
    json_t *schema = json_loads(TAG_SCHEMA, 0, NULL);
    double v[BENCH_MAX_RUNS], u[BENCH_MAX_RUNS], ratio[BENCH_MAX_RUNS], mask_us[BENCH_MAX_RUNS];
    double cached[BENCH_MAX_RUNS], forced[BENCH_MAX_RUNS], tokens[BENCH_MAX_RUNS], compile[200];
    grammar *g = NULL;
    for (int i = 0; i < 200; i++) {
        grammar_free(g);
        double ts = bench_now_s();
        g = grammar_from_schema(schema, &err);
        compile[i] = (bench_now_s() - ts) * 1e3;
    }
    int32_t *ids = NULL;
    size_t n_ids = 0;
    threadpool *tp = threadpool_create(o->threads);
    gen_session s = {0};
    int rc = !vx || !g || tokenizer_encode(m->tok, PROMPT, strlen(PROMPT), 0, &ids, &n_ids, &err) != 0 ||
             gen_session_init(&s, m, 4096, &err) != 0;   /* a failed init leaves s freed */
    if (rc) fprintf(stderr, "bench: %s\n", err.msg);
    else printf("schema_compile_ms %.4f\n", bench_median(compile, 200));
    gen_prompt pr = {.ids = ids, .n = (int)n_ids};
    int runs = 0;
    for (; rc == 0 && runs < o->runs; runs++) {
        gen_params gp = gen_params_defaults(m);
        gp.sampling.temperature = 1.0f;
        gp.sampling.seed = (uint64_t)runs + 1;
        gp.max_tokens = 2000;
        gp.constraint = g;
        gp.vocab = vx;
        gen_result c, f;
        if (generate(m, &s, &pr, &gp, tp, NULL, NULL, NULL, &c, &err) != 0) {
            fprintf(stderr, "bench: %s\n", err.msg);
            rc = 1;
            break;
        }
        gp.constraint = NULL;
        gp.ignore_eos = true;
        gp.detect_loops = false;
        gp.max_tokens = c.n_generated;
        if (generate(m, &s, &pr, &gp, tp, NULL, NULL, NULL, &f, &err) != 0) {
            fprintf(stderr, "bench: %s\n", err.msg);
            gen_result_free(&c);
            rc = 1;
            break;
        }
        v[runs] = decode_rate(&c);
        u[runs] = decode_rate(&f);
        ratio[runs] = u[runs] > 0 ? v[runs] / u[runs] : 0;
        mask_us[runs] = c.n_generated ? c.mask_ms * 1e3 / c.n_generated : 0;
        long steps = c.masks_computed + c.masks_cached;
        cached[runs] = steps ? (double)c.masks_cached / steps : 0;
        forced[runs] = c.n_generated ? (double)c.n_forced / c.n_generated : 0;
        tokens[runs] = c.n_generated;
        gen_result_free(&c), gen_result_free(&f);
    }
    if (rc == 0) {
        printf("decode_tok_s_unconstrained %.3f\n", bench_median(u, runs));
        printf("decode_tok_s_json_schema %.3f\n", bench_median(v, runs));
        printf("json_schema_ratio %.3f\n", bench_median(ratio, runs));
        printf("mask_us_per_token %.1f\n", bench_median(mask_us, runs));
        printf("masks_cached_share %.3f\n", bench_median(cached, runs));
        printf("forced_share %.3f\n", bench_median(forced, runs));
        printf("json_tokens %.0f\n", bench_median(tokens, runs));
    }
    gen_session_free(&s);
    free(ids);
    threadpool_free(tp);
    grammar_free(g);
    json_decref(schema);
    vocab_index_free(vx);
    model_free(m);
    return rc;
}
