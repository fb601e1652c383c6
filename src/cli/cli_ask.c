/* cli_ask.c - `qvl ask --model M "question"`: one question, answer streamed
 * to stdout as it is generated. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mapped_file.h"
#include "cli/cli_util.h"
#include "image/image.h"
#include "model/chat.h"
#include "model/generate.h"

static const char *help =
    "usage: qvl ask --model M [options] \"question\"\n"
    "\n"
    "Answers one question, streaming the text to stdout as it is generated.\n"
    "      --image IMG         an image to ask about (repeatable)\n"
    "      --system TEXT       system message\n"
    "      --max-tokens N      answer length limit (default 1024)\n"
    "      --temperature T     0 = greedy; default from generation_config.json (0.7)\n"
    "      --top-k K  --top-p P  --min-p P  --seed S\n"
    "      --repeat-penalty R  --presence-penalty P  --frequency-penalty F\n"
    "      --stop TEXT         stop when TEXT appears (repeatable)\n"
    "      --ctx N             context size in tokens (default 4096)\n"
    "      --no-loop-check     do not stop when the output repeats itself\n"
    "  -v, --verbose           print timings to stderr\n"
    CLI_MODEL_HELP;

/* Image parts built below carry a file path: read and decode it. */
static int load_image_file(void *ctx, const json_t *part, int index, image_rgb *out, qvl_error *err) {
    const char *path = json_string_value(json_object_get(part, "image"));
    size_t len;
    char *bytes = path ? read_file_text(path, IMAGE_DEFAULT_MAX_BYTES + 1, &len, err) : NULL;
    if (!bytes) return path ? -1 : qvl_fail(err, "image %d has no file path", index);
    int rc = image_decode((const uint8_t *)bytes, len, NULL, out, err);
    if (rc != 0) qvl_error_prefix(err, "%s", path);
    free(bytes);
    return rc;
}

static int print_piece(void *user, const char *text, size_t len) {
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    return 0;
}

int cli_ask(int argc, char **argv) {
    cli_model_opts mo = {0};
    str_list images = {0}, stops = {0}, pos = {0};
    const char *system = NULL;
    int max_tokens = 1024, top_k = -1, seed = -1, ctx = 4096, no_loop = 0, verbose = 0;
    float temp = -1, top_p = -1, min_p = -1, rep = -1, pres = 0, freq = 0;
    cli_opt opts[] = {CLI_MODEL_OPTIONS(mo),
                      {"--image", NULL, OPT_LIST, &images},
                      {"--system", NULL, OPT_STR, &system},
                      {"--max-tokens", "-n", OPT_INT, &max_tokens},
                      {"--temperature", NULL, OPT_FLOAT, &temp},
                      {"--top-k", NULL, OPT_INT, &top_k},
                      {"--top-p", NULL, OPT_FLOAT, &top_p},
                      {"--min-p", NULL, OPT_FLOAT, &min_p},
                      {"--seed", NULL, OPT_INT, &seed},
                      {"--repeat-penalty", NULL, OPT_FLOAT, &rep},
                      {"--presence-penalty", NULL, OPT_FLOAT, &pres},
                      {"--frequency-penalty", NULL, OPT_FLOAT, &freq},
                      {"--stop", NULL, OPT_LIST, &stops},
                      {"--ctx", NULL, OPT_INT, &ctx},
                      {"--no-loop-check", NULL, OPT_FLAG, &no_loop},
                      {"--verbose", "-v", OPT_FLAG, &verbose},
                      {0}};
    int rc = cli_parse(argc, argv, opts, help, &pos);
    if (rc < 0 && pos.n != 1) {
        fprintf(stderr, "qvl ask: give exactly one question (quote it)\n\n%s", help);
        rc = 2;
    }
    if (rc >= 0) {
        free(images.items), free(stops.items), free(pos.items);
        return rc;
    }
    qvl_model *m = cli_load_model("qvl ask", &mo, images.n == 0);
    if (!m) {
        free(images.items), free(stops.items), free(pos.items);
        return 1;
    }
    json_t *msgs = json_array(), *content = json_array();
    if (system) json_array_append_new(msgs, json_pack("{s:s, s:s}", "role", "system", "content", system));
    for (int i = 0; i < images.n; i++)
        json_array_append_new(content, json_pack("{s:s, s:s}", "type", "image", "image", images.items[i]));
    json_array_append_new(content, json_pack("{s:s, s:s}", "type", "text", "text", pos.items[0]));
    json_array_append_new(msgs, json_pack("{s:s, s:o}", "role", "user", "content", content));
    qvl_error err = {0};
    threadpool *tp = threadpool_create(mo.threads);
    chat_opts copts = {.add_generation_prompt = true, .load_image = load_image_file, .tp = tp};
    chat_prompt cp;
    rc = chat_prompt_build(m, msgs, &copts, &cp, &err);
    json_decref(msgs);
    gen_session sess;
    if (rc == 0) rc = gen_session_init(&sess, m, ctx, &err);
    if (rc == 0) {
        gen_params gp = gen_params_defaults(m);
        gp.max_tokens = max_tokens;
        if (temp >= 0) gp.sampling.temperature = temp;
        if (top_k >= 0) gp.sampling.top_k = top_k;
        if (top_p >= 0) gp.sampling.top_p = top_p;
        if (min_p >= 0) gp.sampling.min_p = min_p;
        if (rep > 0) gp.sampling.repetition_penalty = rep;
        gp.sampling.presence_penalty = pres;
        gp.sampling.frequency_penalty = freq;
        if (seed >= 0) gp.sampling.seed = (uint64_t)seed;
        gp.stop = stops.items;
        gp.n_stop = stops.n;
        gp.detect_loops = !no_loop;
        gen_prompt gpr = chat_prompt_view(&cp);
        gen_result res;
        rc = generate(m, &sess, &gpr, &gp, tp, print_piece, NULL, NULL, &res, &err);
        if (rc == 0) {
            printf("\n");
            fflush(stdout);
            if (res.finish == FINISH_LOOP)
                fprintf(stderr, "[stopped early: the answer kept repeating itself]\n");
            else if (res.finish == FINISH_LENGTH)
                fprintf(stderr, "[stopped at --max-tokens %d]\n", max_tokens);
            if (verbose)
                fprintf(stderr, "prompt: %d tokens in %.0f ms (%.1f tok/s); answer: %d tokens in %.0f ms (%.1f tok/s)\n",
                        res.n_prompt, res.prompt_ms, res.n_prompt / (res.prompt_ms / 1e3), res.n_generated,
                        res.gen_ms, res.n_generated > 1 ? (res.n_generated - 1) / (res.gen_ms / 1e3) : 0.0);
            gen_result_free(&res);
        }
        gen_session_free(&sess);
    }
    if (rc != 0) fprintf(stderr, "qvl ask: %s\n", err.msg);
    if (verbose && rc == 0 && cp.n_images)
        fprintf(stderr, "images: %d encoded in %.0f ms\n", cp.n_images, cp.image_ms);
    chat_prompt_free(&cp);
    threadpool_free(tp);
    free(images.items), free(stops.items), free(pos.items);
    model_free(m);
    return rc ? 1 : 0;
}
