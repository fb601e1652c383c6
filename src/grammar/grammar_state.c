/* grammar_state.c - the byte-level pushdown automaton of grammar_state.h.
 *
 * Each frame kind has a handler that reads one byte and answers: refused,
 * taken, taken and complete (a closing quote or bracket), or complete
 * before this byte (a number or literal that the byte cannot extend: the
 * byte goes on to the frame below). A completed frame is popped and its
 * parent told (child_done), which may complete the parent too (sequences).
 */
#include "grammar/grammar_state.h"

#include <math.h>
#include <string.h>

#include "grammar/grammar_impl.h"

enum { F_ROOT, F_VALUE, F_OBJ, F_MAP, F_ARR, F_STR, F_NUM, F_LIT, F_FMT, F_SEQ, F_SWITCH };

/* phases of containers (F_OBJ, F_MAP, F_ARR) */
enum { C_START, C_OPEN, C_KEY, C_COLON, C_VALUE, C_AFTER };
/* phases of strings */
enum { S_START, S_BODY, S_ESC };
/* phases of numbers */
enum { N_START, N_MINUS, N_ZERO, N_INT, N_DOT, N_FRAC };

/* handler results */
enum { R_REJECT, R_TAKEN, R_AGAIN, R_DONE_TAKEN, R_DONE_REFEED, R_STEPPED };

#define NUM_LIMIT 999999999999999.0
#define MAX_INT_DIGITS 15
#define MAX_FRAC_DIGITS 9
#define NEG_BIT 0x8000

static void frame_set(gframe *f, int kind, int node) {
    memset(f, 0, sizeof *f);
    f->kind = (uint8_t)kind;
    f->node = node;
}

static bool push(gstate *s, int kind, int node) {
    if (s->depth == GSTATE_MAX_DEPTH) return false;
    frame_set(&s->f[s->depth++], kind, node);
    return true;
}

/* anyOf alternatives tried for one byte, at most: alternatives whose
 * alternatives refer back to them would otherwise be tried exponentially. */
#define ANYOF_TRIALS 512

static bool step(const grammar *g, gstate *s, int c, int *trials);

/* ---- numbers ------------------------------------------------------------------ */

static bool hits(const gnode *nd, double a, double b) {
    bool below_hi = nd->excl_hi ? a < nd->hi : a <= nd->hi;
    bool above_lo = nd->excl_lo ? b > nd->lo : b >= nd->lo;
    return below_hi && above_lo;
}

/* Does a magnitude in [ya, yb] with the frame's sign land in the node's range? */
static bool mag_hits(const gnode *nd, bool neg, double ya, double yb) {
    return neg ? hits(nd, -yb, -ya) : hits(nd, ya, yb);
}

static double frac_value(const gframe *f) { return f->n / pow(10, f->m); }

/* Can the number written so far still end inside the node's range? */
static bool num_reachable(const gnode *nd, const gframe *f) {
    bool neg = f->aux & NEG_BIT, isint = nd->kind == GN_INTEGER;
    int digits = f->aux & 0x7fff;
    double below_one = isint ? 0 : 1 - 1e-9;
    switch (f->phase) {
    case N_MINUS: return mag_hits(nd, neg, isint ? 1 : 0, NUM_LIMIT);   /* integers: no -0; numbers: -0.0 is 0 */
    case N_ZERO: return mag_hits(nd, neg, 0, below_one);
    case N_INT: {
        if (mag_hits(nd, neg, f->v, f->v + below_one)) return true;
        double p = 1;
        for (int k = 1; digits + k <= MAX_INT_DIGITS; k++) {
            p *= 10;
            double a = f->v * p;
            if (mag_hits(nd, neg, a, a + p - (isint ? 1 : 1e-9))) return true;
        }
        return false;
    }
    case N_DOT: return mag_hits(nd, neg, f->v, f->v + below_one);
    case N_FRAC: {
        double x = f->v + frac_value(f);
        double width = f->m < MAX_FRAC_DIGITS ? pow(10, -f->m) - 1e-9 : 0;
        return mag_hits(nd, neg, x, x + (width > 0 ? width : 0));
    }
    default: return true;
    }
}

/* Complete (a digit last) and inside the range? */
static bool num_complete(const gnode *nd, const gframe *f) {
    if (f->phase != N_ZERO && f->phase != N_INT && f->phase != N_FRAC) return false;
    if (f->phase == N_ZERO && (f->aux & NEG_BIT)) return false;   /* -0: valid JSON, but 0 says it */
    double x = f->phase == N_ZERO ? 0 : f->v + (f->phase == N_FRAC ? frac_value(f) : 0);
    return mag_hits(nd, f->aux & NEG_BIT, x, x);
}

static int on_number(const grammar *g, gframe *f, int c) {
    const gnode *nd = &g->nodes[f->node];
    gframe nf = *f;
    int digits = f->aux & 0x7fff;
    if (c >= '0' && c <= '9') {
        int d = c - '0';
        switch (f->phase) {
        case N_MINUS:
            if (d == 0 && nd->kind == GN_INTEGER) return R_REJECT;   /* no -0 */
            /* fall through */
        case N_START: nf.phase = d ? N_INT : N_ZERO, nf.v = d, nf.aux = (uint16_t)((f->aux & NEG_BIT) | 1); break;
        case N_INT:
            if (digits == MAX_INT_DIGITS) return R_REJECT;
            nf.v = f->v * 10 + d, nf.aux = (uint16_t)(f->aux + 1);
            break;
        case N_DOT: nf.phase = N_FRAC, nf.n = d, nf.m = 1; break;
        case N_FRAC:
            if (f->m == MAX_FRAC_DIGITS) return R_REJECT;
            nf.n = f->n * 10 + d, nf.m = f->m + 1;
            break;
        default: return R_REJECT;   /* after a leading zero */
        }
    } else if (c == '-' && f->phase == N_START) {
        nf.phase = N_MINUS, nf.aux = NEG_BIT;
    } else if (c == '.' && nd->kind == GN_NUMBER && (f->phase == N_ZERO || f->phase == N_INT)) {
        nf.phase = N_DOT;
    } else {
        return num_complete(nd, f) ? R_DONE_REFEED : R_REJECT;
    }
    if (!num_reachable(nd, &nf)) return R_REJECT;
    if (nd->lo <= -NUM_LIMIT && nd->hi >= NUM_LIMIT) nf.v = 0, nf.n = 0;   /* value irrelevant: one state */
    *f = nf;
    return R_TAKEN;
}

/* ---- strings ------------------------------------------------------------------- */

/* Allowed first continuation byte after a UTF-8 lead byte, by code. */
static const uint8_t CONT_LO[] = {0x80, 0xA0, 0x80, 0x90, 0x80}, CONT_HI[] = {0xBF, 0xBF, 0x9F, 0xBF, 0x8F};

/* UTF-8 lead byte -> (continuation bytes << 8 | range code), 0 when invalid. */
static uint16_t utf8_lead(int c) {
    if (c >= 0xC2 && c <= 0xDF) return 1 << 8;
    if (c == 0xE0) return 2 << 8 | 1;
    if (c == 0xED) return 2 << 8 | 2;
    if (c >= 0xE1 && c <= 0xEF) return 2 << 8;
    if (c == 0xF0) return 3 << 8 | 3;
    if (c >= 0xF1 && c <= 0xF3) return 3 << 8;
    if (c == 0xF4) return 3 << 8 | 4;
    return 0;
}

static int on_string(const grammar *g, gframe *f, int c) {
    const gnode *nd = &g->nodes[f->node];
    if (f->phase == S_START) {
        if (c != '"') return R_REJECT;
        f->phase = S_BODY;
        return R_TAKEN;
    }
    if (c == GSTATE_END) return R_REJECT;
    if (f->phase == S_ESC) {
        if (!strchr("\"\\/bfnrt", c) || c == 0) return R_REJECT;
        f->phase = S_BODY;
        return R_TAKEN;
    }
    if (f->aux) {   /* inside a multi-byte character */
        int need = f->aux >> 8, code = f->aux & 0xff;
        if (c < CONT_LO[code] || c > CONT_HI[code]) return R_REJECT;
        f->aux = (uint16_t)(need > 1 ? (need - 1) << 8 : 0);
        return R_TAKEN;
    }
    if (c == '"') return f->n >= nd->min_n ? R_DONE_TAKEN : R_REJECT;
    if (c < 0x20) return R_REJECT;
    if (nd->max_n >= 0 && f->n >= nd->max_n) return R_REJECT;
    if (c == '\\') {
        f->phase = S_ESC;
    } else if (c >= 0x80) {
        if (!(f->aux = utf8_lead(c))) return R_REJECT;
    }
    if (nd->max_n >= 0 || f->n < nd->min_n) f->n++;   /* without a maximum, counting past the minimum is moot */
    return R_TAKEN;
}

/* ---- literals ------------------------------------------------------------------- */

static int on_literal(const grammar *g, gframe *f, int c, int32_t *payload) {
    const glit_set *L = &g->lits[f->node];
    int lo = f->n, hi = f->m;
    uint32_t off = f->aux;
    if (c != GSTATE_END) {
        int i = lo;
        while (i < hi && !(L->len[i] > off && (uint8_t)L->s[i][off] == c)) i++;
        if (i < hi) {
            int j = i + 1;
            while (j < hi && L->len[j] > off && (uint8_t)L->s[j][off] == c) j++;
            f->n = i, f->m = j, f->aux = (uint16_t)(off + 1);
            if (j - i == 1 && L->len[i] == off + 1) {
                *payload = L->payload[i];
                return R_DONE_TAKEN;
            }
            return R_TAKEN;
        }
    }
    if (lo < hi && L->len[lo] == off) {   /* complete; the byte belongs to what follows */
        *payload = L->payload[lo];
        return R_DONE_REFEED;
    }
    return R_REJECT;
}

/* ---- dates ---------------------------------------------------------------------- */

/* Templates: quotes and separators literally; Y year digit, M/m month
 * tens/units, D/d day, H/h hour, S/s minute or second. */
static const char DATE_T[] = "\"YYYY-Mm-Dd\"", DATETIME_T[] = "\"YYYY-Mm-DdTHh:Ss:SsZ\"";

static int days_in_month(int year, int month) {
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (month == 2) return (year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)) ? 29 : 28;
    return month >= 1 && month <= 12 ? days[month - 1] : 31;
}

static bool date_digit_ok(char code, int d, int prev, int year, int month) {
    int days = days_in_month(year, month);
    switch (code) {
    case 'M': return d <= 1;
    case 'm': return prev == 0 ? d >= 1 : d <= 2;
    case 'D': return d <= days / 10;
    case 'd': return prev == 0 ? d >= 1 : prev * 10 + d <= days;
    case 'H': return d <= 2;
    case 'h': return prev < 2 || d <= 3;
    case 'S': return d <= 5;
    default: return true;
    }
}

static int on_date(const grammar *g, gframe *f, int c) {
    const char *t = g->nodes[f->node].kind == GN_DATE ? DATE_T : DATETIME_T;
    char code = t[f->aux];
    if (!strchr("YMmDdHhSs", code)) {
        if (c != code) return R_REJECT;
    } else {
        if (c < '0' || c > '9' || !date_digit_ok(code, c - '0', f->phase, f->n, f->m)) return R_REJECT;
        int d = c - '0';
        if (code == 'Y') f->n = f->n * 10 + d;
        if (code == 'M' || code == 'm') f->m = f->m * 10 + d;
        f->phase = (uint8_t)d;
    }
    f->aux++;
    return t[f->aux] ? R_TAKEN : R_DONE_TAKEN;
}

/* ---- values and containers ------------------------------------------------------- */

/* Turns the F_VALUE frame on top into the frame of its node's kind, chosen
 * by the first byte c where it matters. */
static int on_value(const grammar *g, gstate *s, int c, int *trials) {
    gframe *f = &s->f[s->depth - 1];
    int node = f->node;
    for (int hops = 0; g->nodes[node].kind == GN_REF; hops++) {
        if (hops == 64) return R_REJECT;   /* a $ref loop without content */
        node = g->nodes[node].a;
    }
    const gnode *nd = &g->nodes[node];
    if (c == GSTATE_END) return R_REJECT;
    switch (nd->kind) {
    case GN_ANY:
        if (c == '{') frame_set(f, F_MAP, g->any_map);
        else if (c == '[') frame_set(f, F_ARR, g->any_array);
        else if (c == '"') frame_set(f, F_STR, g->plain_string);
        else if (c == '-' || (c >= '0' && c <= '9')) frame_set(f, F_NUM, g->any_number);
        else if (c == 't' || c == 'f' || c == 'n') frame_set(f, F_VALUE, g->true_false_null);
        else return R_REJECT;
        return R_AGAIN;
    case GN_OBJECT: frame_set(f, F_OBJ, node); return R_AGAIN;
    case GN_MAP: frame_set(f, F_MAP, node); return R_AGAIN;
    case GN_ARRAY: frame_set(f, F_ARR, node); return R_AGAIN;
    case GN_STRING: frame_set(f, F_STR, node); return R_AGAIN;
    case GN_INTEGER:
    case GN_NUMBER: frame_set(f, F_NUM, node); return R_AGAIN;
    case GN_DATE:
    case GN_DATETIME: frame_set(f, F_FMT, node); return R_AGAIN;
    case GN_LITERAL:
        frame_set(f, F_LIT, nd->a);
        f->m = g->lits[nd->a].n;
        return R_AGAIN;
    case GN_SEQ:
        frame_set(f, F_SEQ, node);
        return push(s, F_VALUE, g->kids[nd->a]) ? R_AGAIN : R_REJECT;
    case GN_SWITCH:
        frame_set(f, F_SWITCH, node);
        if (!push(s, F_LIT, nd->a)) return R_REJECT;
        s->f[s->depth - 1].m = g->lits[nd->a].n;
        return R_AGAIN;
    case GN_ANYOF:
        for (int i = 0; i < nd->b; i++) {
            if (--*trials < 0) return R_REJECT;
            gstate t;
            gstate_copy(&t, s);
            t.f[t.depth - 1].node = g->kids[nd->a + i];
            if (step(g, &t, c, trials)) {
                gstate_copy(s, &t);
                return R_STEPPED;
            }
        }
        return R_REJECT;
    default: return R_REJECT;
    }
}

/* Pushes the frame of the next key: one of the names allowed at this
 * position (objects) or any string (maps). */
static bool push_key(const grammar *g, gstate *s, const gframe *f) {
    if (f->kind == F_MAP) return push(s, F_STR, g->plain_string);
    int keys = g->objpos[g->nodes[f->node].c + f->n].keys;
    if (keys < 0 || !push(s, F_LIT, keys)) return false;
    s->f[s->depth - 1].m = g->lits[keys].n;
    return true;
}

/* Objects (F_OBJ: declared properties in order, n = the next position, m =
 * the property being written) and maps (F_MAP: any keys). */
static int on_object(const grammar *g, gstate *s, gframe *f, int c) {
    const gnode *nd = &g->nodes[f->node];
    bool map = f->kind == F_MAP;
    bool can_close = map || g->objpos[nd->c + f->n].can_close;
    switch (f->phase) {
    case C_START:
        if (c != '{') return R_REJECT;
        f->phase = C_OPEN;
        return R_TAKEN;
    case C_OPEN:
        if (c == '}' && can_close) return R_DONE_TAKEN;
        f->phase = C_KEY;
        return push_key(g, s, f) ? R_AGAIN : R_REJECT;
    case C_COLON:
        if (c != ':') return R_REJECT;
        f->phase = C_VALUE;
        return push(s, F_VALUE, map ? nd->a : g->kids[nd->a + f->m]) ? R_TAKEN : R_REJECT;
    case C_AFTER:
        if (c == '}' && can_close) return R_DONE_TAKEN;
        if (c != ',' || (!map && f->n >= nd->b)) return R_REJECT;
        f->phase = C_KEY;
        return push_key(g, s, f) ? R_TAKEN : R_REJECT;
    default: return R_REJECT;
    }
}

static int on_array(const grammar *g, gstate *s, gframe *f, int c) {
    const gnode *nd = &g->nodes[f->node];
    switch (f->phase) {
    case C_START:
        if (c != '[') return R_REJECT;
        f->phase = C_OPEN;
        return R_TAKEN;
    case C_OPEN:
        if (c == ']' && nd->min_n == 0) return R_DONE_TAKEN;
        if (nd->max_n == 0) return R_REJECT;
        f->phase = C_VALUE;
        return push(s, F_VALUE, nd->a) ? R_AGAIN : R_REJECT;
    case C_AFTER:
        if (c == ']' && f->n >= nd->min_n) return R_DONE_TAKEN;
        if (c != ',' || (nd->max_n >= 0 && f->n >= nd->max_n)) return R_REJECT;
        f->phase = C_VALUE;
        return push(s, F_VALUE, nd->a) ? R_TAKEN : R_REJECT;
    default: return R_REJECT;
    }
}

/* Pops the completed frame on top and tells its parent, which may complete
 * in turn (a sequence after its last part). payload: what the frame matched
 * (a literal's payload). False when a frame the parent needs cannot be pushed. */
static bool child_done(const grammar *g, gstate *s, int32_t payload) {
    for (;;) {
        s->depth--;
        gframe *p = &s->f[s->depth - 1];
        const gnode *nd = &g->nodes[p->node];
        switch (p->kind) {
        case F_ROOT: p->phase = 1; return true;
        case F_OBJ:
            if (p->phase == C_KEY) p->m = payload, p->phase = C_COLON;
            else p->n = p->m + 1, p->phase = C_AFTER;
            return true;
        case F_MAP: p->phase = p->phase == C_KEY ? C_COLON : C_AFTER; return true;
        case F_ARR:
            if (nd->max_n >= 0 || p->n < nd->min_n) p->n++;
            p->phase = C_AFTER;
            return true;
        case F_SEQ:
            if (++p->n == nd->b) {
                payload = 0;
                continue;
            }
            return push(s, F_VALUE, g->kids[nd->a + p->n]);
        case F_SWITCH:
            if (p->phase == 0) {
                p->phase = 1;
                return push(s, F_VALUE, g->kids[nd->c + payload]);
            }
            payload = 0;
            continue;
        default: return false;
        }
    }
}

static bool step(const grammar *g, gstate *s, int c, int *trials) {
    for (;;) {
        gframe *f = &s->f[s->depth - 1];
        int32_t payload = 0;
        int r;
        switch (f->kind) {
        case F_ROOT:
            if (f->phase == 1) return c == GSTATE_END;
            r = push(s, F_VALUE, f->node) ? R_AGAIN : R_REJECT;
            break;
        case F_VALUE: r = on_value(g, s, c, trials); break;
        case F_OBJ:
        case F_MAP: r = on_object(g, s, f, c); break;
        case F_ARR: r = on_array(g, s, f, c); break;
        case F_STR: r = on_string(g, f, c); break;
        case F_NUM: r = on_number(g, f, c); break;
        case F_LIT: r = on_literal(g, f, c, &payload); break;
        case F_FMT: r = on_date(g, f, c); break;
        default: r = R_REJECT; break;   /* sequences always have a part on top */
        }
        switch (r) {
        case R_TAKEN:
        case R_STEPPED: return true;
        case R_AGAIN: continue;
        case R_DONE_TAKEN: return child_done(g, s, payload);
        case R_DONE_REFEED:
            if (!child_done(g, s, payload)) return false;
            continue;
        default: return false;
        }
    }
}

void gstate_init(const grammar *g, gstate *s) {
    s->depth = 1;
    frame_set(&s->f[0], F_ROOT, g->root);
}

bool gstate_step(const grammar *g, gstate *s, int c) {
    int trials = ANYOF_TRIALS;
    return step(g, s, c, &trials);
}

bool gstate_step_bytes(const grammar *g, gstate *s, const char *bytes, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!gstate_step(g, s, (uint8_t)bytes[i])) return false;
    return true;
}

bool gstate_can_end(const grammar *g, const gstate *s) {
    gstate t;
    gstate_copy(&t, s);
    return gstate_step(g, &t, GSTATE_END);
}

bool gstate_finished(const gstate *s) { return s->depth == 1 && s->f[0].phase == 1; }

bool gstate_in_string_body(const grammar *g, const gstate *s, int64_t *room) {
    const gframe *f = &s->f[s->depth - 1];
    if (f->kind != F_STR || f->phase != S_BODY || f->aux) return false;
    const gnode *nd = &g->nodes[f->node];
    *room = nd->max_n < 0 ? -1 : nd->max_n - f->n;
    return true;
}

uint64_t gstate_hash(const gstate *s) {
    uint64_t h = 0xcbf29ce484222325ull ^ (uint64_t)s->depth;
    const uint64_t *w = (const uint64_t *)s->f;
    for (size_t i = 0; i < (size_t)s->depth * sizeof(gframe) / 8; i++) h = (h ^ w[i]) * 0x100000001b3ull;
    return h ^ (h >> 29);
}

bool gstate_equal(const gstate *a, const gstate *b) {
    return a->depth == b->depth && !memcmp(a->f, b->f, (size_t)a->depth * sizeof(gframe));
}
