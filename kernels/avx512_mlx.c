/* AVX-512 kernels for MLX's affine types (kernels/mlx.h), on the standard
 * layout as stored.  16 values of any width are 2*bits bytes of the bit
 * stream: one masked load, broadcast to the four 128-bit lanes, a byte
 * shuffle that puts the (one or two) bytes holding value i in lane i, a
 * variable shift and a mask.  The gemv sums x.q per group and adds
 * scale * that + bias * sum(x of the group), with the sums of x made once
 * per call: MLX's own Metal kernels factor it the same way; the rounding
 * differs from the reference's w = scale*q + bias by a few f32 ulps of the
 * dot product.  Widening is bit-identical to the reference (scale*q, then
 * + bias, unfused), and the prefill gemm is BLIS on rows widened by it.
 * With VNNI the engine runs matrices of whole 16-row groups through
 * avx512_mlx_vnni.c's packed layout instead (int8 activations); these
 * kernels take the rest, and keep MLX's f32 arithmetic. */
#include "kernels/kern_simd.h"
#include "kernels/mlx.h"
#include "kernels/mlx_lanes.h"

#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#define INLINE static inline __attribute__((always_inline))

/* Per width: the shuffle putting value i's bytes at lane i, and its shift. */
static __m512i shuffle_of[9], shift_of[9];

static void make_tables(void)
{
	static const int widths[] = {2, 3, 4, 5, 6, 8};
	for (size_t w = 0; w < sizeof widths / sizeof *widths; w++) {
		int bits = widths[w];
		uint8_t idx[64];
		uint32_t sh[16];
		for (int i = 0; i < 16; i++) {
			int bit = i * bits, byte = bit / 8;
			idx[4 * i] = (uint8_t)byte;
			idx[4 * i + 1] = bit % 8 + bits > 8 ? (uint8_t)(byte + 1) : 0x80;
			idx[4 * i + 2] = idx[4 * i + 3] = 0x80;
			sh[i] = (uint32_t)(bit % 8);
		}
		shuffle_of[bits] = _mm512_loadu_si512(idx);
		shift_of[bits] = _mm512_loadu_si512(sh);
	}
}

/* Values [16c, 16c+16) of the stream at q as f32. */
INLINE __m512 unpack16(const uint8_t *q, int bits, __m512i shuffle, __m512i shift, __m512i mask)
{
	__m128i src = _mm_maskz_loadu_epi8((__mmask16)((1u << (2 * bits)) - 1), q);
	__m512i v = _mm512_shuffle_epi8(_mm512_broadcast_i32x4(src), shuffle);
	v = _mm512_and_si512(_mm512_srlv_epi32(v, shift), mask);
	return _mm512_cvtepi32_ps(v);
}

INLINE float scale_at(const struct kern_mlx *p, const uint8_t *s)
{
	if (p->scale_type == KD_F32) {
		float f;
		memcpy(&f, s, 4);
		return f;
	}
	uint16_t h;
	memcpy(&h, s, 2);
	if (p->scale_type == KD_F16)
		return _cvtsh_ss(h);
	uint32_t u = (uint32_t)h << 16;
	float f;
	memcpy(&f, &u, 4);
	return f;
}

/* Sums of x over each group of the row. */
static void group_sums(const float *x, size_t cols, int group, float *sums)
{
	for (size_t g = 0; g < cols / (size_t)group; g++) {
		__m512 acc = _mm512_setzero_ps();
		for (int c = 0; c < group; c += 16)
			acc = _mm512_add_ps(acc, _mm512_loadu_ps(x + g * (size_t)group + (size_t)c));
		sums[g] = _mm512_reduce_add_ps(acc);
	}
}

INLINE void gemv_bits(const struct kern_mlx *p, int bits, const void *w, const float *x, float *y,
		      size_t rows, size_t cols)
{
	size_t ng = cols / (size_t)p->group, rb = ng * p->block_bytes;
	float local[256], *sums = ng <= 256 ? local : malloc(ng * sizeof *sums);
	if (!sums) { /* no memory for the sums: the reference needs none */
		kern_ref.gemv[kern_mlx_type(p->bits, p->group, p->scale_type)](w, x, y, rows, cols);
		return;
	}
	group_sums(x, cols, p->group, sums);
	__m512i shuffle = shuffle_of[bits], shift = shift_of[bits];
	__m512i mask = _mm512_set1_epi32((1 << bits) - 1);
	size_t step = (size_t)2 * (size_t)bits;
	for (size_t r = 0; r < rows; r++) {
		const uint8_t *blk = (const uint8_t *)w + r * rb;
		__m512 acc = _mm512_setzero_ps();
		float bias_acc = 0;
		for (size_t g = 0; g < ng; g++, blk += p->block_bytes) {
			const uint8_t *q = blk + 2 * p->scale_bytes;
			const float *xg = x + g * (size_t)p->group;
			_mm_prefetch((const char *)blk + 4096, _MM_HINT_T0);   /* as lanes_gemv */
			__m512 d0 = _mm512_setzero_ps(), d1 = _mm512_setzero_ps();
			for (int c = 0; c < p->group; c += 32, q += 2 * step) {
				d0 = _mm512_fmadd_ps(unpack16(q, bits, shuffle, shift, mask),
						     _mm512_loadu_ps(xg + c), d0);
				d1 = _mm512_fmadd_ps(unpack16(q + step, bits, shuffle, shift, mask),
						     _mm512_loadu_ps(xg + c + 16), d1);
			}
			acc = _mm512_fmadd_ps(_mm512_set1_ps(scale_at(p, blk)), _mm512_add_ps(d0, d1), acc);
			bias_acc += scale_at(p, blk + p->scale_bytes) * sums[g];
		}
		y[r] = _mm512_reduce_add_ps(acc) + bias_acc;
	}
	if (sums != local)
		free(sums);
}

static void to_f32(int t, const void *src, float *dst, size_t n)
{
	struct kern_mlx p;
	kern_mlx_params(t, &p);
	__m512i shuffle = shuffle_of[p.bits], shift = shift_of[p.bits];
	__m512i mask = _mm512_set1_epi32((1 << p.bits) - 1);
	const uint8_t *blk = src;
	for (size_t g = 0; g < n / (size_t)p.group; g++, blk += p.block_bytes) {
		__m512 s = _mm512_set1_ps(scale_at(&p, blk)), b = _mm512_set1_ps(scale_at(&p, blk + p.scale_bytes));
		const uint8_t *q = blk + 2 * p.scale_bytes;
		for (int c = 0; c < p.group; c += 16, q += 2 * p.bits)
			_mm512_storeu_ps(dst + g * (size_t)p.group + (size_t)c,
					 _mm512_add_ps(_mm512_mul_ps(s, unpack16(q, p.bits, shuffle, shift, mask)), b));
	}
}

/* One function per bits (constant width: the loads and steps fold), the
 * group and scale type read from the type. */
#define GEMV_BITS(B)                                                                          \
	static void gemv_##B(int t, const void *w, const float *x, float *y, size_t rows, size_t cols) \
	{                                                                                     \
		struct kern_mlx p;                                                            \
		kern_mlx_params(t, &p);                                                       \
		if (lanes_apply(B, p.group))                                                  \
			lanes_gemv(&p, B, w, x, y, rows, cols);                               \
		else                                                                          \
			gemv_bits(&p, B, w, x, y, rows, cols);                                \
	}
GEMV_BITS(2)
GEMV_BITS(3)
GEMV_BITS(4)
GEMV_BITS(5)
GEMV_BITS(6)
GEMV_BITS(8)

/* The prefill: lanes_gemm where it applies, else BLIS on rows widened by to_f32. */
#define GEMM_BITS(B)                                                                              \
	static void gemm_##B(int t, kern_to_f32_fn widen, const void *w, const float *x, float *y,   \
			     size_t n, size_t rows, size_t cols, int threads)                         \
	{                                                                                         \
		struct kern_mlx p;                                                                \
		kern_mlx_params(t, &p);                                                           \
		if (lanes_apply(B, p.group))                                                      \
			lanes_gemm(&p, B, w, x, y, n, rows, cols, threads);                       \
		else                                                                              \
			kern_blis_gemm((enum kern_dtype)t, widen, w, x, y, n, rows, cols, threads); \
	}
GEMM_BITS(2)
GEMM_BITS(3)
GEMM_BITS(4)
GEMM_BITS(5)
GEMM_BITS(6)
GEMM_BITS(8)

#define SLOTS(b, g, s)                                                                              \
	static void to_f32_##b##_##g##_##s(const void *src, float *dst, size_t n)                   \
	{                                                                                           \
		to_f32(KD_MLX##b##_G##g##_##s, src, dst, n);                                        \
	}                                                                                           \
	static void gemv_##b##_##g##_##s(const void *w, const float *x, float *y, size_t rows, size_t cols) \
	{                                                                                           \
		gemv_##b(KD_MLX##b##_G##g##_##s, w, x, y, rows, cols);                              \
	}                                                                                           \
	static void gemm_##b##_##g##_##s(const void *w, const float *x, float *y, size_t n, size_t rows, \
					 size_t cols, int threads)                                  \
	{                                                                                           \
		gemm_##b(KD_MLX##b##_G##g##_##s, to_f32_##b##_##g##_##s, w, x, y, n, rows, cols, threads); \
	}
KERN_MLX_TYPES(SLOTS)

#define FILL(b, g, s)                                                  \
	k->gemv[KD_MLX##b##_G##g##_##s] = gemv_##b##_##g##_##s;        \
	k->gemm[KD_MLX##b##_G##g##_##s] = gemm_##b##_##g##_##s;        \
	k->to_f32[KD_MLX##b##_G##g##_##s] = to_f32_##b##_##g##_##s;    \
	k->from_f32[KD_MLX##b##_G##g##_##s] = kern_ref.from_f32[KD_MLX##b##_G##g##_##s];

void kern_avx512_mlx_fill(struct kern_ops *k)
{
	make_tables();
	KERN_MLX_TYPES(FILL)
}
