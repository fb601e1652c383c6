/* fuzz_api_openai.c - libFuzzer target: the input as the body of POST
 * /v1/chat/completions through the server's own parse step (JSON, messages
 * and content parts, image_url data URLs with their base64 and type checks,
 * the sampling fields, response_format's JSON Schema, tools, tool_choice). */
#include "fuzz_server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    qvl_server *s = fuzz_server();
    qvl_error err;
    json_t *body = srv_json_from_bytes("application/json", (const char *)data, size, &err);
    api_request a;
    if (body && api_openai_parse(s, body, &a, &err) == 0) api_request_free(&a);
    return 0;
}
