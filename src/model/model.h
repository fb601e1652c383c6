/* model.h - a loaded Qwen3-VL model: configuration, tokenizer, weights.
 *
 * The loader (load/model_load.h) fills one of these from a Hugging Face
 * directory or GGUF files and checks every tensor before anything runs; the
 * generation code (generate/) reads it.
 *
 * A loaded model is read-only: any number of threads may run requests on it.
 */
#ifndef QVL_MODEL_H
#define QVL_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "model/config.h"
#include "model/text_model.h"
#include "model/vision_model.h"
#include "tokenizer/tokenizer.h"

typedef struct qvl_model {
    char name[128];          /* for APIs: directory or file base name */
    char source[1024];       /* path it was loaded from */
    model_config cfg;
    text_model text;
    vision_model *vision;    /* NULL when absent: text-only load, or a GGUF without --mmproj */
    tokenizer *tok;
    sampling_params gen_defaults;   /* from generation_config.json */
    int32_t stop_ids[8];     /* end-of-turn ids: <|im_end|>, <|endoftext|>, ... */
    int n_stop_ids;
    int n_vocab_real;        /* ids >= this are padding rows: never sampled */
    const char *weight_type; /* "bf16", "q8_0", "Q4_K_M gguf", ... for messages */
    char cache_note[512];    /* what the quantize-on-load cache did ("" = not used) */
    struct model_storage *storage;   /* private to the loader (load/) */
} qvl_model;

/* True when id ends a turn (stop generating). */
static inline bool model_is_stop_id(const qvl_model *m, int32_t id) {
    for (int i = 0; i < m->n_stop_ids; i++)
        if (m->stop_ids[i] == id) return true;
    return false;
}

#endif
