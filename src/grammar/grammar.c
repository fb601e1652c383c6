/* grammar.c - building blocks of a compiled grammar (grammar_impl.h) and
 * the json_object grammar. */
#include "grammar/grammar_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Grows *arr (of *cap elements of size sz) to hold need; -1 when out of memory. */
static int grow(void **arr, int *cap, int need, size_t sz) {
    if (need <= *cap) return 0;
    int c = *cap ? *cap : 16;
    while (c < need) c *= 2;
    void *p = realloc(*arr, (size_t)c * sz);
    if (!p) return -1;
    *arr = p;
    *cap = c;
    return 0;
}

int grammar_add_node(grammar *g, gnode_kind kind) {
    if (grow((void **)&g->nodes, &g->cap_nodes, g->n_nodes + 1, sizeof *g->nodes)) return -1;
    gnode *n = &g->nodes[g->n_nodes];
    memset(n, 0, sizeof *n);
    n->kind = kind;
    n->max_n = -1;
    n->lo = -INFINITY;
    n->hi = INFINITY;
    return g->n_nodes++;
}

int grammar_add_kids(grammar *g, const int *v, int n) {
    if (grow((void **)&g->kids, &g->cap_kids, g->n_kids + n + 1, sizeof *g->kids)) return -1;
    if (n) memcpy(g->kids + g->n_kids, v, (size_t)n * sizeof *v);
    g->n_kids += n;
    return g->n_kids - n;
}

int grammar_add_objpos(grammar *g, const gobj_pos *v, int n) {
    if (grow((void **)&g->objpos, &g->cap_objpos, g->n_objpos + n + 1, sizeof *g->objpos)) return -1;
    memcpy(g->objpos + g->n_objpos, v, (size_t)n * sizeof *v);
    g->n_objpos += n;
    return g->n_objpos - n;
}

static int cmp_bytes(const char *a, uint32_t la, const char *b, uint32_t lb) {
    int c = memcmp(a, b, la < lb ? la : lb);
    return c ? c : (la > lb) - (la < lb);
}

int grammar_add_literals(grammar *g, const char *const *s, const uint32_t *len, const int32_t *payload, int n) {
    if (grow((void **)&g->lits, &g->cap_lits, g->n_lits + 1, sizeof *g->lits)) return -1;
    glit_set *L = &g->lits[g->n_lits];
    L->n = 0;
    L->s = calloc((size_t)(n ? n : 1), sizeof *L->s);
    L->len = malloc((size_t)(n ? n : 1) * sizeof *L->len);
    L->payload = malloc((size_t)(n ? n : 1) * sizeof *L->payload);
    if (!L->s || !L->len || !L->payload) goto nomem;
    /* insertion sort: literal sets are small (keys, enum values) */
    for (int i = 0; i < n; i++) {
        char *copy = malloc(len[i] + 1);
        if (!copy) goto nomem;
        memcpy(copy, s[i], len[i]);
        copy[len[i]] = 0;
        int j = L->n;
        while (j > 0 && cmp_bytes(L->s[j - 1], L->len[j - 1], copy, len[i]) > 0) {
            L->s[j] = L->s[j - 1], L->len[j] = L->len[j - 1], L->payload[j] = L->payload[j - 1];
            j--;
        }
        L->s[j] = copy, L->len[j] = len[i], L->payload[j] = payload ? payload[i] : i;
        L->n++;
    }
    return g->n_lits++;
nomem:
    for (int i = 0; i < L->n; i++) free(L->s[i]);
    free(L->s), free(L->len), free(L->payload);
    return -1;
}

int grammar_add_text(grammar *g, const char *text) {
    uint32_t len = (uint32_t)strlen(text);
    int lit = grammar_add_literals(g, &text, &len, NULL, 1);
    int node = lit < 0 ? -1 : grammar_add_node(g, GN_LITERAL);
    if (node >= 0) g->nodes[node].a = lit;
    return node;
}

grammar *grammar_new(void) {
    grammar *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    g->root = -1;
    static const char *const tfn[] = {"true", "false", "null"};
    static const uint32_t tfn_len[] = {4, 5, 4};
    int lit = grammar_add_literals(g, tfn, tfn_len, NULL, 3);
    g->any = grammar_add_node(g, GN_ANY);
    g->any_map = grammar_add_node(g, GN_MAP);
    g->any_array = grammar_add_node(g, GN_ARRAY);
    g->plain_string = grammar_add_node(g, GN_STRING);
    g->any_number = grammar_add_node(g, GN_NUMBER);
    g->true_false_null = grammar_add_node(g, GN_LITERAL);
    if (lit < 0 || g->true_false_null < 0) {
        grammar_free(g);
        return NULL;
    }
    g->nodes[g->any_map].a = g->any;
    g->nodes[g->any_array].a = g->any;
    g->nodes[g->true_false_null].a = lit;
    return g;
}

grammar *grammar_json_object(qvl_error *err) {
    grammar *g = grammar_new();
    if (!g) {
        qvl_fail_code(err, QVL_E_NOMEM, "out of memory");
        return NULL;
    }
    g->root = g->any_map;
    return g;
}

void grammar_free(grammar *g) {
    if (!g) return;
    for (int i = 0; i < g->n_lits; i++) {
        for (int k = 0; k < g->lits[i].n; k++) free(g->lits[i].s[k]);
        free(g->lits[i].s), free(g->lits[i].len), free(g->lits[i].payload);
    }
    free(g->lits), free(g->nodes), free(g->kids), free(g->objpos);
    free(g);
}
