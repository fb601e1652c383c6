/* test_model.c - see test_model.h. */
#include "load/test_model.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/mapped_file.h"
#include "engine/dtype.h"
#include "format/safetensors.h"
#include "load/test_weights.h"

#define CHUNK (1 << 20)

static int copy_file(const char *from, const char *to, qvl_error *err) {
    FILE *in = fopen(from, "rb");
    if (!in) return qvl_fail_code(err, QVL_E_IO, "%s: cannot open: %s", from, strerror(errno));
    FILE *out = fopen(to, "wb");
    if (!out) {
        fclose(in);
        return qvl_fail_code(err, QVL_E_IO, "%s: cannot create: %s", to, strerror(errno));
    }
    char buf[1 << 16];
    size_t n;
    int ok = 1;
    while (ok && (n = fread(buf, 1, sizeof buf, in)) > 0) ok = fwrite(buf, 1, n, out) == n;
    ok = ok && !ferror(in);
    fclose(in);
    if (fclose(out) != 0) ok = 0;
    if (!ok) return qvl_fail_code(err, QVL_E_IO, "%s: copy failed", to);
    return 0;
}

static int write_json(json_t *j, const char *dir, const char *file, qvl_error *err) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    int rc = json_dump_file(j, path, JSON_INDENT(2));
    json_decref(j);
    if (rc != 0) return qvl_fail_code(err, QVL_E_IO, "%s: cannot write", path);
    return 0;
}

static int write_side_configs(const char *dir, qvl_error *err) {
    /* The real Qwen3-VL-2B-Instruct values. */
    json_t *pre = json_pack("{s:{s:i, s:i}, s:i, s:i, s:i, s:[f,f,f], s:[f,f,f], s:s, s:s}", "size",
                            "longest_edge", 16777216, "shortest_edge", 65536, "patch_size", 16,
                            "temporal_patch_size", 2, "merge_size", 2, "image_mean", 0.5, 0.5, 0.5, "image_std",
                            0.5, 0.5, 0.5, "processor_class", "Qwen3VLProcessor", "image_processor_type",
                            "Qwen2VLImageProcessorFast");
    json_t *gen = json_pack("{s:i, s:i, s:b, s:[i,i], s:i, s:f, s:f, s:f}", "bos_token_id", 151643,
                            "pad_token_id", 151643, "do_sample", 1, "eos_token_id", 151645, 151643, "top_k", 20,
                            "top_p", 0.8, "repetition_penalty", 1.0, "temperature", 0.7);
    if (write_json(pre, dir, "preprocessor_config.json", err) != 0) {
        json_decref(gen);
        return -1;
    }
    return write_json(gen, dir, "generation_config.json", err);
}

static int write_weights(const model_config *cfg, const char *dir, qvl_error *err) {
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    hf_tensor_desc *d = NULL;
    int n = config_hf_tensors(cfg, &d);
    safetensors_writer *w = safetensors_writer_open(path, err);
    if (!w) {
        free(d);
        return -1;
    }
    float *f32 = malloc(CHUNK * sizeof *f32);
    uint16_t *bf = malloc(CHUNK * sizeof *bf);
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) rc = safetensors_writer_add(w, d[i].name, DT_BF16, d[i].shape, d[i].n_dims, err);
    for (int i = 0; i < n && rc == 0; i++) {
        int64_t numel = 1;
        for (int k = 0; k < d[i].n_dims; k++) numel *= d[i].shape[k];
        for (int64_t start = 0; start < numel && rc == 0; start += CHUNK) {
            int64_t count = numel - start < CHUNK ? numel - start : CHUNK;
            test_weights_fill(d[i].name, d[i].shape, d[i].n_dims, start, count, f32);
            for (int64_t j = 0; j < count; j++) bf[j] = f32_to_bf16(f32[j]);
            rc = safetensors_writer_write(w, bf, (size_t)count * 2, err);
        }
    }
    free(f32);
    free(bf);
    free(d);
    if (rc != 0) {
        safetensors_writer_abort(w);
        return -1;
    }
    return safetensors_writer_finish(w, err);
}

int test_model_write(test_model_size size, const char *out_dir, const char *tok_dir, qvl_error *err) {
    if (make_dirs(out_dir, err) != 0) return -1;
    model_config cfg;
    config_test_model(&cfg, size);
    char path[4096], src[4096];
    snprintf(path, sizeof path, "%s/config.json", out_dir);
    if (config_write_hf(&cfg, path, err) != 0 || write_side_configs(out_dir, err) != 0) return -1;
    const char *tok_files[] = {"tokenizer.json", "tokenizer_config.json"};
    for (int i = 0; i < 2; i++) {
        snprintf(src, sizeof src, "%s/%s", tok_dir, tok_files[i]);
        snprintf(path, sizeof path, "%s/%s", out_dir, tok_files[i]);
        if (copy_file(src, path, err) != 0) return -1;
    }
    return write_weights(&cfg, out_dir, err);
}

static int is_tokenizer_dir(const char *dir) {
    char p[4096];
    snprintf(p, sizeof p, "%s/tokenizer.json", dir);
    return access(p, R_OK) == 0;
}

const char *test_model_find_tokenizer_dir(void) {
    static char buf[4096];
    const char *env = getenv("QVL_TESTDATA");
    if (env) {
        snprintf(buf, sizeof buf, "%s/tokenizer", env);
        if (is_tokenizer_dir(buf)) return buf;
    }
    if (is_tokenizer_dir("../shared/testdata/tokenizer")) return "../shared/testdata/tokenizer";
    char exe[3072];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) *slash = 0;
        /* the binary sits in the repo root (./qvl) or in build/<kind>/ */
        const char *ups[] = {"/../shared/testdata/tokenizer", "/../../../shared/testdata/tokenizer"};
        for (int i = 0; i < 2; i++) {
            snprintf(buf, sizeof buf, "%s%s", exe, ups[i]);
            if (is_tokenizer_dir(buf)) return buf;
        }
    }
    return NULL;
}
