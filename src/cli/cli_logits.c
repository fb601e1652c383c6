/* cli_logits.c - `qvl logits`: the logits of the last prompt position, as raw
 * little-endian float32, for conformance checks against reference outputs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mapped_file.h"
#include "cli/cli_util.h"
#include "generate/chat.h"
#include "model/text_model.h"
#include "load/model_load.h"

static const char *help =
    "usage: qvl logits --model M --prompt-ids FILE --out FILE.f32 [--image IMG]... [--exact | --reference]\n"
    "\n"
    "Runs the prompt given as token ids (whitespace separated, '-' = stdin) and writes the\n"
    "logits of its last position as little-endian float32 (vocabulary-size values).\n"
    "      --image IMG     the image of the prompt's next run of <|image_pad|> ids (repeatable, in\n"
    "                      order; a run's length must equal that image's token count)\n"
    "      --exact         quantized matrices as stored, not re-laid for the faster kernels:\n"
    "                      llama.cpp's arithmetic, so its logits bit for bit\n"
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

/* Encodes the --image files in order into vis[] and concatenates their
 * rows into *embd (the text_batch image_embd layout). */
static int encode_images(const qvl_model *m, const str_list *files, threadpool *tp, vision_image *vis, float **embd,
                         int *n_rows, qvl_error *err) {
    if (!m->vision) return qvl_fail(err, "the model has no vision tower (a GGUF model needs --mmproj FILE)");
    size_t W = (size_t)vision_embd_width(m->vision), row = 0;
    for (int i = 0; i < files->n; i++) {
        size_t len;
        image_rgb img = {0};
        char *bytes = read_file_text(files->items[i], IMAGE_DEFAULT_MAX_BYTES + 1, &len, err);
        int rc = bytes ? image_decode((const uint8_t *)bytes, len, NULL, &img, err) : -1;
        if (rc == 0) rc = vision_encode_image(m->vision, &img, NULL, tp, NULL, NULL, &vis[i], err);
        free(bytes);
        image_free(&img);
        if (rc != 0) return qvl_error_prefix(err, "%s", files->items[i]);
        *n_rows += vis[i].n_tokens;
    }
    if (!(*embd = malloc((size_t)*n_rows * W * sizeof **embd))) return qvl_fail(err, "out of memory");
    for (int i = 0; i < files->n; row += (size_t)vis[i++].n_tokens)
        memcpy(*embd + row * W, vis[i].embd, (size_t)vis[i].n_tokens * W * sizeof **embd);
    return 0;
}

int cli_logits(int argc, char **argv) {
    cli_model_opts mo = {0};
    const char *ids_path = NULL, *out_path = NULL;
    int reference = 0, n_rows = 0, next_pos;
    str_list images = {0};
    cli_opt opts[] = {CLI_MODEL_OPTIONS(mo),
                      {"--prompt-ids", NULL, OPT_STR, &ids_path},
                      {"--out", "-o", OPT_STR, &out_path},
                      {"--reference", NULL, OPT_FLAG, &reference},
                      {"--exact", NULL, OPT_FLAG, &mo.exact},
                      {"--image", NULL, OPT_LIST, &images},
                      {0}};
    int rc = cli_parse(argc, argv, opts, help, NULL);
    if (rc < 0 && (!ids_path || !out_path)) {
        fprintf(stderr, "qvl logits: need --prompt-ids FILE and --out FILE\n");
        rc = 2;
    }
    int n = 0;
    int32_t *ids = rc < 0 ? read_ids(ids_path, &n) : NULL;
    if (ids && n == 0) fprintf(stderr, "qvl logits: %s holds no token ids\n", ids_path);
    qvl_model *m = ids && n ? cli_load_model("qvl logits", &mo, images.n == 0) : NULL;
    if (!m) {
        free(ids), free(images.items);
        return rc >= 0 ? rc : 1;
    }
    qvl_error err = {0};
    kv_cache kv = {0};
    int vocab = m->cfg.text.vocab_size;
    float *logits = malloc((size_t)vocab * sizeof *logits);
    int32_t *pos = malloc((size_t)n * 3 * sizeof *pos);
    text_positions_1d(pos, n, 0);
    threadpool *tp = threadpool_create(mo.threads);
    vision_image *vis = calloc((size_t)images.n + 1, sizeof *vis);
    float *embd = NULL;
    rc = images.n && (encode_images(m, &images, tp, vis, &embd, &n_rows, &err) ||
                      chat_positions(ids, n, m->cfg.image_token_id, vis, images.n, pos, &next_pos, &err)) ? -1 : 0;
    text_batch b = {n, ids, pos, embd, n_rows, m->cfg.image_token_id};
    if (rc == 0) rc = kv_cache_init(&kv, &m->cfg.text, n, &err);
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
    for (int i = 0; i < images.n; i++) vision_image_free(&vis[i]);
    free(vis), free(embd), free(images.items);
    free(ids), free(pos), free(logits);
    model_free(m);
    return rc ? 1 : 0;
}
