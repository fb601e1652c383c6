/* text_reference.c - the text decoder written as plainly as possible: one
 * token at a time, scalar matmul_ref with double sums, no threads. It shares
 * only the weights and the small ops with text_model.c, so a bug in the
 * batched/threaded path shows up as a difference between the two. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/matmul.h"
#include "engine/ops.h"
#include "model/text_model.h"

static void rope_ref(float *v, const text_model *m, const int32_t *pos3) {
    int half = m->cfg.head_dim / 2;
    for (int i = 0; i < half; i++) {
        double ang = (double)((float)pos3[m->rope_axis[i]] * m->inv_freq[i]);
        float c = (float)cos(ang), s = (float)sin(ang);
        float x1 = v[i], x2 = v[i + half];
        v[i] = x1 * c - x2 * s;
        v[i + half] = x2 * c + x1 * s;
    }
}

int text_forward_ref(const text_model *m, kv_cache *kv, const text_batch *b, float *logits, qvl_error *err) {
    const text_config *c = &m->cfg;
    int d = c->hidden_size, hd = c->head_dim, qdim = c->n_heads * hd, kvd = c->n_kv_heads * hd;
    int ffn = c->intermediate_size, img_w = d * (1 + m->n_deepstack), group = c->n_heads / c->n_kv_heads;
    if (b->n < 1 || kv->n + b->n > kv->n_ctx) return qvl_fail(err, "reference: batch does not fit the cache");
    float *x = malloc((size_t)d * sizeof *x), *xn = malloc((size_t)d * sizeof *xn);
    float *q = malloc((size_t)qdim * sizeof *q), *att = malloc((size_t)qdim * sizeof *att);
    float *gate = malloc((size_t)ffn * sizeof *gate), *up = malloc((size_t)ffn * sizeof *up);
    float *scores = malloc((size_t)kv->n_ctx * sizeof *scores);
    int img = 0, n0 = kv->n, rc = -1;
    if (!x || !xn || !q || !att || !gate || !up || !scores) {
        qvl_fail_code(err, QVL_E_NOMEM, "reference: out of memory");
        goto done;
    }
    for (int t = 0; t < b->n; t++) {
        int p = kv->n;   /* this token's cache position */
        const float *img_rowp = NULL;
        if (b->image_embd && b->ids[t] == b->image_token_id) img_rowp = b->image_embd + (size_t)img++ * img_w;
        if (img_rowp) memcpy(x, img_rowp, (size_t)d * sizeof *x);
        else tensor_get_row(&m->tok_embd, b->ids[t], x);
        for (int l = 0; l < c->n_layers; l++) {
            const text_layer *L = &m->layers[l];
            float *kc = kv->k + (size_t)l * kv->n_ctx * kvd, *vc = kv->v + (size_t)l * kv->n_ctx * kvd;
            rmsnorm(xn, x, L->attn_norm, d, c->rms_norm_eps);
            if (matmul_ref(&L->wq, xn, 1, q, err) || matmul_ref(&L->wk, xn, 1, kc + (size_t)p * kvd, err) ||
                matmul_ref(&L->wv, xn, 1, vc + (size_t)p * kvd, err))
                goto done;
            for (int h = 0; h < c->n_heads; h++) {
                rmsnorm(q + h * hd, q + h * hd, L->q_norm, hd, c->rms_norm_eps);
                rope_ref(q + h * hd, m, b->pos + 3 * t);
            }
            for (int h = 0; h < c->n_kv_heads; h++) {
                float *kh = kc + (size_t)p * kvd + h * hd;
                rmsnorm(kh, kh, L->k_norm, hd, c->rms_norm_eps);
                rope_ref(kh, m, b->pos + 3 * t);
            }
            for (int h = 0; h < c->n_heads; h++) {
                int g = h / group;
                for (int s = 0; s <= p; s++) {
                    double dot = 0;
                    for (int i = 0; i < hd; i++) dot += (double)q[h * hd + i] * kc[(size_t)s * kvd + g * hd + i];
                    scores[s] = (float)(dot / sqrt((double)hd));
                }
                softmax_masked(scores, p + 1, kv->n + b->n - t + (p - kv->n));
                for (int i = 0; i < hd; i++) {
                    double acc = 0;
                    for (int s = 0; s <= p; s++) acc += (double)scores[s] * vc[(size_t)s * kvd + g * hd + i];
                    att[h * hd + i] = (float)acc;
                }
            }
            if (matmul_ref(&L->wo, att, 1, xn, err)) goto done;
            vec_add(x, xn, d);
            rmsnorm(xn, x, L->ffn_norm, d, c->rms_norm_eps);
            if (matmul_ref(&L->w_gate, xn, 1, gate, err) || matmul_ref(&L->w_up, xn, 1, up, err)) goto done;
            for (int i = 0; i < ffn; i++) gate[i] = (float)(gate[i] / (1.0 + exp(-(double)gate[i]))) * up[i];
            if (matmul_ref(&L->w_down, gate, 1, xn, err)) goto done;
            vec_add(x, xn, d);
            if (img_rowp && l < m->n_deepstack) vec_add(x, img_rowp + (size_t)(l + 1) * d, d);
        }
        kv->n++;
        if (logits && t == b->n - 1) {
            rmsnorm(xn, x, m->output_norm, d, c->rms_norm_eps);
            if (matmul_ref(&m->output, xn, 1, logits, err)) goto done;
        }
    }
    rc = 0;
done:
    if (rc != 0) kv->n = n0;   /* a failed batch appends nothing */
    free(x), free(xn), free(q), free(att), free(gate), free(up), free(scores);
    return rc;
}
