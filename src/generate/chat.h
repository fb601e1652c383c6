/* chat.h - turns a conversation (OpenAI-style messages with text and image
 * parts) into exactly what the text decoder consumes: token ids, M-RoPE
 * positions and the image features for the <|image_pad|> runs.
 *
 * Flow: chat template -> rendered text with one <|image_pad|> per image ->
 * each image fetched through the caller's load_image callback (the server
 * decodes data URLs, the CLI reads files), preprocessed and encoded by the
 * vision tower -> the pad expanded to the image's token count -> tokens and
 * 3-D positions (text: t=h=w=running position; image token (r, c):
 * (base, base+r, base+c); text after an image continues at
 * base + max(rows, cols)).
 *
 * Thread-safe for a read-only model; everything produced is owned by the
 * chat_prompt and freed by chat_prompt_free.
 */
#ifndef QVL_CHAT_H
#define QVL_CHAT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "base/error.h"
#include "base/progress.h"
#include "engine/threadpool.h"
#include "image/image.h"
#include "generate/generate.h"
#include "model/model.h"

/* Fetches the pixels of an image part. part is the message content part that
 * produced the image (e.g. {"type":"image_url","image_url":{"url":"data:..."}});
 * index counts images from 0 in prompt order. Fills out (caller of chat
 * frees it) or returns -1 with err set (QVL_E_BAD_MEDIA, QVL_E_TOO_LARGE ...). */
typedef int (*chat_load_image_fn)(void *ctx, const json_t *part, int index, image_rgb *out, qvl_error *err);

typedef struct chat_opts {
    bool add_generation_prompt;     /* true for "answer now" */
    long min_pixels, max_pixels;    /* per-request image detail; 0 = model defaults */
    chat_load_image_fn load_image;  /* required when messages contain images */
    void *load_ctx;
    threadpool *tp;                 /* for the vision encoder; NULL = inline */
    struct image_cache *cache;      /* encoded images to reuse (image_cache.h); NULL = none */
    atomic_bool *cancel;            /* set by another thread to stop image encoding; NULL = not cancellable */
    qvl_progress progress;          /* hears each image's encoder blocks (vision_encode); {0} = none */
    const json_t *tools;            /* NULL, or OpenAI tool definitions for the template's tool section */
} chat_opts;

typedef struct chat_prompt {
    int32_t *ids;            /* (n) */
    int n;
    int32_t *pos;            /* (n, 3) */
    int next_pos;            /* M-RoPE position after the prompt */
    float *image_embd;       /* (n_image_rows, d * (1 + n_deepstack)) or NULL */
    int n_image_rows;
    int n_images;
    double image_ms;         /* preprocess + vision encoder time (decoding is chat_input's) */
    int n_images_cached;     /* images whose encoding came from opts->cache */
} chat_prompt;

/* A conversation made ready for the model, step one: its prompt text and
 * its images, each fetched and decoded exactly once, so that the OCR path
 * and the vision encoder of one request read the same pixels. */
typedef struct chat_input {
    char *text;              /* rendered prompt, one <|image_pad|> per image */
    int n_images;
    image_rgb *images;       /* (n_images) in prompt order */
    double decode_ms;        /* fetching and decoding the images */
    /* The text's tokens, once chat_input_length has counted them (NULL before): the pieces between the
     * images, piece i being seg_len[i] ids of text_ids; chat_prompt_from_input reuses them. */
    int32_t *text_ids;
    int *seg_len;            /* (n_images + 1) */
} chat_input;

/* Renders messages and decodes every image through opts->load_image,
 * reading *opts->cancel between images. Fails (-1, err, *out zeroed) on
 * malformed messages (QVL_E_BAD_INPUT), QVL_E_CANCELLED, video,
 * images the model cannot take (no vision tower, no loader:
 * QVL_E_BAD_INPUT), an image that cannot be loaded (the callback's error),
 * or out of memory. */
int chat_input_load(const qvl_model *m, const json_t *messages, const chat_opts *opts, chat_input *out,
                    qvl_error *err);

/* Renders other messages over in's images (the same conversation with text
 * added, e.g. OCR context): they must hold as many images, in the same
 * order; the decoded pixels are kept. Returns 0, or -1 with err set and in
 * unchanged. */
int chat_input_rerender(chat_input *in, const json_t *messages, const chat_opts *opts, qvl_error *err);
/* The prompt's length before any pixel is encoded: its text tokens and the
 * tokens its images will become under opts' detail limits. The text is
 * tokenized here once and kept in *in for chat_prompt_from_input. Returns 0,
 * or -1 with err set (limits the model refuses, out of memory). */
int chat_input_length(const qvl_model *m, chat_input *in, const chat_opts *opts, int *n_text, int *n_image,
                      qvl_error *err);
void chat_input_free(chat_input *in);

/* Step two: preprocesses and encodes in's images (or takes them from
 * opts->cache), tokenizes the text and computes the positions. Fails (-1,
 * err, *out zeroed) when the text holds stray <|image_pad|> markers, or on
 * a vision error (QVL_E_CANCELLED once *opts->cancel is set) or out of
 * memory. */
int chat_prompt_from_input(const qvl_model *m, const chat_input *in, const chat_opts *opts, chat_prompt *out,
                           qvl_error *err);

/* Both steps for callers that need the prompt only. */
int chat_prompt_build(const qvl_model *m, const json_t *messages, const chat_opts *opts, chat_prompt *out,
                      qvl_error *err);
void chat_prompt_free(chat_prompt *p);

/* M-RoPE positions (spec 7.4) of a prompt in which image i (in order) is a
 * run of images[i].n_tokens image_token_id ids: text gets t=h=w=running
 * position; image token (r, c) gets (base, base+r, base+c); the text after
 * an image continues at base + max(rows, cols). Writes pos (n, 3) and the
 * position after the prompt. Fails (-1, QVL_E_BAD_INPUT) when a run's
 * length differs from its image's token count or runs and images do not
 * pair up. */
int chat_positions(const int32_t *ids, int n, int32_t image_token_id, const vision_image *images, int n_images,
                   int32_t *pos, int *next_pos, qvl_error *err);

/* A gen_prompt view of p (no copies). */
gen_prompt chat_prompt_view(const chat_prompt *p);

#endif
