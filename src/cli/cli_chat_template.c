/* cli_chat_template.c - `qvl chat-template`: renders an OpenAI-style messages
 * array with the model's chat template, exactly, adding nothing. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_util.h"
#include "tokenizer/chat_template.h"

static const char *help =
    "usage: qvl chat-template [--model M] --messages FILE.json [--no-generation-prompt]\n"
    "\n"
    "Prints the prompt the model sees for a JSON array of messages ('-' = stdin), e.g.\n"
    "  [{\"role\":\"user\",\"content\":[{\"type\":\"image\"},{\"type\":\"text\",\"text\":\"Hi\"}]}]\n"
    "Image parts render as <|vision_start|><|image_pad|><|vision_end|> (one pad per image).\n"
    "The Qwen3-VL Instruct template is built in; --model is accepted for symmetry.\n";

int cli_chat_template(int argc, char **argv) {
    cli_model_opts mo = {0};
    const char *path = NULL;
    int no_gen = 0;
    cli_opt opts[] = {CLI_MODEL_OPTIONS(mo),
                      {"--messages", NULL, OPT_STR, &path},
                      {"--no-generation-prompt", NULL, OPT_FLAG, &no_gen},
                      {0}};
    int rc = cli_parse(argc, argv, opts, help, NULL);
    if (rc >= 0) return rc;
    if (!path) {
        fprintf(stderr, "qvl chat-template: need --messages FILE.json\n");
        return 2;
    }
    size_t len;
    char *text = cli_read_all("qvl chat-template", path, &len);
    if (!text) return 1;
    json_error_t je;
    json_t *root = json_loadb(text, len, 0, &je);
    free(text);
    if (!root) {
        fprintf(stderr, "qvl chat-template: %s: %s (line %d, column %d)\n", path, je.text, je.line, je.column);
        return 1;
    }
    /* Accept a bare array or an OpenAI request object with "messages". */
    json_t *msgs = json_is_object(root) ? json_object_get(root, "messages") : root;
    qvl_error err = {0};
    chat_template_opts topts = {.add_generation_prompt = !no_gen};
    int n_images = 0;
    char *out = msgs ? chat_template_render(msgs, &topts, &n_images, &err) : NULL;
    if (!msgs) snprintf(err.msg, sizeof err.msg, "%s: no \"messages\" array", path);
    if (out) fputs(out, stdout);
    else fprintf(stderr, "qvl chat-template: %s\n", err.msg);
    free(out);
    json_decref(root);
    return out ? 0 : 1;
}
