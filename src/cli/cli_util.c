/* cli_util.c - see cli_util.h. */
#include "cli/cli_util.h"

#include "base/mapped_file.h"
#include "engine/kernels.h"
#include "generate/mem_need.h"
#include "grammar/json_schema.h"
#include "image/preprocess.h"
#include "load/quant_cache.h"
#include "load/model_load.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void list_push(str_list *l, const char *s) {
    l->items = realloc(l->items, (size_t)(l->n + 1) * sizeof *l->items);
    l->items[l->n++] = s;
}

static int set_value(const cli_opt *o, const char *cmd, const char *v) {
    char *end;
    switch (o->kind) {
    case OPT_STR: *(const char **)o->target = v; return 0;
    case OPT_LIST: list_push(o->target, v); return 0;
    case OPT_INT: {
        errno = 0;
        long x = strtol(v, &end, 10);
        if (errno || *end || end == v || x < -2147483647L || x > 2147483647L) break;
        *(int *)o->target = (int)x;
        return 0;
    }
    case OPT_FLOAT: {
        errno = 0;
        float x = strtof(v, &end);
        if (errno || *end || end == v) break;
        *(float *)o->target = x;
        return 0;
    }
    case OPT_FLAG: break;
    }
    fprintf(stderr, "%s: %s expects a %s, got '%s'\n", cmd, o->name, o->kind == OPT_INT ? "whole number" : "number", v);
    return -1;
}

int cli_parse(int argc, char **argv, const cli_opt *opts, const char *help, str_list *pos) {
    const char *cmd = argv[0];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(help, stdout);
            return 0;
        }
        if (a[0] != '-' || !strcmp(a, "-")) {
            if (!pos) {
                fprintf(stderr, "%s: unexpected argument '%s'\n\n%s", cmd, a, help);
                return 2;
            }
            list_push(pos, a);
            continue;
        }
        const char *eq = strchr(a, '=');
        size_t nlen = eq ? (size_t)(eq - a) : strlen(a);
        const cli_opt *o = NULL;
        for (const cli_opt *p = opts; p->name && !o; p++)
            if ((strlen(p->name) == nlen && !strncmp(p->name, a, nlen)) ||
                (p->alias && strlen(p->alias) == nlen && !strncmp(p->alias, a, nlen)))
                o = p;
        if (!o) {
            fprintf(stderr, "%s: unknown option '%.*s'\n\n%s", cmd, (int)nlen, a, help);
            return 2;
        }
        if (o->kind == OPT_FLAG) {
            if (eq) {
                fprintf(stderr, "%s: %s takes no value\n", cmd, o->name);
                return 2;
            }
            *(int *)o->target = 1;
            continue;
        }
        const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!v) {
            fprintf(stderr, "%s: %s needs a value\n", cmd, o->name);
            return 2;
        }
        if (set_value(o, cmd, v) != 0) return 2;
    }
    return -1;
}

int cli_default_threads(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

int cli_force_kernels(const char *cmd, const char *name) {
    if (kernels_force(name) == 0) return 0;
    int n;
    const kernels *const *all = kernels_list(&n);
    fprintf(stderr, "%s: --kernels %s: not a kernel table this CPU runs; it runs:", cmd, name);
    for (int i = 0; i < n; i++)
        if (kernels_supported(all[i])) fprintf(stderr, " %s", all[i]->name);
    fprintf(stderr, "\n");
    return -1;
}

qvl_model *cli_load_model(const char *cmd, cli_model_opts *mo, bool text_only) {
    if (!mo->model) mo->model = getenv("QVL_MODEL");
    if (!mo->model) {
        fprintf(stderr, "%s: no model given: pass --model DIR|FILE.gguf (or set QVL_MODEL).\n"
                        "  To try qvl without real weights: ./qvl make-test-model --config tiny --out models/tiny\n",
                cmd);
        return NULL;
    }
    if (mo->threads < 1) mo->threads = cli_default_threads();
    if (mo->kernels && cli_force_kernels(cmd, mo->kernels) != 0) return NULL;
    /* A text-only question does not load the vision tower, but a wrong
     * --mmproj path is still a mistake the user wants to hear about now. */
    if (mo->mmproj && access(mo->mmproj, R_OK) != 0) {
        fprintf(stderr, "%s: --mmproj %s: %s\n", cmd, mo->mmproj, strerror(errno));
        return NULL;
    }
    model_load_opts o = {.mmproj = mo->mmproj, .quant = mo->quant, .threads = mo->threads, .text_only = text_only,
                         .cache_dir = mo->no_cache ? NULL : quant_cache_default_dir(), .no_pack = mo->exact,
                         .vision_quant = mo->vision_quant ? mo->vision_quant : mo->exact ? "none" : "auto"};
    qvl_error err = {0};
    qvl_model *m = model_load(mo->model, &o, &err);
    if (!m) fprintf(stderr, "%s: %s\n", cmd, err.msg);
    else if (strstr(m->cache_note, "cached in") || strstr(m->cache_note, "could not"))
        fprintf(stderr, "%s: %s\n", cmd, m->cache_note);   /* news only: a first quantization or a failure */
    return m;
}

char *cli_read_all(const char *cmd, const char *path, size_t *len) {
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f) {
        fprintf(stderr, "%s: %s: %s\n", cmd, path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0, k;
    char *buf = malloc(cap);
    while (buf && (k = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += k;
        char *more = n + 1 == cap ? realloc(buf, cap *= 2) : buf;
        if (!more) free(buf);
        buf = more;
    }
    int bad = buf ? ferror(f) : ENOMEM;
    int e = errno;
    if (f != stdin) fclose(f);
    if (bad) {
        fprintf(stderr, "%s: %s: cannot read: %s\n", cmd, path, strerror(buf ? e : ENOMEM));
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

/* The bytes of path, from the set or read into it; NULL with err set. */
static const char *file_bytes(cli_files *f, const char *path, size_t *len, qvl_error *err) {
    for (int i = 0; i < f->n; i++)
        if (!strcmp(f->paths[i], path)) {
            *len = f->lens[i];
            return f->bytes[i];
        }
    char *bytes = read_file_text(path, IMAGE_DEFAULT_MAX_BYTES + 1, len, err);
    char *name = bytes ? strdup(path) : NULL;
    char **p = name ? realloc(f->paths, (size_t)(f->n + 1) * sizeof *p) : NULL;
    if (p) f->paths = p;
    char **b = p ? realloc(f->bytes, (size_t)(f->n + 1) * sizeof *b) : NULL;
    if (b) f->bytes = b;
    size_t *l = b ? realloc(f->lens, (size_t)(f->n + 1) * sizeof *l) : NULL;
    if (!l) {
        if (bytes) qvl_fail_code(err, QVL_E_NOMEM, "out of memory");
        free(bytes);
        free(name);
        return NULL;
    }
    f->lens = l;
    f->paths[f->n] = name;
    f->bytes[f->n] = bytes;
    f->lens[f->n++] = *len;
    return bytes;
}

int cli_load_image_file(void *ctx, const json_t *part, int index, image_rgb *out, qvl_error *err) {
    const char *path = json_string_value(json_object_get(part, "image"));
    if (!path) return qvl_fail(err, "image %d has no file path", index);
    size_t len;
    char *own = ctx ? NULL : read_file_text(path, IMAGE_DEFAULT_MAX_BYTES + 1, &len, err);
    const char *bytes = ctx ? file_bytes(ctx, path, &len, err) : own;
    if (!bytes) return -1;
    /* "page": n (0-based) picks a page of a PDF or multi-page TIFF (documents: answer/pages.h, qvl batch) */
    int page = (int)json_integer_value(json_object_get(part, "page"));
    int rc = image_decode_page((const uint8_t *)bytes, len, page, NULL, out, err);
    if (rc != 0) qvl_error_prefix(err, "%s", path);
    free(own);
    return rc;
}

const uint8_t *cli_image_bytes(void *ctx, const json_t *part, size_t *len) {
    const char *path = json_string_value(json_object_get(part, "image"));
    qvl_error ignored = {0};
    *len = 0;
    return ctx && path ? (const uint8_t *)file_bytes(ctx, path, len, &ignored) : NULL;
}

void cli_files_free(cli_files *f) {
    for (int i = 0; i < f->n; i++) {
        free(f->paths[i]);
        free(f->bytes[i]);
    }
    free(f->paths);
    free(f->bytes);
    free(f->lens);
    memset(f, 0, sizeof *f);
}

int cli_ocr_setup(const char *cmd, const cli_ocr_opts *oo, bool may_use_ocr, ocr_mode *mode, ocr_router **router,
                  ocr_engine **engine) {
    qvl_error err = {0};
    *router = NULL;
    *engine = NULL;
    *mode = OCR_MODE_AUTO;
    if (oo->mode && ocr_mode_parse(oo->mode, mode, &err) != 0) goto fail;
    if (*mode == OCR_MODE_VLM || !may_use_ocr) return 0;
    if (!(*router = ocr_router_load(oo->rules, &err))) goto fail;
    ocr_engine_opts eo = {0};
    *engine = oo->plugin ? ocr_engine_open_plugin(oo->plugin, &eo, &err) : ocr_engine_open_tesseract(&eo, &err);
    if (!*engine) goto fail;
    return 0;
fail:
    fprintf(stderr, "%s: %s\n", cmd, err.msg);
    ocr_router_free(*router);
    *router = NULL;
    return -1;
}

long cli_max_pixels(int max_px, int min_px) {
    if (max_px > 0) return max_px;
    return min_px > IMAGE_QVL_MAX_PIXELS ? 0 : IMAGE_QVL_MAX_PIXELS;
}

int cli_schema_load(const char *cmd, const char *arg, cli_schema *s) {
    memset(s, 0, sizeof *s);
    if (!arg) return 0;
    qvl_error err = {0};
    if (!strcmp(arg, "json")) {
        s->g = grammar_json_object(&err);
    } else {
        json_error_t je;
        json_t *schema = json_load_file(arg, 0, &je);
        if (!schema) qvl_fail(&err, "--schema %s: %s (line %d)", arg, je.text, je.line);
        else if (!(s->g = grammar_from_schema(schema, &err))) qvl_error_prefix(&err, "--schema %s", arg);
        json_decref(schema);
    }
    if (s->g) return 0;
    fprintf(stderr, "%s: %s\n", cmd, err.msg);
    return -1;
}

int cli_schema_attach(const char *cmd, cli_schema *s, const qvl_model *m, gen_params *gp) {
    if (!s->g) return 0;
    qvl_error err = {0};
    if (!(s->vocab = vocab_index_build(m->tok, &err))) {
        fprintf(stderr, "%s: %s\n", cmd, err.msg);
        return -1;
    }
    gp->constraint = s->g;
    gp->vocab = s->vocab;
    return 0;
}

void cli_schema_free(cli_schema *s) {
    grammar_free(s->g);
    vocab_index_free(s->vocab);
    memset(s, 0, sizeof *s);
}

int cli_memory_open(const char *cmd, const char *setting, const qvl_model *m, int n_ctx, int threads,
                    uint64_t caches, mem_budget **out) {
    qvl_error err = {0};
    uint64_t limit;
    *out = NULL;
    if (mem_limit_from_setting(setting, &limit, &err) != 0) {
        fprintf(stderr, "%s: --max-memory: %s\n", cmd, err.msg);
        return -1;
    }
    if (!limit) return 0;
    uint64_t base = mem_rss_bytes() + mem_need_slot(m, n_ctx, threads) + caches;
    char t[2][24];
    if (base >= limit) {
        fprintf(stderr, "%s: --max-memory %s is not more than the model and its context take: %s (lower --ctx or "
                "raise --max-memory)\n", cmd, mem_size_text(limit, t[0]), mem_size_text(base, t[1]));
        return -1;
    }
    if (!(*out = mem_budget_create(limit, base))) {
        fprintf(stderr, "%s: out of memory\n", cmd);
        return -1;
    }
    return 0;
}

/* The mem_image of the file a content part names: the page it names
 * ("page", as batch asks about each page of a document), else the whole
 * file. */
static int part_extent(const json_t *part, mem_image *out, qvl_error *err) {
    const char *path = json_string_value(json_object_get(part, "image"));
    size_t len;
    char *bytes = read_file_text(path, IMAGE_DEFAULT_MAX_BYTES + 1, &len, err);
    if (!bytes) return -1;
    const json_t *page = json_object_get(part, "page");
    const char *type = image_sniff((const uint8_t *)bytes, len);
    int rc;
    if (json_is_integer(page)) {
        *out = (mem_image){.rendered = type && !strcmp(type, "application/pdf"), .pages = 1};
        rc = image_probe((const uint8_t *)bytes, len, (int)json_integer_value(page), NULL, &out->width, &out->height,
                         err);
    } else {
        rc = mem_image_of((const uint8_t *)bytes, len, NULL, CLI_MAX_IMAGES, out, err);
    }
    if (rc != 0) qvl_error_prefix(err, "%s", path);
    free(bytes);
    return rc;
}

int cli_memory_check(mem_budget *b, const qvl_model *m, const json_t *messages, long min_px, long max_px, int n_ctx,
                     int threads, bool ocr, qvl_error *err) {
    if (!b) return 0;
    mem_image imgs[64];
    int n = 0;
    size_t i, k;
    json_t *msg, *part;
    json_array_foreach(messages, i, msg) {
        json_array_foreach(json_object_get(msg, "content"), k, part) {
            if (!json_is_string(json_object_get(part, "image"))) continue;
            if (n == (int)(sizeof imgs / sizeof imgs[0]))
                return qvl_fail_code(err, QVL_E_TOO_LARGE, "more than %d images in one question", n);
            if (part_extent(part, &imgs[n++], err) != 0) return -1;
        }
    }
    mem_need need;
    if (mem_need_request(m, imgs, n, min_px, max_px, n_ctx, threads, ocr, &need, err) != 0) return -1;
    if (need.total <= mem_budget_room(b)) return 0;
    char detail[160];
    mem_need_text(&need, detail, sizeof detail);
    return mem_need_refuse(err, need.total, detail, b);
}
