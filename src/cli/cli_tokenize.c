/* cli_tokenize.c - `qvl tokenize --model M [TEXT]`: prints token ids. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_util.h"
#include "load/model_load.h"

static const char *help =
    "usage: qvl tokenize --model M [TEXT]\n"
    "\n"
    "Prints the token ids of TEXT (or of all of stdin, byte for byte) separated by spaces.\n"
    "Special tokens such as <|im_start|> in the text are recognised.\n\n"
    CLI_MODEL_HELP;

int cli_tokenize(int argc, char **argv) {
    cli_model_opts mo = {0};
    str_list pos = {0};
    cli_opt opts[] = {CLI_MODEL_OPTIONS(mo), {0}};
    int rc = cli_parse(argc, argv, opts, help, &pos);
    if (rc >= 0 || pos.n > 1) {
        if (pos.n > 1) fprintf(stderr, "qvl tokenize: give the text as one argument (quote it)\n");
        free(pos.items);
        return rc >= 0 ? rc : 2;
    }
    size_t len;
    char *text = pos.n ? strdup(pos.items[0]) : cli_read_all("qvl tokenize", "-", &len);
    if (pos.n) len = strlen(text);
    free(pos.items);
    if (!text) return 1;
    if (!mo.model) mo.model = getenv("QVL_MODEL");
    if (!mo.model) {
        fprintf(stderr, "qvl tokenize: pass --model DIR|FILE.gguf\n");
        free(text);
        return 2;
    }
    qvl_error err = {0};
    tokenizer *tk = model_load_tokenizer(mo.model, &err);
    if (!tk) {
        fprintf(stderr, "qvl tokenize: %s\n", err.msg);
        free(text);
        return 1;
    }
    int32_t *ids = NULL;
    size_t n = 0;
    rc = tokenizer_encode(tk, text, len, 0, &ids, &n, &err);
    if (rc == 0) {
        for (size_t i = 0; i < n; i++) printf(i ? " %d" : "%d", ids[i]);
        printf("\n");
    } else {
        fprintf(stderr, "qvl tokenize: %s\n", err.msg);
    }
    free(ids);
    free(text);
    tokenizer_free(tk);
    return rc ? 1 : 0;
}
