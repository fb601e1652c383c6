/* ocr_plugin_so.c - OCR backends in shared objects (the ocr_backend_api of
 * ocr.h), isolated in child processes.
 *
 * This process never runs plugin code: opening a plugin forks a probe child
 * that dlopens it, checks the interface version and tries init/free; each
 * recognition forks a child that loads, initialises, recognises and answers
 * in the JSON of ocr_internal.h. The price is a fork and an init per
 * request (cheap for small plugins; a plugin with a slow init belongs in a
 * command plugin wrapping a server). The gain: a plugin that crashes,
 * hangs or scribbles over memory loses one request, not the server.
 */
#include <dlfcn.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ocr/ocr_internal.h"
#include "ocr/ocr_proc.h"

struct ocr_so {
    char *path;
    char *config;
    char name[64];      /* the plugin's own name */
    char who[160];      /* "plugin 'file.so'" for messages */
    int timeout_ms;
};

typedef struct {
    const ocr_so *so;
    const ocr_image *img;   /* NULL = probe only */
    const char *lang;
} so_job;

static void write_all(const char *s) {
    size_t n = strlen(s);
    while (n) {
        ssize_t w = write(1, s, n);
        if (w <= 0) return;
        s += w;
        n -= (size_t)w;
    }
}

/* Writes {"error": message} as the child's answer. Returns 0 (the exit
 * status: the message, not the status, carries the failure). */
__attribute__((format(printf, 1, 2)))
static int answer_error(const char *fmt, ...) {
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *j = json_pack("{s:s}", "error", msg);
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    if (s) write_all(s);
    free(s);
    json_decref(j);
    return 0;
}

/* Runs in the child: load, check, init, then probe or recognise. */
static int so_child(void *arg) {
    const so_job *job = arg;
    void *dl = dlopen(job->so->path, RTLD_NOW | RTLD_LOCAL);
    if (!dl) return answer_error("cannot load it: %s", dlerror());
    const ocr_backend_api *(*entry)(void);
    *(void **)&entry = dlsym(dl, "qvl_ocr_plugin");
    if (!entry) return answer_error("no qvl_ocr_plugin() entry point (not a qvl OCR plugin?)");
    const ocr_backend_api *api = entry();
    if (!api) return answer_error("qvl_ocr_plugin() returned NULL");
    if (api->api_version != OCR_API_VERSION)
        return answer_error("interface version %d, but this qvl needs version %d (rebuild the "
                            "plugin against this qvl's ocr.h)", api->api_version, OCR_API_VERSION);
    if (!api->init || !api->recognize || !api->free)
        return answer_error("its ocr_backend_api lacks init, recognize or free");
    char eb[512] = "";
    void *self = api->init(job->so->config, eb, sizeof eb);
    if (!self) return answer_error("init failed: %s", eb[0] ? eb : "no reason given");
    if (!job->img) {
        json_t *j = json_pack("{s:s}", "name", api->name ? api->name : "");
        char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
        if (s) write_all(s);
        return 0;   /* the process ends; nothing to release */
    }
    ocr_result res = {0};
    if (api->recognize(self, job->img, job->lang, &res, eb, sizeof eb) != 0)
        return answer_error("%s", eb[0] ? eb : "recognize failed (no reason given)");
    char *s = ocr_result_to_json(&res);
    if (!s) return answer_error("out of memory serialising the result");
    /* Release through the plugin before answering: a plugin that crashes
     * in its own clean-up is caught here too, not in a later request. */
    if (api->free_result) api->free_result(self, &res);
    api->free(self);
    write_all(s);
    free(s);
    return 0;
}

static char *so_run(const ocr_so *so, so_job *job, size_t *len, qvl_error *err) {
    ocr_proc_spec spec = {.name = so->who, .child_fn = so_child, .child_arg = job,
                          .timeout_ms = so->timeout_ms, .max_out = OCR_MAX_PLUGIN_OUTPUT};
    return ocr_proc_run(&spec, len, err);
}

ocr_so *ocr_so_open(const char *path, const char *config, int timeout_ms, qvl_error *err) {
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
        qvl_fail_code(err, QVL_E_IO, "OCR plugin %s: no such file", path);
        return NULL;
    }
    ocr_so *so = calloc(1, sizeof *so);
    if (!so || !(so->path = strdup(path)) || (config && !(so->config = strdup(config)))) {
        ocr_so_close(so);
        qvl_fail_code(err, QVL_E_NOMEM, "out of memory");
        return NULL;
    }
    const char *base = strrchr(path, '/');
    snprintf(so->who, sizeof so->who, "OCR plugin '%s'", base ? base + 1 : path);
    so->timeout_ms = timeout_ms;

    so_job probe = {so, NULL, NULL};
    size_t len = 0;
    char *out = so_run(so, &probe, &len, err);
    int ran = out != NULL;
    json_t *j = ran ? json_loadb(out, len, 0, NULL) : NULL;
    free(out);
    const char *name = json_string_value(json_object_get(j, "name"));
    const char *perr = json_string_value(json_object_get(j, "error"));
    if (!name) {
        if (perr) qvl_fail(err, "%s: %s", so->who, perr);
        else if (ran) qvl_fail(err, "%s: its probe gave no name", so->who);
        json_decref(j);
        ocr_so_close(so);
        return NULL;
    }
    snprintf(so->name, sizeof so->name, "%s", name[0] ? name : "plugin");
    json_decref(j);
    return so;
}

const char *ocr_so_name(const ocr_so *so) { return so->name; }

int ocr_so_recognize(ocr_so *so, const ocr_image *img, const char *lang, ocr_result *out,
                     qvl_error *err) {
    so_job job = {so, img, lang};
    size_t len = 0;
    char *json = so_run(so, &job, &len, err);
    if (!json) { memset(out, 0, sizeof *out); return -1; }
    int rc = ocr_result_from_json(so->who, json, len, out, err);
    free(json);
    return rc;
}

void ocr_so_close(ocr_so *so) {
    if (!so) return;
    free(so->path);
    free(so->config);
    free(so);
}
