/* fuzz_safetensors.c - libFuzzer target: safetensors_open on arbitrary bytes;
 * accepted tensors are touched end to end. */
#include "format/safetensors.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[64];
    int fd = fuzz_memfile(data, size, path, sizeof path);
    if (fd < 0) return 0;
    safetensors_file st;
    qvl_error err;
    if (safetensors_open(&st, path, &err) == 0) {
        volatile uint8_t sink = 0;
        for (int i = 0; i < st.n_tensors; i++)
            if (st.tensors[i].nbytes) sink ^= ((const uint8_t *)st.tensors[i].data)[st.tensors[i].nbytes - 1];
        (void)sink;
        safetensors_close(&st);
    }
    close(fd);
    return 0;
}
