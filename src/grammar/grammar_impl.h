/* grammar_impl.h - the layout of a compiled grammar, shared by its builder
 * (json_schema.c, tool_grammar.c, grammar.c) and its reader (grammar_state.c).
 * Not for use outside src/grammar.
 *
 * A grammar is a graph of nodes in one array, addressed by index (so
 * recursive schemas are plain cycles). Each node describes one JSON value
 * the output may hold at that place. Variable-length lists (an object's
 * properties, anyOf alternatives, a sequence's parts) live in the shared
 * int array `kids`; literal alternatives (enum values, keys, true/false/null)
 * in sorted literal sets.
 */
#ifndef QVL_GRAMMAR_IMPL_H
#define QVL_GRAMMAR_IMPL_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "grammar/grammar.h"

typedef enum gnode_kind {
    GN_ANY,        /* any JSON value (json_object mode's values, schema {} / true) */
    GN_OBJECT,     /* declared properties in order: kids[a .. a+b) = one key-set per position, see gobj_pos */
    GN_MAP,        /* any keys (JSON strings), values of node a */
    GN_ARRAY,      /* items node a, min_n .. max_n items */
    GN_STRING,     /* min_n .. max_n characters (code points) */
    GN_INTEGER,    /* lo .. hi, inclusive integer bounds */
    GN_NUMBER,     /* lo .. hi, excl_lo / excl_hi */
    GN_LITERAL,    /* one of the byte strings of literal set a (compact JSON texts) */
    GN_ANYOF,      /* the first of kids[a .. a+b) that accepts the first byte */
    GN_DATE,       /* "YYYY-MM-DD", a real calendar day */
    GN_DATETIME,   /* "YYYY-MM-DDTHH:MM:SSZ" */
    GN_SEQ,        /* kids[a .. a+b) one after the other (literal text around values) */
    GN_SWITCH,     /* literal set a, then the node kids[c + payload of the literal matched] */
    GN_REF,        /* the same as node a */
} gnode_kind;

typedef struct gnode {
    gnode_kind kind;
    int a, b, c;
    int64_t min_n, max_n;       /* items / characters; max_n < 0: unbounded */
    double lo, hi;              /* number bounds; -inf / +inf when absent */
    bool excl_lo, excl_hi;
} gnode;

/* One position of a GN_OBJECT: the keys that may come next (a literal set
 * whose payloads are property indexes) and whether '}' may come instead. */
typedef struct gobj_pos {
    int keys;                   /* literal set */
    bool can_close;             /* no required property at or after this position */
} gobj_pos;

/* Byte strings sorted by memcmp order (a shorter prefix first), so the
 * candidates that share a prefix are one contiguous range. */
typedef struct glit_set {
    char **s;                   /* (n) */
    uint32_t *len;              /* (n) */
    int32_t *payload;           /* (n) e.g. the property index of a key */
    int n;
} glit_set;

struct grammar {
    gnode *nodes;
    int n_nodes, cap_nodes;
    int *kids;                  /* node lists, see gnode_kind */
    int n_kids, cap_kids;
    gobj_pos *objpos;           /* GN_OBJECT positions: node.c = first, node.b + 1 of them */
    int n_objpos, cap_objpos;
    glit_set *lits;
    int n_lits, cap_lits;
    int root;
    /* Nodes every grammar has (grammar_new), used for values of GN_ANY. */
    int any, any_map, any_array, plain_string, any_number, true_false_null;
};

/* A new grammar holding the shared nodes above; root unset (-1). NULL when
 * out of memory. */
grammar *grammar_new(void);

/* Appends a node (fields zeroed, bounds open); returns its index or -1 when
 * out of memory. */
int grammar_add_node(grammar *g, gnode_kind kind);

/* Appends n ints to kids; returns the index of the first or -1 (out of memory). */
int grammar_add_kids(grammar *g, const int *v, int n);

/* Appends n object positions; returns the index of the first or -1. */
int grammar_add_objpos(grammar *g, const gobj_pos *v, int n);

/* Adds a literal set of n strings (copied, then sorted with their payloads);
 * returns its index or -1 when out of memory. */
int grammar_add_literals(grammar *g, const char *const *s, const uint32_t *len, const int32_t *payload, int n);

/* A GN_LITERAL node for one text (e.g. "<tool_call>\n"); -1 when out of memory. */
int grammar_add_text(grammar *g, const char *text);

/* Compiles schema into g (json_schema.c; $refs resolve within schema).
 * Returns the node, or -1 with err set as grammar_from_schema. */
int grammar_add_schema(grammar *g, const json_t *schema, qvl_error *err);

#endif
