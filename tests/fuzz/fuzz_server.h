/* fuzz_server.h - for the API fuzz targets: a server object with no
 * listener, no slots and no model weights, holding what the request parse
 * steps (api_*_parse in server_impl.h) read: the limits, the model's name
 * and sampling defaults, and a conversation store with one conversation
 * ("fuzz-conv") that requests may continue. */
#ifndef QVL_FUZZ_SERVER_H
#define QVL_FUZZ_SERVER_H

#include <stdio.h>
#include <stdlib.h>

#include "server/server_impl.h"

static inline qvl_server *fuzz_server(void) {
    static qvl_model m;
    static qvl_server s;
    if (s.m) return &s;
    snprintf(m.name, sizeof m.name, "Qwen3-VL-2B-Instruct");
    m.gen_defaults = (sampling_params){.temperature = 0.7f, .top_p = 0.8f, .top_k = 20, .repetition_penalty = 1.0f};
    s.m = &m;
    /* a 1 MB image limit keeps each input fast; the checks are the same at any limit */
    s.cfg = (server_config){.ctx = 4096, .max_image_mb = 1, .max_pixels = 1003520};
    s.img_lim.max_bytes = (size_t)s.cfg.max_image_mb << 20;
    snprintf(s.instance, sizeof s.instance, "fuzz");
    s.convs = conv_store_new(16, 1800, (size_t)64 << 20);
    json_t *turn = json_pack("[{s:s, s:s}, {s:s, s:s}]", "role", "user", "content", "hello", "role", "assistant",
                             "content", "hi");
    if (!s.convs || !turn) abort();   /* setup failure, not a finding */
    conv_put(s.convs, "fuzz-conv", turn);
    return &s;
}

#endif
