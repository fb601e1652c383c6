/* cli_util.h - the option parser every subcommand uses, and small helpers.
 *
 * Options are "--name VALUE", "--name=VALUE" or an alias ("-m VALUE");
 * anything else not starting with '-' is positional. "--help"/"-h" prints the
 * command's help text.
 */
#ifndef QVL_CLI_UTIL_H
#define QVL_CLI_UTIL_H

typedef enum { OPT_STR, OPT_INT, OPT_FLOAT, OPT_FLAG, OPT_LIST } cli_opt_kind;

typedef struct str_list {
    const char **items;   /* malloc'd array of argv pointers */
    int n;
} str_list;

typedef struct cli_opt {
    const char *name;     /* "--model"; NULL ends the table */
    const char *alias;    /* "-m" or NULL */
    cli_opt_kind kind;
    void *target;         /* const char **, int *, float *, int * (flag) or str_list * */
} cli_opt;

/* Parses argv[1..]. Positional arguments are collected into *pos (may be
 * NULL when none are allowed). Returns -1 when the command should go on, or
 * an exit status (0 after --help, 2 after a usage error, already printed). */
int cli_parse(int argc, char **argv, const cli_opt *opts, const char *help, str_list *pos);

/* Default thread count: the number of online CPUs (physical cores on the
 * machines we target, which do not expose SMT siblings to VMs). */
int cli_default_threads(void);

/* The max_pixels a command asks for: the user's, or qvl's CPU-sized
 * default (IMAGE_QVL_MAX_PIXELS) unless a larger --min-pixels was given. */
long cli_max_pixels(int max_px, int min_px);

/* ---- model options shared by every command that runs the model ---- */
#include "load/model_load.h"

typedef struct cli_model_opts {
    const char *model;    /* --model DIR|FILE.gguf (default $QVL_MODEL) */
    const char *mmproj;   /* --mmproj FILE.gguf */
    const char *quant;    /* --quant bf16|q8_0|q4_k_m|q4_k */
    int threads;          /* -t/--threads */
    int no_cache;         /* --no-cache: do not keep quantized weights for the next load */
    int exact;            /* matrices as stored, not packed (model_load_opts.no_pack): `qvl logits --exact` */
    const char *kernels;  /* --kernels NAME: force a kernel table (default: the best this CPU runs) */
    const char *vision_quant;   /* --vision-quant none|q8_0|auto (default auto; model_load_opts) */
} cli_model_opts;

#define CLI_MODEL_OPTIONS(mo) \
    {"--model", "-m", OPT_STR, &(mo).model}, {"--mmproj", NULL, OPT_STR, &(mo).mmproj}, \
    {"--quant", NULL, OPT_STR, &(mo).quant}, {"--threads", "-t", OPT_INT, &(mo).threads}, \
    {"--no-cache", NULL, OPT_FLAG, &(mo).no_cache}, {"--kernels", NULL, OPT_STR, &(mo).kernels}, \
    {"--vision-quant", NULL, OPT_STR, &(mo).vision_quant}

#define CLI_MODEL_HELP \
    "  -m, --model M       Hugging Face directory or text .gguf (default: $QVL_MODEL)\n" \
    "      --mmproj P      vision .gguf for a GGUF text model\n" \
    "      --quant Q       quantize bf16 weights on load: bf16, q8_0 (default), q4_k_m (4-bit,\n" \
    "                      llama.cpp's Q4_K_M mix), q4_k (all Q4_K but the embedding)\n" \
    "      --no-cache      do not keep the quantized weights (~/.cache/qvl) for the next load\n" \
    "      --vision-quant V  the vision tower's float matrices: q8_0 (quantized on load, ~1 s;\n" \
    "                      faster, embeddings within ~3e-2), none (as stored), auto (default:\n" \
    "                      q8_0 unless the CPU has AVX-512 BF16)\n" \
    "  -t, --threads N     compute threads (default: all cores)\n" \
    "      --kernels K     force a kernel table: avx512bf16, avx512, avxvnni, avx2, scalar (default:\n" \
    "                      the best this CPU runs; to compare tiers on one machine)\n"

/* Makes the kernel table called name the active one before any work;
 * -1 and a message listing the tables this CPU runs when it cannot. */
int cli_force_kernels(const char *cmd, const char *name);

/* Loads the model named by mo (printing a clear message on failure).
 * text_only skips the vision tower. Returns NULL on failure. */
qvl_model *cli_load_model(const char *cmd, cli_model_opts *mo, bool text_only);

/* Reads a whole file ("-" = stdin) into a NUL-terminated buffer. NULL and a
 * printed message on failure. */
char *cli_read_all(const char *cmd, const char *path, size_t *len);

/* ---- images from files, and the OCR options of ask / batch ---- */
#include <jansson.h>

#include "image/image.h"
#include "ocr/ocr.h"
#include "ocr/ocr_router.h"

/* The files of image parts {"type":"image","image":"<path>"}, each read
 * once and kept while the set lives: the load_ctx of cli_load_image_file and
 * cli_image_bytes. Start from {0}; release with cli_files_free. */
typedef struct cli_files {
    int n;
    char **paths;
    char **bytes;
    size_t *lens;
} cli_files;

/* chat_load_image_fn for those parts ("page": n, 0-based, picks a page of a
 * document). ctx: a cli_files, or NULL to read the file each time. */
int cli_load_image_file(void *ctx, const json_t *part, int index, image_rgb *out, qvl_error *err);

/* answer_bytes_fn for those parts: the file's bytes (read into the
 * cli_files ctx), or NULL when it cannot be read (the loader then says why). */
const uint8_t *cli_image_bytes(void *ctx, const json_t *part, size_t *len);
void cli_files_free(cli_files *f);

typedef struct cli_ocr_opts {
    const char *mode;     /* --mode auto|ocr|vlm|ocr+vlm (default auto) */
    const char *rules;    /* --ocr-rules FILE */
    const char *lang;     /* --ocr-lang eng+chi_sim */
    const char *plugin;   /* --ocr-plugin PATH (.so or command) instead of Tesseract */
} cli_ocr_opts;

#define CLI_OCR_OPTIONS(oo) \
    {"--mode", NULL, OPT_STR, &(oo).mode}, {"--ocr-rules", NULL, OPT_STR, &(oo).rules}, \
    {"--ocr-lang", NULL, OPT_STR, &(oo).lang}, {"--ocr-plugin", NULL, OPT_STR, &(oo).plugin}

#define CLI_OCR_HELP \
    "      --mode M        auto (default: text-reading questions go to OCR), ocr, vlm, ocr+vlm\n" \
    "      --ocr-rules F   routing phrases (default: data/ocr-rules.txt)\n" \
    "      --ocr-lang L    OCR languages (default eng+chi_sim)\n" \
    "      --ocr-plugin P  OCR plugin (.so or a command) instead of Tesseract\n"

/* Parses the mode, loads the router and, when OCR may be used
 * (may_use_ocr), opens the engine. Prints a message and returns -1 on
 * failure. */
int cli_ocr_setup(const char *cmd, const cli_ocr_opts *oo, bool may_use_ocr, ocr_mode *mode, ocr_router **router,
                  ocr_engine **engine);

/* ---- JSON Schema answers (--schema) of ask / batch ---- */
#include "generate/generate.h"
#include "grammar/grammar.h"
#include "grammar/token_mask.h"

#define CLI_SCHEMA_HELP \
    "      --schema FILE   answer with JSON that follows this JSON Schema (\"json\": any JSON object)\n"

typedef struct cli_schema {
    grammar *g;               /* NULL: no --schema */
    vocab_index *vocab;
} cli_schema;

/* Compiles --schema arg (a JSON Schema file, or "json"); arg NULL = none.
 * Prints "cmd: message" (naming an unsupported keyword) and returns -1 on
 * failure. */
int cli_schema_load(const char *cmd, const char *arg, cli_schema *s);

/* Indexes m's vocabulary and makes gp follow the schema (nothing without
 * one). Prints a message and returns -1 when out of memory. */
int cli_schema_attach(const char *cmd, cli_schema *s, const qvl_model *m, gen_params *gp);

void cli_schema_free(cli_schema *s);

/* ---- the memory budget (--max-memory) of ask / batch ---- */
#include "base/mem_budget.h"

#define CLI_MEMORY_HELP \
    "      --max-memory S  refuse a question that would need more memory than S (6G, 512M, bytes;\n" \
    "                      default auto: 90% of what this process may use; off)\n"

/* The budget for a command that has loaded m and made its session of n_ctx
 * positions: its base is what the process holds now, the session's KV
 * cache and `caches` more bytes the command may still fill. *out NULL when
 * setting is "off". Prints "cmd: ..." and returns -1 when the setting is
 * bad or the base alone passes it. */
int cli_memory_open(const char *cmd, const char *setting, const qvl_model *m, int n_ctx, int threads,
                    uint64_t caches, mem_budget **out);

/* The most images (document pages included) one question may show the model. */
enum { CLI_MAX_IMAGES = 8 };

/* Refuses a question whose images (the file parts of messages: "image"
 * paths, as cli_load_image_file reads them) would need more memory than
 * the budget leaves: -1 with err (QVL_E_TOO_LARGE and the numbers; or the
 * image's header error). b NULL: 0. Reads only the files' headers. */
int cli_memory_check(mem_budget *b, const qvl_model *m, const json_t *messages, long min_px, long max_px, int n_ctx,
                     int threads, bool ocr, qvl_error *err);

#endif
