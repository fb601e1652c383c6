/* fuzz_schema.c - libFuzzer target: the bytes before the first NUL as a
 * JSON Schema through the compiler; if it compiles, the bytes after it are
 * fed to its automaton one by one, and at a few of the states reached the
 * token mask over the real vocabulary is computed and its tokens accepted. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "grammar/grammar_state.h"
#include "grammar/json_schema.h"
#include "grammar/token_mask.h"

static vocab_index *vx;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    qvl_error err;
    if (!vx) {
        vx = vocab_index_build(fuzz_tokenizer(), &err);
        if (!vx) abort();   /* setup failure, not a finding */
    }
    const uint8_t *nul = memchr(data, 0, size);
    size_t schema_len = nul ? (size_t)(nul - data) : size;
    json_t *schema = json_loadb((const char *)data, schema_len, JSON_DECODE_ANY, NULL);
    grammar *g = schema ? grammar_from_schema(schema, &err) : NULL;
    json_decref(schema);
    if (!g) return 0;
    gstate s;
    gstate_init(g, &s);
    const uint8_t *out = nul ? nul + 1 : data + size;
    for (const uint8_t *p = out; p < data + size; p++) {
        gstate t;
        gstate_copy(&t, &s);
        if (gstate_step(g, &t, *p)) gstate_copy(&s, &t);
        gstate_can_end(g, &s);
    }
    int32_t stop = 151645;
    token_matcher *tm = token_matcher_new(g, vx, &stop, 1, &err);
    for (int k = 0; tm && k < 8; k++) {
        int n;
        int32_t only;
        const uint64_t *mask = token_matcher_mask(tm, &n, &only);
        int32_t pick = -1;
        for (int w = 0; w < (vocab_index_size(vx) + 63) / 64 && pick < 0; w++)
            if (mask[w]) pick = w * 64 + __builtin_ctzll(mask[w]);
        if (pick < 0 || token_matcher_accept(tm, pick) != 0) break;
    }
    token_matcher_free(tm);
    grammar_free(g);
    return 0;
}
