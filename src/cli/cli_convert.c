/* cli_convert.c - `qvl convert`: Hugging Face directory -> GGUF files. */
#include <stdio.h>
#include <time.h>

#include "cli/cli_util.h"
#include "load/convert.h"

static const char *help =
    "usage: qvl convert --model HF_DIR --out MODEL.gguf [--mmproj-out MMPROJ.gguf]\n"
    "                   [--quant q8_0|q4_k_m|q4_k|bf16] [--mmproj-quant f16|q8_0]\n"
    "\n"
    "Writes the text model as a llama.cpp GGUF file, quantized once (default q8_0), with the\n"
    "tokenizer and chat template inside; with --mmproj-out also the vision tower (F16). Loading\n"
    "the GGUF later is instant: `qvl ask --model MODEL.gguf --mmproj MMPROJ.gguf ...`.\n"
    "For 4 bits choose q4_k_m: llama.cpp's Q4_K_M, tensor for tensor (Q6_K for the output\n"
    "and for attn_v / ffn_down in half the layers); q4_k makes all matrices but the\n"
    "embedding Q4_K (5% smaller, a little less exact).\n"
    "--mmproj-quant q8_0 writes the vision matrices as Q8_0, as llama.cpp's Q8_0 mmproj files:\n"
    "half the size, and a faster image encoder on CPUs with the packed int8 kernels (AVX2 and up),\n"
    "with embeddings a little less exact than F16's.\n"
    "  -t, --threads N     threads for quantization (default: all cores)\n";

int cli_convert(int argc, char **argv) {
    const char *model = NULL, *out = NULL, *mmproj = NULL, *quant = NULL, *mmproj_quant = NULL;
    int threads = 0;
    cli_opt opts[] = {{"--model", "-m", OPT_STR, &model}, {"--out", "-o", OPT_STR, &out},
                      {"--mmproj-out", NULL, OPT_STR, &mmproj}, {"--quant", NULL, OPT_STR, &quant},
                      {"--mmproj-quant", NULL, OPT_STR, &mmproj_quant}, {"--threads", "-t", OPT_INT, &threads}, {0}};
    int rc = cli_parse(argc, argv, opts, help, NULL);
    if (rc >= 0) return rc;
    if (!model || !out) {
        fprintf(stderr, "qvl convert: need --model HF_DIR and --out FILE.gguf\n");
        return 2;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    convert_opts o = {.quant = quant, .out_text = out, .out_mmproj = mmproj, .mmproj_quant = mmproj_quant,
                      .threads = threads > 0 ? threads : cli_default_threads()};
    qvl_error err = {0};
    if (convert_hf_to_gguf(model, &o, &err) != 0) {
        fprintf(stderr, "qvl convert: %s\n", err.msg);
        return 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    fprintf(stderr, "wrote %s%s%s in %.1f s\n", out, mmproj ? " and " : "", mmproj ? mmproj : "",
            (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));
    return 0;
}
