/* cli_settings.c - see cli_settings.h. Each place is turned into ordinary
 * "--name value" arguments and given to cli_parse, one setting at a time, so
 * the values are checked exactly as on the command line and an error names
 * the file and line, or the variable, it came from. */
#include "cli/cli_settings.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool is_on(const char *v) {
    return !strcmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcasecmp(v, "on");
}

static bool is_off(const char *v) {
    return !*v || !strcmp(v, "0") || !strcasecmp(v, "false") || !strcasecmp(v, "no") || !strcasecmp(v, "off");
}

/* Applies one setting "--name" = value (value NULL: a bare flag) through
 * cli_parse; where says where it came from in messages. 0 or 2. */
static int apply(const cli_opt *o, const char *value, const char *where, const cli_opt *opts, const char *help) {
    char *args[3] = {(char *)where, (char *)o->name, (char *)value};
    if (o->kind == OPT_FLAG) {
        if (value && is_off(value)) return 0;
        if (value && !is_on(value)) {
            fprintf(stderr, "%s: %s is a flag: give 1/true/yes/on or 0/false/no/off, not '%s'\n", where, o->name,
                    value);
            return 2;
        }
        return cli_parse(2, args, opts, help, NULL) == -1 ? 0 : 2;
    }
    if (!value || !*value) {
        fprintf(stderr, "%s: %s needs a value\n", where, o->name);
        return 2;
    }
    return cli_parse(3, args, opts, help, NULL) == -1 ? 0 : 2;
}

static const cli_opt *find_long(const cli_opt *opts, const char *key, size_t len) {
    for (const cli_opt *o = opts; o->name; o++)
        if (!strncmp(o->name, "--", 2) && strlen(o->name + 2) == len && !strncmp(o->name + 2, key, len)) return o;
    return NULL;
}

static char *trim(char *s) {
    while (isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1])) s[--n] = 0;
    return s;
}

static int parse_file(const char *path, const cli_opt *opts, const char *help, cli_settings *st) {
    size_t len;
    st->file_text = cli_read_all("qvl: --config", path, &len);
    if (!st->file_text) return 2;
    if (strlen(st->file_text) != len) {
        fprintf(stderr, "%s: not a text file (it contains a NUL byte)\n", path);
        return 2;
    }
    char *line = st->file_text;
    for (int no = 1; line; no++) {
        char *next = strchr(line, '\n');
        if (next) *next++ = 0;
        char *s = trim(line);
        line = next;
        if (!*s || *s == '#') continue;
        size_t klen = strcspn(s, " \t=");
        char *value = s + klen;
        bool has_value = *value != 0;
        if (has_value) {
            value += strspn(value, " \t");
            if (*value == '=') value = trim(value + 1);
            size_t vlen = strlen(value);
            if (vlen >= 2 && value[0] == '"' && value[vlen - 1] == '"') {
                value[vlen - 1] = 0;
                value++;
            }
        }
        char where[512];
        snprintf(where, sizeof where, "%s:%d", path, no);
        const cli_opt *o = find_long(opts, s, klen);
        if (!o || !strcmp(o->name, "--config")) {
            fprintf(stderr, "%s: unknown setting '%.*s' (the settings are the long options of --help, without the "
                            "dashes)\n", where, (int)klen, s);
            return 2;
        }
        if (apply(o, has_value ? value : NULL, where, opts, help) != 0) return 2;
    }
    return 0;
}

static int parse_env(const cli_opt *opts, const char *help) {
    for (const cli_opt *o = opts; o->name; o++) {
        if (strncmp(o->name, "--", 2) != 0 || !strcmp(o->name, "--config")) continue;
        char var[64] = "QVL_";
        size_t n = 4;
        for (const char *c = o->name + 2; *c && n + 1 < sizeof var; c++)
            var[n++] = *c == '-' ? '_' : (char)toupper((unsigned char)*c);
        var[n] = 0;
        const char *v = getenv(var);
        if (!v || (!*v && o->kind != OPT_FLAG)) continue;   /* empty = not set, as systemd writes it */
        if (apply(o, v, var, opts, help) != 0) return 2;
    }
    return 0;
}

int cli_parse_settings(int argc, char **argv, const cli_opt *opts, const char *help, cli_settings *st) {
    st->file_text = NULL;
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return cli_parse(argc, argv, opts, help, NULL);
        if (!strcmp(argv[i], "--config") && i + 1 < argc) path = argv[i + 1];
        else if (!strncmp(argv[i], "--config=", 9)) path = argv[i] + 9;
    }
    if (!path) path = getenv("QVL_CONFIG");
    if (path && *path && parse_file(path, opts, help, st) != 0) return 2;
    if (parse_env(opts, help) != 0) return 2;
    return cli_parse(argc, argv, opts, help, NULL);
}

void cli_settings_free(cli_settings *st) {
    free(st->file_text);
    st->file_text = NULL;
}
