/* The weight types GGUF files bring beyond Q8_0/Q4_0 (whose blocks are
 * already GGML's): Q4_1, Q5_0, Q5_1 (blocks of 32) and the K types Q4_K,
 * Q5_K, Q6_K (blocks of 256).  Block layouts are ggml-common.h's; the
 * scalar reference (kernels/ref_gguf.c) dequantises as ggml-quants.c's
 * dequantize_row_*, and quantises as its quantize_row_*_ref for the 32-value
 * types (a plain quantiser for the K types: exo only reads those).  Products
 * use the activations of kern_quantize_act (kern.h), one activation block
 * per group of 32 weights; for the K types those of kern_quantize_act_k,
 * as llama.cpp's K types use its block_q8_K.
 *
 * The SIMD variants (kernels/avx2_gguf.c, avx512_gguf.c) override the
 * reference's slots in their table through kern_gguf_avx2/avx512(). */
#ifndef EXO_KERNELS_KERN_GGUF_H
#define EXO_KERNELS_KERN_GGUF_H
#include "kernels/kern.h"

#define KERN_QK_K 256

/* value = d q + m; qs[j] low nibble is value j, high nibble value j+16 */
struct kern_block_q4_1 { uint16_t d, m; uint8_t qs[16]; };                /* 20 bytes */
/* value = d (q - 16), q's fifth bit j in qh (little-endian 32 bits) */
struct kern_block_q5_0 { uint16_t d; uint8_t qh[4]; uint8_t qs[16]; };   /* 22 bytes */
/* value = d q + m, q as Q5_0's */
struct kern_block_q5_1 { uint16_t d, m; uint8_t qh[4]; uint8_t qs[16]; }; /* 24 bytes */
/* 8 sub-blocks of 32: value = d sc_j q - dmin m_j, sc/m 6 bits in scales */
struct kern_block_q4_k { uint16_t d, dmin; uint8_t scales[12]; uint8_t qs[128]; };              /* 144 */
struct kern_block_q5_k { uint16_t d, dmin; uint8_t scales[12]; uint8_t qh[32]; uint8_t qs[128]; }; /* 176 */
/* 16 sub-blocks of 16: value = d scales_k (q - 32), q 6 bits in ql/qh */
struct kern_block_q6_k { uint8_t ql[128]; uint8_t qh[64]; int8_t scales[16]; uint16_t d; };    /* 210 */

/* kern_row_bytes for the types of this header (0 for others). */
size_t kern_gguf_row_bytes(enum kern_dtype t, size_t cols);

/* Group g (values 32g .. 32g+31) of a row: integers q and, for each half of
 * 16, the scale and offset that make value = s q + m. */
struct kern_group { int8_t q[32]; float s[2], m[2]; };
typedef void kern_group_fn(const void *row, size_t g, struct kern_group *out);
kern_group_fn *kern_gguf_group(enum kern_dtype t);
/* The activations of the K types: llama.cpp's block_q8_K (one scale per 256
 * values, f32) as kern_act_q8 blocks, the 8 of a superblock sharing d. */
void kern_quantize_act_k(const float *x, struct kern_act_q8 *out, size_t n);
/* ggml's get_scale_min_k4 (Q4_K, Q5_K). */
void kern_k4_scale_min(int j, const uint8_t *scales, uint8_t *sc, uint8_t *m);

#define KERN_GGUF_DECLARE(NAME)                                                                     \
	void kern_ref_gemv_##NAME(const void *w, const float *x, float *y, size_t rows, size_t cols);  \
	void kern_ref_gemm_##NAME(const void *w, const float *x, float *y, size_t n, size_t rows,      \
				  size_t cols, int threads);                                           \
	void kern_ref_##NAME##_to_f32(const void *src, float *dst, size_t n);                         \
	void kern_ref_##NAME##_from_f32(const float *src, void *dst, size_t n);
KERN_GGUF_DECLARE(q4_1)
KERN_GGUF_DECLARE(q5_0)
KERN_GGUF_DECLARE(q5_1)
KERN_GGUF_DECLARE(q4_k)
KERN_GGUF_DECLARE(q5_k)
KERN_GGUF_DECLARE(q6_k)

/* The reference table's slots (designated, so the order of types does not matter). */
#define KERN_GGUF_SLOTS(P, S)                                                            \
	[KD_Q4_1] = P##q4_1##S, [KD_Q5_0] = P##q5_0##S, [KD_Q5_1] = P##q5_1##S,          \
	[KD_Q4_K] = P##q4_k##S, [KD_Q5_K] = P##q5_k##S, [KD_Q6_K] = P##q6_k##S
#define KERN_GGUF_REF_GEMV KERN_GGUF_SLOTS(kern_ref_gemv_, )
#define KERN_GGUF_REF_GEMM KERN_GGUF_SLOTS(kern_ref_gemm_, )
#define KERN_GGUF_REF_TO_F32 KERN_GGUF_SLOTS(kern_ref_, _to_f32)
#define KERN_GGUF_REF_FROM_F32 KERN_GGUF_SLOTS(kern_ref_, _from_f32)

/* Q4_1's packed layout for the SIMD variants (kernels/pack_gguf.c; kern.h's pack). */
void kern_pack_q4_1(const void *w, void *dst, size_t rows, size_t cols);
void kern_packed_row_q4_1(const void *w, size_t cols, size_t r, float *out);
void kern_pack_q4_k(const void *w, void *dst, size_t rows, size_t cols);
void kern_packed_row_q4_k(const void *w, size_t cols, size_t r, float *out);
void kern_pack_q6_k(const void *w, void *dst, size_t rows, size_t cols);
void kern_packed_row_q6_k(const void *w, size_t cols, size_t r, float *out);

/* Fill a variant's table with this variant's GGUF kernels. */
void kern_gguf_avx2(struct kern_ops *table);
void kern_gguf_avx512(struct kern_ops *table);
#endif
