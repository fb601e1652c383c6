/* chat.c - see chat.h. */
#include "chat.h"

#include <stdlib.h>
#include <string.h>

#include "model/chat_template.h"

typedef struct media_list {
    const json_t **parts;
    int n_images, n_videos;
} media_list;

static void collect_media(void *ctx, chat_media_kind kind, int index, const json_t *part) {
    media_list *l = ctx;
    if (kind == CHAT_MEDIA_VIDEO) {
        l->n_videos++;
        return;
    }
    l->parts = realloc(l->parts, (size_t)(l->n_images + 1) * sizeof *l->parts);
    l->parts[l->n_images++] = part;
}

int chat_prompt_build(const qvl_model *m, const json_t *messages, const chat_opts *opts, chat_prompt *out,
                      qvl_error *err) {
    memset(out, 0, sizeof *out);
    media_list media = {0};
    chat_template_opts topts = {.add_generation_prompt = opts->add_generation_prompt,
                                .on_media = collect_media, .media_ctx = &media};
    int n_img = 0;
    char *text = chat_template_render(messages, &topts, &n_img, err);
    if (!text) {
        free(media.parts);
        return -1;
    }
    int rc = -1;
    if (media.n_videos) {
        qvl_fail_code(err, QVL_E_BAD_INPUT, "video input is not supported; send images");
        goto done;
    }
    if (media.n_images) {
        qvl_fail_code(err, QVL_E_BAD_INPUT, "this build of qvl cannot read images yet (vision encoder missing)");
        goto done;
    }
    size_t n = 0;
    if (tokenizer_encode(m->tok, text, strlen(text), 0, &out->ids, &n, err) != 0) goto done;
    out->n = (int)n;
    out->pos = malloc((n ? n : 1) * 3 * sizeof *out->pos);
    text_positions_1d(out->pos, out->n, 0);
    out->next_pos = out->n;
    rc = 0;
done:
    free(text);
    free(media.parts);
    if (rc != 0) chat_prompt_free(out);
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
