/* vision_model.h - the Qwen3-VL vision tower: weights and forward pass, from
 * an RGB image to the rows that replace the <|image_pad|> tokens.
 *
 * The forward pass (vision_encode, spec section 6) reads like the math:
 * patch embedding (one matmul over the 1536-wide patch rows, both temporal
 * kernel slices) + learned position embedding (48x48 table bilinearly
 * interpolated with align-corners to the patch grid) -> depth x [LayerNorm
 * -> fused qkv -> 2-D rotary (rows, then columns; NeoX pairs) -> full
 * bidirectional attention over the image -> proj -> residual -> LayerNorm
 * -> GELU-tanh MLP -> residual; after the DeepStack blocks their merger]
 * -> final merger (LayerNorm per patch, 2x2 concat, fc1, erf GELU, fc2).
 *
 * Output: one row per merged token, row-major over the merged grid; a row
 * is the main merger output (out_hidden_size floats) followed by one
 * DeepStack merger output per DeepStack level (text_batch.image_embd).
 *
 * Weights are read-only after loading (vision_load.c fills them; the model
 * owns them), so any number of threads may encode images concurrently,
 * each with its own thread pool.
 */
#ifndef QVL_VISION_MODEL_H
#define QVL_VISION_MODEL_H

#include <stdatomic.h>

#include "base/error.h"
#include "base/progress.h"
#include "engine/tensor.h"
#include "engine/threadpool.h"
#include "image/image.h"
#include "image/preprocess.h"
#include "model/config.h"

/* D = hidden_size, F = intermediate_size, O = out_hidden_size. */
typedef struct vision_block {
    const float *ln1_w, *ln1_b;   /* (D) */
    qvl_tensor qkv;               /* (3D, D): rows q, then k, then v */
    const float *qkv_b;           /* (3D) */
    qvl_tensor proj;              /* (D, D) */
    const float *proj_b;          /* (D) */
    const float *ln2_w, *ln2_b;   /* (D) */
    qvl_tensor fc1;               /* (F, D) */
    const float *fc1_b;           /* (F) */
    qvl_tensor fc2;               /* (D, F) */
    const float *fc2_b;           /* (D) */
} vision_block;

/* The final merger normalises each patch (D) before the 2x2 concat; the
 * DeepStack mergers normalise the concatenated 4D row after it. */
typedef struct vision_merger {
    const float *norm_w, *norm_b; /* (D) main merger, (4D) DeepStack */
    qvl_tensor fc1;               /* (4D, 4D) */
    const float *fc1_b;           /* (4D) */
    qvl_tensor fc2;               /* (O, 4D) */
    const float *fc2_b;           /* (O) */
} vision_merger;

typedef struct vision_model {
    vision_config cfg;
    qvl_tensor patch_embd;        /* (D, 1536); columns (channel, time, py, px) = pixel_values order */
    const float *patch_b;         /* (D) */
    const float *pos_embd;        /* (S*S, D): entry (i, j) of the S x S grid is row i*S + j */
    int pos_side;                 /* S = sqrt(num_position_embeddings) */
    vision_block *blocks;         /* (depth) */
    vision_merger merger;
    vision_merger deepstack[QVL_MAX_DEEPSTACK];   /* (n_deepstack), for blocks cfg.deepstack_indexes */
    float *rope_inv_freq;         /* (head_dim/4): 1 / 10000^(2j / (head_dim/2)) */
    image_preprocess_opts preprocess;   /* defaults: min/max pixels, mean/std of the model's processor */
} vision_model;

/* Floats per output row: out_hidden_size * (1 + n_deepstack). Cannot fail. */
int vision_embd_width(const vision_model *vm);

/* Encodes one preprocessed image into out (p->n_tokens rows of
 * vision_embd_width floats). cancel (NULL: not cancellable) is watched
 * between blocks, between a block's MLP chunks and between the attention's
 * query blocks, so setting it from another thread stops even a 16 M-pixel
 * encode within about one attention work item. Returns 0, or -1 with err set:
 * QVL_E_BAD_INPUT when the patch grid does not fit the model (sides not
 * multiples of the merge size), QVL_E_NOMEM when the activations cannot be
 * allocated, QVL_E_CANCELLED when *cancel was set (out then holds garbage).
 * progress (NULL: none) hears ("image", k, depth) after block k. */
int vision_encode(const vision_model *vm, const image_patches *p, threadpool *tp, atomic_bool *cancel,
                  const qvl_progress *progress, float *out, qvl_error *err);

/* One image encoded for the text decoder. */
typedef struct vision_image {
    float *embd;                  /* (n_tokens, vision_embd_width), malloc'd: free with vision_image_free */
    int n_tokens;
    int rows, cols;               /* merged grid, rows * cols = n_tokens */
    int grid_h, grid_w;           /* patch grid (2 * rows, 2 * cols) */
} vision_image;

/* Preprocesses img with the model's defaults (opts may override min/max
 * pixels when non-zero, and the resize mode; mean/std always come from the
 * model; opts may be NULL) and encodes it. Returns 0, or -1 with err set
 * (QVL_E_TOO_LARGE for pixel limits above IMAGE_HF_MAX_PIXELS, the bound on
 * memory; preprocessing errors, see image_preprocess; vision_encode's,
 * QVL_E_CANCELLED among them) and *out zeroed. progress as vision_encode. */
int vision_encode_image(const vision_model *vm, const image_rgb *img, const image_preprocess_opts *opts,
                        threadpool *tp, atomic_bool *cancel, const qvl_progress *progress, vision_image *out,
                        qvl_error *err);
/* The image tokens vision_encode_image would make of a height x width
 * image under opts (the same defaults), without touching a pixel: for
 * checking a request's size before the work. Returns 0, or -1 with err set
 * as vision_encode_image would fail on the limits or the size. */
int vision_image_tokens(const vision_model *vm, int height, int width, const image_preprocess_opts *opts,
                        int *n_tokens, qvl_error *err);
void vision_image_free(vision_image *v);

/* The bytes vision_encode allocates for an image of n_patches patches on a
 * pool of `threads` threads (its activations, linear in the patches: the
 * attention's score blocks are bounded per thread), plus the patch rows it
 * reads and the feature rows it returns.
 * For reserving memory before the work (--max-memory). Cannot fail. */
size_t vision_encode_bytes(const vision_model *vm, int n_patches, int threads);

#endif
