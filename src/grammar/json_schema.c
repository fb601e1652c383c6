/* json_schema.c - JSON Schema -> grammar nodes. See json_schema.h.
 *
 * Divisions: keyword checks, $ref resolution, one compile function per
 * type, and the dispatcher (compile) that infers the type when the schema
 * gives none. Every error names the schema location as a JSON pointer. */
#include "grammar/json_schema.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/grammar_impl.h"

enum {
    MAX_NESTING = 64,        /* schema objects inside each other (not counting $refs) */
    MAX_PROPERTIES = 256,    /* per object: the key sets grow with the square */
    MAX_ENUM = 4096,         /* values per enum */
    MAX_LITERAL = 8192,      /* bytes of one enum / const value */
    MAX_NODES = 200000,
};

/* Largest magnitude a generated number may reach: 15 integer digits. */
#define NUM_LIMIT 999999999999999.0

typedef struct compiler {
    grammar *g;
    const json_t *doc;       /* the schema $refs resolve in */
    const json_t **memo_s;   /* $ref targets compiled so far ... */
    int *memo_n;             /* ... and their nodes */
    int n_memo, cap_memo;
    int nesting;
    qvl_error *err;
} compiler;

static int fail(compiler *c, const char *path, const char *fmt, const char *what) {
    char msg[300];
    snprintf(msg, sizeof msg, fmt, what);
    return qvl_fail_code(c->err, QVL_E_BAD_INPUT, "json schema %s: %s", *path ? path : "#", msg);
}

static int nomem(compiler *c) { return qvl_fail_code(c->err, QVL_E_NOMEM, "out of memory compiling the schema"); }

/* A node, or -1 with err set. */
static int new_node(compiler *c, gnode_kind kind) {
    if (c->g->n_nodes >= MAX_NODES)
        return qvl_fail_code(c->err, QVL_E_TOO_LARGE, "json schema: more than %d grammar nodes", MAX_NODES);
    int n = grammar_add_node(c->g, kind);
    return n < 0 ? nomem(c) : n;
}

static int compile(compiler *c, const json_t *s, const char *path);

/* ---- keywords ---------------------------------------------------------------- */

static const char *const KNOWN[] = {
    "type", "properties", "required", "additionalProperties", "items", "minItems", "maxItems", "enum", "const",
    "minLength", "maxLength", "format", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "anyOf",
    "allOf", "$ref", "$defs", "definitions",
    /* annotations: no effect on the output */
    "title", "description", "default", "examples", "$schema", "$id", "$comment", "deprecated", "readOnly",
    "writeOnly", NULL};

static bool in_list(const char *k, const char *const *list) {
    for (int i = 0; list[i]; i++)
        if (!strcmp(k, list[i])) return true;
    return false;
}

/* Refuses keywords outside KNOWN, naming the first. */
static int check_keywords(compiler *c, const json_t *s, const char *path) {
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)s, k, v) {
        if (!in_list(k, KNOWN)) return fail(c, path, "'%.80s' is not supported", k);
    }
    return 0;
}

/* True when s has a keyword other than annotations and except. */
static bool has_constraints_besides(const json_t *s, const char *except) {
    static const char *const ANNOT[] = {"title", "description", "default", "examples", "$schema", "$id",
                                        "$comment", "deprecated", "readOnly", "writeOnly", "$defs",
                                        "definitions", NULL};
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)s, k, v) {
        if (strcmp(k, except) && !in_list(k, ANNOT)) return true;
    }
    return false;
}

/* A non-negative integer keyword into *out (untouched when absent). */
static int get_count(compiler *c, const json_t *s, const char *key, const char *path, int64_t *out) {
    const json_t *v = json_object_get(s, key);
    if (!v) return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return fail(c, path, "'%s' must be a non-negative integer", key);
    *out = json_integer_value(v);
    return 0;
}

static int get_bound(compiler *c, const json_t *s, const char *key, const char *path, double *out, bool *given) {
    const json_t *v = json_object_get(s, key);
    *given = v != NULL;
    if (!v) return 0;
    if (!json_is_number(v)) return fail(c, path, "'%s' must be a number", key);
    *out = json_number_value(v);
    return 0;
}

static void sub_path(char *out, size_t n, const char *path, const char *a, const char *b) {
    snprintf(out, n, "%s/%s%s%s", *path ? path : "#", a, b ? "/" : "", b ? b : "");
}

/* ---- $ref ------------------------------------------------------------------ */

/* Resolves a local JSON pointer ("#", "#/$defs/x", "#/definitions/a~1b").
 * NULL with err set when it is not local or leads nowhere. */
static const json_t *resolve(compiler *c, const char *ref, const char *path) {
    if (ref[0] != '#') {
        fail(c, path, "$ref '%.100s' is not local (only '#...' references are resolved)", ref);
        return NULL;
    }
    const json_t *at = c->doc;
    const char *p = ref + 1;
    char seg[256];
    while (*p == '/' && at) {
        p++;
        size_t n = 0;
        for (; *p && *p != '/'; p++) {
            char ch = *p;
            if (ch == '~' && (p[1] == '0' || p[1] == '1')) ch = *++p == '0' ? '~' : '/';
            if (n + 1 < sizeof seg) seg[n++] = ch;
        }
        seg[n] = 0;
        at = json_is_array(at) ? json_array_get(at, (size_t)strtoul(seg, NULL, 10)) : json_object_get(at, seg);
    }
    if (*p || !at) {
        fail(c, path, "$ref '%.100s' points to nothing in this schema", ref);
        return NULL;
    }
    return at;
}

/* The node of a $ref target, compiled once; a REF node stands for it so
 * that recursive schemas become cycles. */
static int compile_ref(compiler *c, const json_t *s, const char *path) {
    const char *ref = json_string_value(json_object_get(s, "$ref"));
    if (!ref) return fail(c, path, "%s must be a string", "$ref");
    if (has_constraints_besides(s, "$ref")) return fail(c, path, "%s next to other keywords is not supported", "$ref");
    const json_t *target = resolve(c, ref, path);
    if (!target) return -1;
    for (int i = 0; i < c->n_memo; i++)
        if (c->memo_s[i] == target) return c->memo_n[i];
    int r = new_node(c, GN_REF);
    if (r < 0) return -1;
    if (c->n_memo == c->cap_memo) {
        int cap = c->cap_memo ? c->cap_memo * 2 : 8;
        const json_t **ms = realloc(c->memo_s, (size_t)cap * sizeof *ms);
        if (ms) c->memo_s = ms;
        int *mn = realloc(c->memo_n, (size_t)cap * sizeof *mn);
        if (mn) c->memo_n = mn;
        if (!ms || !mn) return nomem(c);
        c->cap_memo = cap;
    }
    c->memo_s[c->n_memo] = target;
    c->memo_n[c->n_memo++] = r;
    int saved = c->nesting;
    c->nesting = 0;   /* a $ref starts a new chain: its depth is bounded by the memo */
    int t = compile(c, target, ref);
    c->nesting = saved;
    if (t < 0) return -1;
    c->g->nodes[r].a = t;
    return r;
}

/* ---- literals (enum, const, boolean, null) ------------------------------------ */

static bool value_has_type(const json_t *v, const char *type) {
    if (!strcmp(type, "string")) return json_is_string(v);
    if (!strcmp(type, "integer"))
        return json_is_integer(v) || (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)));
    if (!strcmp(type, "number")) return json_is_number(v);
    if (!strcmp(type, "boolean")) return json_is_boolean(v);
    if (!strcmp(type, "null")) return json_is_null(v);
    if (!strcmp(type, "object")) return json_is_object(v);
    if (!strcmp(type, "array")) return json_is_array(v);
    return false;
}

/* True when v is allowed by the schema's "type" (a name or a list; absent = any). */
static bool type_allows(const json_t *type, const json_t *v) {
    if (!type) return true;
    if (json_is_string(type)) return value_has_type(v, json_string_value(type));
    size_t i;
    const json_t *t;
    json_array_foreach(type, i, t) {
        if (json_is_string(t) && value_has_type(v, json_string_value(t))) return true;
    }
    return false;
}

/* A GN_LITERAL node for the values (compact JSON each) that the schema's type allows. */
static int compile_literals(compiler *c, const json_t *values, const json_t *type, const char *key, const char *path) {
    size_t n = json_array_size(values);
    if (n > MAX_ENUM) return fail(c, path, "'%s' has too many values", key);
    char **s = calloc(n ? n : 1, sizeof *s);
    uint32_t *len = calloc(n ? n : 1, sizeof *len);
    int node = -1, k = 0;
    if (!s || !len) {
        nomem(c);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *v = json_array_get(values, i);
        if (!type_allows(type, v)) continue;
        s[k] = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));
        if (!s[k]) {
            nomem(c);
            goto done;
        }
        len[k] = (uint32_t)strlen(s[k]);
        if (len[k] > MAX_LITERAL) {
            fail(c, path, "a value of '%s' is too long", key);
            k++;
            goto done;
        }
        k++;
    }
    if (k == 0) {
        fail(c, path, "'%s' allows no value of the schema's type", key);
        goto done;
    }
    int lit = grammar_add_literals(c->g, (const char *const *)s, len, NULL, k);
    if (lit < 0) {
        nomem(c);
        goto done;
    }
    if ((node = new_node(c, GN_LITERAL)) >= 0) c->g->nodes[node].a = lit;
done:
    for (int i = 0; i < k; i++) free(s[i]);
    free(s), free(len);
    return node;
}

static int compile_words(compiler *c, const char *const *words, int n) {
    uint32_t len[3];
    for (int i = 0; i < n; i++) len[i] = (uint32_t)strlen(words[i]);
    int lit = grammar_add_literals(c->g, words, len, NULL, n);
    if (lit < 0) return nomem(c);
    int node = new_node(c, GN_LITERAL);
    if (node >= 0) c->g->nodes[node].a = lit;
    return node;
}

/* ---- objects ---------------------------------------------------------------- */

/* The key set of position i: properties i .. the first required one (all
 * remaining when none is required). */
static int key_set(compiler *c, char **keys, const uint32_t *key_len, const bool *required, int n, int i) {
    int end = i;
    while (end < n && !required[end]) end++;
    if (end == n) end = n - 1;
    int32_t pay[MAX_PROPERTIES];
    for (int j = i; j <= end; j++) pay[j - i] = j;
    int lit = grammar_add_literals(c->g, (const char *const *)keys + i, key_len + i, pay, end >= i ? end - i + 1 : 0);
    return lit < 0 ? nomem(c) : lit;
}

static int compile_object(compiler *c, const json_t *s, const char *path) {
    const json_t *props = json_object_get(s, "properties"), *req = json_object_get(s, "required");
    const json_t *addl = json_object_get(s, "additionalProperties");
    if (props && !json_is_object(props)) return fail(c, path, "'%s' must be an object", "properties");
    if (req && !json_is_array(req)) return fail(c, path, "'%s' must be an array of names", "required");
    if (addl && !json_is_boolean(addl) && !json_is_object(addl))
        return fail(c, path, "'%s' must be a boolean or a schema", "additionalProperties");
    size_t i;
    const json_t *r;
    json_array_foreach(req, i, r) {
        if (!json_is_string(r)) return fail(c, path, "'%s' must be an array of names", "required");
    }
    if (json_object_size(props) == 0 && json_array_size(req) == 0 && !json_is_false(addl)) {
        /* a map: any keys, values of additionalProperties */
        char sub[512];
        sub_path(sub, sizeof sub, path, "additionalProperties", NULL);
        int val = addl && json_is_object(addl) ? compile(c, addl, sub) : c->g->any;
        int node = val < 0 ? -1 : new_node(c, GN_MAP);
        if (node >= 0) c->g->nodes[node].a = val;
        return node;
    }
    /* declared properties in order, then required names not declared */
    const char *names[MAX_PROPERTIES];
    const json_t *schemas[MAX_PROPERTIES];
    int n = 0;
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)props, k, v) {
        if (n == MAX_PROPERTIES) return fail(c, path, "more than %s properties", "256");
        names[n] = k, schemas[n++] = v;
    }
    json_array_foreach(req, i, r) {
        const char *name = json_string_value(r);
        if (json_object_get(props, name)) continue;
        bool dup = false;
        for (int j = 0; j < n; j++) dup |= !strcmp(names[j], name);
        if (dup) continue;
        if (n == MAX_PROPERTIES) return fail(c, path, "more than %s properties", "256");
        names[n] = name, schemas[n++] = addl && json_is_object(addl) ? addl : NULL;
    }
    int kids[MAX_PROPERTIES];
    bool required[MAX_PROPERTIES] = {0};
    for (int j = 0; j < n; j++) {
        json_array_foreach(req, i, r) required[j] |= !strcmp(json_string_value(r), names[j]);
        char sub[512];
        sub_path(sub, sizeof sub, path, "properties", names[j]);
        kids[j] = schemas[j] ? compile(c, schemas[j], sub) : c->g->any;
        if (kids[j] < 0) return -1;
    }
    /* keys as JSON strings: "name" */
    char *keys[MAX_PROPERTIES];
    uint32_t key_len[MAX_PROPERTIES];
    int made = 0, rc = -1;
    for (; made < n; made++) {
        json_t *str = json_string(names[made]);
        keys[made] = str ? json_dumps(str, JSON_ENCODE_ANY) : NULL;
        json_decref(str);
        if (!keys[made]) {
            nomem(c);
            goto done;
        }
        key_len[made] = (uint32_t)strlen(keys[made]);
    }
    gobj_pos pos[MAX_PROPERTIES + 1];
    for (int p = 0; p <= n; p++) {
        bool close = true;
        for (int j = p; j < n; j++) close &= !required[j];
        pos[p].can_close = close;
        pos[p].keys = p < n ? key_set(c, keys, key_len, required, n, p) : -1;
        if (p < n && pos[p].keys < 0) goto done;
    }
    int node = new_node(c, GN_OBJECT);
    if (node < 0) goto done;
    int first_kid = grammar_add_kids(c->g, kids, n), first_pos = grammar_add_objpos(c->g, pos, n + 1);
    if (first_kid < 0 || first_pos < 0) {
        nomem(c);
        goto done;
    }
    gnode *o = &c->g->nodes[node];
    o->a = first_kid, o->b = n, o->c = first_pos;
    rc = node;
done:
    for (int j = 0; j < made; j++) free(keys[j]);
    return rc;
}

/* ---- arrays, strings, numbers -------------------------------------------------- */

static int compile_array(compiler *c, const json_t *s, const char *path) {
    int64_t lo = 0, hi = -1;
    if (get_count(c, s, "minItems", path, &lo) || get_count(c, s, "maxItems", path, &hi)) return -1;
    if (hi >= 0 && lo > hi) return fail(c, path, "%s exceeds maxItems", "minItems");
    const json_t *items = json_object_get(s, "items");
    if (items && !json_is_object(items) && !json_is_boolean(items))
        return fail(c, path, "'%s' must be one schema (prefixItems / tuple forms are not supported)", "items");
    char sub[512];
    sub_path(sub, sizeof sub, path, "items", NULL);
    int it = items ? compile(c, items, sub) : c->g->any;
    int node = it < 0 ? -1 : new_node(c, GN_ARRAY);
    if (node < 0) return -1;
    gnode *a = &c->g->nodes[node];
    a->a = it, a->min_n = lo, a->max_n = hi;
    return node;
}

static int compile_string(compiler *c, const json_t *s, const char *path) {
    const json_t *fmt = json_object_get(s, "format");
    if (fmt) {
        const char *f = json_string_value(fmt);
        if (f && !strcmp(f, "date")) return new_node(c, GN_DATE);
        if (f && !strcmp(f, "date-time")) return new_node(c, GN_DATETIME);
        return fail(c, path, "format '%.40s' is not supported (date and date-time are)", f ? f : "?");
    }
    int64_t lo = 0, hi = -1;
    if (get_count(c, s, "minLength", path, &lo) || get_count(c, s, "maxLength", path, &hi)) return -1;
    if (hi >= 0 && lo > hi) return fail(c, path, "%s exceeds maxLength", "minLength");
    if (lo > 1000000) return fail(c, path, "%s is too large", "minLength");
    int node = new_node(c, GN_STRING);
    if (node < 0) return -1;
    c->g->nodes[node].min_n = lo;
    c->g->nodes[node].max_n = hi > 1000000000 ? -1 : hi;
    return node;
}

static int compile_number(compiler *c, const json_t *s, const char *path, bool integer) {
    double min = 0, max = 0, emin = 0, emax = 0;
    bool has_min, has_max, has_emin, has_emax;
    if (get_bound(c, s, "minimum", path, &min, &has_min) || get_bound(c, s, "maximum", path, &max, &has_max) ||
        get_bound(c, s, "exclusiveMinimum", path, &emin, &has_emin) ||
        get_bound(c, s, "exclusiveMaximum", path, &emax, &has_emax))
        return -1;
    double lo = -NUM_LIMIT, hi = NUM_LIMIT;
    bool excl_lo = false, excl_hi = false;
    if (has_min && min > lo) lo = min;
    if (has_emin && emin >= lo) lo = emin, excl_lo = true;
    if (has_max && max < hi) hi = max;
    if (has_emax && emax <= hi) hi = emax, excl_hi = true;
    if (integer) {   /* inclusive integer bounds */
        lo = excl_lo ? floor(lo) + 1 : ceil(lo);
        hi = excl_hi ? ceil(hi) - 1 : floor(hi);
        excl_lo = excl_hi = false;
    }
    if (lo > hi || (lo == hi && (excl_lo || excl_hi)))
        return fail(c, path, "the bounds leave no %s", integer ? "integer" : "number");
    if (lo > NUM_LIMIT || hi < -NUM_LIMIT) return fail(c, path, "the bounds are beyond %s", "15 digits");
    if (!integer) {   /* the output has at most 9 decimals: one of them must fit */
        double first = ceil(lo * 1e9) / 1e9;
        if (excl_lo && first <= lo) first += 1e-9;
        if (excl_hi ? first >= hi : first > hi) return fail(c, path, "the bounds leave no number of %s", "9 decimals");
    }
    int node = new_node(c, integer ? GN_INTEGER : GN_NUMBER);
    if (node < 0) return -1;
    gnode *n = &c->g->nodes[node];
    n->lo = lo, n->hi = hi, n->excl_lo = excl_lo, n->excl_hi = excl_hi;
    return node;
}

static int compile_type(compiler *c, const json_t *s, const char *type, const char *path) {
    if (!strcmp(type, "object")) return compile_object(c, s, path);
    if (!strcmp(type, "array")) return compile_array(c, s, path);
    if (!strcmp(type, "string")) return compile_string(c, s, path);
    if (!strcmp(type, "integer")) return compile_number(c, s, path, true);
    if (!strcmp(type, "number")) return compile_number(c, s, path, false);
    if (!strcmp(type, "boolean")) return compile_words(c, (const char *const[]){"true", "false"}, 2);
    if (!strcmp(type, "null")) return compile_words(c, (const char *const[]){"null"}, 1);
    return fail(c, path, "unknown type '%.40s'", type);
}

/* ---- the dispatcher ------------------------------------------------------------ */

/* The type a schema without "type" describes, from its keywords; NULL = any value. */
static const char *implied_type(const json_t *s) {
    if (json_object_get(s, "properties") || json_object_get(s, "required") ||
        json_object_get(s, "additionalProperties"))
        return "object";
    if (json_object_get(s, "items") || json_object_get(s, "minItems") || json_object_get(s, "maxItems"))
        return "array";
    if (json_object_get(s, "minLength") || json_object_get(s, "maxLength") || json_object_get(s, "format"))
        return "string";
    if (json_object_get(s, "minimum") || json_object_get(s, "maximum") || json_object_get(s, "exclusiveMinimum") ||
        json_object_get(s, "exclusiveMaximum"))
        return "number";
    return NULL;
}

static int compile_any_of(compiler *c, const json_t *alts, const char *key, const char *path) {
    if (!json_is_array(alts) || json_array_size(alts) == 0 || json_array_size(alts) > MAX_PROPERTIES)
        return fail(c, path, "'%s' must be a non-empty array of schemas", key);
    int kids[MAX_PROPERTIES];
    size_t i;
    const json_t *alt;
    json_array_foreach(alts, i, alt) {
        char idx[24], sub[512];
        snprintf(idx, sizeof idx, "%zu", i);
        sub_path(sub, sizeof sub, path, key, idx);
        if ((kids[i] = compile(c, alt, sub)) < 0) return -1;
    }
    int node = new_node(c, GN_ANYOF);
    int first = node < 0 ? -1 : grammar_add_kids(c->g, kids, (int)json_array_size(alts));
    if (node < 0) return -1;
    if (first < 0) return nomem(c);
    c->g->nodes[node].a = first;
    c->g->nodes[node].b = (int)json_array_size(alts);
    return node;
}

static int compile_inner(compiler *c, const json_t *s, const char *path) {
    if (json_is_true(s)) return c->g->any;
    if (json_is_false(s)) return fail(c, path, "%s allows nothing", "the schema false");
    if (!json_is_object(s)) return fail(c, path, "%s must be an object or a boolean", "a schema");
    if (check_keywords(c, s, path) != 0) return -1;
    if (json_object_get(s, "$ref")) return compile_ref(c, s, path);
    const json_t *all = json_object_get(s, "allOf");
    if (all) {
        if (!json_is_array(all) || json_array_size(all) != 1 || has_constraints_besides(s, "allOf"))
            return fail(c, path, "'%s' is supported only with exactly one schema and nothing beside it", "allOf");
        char sub[512];
        sub_path(sub, sizeof sub, path, "allOf", "0");
        return compile(c, json_array_get(all, 0), sub);
    }
    const json_t *any = json_object_get(s, "anyOf");
    if (any) {
        if (json_object_get(s, "type") || json_object_get(s, "enum") || json_object_get(s, "const"))
            return fail(c, path, "'%s' next to type / enum / const is not supported", "anyOf");
        return compile_any_of(c, any, "anyOf", path);
    }
    const json_t *type = json_object_get(s, "type");
    if (type && !json_is_string(type) && !json_is_array(type))
        return fail(c, path, "'%s' must be a type name or a list of them", "type");
    if (json_object_get(s, "const")) {
        json_t *one = json_pack("[O]", json_object_get(s, "const"));
        int node = one ? compile_literals(c, one, type, "const", path) : nomem(c);
        json_decref(one);
        return node;
    }
    const json_t *en = json_object_get(s, "enum");
    if (en) {
        if (!json_is_array(en) || json_array_size(en) == 0) return fail(c, path, "'%s' must be a non-empty array", "enum");
        return compile_literals(c, en, type, "enum", path);
    }
    if (json_is_array(type)) {
        size_t n = json_array_size(type);
        if (n == 0 || n > 8) return fail(c, path, "'%s' must list 1 to 8 types", "type");
        int kids[8];
        for (size_t i = 0; i < n; i++) {
            const char *t = json_string_value(json_array_get(type, i));
            if (!t) return fail(c, path, "'%s' must list type names", "type");
            if ((kids[i] = compile_type(c, s, t, path)) < 0) return -1;
        }
        if (n == 1) return kids[0];
        int node = new_node(c, GN_ANYOF);
        int first = node < 0 ? -1 : grammar_add_kids(c->g, kids, (int)n);
        if (node < 0) return -1;
        if (first < 0) return nomem(c);
        c->g->nodes[node].a = first;
        c->g->nodes[node].b = (int)n;
        return node;
    }
    const char *t = type ? json_string_value(type) : implied_type(s);
    return t ? compile_type(c, s, t, path) : c->g->any;
}

static int compile(compiler *c, const json_t *s, const char *path) {
    if (++c->nesting > MAX_NESTING) {
        c->nesting--;
        return fail(c, path, "the schema is nested more than %s levels deep", "64");
    }
    int node = compile_inner(c, s, path);
    c->nesting--;
    return node;
}

int grammar_add_schema(grammar *g, const json_t *schema, qvl_error *err) {
    compiler c = {.g = g, .doc = schema, .err = err};
    int node = compile(&c, schema, "");
    free(c.memo_s), free(c.memo_n);
    return node;
}

grammar *grammar_from_schema(const json_t *schema, qvl_error *err) {
    grammar *g = grammar_new();
    if (!g) {
        qvl_fail_code(err, QVL_E_NOMEM, "out of memory");
        return NULL;
    }
    if ((g->root = grammar_add_schema(g, schema, err)) < 0) {
        grammar_free(g);
        return NULL;
    }
    return g;
}
