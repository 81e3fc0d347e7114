/* AVX-512 VNNI kernels for MLX's affine types on kernels/pack_mlx.c's
 * packed layout: what kern_mlx_gemv_act computes, 16 rows per vector.  The
 * activations are quantised once per call (as for Q8_0/Q4_0); per block of
 * 32 values, eight vpdpbusd (unsigned codes x signed bytes) give the 16
 * rows' integer dots, times d_x; per group, times the rows' scales, plus
 * the rows' biases times sum_b d_b sum(qx_b).  Decode reads the weights
 * once, in order; the prefill runs four tokens per weight load. */
#include "kernels/kern_simd.h"
#include "kernels/mlx.h"

#include <immintrin.h>
#include <string.h>

#define INLINE static inline __attribute__((always_inline))
#define PR KERN_PACK_ROWS

/* The 16 rows' scales (or biases) as f32. */
INLINE __m512 rows16(int st, const uint8_t *p)
{
	if (st == KD_F32)
		return _mm512_loadu_ps(p);
	__m256i h = _mm256_loadu_si256((const __m256i *)p);
	if (st == KD_F16)
		return _mm512_cvtph_ps(h);
	return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

INLINE __m512i bcast4(const int8_t *p)
{
	int32_t v;
	memcpy(&v, p, 4);
	return _mm512_set1_epi32(v);
}

/* Plane bits k of x moved from bit `from` to bit `to` of every byte and
 * masked to them (16-bit shifts: what crosses a byte falls outside the mask). */
INLINE __m512i field(__m512i x, int from, int to, int w)
{
	if (from > to)
		x = _mm512_srli_epi16(x, (unsigned)(from - to));
	else if (from < to)
		x = _mm512_slli_epi16(x, (unsigned)(to - from));
	if (from == 0 && to == 0 && w == 8)
		return x;
	return _mm512_and_si512(x, _mm512_set1_epi8((char)(((1 << w) - 1) << to)));
}

/* The bytes of quad q (values 4q..4q+3 of the block, one byte per row per
 * value) from the block's chunks ch. */
INLINE __m512i quad(int bits, const __m512i *ch, int q)
{
	/* kern_mlx_planes spelt out per width, so that every shift and mask
	 * is a constant (a loop over its arrays was not folded) */
	switch (bits) {
	case 8: return ch[q];
	case 4: return field(ch[q / 2], q % 2 * 4, 0, 4);
	case 2: return field(ch[q / 4], q % 4 * 2, 0, 2);
	case 3: return _mm512_or_si512(field(ch[q / 4], q % 4 * 2, 0, 2), field(ch[2], q, 2, 1));
	case 5: return _mm512_or_si512(field(ch[q / 2], q % 2 * 4, 0, 4), field(ch[4], q, 4, 1));
	default: return _mm512_or_si512(field(ch[q / 2], q % 2 * 4, 0, 4), field(ch[4 + q / 4], q % 4 * 2, 4, 2));
	}
}

/* Decode prefetches the group stream this far ahead: the hardware prefetcher
 * alone left a 4-bit 1B-shaped model at 0.70 of the read pass, against 0.91
 * for packed Q4_0 prefetched 3 KB ahead (avx512.c's STREAM_AHEAD). */
#define MLX_STREAM_AHEAD 3072

/* y[i][0..16) for T tokens through the ng groups of one 16-row group. */
INLINE void rows_group(int bits, int st, int group, const uint8_t *grp, size_t ng,
		       const struct kern_act_q8 *const *a, int T, float *const *y)
{
	size_t sb = st == KD_F32 ? 4 : 2, gbytes = PR * (2 * sb + (size_t)group * (size_t)bits / 8);
	int nb = group / 32;
	__m512 acc[4];
	for (int i = 0; i < T; i++)
		acc[i] = _mm512_setzero_ps();
	for (size_t g = 0; g < ng; g++) {
		const uint8_t *o = grp + g * gbytes, *c = o + 2 * PR * sb;
		if (T == 1)   /* decode: the stream comes from memory (as packed Q4_0 in avx512.c) */
			for (size_t l = 0; l < gbytes; l += 64)
				_mm_prefetch((const char *)o + l + MLX_STREAM_AHEAD, _MM_HINT_T0);
		__m512 fs[4];
		float xs[4];
		for (int i = 0; i < T; i++)
			fs[i] = _mm512_setzero_ps(), xs[i] = 0;
		for (int b = 0; b < nb; b++, c += 64 * bits) {
			__m512i ch[8];
			for (int k = 0; k < bits; k++)
				ch[k] = _mm512_loadu_si512(c + 64 * k);
			__m512i s0[4], s1[4];
			for (int i = 0; i < T; i++)
				s0[i] = s1[i] = _mm512_setzero_si512();
			const struct kern_act_q8 *ab[4];
			for (int i = 0; i < T; i++)
				ab[i] = a[i] + g * (size_t)nb + (size_t)b;
			_Pragma("GCC unroll 8") for (int q = 0; q < 8; q += 2) {
				__m512i v0 = quad(bits, ch, q), v1 = quad(bits, ch, q + 1);
				_Pragma("GCC unroll 4") for (int i = 0; i < T; i++) {
					s0[i] = _mm512_dpbusd_epi32(s0[i], v0, bcast4(ab[i]->qs + 4 * q));
					s1[i] = _mm512_dpbusd_epi32(s1[i], v1, bcast4(ab[i]->qs + 4 * q + 4));
				}
			}
			_Pragma("GCC unroll 4") for (int i = 0; i < T; i++) {
				fs[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(s0[i], s1[i])),
							_mm512_set1_ps(ab[i]->d), fs[i]);
				xs[i] += ab[i]->d * (float)ab[i]->sum;
			}
		}
		__m512 s = rows16(st, o), bias = rows16(st, o + PR * sb);
		_Pragma("GCC unroll 4") for (int i = 0; i < T; i++) {
			acc[i] = _mm512_fmadd_ps(s, fs[i], acc[i]);
			acc[i] = _mm512_fmadd_ps(bias, _mm512_set1_ps(xs[i]), acc[i]);
		}
	}
	for (int i = 0; i < T; i++)
		_mm512_storeu_ps(y[i], acc[i]);
}

/* kern_chunk_fn's body: tokens [0, n) through 16-row groups [g0, g1). */
INLINE void chunk(int bits, int st, int group, const void *wv, size_t g0, size_t g1, size_t nb,
		  const struct kern_act_q8 *a, float *y, size_t n, size_t rows)
{
	const uint8_t *w = wv;
	size_t ng = nb * 32 / (size_t)group, gb = ng * PR * ((st == KD_F32 ? 8 : 4) + (size_t)group * (size_t)bits / 8);
	size_t i = 0;
	float tmp[4][PR];
	for (; i + 4 <= n; i += 4) {
		const struct kern_act_q8 *ap[4] = {a + i * nb, a + (i + 1) * nb, a + (i + 2) * nb, a + (i + 3) * nb};
		float *yp[4] = {tmp[0], tmp[1], tmp[2], tmp[3]};
		for (size_t G = g0; G < g1; G++) {
			rows_group(bits, st, group, w + G * gb, ng, ap, 4, yp);
			for (int k = 0; k < 4; k++)
				memcpy(y + (i + (size_t)k) * rows + G * PR, tmp[k], sizeof tmp[k]);
		}
	}
	for (; i < n; i++) {
		const struct kern_act_q8 *ap[1] = {a + i * nb};
		for (size_t G = g0; G < g1; G++) {
			float *yp[1] = {y + i * rows + G * PR};
			rows_group(bits, st, group, w + G * gb, ng, ap, 1, yp);
		}
	}
}

/* One chunk function per (bits, scale type), the group a run-time value. */
#define CHUNK_BS(b, s)                                                                                    \
	static void chunk_##b##_##s(int group, const void *w, size_t g0, size_t g1, size_t nb,             \
				    const struct kern_act_q8 *a, float *y, size_t n, size_t rows)         \
	{                                                                                                 \
		chunk(b, KD_##s, group, w, g0, g1, nb, a, y, n, rows);                                    \
	}
#define CHUNK_B(b) CHUNK_BS(b, F16) CHUNK_BS(b, BF16) CHUNK_BS(b, F32)
CHUNK_B(2)
CHUNK_B(3)
CHUNK_B(4)
CHUNK_B(5)
CHUNK_B(6)
CHUNK_B(8)

static const struct kern_ops *ops;   /* the table filled: its quantize_act */

static void quantize(const float *x, struct kern_act_q8 *out, size_t n)
{
	ops->quantize_act(x, out, n);
}

#define SLOTS(b, g, s)                                                                                   \
	static void chunk_##b##_##g##_##s(const void *w, size_t g0, size_t g1, size_t nb,                 \
					  const struct kern_act_q8 *a, float *y, size_t n, size_t rows)   \
	{                                                                                                \
		chunk_##b##_##s(g, w, g0, g1, nb, a, y, n, rows);                                        \
	}                                                                                                \
	static void pack_##b##_##g##_##s(const void *w, void *dst, size_t rows, size_t cols)             \
	{                                                                                                \
		kern_mlx_pack(KD_MLX##b##_G##g##_##s, w, dst, rows, cols);                               \
	}                                                                                                \
	static void row_##b##_##g##_##s(const void *w, size_t cols, size_t r, float *out)               \
	{                                                                                                \
		kern_mlx_packed_row_f32(KD_MLX##b##_G##g##_##s, w, cols, r, out);                        \
	}                                                                                                \
	static void gemv_##b##_##g##_##s(const void *w, const float *x, float *y, size_t rows, size_t cols) \
	{                                                                                                \
		kern_packed_gemv(quantize, chunk_##b##_##g##_##s, w, x, y, rows, cols);                  \
	}                                                                                                \
	static void gemm_##b##_##g##_##s(const void *w, const float *x, float *y, size_t n, size_t rows, \
					 size_t cols, int threads)                                       \
	{                                                                                                \
		kern_packed_gemm(quantize, chunk_##b##_##g##_##s, w, x, y, n, rows, cols, threads);       \
	}
KERN_MLX_TYPES(SLOTS)

#define FILL(b, g, s)                                                              \
	k->pack[KD_MLX##b##_G##g##_##s] = pack_##b##_##g##_##s;                     \
	k->packed_row_f32[KD_MLX##b##_G##g##_##s] = row_##b##_##g##_##s;            \
	k->gemv_packed[KD_MLX##b##_G##g##_##s] = gemv_##b##_##g##_##s;              \
	k->gemm_packed[KD_MLX##b##_G##g##_##s] = gemm_##b##_##g##_##s;            \
	k->packed_rounds_x[KD_MLX##b##_G##g##_##s] = 1;

void kern_avx512_mlx_vnni_fill(struct kern_ops *k)
{
	ops = k;
	KERN_MLX_TYPES(FILL)
}
