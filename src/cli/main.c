/* main.c - `qvl <command> [options]`: dispatches to one cli_<command>.c. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"

const cli_command cli_commands[] = {
    {"ask", "answer one question, streamed to stdout", cli_ask},
    {"serve", "HTTP server: web page, OpenAI-compatible API, simple API", cli_serve},
    {"tokenize", "print the token ids of a text", cli_tokenize},
    {"logits", "write the last-position logits of a prompt (conformance checks)", cli_logits},
    {"chat-template", "render a messages array into the model's prompt", cli_chat_template},
    {"batch", "ask questions about every image in a folder (resumable JSONL/CSV)", cli_batch},
    {"convert", "write a Hugging Face model as GGUF files (quantized once)", cli_convert},
    {"make-test-model", "write the deterministic synthetic test model", cli_make_test_model},
    {"encode-image", "write the vision encoder's embeddings of an image", cli_encode_image},
    {"preprocess", "write an image resized as the vision encoder sees it; print its grid", cli_preprocess},
    {"ocr", "read the text in an image (OCR), time it or score it", cli_ocr},
    {"route", "show whether a question goes to OCR, the VLM or both", cli_route},
    {NULL, NULL, NULL},
};

static void usage(FILE *f) {
    fprintf(f, "qvl - Qwen3-VL on the CPU\n\nusage: qvl <command> [options]   (qvl <command> --help for details)\n\ncommands:\n");
    for (const cli_command *c = cli_commands; c->name; c++)
        fprintf(f, "  %-16s %s\n", c->name, c->summary);
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (const cli_command *c = cli_commands; c->name; c++)
        if (!strcmp(argv[1], c->name)) return c->run(argc - 1, argv + 1);
    fprintf(stderr, "qvl: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
