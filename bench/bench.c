/* bench.c - the measuring program behind `make bench` (bench/run.sh).
 *
 *   bench tokenizer MODEL              tokenizer MB/s on mixed zh/en text, one core
 *   bench bandwidth [THREADS]          memory read GB/s (1 GiB buffer, best of 5)
 *   bench convert                      ns per value of the bulk conversions that
 *                                      loading runs (bf16->f32, f32->f16, f16->f32)
 *   bench text MODEL [options]         load time, decode and prefill tok/s, peak RSS
 *   bench vision MODEL [options]       vision encoder ms for one image (bench_vlm.c)
 *   bench vlm MODEL [options]          time to first token: image question, follow-up;
 *                                      peak RSS after one image question (bench_vlm.c)
 *   bench grammar MODEL [options]      decode tok/s with a JSON Schema vs free, mask time
 *                                      per token, schema compile time (bench_grammar.c)
 * options:
 *       --threads N    (default 2)   --runs R (default 5)
 *       --quant Q      quantize-on-load type for a Hugging Face directory
 *       --kernels K    force a kernel table (scalar, avx2, avxvnni, avx512, avx512bf16) to compare
 *       --pack no      text matrices as stored, not packed (weight_pack.h), to compare
 *   text:
 *       --decode N     tokens per decode run (default 32)
 *       --prefill P    prompt tokens per prefill run (default 512; 0 = skip)
 *       --prefill-runs R (default 3)
 *   vision, vlm:
 *       --mmproj P     vision GGUF of a GGUF text model
 *       --vision-quant V  none (default), q8_0 or auto, as `qvl --vision-quant`
 *       --image IMG    the image (required)
 *       --max-pixels N image detail (default: the model's)
 *       --ctx N        vlm session context (default 4096, as `qvl serve`)
 *       --answer-tokens N  vlm: then one fresh question answered with N tokens
 *                      (end of turn ignored), timed whole: answer_ms
 *       --budget S     stop after the run that passes S seconds (at least one
 *                      run; "runs" says how many were done)
 *
 * Prints "key value" lines (medians over the runs) for run.sh to collect;
 * exits non-zero with a message on stderr when something cannot be measured.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include "bench.h"
#include "engine/kernels.h"
#include "engine/threadpool.h"
#include "load/model_load.h"

double bench_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

bool bench_enough(const bench_opts *o, int done, double t0) {
    return done >= o->runs || (done >= 1 && o->budget_s > 0 && bench_now_s() - t0 >= o->budget_s);
}

bool bench_is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static uint64_t rng = 0x9E3779B97F4A7C15ULL;
static uint32_t rnd(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

/* ---- tokenizer ----------------------------------------------------------- */

/* Deterministic mixed text: English words, Chinese phrases, numbers, code-ish
 * punctuation and newlines, drawn at random so no cache sees repeats only. */
static char *mixed_text(size_t want, size_t *len) {
    static const char *en[] = {"the", "model", "answers", "questions", "about", "images", "and", "documents",
                               "quickly", "on", "a", "laptop", "CPU", "with", "quantized", "weights", "Hello",
                               "world", "performance", "memory", "bandwidth", "tokens", "per", "second", "it's",
                               "don't", "we'll", "JSON", "HTTP/1.1", "server"};
    static const char *zh[] = {"你好", "世界", "模型", "图片", "问题", "回答", "中文", "测试", "速度", "内存",
                               "我们", "今天", "天气", "很好", "大海", "一首", "短诗", "计算机", "视觉", "语言"};
    static const char *punct[] = {" ", " ", " ", ", ", ". ", "。", "，", "\n", "! ", "? ", " (", ") ", ": ", "\t"};
    char *buf = malloc(want + 64);
    size_t n = 0;
    while (n < want) {
        uint32_t r = rnd();
        const char *piece;
        char num[16];
        switch (r % 7) {
        case 0: case 1: case 2: piece = en[(r >> 3) % (sizeof en / sizeof *en)]; break;
        case 3: case 4: piece = zh[(r >> 3) % (sizeof zh / sizeof *zh)]; break;
        case 5: snprintf(num, sizeof num, "%u", (r >> 3) % 100000); piece = num; break;
        default: piece = punct[(r >> 3) % (sizeof punct / sizeof *punct)]; break;
        }
        size_t l = strlen(piece);
        memcpy(buf + n, piece, l);
        n += l;
        if (r % 3 == 0) buf[n++] = ' ';
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

static int bench_tokenizer(const char *model) {
    qvl_error err = {0};
    tokenizer *tk = model_load_tokenizer(model, &err);
    if (!tk) {
        fprintf(stderr, "bench: %s\n", err.msg);
        return 1;
    }
    size_t len;
    char *text = mixed_text(4u << 20, &len);
    double t[3];
    for (int r = 0; r < 3; r++) {
        int32_t *ids = NULL;
        size_t n = 0;
        double t0 = bench_now_s();
        if (tokenizer_encode(tk, text, len, 0, &ids, &n, &err) != 0) {
            fprintf(stderr, "bench: tokenizer: %s\n", err.msg);
            return 1;
        }
        t[r] = bench_now_s() - t0;
        free(ids);
    }
    printf("tokenizer_mb_s %.3f\n", len / 1e6 / bench_median(t, 3));
    free(text);
    tokenizer_free(tk);
    return 0;
}

/* ---- memory bandwidth ---------------------------------------------------- */

typedef struct bw_job {
    const uint64_t *buf;
    size_t n;
    uint64_t sink[64];
} bw_job;

/* Four independent xor chains so the loop is bound by loads, not latency. */
__attribute__((target("avx2"))) static void bw_worker(void *p, int ith, int nth) {
    bw_job *j = p;
    long lo, hi;
    threadpool_split((long)(j->n / 4), ith, nth, &lo, &hi);
    uint64_t a = 0, b = 0, c = 0, d = 0;
    for (long i = lo * 4; i < hi * 4; i += 4) a ^= j->buf[i], b ^= j->buf[i + 1], c ^= j->buf[i + 2], d ^= j->buf[i + 3];
    j->sink[ith % 64] = a ^ b ^ c ^ d;
}

static int bench_bandwidth(int threads) {
    size_t bytes = (size_t)1 << 30;
    bw_job j = {0};
    uint64_t *buf = malloc(bytes);
    if (!buf) {
        fprintf(stderr, "bench: cannot allocate 1 GiB for the bandwidth test\n");
        return 1;
    }
    for (size_t i = 0; i < bytes / 8; i++) buf[i] = i * 0x9E3779B97F4A7C15ULL;
    j.buf = buf;
    j.n = bytes / 8;
    threadpool *tp = threadpool_create(threads);
    double best = 0;
    for (int r = 0; r < 5; r++) {
        double t0 = bench_now_s();
        threadpool_run(tp, bw_worker, &j);
        double gbs = bytes / 1e9 / (bench_now_s() - t0);
        best = gbs > best ? gbs : best;
    }
    threadpool_free(tp);
    printf("bandwidth_gb_s %.2f\n", best);
    free(buf);
    return 0;
}

/* ---- bulk conversions ----------------------------------------------------- */

/* Loading a Hugging Face snapshot converts ~2e9 BF16 values: one core's
 * ns per value of each conversion, median of 5 runs over 4 Mi values. */
static int bench_convert(void) {
    enum { N = 1 << 22, RUNS = 5 };
    uint16_t *h = malloc(N * sizeof *h);
    float *f = malloc(N * sizeof *f);
    if (!h || !f) {
        fprintf(stderr, "bench: out of memory\n");
        return 1;
    }
    for (int i = 0; i < N; i++) h[i] = (uint16_t)(i * 2654435761u >> 16);
    memset(f, 0, N * sizeof *f);
    double t[3][RUNS];
    for (int r = 0; r < RUNS; r++) {
        double t0 = bench_now_s();
        dequantize_row(DT_BF16, h, f, N);
        double t1 = bench_now_s();
        quantize_row(DT_F16, f, h, N);
        double t2 = bench_now_s();
        dequantize_row(DT_F16, h, f, N);
        double t3 = bench_now_s();
        t[0][r] = t1 - t0, t[1][r] = t2 - t1, t[2][r] = t3 - t2;
    }
    printf("bf16_to_f32_ns %.3f\nf32_to_f16_ns %.3f\nf16_to_f32_ns %.3f\n", bench_median(t[0], RUNS) * 1e9 / N,
           bench_median(t[1], RUNS) * 1e9 / N, bench_median(t[2], RUNS) * 1e9 / N);
    free(h);
    free(f);
    return 0;
}

/* ---- text model ---------------------------------------------------------- */

static double tensor_bytes(const qvl_tensor *t) { return (double)dtype_row_bytes(t->type, t->ne[0]) * t->ne[1]; }

/* Weight bytes one decode step reads: every layer matrix and the output
 * matrix (the embedding lookup reads one row). */
static double weight_bytes_per_token(const text_model *tm) {
    double s = tensor_bytes(&tm->output);
    for (int l = 0; l < tm->cfg.n_layers; l++) {
        const text_layer *L = &tm->layers[l];
        const qvl_tensor *ts[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
        for (int i = 0; i < 7; i++) s += tensor_bytes(ts[i]);
    }
    return s;
}

static int argmax(const float *v, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best]) best = i;
    return best;
}

static int run_forward(const qvl_model *m, kv_cache *kv, const int32_t *ids, int n, float *logits, threadpool *tp) {
    int32_t *pos = malloc((size_t)n * 3 * sizeof *pos);
    text_positions_1d(pos, n, kv->n);
    text_batch b = {n, ids, pos, NULL, 0, m->cfg.image_token_id};
    qvl_error err = {0};
    int rc = text_forward(&m->text, kv, &b, logits, tp, &err);
    if (rc != 0) fprintf(stderr, "bench: forward: %s\n", err.msg);
    free(pos);
    return rc;
}

static int bench_text(const bench_opts *o) {
    qvl_error err = {0};
    model_load_opts lo = {.quant = o->quant, .threads = o->threads, .text_only = true, .no_pack = o->no_pack};
    double t0 = bench_now_s();
    qvl_model *m = model_load(o->model, &lo, &err);
    if (!m) {
        fprintf(stderr, "bench: %s\n", err.msg);
        return 1;
    }
    printf("load_s %.3f\n", bench_now_s() - t0);
    printf("kernels %s\n", kernels_get()->name);
    printf("weight_mb_per_token %.1f\n", weight_bytes_per_token(&m->text) / 1e6);
    threadpool *tp = threadpool_create(o->threads);
    int vocab = m->cfg.text.vocab_size, ctx = 16 + o->decode * o->runs;
    ctx = ctx > o->prefill ? ctx : o->prefill;
    float *logits = malloc((size_t)vocab * sizeof *logits);
    int32_t *ids = malloc((size_t)ctx * sizeof *ids);
    for (int i = 0; i < ctx; i++) ids[i] = (int32_t)(rnd() % 150000);
    double v[BENCH_MAX_RUNS];
    kv_cache kv;
    int rc = kv_cache_init(&kv, &m->cfg.text, ctx, &err);
    if (rc != 0) fprintf(stderr, "bench: %s\n", err.msg);

    /* Decode: a short prompt, then runs of greedy steps. */
    if (rc == 0) rc = run_forward(m, &kv, ids, 16, logits, tp);
    for (int r = 0; rc == 0 && r < o->runs; r++) {
        double ts = bench_now_s();
        for (int i = 0; rc == 0 && i < o->decode; i++) {
            int32_t next = argmax(logits, vocab);
            rc = run_forward(m, &kv, &next, 1, logits, tp);
        }
        v[r] = o->decode / (bench_now_s() - ts);
    }
    if (rc == 0) printf("decode_tok_s %.3f\n", bench_median(v, o->runs));
    kv_cache_free(&kv);

    for (int r = 0; rc == 0 && o->prefill > 0 && r < o->prefill_runs; r++) {
        rc = kv_cache_init(&kv, &m->cfg.text, o->prefill, &err);
        if (rc != 0) {
            fprintf(stderr, "bench: %s\n", err.msg);
            break;
        }
        double ts = bench_now_s();
        rc = run_forward(m, &kv, ids, o->prefill, logits, tp);
        v[r] = o->prefill / (bench_now_s() - ts);
        kv_cache_free(&kv);
    }
    if (rc == 0 && o->prefill > 0) printf("prefill_tok_s %.3f\n", bench_median(v, o->prefill_runs));

    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("peak_rss_mb %.1f\n", ru.ru_maxrss / 1024.0);
    free(logits), free(ids);
    threadpool_free(tp);
    model_free(m);
    return rc == 0 ? 0 : 1;
}

static int clamp_runs(int r) { return r < 1 ? 1 : r > BENCH_MAX_RUNS ? BENCH_MAX_RUNS : r; }

/* Options after "bench CMD MODEL"; returns 0 or prints why not and returns 2. */
static int parse_opts(int argc, char **argv, bench_opts *o) {
    for (int i = 3; i < argc; i += 2) {
        const char *k = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!val) {
            fprintf(stderr, "bench: %s needs a value\n", k);
            return 2;
        }
        if (!strcmp(k, "--quant")) o->quant = val;
        else if (!strcmp(k, "--mmproj")) o->mmproj = val;
        else if (!strcmp(k, "--vision-quant")) o->vision_quant = val;
        else if (!strcmp(k, "--image")) o->image = val;
        else if (!strcmp(k, "--threads")) o->threads = atoi(val) > 0 ? atoi(val) : 1;
        else if (!strcmp(k, "--runs")) o->runs = clamp_runs(atoi(val));
        else if (!strcmp(k, "--decode")) o->decode = atoi(val) > 0 ? atoi(val) : 1;
        else if (!strcmp(k, "--prefill")) o->prefill = atoi(val) > 0 ? atoi(val) : 0;
        else if (!strcmp(k, "--prefill-runs")) o->prefill_runs = clamp_runs(atoi(val));
        else if (!strcmp(k, "--max-pixels")) o->max_pixels = atol(val) > 0 ? atol(val) : 0;
        else if (!strcmp(k, "--ctx")) o->ctx = atoi(val) > 64 ? atoi(val) : 64;
        else if (!strcmp(k, "--budget")) o->budget_s = atof(val);
        else if (!strcmp(k, "--answer-tokens")) o->answer_tokens = atoi(val);
        else if (!strcmp(k, "--pack")) o->no_pack = !strcmp(val, "no");
        else if (!strcmp(k, "--kernels")) {
            if (kernels_force(val) != 0) {
                fprintf(stderr, "bench: kernels %s not available on this CPU\n", val);
                return 2;
            }
        } else {
            fprintf(stderr, "bench: unknown option %s\n", k);
            return 2;
        }
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 3 && !strcmp(argv[1], "tokenizer")) return bench_tokenizer(argv[2]);
    if (argc >= 2 && !strcmp(argv[1], "convert")) return bench_convert();
    if (argc >= 2 && !strcmp(argv[1], "bandwidth")) return bench_bandwidth(argc >= 3 ? atoi(argv[2]) : 2);
    bench_opts o = {.threads = 2, .runs = 5, .decode = 32, .prefill = 512, .prefill_runs = 3, .ctx = 4096};
    if (argc >= 3) o.model = argv[2];
    bool text = argc >= 3 && !strcmp(argv[1], "text");
    bool vision = argc >= 3 && !strcmp(argv[1], "vision"), vlm = argc >= 3 && !strcmp(argv[1], "vlm");
    bool gram = argc >= 3 && !strcmp(argv[1], "grammar");
    if (text || vision || vlm || gram) {
        if (parse_opts(argc, argv, &o) != 0) return 2;
        if (text) return bench_text(&o);
        if (gram) return bench_grammar(&o);
        if (!o.image) {
            fprintf(stderr, "bench: %s needs --image\n", argv[1]);
            return 2;
        }
        return vision ? bench_vision(&o) : bench_vlm(&o);
    }
    fprintf(stderr, "usage: bench tokenizer MODEL | bench bandwidth [THREADS] | bench text|vision|vlm|grammar MODEL [options]\n");
    return 2;
}
