/* fuzz_api_simple.c - libFuzzer target: the input as the JSON body of the
 * simple API, POST /api/v1/chat, through the server's own parse step
 * (question, image / images, conversation_id - "fuzz-conv" is held -,
 * schema, boxes, pages, mode and the sampling fields). The multipart form of
 * the same API is parsed by libmicrohttpd; what qvl does with its fields
 * ends in this same step. */
#include "fuzz_server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    qvl_server *s = fuzz_server();
    qvl_error err;
    json_t *body = srv_json_from_bytes("application/json", (const char *)data, size, &err);
    api_request a;
    if (body && api_simple_parse(s, body, NULL, &a, &err) == 0) api_request_free(&a);
    return 0;
}
