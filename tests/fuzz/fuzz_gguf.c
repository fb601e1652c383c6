/* fuzz_gguf.c - libFuzzer target: gguf_open on arbitrary bytes; every tensor
 * it accepts is read end to end (ASan catches any out-of-bounds view). */
#include "format/gguf.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[64];
    int fd = fuzz_memfile(data, size, path, sizeof path);
    if (fd < 0) return 0;
    gguf_file g;
    qvl_error err;
    if (gguf_open(&g, path, &err) == 0) {
        volatile uint8_t sink = 0;
        for (size_t i = 0; i < g.n_tensors; i++)
            for (size_t b = 0; b < g.tensors[i].nbytes; b += 4096) sink ^= ((const uint8_t *)g.tensors[i].data)[b];
        for (size_t i = 0; i < g.n_kv; i++)
            if (g.kvs[i].strs)
                for (uint64_t k = 0; k < g.kvs[i].count; k++) sink ^= g.kvs[i].strs[k].len ? (uint8_t)g.kvs[i].strs[k].ptr[0] : 0;
        (void)sink;
        gguf_close(&g);
    }
    close(fd);
    return 0;
}
