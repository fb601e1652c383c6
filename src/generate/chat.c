/* chat.c - see chat.h. */
#include "generate/chat.h"

#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "tokenizer/chat_template.h"
#include "generate/image_cache.h"

typedef struct media_list {
    const json_t **parts;
    int n_images, n_videos;
    bool nomem;
} media_list;

static void collect_media(void *ctx, chat_media_kind kind, int index, const json_t *part) {
    media_list *l = ctx;
    if (kind == CHAT_MEDIA_VIDEO) {
        l->n_videos++;
        return;
    }
    const json_t **p = realloc(l->parts, (size_t)(l->n_images + 1) * sizeof *p);
    if (!p) {
        l->nomem = true;
        return;
    }
    l->parts = p;
    l->parts[l->n_images++] = part;
}

/* The rendered prompt and the content part of each image; NULL with err
 * set (media->parts freed) on malformed messages, video or out of memory. */
static char *render(const json_t *messages, const chat_opts *opts, media_list *media, qvl_error *err) {
    memset(media, 0, sizeof *media);
    chat_template_opts topts = {.add_generation_prompt = opts->add_generation_prompt, .tools = opts->tools,
                                .on_media = collect_media, .media_ctx = media};
    int n_img = 0;
    char *text = chat_template_render(messages, &topts, &n_img, err);
    if (text && (media->nomem || media->n_videos)) {
        if (media->nomem) qvl_fail_code(err, QVL_E_NOMEM, "out of memory");
        else qvl_fail_code(err, QVL_E_BAD_INPUT, "video input is not supported; send images");
        free(text);
        text = NULL;
    }
    if (!text) {
        free(media->parts);
        media->parts = NULL;
    }
    return text;
}

int chat_positions(const int32_t *ids, int n, int32_t image_token_id, const vision_image *images, int n_images,
                   int32_t *pos, int *next_pos, qvl_error *err) {
    int next = 0, img = 0;
    for (int i = 0; i < n;) {
        if (ids[i] != image_token_id) {
            pos[i * 3] = pos[i * 3 + 1] = pos[i * 3 + 2] = next++;
            i++;
            continue;
        }
        int run = 0;
        while (i + run < n && ids[i + run] == image_token_id) run++;
        if (img == n_images)
            return qvl_fail_code(err, QVL_E_BAD_INPUT, "a run of %d <|image_pad|> tokens at position %d has no image "
                                 "(%d images given)", run, i, n_images);
        const vision_image *v = &images[img];
        if (run != v->n_tokens)
            return qvl_fail_code(err, QVL_E_BAD_INPUT, "image %d has %d tokens (%dx%d) but its run of <|image_pad|> "
                                 "at position %d has %d", img + 1, v->n_tokens, v->rows, v->cols, i, run);
        for (int r = 0; r < v->rows; r++)
            for (int c = 0; c < v->cols; c++, i++) {
                pos[i * 3] = next;
                pos[i * 3 + 1] = next + r;
                pos[i * 3 + 2] = next + c;
            }
        next += v->rows > v->cols ? v->rows : v->cols;
        img++;
    }
    if (img != n_images)
        return qvl_fail_code(err, QVL_E_BAD_INPUT, "%d images given but the prompt has %d runs of <|image_pad|>",
                             n_images, img);
    *next_pos = next;
    return 0;
}

/* Preprocesses and encodes image i of the prompt into *v, or takes its
 * encoding from the cache. *cached tells which. */
static int encode_image(const qvl_model *m, const image_rgb *img, int i, const chat_opts *opts, vision_image *v,
                        bool *cached, qvl_error *err) {
    uint8_t key[32];
    if (opts->cache) image_cache_key(img, opts->min_pixels, opts->max_pixels, key);
    *cached = opts->cache && image_cache_get(opts->cache, key, v);
    int rc = 0;
    if (!*cached) {
        image_preprocess_opts po = {.min_pixels = opts->min_pixels, .max_pixels = opts->max_pixels};
        rc = vision_encode_image(m->vision, img, &po, opts->tp, opts->cancel, &opts->progress, v, err);
        if (rc == 0 && opts->cache) image_cache_put(opts->cache, key, v, vision_embd_width(m->vision));
    }
    if (rc != 0) qvl_error_prefix(err, "image %d", i + 1);
    return rc;
}

/* The text's tokens, piece by piece between its n_images <|image_pad|>
 * markers: piece i is (*seg_len)[i] ids of *ids. Fails on markers that are
 * not images (more or fewer than n_images), or out of memory. */
static int tokenize_pieces(const qvl_model *m, const char *text, int n_images, int32_t **ids, int **seg_len,
                           qvl_error *err) {
    static const char pad[] = "<|image_pad|>";
    *ids = NULL;
    *seg_len = calloc((size_t)n_images + 1, sizeof **seg_len);
    if (!*seg_len) return qvl_fail_code(err, QVL_E_NOMEM, "out of memory");
    size_t total = 0;
    const char *seg = text;
    for (int i = 0; i <= n_images; i++) {
        const char *end = i < n_images ? strstr(seg, pad) : seg + strlen(seg);
        if (!end || (i == n_images && n_images > 0 && strstr(seg, pad))) {   /* text alone is taken as it is */
            qvl_fail_code(err, QVL_E_BAD_INPUT, "the prompt text contains <|image_pad|> markers that are not images");
            goto fail;
        }
        int32_t *piece = NULL;
        size_t n = 0;
        if (tokenizer_encode(m->tok, seg, (size_t)(end - seg), 0, &piece, &n, err) != 0) goto fail;
        int32_t *grown = n ? realloc(*ids, (total + n) * sizeof *grown) : *ids;
        if (n && !grown) {
            free(piece);
            qvl_fail_code(err, QVL_E_NOMEM, "out of memory");
            goto fail;
        }
        *ids = grown;
        if (n) memcpy(*ids + total, piece, n * sizeof *piece);
        free(piece);
        total += n;
        (*seg_len)[i] = (int)n;
        if (i < n_images) seg = end + strlen(pad);
    }
    return 0;
fail:
    free(*ids);
    free(*seg_len);
    *ids = NULL;
    *seg_len = NULL;
    return -1;
}

/* Appends n ids to the prompt (growing *cap). */
static int append_ids(chat_prompt *out, int *cap, const int32_t *ids, int n, int32_t fill) {
    if (out->n + n > *cap) {
        while (out->n + n > *cap) *cap = *cap ? *cap * 2 : 256;
        int32_t *p = realloc(out->ids, (size_t)*cap * sizeof *p);
        if (!p) return -1;
        out->ids = p;
    }
    for (int k = 0; k < n; k++) out->ids[out->n + k] = ids ? ids[k] : fill;
    out->n += n;
    return 0;
}

/* The rendered text holds one <|image_pad|> per image: its pieces'
 * tokens (in's, when chat_input_length kept them) with each image's token
 * run in its place. */
static int build_image_prompt(const qvl_model *m, const chat_input *in, const chat_opts *opts, chat_prompt *out,
                              qvl_error *err) {
    int n_images = in->n_images;
    int width = vision_embd_width(m->vision), cap = 0, rc = -1;
    int32_t *ids = in->text_ids, *own_ids = NULL;
    int *seg_len = in->seg_len, *own_len = NULL;
    vision_image *imgs = calloc((size_t)n_images, sizeof *imgs);
    if (!imgs) return qvl_fail_code(err, QVL_E_NOMEM, "out of memory");
    if (!seg_len) {
        if (tokenize_pieces(m, in->text, n_images, &own_ids, &own_len, err) != 0) goto done;
        ids = own_ids;
        seg_len = own_len;
    }
    double t0 = clock_ms();
    for (int i = 0; i < n_images; i++) {
        bool cached;
        if (encode_image(m, &in->images[i], i, opts, &imgs[i], &cached, err) != 0) goto done;
        out->n_images_cached += cached;
        out->n_image_rows += imgs[i].n_tokens;
    }
    out->image_ms = clock_ms() - t0;
    out->n_images = n_images;
    out->image_embd = malloc((size_t)out->n_image_rows * width * sizeof *out->image_embd);
    if (!out->image_embd) {
        qvl_fail_code(err, QVL_E_NOMEM, "out of memory for %d image rows", out->n_image_rows);
        goto done;
    }
    size_t row = 0, at = 0;
    for (int i = 0; i <= n_images; i++) {
        int bad = append_ids(out, &cap, ids ? ids + at : NULL, seg_len[i], 0);
        at += (size_t)seg_len[i];
        if (i < n_images) {
            bad = bad || append_ids(out, &cap, NULL, imgs[i].n_tokens, m->cfg.image_token_id);
            memcpy(out->image_embd + row * width, imgs[i].embd, (size_t)imgs[i].n_tokens * width * sizeof(float));
            row += (size_t)imgs[i].n_tokens;
        }
        if (bad) {
            qvl_fail_code(err, QVL_E_NOMEM, "out of memory");
            goto done;
        }
    }
    out->pos = malloc((size_t)(out->n ? out->n : 1) * 3 * sizeof *out->pos);
    if (!out->pos) {
        qvl_fail_code(err, QVL_E_NOMEM, "out of memory");
        goto done;
    }
    rc = chat_positions(out->ids, out->n, m->cfg.image_token_id, imgs, n_images, out->pos, &out->next_pos, err);
done:
    for (int i = 0; i < n_images; i++) vision_image_free(&imgs[i]);
    free(imgs);
    free(own_ids);
    free(own_len);
    return rc;
}

/* Forgets the tokens chat_input_length kept (the text changed). */
static void forget_tokens(chat_input *in) {
    free(in->text_ids);
    free(in->seg_len);
    in->text_ids = NULL;
    in->seg_len = NULL;
}

int chat_input_load(const qvl_model *m, const json_t *messages, const chat_opts *opts, chat_input *out,
                    qvl_error *err) {
    memset(out, 0, sizeof *out);
    media_list media;
    char *text = render(messages, opts, &media, err);
    if (!text) return -1;
    int rc = -1;
    if (media.n_images && !m->vision) {
        qvl_fail_code(err, QVL_E_BAD_INPUT, "the model was loaded without a vision tower: a GGUF model needs "
                      "--mmproj FILE (the vision GGUF) to read images");
        goto done;
    }
    if (media.n_images && !opts->load_image) {
        qvl_fail_code(err, QVL_E_BAD_INPUT, "images are not accepted here");
        goto done;
    }
    out->text = text;
    text = NULL;
    if (media.n_images && !(out->images = calloc((size_t)media.n_images, sizeof *out->images))) {
        qvl_fail_code(err, QVL_E_NOMEM, "out of memory");
        goto done;
    }
    double t0 = clock_ms();
    for (; out->n_images < media.n_images; out->n_images++) {
        /* between images: a document's pages are rendered one by one */
        if (opts->cancel && atomic_load(opts->cancel)) {
            qvl_fail_code(err, QVL_E_CANCELLED, "cancelled");
            goto done;
        }
        if (opts->load_image(opts->load_ctx, media.parts[out->n_images], out->n_images, &out->images[out->n_images],
                             err) != 0)
            goto done;
    }
    out->decode_ms = clock_ms() - t0;
    rc = 0;
done:
    free(text);
    free(media.parts);
    if (rc != 0) chat_input_free(out);
    return rc;
}

int chat_input_rerender(chat_input *in, const json_t *messages, const chat_opts *opts, qvl_error *err) {
    media_list media;
    char *text = render(messages, opts, &media, err);
    if (!text) return -1;
    free(media.parts);
    if (media.n_images != in->n_images) {
        free(text);
        return qvl_fail(err, "the conversation now holds %d images instead of %d", media.n_images, in->n_images);
    }
    free(in->text);
    in->text = text;
    forget_tokens(in);
    return 0;
}

int chat_input_length(const qvl_model *m, chat_input *in, const chat_opts *opts, int *n_text, int *n_image,
                      qvl_error *err) {
    *n_text = *n_image = 0;
    image_preprocess_opts po = {.min_pixels = opts->min_pixels, .max_pixels = opts->max_pixels};
    for (int i = 0; i < in->n_images; i++) {
        int n;
        if (vision_image_tokens(m->vision, in->images[i].height, in->images[i].width, &po, &n, err) != 0)
            return qvl_error_prefix(err, "image %d", i + 1);
        *n_image += n;
    }
    if (!in->seg_len && tokenize_pieces(m, in->text, in->n_images, &in->text_ids, &in->seg_len, err) != 0) return -1;
    for (int i = 0; i <= in->n_images; i++) *n_text += in->seg_len[i];
    return 0;
}

void chat_input_free(chat_input *in) {
    forget_tokens(in);
    for (int i = 0; i < in->n_images; i++) image_free(&in->images[i]);
    free(in->images);
    free(in->text);
    memset(in, 0, sizeof *in);
}

int chat_prompt_from_input(const qvl_model *m, const chat_input *in, const chat_opts *opts, chat_prompt *out,
                           qvl_error *err) {
    memset(out, 0, sizeof *out);
    int rc = -1;
    if (in->n_images) {
        rc = build_image_prompt(m, in, opts, out, err);
        goto done;
    }
    size_t n = in->seg_len ? (size_t)in->seg_len[0] : 0;
    if (in->seg_len) {   /* counted by chat_input_length: not tokenized again */
        out->ids = malloc((n ? n : 1) * sizeof *out->ids);
        if (!out->ids) {
            qvl_fail_code(err, QVL_E_NOMEM, "out of memory");
            goto done;
        }
        if (n) memcpy(out->ids, in->text_ids, n * sizeof *out->ids);
    } else if (tokenizer_encode(m->tok, in->text, strlen(in->text), 0, &out->ids, &n, err) != 0) {
        goto done;
    }
    out->n = (int)n;
    out->pos = malloc((n ? n : 1) * 3 * sizeof *out->pos);
    if (!out->pos) {
        qvl_fail_code(err, QVL_E_NOMEM, "out of memory");
        goto done;
    }
    text_positions_1d(out->pos, out->n, 0);
    out->next_pos = out->n;
    rc = 0;
done:
    if (rc != 0) chat_prompt_free(out);
    return rc;
}

int chat_prompt_build(const qvl_model *m, const json_t *messages, const chat_opts *opts, chat_prompt *out,
                      qvl_error *err) {
    chat_input in;
    memset(out, 0, sizeof *out);
    if (chat_input_load(m, messages, opts, &in, err) != 0) return -1;
    int rc = chat_prompt_from_input(m, &in, opts, out, err);
    chat_input_free(&in);
    return rc;
}

void chat_prompt_free(chat_prompt *p) {
    free(p->ids);
    free(p->pos);
    free(p->image_embd);
    memset(p, 0, sizeof *p);
}

gen_prompt chat_prompt_view(const chat_prompt *p) {
    gen_prompt g = {.ids = p->ids, .n = p->n, .pos = p->pos, .next_pos = p->next_pos,
                    .image_embd = p->image_embd, .n_image_rows = p->n_image_rows};
    return g;
}
