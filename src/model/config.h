/* config.h - the hyper-parameters of a Qwen3-VL model, whatever file they
 * came from (Hugging Face config.json or GGUF metadata), and the list of
 * tensors such a model has.
 *
 * Everything is validated on load (positive sizes, head_dim*heads consistent
 * with the tensors, mrope sections summing to head_dim/2) so the compute code
 * can trust these numbers.
 */
#ifndef QVL_CONFIG_H
#define QVL_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"

#define QVL_MAX_DEEPSTACK 8

typedef struct text_config {
    int vocab_size;        /* rows of the embedding (151936) */
    int hidden_size;       /* d */
    int n_layers;
    int n_heads;
    int n_kv_heads;
    int head_dim;          /* explicit in config.json: never hidden/heads */
    int intermediate_size; /* SwiGLU inner size */
    float rope_theta;
    float rms_norm_eps;
    int mrope_section[3];  /* t, h, w frequency counts; sum = head_dim/2 */
    bool mrope_interleaved;
    bool tie_word_embeddings;
    int max_position_embeddings;
} text_config;

typedef struct vision_config {
    int depth;
    int hidden_size;
    int intermediate_size;
    int n_heads;
    int patch_size;
    int spatial_merge_size;
    int temporal_patch_size;
    int in_channels;
    int num_position_embeddings;   /* a square grid: side = sqrt */
    int out_hidden_size;           /* = text hidden_size */
    int n_deepstack;
    int deepstack_indexes[QVL_MAX_DEEPSTACK];
    float layer_norm_eps;
} vision_config;

typedef struct model_config {
    text_config text;
    vision_config vision;
    bool has_vision;
    int image_token_id, video_token_id, vision_start_token_id, vision_end_token_id;
    /* "tiny"/"2b" when the directory was written by `qvl make-test-model`
     * (config.json key "qvl_test_model"): synthetic weights, nonsense answers. */
    char test_model[16];
} model_config;

/* The two configurations of the synthetic test model (test-model.md). */
typedef enum { TEST_MODEL_TINY, TEST_MODEL_2B } test_model_size;
void config_test_model(model_config *cfg, test_model_size size);

/* Parses a Hugging Face config.json. Returns 0 or -1 with err naming the
 * file and field. */
int config_load_hf(model_config *cfg, const char *path, qvl_error *err);

/* Checks internal consistency; `source` names the file for messages. */
int config_validate(const model_config *cfg, const char *source, qvl_error *err);

/* Writes cfg as a Hugging Face config.json. */
int config_write_hf(const model_config *cfg, const char *path, qvl_error *err);

/* One tensor of the Hugging Face checkpoint: name and PyTorch shape. */
typedef struct hf_tensor_desc {
    char name[96];
    int n_dims;
    int64_t shape[5];
} hf_tensor_desc;

/* Lists every tensor of the checkpoint for cfg (text, and vision if
 * cfg->has_vision), sorted by name. Returns the count; *out is malloc'd. */
int config_hf_tensors(const model_config *cfg, hf_tensor_desc **out);

/* How to pick tokens: the model's defaults come from generation_config.json,
 * a request may override them (generate/sampler.h applies them). */
typedef struct sampling_params {
    float temperature;         /* 0 = greedy (argmax, lowest id on ties) */
    int top_k;                 /* 0 = off */
    float top_p;               /* 1 = off */
    float min_p;               /* 0 = off: drop tokens below min_p * p(best) */
    float repetition_penalty;  /* 1 = off */
    float presence_penalty;    /* 0 = off */
    float frequency_penalty;   /* 0 = off */
    uint64_t seed;
} sampling_params;

/* temperature 0.7, top_k 20, top_p 0.8 ... (Qwen3-VL Instruct defaults). */
sampling_params sampling_defaults(void);

#endif
