/* test_weights.h - the deterministic synthetic weights of the qvl test model.
 *
 * Every element of every tensor follows from the tensor's Hugging Face name,
 * its shape and its index (see ../shared/docs/test-model.md). All values are
 * exact in bf16 and f16. Used by `qvl make-test-model` and by tests that need
 * to know what a weight should be without reading a file.
 */
#ifndef QVL_TEST_WEIGHTS_H
#define QVL_TEST_WEIGHTS_H

#include <stdint.h>

/* Writes elements [start, start+count) (row-major over `shape`, PyTorch order,
 * n_dims >= 1) of tensor `name` into out. Cannot fail. */
void test_weights_fill(const char *name, const int64_t *shape, int n_dims,
                       int64_t start, int64_t count, float *out);

#endif
