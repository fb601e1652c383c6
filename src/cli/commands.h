/* commands.h - the qvl subcommands. Each lives in its own cli_<name>.c and
 * has the signature of main(): argv[0] is the subcommand name. Each prints
 * its own --help and returns a process exit status (0 ok, 1 runtime error,
 * 2 usage error). */
#ifndef QVL_CLI_COMMANDS_H
#define QVL_CLI_COMMANDS_H

typedef struct cli_command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
} cli_command;

/* NULL-terminated table, defined in main.c. */
extern const cli_command cli_commands[];

int cli_ask(int argc, char **argv);
int cli_tokenize(int argc, char **argv);
int cli_logits(int argc, char **argv);
int cli_chat_template(int argc, char **argv);
int cli_make_test_model(int argc, char **argv);
int cli_serve(int argc, char **argv);
int cli_encode_image(int argc, char **argv);
int cli_preprocess(int argc, char **argv);
int cli_ocr(int argc, char **argv);
int cli_route(int argc, char **argv);
int cli_convert(int argc, char **argv);
int cli_batch(int argc, char **argv);

#endif
