/* mem_need.c - see mem_need.h. */
#include "generate/mem_need.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/mem_budget.h"
#include "image/preprocess.h"
#include "model/text_model.h"
#include "model/vision_model.h"

/* generate() runs a prompt in passes of this many tokens (generate.c). */
#define PROMPT_PASS 512
#define OCR_BYTES_PER_PIXEL 12

static uint64_t max_u64(uint64_t a, uint64_t b) { return a > b ? a : b; }

/* The resize (its horizontal pass over the source rows, then the target),
 * the patches and the encoder for one image; *features: its feature rows. */
static int image_vision(const qvl_model *m, const mem_image *im, long min_px, long max_px, int threads,
                        uint64_t *work, uint64_t *features, qvl_error *err) {
    const vision_model *vm = m->vision;
    image_preprocess_opts o = vm->preprocess;
    if (min_px) o.min_pixels = min_px;
    if (max_px) o.max_pixels = max_px;
    if (o.min_pixels > IMAGE_HF_MAX_PIXELS || o.max_pixels > IMAGE_HF_MAX_PIXELS)
        return qvl_fail_code(err, QVL_E_TOO_LARGE, "image pixel limits %ld/%ld: at most %d pixels", o.min_pixels,
                             o.max_pixels, IMAGE_HF_MAX_PIXELS);
    int th, tw;
    if (image_target_size(im->height, im->width, &o, &th, &tw, err) != 0) return -1;
    int patches = (th / IMAGE_PATCH_SIZE) * (tw / IMAGE_PATCH_SIZE);
    uint64_t resize = 3 * ((uint64_t)tw * (uint64_t)(im->height > th ? im->height : th) + (uint64_t)tw * th);
    *features = (uint64_t)patches / 4 * (uint64_t)vision_embd_width(vm) * sizeof(float);
    *work = resize + vision_encode_bytes(vm, patches, threads);
    return 0;
}

int mem_need_request(const qvl_model *m, const mem_image *imgs, int n, long min_px, long max_px, int n_ctx,
                     int threads, bool ocr, mem_need *out, qvl_error *err) {
    *out = (mem_need){0};
    uint64_t copy = 0, work = 0, largest = 0;
    for (int i = 0; i < n; i++) {
        uint64_t px = (uint64_t)imgs[i].width * (uint64_t)imgs[i].height;
        out->pixels += 3 * px;
        copy = max_u64(copy, (imgs[i].rendered ? 4 : 3) * px);
        largest = max_u64(largest, px);
        if (!m->vision) continue;   /* the request will be refused for its images, before any work */
        uint64_t w = 0, features = 0;
        if (image_vision(m, &imgs[i], min_px, max_px, threads, &w, &features, err) != 0)
            return qvl_error_prefix(err, "image %d", i + 1);
        work = max_u64(work, w);
        /* each image's rows, then all of them copied into the prompt; the
         * pages of a document are decoded and encoded one after another, so
         * only their features add up */
        out->vision += 2 * features * (uint64_t)(imgs[i].pages > 1 ? imgs[i].pages : 1);
    }
    out->pixels += copy;
    out->vision += work;
    out->prompt = text_pass_bytes(&m->text, n_ctx < PROMPT_PASS ? n_ctx : PROMPT_PASS, n_ctx, threads);
    out->ocr = ocr ? OCR_BYTES_PER_PIXEL * largest : 0;
    out->total = out->pixels + out->vision + out->prompt + out->ocr;
    return 0;
}

uint64_t mem_need_slot(const qvl_model *m, int n_ctx, int threads) {
    return kv_cache_bytes(&m->text.cfg, n_ctx) + text_pass_bytes(&m->text, TEXT_SCRATCH_KEEP_TOKENS, n_ctx, threads);
}

void mem_need_text(const mem_need *need, char *buf, size_t size) {
    char a[24], b[24], c[24], d[24];
    snprintf(buf, size, "images %s, encoder %s, prompt %s, OCR %s",
             mem_size_text(need->pixels, a), mem_size_text(need->vision, b), mem_size_text(need->prompt, c),
             mem_size_text(need->ocr, d));
}

int mem_image_of(const uint8_t *bytes, size_t len, const image_limits *lim, int max_pages, mem_image *out,
                 qvl_error *err) {
    const char *type = image_sniff(bytes, len);
    bool pdf = type && !strcmp(type, "application/pdf");
    *out = (mem_image){.rendered = pdf, .pages = 1};
    int pages = image_page_count(bytes, len, lim, err);
    if (pages < 0) return -1;
    if (pages == 1) return image_probe(bytes, len, 0, lim, &out->width, &out->height, err);
    out->pages = pages < max_pages ? pages : max_pages;
    uint64_t cap = lim && lim->max_pixels ? lim->max_pixels : IMAGE_DEFAULT_MAX_PIXELS;
    if (pdf && cap > IMAGE_PDF_MAX_RENDER_PIXELS) cap = IMAGE_PDF_MAX_RENDER_PIXELS;
    out->width = out->height = (int)ceil(sqrt((double)cap));
    return 0;
}

int mem_need_refuse(qvl_error *err, uint64_t need, const char *detail, const mem_budget *b) {
    char t[4][24];
    return qvl_fail_code(err, QVL_E_TOO_LARGE, "this request needs %s of memory (%s), more than the %s the memory "
                         "budget leaves for requests (--max-memory %s, %s of it held by the model and its caches): "
                         "lower max_pixels or send smaller images, or raise --max-memory", mem_size_text(need, t[0]),
                         detail, mem_size_text(mem_budget_room(b), t[1]), mem_size_text(mem_budget_limit(b), t[2]),
                         mem_size_text(mem_budget_base(b), t[3]));
}
