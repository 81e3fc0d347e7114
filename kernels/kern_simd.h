/* Private glue between the optimised kernel files: each variant's table getter
 * (built at first use from the reference, then overridden) and the BLIS-backed
 * gemm they share.  Not part of the public kernel API (kern.h). */
#ifndef EXO_KERNELS_KERN_SIMD_H
#define EXO_KERNELS_KERN_SIMD_H
#include "kernels/kern.h"

/* The variant's table, or NULL when this CPU cannot run it. */
const struct kern_ops *kern_avx2_ops(void);
const struct kern_ops *kern_avx512_ops(void);

typedef void (*kern_to_f32_fn)(const void *src, float *dst, size_t n);

/* Y[n, rows] = X[n, cols] . W[rows, cols]^T through bli_sgemm with `threads`
 * threads.  F32 weights are used in place; other types are widened with
 * to_f32 a block of rows at a time into a scratch buffer freed before return. */
void kern_blis_gemm(enum kern_dtype t, kern_to_f32_fn to_f32, const void *w, const float *x,
		    float *y, size_t n, size_t rows, size_t cols, int threads);

/* The packed Q8_0/Q4_0 layout both SIMD variants use (kernels/pack.c). */
void kern_pack_q8_0(const void *w, void *dst, size_t rows, size_t cols);
void kern_pack_q4_0(const void *w, void *dst, size_t rows, size_t cols);
void kern_packed_row_q8_0(const void *w, size_t cols, size_t r, float *out);
void kern_packed_row_q4_0(const void *w, size_t cols, size_t r, float *out);

/* Y[n, rows] = X . W^T for packed W: X quantised with quantize, then
 * chunk() runs tokens [0, n) of a (nb blocks each) through groups [g0, g1)
 * into y (row stride rows). */
enum { KERN_PACK_CHUNK_GROUPS = 16 };
typedef void kern_quantize_fn(const float *x, struct kern_act_q8 *out, size_t n);
typedef void kern_chunk_fn(const void *w, size_t g0, size_t g1, size_t nb, const struct kern_act_q8 *a,
			   float *y, size_t n, size_t rows);
void kern_packed_gemm(kern_quantize_fn *quantize, kern_chunk_fn *chunk, const void *w,
		      const float *x, float *y, size_t n, size_t rows, size_t cols, int threads);
/* y[rows] = W x for packed W, through chunk with one token. */
void kern_packed_gemv(kern_quantize_fn *quantize, kern_chunk_fn *chunk, const void *w,
		      const float *x, float *y, size_t rows, size_t cols);
#endif
