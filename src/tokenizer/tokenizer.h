/* tokenizer.h - the Qwen2/Qwen3 byte-level BPE tokenizer (spec section 3):
 * text -> token ids and back.
 *
 * Encode pipeline: added tokens ("<|im_start|>", "<think>", ...) are matched
 * literally first (longest match at the leftmost position); each ordinary
 * segment between them is NFC-normalised, split into words by the Qwen2
 * pre-tokenizer (pretokenize.h), every word's UTF-8 bytes are merged by BPE
 * rank (lowest rank first, leftmost on ties) and the pieces looked up. Nothing
 * is prepended or appended (no BOS/EOS).
 *
 * Internally everything works on raw bytes: the GPT-2 byte-to-unicode
 * alphabet of tokenizer.json / GGUF vocabularies is undone once at load time,
 * so "piece" below always means a token's decoded bytes ("\n", not "Ċ").
 *
 * Files: tokenizer.c (loading, decoding, lookups), tokenizer_encode.c
 * (encoding), tokenizer_impl.h (their shared private layout),
 * pretokenize.c (UTF-8, NFC, the split).
 *
 * Memory and threads: a tokenizer is immutable after loading and may be used
 * from any number of threads at once. Each encode call allocates its own
 * scratch (BPE buffers and a word cache that lives for that call only), so
 * there is no shared mutable state and no lock. A tokenizer_stream belongs to
 * one thread at a time.
 *
 * Limits: texts over 1 GiB are refused; vocabularies with ids >= 2^24 are
 * refused; decoded output is always valid UTF-8 (invalid byte sequences become
 * U+FFFD, one per maximal invalid subpart, like Python's errors="replace").
 *
 * Usage:
 *     qvl_error err;
 *     tokenizer *tk = tokenizer_load_json("tokenizer.json", &err);
 *     int32_t *ids; size_t n;
 *     if (tokenizer_encode(tk, text, strlen(text), 0, &ids, &n, &err) == 0) {
 *         char *back = tokenizer_decode(tk, ids, n, 0, NULL, &err);
 *         ...; free(back); free(ids);
 *     }
 *     tokenizer_free(tk);
 */
#ifndef QVL_TOKENIZER_H
#define QVL_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

typedef struct tokenizer tokenizer;

/* GGUF tokenizer.ggml.token_type values accepted by tokenizer_from_arrays. */
enum {
    TOKENIZER_TYPE_NORMAL       = 1,  /* BPE vocabulary entry */
    TOKENIZER_TYPE_UNKNOWN      = 2,  /* never produced by encode */
    TOKENIZER_TYPE_CONTROL      = 3,  /* added token, special (skippable) */
    TOKENIZER_TYPE_USER_DEFINED = 4,  /* added token, not special */
    TOKENIZER_TYPE_UNUSED       = 5,  /* never produced by encode */
    TOKENIZER_TYPE_BYTE         = 6,  /* never produced by encode */
};

/* Flags for tokenizer_encode. */
enum {
    /* Treat added-token text in the input ("<|im_start|>") as plain text,
     * e.g. for untrusted user content spliced into a prompt. */
    TOKENIZER_ENCODE_NO_SPECIAL = 1,
};

/* Flags for tokenizer_decode and tokenizer_stream_new. */
enum {
    /* Drop added tokens marked special (control), e.g. "<|im_end|>". */
    TOKENIZER_DECODE_SKIP_SPECIAL = 1,
};

/* Loads a Hugging Face tokenizer.json: model.vocab (object piece -> id),
 * model.merges (["a","b"] arrays or "a b" strings; rank = index) and
 * added_tokens ({id, content, special}). Returns NULL with err set when the
 * file cannot be read, is not JSON, or is inconsistent (missing vocab, merges
 * naming unknown pieces, negative/huge/duplicate ids, wrong JSON types, a
 * byte without a single-byte token). */
tokenizer *tokenizer_load_json(const char *path, qvl_error *err);

/* Same as tokenizer_load_json from an in-memory JSON text of len bytes. */
tokenizer *tokenizer_load_json_text(const char *json, size_t len, qvl_error *err);

/* Builds a tokenizer from GGUF-style arrays: tokens[i] is the piece of id i
 * (byte-to-unicode alphabet for NORMAL tokens, literal text for CONTROL and
 * USER_DEFINED ones), types[i] one of TOKENIZER_TYPE_*, merges[k] an "a b"
 * string of rank k. Nothing is retained: the arrays may be freed afterwards.
 * Returns NULL with err set on an unknown type, an empty added token, a merge
 * that is not "a b" or names unknown pieces, or a missing byte token. */
tokenizer *tokenizer_from_arrays(const char *const *tokens, const int32_t *types,
                                 size_t n_tokens, const char *const *merges,
                                 size_t n_merges, qvl_error *err);

/* Frees everything; NULL is fine. */
void tokenizer_free(tokenizer *tk);

/* Encodes text[0..len) (may contain NUL bytes and invalid UTF-8: each invalid
 * byte becomes its own byte-level token). flags: TOKENIZER_ENCODE_*. On
 * success *ids_out is a malloc'd array of *n_out ids (NULL when n is 0) that
 * the caller frees. Returns -1 with err set (output untouched) when memory
 * runs out or len exceeds 1 GiB (QVL_E_TOO_LARGE). */
int tokenizer_encode(const tokenizer *tk, const char *text, size_t len, int flags,
                     int32_t **ids_out, size_t *n_out, qvl_error *err);

/* Decodes ids into a malloc'd NUL-terminated UTF-8 string (length in
 * *len_out if non-NULL; the text may itself contain NUL). flags:
 * TOKENIZER_DECODE_*. Returns NULL with err set on an id that is not in the
 * vocabulary, or when memory runs out. */
char *tokenizer_decode(const tokenizer *tk, const int32_t *ids, size_t n, int flags,
                       size_t *len_out, qvl_error *err);

/* Incremental decoder for generation: feed one id at a time, get back only
 * complete UTF-8 characters (an incomplete trailing sequence is held back
 * until the next id completes it). */
typedef struct tokenizer_stream tokenizer_stream;

/* Returns NULL with err set when memory runs out. The tokenizer must outlive
 * the stream. */
tokenizer_stream *tokenizer_stream_new(const tokenizer *tk, int flags, qvl_error *err);

/* Feeds one id. Returns the newly complete text (*len_out bytes, possibly 0,
 * NUL-terminated), owned by the stream and valid until the next call; or
 * NULL with err set on an unknown id or out of memory (the stream state is
 * unchanged, so the caller may go on). */
const char *tokenizer_stream_push(tokenizer_stream *s, int32_t id, size_t *len_out,
                                  qvl_error *err);

/* Ends the stream: returns what is still held back, an incomplete sequence
 * rendered as U+FFFD (empty string if nothing), valid until the next call.
 * The stream is then empty and may be reused. Cannot fail. */
const char *tokenizer_stream_flush(tokenizer_stream *s, size_t *len_out);

void tokenizer_stream_free(tokenizer_stream *s);

/* Id of the token whose text is exactly the NUL-terminated `piece`: added
 * tokens by their literal content ("<|im_end|>" -> 151645), ordinary ones by
 * their decoded bytes (" the"). Returns -1 when there is none. */
int32_t tokenizer_token_id(const tokenizer *tk, const char *piece);

/* The decoded bytes of id (not NUL-terminated; *len_out bytes), owned by the
 * tokenizer. Returns NULL for an id outside the vocabulary. */
const char *tokenizer_id_to_piece(const tokenizer *tk, int32_t id, size_t *len_out);

/* One more than the largest id (151669 from the Qwen tokenizer.json, 151936
 * from a GGUF whose vocabulary includes the padding rows). */
int32_t tokenizer_vocab_size(const tokenizer *tk);

/* True for added tokens marked special (tokenizer.json "special": true,
 * GGUF CONTROL); false for everything else, including invalid ids. */
bool tokenizer_is_special(const tokenizer *tk, int32_t id);

/* Encodes text[0..len) reps times and returns the throughput in MB/s
 * (10^6 bytes per second, wall clock), or -1 if encoding fails. For
 * benchmarks. */
double tokenizer_bench_mb_s(const tokenizer *tk, const char *text, size_t len, int reps);

#endif
