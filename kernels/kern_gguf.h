/* The weight types GGUF files bring beyond Q8_0/Q4_0 (whose blocks are
 * already GGML's): Q4_1 so far.  Block layouts are ggml-common.h's; the
 * scalar reference (kernels/ref_gguf.c) dequantises as ggml-quants.c's
 * dequantize_row_* and quantises as its quantize_row_*_ref.  Dot products
 * use the activations of kern_quantize_act (kern.h):
 *   Q4_1: y += d_w d_x sum_j q_w(j) q_x(j) + m_w d_x sum_j q_x(j)
 * where a value is d q + m with q in 0..15.
 *
 * The SIMD variants (kernels/avx2_gguf.c, avx512_gguf.c) override the
 * reference's slots in their table through kern_gguf_avx2/avx512(). */
#ifndef EXO_KERNELS_KERN_GGUF_H
#define EXO_KERNELS_KERN_GGUF_H
#include "kernels/kern.h"

/* 20 bytes: value = d * q + m; qs[j] low nibble is value j, high nibble j+16 */
struct kern_block_q4_1 { uint16_t d, m; uint8_t qs[KERN_QBLOCK / 2]; };

/* kern_row_bytes for the types of this header (0 for others). */
size_t kern_gguf_row_bytes(enum kern_dtype t, size_t cols);

void kern_ref_gemv_q4_1(const void *w, const float *x, float *y, size_t rows, size_t cols);
void kern_ref_gemm_q4_1(const void *w, const float *x, float *y, size_t n, size_t rows,
			size_t cols, int threads);
void kern_ref_q4_1_to_f32(const void *src, float *dst, size_t n);
void kern_ref_q4_1_from_f32(const float *src, void *dst, size_t n);

/* The reference table's slots (designated, so the order of types does not matter). */
#define KERN_GGUF_REF_GEMV [KD_Q4_1] = kern_ref_gemv_q4_1
#define KERN_GGUF_REF_GEMM [KD_Q4_1] = kern_ref_gemm_q4_1
#define KERN_GGUF_REF_TO_F32 [KD_Q4_1] = kern_ref_q4_1_to_f32
#define KERN_GGUF_REF_FROM_F32 [KD_Q4_1] = kern_ref_q4_1_from_f32

/* Fill a variant's table with this variant's GGUF kernels. */
void kern_gguf_avx2(struct kern_ops *table);
void kern_gguf_avx512(struct kern_ops *table);
#endif
