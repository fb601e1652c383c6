/* batch_shard.c - see batch_shard.h. The merge reads every input whole
 * (results files are text, about a kilobyte per record: a million records
 * is a gigabyte) and keeps byte ranges into them, so a record is copied, not
 * re-encoded. */
#include "batch/batch_shard.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/mapped_file.h"

int batch_shard_parse(const char *spec, int *index, int *count, qvl_error *err) {
    char *end;
    errno = 0;
    long i = strtol(spec, &end, 10), n = 0;
    bool ok = !errno && end != spec && *end == '/' && spec[0] >= '0' && spec[0] <= '9';
    if (ok) {
        const char *ns = end + 1;
        n = strtol(ns, &end, 10);
        ok = !errno && end != ns && !*end && ns[0] >= '0' && ns[0] <= '9';
    }
    if (!ok || n < 1 || n > 100000 || i < 0 || i >= n)
        return qvl_fail_code(err, QVL_E_BAD_INPUT, "--shard wants I/N with 0 <= I < N (e.g. 0/4 ... 3/4), not '%s'",
                             spec);
    *index = (int)i;
    *count = (int)n;
    return 0;
}

int batch_shard_of(const char *path, const char *source, int count) {
    size_t sl = strlen(source);
    while (sl > 1 && source[sl - 1] == '/') sl--;
    if (sl && !strncmp(path, source, sl) && path[sl] == '/') path += sl + 1;
    uint64_t h = 0xcbf29ce484222325ULL;   /* FNV-1a */
    for (const unsigned char *c = (const unsigned char *)path; *c; c++) h = (h ^ *c) * 0x100000001b3ULL;
    return (int)(h % (uint64_t)count);
}

void batch_shard_keep(path_list *list, const char *source, int index, int count) {
    int kept = 0;
    for (int i = 0; i < list->n; i++) {
        if (batch_shard_of(list->items[i], source, count) == index) list->items[kept++] = list->items[i];
        else free(list->items[i]);
    }
    list->n = kept;
}

/* ---- merge ----------------------------------------------------------------- */

typedef struct merge_rec {
    char *path, *question;
    int page;              /* of a paged document; 0 otherwise */
    int input;             /* which text */
    size_t start, end;     /* its bytes there */
    long seq;              /* arrival order: the stable tie-break */
} merge_rec;

typedef struct merge {
    merge_rec *r;
    long n, cap;
    int input;
    bool nomem;
} merge;

static void collect(void *ctx, const char *path, int page, const char *question, size_t start, size_t end) {
    merge *m = ctx;
    if (m->nomem) return;
    if (m->n == m->cap) {
        long cap = m->cap ? m->cap * 2 : 1024;
        merge_rec *g = realloc(m->r, (size_t)cap * sizeof *g);
        if (!g) {
            m->nomem = true;
            return;
        }
        m->r = g;
        m->cap = cap;
    }
    merge_rec *r = &m->r[m->n];
    *r = (merge_rec){.path = strdup(path), .question = strdup(question), .page = page, .input = m->input,
                     .start = start,
                     .end = end, .seq = m->n};
    if (!r->path || !r->question) {
        free(r->path), free(r->question);
        m->nomem = true;
        return;
    }
    m->n++;
}

static int by_path(const void *a, const void *b) {
    const merge_rec *x = a, *y = b;
    int c = strcmp(x->path, y->path);
    return c ? c : (x->seq > y->seq) - (x->seq < y->seq);
}

static int by_pair(const void *a, const void *b) {
    const merge_rec *x = *(merge_rec *const *)a, *y = *(merge_rec *const *)b;
    int c = strcmp(x->path, y->path);
    if (!c) c = (x->page > y->page) - (x->page < y->page);
    if (!c) c = strcmp(x->question, y->question);
    return c ? c : (x->seq > y->seq) - (x->seq < y->seq);
}

/* Marks every record whose (path, page, question) came earlier (end = 0). */
static long drop_dups(merge *m) {
    merge_rec **idx = malloc((size_t)(m->n ? m->n : 1) * sizeof *idx);
    if (!idx) return -1;
    for (long i = 0; i < m->n; i++) idx[i] = &m->r[i];
    qsort(idx, (size_t)m->n, sizeof *idx, by_pair);
    long dups = 0;
    for (long i = 1; i < m->n; i++)
        if (!strcmp(idx[i]->path, idx[i - 1]->path) && idx[i]->page == idx[i - 1]->page &&
            !strcmp(idx[i]->question, idx[i - 1]->question)) {
            idx[i]->end = idx[i]->start;
            dups++;
        }
    free(idx);
    return dups;
}

int batch_merge(const char *out_path, batch_format fmt, const char *const *inputs, int n, batch_merge_stats *stats,
                qvl_error *err) {
    *stats = (batch_merge_stats){0};
    struct stat st;
    if (stat(out_path, &st) == 0 && st.st_size > 0)
        return qvl_fail_code(err, QVL_E_IO, "%s already holds results: choose another --out", out_path);
    const char *want = fmt == BATCH_CSV ? "CSV" : "JSONL";
    char **text = calloc((size_t)(n ? n : 1), sizeof *text);
    merge m = {0};
    FILE *f = NULL;
    int rc = -1;
    if (!text) {
        qvl_fail_code(err, QVL_E_NOMEM, "out of memory");
        goto done;
    }
    for (int i = 0; i < n; i++) {
        size_t len;
        if (!(text[i] = read_file_text(inputs[i], (size_t)1 << 34, &len, err))) goto done;
        if (fmt == BATCH_CSV && len && strncmp(text[i], BATCH_CSV_HEADER, strlen(BATCH_CSV_HEADER)) != 0) {
            qvl_fail_code(err, QVL_E_BAD_INPUT, "%s: not a qvl batch CSV file (merge %s files into a %s file)",
                          inputs[i], want, want);
            goto done;
        }
        m.input = i;
        long before = m.n;
        size_t good = batch_scan_records(fmt, text[i], len, collect, &m);
        if (fmt == BATCH_JSONL && len && m.n == before && good == 0) {
            qvl_fail_code(err, QVL_E_BAD_INPUT, "%s: not a qvl batch JSONL file (merge %s files into a %s file)",
                          inputs[i], want, want);
            goto done;
        }
        stats->torn += good < len;
    }
    long dups = m.nomem ? -1 : drop_dups(&m);
    if (dups < 0) {
        qvl_fail_code(err, QVL_E_NOMEM, "out of memory");
        goto done;
    }
    qsort(m.r, (size_t)m.n, sizeof *m.r, by_path);
    if (!(f = fopen(out_path, "wb"))) {
        qvl_fail_code(err, QVL_E_IO, "%s: cannot open for writing: %s", out_path, strerror(errno));
        goto done;
    }
    if (fmt == BATCH_CSV) fputs(BATCH_CSV_HEADER, f);
    for (long i = 0; i < m.n; i++) {
        if (m.r[i].end == m.r[i].start) continue;
        fwrite(text[m.r[i].input] + m.r[i].start, 1, m.r[i].end - m.r[i].start, f);
        stats->records++;
    }
    stats->dups = dups;
    if (fflush(f) != 0 || fsync(fileno(f)) != 0 || ferror(f)) {
        qvl_fail_code(err, QVL_E_IO, "%s: write failed: %s", out_path, strerror(errno));
        goto done;
    }
    rc = 0;
done:
    if (f) fclose(f);
    for (long i = 0; i < m.n; i++) free(m.r[i].path), free(m.r[i].question);
    free(m.r);
    for (int i = 0; text && i < n; i++) free(text[i]);
    free(text);
    return rc;
}
