/* fuzz_chat.c - libFuzzer target: arbitrary JSON as a messages array through
 * the chat template, and the input bytes through the real tokenizer. */
#include <jansson.h>
#include <stdlib.h>

#include "fuzz_util.h"
#include "tokenizer/chat_template.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    qvl_error err;
    tokenizer *tk = fuzz_tokenizer();
    json_t *j = json_loadb((const char *)data, size, 0, NULL);
    if (j) {
        chat_template_opts o = {.add_generation_prompt = true};
        int n;
        free(chat_template_render(j, &o, &n, &err));
        json_decref(j);
    }
    int32_t *ids;
    size_t n;
    if (tokenizer_encode(tk, (const char *)data, size, 0, &ids, &n, &err) == 0) {
        free(tokenizer_decode(tk, ids, n, 0, NULL, &err));
        free(ids);
    }
    return 0;
}
