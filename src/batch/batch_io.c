/* batch_io.c - see batch_io.h. */
#include "batch/batch_io.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/mapped_file.h"
#include "image/image.h"

#define MAX_LIST_BYTES (64u << 20)

static void push(path_list *l, const char *s) {
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->items = realloc(l->items, (size_t)l->cap * sizeof *l->items);
    }
    l->items[l->n++] = strdup(s);
}

void path_list_free(path_list *l) {
    for (int i = 0; i < l->n; i++) free(l->items[i]);
    free(l->items);
    memset(l, 0, sizeof *l);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static bool is_image_file(const char *path) {
    uint8_t head[32];
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    size_t n = fread(head, 1, sizeof head, f);
    fclose(f);
    return image_sniff(head, n) != NULL;
}

static void walk(const char *dir, path_list *out, int *skipped, int depth) {
    if (depth > 64) return;   /* a bind-mount loop cannot trap us */
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char path[4096];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(path, &st) != 0) continue;
        if (S_ISDIR(st.st_mode)) walk(path, out, skipped, depth + 1);
        else if ((S_ISREG(st.st_mode) || (S_ISLNK(st.st_mode) && stat(path, &st) == 0 && S_ISREG(st.st_mode))))
            is_image_file(path) ? push(out, path) : (void)(*skipped)++;
    }
    closedir(d);
}

static int read_lines(const char *path, path_list *out, qvl_error *err) {
    size_t len;
    char *text = read_file_text(path, MAX_LIST_BYTES, &len, err);
    if (!text) return -1;
    for (char *line = text, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        size_t l = strlen(line);
        while (l && (line[l - 1] == '\r' || line[l - 1] == ' ' || line[l - 1] == '\t')) line[--l] = 0;
        if (l) push(out, line);
    }
    free(text);
    return 0;
}

int batch_find_images(const char *source, path_list *out, int *n_skipped, qvl_error *err) {
    memset(out, 0, sizeof *out);
    *n_skipped = 0;
    struct stat st;
    if (stat(source, &st) != 0) return qvl_fail_code(err, QVL_E_IO, "%s: %s", source, strerror(errno));
    if (S_ISDIR(st.st_mode)) {
        char root[4096];
        snprintf(root, sizeof root, "%s", source);
        size_t l = strlen(root);
        while (l > 1 && root[l - 1] == '/') root[--l] = 0;
        walk(root, out, n_skipped, 0);
    } else if (is_image_file(source)) {
        push(out, source);
    } else {
        /* A list: every line is a path; entries that are not images are kept
         * so that each gets an error record (the user asked for them). */
        if (read_lines(source, out, err) != 0) return -1;
    }
    qsort(out->items, (size_t)out->n, sizeof *out->items, cmp_str);
    return 0;
}

int batch_read_questions(const char *path, path_list *out, qvl_error *err) {
    memset(out, 0, sizeof *out);
    if (read_lines(path, out, err) != 0) return -1;
    if (!out->n) return qvl_fail(err, "%s: no questions in the file", path);
    return 0;
}

/* ---- results file ------------------------------------------------------ */

/* "path\x1fquestion", the path of a document page as "path#page=n" (the
 * CSV path field). */
static char *pair_key(const char *path, int page, const char *question) {
    char *k = malloc(strlen(path) + strlen(question) + 24);
    if (page > 0) sprintf(k, "%s#page=%d\x1f%s", path, page, question);
    else sprintf(k, "%s\x1f%s", path, question);
    return k;
}

static void add_done(batch_out *o, const char *path, int page, const char *question) {
    o->done = realloc(o->done, (size_t)(o->n_done + 1) * sizeof *o->done);
    o->done[o->n_done++] = pair_key(path, page, question);
}

/* JSONL: complete lines only; a line that does not parse (a torn write from
 * an older, crashed run) ends the usable part. */
static size_t scan_jsonl(const char *text, size_t len, batch_record_fn fn, void *ctx) {
    size_t good = 0;
    for (size_t start = 0; start < len;) {
        const char *nl = memchr(text + start, '\n', len - start);
        if (!nl) break;
        size_t end = (size_t)(nl - text);
        json_t *j = json_loadb(text + start, end - start, 0, NULL);
        const char *p = json_string_value(json_object_get(j, "path")), *q = json_string_value(json_object_get(j, "question"));
        if (!p || !q) {
            json_decref(j);
            break;
        }
        fn(ctx, p, (int)json_integer_value(json_object_get(j, "page")), q, start, end + 1);
        json_decref(j);
        good = start = end + 1;
    }
    return good;
}

/* CSV (RFC 4180): records end at a newline outside quotes. The first two
 * fields of each data record are path and question. */
static size_t scan_csv(const char *text, size_t len, batch_record_fn fn, void *ctx) {
    size_t good = 0, i = 0;
    bool header = true;
    while (i < len) {
        char *field[2] = {NULL, NULL};
        int nf = 0;
        size_t cap = 256, fl = 0, start = i;
        char *buf = malloc(cap);
        bool in_q = false, complete = false;
        for (; i < len; i++) {
            char ch = text[i];
            if (in_q) {
                if (ch == '"' && i + 1 < len && text[i + 1] == '"') ch = text[++i];
                else if (ch == '"') {
                    in_q = false;
                    continue;
                }
            } else if (ch == '"') {
                in_q = true;
                continue;
            } else if (ch == ',' || ch == '\n') {
                buf[fl] = 0;
                if (nf < 2) field[nf] = strdup(buf);
                nf++;
                fl = 0;
                if (ch == '\n') {
                    complete = true;
                    i++;
                    break;
                }
                continue;
            } else if (ch == '\r') {
                continue;
            }
            if (fl + 2 > cap) buf = realloc(buf, cap *= 2);
            buf[fl++] = ch;
        }
        free(buf);
        if (complete && nf >= 2) {
            if (!header) fn(ctx, field[0], 0, field[1], start, i);   /* a page's path already says "#page=n" */
            header = false;
            good = i;
        }
        free(field[0]), free(field[1]);
        if (!complete) break;
    }
    return good;
}

size_t batch_scan_records(batch_format fmt, const char *text, size_t len, batch_record_fn fn, void *ctx) {
    return fmt == BATCH_JSONL ? scan_jsonl(text, len, fn, ctx) : scan_csv(text, len, fn, ctx);
}

static void remember_done(void *ctx, const char *path, int page, const char *question, size_t start, size_t end) {
    (void)start, (void)end;
    add_done(ctx, path, page, question);
}

int batch_out_open(batch_out *o, const char *path, batch_format fmt, bool resume, qvl_error *err) {
    memset(o, 0, sizeof *o);
    o->fmt = fmt;
    o->path = strdup(path);
    struct stat st;
    bool exists = stat(path, &st) == 0 && st.st_size > 0;
    if (exists && !resume) {
        batch_out_close(o);
        return qvl_fail_code(err, QVL_E_IO, "%s already holds results: pass --resume to continue it, or choose "
                                            "another --out", path);
    }
    if (exists) {
        size_t len;
        char *text = read_file_text(path, (size_t)1 << 34, &len, err);
        if (!text) {
            batch_out_close(o);
            return -1;
        }
        size_t good = batch_scan_records(fmt, text, len, remember_done, o);
        free(text);
        if (good < len && truncate(path, (off_t)good) != 0) {
            batch_out_close(o);
            return qvl_fail_code(err, QVL_E_IO, "%s: cannot cut the torn last record: %s", path, strerror(errno));
        }
        qsort(o->done, (size_t)o->n_done, sizeof *o->done, cmp_str);
    }
    o->f = fopen(path, "ab");
    if (!o->f) {
        int e = errno;
        batch_out_close(o);
        return qvl_fail_code(err, QVL_E_IO, "%s: cannot open for writing: %s", path, strerror(e));
    }
    if (fmt == BATCH_CSV && ftell(o->f) == 0) fputs(BATCH_CSV_HEADER, o->f);
    return 0;
}

bool batch_out_has(const batch_out *o, const char *path, int page, const char *question) {
    if (!o->n_done) return false;   /* done may be NULL: bsearch must not see it */
    char *k = pair_key(path, page, question);
    bool found = bsearch(&k, o->done, (size_t)o->n_done, sizeof *o->done, cmp_str) != NULL;
    free(k);
    return found;
}

static void csv_field(FILE *f, const char *s, bool last) {
    fputc('"', f);
    for (; s && *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
    fputc(last ? '\n' : ',', f);
}

/* A record that cannot be written whole (disk full, a file size limit) is
 * taken back: the unwritten rest is dropped from stdio's buffer and the
 * file cut to where the record began, so it ends with the last complete
 * record and --resume continues from there once there is room. */
static int write_failed(batch_out *o, off_t start, qvl_error *err) {
    int e = errno ? errno : EIO;
    __fpurge(o->f);
    if (start >= 0 && ftruncate(fileno(o->f), start) == 0) fseeko(o->f, start, SEEK_SET);
    return qvl_fail_code(err, QVL_E_IO, "%s: write failed: %s; the file holds every record up to the last complete "
                                        "one: free space and run again with --resume", o->path, strerror(e));
}

int batch_out_write(batch_out *o, const batch_record *r, qvl_error *err) {
    off_t start = ftello(o->f);
    errno = 0;
    if (o->fmt == BATCH_JSONL) {
        json_t *j = json_pack("{s:s, s:s, s:s?, s:s, s:s?, s:i, s:i, s:I, s:s?}", "path", r->path, "question",
                              r->question, "answer", r->answer, "route", r->route, "finish", r->finish,
                              "prompt_tokens", r->prompt_tokens, "answer_tokens", r->answer_tokens, "ms",
                              (json_int_t)(r->ms + 0.5), "error", r->error);
        if (j && r->page > 0) json_object_set_new(j, "page", json_integer(r->page));
        char *line = j ? json_dumps(j, JSON_COMPACT) : NULL;
        json_decref(j);
        if (!line) return qvl_fail(err, "cannot encode the record for %s (invalid UTF-8 in the path?)", r->path);
        fputs(line, o->f);
        fputc('\n', o->f);
        free(line);
    } else {
        char nums[96], page_path[4200];
        if (r->page > 0) snprintf(page_path, sizeof page_path, "%s#page=%d", r->path, r->page);
        csv_field(o->f, r->page > 0 ? page_path : r->path, false);
        csv_field(o->f, r->question, false);
        csv_field(o->f, r->answer, false);
        csv_field(o->f, r->route, false);
        csv_field(o->f, r->finish, false);
        snprintf(nums, sizeof nums, "%d,%d,%.0f,", r->prompt_tokens, r->answer_tokens, r->ms);
        fputs(nums, o->f);
        csv_field(o->f, r->error, true);
    }
    if (ferror(o->f) || fflush(o->f) != 0 || fsync(fileno(o->f)) != 0) return write_failed(o, start, err);
    return 0;
}

void batch_out_close(batch_out *o) {
    if (o->f) fclose(o->f);
    for (int i = 0; i < o->n_done; i++) free(o->done[i]);
    free(o->done);
    free(o->path);
    memset(o, 0, sizeof *o);
}
