/* cli_settings.h - a command's options from three places, for services: a
 * config file, QVL_* environment variables and the command line.
 *
 * Precedence, lowest first: the config file (--config FILE, or $QVL_CONFIG),
 * then the environment, then the command line; a later place overrides an
 * earlier one option by option.
 *
 * Every long option "--some-name" of the command's table has the variable
 * QVL_SOME_NAME (upper case, '-' -> '_') and the config-file key "some-name".
 * A flag option is on when its variable is 1/true/yes/on and off when it is
 * 0/false/no/off or empty; in a file a flag is written alone ("no-ocr") or
 * with one of those values.
 *
 * Config file: one "key = value" per line (or "key value"); blank lines and
 * lines starting with '#' are ignored; a value may be put in double quotes.
 * Unknown keys, "config" itself and bad values are errors naming the file and
 * line, so a typo never goes unnoticed.
 */
#ifndef QVL_CLI_SETTINGS_H
#define QVL_CLI_SETTINGS_H

#include "cli/cli_util.h"

/* What the settings keep alive: string option values point into it. */
typedef struct cli_settings {
    char *file_text;       /* the config file's bytes, cut into values in place */
} cli_settings;

/* Parses the config file, then the environment, then argv[1..] into opts
 * (as cli_parse; opts must contain {"--config", ...} so the command line
 * accepts it). Returns -1 when the command should go on, or an exit status
 * (0 after --help, 2 after an error, already printed, naming where the bad
 * setting came from). Free st with cli_settings_free after the values are no
 * longer used, whatever the result. */
int cli_parse_settings(int argc, char **argv, const cli_opt *opts, const char *help, cli_settings *st);

void cli_settings_free(cli_settings *st);

/* The help text's paragraph about the above, for commands that use it. */
#define CLI_SETTINGS_HELP \
    "      --config FILE       settings file: 'name = value' lines named as the long options here\n" \
    "                          (default $QVL_CONFIG). Every option also has a variable QVL_NAME\n" \
    "                          (--max-queue -> QVL_MAX_QUEUE; flags: 1/0). Flags override the\n" \
    "                          environment, which overrides the file.\n"

#endif
