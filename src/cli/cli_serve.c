/* cli_serve.c - `qvl serve`: loads the model, starts the HTTP server (see
 * src/server/server.h) and runs until SIGINT or SIGTERM, then drains:
 * no new connections, running answers get a grace period, then exit 0.
 * Its options may also come from a config file and QVL_* variables
 * (cli_settings.h), as a service manager or a container sets them. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/mem_budget.h"
#include "cli/cli_settings.h"
#include "cli/cli_util.h"
#include "engine/dtype.h"
#include "engine/kernels.h"
#include "model/vision_model.h"
#include "image/preprocess.h"
#include "server/server.h"
#include "load/model_load.h"

static const char *help =
    "usage: qvl serve --model M [options]\n"
    "\n"
    "Serves the web page, the OpenAI-compatible API and the simple API over HTTP.\n"
    "      --host H            address to listen on (default 127.0.0.1; 0.0.0.0 for all)\n"
    "      --port P            port (default 8080; 0 = any free port)\n"
    "      --parallel N        requests answered at once; their decode steps run as one batch (default 1)\n"
    "      --api-key KEY       require 'Authorization: Bearer KEY' (or X-API-Key) on the APIs and /metrics\n"
    "      --api-key-file F    more keys, one per line ('#' comments): each client its own, read at start\n"
    "      --max-image-mb N    largest image accepted, in MB (default 10)\n"
    "      --cors ORIGIN       allow browser pages from ORIGIN (e.g. https://example.com or *)\n"
    "      --ctx N             context size in tokens per request (default 4096)\n"
    "      --timeout S         per-request time limit in seconds (default 300; 0 = none)\n"
    "      --max-queue N       requests waiting for a slot before 503 (default 32)\n"
    "      --max-connections N open connections accepted (default 256)\n"
    "      --header-timeout S  a request's headers must arrive within S seconds, its body within 60\n"
    "                          (default 10): clients that trickle bytes lose the connection\n"
    "      --grace S           on SIGTERM, seconds running answers may take to finish (default 10)\n"
    "      --image-cache-mb N  encoded images kept for follow-up questions (default 512; 0 = off)\n"
    "      --max-pixels N      image detail of requests that give no max_pixels (default 300000: ~290 image\n"
    "                          tokens; a request may ask for up to 16777216)\n"
    "      --max-memory SIZE   memory budget (e.g. 6G, 512M, bytes; off): a request that would pass it waits\n"
    "                          for others to finish, or is refused (413) when it never could fit (default auto:\n"
    "                          90% of the cgroup limit or of the memory available at start)\n"
    "      --no-ocr            no OCR fast path: every question goes to the model\n"
    "      --ocr-rules F  --ocr-lang L  --ocr-plugin P   OCR routing rules, languages, plugin\n"
    "      --max-conversations N  simple-API conversations kept for follow-ups (default 16; each holds its\n"
    "                          images: up to 1.33 x --max-image-mb MB each)\n"
    "      --conversation-mb N the bytes those conversations may hold together (default 256; the least\n"
    "                          recently used are dropped first)\n"
    "      --instance-id ID    this replica's name, sent as X-Qvl-Instance on every answer and put before\n"
    "                          its conversation ids so a balancer can route follow-ups (default host:port)\n"
    CLI_SETTINGS_HELP
    CLI_MODEL_HELP;

typedef struct serve_opts {
    server_config cfg;
    cli_model_opts mo;
    cli_ocr_opts oo;
    int no_ocr;
    float timeout, grace, header_timeout;
    const char *max_memory;
} serve_opts;

static int serve(serve_opts *so);

int cli_serve(int argc, char **argv) {
    serve_opts so = {.cfg = {.host = "127.0.0.1", .port = 8080, .parallel = 1, .max_image_mb = 10, .ctx = 4096,
                             .max_queue = 32, .max_connections = 256, .image_cache_mb = 512,
                             .max_pixels = IMAGE_QVL_MAX_PIXELS, .max_conversations = 16,
                             .conversation_mb = 256},
                     .timeout = 300, .grace = 10, .header_timeout = 10};
    const char *config = NULL;   /* read by cli_parse_settings before the rest */
    cli_opt opts[] = {CLI_MODEL_OPTIONS(so.mo),
                      {"--host", NULL, OPT_STR, &so.cfg.host},
                      {"--port", "-p", OPT_INT, &so.cfg.port},
                      {"--parallel", "-np", OPT_INT, &so.cfg.parallel},
                      {"--api-key", NULL, OPT_STR, &so.cfg.api_key},
                      {"--api-key-file", NULL, OPT_STR, &so.cfg.api_key_file},
                      {"--max-image-mb", NULL, OPT_INT, &so.cfg.max_image_mb},
                      {"--cors", NULL, OPT_STR, &so.cfg.cors},
                      {"--ctx", "-c", OPT_INT, &so.cfg.ctx},
                      {"--timeout", NULL, OPT_FLOAT, &so.timeout},
                      {"--max-queue", NULL, OPT_INT, &so.cfg.max_queue},
                      {"--max-connections", NULL, OPT_INT, &so.cfg.max_connections},
                      {"--grace", NULL, OPT_FLOAT, &so.grace},
                      {"--header-timeout", NULL, OPT_FLOAT, &so.header_timeout},
                      {"--image-cache-mb", NULL, OPT_INT, &so.cfg.image_cache_mb},
                      {"--max-pixels", NULL, OPT_INT, &so.cfg.max_pixels},
                      {"--no-ocr", NULL, OPT_FLAG, &so.no_ocr},
                      {"--max-memory", NULL, OPT_STR, &so.max_memory},
                      {"--max-conversations", NULL, OPT_INT, &so.cfg.max_conversations},
                      {"--conversation-mb", NULL, OPT_INT, &so.cfg.conversation_mb},
                      {"--instance-id", NULL, OPT_STR, &so.cfg.instance_id},
                      {"--config", NULL, OPT_STR, &config},
                      CLI_OCR_OPTIONS(so.oo),
                      {0}};
    cli_settings st;
    int rc = cli_parse_settings(argc, argv, opts, help, &st);
    if (rc < 0) rc = serve(&so);
    cli_settings_free(&st);
    return rc;
}

static int serve(serve_opts *so) {
    server_config cfg = so->cfg;
    cli_model_opts mo = so->mo;
    cli_ocr_opts oo = so->oo;
    float timeout = so->timeout, grace = so->grace, header_timeout = so->header_timeout;
    const char *bad = cfg.port < 0 || cfg.port > 65535 ? "--port must be 0..65535"
                      : cfg.parallel < 1 || cfg.parallel > 64 ? "--parallel must be 1..64"
                      : cfg.max_image_mb < 1 || cfg.max_image_mb > 100 ? "--max-image-mb must be 1..100"
                      : cfg.ctx < 64 || cfg.ctx > 262144 ? "--ctx must be 64..262144"
                      : cfg.max_queue < 0 ? "--max-queue must be >= 0"
                      : cfg.max_connections < 1 ? "--max-connections must be >= 1"
                      : timeout < 0 || grace < 0 ? "--timeout and --grace must be >= 0"
                      : header_timeout < 0.5 || header_timeout > 600 ? "--header-timeout must be 0.5..600"
                      : cfg.image_cache_mb < 0 ? "--image-cache-mb must be >= 0"
                      : cfg.max_conversations < 1 || cfg.max_conversations > 100000 ? "--max-conversations must be 1..100000"
                      : cfg.conversation_mb < 1 || cfg.conversation_mb > 1048576 ? "--conversation-mb must be 1..1048576"
                      : cfg.max_pixels < 28 * 28 || cfg.max_pixels > IMAGE_HF_MAX_PIXELS ? "--max-pixels must be 784..16777216"
                      : cfg.instance_id && !server_instance_valid(cfg.instance_id)
                          ? "--instance-id must be 1-48 characters of A-Z a-z 0-9 . _ : -"
                      : oo.mode ? "--mode is chosen per request (the 'mode' field)" : NULL;
    if (bad) {
        fprintf(stderr, "qvl serve: %s\n", bad);
        return 2;
    }
    cfg.timeout_s = timeout;
    cfg.header_timeout_s = header_timeout;
    qvl_error merr = {0};
    if (mem_limit_from_setting(so->max_memory, &cfg.max_memory, &merr) != 0) {
        fprintf(stderr, "qvl serve: --max-memory: %s\n", merr.msg);
        return 2;
    }
    ocr_router *router = NULL;
    if (!so->no_ocr) {
        qvl_error rerr = {0};
        if (!(router = ocr_router_load(oo.rules, &rerr))) {
            fprintf(stderr, "qvl serve: %s (or pass --no-ocr)\n", rerr.msg);
            return 2;
        }
    }
    cfg.router = router;
    cfg.ocr_plugin = oo.plugin;
    cfg.ocr_lang = oo.lang;
    /* Block the stop signals before any thread starts, so every thread
     * inherits the mask and only sigwait below receives them. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* Listen first: the page and /health ("loading") answer while the
     * weights load. */
    if (mo.threads < 1) mo.threads = cli_default_threads();
    cfg.threads = mo.threads;
    qvl_error err = {0};
    qvl_server *srv = server_start(&cfg, &err);
    if (!srv) {
        fprintf(stderr, "qvl serve: %s\n", err.msg);
        ocr_router_free(router);
        return 1;
    }
    bool v6 = strchr(cfg.host, ':') != NULL;
    fprintf(stderr, "qvl serve: listening on http://%s%s%s:%d, loading the model...\n", v6 ? "[" : "", cfg.host,
            v6 ? "]" : "", server_port(srv));
    qvl_model *m = cli_load_model("qvl serve", &mo, false);
    if (!m || server_set_model(srv, m, &err) != 0) {
        if (m) fprintf(stderr, "qvl serve: %s\n", err.msg);
        server_stop(srv, 0);
        model_free(m);
        ocr_router_free(router);
        return 1;
    }
    if (m->cfg.test_model[0])
        fprintf(stderr, "\n*** RUNNING THE SYNTHETIC TEST MODEL - answers are gibberish; pass --model with real "
                        "Qwen3-VL weights ***\n\n");
    printf("qvl serve: %s ready on http://%s%s%s:%d (%d slot%s, %d threads, kernels %s, vision weights %s, OCR fast "
           "path %s, instance %s)\n",
           m->name, v6 ? "[" : "", cfg.host, v6 ? "]" : "", server_port(srv), cfg.parallel,
           cfg.parallel == 1 ? "" : "s", cfg.threads, kernels_get()->name,
           m->vision ? dtype_get(m->vision->blocks[0].qkv.type)->name : "none", router ? "on" : "off",
           server_instance(srv));
    uint64_t limit, base, reserved;
    char t[3][24];
    if (server_memory(srv, &limit, &base, &reserved))
        printf("qvl serve: memory budget %s%s: %s held by the model and its caches, %s for requests\n",
               mem_size_text(limit, t[0]), so->max_memory && strcasecmp(so->max_memory, "auto") ? "" : " (auto)",
               mem_size_text(base, t[1]), mem_size_text(limit - base, t[2]));
    else
        printf("qvl serve: no memory budget (--max-memory off)\n");
    fflush(stdout);
    int sig = 0;
    sigwait(&stop, &sig);
    fprintf(stderr, "qvl serve: %s received, finishing running requests (up to %.0f s)\n",
            sig == SIGTERM ? "SIGTERM" : "SIGINT", grace);
    server_stop(srv, grace);
    model_free(m);
    ocr_router_free(router);
    fprintf(stderr, "qvl serve: stopped\n");
    return 0;
}
