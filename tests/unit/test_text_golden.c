/* test_text_golden.c - the text decoder against the independent reference
 * (../shared/testdata/golden/text): prompt ids from the prompt texts, last
 * position logits from the bf16 safetensors directory (vs the F16 golden) and
 * from the shipped GGUF files (vs the same-quantization goldens), greedy
 * tokens while the reference margin allows, and the fast path against our
 * own scalar reference. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "tiny_model.h"
#include "golden_util.h"
#include "generate/generate.h"
#include "load/model_load.h"

/* Tolerances: the golden README's (max 2e-2 same weights, 3e-2 quantized;
 * RMS 5e-3). With the GGUF files as stored we do the reference's arithmetic
 * (its activation quantization and its lane order), so there we also
 * require bit-identical logits (exact): a kernel change that moves a digit
 * shows here long before it leaves the tolerances. */
static void check_case(const qvl_model *m, threadpool *tp, const char *tcase, const char *quant, double max_tol,
                       double rms_tol, bool exact) {
    char path[1024];
    const char *td = testdata_dir();
    int n_ref = 0, vocab = m->cfg.text.vocab_size;
    snprintf(path, sizeof path, "%s/golden/text/%s/%s/prompt_ids.txt", td, tcase, quant);
    int32_t *ref_ids = golden_read_ids(path, &n_ref);
    CHECK_MSG(ref_ids && n_ref > 0, "cannot read %s", path);
    if (!ref_ids) return;

    /* 1. the prompt text tokenizes to the reference ids */
    snprintf(path, sizeof path, "%s/golden/text/%s/%s/prompt.txt", td, tcase, quant);
    FILE *f = fopen(path, "rb");
    char text[8192];
    size_t len = f ? fread(text, 1, sizeof text, f) : 0;
    if (f) fclose(f);
    int32_t *ids = NULL;
    size_t n = 0;
    qvl_error err = {0};
    CHECK(tokenizer_encode(m->tok, text, len, 0, &ids, &n, &err) == 0);
    CHECK_MSG((int)n == n_ref && !memcmp(ids, ref_ids, n * sizeof *ids), "%s/%s: prompt ids differ", tcase, quant);
    free(ids);

    /* 2. last-position logits */
    snprintf(path, sizeof path, "%s/golden/text/%s/%s/logits_last.f32", td, tcase, quant);
    float *ref = golden_read_f32(path, (size_t)vocab);
    CHECK_MSG(ref != NULL, "cannot read %s", path);
    float margins[16];
    snprintf(path, sizeof path, "%s/golden/text/%s/%s/generated_logits_top5.txt", td, tcase, quant);
    int n_margins = golden_read_margins(path, margins, 16);
    CHECK_EQ_INT(n_margins, 16);

    gen_session s;
    CHECK(gen_session_init(&s, m, 256, &err) == 0);
    gen_params gp = gen_params_defaults(m);
    gp.sampling.temperature = 0;
    gp.max_tokens = 16;
    gp.ignore_eos = true;
    gp.detect_loops = false;
    gen_prompt pr = {.ids = ref_ids, .n = n_ref};
    float *logits = malloc((size_t)vocab * sizeof *logits);
    int32_t *pos = malloc((size_t)n_ref * 3 * sizeof *pos);
    text_positions_1d(pos, n_ref, 0);
    text_batch b = {n_ref, ref_ids, pos, NULL, 0, m->cfg.image_token_id};
    CHECK(text_forward(&m->text, &s.kv, &b, logits, tp, &err) == 0);
    if (ref) {
        logit_diff d = golden_compare(logits, ref, vocab);
        fprintf(stderr, "%s %-6s %-5s max|d| %.4f rms %.5f argmax %d/%d (margin %.3f)\n", tcase, quant,
                m->weight_type, d.max_abs, d.rms, d.argmax_got, d.argmax_ref, margins[0]);
        CHECK_MSG(d.max_abs <= max_tol, "%s/%s: max abs diff %.4f > %.3f", tcase, quant, d.max_abs, max_tol);
        CHECK_MSG(d.rms <= rms_tol, "%s/%s: rms diff %.5f", tcase, quant, d.rms);
        CHECK_MSG(!exact || d.max_abs == 0, "%s/%s: not bit-identical to the reference", tcase, quant);
        if (margins[0] > 0.05) CHECK_EQ_INT(d.argmax_got, d.argmax_ref);
    }

    /* 3. greedy continuation, compared while the reference margin is clear */
    s.kv.n = 0;
    gen_result res;
    CHECK(generate(m, &s, &pr, &gp, tp, NULL, NULL, NULL, &res, &err) == 0);
    snprintf(path, sizeof path, "%s/golden/text/%s/%s/generated.txt", td, tcase, quant);
    int n_gen_ref = 0;
    int32_t *gen_ref = golden_read_ids(path, &n_gen_ref);
    /* The answer text round-trips through the tokenizer only approximately, so
     * compare the decoded text of the reference prefix instead of ids. */
    int agree = 0;
    while (agree < n_gen_ref && margins[agree] >= 0.02) agree++;
    char *ref_text = tokenizer_decode(m->tok, gen_ref, (size_t)agree, TOKENIZER_DECODE_SKIP_SPECIAL, NULL, &err);
    CHECK_MSG(ref_text && !strncmp(res.text, ref_text, strlen(ref_text)),
              "%s/%s: greedy text differs within the first %d confident steps", tcase, quant, agree);
    CHECK_EQ_INT(res.n_generated, 16);
    free(ref_text), free(gen_ref);
    gen_result_free(&res);
    gen_session_free(&s);
    free(logits), free(pos), free(ref), free(ref_ids);
}

/* The batched/threaded forward pass equals the plain reference. */
static void check_fast_vs_reference(const qvl_model *m, threadpool *tp) {
    int32_t ids[] = {151644, 872, 198, 3838, 374, 279, 6722, 315, 9625, 30, 151645, 198, 151644, 77091, 198};
    int n = 15, vocab = m->cfg.text.vocab_size;
    int32_t pos[45];
    text_positions_1d(pos, n, 0);
    float *a = malloc((size_t)vocab * sizeof *a), *b = malloc((size_t)vocab * sizeof *b);
    kv_cache k1, k2;
    qvl_error err = {0};
    kv_cache_init(&k1, &m->cfg.text, 32, &err);
    kv_cache_init(&k2, &m->cfg.text, 32, &err);
    /* fast path in two chunks (prefill + continuation) vs reference in one */
    text_batch b1 = {10, ids, pos, NULL, 0, 0}, b2 = {5, ids + 10, pos + 30, NULL, 0, 0}, ball = {n, ids, pos, NULL, 0, 0};
    CHECK(text_forward(&m->text, &k1, &b1, NULL, tp, &err) == 0);
    CHECK(text_forward(&m->text, &k1, &b2, a, tp, &err) == 0);
    CHECK(text_forward_ref(&m->text, &k2, &ball, b, &err) == 0);
    logit_diff d = golden_compare(a, b, vocab);
    fprintf(stderr, "fast vs reference (%s): max|d| %.2e\n", m->weight_type, d.max_abs);
    CHECK_MSG(d.max_abs < 1e-4, "fast path differs from the reference by %.2e", d.max_abs);
    CHECK_EQ_INT(k1.n, 15);
    kv_cache_free(&k1);
    kv_cache_free(&k2);
    free(a), free(b);
}

int main(void) {
    char model_dir[64], path[1024];
    qvl_error err = {0};
    tiny_model_make(model_dir, sizeof model_dir, "golden");
    threadpool *tp = threadpool_create(2);
    const char *cases[] = {"T1", "T2", "T3"};

    model_load_opts o = {.quant = "bf16", .threads = 2};
    qvl_model *m = model_load(model_dir, &o, &err);
    CHECK_MSG(m != NULL, "%s", err.msg);
    if (m) {
        for (int i = 0; i < 3; i++) check_case(m, tp, cases[i], "F16", 2e-2, 5e-3, false);
        check_fast_vs_reference(m, tp);
        model_free(m);
    }
    /* GGUF files twice: as stored (the row kernels, exact) and packed for
     * the VNNI kernels where the CPU has them (weight_pack.h: float
     * rounding differs, so the golden tolerances apply). */
    const char *quants[] = {"Q8_0", "Q4_K_M"};
    for (int q = 0; q < 2; q++)
        for (int packed = 0; packed < 2; packed++) {
            snprintf(path, sizeof path, "%s/gguf/tiny-%s.gguf", testdata_dir(), quants[q]);
            model_load_opts go = {.no_pack = !packed};
            m = model_load(path, &go, &err);
            CHECK_MSG(m != NULL, "%s", err.msg);
            if (!m) continue;
            fprintf(stderr, "%s, %s:\n", quants[q], packed ? "packed" : "as stored");
            for (int i = 0; i < 3; i++) check_case(m, tp, cases[i], quants[q], 3e-2, 5e-3, !packed);
            check_fast_vs_reference(m, tp);
            model_free(m);
        }
    threadpool_free(tp);
    tiny_model_remove(model_dir);
    return check_summary();
}
