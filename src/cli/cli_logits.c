/* cli_logits.c - `qvl logits`: the logits of the last prompt position, as raw
 * little-endian float32, for conformance checks against reference outputs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_util.h"
#include "model/text_model.h"

static const char *help =
    "usage: qvl logits --model M --prompt-ids FILE --out FILE.f32 [--reference]\n"
    "\n"
    "Runs the prompt given as token ids (whitespace separated, '-' = stdin) and writes the\n"
    "logits of its last position as little-endian float32 (vocabulary-size values).\n"
    "      --reference     use the plain scalar reference forward pass (slow)\n"
    CLI_MODEL_HELP;

static int32_t *read_ids(const char *path, int *n_out) {
    size_t len;
    char *text = cli_read_all("qvl logits", path, &len);
    if (!text) return NULL;
    int n = 0, cap = 256;
    int32_t *ids = malloc((size_t)cap * sizeof *ids);
    char *p = text, *end;
    for (;;) {
        while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t' || *p == ',') p++;
        if (!*p) break;
        long v = strtol(p, &end, 10);
        if (end == p || v < 0 || v > 0x7fffffff) {
            fprintf(stderr, "qvl logits: %s: not a token id near '%.10s'\n", path, p);
            free(ids), free(text);
            return NULL;
        }
        if (n == cap) ids = realloc(ids, (size_t)(cap *= 2) * sizeof *ids);
        ids[n++] = (int32_t)v;
        p = end;
    }
    free(text);
    *n_out = n;
    return ids;
}

int cli_logits(int argc, char **argv) {
    cli_model_opts mo = {0};
    const char *ids_path = NULL, *out_path = NULL;
    int reference = 0;
    cli_opt opts[] = {CLI_MODEL_OPTIONS(mo),
                      {"--prompt-ids", NULL, OPT_STR, &ids_path},
                      {"--out", "-o", OPT_STR, &out_path},
                      {"--reference", NULL, OPT_FLAG, &reference},
                      {0}};
    int rc = cli_parse(argc, argv, opts, help, NULL);
    if (rc >= 0) return rc;
    if (!ids_path || !out_path) {
        fprintf(stderr, "qvl logits: need --prompt-ids FILE and --out FILE\n");
        return 2;
    }
    int n = 0;
    int32_t *ids = read_ids(ids_path, &n);
    if (!ids) return 1;
    if (n == 0) {
        fprintf(stderr, "qvl logits: %s holds no token ids\n", ids_path);
        free(ids);
        return 1;
    }
    qvl_model *m = cli_load_model("qvl logits", &mo, true);
    if (!m) {
        free(ids);
        return 1;
    }
    qvl_error err = {0};
    kv_cache kv;
    int vocab = m->cfg.text.vocab_size;
    float *logits = malloc((size_t)vocab * sizeof *logits);
    int32_t *pos = malloc((size_t)n * 3 * sizeof *pos);
    text_positions_1d(pos, n, 0);
    text_batch b = {n, ids, pos, NULL, 0, m->cfg.image_token_id};
    threadpool *tp = threadpool_create(mo.threads);
    rc = kv_cache_init(&kv, &m->cfg.text, n, &err);
    if (rc == 0) rc = reference ? text_forward_ref(&m->text, &kv, &b, logits, &err)
                                : text_forward(&m->text, &kv, &b, logits, tp, &err);
    if (rc == 0) {
        FILE *f = fopen(out_path, "wb");
        if (!f || fwrite(logits, sizeof *logits, (size_t)vocab, f) != (size_t)vocab || fclose(f) != 0) {
            fprintf(stderr, "qvl logits: cannot write %s\n", out_path);
            rc = -1;
        } else {
            fprintf(stderr, "wrote %d logits of position %d to %s\n", vocab, n - 1, out_path);
        }
    } else {
        fprintf(stderr, "qvl logits: %s\n", err.msg);
    }
    kv_cache_free(&kv);
    threadpool_free(tp);
    free(ids), free(pos), free(logits);
    model_free(m);
    return rc ? 1 : 0;
}
