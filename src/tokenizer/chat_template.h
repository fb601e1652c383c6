/* chat_template.h - renders OpenAI-style chat messages into the Qwen3-VL
 * Instruct prompt text, reproducing the model's Jinja chat template
 * (tokenizer_config.json "chat_template"; spec section 4) in plain C.
 *
 * What it reproduces, byte for byte:
 *   - the first message, if its role is "system", becomes the system block
 *     (text parts only: a system message's images are not rendered); later
 *     system messages are dropped, as the template does; no default system
 *     prompt;
 *   - user content: a string verbatim, or parts in order with no separator:
 *     an image part (type "image", or any part with an "image" or
 *     "image_url" key) -> "<|vision_start|><|image_pad|><|vision_end|>", a
 *     video part (type "video" or a "video" key) -> the same with
 *     <|video_pad|>, a part with a "text" key -> its text, anything else ->
 *     nothing; with add_vision_id, "Picture N: " / "Video N: " before them,
 *     N counted over the whole conversation;
 *   - assistant content (text parts only) and its tool_calls
 *     ("<tool_call>\n{"name": ..., "arguments": ...}\n</tool_call>");
 *   - tool messages, consecutive ones merged into one user turn of
 *     <tool_response> blocks (which may contain images);
 *   - the tools system block when opts->tools is a non-empty array;
 *   - add_generation_prompt -> "<|im_start|>assistant\n".
 * One <|image_pad|> is emitted per image: expanding it to the image's token
 * count is the caller's job.
 *
 * Where the template would print Python's `tojson` (tool definitions and
 * non-string tool-call arguments) we use jansson with ", " / ": "
 * separators, keys in input order, UTF-8 unescaped: identical to
 * transformers' output except that real numbers are printed with 15
 * significant digits (Python prints the shortest round-trip form).
 *
 * Stricter than Jinja on malformed input (which Jinja renders as "" or
 * "None"): see chat_template_render. Pure function of its input; thread-safe.
 */
#ifndef QVL_CHAT_TEMPLATE_H
#define QVL_CHAT_TEMPLATE_H

#include <stdbool.h>

#include <jansson.h>

#include "base/error.h"

typedef enum chat_media_kind {
    CHAT_MEDIA_IMAGE,
    CHAT_MEDIA_VIDEO,
} chat_media_kind;

/* Called once per rendered image/video placeholder, in prompt order, with
 * the content part that produced it (so the caller can fetch the pixels of
 * exactly the images the prompt refers to). index counts per kind from 0. */
typedef void (*chat_media_fn)(void *ctx, chat_media_kind kind, int index, const json_t *part);

typedef struct chat_template_opts {
    bool add_generation_prompt;  /* end with "<|im_start|>assistant\n" */
    bool add_vision_id;          /* "Picture N: " before each image */
    const json_t *tools;         /* NULL, or an array of tool definitions */
    chat_media_fn on_media;      /* optional */
    void *media_ctx;
} chat_template_opts;

/* Renders messages (a JSON array of {"role", "content", ...} objects) into a
 * malloc'd NUL-terminated prompt the caller frees. *n_images_out (if
 * non-NULL) receives the number of image placeholders emitted. opts may be
 * NULL (all defaults off).
 *
 * Returns NULL with err set (code QVL_E_BAD_INPUT, message naming the
 * offending messages[i]) when: messages is not a non-empty array; a message
 * is not an object; role is missing, not a string, or not one of system /
 * user / assistant / tool; content is neither a string nor an array (null or
 * missing is accepted only for an assistant message, as empty text); a
 * content part is not an object; a part's "text" is not a string;
 * tool_calls is not an array of objects with a string "name" and an
 * "arguments" value; tools is not an array. QVL_E_NOMEM when memory runs
 * out. */
char *chat_template_render(const json_t *messages, const chat_template_opts *opts,
                           int *n_images_out, qvl_error *err);

#endif
