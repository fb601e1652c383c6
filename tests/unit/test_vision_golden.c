/* test_vision_golden.c - the vision tower and the multimodal prompt against
 * the independent reference (../shared/testdata/golden/image, llama.cpp):
 *   1. image embeddings (main merger + DeepStack) from the bf16 HF directory
 *      and from the shipped tiny-mmproj-F16.gguf, row by row; the mmproj's
 *      F16 matrices run as BF16 (all its values are BF16 values), and a
 *      copy with one value BF16 cannot hold keeps that matrix F16;
 *   2. the prompt chat_prompt_build makes from messages: ids equal to
 *      prompt_ids.txt, M-RoPE positions equal to chunks.json;
 *   3. last-position logits of that prompt (HF directory, --quant bf16, the
 *      same weights as the reference's F16 GGUF).
 * I2 (320x256) and I3 (512x384) are not square, so a row/column swap in the
 * position embedding, the 2-D rotary or the M-RoPE positions shows. I4 runs
 * the llama.cpp-compatible resize mode (the reference resized it itself). */
#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/mapped_file.h"
#include "check.h"
#include "format/gguf.h"
#include "golden_util.h"
#include "generate/chat.h"
#include "tokenizer/chat_template.h"
#include "load/model_load.h"
#include "load/test_model.h"

static char model_dir[] = "/tmp/qvl-vision-XXXXXX";

typedef struct golden_case {
    const char *name;
    const char *system;        /* NULL = none */
    const char *question;
    image_resize_mode mode;
} golden_case;

static const golden_case cases[] = {
    {"I1", NULL, "What is written in the image?", IMAGE_RESIZE_HF},
    {"I2", NULL, "Describe this image.", IMAGE_RESIZE_HF},
    {"I3", "You are a helpful assistant.", "What shapes do you see?", IMAGE_RESIZE_HF},
    {"I4", NULL, "Describe this image.", IMAGE_RESIZE_LLAMA},
};

static char *read_text(const char *path) {
    qvl_error err = {0};
    size_t len;
    return read_file_text(path, 1 << 24, &len, &err);
}

static int decode_case_image(const char *name, image_rgb *img) {
    char path[1024];
    snprintf(path, sizeof path, "%s/golden/image/%s/image.txt", testdata_dir(), name);
    char *file = read_text(path);
    if (!file) return -1;
    file[strcspn(file, "\r\n")] = 0;
    snprintf(path, sizeof path, "%s/images/%s", testdata_dir(), file);
    free(file);
    qvl_error err = {0};
    size_t len;
    char *bytes = read_file_text(path, 1 << 24, &len, &err);
    int rc = bytes ? image_decode((const uint8_t *)bytes, len, NULL, img, &err) : -1;
    free(bytes);
    return rc;
}

/* 1. embeddings vs image_embd.f32: per row max |d| and cosine. */
static void check_embeddings(const qvl_model *m, const golden_case *gc, threadpool *tp, const char *label) {
    image_rgb img = {0};
    CHECK_MSG(decode_case_image(gc->name, &img) == 0, "%s: cannot decode the image", gc->name);
    image_preprocess_opts po = {.mode = gc->mode};
    vision_image v;
    qvl_error err = {0};
    int rc = vision_encode_image(m->vision, &img, &po, tp, NULL, NULL, &v, &err);
    image_free(&img);
    CHECK_MSG(rc == 0, "%s: %s", gc->name, err.msg);
    if (rc != 0) return;
    int W = vision_embd_width(m->vision);
    char path[1024];
    snprintf(path, sizeof path, "%s/golden/image/%s/F16/image_embd.f32", testdata_dir(), gc->name);
    float *ref = golden_read_f32(path, (size_t)v.n_tokens * W);
    CHECK_MSG(ref != NULL, "%s: %s is not %d x %d floats", gc->name, path, v.n_tokens, W);
    if (ref) {
        double max_abs = 0, min_cos = 1;
        for (int r = 0; r < v.n_tokens; r++) {
            const float *a = v.embd + (size_t)r * W, *b = ref + (size_t)r * W;
            double dot = 0, na = 0, nb = 0;
            for (int k = 0; k < W; k++) {
                double e = fabs((double)a[k] - b[k]);
                if (e > max_abs) max_abs = e;
                dot += (double)a[k] * b[k], na += (double)a[k] * a[k], nb += (double)b[k] * b[k];
            }
            double cs = dot / sqrt(na * nb + 1e-30);
            if (cs < min_cos) min_cos = cs;
        }
        fprintf(stderr, "%s %-6s embeddings %d x %d (grid %dx%d): max|d| %.2e, min cosine %.7f\n", gc->name, label,
                v.n_tokens, W, v.rows, v.cols, max_abs, min_cos);
        CHECK_MSG(max_abs <= 1e-2, "%s %s: embedding max abs diff %.3e", gc->name, label, max_abs);
        CHECK_MSG(min_cos > 0.9999, "%s %s: embedding row cosine %.7f", gc->name, label, min_cos);
    }
    free(ref);
    vision_image_free(&v);
}

static int load_case_image(void *ctx, const json_t *part, int index, image_rgb *out, qvl_error *err) {
    const golden_case *gc = ctx;
    if (decode_case_image(gc->name, out) != 0) return qvl_fail(err, "%s: cannot decode the image", gc->name);
    return 0;
}

/* Image parts of hand-made conversations name their golden case. */
static int load_by_name(void *ctx, const json_t *part, int index, image_rgb *out, qvl_error *err) {
    const char *name = json_string_value(json_object_get(part, "image"));
    if (!name || decode_case_image(name, out) != 0) return qvl_fail(err, "image %d: cannot decode", index);
    return 0;
}

static json_t *case_messages(const golden_case *gc) {
    json_t *msgs = json_array();
    if (gc->system) json_array_append_new(msgs, json_pack("{s:s, s:s}", "role", "system", "content", gc->system));
    json_array_append_new(msgs, json_pack("{s:s, s:[{s:s, s:s}, {s:s, s:s}]}", "role", "user", "content", "type",
                                          "image", "image", gc->name, "type", "text", "text", gc->question));
    return msgs;
}

/* Our messages render to the golden prompt.txt (the image as <__media__>). */
static void check_messages_match_prompt(const golden_case *gc, json_t *msgs) {
    chat_template_opts to = {.add_generation_prompt = true};
    qvl_error err = {0};
    char *text = chat_template_render(msgs, &to, NULL, &err), path[1024];
    snprintf(path, sizeof path, "%s/golden/image/%s/F16/prompt.txt", testdata_dir(), gc->name);
    char *ref = read_text(path);
    const char *mark = "<|vision_start|><|image_pad|><|vision_end|>";
    char *at = text ? strstr(text, mark) : NULL;
    CHECK_MSG(at && ref, "%s: render or read failed", gc->name);
    if (at && ref) {
        char buf[4096];
        snprintf(buf, sizeof buf, "%.*s<__media__>%s", (int)(at - text), text, at + strlen(mark));
        CHECK_MSG(!strcmp(buf, ref), "%s: messages do not render to prompt.txt", gc->name);
    }
    free(text), free(ref);
}

/* Expected positions from chunks.json: text chunks count up from pos_0,
 * the image chunk lists its triples. Returns the count, or -1. */
static int read_chunk_positions(const char *name, int32_t *pos, int max) {
    char path[1024];
    snprintf(path, sizeof path, "%s/golden/image/%s/F16/chunks.json", testdata_dir(), name);
    json_t *root = json_load_file(path, 0, NULL);
    int n = 0;
    for (size_t i = 0; json_is_array(root) && i < json_array_size(root); i++) {
        json_t *ch = json_array_get(root, i);
        json_t *txy = json_object_get(ch, "decoder_pos_txy"), *ids = json_object_get(ch, "ids");
        int p0 = (int)json_integer_value(json_object_get(ch, "pos_0"));
        size_t cnt = json_array_size(txy ? txy : ids);
        for (size_t k = 0; k < cnt && n < max; k++, n++)
            for (int a = 0; a < 3; a++)
                pos[n * 3 + a] = txy ? (int32_t)json_integer_value(json_array_get(json_array_get(txy, k), a))
                                     : p0 + (int32_t)k;
    }
    json_decref(root);
    return n;
}

/* 2. + 3. prompt ids, positions, last logits. */
static void check_prompt_and_logits(const qvl_model *m, const golden_case *gc, threadpool *tp, bool logits,
                                    const char *label) {
    json_t *msgs = case_messages(gc);
    check_messages_match_prompt(gc, msgs);
    chat_opts co = {.add_generation_prompt = true, .load_image = load_case_image, .load_ctx = (void *)gc, .tp = tp};
    chat_prompt cp;
    qvl_error err = {0};
    int rc = chat_prompt_build(m, msgs, &co, &cp, &err);
    json_decref(msgs);
    CHECK_MSG(rc == 0, "%s: %s", gc->name, err.msg);
    if (rc != 0) return;
    char path[1024];
    int n_ref = 0;
    snprintf(path, sizeof path, "%s/golden/image/%s/F16/prompt_ids.txt", testdata_dir(), gc->name);
    int32_t *ref_ids = golden_read_ids(path, &n_ref);
    CHECK_MSG(ref_ids && cp.n == n_ref && !memcmp(cp.ids, ref_ids, (size_t)n_ref * sizeof *ref_ids),
              "%s %s: prompt ids differ (%d vs %d ids)", gc->name, label, cp.n, n_ref);
    int32_t *ref_pos = malloc((size_t)(n_ref + 1) * 3 * sizeof *ref_pos);
    int n_pos = read_chunk_positions(gc->name, ref_pos, n_ref + 1);
    CHECK_MSG(n_pos == cp.n && !memcmp(cp.pos, ref_pos, (size_t)cp.n * 3 * sizeof *ref_pos),
              "%s %s: M-RoPE positions differ from chunks.json", gc->name, label);
    snprintf(path, sizeof path, "%s/golden/image/%s/F16/meta.json", testdata_dir(), gc->name);
    json_t *meta = json_load_file(path, 0, NULL);
    CHECK_EQ_INT(cp.next_pos, json_integer_value(json_object_get(meta, "n_past_after_prompt")));
    json_decref(meta);
    CHECK_EQ_INT(cp.n_images, 1);

    int vocab = m->cfg.text.vocab_size;
    snprintf(path, sizeof path, "%s/golden/image/%s/F16/logits_last.f32", testdata_dir(), gc->name);
    float *ref = golden_read_f32(path, (size_t)vocab), *out = malloc((size_t)vocab * sizeof *out), margins[16];
    snprintf(path, sizeof path, "%s/golden/image/%s/F16/generated_logits_top5.txt", testdata_dir(), gc->name);
    int n_margins = golden_read_margins(path, margins, 16);
    kv_cache kv;
    text_batch b = {cp.n, cp.ids, cp.pos, cp.image_embd, cp.n_image_rows, m->cfg.image_token_id};
    CHECK(ref && n_margins > 0 && kv_cache_init(&kv, &m->cfg.text, cp.n, &err) == 0);
    if (ref && n_margins > 0) {
        CHECK_MSG(text_forward(&m->text, &kv, &b, out, tp, &err) == 0, "%s", err.msg);
        logit_diff d = golden_compare(out, ref, vocab);
        fprintf(stderr, "%s %-6s logits: max|d| %.4f rms %.5f argmax %d/%d (margin %.3f)%s\n", gc->name, label,
                d.max_abs, d.rms, d.argmax_got, d.argmax_ref, margins[0],
                logits ? "" : "  [info only: different text weights than the golden]");
        if (logits) {
            CHECK_MSG(d.max_abs <= 2e-2, "%s: logits max abs diff %.4f", gc->name, d.max_abs);
            CHECK_MSG(d.rms <= 5e-3, "%s: logits rms diff %.5f", gc->name, d.rms);
            if (margins[0] > 0.05) CHECK_EQ_INT(d.argmax_got, d.argmax_ref);
        }
        kv_cache_free(&kv);
    }
    free(ref), free(out), free(ref_pos), free(ref_ids);
    chat_prompt_free(&cp);
}

/* Two images in two turns (I2 in the first, I1 in the second), the
 * conversation style of a chat: both runs expanded, rows in prompt order
 * equal to each image encoded alone, and the M-RoPE rules of spec 7.4 at the
 * seams. Plus a max_pixels override: 512x384 under 131072 pixels is resized
 * to 416x288 (spec 5.2 max branch) = 13 x 9 = 117 tokens. */
static void check_two_images(const qvl_model *m, threadpool *tp) {
    const golden_case *gc[2] = {&cases[1], &cases[0]};
    json_t *msgs = json_pack("[{s:s, s:[{s:s, s:s}, {s:s, s:s}]}, {s:s, s:s}, {s:s, s:[{s:s, s:s}, {s:s, s:s}]}]",
                             "role", "user", "content", "type", "image", "image", "I2", "type", "text", "text", "a?",
                             "role", "assistant", "content", "b.",
                             "role", "user", "content", "type", "image", "image", "I1", "type", "text", "text", "c?");
    chat_opts co = {.add_generation_prompt = true, .load_image = load_by_name, .tp = tp};
    chat_prompt cp;
    qvl_error err = {0};
    int rc = chat_prompt_build(m, msgs, &co, &cp, &err);
    CHECK_MSG(rc == 0, "two images: %s", err.msg);
    if (rc == 0) {
        CHECK_EQ_INT(cp.n_images, 2);
        CHECK_EQ_INT(cp.n_image_rows, 80 + 64);
        int W = vision_embd_width(m->vision), row = 0, start[2] = {-1, -1};
        for (int i = 1, k = 0; i < cp.n && k < 2; i++)
            if (cp.ids[i] == m->cfg.image_token_id && cp.ids[i - 1] != m->cfg.image_token_id) start[k++] = i;
        CHECK(start[0] > 0 && start[1] > start[0] + 80);
        for (int k = 0; k < 2 && start[k] > 0; k++) {
            image_rgb img = {0};
            vision_image v;
            CHECK(decode_case_image(gc[k]->name, &img) == 0);
            CHECK(vision_encode_image(m->vision, &img, NULL, tp, NULL, NULL, &v, &err) == 0);
            image_free(&img);
            CHECK_MSG(!memcmp(cp.image_embd + (size_t)row * W, v.embd, (size_t)v.n_tokens * W * sizeof(float)),
                      "image %d rows differ from the image encoded alone", k);
            const int32_t *p0 = cp.pos + (size_t)(start[k] - 1) * 3, *p = cp.pos + (size_t)start[k] * 3;
            int base = p0[0] + 1, last = start[k] + v.n_tokens - 1;
            CHECK(p[0] == base && p[1] == base && p[2] == base);   /* token (0, 0) */
            CHECK(cp.pos[last * 3] == base && cp.pos[last * 3 + 1] == base + v.rows - 1 &&
                  cp.pos[last * 3 + 2] == base + v.cols - 1);
            int after = base + (v.rows > v.cols ? v.rows : v.cols);   /* <|vision_end|> */
            CHECK(cp.ids[last + 1] == m->cfg.vision_end_token_id && cp.pos[(last + 1) * 3] == after &&
                  cp.pos[(last + 1) * 3 + 2] == after);
            row += v.n_tokens;
            vision_image_free(&v);
        }
        CHECK_EQ_INT(cp.next_pos, cp.pos[(cp.n - 1) * 3] + 1);
        chat_prompt_free(&cp);
    }
    json_decref(msgs);

    msgs = case_messages(&cases[2]);
    co.max_pixels = 131072;
    co.load_image = load_case_image;
    co.load_ctx = (void *)&cases[2];
    CHECK_MSG(chat_prompt_build(m, msgs, &co, &cp, &err) == 0, "%s", err.msg);
    CHECK_EQ_INT(cp.n_image_rows, 117);
    chat_prompt_free(&cp);
    json_decref(msgs);

    /* limits above the model's maximum are refused before any allocation */
    image_rgb img = {0};
    vision_image v;
    image_preprocess_opts huge = {.min_pixels = 1L << 30};
    CHECK(decode_case_image("I1", &img) == 0);
    CHECK(vision_encode_image(m->vision, &img, &huge, tp, NULL, NULL, &v, &err) == -1 && err.code == QVL_E_TOO_LARGE);
    image_free(&img);
}

/* Counts the vision matrices (blocks and mergers) of type t. */
static int count_matrices(const vision_model *vm, qvl_dtype t) {
    int n = 0;
    for (int b = 0; b < vm->cfg.depth; b++) {
        const vision_block *k = &vm->blocks[b];
        n += (k->qkv.type == t) + (k->proj.type == t) + (k->fc1.type == t) + (k->fc2.type == t);
    }
    for (int k = -1; k < vm->cfg.n_deepstack; k++) {
        const vision_merger *mg = k < 0 ? &vm->merger : &vm->deepstack[k];
        n += (mg->fc1.type == t) + (mg->fc2.type == t);
    }
    return n;
}

/* The shipped F16 mmproj holds BF16 values only (it was converted from the
 * bf16 test model), so every matrix runs as BF16: each value equal to the
 * file's F16 value, read through a mapping of our own. */
static void check_converted_to_bf16(const qvl_model *m, const char *mmproj) {
    const vision_model *vm = m->vision;
    int n = 4 * vm->cfg.depth + 2 * (1 + vm->cfg.n_deepstack);
    CHECK_EQ_INT(count_matrices(vm, DT_BF16), n);
    gguf_file g;
    qvl_error err = {0};
    CHECK_MSG(gguf_open(&g, mmproj, &err) == 0, "%s", err.msg);
    const qvl_tensor *f16 = gguf_find_tensor(&g, "v.blk.1.ffn_up.weight");
    const qvl_tensor *bf = &vm->blocks[1].fc1;
    CHECK(f16 && f16->type == DT_F16 && tensor_nelements(f16) == tensor_nelements(bf));
    int64_t diff = 0;
    for (int64_t i = 0; f16 && i < tensor_nelements(bf); i++) {
        uint16_t a, b;
        memcpy(&a, (const uint8_t *)f16->data + 2 * i, 2);
        memcpy(&b, (const uint8_t *)bf->data + 2 * i, 2);
        diff += fp16_to_f32(a) != bf16_to_f32(b);
    }
    CHECK_MSG(diff == 0, "%lld BF16 values differ from the file's F16 values", (long long)diff);
    gguf_close(&g);
}

/* A copy of the mmproj whose v.blk.0.attn_qkv.weight holds one value BF16
 * cannot: that matrix stays F16, the others still convert, and the mixed
 * tower matches the golden embeddings (one weight moved by 2^-10 relative).
 * Returns the loaded model or NULL. */
static qvl_model *load_inexact_mmproj(const char *text, const char *mmproj, char *copy, size_t copy_size) {
    qvl_error err = {0};
    size_t len = 0;
    char *bytes = read_file_text(mmproj, 1 << 26, &len, &err);
    gguf_file g;
    int rc = bytes ? gguf_open(&g, mmproj, &err) : -1;
    CHECK_MSG(rc == 0, "%s", err.msg);
    if (rc != 0) return free(bytes), NULL;
    const qvl_tensor *t = gguf_find_tensor(&g, "v.blk.0.attn_qkv.weight");
    size_t off = t ? (size_t)((const uint8_t *)t->data - g.map.data) : 0;
    for (int64_t i = 0; t && i < tensor_nelements(t); i++, off += 2) {
        uint16_t h;
        memcpy(&h, bytes + off, 2);
        if (((h >> 10) & 31) == 0 || ((h >> 10) & 31) == 31) continue;   /* a normal value: 10 mantissa bits */
        h ^= 1;
        memcpy(bytes + off, &h, 2);
        break;
    }
    gguf_close(&g);
    snprintf(copy, copy_size, "%s/inexact-mmproj.gguf", model_dir);
    FILE *f = fopen(copy, "wb");
    CHECK(t && f && fwrite(bytes, 1, len, f) == len);
    if (f) fclose(f);
    free(bytes);
    model_load_opts o = {.mmproj = copy, .threads = 2};
    qvl_model *m = model_load(text, &o, &err);
    CHECK_MSG(m != NULL && m->vision != NULL, "%s", err.msg);
    if (m && m->vision) {
        CHECK_EQ_INT(m->vision->blocks[0].qkv.type, DT_F16);
        CHECK_EQ_INT(count_matrices(m->vision, DT_F16), 1);
        CHECK_EQ_INT(m->vision->blocks[1].qkv.type, DT_BF16);
    }
    return m;
}

/* A GGUF text model without --mmproj refuses images with a clear message. */
static void check_gguf_without_mmproj(threadpool *tp) {
    char path[1024];
    snprintf(path, sizeof path, "%s/gguf/tiny-Q8_0.gguf", testdata_dir());
    qvl_error err = {0};
    qvl_model *m = model_load(path, NULL, &err);
    CHECK_MSG(m != NULL, "%s", err.msg);
    if (!m) return;
    CHECK(m->vision == NULL);
    json_t *msgs = case_messages(&cases[0]);
    chat_opts co = {.add_generation_prompt = true, .load_image = load_case_image, .load_ctx = (void *)&cases[0]};
    chat_prompt cp;
    CHECK(chat_prompt_build(m, msgs, &co, &cp, &err) == -1);
    CHECK_MSG(strstr(err.msg, "--mmproj") != NULL, "message: %s", err.msg);
    CHECK_EQ_INT(err.code, QVL_E_BAD_INPUT);
    json_decref(msgs);
    model_free(m);
}

int main(void) {
    char tok[1024], path[1024], mmproj[1024];
    qvl_error err = {0};
    CHECK(mkdtemp(model_dir) != NULL);
    snprintf(tok, sizeof tok, "%s/tokenizer", testdata_dir());
    CHECK_MSG(test_model_write(TEST_MODEL_TINY, model_dir, tok, &err) == 0, "%s", err.msg);
    threadpool *tp = threadpool_create(2);
    int n_cases = (int)(sizeof cases / sizeof *cases);

    model_load_opts o = {.quant = "bf16", .threads = 2};
    qvl_model *m = model_load(model_dir, &o, &err);
    CHECK_MSG(m != NULL && m->vision != NULL, "%s", err.msg);
    if (m && m->vision) {
        CHECK_EQ_INT(m->vision->preprocess.min_pixels, 65536);
        for (int i = 0; i < n_cases; i++) check_embeddings(m, &cases[i], tp, "hf");
        for (int i = 0; i < 3; i++) check_prompt_and_logits(m, &cases[i], tp, true, "hf");
        check_two_images(m, tp);
    }
    model_free(m);

    snprintf(path, sizeof path, "%s/gguf/tiny-Q8_0.gguf", testdata_dir());
    snprintf(mmproj, sizeof mmproj, "%s/gguf/tiny-mmproj-F16.gguf", testdata_dir());
    model_load_opts og = {.mmproj = mmproj, .threads = 2};
    m = model_load(path, &og, &err);
    CHECK_MSG(m != NULL && m->vision != NULL, "%s", err.msg);
    if (m && m->vision) {
        check_converted_to_bf16(m, mmproj);
        for (int i = 0; i < n_cases; i++) check_embeddings(m, &cases[i], tp, "mmproj");
        for (int i = 0; i < 3; i++) check_prompt_and_logits(m, &cases[i], tp, false, "q8+mm");
    }
    model_free(m);
    char inexact[1024];
    m = load_inexact_mmproj(path, mmproj, inexact, sizeof inexact);
    for (int i = 0; m && m->vision && i < n_cases; i++) check_embeddings(m, &cases[i], tp, "mixed");
    model_free(m);
    check_gguf_without_mmproj(tp);
    threadpool_free(tp);

    DIR *dir = opendir(model_dir);
    for (struct dirent *e; dir && (e = readdir(dir));) {
        snprintf(path, sizeof path, "%s/%s", model_dir, e->d_name);
        if (e->d_name[0] != '.') unlink(path);
    }
    if (dir) closedir(dir);
    rmdir(model_dir);
    return check_summary();
}
