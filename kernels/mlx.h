/* MLX affine quantization (mlx/ops.cpp affine_quantize; mlx-lm's quantized
 * Linear and Embedding): a weight is w = scale * q + bias for the group of
 * `group` consecutive values of a row holding it, q unsigned of `bits` bits.
 *
 * A checkpoint stores P.weight as U32 [rows, cols*bits/32] (a row's values a
 * little-endian bit stream, value k at bit k*bits, so 3-, 5- and 6-bit values
 * may straddle bytes and words), P.scales and P.biases as [rows, cols/group]
 * in F16, BF16 or F32.  The kernels' standard layout of a row is one block
 * per group:
 *   scale, bias   (the scale type: 2 bytes each for F16/BF16, 4 for F32)
 *   packed        (group*bits/8 bytes: the group's slice of the bit stream)
 * so a row is whole blocks and a panel of a row (a multiple of group columns)
 * is a row of its own.  Scales and biases stay as stored; widening them to
 * f32 is exact, so every variant dequantizes exactly what MLX does. */
#ifndef EXO_KERNELS_MLX_H
#define EXO_KERNELS_MLX_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "kernels/kern.h"

struct kern_mlx {
	int bits, group;
	int scale_type;      /* KD_F16, KD_BF16 or KD_F32 */
	size_t scale_bytes;  /* 2 or 4 */
	size_t packed_bytes; /* group * bits / 8 */
	size_t block_bytes;  /* 2 * scale_bytes + packed_bytes */
};

/* The parameters of an MLX type; false when t is not one. */
bool kern_mlx_params(int t, struct kern_mlx *p);
/* The type for bits, group and scale type; -1 when there is none. */
int kern_mlx_type(int bits, int group, int scale_type);
/* Value k of a packed bit stream of bits-bit values. */
static inline unsigned kern_mlx_value(const uint8_t *packed, int bits, size_t k)
{
	size_t bit = k * (size_t)bits, byte = bit >> 3;
	unsigned shift = (unsigned)(bit & 7), v = packed[byte];
	if (shift + (unsigned)bits > 8)
		v |= (unsigned)packed[byte + 1] << 8;
	return (v >> shift) & ((1u << bits) - 1);
}
/* A block's scale or bias widened to f32 (exact). */
static inline float kern_mlx_scale(const struct kern_mlx *p, const uint8_t *s)
{
	if (p->scale_type == KD_F32) {
		float f;
		__builtin_memcpy(&f, s, 4);
		return f;
	}
	uint16_t h = (uint16_t)(s[0] | s[1] << 8);
	return p->scale_type == KD_F16 ? kern_f16_to_f32(h) : kern_bf16_to_f32(h);
}
/* One row of the standard layout from a checkpoint's three tensors' rows:
 * packed (cols*bits/8 bytes), scales and biases (cols/group values each). */
void kern_mlx_assemble_row(int t, const void *packed, const void *scales, const void *biases,
			   void *dst, size_t cols);

/* The packed layout of the AVX-512 VNNI variant (kernels/pack_mlx.c), as
 * kern.h's pack slot: per 16 rows and group, the 16 rows' scales, their 16
 * biases, then per 32 values (an activation block) the values split into
 * planes of whole bytes' worth (8 and 4 bits: one plane; 2, 3 = 2+1, 5 =
 * 4+1, 6 = 4+2), each plane of width w in w chunks of 64 bytes whose 32-bit
 * lane r is row r: byte j of chunk c holds, at bit i*w, that plane's bits of
 * value 4*(c*8/w + i) + j.  So each "quad" of four activation bytes meets
 * one byte per row made of a shift and a mask of each plane, and one
 * vpdpbusd multiplies it into 16 rows.  As many bytes as the standard
 * layout: whole 16-row groups sit where the standard layout has them. */
static inline int kern_mlx_planes(int bits, int width[2], int shift[2])   /* how many */
{
	switch (bits) {
	case 3: width[0] = 2, shift[0] = 0, width[1] = 1, shift[1] = 2; return 2;
	case 5: width[0] = 4, shift[0] = 0, width[1] = 1, shift[1] = 4; return 2;
	case 6: width[0] = 4, shift[0] = 0, width[1] = 2, shift[1] = 4; return 2;
	default: width[0] = bits, shift[0] = 0, width[1] = shift[1] = 0; return 1;
	}
}
void kern_mlx_pack(int t, const void *w, void *dst, size_t rows, size_t cols);
void kern_mlx_packed_row_f32(int t, const void *w, size_t cols, size_t r, float *out);
/* What the packed kernels compute, scalar, on the standard layout: x
 * quantised to a (kern_quantize_act), then per group
 *   scale * sum_b d_b sum_j q_j a_b.qs[j] + bias * sum_b d_b a_b.sum
 * (b the group's activation blocks), summed in double. */
void kern_mlx_gemv_act(int t, const void *w, const struct kern_act_q8 *a, float *y, size_t rows,
		       size_t cols);
/* The VNNI variant's packed slots for every MLX type (avx512_mlx_vnni.c). */
void kern_avx512_mlx_vnni_fill(struct kern_ops *k);

/* The reference's slots for every MLX type (kernels/ref_mlx.c). */
#define KERN_MLX_REF_DECL(b, g, s)                                                              \
	void kern_ref_gemv_mlx##b##_##g##_##s(const void *, const float *, float *, size_t, size_t); \
	void kern_ref_gemm_mlx##b##_##g##_##s(const void *, const float *, float *, size_t, size_t,  \
					      size_t, int);                                        \
	void kern_ref_to_f32_mlx##b##_##g##_##s(const void *, float *, size_t);                     \
	void kern_ref_from_f32_mlx##b##_##g##_##s(const float *, void *, size_t);
KERN_MLX_TYPES(KERN_MLX_REF_DECL)
#define KERN_MLX_REF_GEMV(b, g, s) [KD_MLX##b##_G##g##_##s] = kern_ref_gemv_mlx##b##_##g##_##s,
#define KERN_MLX_REF_GEMM(b, g, s) [KD_MLX##b##_G##g##_##s] = kern_ref_gemm_mlx##b##_##g##_##s,
#define KERN_MLX_REF_TO(b, g, s) [KD_MLX##b##_G##g##_##s] = kern_ref_to_f32_mlx##b##_##g##_##s,
#define KERN_MLX_REF_FROM(b, g, s) [KD_MLX##b##_G##g##_##s] = kern_ref_from_f32_mlx##b##_##g##_##s,

/* The optimised variants' slots (kernels/avx2_mlx.c, avx512_mlx.c): every
 * MLX type's gemv, gemm and to_f32 in k. */
void kern_avx2_mlx_fill(struct kern_ops *k);
void kern_avx512_mlx_fill(struct kern_ops *k);
#endif
