/* vision_load.h - loads the vision tower of a model, from a Hugging Face
 * directory or from a llama.cpp mmproj GGUF, through the checked getters of
 * weight_source.h. Private to the loader (model_load.c calls it).
 */
#ifndef QVL_VISION_LOAD_H
#define QVL_VISION_LOAD_H

#include "base/error.h"
#include "engine/threadpool.h"
#include "load/weight_source.h"
#include "model/model.h"

/* Vision tower of an HF directory (tensors model.visual.* of src, hyper-
 * parameters from m->cfg.vision, image defaults from dir's
 * preprocessor_config.json; float matrices as src->vision_quant). Sets
 * m->vision. Returns 0 or -1 with err set. */
int vision_load_hf(qvl_model *m, const weight_source *src, const char *dir, qvl_error *err);

/* Vision tower from an mmproj GGUF (clip / qwen3vl_merger) for a GGUF text
 * model: opens it into m->storage->mmproj, reads the clip.vision.*
 * hyper-parameters into m->cfg.vision (checked against the text model) and
 * the weights (float matrices as quant, weight_source.vision_quant). Sets
 * m->vision. Returns 0 or -1 with err naming the file. */
int vision_load_mmproj(qvl_model *m, const char *path, qvl_dtype quant, threadpool *tp, qvl_error *err);

#endif
