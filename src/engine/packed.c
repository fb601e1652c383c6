/* packed.c - see packed.h: the table of packed formats, one row per format,
 * behind every entry point that depends on the weight type. Adding a format
 * = adding its packed_<type>*.c files and a row here. */
#include "engine/packed.h"

#include "engine/packed_layout.h"

typedef void (*packed_matmul_fn)(const void *groups, int ng, const void *act, size_t astride, int nt, float *y,
                                 size_t ystride, int64_t cols);

/* A group of PACK_ROWS rows is cols / rec_cols records of rec_bytes; an
 * activation row is cols / rec_cols blocks of act_bytes. */
typedef struct packed_format {
    qvl_dtype type;
    int64_t rec_cols;                              /* columns per record; cols must be a multiple */
    size_t rec_bytes;
    size_t act_bytes;
    void (*quantize_act)(const float *x, void *out, int64_t cols, packed_quantizer q);   /* packed_quantize_act */
    void (*pack_group)(const void *src, size_t src_stride, void *dst, int64_t cols);
    void (*get_row)(const void *group, int r, float *out, int64_t cols);
    packed_matmul_fn matmul_avx2, matmul_avxvnni, matmul_avx512;   /* the kernels, one per instruction set */
} packed_format;

/* The K-quants meet quant_dot's Q8_K rows as they are. */
static void quantize_q8_k(const float *x, void *out, int64_t cols, packed_quantizer q) { q(DT_Q8_K, x, out, cols); }

static const packed_format formats[] = {
    {.type = DT_Q4_K, .rec_cols = 256, .rec_bytes = Q4K_REC_BYTES, .act_bytes = Q8K_ACT_BYTES,
     .quantize_act = quantize_q8_k, .pack_group = packed_q4_k_pack_group, .get_row = packed_q4_k_get_row,
     .matmul_avx2 = packed_q4_k_matmul_avx2, .matmul_avxvnni = packed_q4_k_matmul_avxvnni,
     .matmul_avx512 = packed_q4_k_matmul_avx512},
    {.type = DT_Q6_K, .rec_cols = 256, .rec_bytes = Q6K_REC_BYTES, .act_bytes = Q8K_ACT_BYTES,
     .quantize_act = quantize_q8_k, .pack_group = packed_q6_k_pack_group, .get_row = packed_q6_k_get_row,
     .matmul_avx2 = packed_q6_k_matmul_avx2, .matmul_avxvnni = packed_q6_k_matmul_avxvnni,
     .matmul_avx512 = packed_q6_k_matmul_avx512},
    {.type = DT_Q8_0, .rec_cols = Q80_QK, .rec_bytes = Q80_PBLOCK_BYTES, .act_bytes = Q80_ACT_BYTES,
     .quantize_act = packed_q8_0_quantize_act, .pack_group = packed_q8_0_pack_group,
     .get_row = packed_q8_0_get_row, .matmul_avx2 = packed_q8_0_matmul_avx2,
     .matmul_avxvnni = packed_q8_0_matmul_avxvnni, .matmul_avx512 = packed_q8_0_matmul_avx512},
};

/* The row of type w, or NULL: only packed_supported may ask for a type
 * without one (the other entry points are called after it said yes). */
static const packed_format *format_of(qvl_dtype w) {
    for (size_t i = 0; i < sizeof formats / sizeof *formats; i++)
        if (formats[i].type == w) return &formats[i];
    return NULL;
}

bool packed_supported(qvl_dtype w, int64_t rows, int64_t cols) {
    const packed_format *f = format_of(w);
    return f && rows > 0 && rows % PACK_ROWS == 0 && cols > 0 && cols % f->rec_cols == 0;
}

size_t packed_group_bytes(qvl_dtype w, int64_t cols) {
    const packed_format *f = format_of(w);
    return (size_t)(cols / f->rec_cols) * f->rec_bytes;
}

void packed_pack_group(qvl_dtype w, const void *src, size_t src_stride, void *dst, int64_t cols) {
    format_of(w)->pack_group(src, src_stride, dst, cols);
}

void packed_get_row(qvl_dtype w, const void *group, int r, float *out, int64_t cols) {
    format_of(w)->get_row(group, r, out, cols);
}

size_t packed_act_bytes(qvl_dtype w, int64_t cols) {
    const packed_format *f = format_of(w);
    return (size_t)(cols / f->rec_cols) * f->act_bytes;
}

void packed_quantize_act(qvl_dtype w, const float *x, void *out, int64_t cols, packed_quantizer q) {
    format_of(w)->quantize_act(x, out, cols, q);
}

void packed_matmul_avx2(qvl_dtype w, const void *groups, int ng, const void *act, size_t astride, int nt, float *y,
                        size_t ystride, int64_t cols) {
    format_of(w)->matmul_avx2(groups, ng, act, astride, nt, y, ystride, cols);
}

void packed_matmul_avxvnni(qvl_dtype w, const void *groups, int ng, const void *act, size_t astride, int nt, float *y,
                           size_t ystride, int64_t cols) {
    format_of(w)->matmul_avxvnni(groups, ng, act, astride, nt, y, ystride, cols);
}

void packed_matmul_avx512(qvl_dtype w, const void *groups, int ng, const void *act, size_t astride, int nt, float *y,
                          size_t ystride, int64_t cols) {
    format_of(w)->matmul_avx512(groups, ng, act, astride, nt, y, ystride, cols);
}
