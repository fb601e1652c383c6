/* fuzz_api_ollama.c - libFuzzer target: the input as the body of both of
 * Ollama's answering routes, POST /api/chat and POST /api/generate, through
 * the server's own parse step (model name, messages or prompt with base64
 * images, options, format as "json" or a JSON Schema, tools, the refused
 * fields). */
#include "fuzz_server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    qvl_server *s = fuzz_server();
    static const ollama_route routes[] = {OLLAMA_CHAT, OLLAMA_GENERATE};
    for (int i = 0; i < 2; i++) {
        qvl_error err;
        json_t *body = srv_json_from_bytes("application/json", (const char *)data, size, &err);
        api_request a;
        if (body && api_ollama_parse(s, body, routes[i], &a, &err) == 0) api_request_free(&a);
    }
    return 0;
}
