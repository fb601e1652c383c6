/* ocr_router.c - question -> ocr | vlm | ocr+vlm from a rules file (see
 * ocr_router.h and data/ocr-rules.txt).
 */
#include "ocr/ocr_router.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <utf8proc.h>

#define RULES_MAX_BYTES  ((size_t)1 << 20)
#define PHRASE_MAX_BYTES 500

typedef struct {
    ocr_route route;
    char *pattern;     /* normalised phrase; '*' separates pieces */
    int weight;        /* literal code points */
    int line;
    char shown[160];   /* phrase as written, for ocr_decision */
} rule;

struct ocr_router {
    rule *rules;
    int n;
    float min_conf;
};

const char *ocr_route_name(ocr_route r) {
    return r == OCR_ROUTE_OCR ? "ocr" : r == OCR_ROUTE_OCR_VLM ? "ocr+vlm" : "vlm";
}

int ocr_mode_parse(const char *s, ocr_mode *out, qvl_error *err) {
    static const struct { const char *name; ocr_mode mode; } modes[] = {
        {"auto", OCR_MODE_AUTO}, {"ocr", OCR_MODE_OCR}, {"vlm", OCR_MODE_VLM}, {"ocr+vlm", OCR_MODE_OCR_VLM}};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
        if (s && !strcasecmp(s, modes[i].name)) { *out = modes[i].mode; return 0; }
    return qvl_fail_code(err, QVL_E_BAD_INPUT, "unknown mode '%.40s': expected auto, ocr, vlm or ocr+vlm",
                         s ? s : "");
}

/* NFKC + case fold, whitespace runs to one space, trimmed. NULL on invalid
 * UTF-8 or OOM. */
static char *normalize(const char *s) {
    utf8proc_uint8_t *nf = NULL;
    if (utf8proc_map((const utf8proc_uint8_t *)s, 0, &nf,
                     UTF8PROC_NULLTERM | UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT |
                     UTF8PROC_CASEFOLD) < 0)
        return NULL;
    char *p = (char *)nf, *w = p;
    int pending_space = 0;
    for (; *p; p++) {
        if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') { pending_space = w != (char *)nf; continue; }
        if (pending_space) *w++ = ' ';
        pending_space = 0;
        *w++ = *p;
    }
    *w = 0;
    return (char *)nf;
}

static int is_word_byte(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* Finds piece[0..n) in s at or after from, at ASCII word boundaries.
 * Returns the match start or NULL. */
static const char *find_piece(const char *s, const char *from, const char *piece, size_t n) {
    const char *end = from + strlen(from);
    for (const char *p = from; p < end; p++) {
        p = memmem(p, (size_t)(end - p), piece, n);
        if (!p) return NULL;
        int left_ok = !is_word_byte((unsigned char)piece[0]) || p == s || !is_word_byte((unsigned char)p[-1]);
        int right_ok = !is_word_byte((unsigned char)piece[n - 1]) || !is_word_byte((unsigned char)p[n]);
        if (left_ok && right_ok) return p;
    }
    return NULL;
}

/* Whether the '*'-separated pieces of pattern occur in q in order. */
static int pattern_matches(const char *q, const char *pattern) {
    const char *pos = q, *pc = pattern;
    while (*pc) {
        const char *star = strchr(pc, '*');
        size_t n = star ? (size_t)(star - pc) : strlen(pc);
        /* Trim the spaces a '*' leaves around a piece ("what does * say"). */
        const char *a = pc, *b = pc + n;
        while (a < b && *a == ' ') a++;
        while (b > a && b[-1] == ' ') b--;
        if (b > a) {
            const char *m = find_piece(q, pos, a, (size_t)(b - a));
            if (!m) return 0;
            pos = m + (b - a);
        }
        if (!star) break;
        pc = star + 1;
    }
    return 1;
}

static int count_literal(const char *p) {
    int n = 0;
    for (; *p; p++) n += (*p & 0xc0) != 0x80 && *p != '*' && *p != ' ';
    return n;
}

void ocr_router_free(ocr_router *r) {
    if (!r) return;
    for (int i = 0; i < r->n; i++) free(r->rules[i].pattern);
    free(r->rules);
    free(r);
}

/* Parses one non-blank, non-comment line (trimmed, NUL-terminated). */
static int parse_line(ocr_router *r, char *line, int lineno, const char *name, qvl_error *err) {
    char *sp = line + strcspn(line, " \t");
    char *rest = sp + strspn(sp, " \t");
    *sp = 0;
    if (!strcmp(line, "min-confidence")) {
        char *end;
        errno = 0;
        double v = strtod(rest, &end);
        if (end == rest || *end || errno || !(v >= 0 && v <= 100))
            return qvl_fail_code(err, QVL_E_BAD_INPUT, "%s:%d: min-confidence needs a number 0..100",
                                 name, lineno);
        r->min_conf = (float)v;
        return 0;
    }
    ocr_route route;
    if (!strcmp(line, "ocr")) route = OCR_ROUTE_OCR;
    else if (!strcmp(line, "vlm")) route = OCR_ROUTE_VLM;
    else if (!strcmp(line, "ocr+vlm")) route = OCR_ROUTE_OCR_VLM;
    else return qvl_fail_code(err, QVL_E_BAD_INPUT, "%s:%d: unknown route '%.40s' (expected ocr, vlm, "
                              "ocr+vlm or min-confidence)", name, lineno, line);
    if (strlen(rest) > PHRASE_MAX_BYTES)
        return qvl_fail_code(err, QVL_E_BAD_INPUT, "%s:%d: phrase longer than %d bytes", name, lineno,
                             PHRASE_MAX_BYTES);
    char *pat = normalize(rest);
    if (!pat) return qvl_fail_code(err, QVL_E_BAD_INPUT, "%s:%d: phrase is not valid UTF-8", name, lineno);
    int weight = count_literal(pat);
    if (weight == 0) {
        free(pat);
        return qvl_fail_code(err, QVL_E_BAD_INPUT, "%s:%d: '%s' needs a phrase after it", name, lineno, line);
    }
    rule *nr = realloc(r->rules, sizeof *nr * (size_t)(r->n + 1));
    if (!nr) { free(pat); return qvl_fail_code(err, QVL_E_NOMEM, "out of memory"); }
    r->rules = nr;
    rule *ru = &r->rules[r->n++];
    *ru = (rule){.route = route, .pattern = pat, .weight = weight, .line = lineno};
    snprintf(ru->shown, sizeof ru->shown, "%s", rest);
    return 0;
}

ocr_router *ocr_router_parse(const char *text, size_t len, const char *name, qvl_error *err) {
    if (len > RULES_MAX_BYTES) {
        qvl_fail_code(err, QVL_E_TOO_LARGE, "%s: rules file over %zu bytes", name, RULES_MAX_BYTES);
        return NULL;
    }
    if (memchr(text, 0, len)) {
        qvl_fail_code(err, QVL_E_BAD_INPUT, "%s: rules file contains a NUL byte", name);
        return NULL;
    }
    ocr_router *r = calloc(1, sizeof *r);
    char *buf = malloc(len + 1);
    if (!r || !buf) {
        free(r); free(buf);
        qvl_fail_code(err, QVL_E_NOMEM, "out of memory");
        return NULL;
    }
    memcpy(buf, text, len);
    buf[len] = 0;
    r->min_conf = 60;
    int lineno = 0, rc = 0;
    for (char *line = buf, *next; line && rc == 0; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        lineno++;
        char *hash = strchr(line, '#');
        if (hash) *hash = 0;
        line += strspn(line, " \t\r");
        size_t n = strlen(line);
        while (n && (line[n - 1] == ' ' || line[n - 1] == '\t' || line[n - 1] == '\r')) line[--n] = 0;
        if (n) rc = parse_line(r, line, lineno, name, err);
    }
    free(buf);
    if (rc < 0) { ocr_router_free(r); return NULL; }
    return r;
}

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = malloc(RULES_MAX_BYTES + 1);
    size_t n = buf ? fread(buf, 1, RULES_MAX_BYTES + 1, f) : 0;
    fclose(f);
    *len = n;
    return buf;
}

ocr_router *ocr_router_load(const char *path, qvl_error *err) {
    char cand[4][PATH_MAX];
    int nc = 0;
    if (path) {
        snprintf(cand[nc++], PATH_MAX, "%s", path);
    } else if (getenv("QVL_OCR_RULES")) {
        snprintf(cand[nc++], PATH_MAX, "%s", getenv("QVL_OCR_RULES"));
    } else {
        char exe[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (n > 0) {
            exe[n] = 0;
            char *slash = strrchr(exe, '/');
            if (slash) *slash = 0;
            snprintf(cand[nc++], PATH_MAX, "%s/data/ocr-rules.txt", exe);
            snprintf(cand[nc++], PATH_MAX, "%s/../../data/ocr-rules.txt", exe);
            snprintf(cand[nc++], PATH_MAX, "%s/../share/qvl/ocr-rules.txt", exe);
        }
        snprintf(cand[nc++], PATH_MAX, "data/ocr-rules.txt");
    }
    for (int i = 0; i < nc; i++) {
        size_t len;
        char *text = read_file(cand[i], &len);
        if (!text) continue;
        ocr_router *r = ocr_router_parse(text, len, cand[i], err);
        free(text);
        return r;
    }
    qvl_fail_code(err, QVL_E_IO, "no OCR rules file at %s%s%s%s (pass --ocr-rules FILE or set QVL_OCR_RULES)",
                  cand[0], nc > 1 ? ", " : "", nc > 1 ? cand[1] : "", nc > 2 ? ", ..." : "");
    return NULL;
}

ocr_route ocr_router_decide(const ocr_router *r, const char *question, ocr_mode requested,
                            ocr_decision *why) {
    ocr_decision d = {.route = OCR_ROUTE_VLM};
    if (requested != OCR_MODE_AUTO) {
        d.forced = 1;
        d.route = requested == OCR_MODE_OCR ? OCR_ROUTE_OCR
                : requested == OCR_MODE_OCR_VLM ? OCR_ROUTE_OCR_VLM : OCR_ROUTE_VLM;
    } else {
        char *q = question ? normalize(question) : NULL;
        const rule *best = NULL;
        for (int i = 0; q && i < r->n; i++)
            if ((!best || r->rules[i].weight > best->weight) && pattern_matches(q, r->rules[i].pattern))
                best = &r->rules[i];
        free(q);
        if (best) {
            d.route = best->route;
            d.rule_line = best->line;
            snprintf(d.rule, sizeof d.rule, "%s", best->shown);
        }
    }
    if (why) *why = d;
    return d.route;
}

int ocr_router_accepts(const ocr_router *r, const ocr_result *res) {
    if (!res || !res->text) return 0;
    int has_text = 0;
    for (const char *p = res->text; *p && !has_text; p++) has_text = *p != ' ' && *p != '\n';
    /* Confidence alone lets upside-down Latin and noise through (they came
     * back at 40-70): the text must also look like writing. */
    return has_text && res->confidence >= r->min_conf && ocr_text_plausibility(res->text) >= OCR_TRUST_PLAUSIBLE;
}

float ocr_router_min_confidence(const ocr_router *r) { return r->min_conf; }

int ocr_router_rule_count(const ocr_router *r) { return r->n; }
