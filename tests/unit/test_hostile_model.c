/* test_hostile_model.c - malformed safetensors files, config.json files and
 * model directories: each must fail with a clear message naming the file
 * (and the tensor where there is one), never crash (this also runs under
 * ASan/UBSan). GGUF and tokenizer files have their own hostile suites. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "format/safetensors.h"
#include "model/config.h"
#include "load/model_load.h"
#include "load/test_model.h"

static char tmp[] = "/tmp/qvl-hostile-XXXXXX";
static int n_cases;

static void write_bytes(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    fwrite(data, 1, n, f);
    fclose(f);
}

/* A safetensors file from a header text (padded with spaces to 8 bytes, as
 * writers do) and n_data bytes of zeros. */
static void write_st(const char *path, const char *header, size_t n_data) {
    size_t tl = strlen(header), hl = (tl + 7) / 8 * 8;
    uint8_t *buf = calloc(8 + hl + n_data + 1, 1);
    for (int i = 0; i < 8; i++) buf[i] = (uint8_t)((uint64_t)hl >> (8 * i));
    memset(buf + 8, ' ', hl);
    memcpy(buf + 8, header, tl);
    write_bytes(path, buf, 8 + hl + n_data);
    free(buf);
}

static void expect_st_error(const char *what, const char *header, size_t n_data, const char *must_mention) {
    char path[256];
    snprintf(path, sizeof path, "%s/case%d.safetensors", tmp, n_cases++);
    write_st(path, header, n_data);
    safetensors_file st;
    qvl_error err = {0};
    int rc = safetensors_open(&st, path, &err);
    CHECK_MSG(rc != 0, "%s: accepted", what);
    if (rc == 0) {
        safetensors_close(&st);
        return;
    }
    CHECK_MSG(strstr(err.msg, path) != NULL, "%s: message lacks the file name: %s", what, err.msg);
    if (must_mention) CHECK_MSG(strstr(err.msg, must_mention) != NULL, "%s: message lacks '%s': %s", what, must_mention, err.msg);
}

static void safetensors_cases(void) {
    char path[256];
    snprintf(path, sizeof path, "%s/empty.safetensors", tmp);
    write_bytes(path, "", 0);
    safetensors_file st;
    qvl_error err = {0};
    CHECK(safetensors_open(&st, path, &err) != 0 && strstr(err.msg, "too short"));
    n_cases++;
    snprintf(path, sizeof path, "%s/short.safetensors", tmp);
    write_bytes(path, "\x10\0\0\0\0\0\0", 7);
    CHECK(safetensors_open(&st, path, &err) != 0);
    n_cases++;
    uint8_t huge[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, '{', '}'};
    snprintf(path, sizeof path, "%s/huge.safetensors", tmp);
    write_bytes(path, huge, 10);
    CHECK(safetensors_open(&st, path, &err) != 0 && strstr(err.msg, "header length"));
    n_cases++;

    expect_st_error("not json", "{this is not json", 0, "JSON");
    expect_st_error("array header", "[1,2,3]", 0, "JSON object");
    expect_st_error("entry not object", "{\"a\": 5}", 0, "'a'");
    expect_st_error("dtype missing", "{\"a\": {\"shape\": [2], \"data_offsets\": [0, 8]}}", 8, "dtype");
    expect_st_error("dtype unknown", "{\"a\": {\"dtype\": \"F8_E4M3\", \"shape\": [2], \"data_offsets\": [0, 2]}}", 2, "F8_E4M3");
    expect_st_error("shape not array", "{\"a\": {\"dtype\": \"F32\", \"shape\": 2, \"data_offsets\": [0, 8]}}", 8, "shape");
    expect_st_error("negative dim", "{\"a\": {\"dtype\": \"F32\", \"shape\": [-2], \"data_offsets\": [0, 8]}}", 8, "shape");
    expect_st_error("6 dims", "{\"a\": {\"dtype\": \"F32\", \"shape\": [1,1,1,1,1,2], \"data_offsets\": [0, 8]}}", 8, "dimensions");
    expect_st_error("dims overflow",
                    "{\"a\": {\"dtype\": \"F32\", \"shape\": [4294967296, 4294967296, 4294967296], \"data_offsets\": [0, 8]}}",
                    8, "large");
    expect_st_error("offsets short", "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0]}}", 8, "data_offsets");
    expect_st_error("offsets reversed", "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [8, 0]}}", 8, "outside");
    expect_st_error("offsets negative", "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [-8, 0]}}", 8, "outside");
    expect_st_error("past end", "{\"a\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]}}", 8, "outside");
    expect_st_error("size mismatch", "{\"a\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [0, 8]}}", 8, "need");
    expect_st_error("overlap",
                    "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}, "
                    "\"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]}}", 16, "overlap");
    expect_st_error("misaligned", "{\"a\": {\"dtype\": \"BF16\", \"shape\": [2], \"data_offsets\": [1, 5]}}", 8,
                    "misaligned");
    expect_st_error("duplicate key",
                    "{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}, "
                    "\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}", 8, "JSON");
}

static void expect_config_error(const char *what, const char *json, const char *must_mention) {
    char path[256];
    snprintf(path, sizeof path, "%s/config%d.json", tmp, n_cases++);
    write_bytes(path, json, strlen(json));
    model_config cfg;
    qvl_error err = {0};
    int rc = config_load_hf(&cfg, path, &err);
    CHECK_MSG(rc != 0, "%s: accepted", what);
    if (rc == 0) return;
    CHECK_MSG(strstr(err.msg, path) != NULL, "%s: message lacks the file name: %s", what, err.msg);
    if (must_mention) CHECK_MSG(strstr(err.msg, must_mention) != NULL, "%s: message lacks '%s': %s", what, must_mention, err.msg);
}

#define TEXT_OK "\"vocab_size\": 1000, \"hidden_size\": 64, \"num_hidden_layers\": 2, \"num_attention_heads\": 4, " \
                "\"num_key_value_heads\": 2, \"head_dim\": 16, \"intermediate_size\": 128, "
#define ROPE_OK "\"rope_scaling\": {\"mrope_section\": [2, 3, 3], \"mrope_interleaved\": true}"

static void config_cases(void) {
    expect_config_error("not json", "{\"text_config\": ", NULL);
    expect_config_error("no text_config", "{\"model_type\": \"qwen3_vl\"}", "text_config");
    expect_config_error("wrong model", "{\"model_type\": \"llama\", \"text_config\": {" TEXT_OK ROPE_OK "}}", "llama");
    expect_config_error("string size", "{\"text_config\": {\"vocab_size\": \"big\", \"hidden_size\": 64}}", "vocab_size");
    expect_config_error("negative size",
                        "{\"text_config\": {" TEXT_OK "\"num_hidden_layers\": -1, " ROPE_OK "}}", NULL);
    expect_config_error("missing layers", "{\"text_config\": {\"vocab_size\": 10, \"hidden_size\": 64, " ROPE_OK "}}",
                        "num_hidden_layers");
    expect_config_error("mrope sum",
                        "{\"text_config\": {" TEXT_OK "\"rope_scaling\": {\"mrope_section\": [2, 2, 2]}}}", "mrope_section");
    expect_config_error("mrope missing", "{\"text_config\": {" TEXT_OK "\"rope_theta\": 10000}}", "mrope");
    expect_config_error("heads not multiple",
                        "{\"text_config\": {\"vocab_size\": 1000, \"hidden_size\": 64, \"num_hidden_layers\": 2, "
                        "\"num_attention_heads\": 3, \"num_key_value_heads\": 2, \"head_dim\": 16, "
                        "\"intermediate_size\": 128, " ROPE_OK "}}", "multiple");
    expect_config_error("huge vocab",
                        "{\"text_config\": {\"vocab_size\": 1000000000, \"hidden_size\": 64, \"num_hidden_layers\": 2, "
                        "\"num_attention_heads\": 4, \"num_key_value_heads\": 2, \"head_dim\": 16, "
                        "\"intermediate_size\": 128, " ROPE_OK "}}", NULL);
    expect_config_error("deepstack out of range",
                        "{\"text_config\": {" TEXT_OK ROPE_OK "}, \"vision_config\": {\"depth\": 2, \"hidden_size\": 32, "
                        "\"intermediate_size\": 64, \"num_heads\": 2, \"num_position_embeddings\": 16, "
                        "\"out_hidden_size\": 64, \"deepstack_visual_indexes\": [0, 5]}}", "deepstack");
    expect_config_error("position table not square",
                        "{\"text_config\": {" TEXT_OK ROPE_OK "}, \"vision_config\": {\"depth\": 2, \"hidden_size\": 32, "
                        "\"intermediate_size\": 64, \"num_heads\": 2, \"num_position_embeddings\": 15, "
                        "\"out_hidden_size\": 64}}", "vision_config");
}

/* A valid tiny model directory with one thing broken at a time. */
static void model_dir_cases(void) {
    char dir[300], tok[1024], path[400], cmd[1200];
    snprintf(dir, sizeof dir, "%s/model", tmp);
    snprintf(tok, sizeof tok, "%s/tokenizer", testdata_dir());
    qvl_error err = {0};
    CHECK_MSG(test_model_write(TEST_MODEL_TINY, dir, tok, &err) == 0, "%s", err.msg);
    model_load_opts o = {.quant = "bf16", .threads = 1};
    qvl_model *m = model_load(dir, &o, &err);
    CHECK_MSG(m != NULL, "valid model refused: %s", err.msg);
    model_free(m);

    /* A checkpoint without one tensor, and one with a wrong shape. */
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    write_st(path,
             "{\"model.language_model.embed_tokens.weight\": {\"dtype\": \"BF16\", \"shape\": [151936, 128], "
             "\"data_offsets\": [0, 38895616]}}",
             38895616);
    CHECK(model_load(dir, &o, &err) == NULL && strstr(err.msg, "norm.weight") && strstr(err.msg, "missing"));
    write_st(path,
             "{\"model.language_model.embed_tokens.weight\": {\"dtype\": \"BF16\", \"shape\": [151936, 64], "
             "\"data_offsets\": [0, 19447808]}}",
             19447808);
    CHECK(model_load(dir, &o, &err) == NULL);
    CHECK_MSG(strstr(err.msg, "embed_tokens") && strstr(err.msg, "shape"), "%s", err.msg);

    /* Shards: an index pointing outside the directory, or malformed. */
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    const char *evil = "{\"weight_map\": {\"x\": \"../../etc/passwd\"}}";
    write_bytes(path, evil, strlen(evil));
    CHECK(model_load(dir, &o, &err) == NULL && strstr(err.msg, "refusing"));
    write_bytes(path, "{\"weight_map\": 3}", 17);
    CHECK(model_load(dir, &o, &err) == NULL && strstr(err.msg, "weight_map"));
    unlink(path);

    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    unlink(path);
    CHECK(model_load(dir, &o, &err) == NULL);

    CHECK(model_load("/nonexistent/model", &o, &err) == NULL && strstr(err.msg, "no such"));
    o.quant = "q3_weird";
    snprintf(path, sizeof path, "%s/model2", tmp);
    CHECK(test_model_write(TEST_MODEL_TINY, path, tok, &err) == 0);
    CHECK(model_load(path, &o, &err) == NULL && strstr(err.msg, "--quant"));

    /* An mmproj file handed over as the text model. */
    snprintf(path, sizeof path, "%s/gguf/tiny-mmproj-F16.gguf", testdata_dir());
    CHECK(model_load(path, NULL, &err) == NULL && strstr(err.msg, "--mmproj"));
    n_cases += 9;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    CHECK(system(cmd) == 0);
}

int main(void) {
    CHECK(mkdtemp(tmp) != NULL);
    safetensors_cases();
    config_cases();
    model_dir_cases();
    fprintf(stderr, "%d hostile files/directories checked\n", n_cases);
    CHECK(n_cases >= 30);
    return check_summary();
}
