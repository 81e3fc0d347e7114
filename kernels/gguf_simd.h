/* The SIMD GGUF kernels, compiled twice: by kernels/avx2_gguf.c (maddubs +
 * madd) and by kernels/avx512_gguf.c (AVX-512 VNNI's dpbusd on 256-bit
 * lanes), which define GGUF_VNNI and GGUF_FILL before including it.
 *
 * Every type is read as kernels/kern_gguf.h's groups of 32: each group's
 * codes as 32 unsigned bytes u (a signed type's offset moved into m), and
 * per half of 16 a scale and an offset, value = s u + m.  One group against
 * one activation block: the integer dot of u with the activation's bytes
 * in 8 int32 lanes (lanes 0-3 the first half, 4-7 the second), times s d_x,
 * plus the activation's sums over the same lanes times m d_x.  The integer
 * dots are exact; only the float summation order differs from the reference. */
#include "kernels/kern_gguf.h"
#include "kernels/kern_simd.h"

#include <immintrin.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define INLINE static inline __attribute__((always_inline))

static void (*quantize)(const float *x, struct kern_act_q8 *out, size_t n) = kern_quantize_act;

INLINE float hsum8(__m256 v)
{
	__m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

/* Eight int32 sums of four products of unsigned bytes u with signed bytes x. */
INLINE __m256i dot_u8_i8(__m256i u, __m256i x)
{
#ifdef GGUF_VNNI
	return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, x);
#else
	return _mm256_madd_epi16(_mm256_maddubs_epi16(u, x), _mm256_set1_epi16(1));
#endif
}

INLINE __m256 halves(float a, float b) { return _mm256_set_m128(_mm_set1_ps(b), _mm_set1_ps(a)); }
INLINE float f16(uint16_t h) { return _cvtsh_ss(h); }

/* 16 bytes of nibbles as 32 bytes: the low nibbles, then the high ones. */
INLINE __m256i nibbles(const uint8_t *p)
{
	__m128i v = _mm_loadu_si128((const __m128i *)p), m = _mm_set1_epi8(0x0f);
	return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v, 4), m), _mm_and_si128(v, m));
}

/* Bit j of 32 bits as 0x10 or 0 in byte j (ggml's bytes_from_bits_32). */
INLINE __m256i fifth_bits(const uint8_t *qh4)
{
	uint32_t x;
	memcpy(&x, qh4, 4);
	const __m256i shuf = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202,
					       0x0101010101010101, 0x0000000000000000);
	__m256i b = _mm256_shuffle_epi8(_mm256_set1_epi32((int)x), shuf);
	b = _mm256_or_si256(b, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe));
	return _mm256_and_si256(_mm256_cmpeq_epi8(b, _mm256_set1_epi64x(-1)), _mm256_set1_epi8(0x10));
}

/* 32 bytes of nibbles at p: the low (hi = 0) or high ones. */
INLINE __m256i nibble_half(const uint8_t *p, int hi)
{
	__m256i v = _mm256_loadu_si256((const __m256i *)p);
	return _mm256_and_si256(hi ? _mm256_srli_epi16(v, 4) : v, _mm256_set1_epi8(0x0f));
}

/* (qh >> shift) & mask per byte of 32, moved to bit 4. */
INLINE __m256i high_bits(const uint8_t *qh, int shift, int mask)
{
	__m256i v = _mm256_srli_epi16(_mm256_loadu_si256((const __m256i *)qh), shift);
	return _mm256_slli_epi16(_mm256_and_si256(v, _mm256_set1_epi8((char)mask)), 4);
}

/* ggml's get_scale_min_k4, inlined. */
INLINE void scale_min_k4(int j, const uint8_t *q, uint8_t *sc, uint8_t *m)
{
	if (j < 4) {
		*sc = q[j] & 63;
		*m = q[j + 4] & 63;
	} else {
		*sc = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
		*m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
	}
}

/* --- each type's group g of a row: u, and s, m per half --- */

INLINE __m256i grp_q4_1(const void *row, size_t g, float s[2], float m[2])
{
	const struct kern_block_q4_1 *b = (const struct kern_block_q4_1 *)row + g;
	s[0] = s[1] = f16(b->d), m[0] = m[1] = f16(b->m);
	return nibbles(b->qs);
}

INLINE __m256i grp_q5_0(const void *row, size_t g, float s[2], float m[2])
{
	const struct kern_block_q5_0 *b = (const struct kern_block_q5_0 *)row + g;
	s[0] = s[1] = f16(b->d), m[0] = m[1] = -16 * s[0];
	return _mm256_or_si256(nibbles(b->qs), fifth_bits(b->qh));
}

INLINE __m256i grp_q5_1(const void *row, size_t g, float s[2], float m[2])
{
	const struct kern_block_q5_1 *b = (const struct kern_block_q5_1 *)row + g;
	s[0] = s[1] = f16(b->d), m[0] = m[1] = f16(b->m);
	return _mm256_or_si256(nibbles(b->qs), fifth_bits(b->qh));
}

/* The activations' sums over the dot's lanes, once per block for all rows. */
INLINE __m256 act_sums(const struct kern_act_q8 *a)
{
	__m256i x = _mm256_loadu_si256((const __m256i *)a->qs);
	return _mm256_cvtepi32_ps(dot_u8_i8(_mm256_set1_epi8(1), x));
}

/* y[0, nr) for nr rows (rb bytes apart) of ng groups against a: the types
 * whose group has one scale and one offset (Q4_1, Q5_0, Q5_1). */
#define GGUF_ROWS(NAME)                                                                             \
	INLINE void rows_##NAME(const char *w, size_t rb, size_t ng, const struct kern_act_q8 *a,      \
				const __m256 *xs, float *y, int nr)                                    \
	{                                                                                          \
		__m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),         \
				 _mm256_setzero_ps()};                                                  \
		float macc[4] = {0, 0, 0, 0};                                                      \
		(void)xs;                                                                          \
		for (size_t g = 0; g < ng; g++) {                                                  \
			__m256i x = _mm256_loadu_si256((const __m256i *)a[g].qs);                        \
			float dx = a[g].d;                                                         \
			float sx = dx * (float)a[g].sum;                                           \
			_Pragma("GCC unroll 4") for (int r = 0; r < nr; r++) {                     \
				/* one scale and offset for the whole group: the offset's   \
				 * term is a scalar */                                      \
				float s[2], m[2];                                                  \
				__m256i u = grp_##NAME(w + r * rb, g, s, m);                       \
				__m256 p = _mm256_cvtepi32_ps(dot_u8_i8(u, x));                    \
				acc[r] = _mm256_fmadd_ps(p, _mm256_set1_ps(s[0] * dx), acc[r]);    \
				macc[r] += m[0] * sx;                                              \
			}                                                                          \
		}                                                                                  \
		_Pragma("GCC unroll 4") for (int r = 0; r < nr; r++)                               \
			y[r] = hsum8(acc[r]) + macc[r];                                            \
	}                                                                                          \
	GGUF_GEMV_ACT(NAME)
#define GGUF_GEMV_ACT(NAME)                                                                        \
	static void gemv_act_##NAME(const void *w, const struct kern_act_q8 *a, const __m256 *xs,     \
				    float *y, size_t rows, size_t cols)                                \
	{                                                                                          \
		size_t ng = cols / 32, rb = kern_row_bytes(KD_##NAME, cols), r = 0;                  \
		for (; r + 4 <= rows; r += 4)                                                      \
			rows_##NAME((const char *)w + r * rb, rb, ng, a, xs, y + r, 4);            \
		for (; r < rows; r++)                                                              \
			rows_##NAME((const char *)w + r * rb, rb, ng, a, xs, y + r, 1);            \
	}

/* The K types a superblock at a time: per row, its scales and offsets
 * (per half of each group of 32) decoded once into S and M, then each
 * group's bytes and two fmas. */
INLINE __m256i u_q4_k(const void *blk, int j)
{
	const struct kern_block_q4_k *b = blk;
	return nibble_half(b->qs + 32 * (j / 2), j % 2);
}

INLINE __m256i u_q5_k(const void *blk, int j)
{
	const struct kern_block_q5_k *b = blk;
	return _mm256_or_si256(nibble_half(b->qs + 32 * (j / 2), j % 2), high_bits(b->qh, j, 1));
}

INLINE __m256i u_q6_k(const void *blk, int j)
{
	const struct kern_block_q6_k *b = blk;
	int n = j / 4, r = j % 4;
	return _mm256_or_si256(nibble_half(b->ql + 64 * n + 32 * (r & 1), r >= 2),
			       high_bits(b->qh + 32 * n, 2 * r, 3));
}

/* Per superblock and row, as llama.cpp's vec_dot_q*_K_q8_K: the activations
 * share one scale over the superblock (kern_quantize_act_k), so the
 * sub-blocks' integer dots are weighted by their integer scales in int32,
 * and the superblock adds d d_x (that sum) - dmin d_x (mins . sums).  Q6_K's
 * offset of 32 comes off each pair in int16 (32 x the pair's activations). */
INLINE void sc_q4_k(const void *blk, int16_t sc[16], int32_t mn[8], float *d, float *dmin)
{
	const struct kern_block_q4_k *b = blk;
	for (int j = 0; j < 8; j++) {
		uint8_t s8, m8;
		scale_min_k4(j, b->scales, &s8, &m8);
		sc[2 * j] = sc[2 * j + 1] = s8;
		mn[j] = m8;
	}
	*d = f16(b->d), *dmin = f16(b->dmin);
}
#define sc_q5_k sc_q4_k

INLINE void sc_q6_k(const void *blk, int16_t sc[16], int32_t mn[8], float *d, float *dmin)
{
	const struct kern_block_q6_k *b = blk;
	for (int k = 0; k < 16; k++)
		sc[k] = b->scales[k];
	for (int j = 0; j < 8; j++)
		mn[j] = 0;
	*d = f16(b->d), *dmin = 0;
}

#define GGUF_KROWS(NAME, BLOCK, OFFSET32)                                                           \
	INLINE void rows_##NAME(const char *w, size_t rb, size_t ng, const struct kern_act_q8 *a,      \
				const __m256 *xs, float *y, int nr)                                    \
	{                                                                                          \
		(void)xs;                                                                          \
		__m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),         \
				 _mm256_setzero_ps()};                                                  \
		float macc[4] = {0, 0, 0, 0};                                                      \
		const __m256i ones8 = _mm256_set1_epi8(1);                                         \
		for (size_t sb = 0; sb < ng / 8; sb++) {                                           \
			const struct kern_act_q8 *as = a + 8 * sb;                                 \
			float dx = as[0].d;                                                        \
			_Pragma("GCC unroll 4") for (int r = 0; r < nr; r++) {                     \
				const BLOCK *blk = (const BLOCK *)(w + r * rb) + sb;               \
				int16_t sc[16];                                                    \
				int32_t mn[8], msum = 0;                                           \
				float d, dmin;                                                     \
				sc_##NAME(blk, sc, mn, &d, &dmin);                                 \
				__m256i isum = _mm256_setzero_si256();                             \
				for (int j = 0; j < 8; j++) {                                      \
					__m256i x = _mm256_loadu_si256((const __m256i *)as[j].qs); \
					__m256i p = _mm256_maddubs_epi16(u_##NAME(blk, j), x);     \
					if (OFFSET32)                                              \
						p = _mm256_sub_epi16(p, _mm256_slli_epi16(          \
							_mm256_maddubs_epi16(ones8, x), 5));        \
					__m256i s16 = _mm256_set_m128i(_mm_set1_epi16(sc[2 * j + 1]), \
								       _mm_set1_epi16(sc[2 * j])); \
					isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, s16));  \
					msum += mn[j] * as[j].sum;                                 \
				}                                                                  \
				acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(d * dx), acc[r]); \
				macc[r] -= dmin * dx * (float)msum;                                \
			}                                                                          \
		}                                                                                  \
		_Pragma("GCC unroll 4") for (int r = 0; r < nr; r++)                               \
			y[r] = hsum8(acc[r]) + macc[r];                                            \
	}                                                                                          \
	GGUF_GEMV_ACT(NAME)

#define KD_q4_1 KD_Q4_1
#define KD_q5_0 KD_Q5_0
#define KD_q5_1 KD_Q5_1
#define KD_q4_k KD_Q4_K
#define KD_q5_k KD_Q5_K
#define KD_q6_k KD_Q6_K
GGUF_ROWS(q4_1)
GGUF_ROWS(q5_0)
GGUF_ROWS(q5_1)
GGUF_KROWS(q4_k, struct kern_block_q4_k, 0)
GGUF_KROWS(q5_k, struct kern_block_q5_k, 0)
GGUF_KROWS(q6_k, struct kern_block_q6_k, 1)

typedef void gemv_act_fn(const void *w, const struct kern_act_q8 *a, const __m256 *xs, float *y,
			 size_t rows, size_t cols);

typedef void quantize_fn(const float *x, struct kern_act_q8 *out, size_t n);

static void gemv_with(gemv_act_fn *f, quantize_fn *quant, const void *w, const float *x, float *y,
		      size_t rows, size_t cols)
{
	size_t ng = cols / 32 ? cols / 32 : 1;
	struct kern_act_q8 a[ng];
	__m256 xs[ng];
	quant(x, a, cols);
	for (size_t g = 0; g < cols / 32; g++)
		xs[g] = act_sums(&a[g]);
	f(w, a, xs, y, rows, cols);
}

/* Prefill: X quantised once; threads take blocks of 16 weight rows and run
 * every token through them while they sit in L1. */
static void gemm_with(gemv_act_fn *f, quantize_fn *quant, enum kern_dtype t, const void *w,
		      const float *x, float *y, size_t n, size_t rows, size_t cols, int threads)
{
	size_t ng = cols / 32, rb = kern_row_bytes(t, cols);
	struct kern_act_q8 *a = malloc(n * ng * sizeof *a + 1);
	__m256 *xs = aligned_alloc(32, n * ng * sizeof *xs + 32);
	if (!a || !xs) {   /* no memory for the quantised prompt: a token at a time */
		free(a);
		free(xs);
		for (size_t i = 0; i < n; i++)
			gemv_with(f, quant, w, x + i * cols, y + i * rows, rows, cols);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		quant(x + i * cols, a + i * ng, cols);
		for (size_t g = 0; g < ng; g++)
			xs[i * ng + g] = act_sums(&a[i * ng + g]);
	}
	long blocks = (long)((rows + 15) / 16);
#pragma omp parallel for num_threads(threads > 0 ? threads : 1) schedule(static)
	for (long blk = 0; blk < blocks; blk++) {
		size_t r0 = (size_t)blk * 16, nr = rows - r0 < 16 ? rows - r0 : 16;
		float tmp[16];
		for (size_t i = 0; i < n; i++) {
			f((const char *)w + r0 * rb, a + i * ng, xs + i * ng, tmp, nr, cols);
			memcpy(y + i * rows + r0, tmp, nr * sizeof(float));
		}
	}
	free(a);
	free(xs);
}

#define GGUF_ENTRY(NAME, QUANTIZE)                                                                \
	static void gemv_##NAME(const void *w, const float *x, float *y, size_t rows, size_t cols) \
	{                                                                                        \
		gemv_with(gemv_act_##NAME, QUANTIZE, w, x, y, rows, cols);                       \
	}                                                                                        \
	static void gemm_##NAME(const void *w, const float *x, float *y, size_t n, size_t rows,   \
				size_t cols, int threads)                                        \
	{                                                                                        \
		gemm_with(gemv_act_##NAME, QUANTIZE, KD_##NAME, w, x, y, n, rows, cols, threads); \
	}
GGUF_ENTRY(q4_1, quantize)
GGUF_ENTRY(q5_0, quantize)
GGUF_ENTRY(q5_1, quantize)
GGUF_ENTRY(q4_k, kern_quantize_act_k)
GGUF_ENTRY(q5_k, kern_quantize_act_k)
GGUF_ENTRY(q6_k, kern_quantize_act_k)

/* ggml's dequantize_row_q4_1, eight values at a time: the product and the
 * sum kept apart (not fused), as the reference rounds them. */
static void q4_1_to_f32(const void *src, float *dst, size_t n)
{
	const struct kern_block_q4_1 *b = src;
	for (size_t i = 0; i < n / 32; i++) {
		__m256 d = _mm256_set1_ps(f16(b[i].d)), m = _mm256_set1_ps(f16(b[i].m));
		__m256i q = nibbles(b[i].qs);
		__m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
		__m128i parts[4] = {lo, _mm_unpackhi_epi64(lo, lo), hi, _mm_unpackhi_epi64(hi, hi)};
		for (int k = 0; k < 4; k++) {
			__m256 v = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(parts[k]));
			_mm256_storeu_ps(dst + i * 32 + 8 * k, _mm256_add_ps(_mm256_mul_ps(v, d), m));
		}
	}
}

/* --- Q4_1 packed (kernels/pack_gguf.c): 16 rows side by side ---
 * As the Q4_0 packed kernels of avx2.c/avx512.c: four activation bytes
 * broadcast to every lane, each lane a row; the nibbles unsigned, so no
 * offset comes off, and each row's m times the block's sum goes on. */
#define PR KERN_PACK_ROWS

INLINE __m256i bcast4(const int8_t *p)
{
	int32_t v;
	memcpy(&v, p, 4);
	return _mm256_set1_epi32(v);
}

#ifndef GGUF_VNNI
/* y[i][0..16) for T <= 2 tokens through one group of 16 rows (nb blocks). */
INLINE void q4_1_group(const uint8_t *grp, size_t nb, const struct kern_act_q8 *const *a, int T,
		       float *const *y)
{
	const size_t gb = PR * sizeof(struct kern_block_q4_1);
	const __m256i m = _mm256_set1_epi8(0x0f);
	__m256 acc[2][2] = {{_mm256_setzero_ps(), _mm256_setzero_ps()}, {_mm256_setzero_ps(), _mm256_setzero_ps()}};
	for (size_t b = 0; b < nb; b++) {
		const uint8_t *o = grp + b * gb;
		_Pragma("GCC unroll 2") for (int h = 0; h < 2; h++) {
			__m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(o + 16 * h)));
			__m256 mw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(o + 32 + 16 * h)));
			__m256i isum[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
			_Pragma("GCC unroll 4") for (int k = 0; k < 4; k++) {
				__m256i v = _mm256_loadu_si256((const __m256i *)(o + 64 + k * 64 + 32 * h));
				__m256i lo = _mm256_and_si256(v, m), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m);
				_Pragma("GCC unroll 2") for (int i = 0; i < T; i++) {
#ifdef GGUF_VNNI
					isum[i] = _mm256_dpbusd_epi32(isum[i], lo, bcast4(a[i][b].qs + 4 * k));
					isum[i] = _mm256_dpbusd_epi32(isum[i], hi, bcast4(a[i][b].qs + 16 + 4 * k));
#else
					__m256i p = _mm256_add_epi16(_mm256_maddubs_epi16(lo, bcast4(a[i][b].qs + 4 * k)),
								     _mm256_maddubs_epi16(hi, bcast4(a[i][b].qs + 16 + 4 * k)));
					isum[i] = _mm256_add_epi32(isum[i], _mm256_madd_epi16(p, _mm256_set1_epi16(1)));
#endif
				}
			}
			_Pragma("GCC unroll 2") for (int i = 0; i < T; i++) {
				__m256 dx = _mm256_set1_ps(a[i][b].d);
				acc[i][h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[i]), _mm256_mul_ps(dw, dx), acc[i][h]);
				acc[i][h] = _mm256_fmadd_ps(mw, _mm256_set1_ps(a[i][b].d * (float)a[i][b].sum), acc[i][h]);
			}
		}
	}
	for (int i = 0; i < T; i++) {
		_mm256_storeu_ps(y[i], acc[i][0]);
		_mm256_storeu_ps(y[i] + 8, acc[i][1]);
	}
}

/* kern_chunk_fn: tokens [0, n) through groups [g0, g1), two per weight load. */
static void chunk_q4_1(const void *wv, size_t g0, size_t g1, size_t nb, const struct kern_act_q8 *a,
		       float *y, size_t n, size_t rows)
{
	const uint8_t *w = wv;
	size_t gb = PR * sizeof(struct kern_block_q4_1), i = 0;
	for (; i + 2 <= n; i += 2) {
		const struct kern_act_q8 *ap[2] = {a + i * nb, a + (i + 1) * nb};
		for (size_t g = g0; g < g1; g++) {
			float *yp[2] = {y + i * rows + g * PR, y + (i + 1) * rows + g * PR};
			q4_1_group(w + g * nb * gb, nb, ap, 2, yp);
		}
	}
	for (; i < n; i++) {
		const struct kern_act_q8 *ap[1] = {a + i * nb};
		for (size_t g = g0; g < g1; g++) {
			float *yp[1] = {y + i * rows + g * PR};
			q4_1_group(w + g * nb * gb, nb, ap, 1, yp);
		}
	}
}

#endif

/* --- Q4_K packed (kernels/pack_gguf.c): 16 rows side by side, a
 * superblock at a time: the rows' scales and mins decoded (scalar, once per
 * 16 rows and 256 columns), each sub-block's dot accumulated per row lane,
 * weighted by the row's scale in int32 as in vec_dot_q4_K_q8_K. --- */
INLINE __m256i dot_acc(__m256i acc, __m256i u, __m256i x)
{
#ifdef GGUF_VNNI
	return _mm256_dpbusd_epi32(acc, u, x);
#else
	return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, x), _mm256_set1_epi16(1)));
#endif
}

/* acc + the pairs of p16 weighted by w16, summed per 32-bit lane. */
INLINE __m256i madd_acc(__m256i acc, __m256i p16, __m256i w16)
{
#ifdef GGUF_VNNI
	return _mm256_dpwssd_epi32(acc, p16, w16);
#else
	return _mm256_add_epi32(acc, _mm256_madd_epi16(p16, w16));
#endif
}

#ifndef GGUF_VNNI
INLINE void q4_k_group(const uint8_t *grp, size_t nsb, const struct kern_act_q8 *const *a, int T,
		       float *const *y)
{
	const size_t gb = PR * sizeof(struct kern_block_q4_k);
	const __m256i m4 = _mm256_set1_epi8(0x0f);
	__m256 acc[2][2] = {{_mm256_setzero_ps(), _mm256_setzero_ps()}, {_mm256_setzero_ps(), _mm256_setzero_ps()}};
	for (size_t s = 0; s < nsb; s++) {
		const uint8_t *o = grp + s * gb;
		/* per row lane: sub-block j's scale in both 16-bit halves; the mins
		 * of pair p (sub-blocks 2p, 2p+1) as the two halves */
		uint32_t sc[8][PR], mn[4][PR];
		for (int r = 0; r < PR; r++) {
			uint8_t s8[8], m8[8];
			uint8_t q[12];
			for (int i = 0; i < 12; i++)
				q[i] = o[64 + 16 * i + r];
			for (int j = 0; j < 8; j++)
				scale_min_k4(j, q, &s8[j], &m8[j]);
			for (int j = 0; j < 8; j++)
				sc[j][r] = s8[j] * 0x10001u;
			for (int p = 0; p < 4; p++)
				mn[p][r] = m8[2 * p] | (uint32_t)m8[2 * p + 1] << 16;
		}
		_Pragma("GCC unroll 2") for (int h = 0; h < 2; h++) {
			__m256i isum[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
			__m256i msum[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
			for (int p = 0; p < 4; p++) {
				__m256i sc_lo = _mm256_loadu_si256((const __m256i *)&sc[2 * p][8 * h]);
				__m256i sc_hi = _mm256_loadu_si256((const __m256i *)&sc[2 * p + 1][8 * h]);
				_Pragma("GCC unroll 8") for (int k = 0; k < 8; k++) {
					__m256i v = _mm256_loadu_si256((const __m256i *)(o + 256 + (p * 8 + k) * 64 + 32 * h));
					__m256i lo = _mm256_and_si256(v, m4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
					_Pragma("GCC unroll 2") for (int i = 0; i < T; i++) {
						const struct kern_act_q8 *as = a[i] + 8 * s;
						isum[i] = madd_acc(isum[i], _mm256_maddubs_epi16(lo, bcast4(as[2 * p].qs + 4 * k)), sc_lo);
						isum[i] = madd_acc(isum[i], _mm256_maddubs_epi16(hi, bcast4(as[2 * p + 1].qs + 4 * k)), sc_hi);
					}
				}
				__m256i mn_p = _mm256_loadu_si256((const __m256i *)&mn[p][8 * h]);
				_Pragma("GCC unroll 2") for (int i = 0; i < T; i++) {
					const struct kern_act_q8 *as = a[i] + 8 * s;
					uint32_t sums = (uint16_t)as[2 * p].sum | (uint32_t)(uint16_t)as[2 * p + 1].sum << 16;
					msum[i] = madd_acc(msum[i], mn_p, _mm256_set1_epi32((int)sums));
				}
			}
			__m256 dv = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(o + 16 * h)));
			__m256 dmv = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(o + 32 + 16 * h)));
			_Pragma("GCC unroll 2") for (int i = 0; i < T; i++) {
				__m256 dx = _mm256_set1_ps(a[i][8 * s].d);
				acc[i][h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[i]), _mm256_mul_ps(dv, dx), acc[i][h]);
				acc[i][h] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(msum[i]), _mm256_mul_ps(dmv, dx), acc[i][h]);
			}
		}
	}
	for (int i = 0; i < T; i++) {
		_mm256_storeu_ps(y[i], acc[i][0]);
		_mm256_storeu_ps(y[i] + 8, acc[i][1]);
	}
}

static void chunk_q4_k(const void *wv, size_t g0, size_t g1, size_t ng, const struct kern_act_q8 *a,
		       float *y, size_t n, size_t rows)
{
	const uint8_t *w = wv;
	size_t nsb = ng / 8, gb = PR * sizeof(struct kern_block_q4_k), i = 0;
	for (; i + 2 <= n; i += 2) {
		const struct kern_act_q8 *ap[2] = {a + i * ng, a + (i + 1) * ng};
		for (size_t g = g0; g < g1; g++) {
			float *yp[2] = {y + i * rows + g * PR, y + (i + 1) * rows + g * PR};
			q4_k_group(w + g * nsb * gb, nsb, ap, 2, yp);
		}
	}
	for (; i < n; i++) {
		const struct kern_act_q8 *ap[1] = {a + i * ng};
		for (size_t g = g0; g < g1; g++) {
			float *yp[1] = {y + i * rows + g * PR};
			q4_k_group(w + g * nsb * gb, nsb, ap, 1, yp);
		}
	}
}

#endif

#ifdef GGUF_VNNI
/* --- AVX-512 VNNI versions of the packed K kernels: each 64-byte chunk
 * holds 4 bytes of all 16 rows, one zmm lane a row, so one vpdpbusd per
 * chunk and nibble half with the activation's 4 bytes broadcast; the
 * sub-block dots (int32, exact) are weighted by the rows' integer scales
 * with vpmulld, and a superblock's sum goes to float once, as
 * vec_dot_q4_K_q8_K / vec_dot_q6_K_q8_K.  Up to 4 tokens share each weight
 * load (prefill). --- */
/* Software prefetch this many bytes ahead of the weight stream, one line
 * per line read (measured on Zen 4, a 75 MB Q4_K matrix at one thread:
 * 12-16 GB/s without, 23-31 with 2-8 KB, a plain read pass 30). */
#ifndef GGUF_PF_DIST
#define GGUF_PF_DIST 4096
#endif
#define PREFETCH(p) do { if (GGUF_PF_DIST) _mm_prefetch((const char *)(p) + GGUF_PF_DIST, _MM_HINT_T0); } while (0)

INLINE __m512i bc4(const int8_t *p)
{
	int32_t v;
	memcpy(&v, p, 4);
	return _mm512_set1_epi32(v);
}

/* kern_quantize_act_k, the same bytes, 16 values at a time: the scale is
 * -127 over the value of largest magnitude (the first such, as the
 * reference scans), the codes rounded to nearest even as lrintf rounds. */
static void quantize_k_512(const float *x, struct kern_act_q8 *out, size_t n)
{
	for (size_t sb = 0; sb < n / KERN_QK_K; sb++) {
		const float *v = x + sb * KERN_QK_K;
		__m512 amaxv = _mm512_setzero_ps();
		__mmask16 bad = 0;
		for (int j = 0; j < KERN_QK_K; j += 16) {
			__m512 a = _mm512_abs_ps(_mm512_loadu_ps(v + j));
			bad |= _mm512_cmp_ps_mask(a, _mm512_set1_ps(INFINITY), _CMP_NLT_UQ);   /* inf or NaN */
			amaxv = _mm512_max_ps(amaxv, a);
		}
		float amax = _mm512_reduce_max_ps(amaxv), max = 0;
		for (int j = 0; j < KERN_QK_K && amax > 0 && !bad; j += 16) {
			__mmask16 at = _mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_loadu_ps(v + j)), _mm512_set1_ps(amax), _CMP_EQ_OQ);
			if (at) {
				max = v[j + __builtin_ctz(at)];
				break;
			}
		}
		float iscale = !bad && amax > 0 ? -127.f / max : 0;
		__m512 is = _mm512_set1_ps(iscale);
		for (int g = 0; g < 8; g++) {
			struct kern_act_q8 *o = &out[sb * 8 + g];
			if (!iscale) {   /* zeros, or a NaN or infinity: codes 0 (0 x inf would be NaN) */
				memset(o->qs, 0, sizeof o->qs);
				o->sum = 0;
				o->d = bad ? NAN : 0;
				continue;
			}
			__m512i q0 = _mm512_min_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(is, _mm512_loadu_ps(v + 32 * g))),
						      _mm512_set1_epi32(127));
			__m512i q1 = _mm512_min_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(is, _mm512_loadu_ps(v + 32 * g + 16))),
						      _mm512_set1_epi32(127));
			_mm_storeu_si128((__m128i *)o->qs, _mm512_cvtsepi32_epi8(q0));
			_mm_storeu_si128((__m128i *)(o->qs + 16), _mm512_cvtsepi32_epi8(q1));
			o->sum = _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
			o->d = 1 / iscale;
		}
	}
}

/* Q4_K's 6-bit scales and mins of sub-blocks 0..7 for the 16 rows, one
 * byte a row (ggml's get_scale_min_k4 on 16 rows at once), from the
 * index-major 12 scale bytes of kernels/pack_gguf.c. */
INLINE void q4_k_scales16(const uint8_t *o, __m128i sc[8], __m128i mn[8])
{
	__m128i b[12];
	const __m128i m6 = _mm_set1_epi8(63), m4 = _mm_set1_epi8(0x0f), m30 = _mm_set1_epi8(0x30);
	for (int i = 0; i < 12; i++)
		b[i] = _mm_loadu_si128((const __m128i *)(o + 16 * i));
	for (int j = 0; j < 4; j++) {
		sc[j] = _mm_and_si128(b[j], m6);
		mn[j] = _mm_and_si128(b[j + 4], m6);
		/* (x >> 6) << 4 is (x >> 2) & 0x30 */
		sc[j + 4] = _mm_or_si128(_mm_and_si128(b[j + 8], m4), _mm_and_si128(_mm_srli_epi16(b[j], 2), m30));
		mn[j + 4] = _mm_or_si128(_mm_and_si128(_mm_srli_epi16(b[j + 8], 4), m4),
					 _mm_and_si128(_mm_srli_epi16(b[j + 4], 2), m30));
	}
}

INLINE void q4_k_group512(const uint8_t *grp, size_t nsb, const struct kern_act_q8 *const *a,
			  const int32_t *const *off, int T, float *const *y)
{
	(void)off;
	const size_t gb = PR * sizeof(struct kern_block_q4_k);
	const __m512i m4 = _mm512_set1_epi8(0x0f);
	__m512 acc[4];
	for (int i = 0; i < T; i++)
		acc[i] = _mm512_setzero_ps();
	for (size_t s = 0; s < nsb; s++) {
		const uint8_t *o = grp + s * gb;
		__m128i sc[8], mn[8];
		q4_k_scales16(o + 64, sc, mn);
		__m512i isum[4], msum[4];
		for (int i = 0; i < T; i++)
			isum[i] = msum[i] = _mm512_setzero_si512();
		_Pragma("GCC unroll 1") for (int p = 0; p < 4; p++) {
			__m512i dl[4], dh[4];
			for (int i = 0; i < T; i++)
				dl[i] = dh[i] = _mm512_setzero_si512();
			const uint8_t *q = o + 256 + p * 8 * 64;
			_Pragma("GCC unroll 8") for (int k = 0; k < 8; k++) {
				PREFETCH(q + 64 * k);
				__m512i v = _mm512_loadu_si512(q + 64 * k);
				__m512i lo = _mm512_and_si512(v, m4), hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
				_Pragma("GCC unroll 4") for (int i = 0; i < T; i++) {
					const struct kern_act_q8 *as = a[i] + 8 * s + 2 * p;
					dl[i] = _mm512_dpbusd_epi32(dl[i], lo, bc4(as[0].qs + 4 * k));
					dh[i] = _mm512_dpbusd_epi32(dh[i], hi, bc4(as[1].qs + 4 * k));
				}
			}
			__m512i sl = _mm512_cvtepu8_epi32(sc[2 * p]), sh = _mm512_cvtepu8_epi32(sc[2 * p + 1]);
			__m512i ml = _mm512_cvtepu8_epi32(mn[2 * p]), mh = _mm512_cvtepu8_epi32(mn[2 * p + 1]);
			_Pragma("GCC unroll 4") for (int i = 0; i < T; i++) {
				const struct kern_act_q8 *as = a[i] + 8 * s + 2 * p;
				isum[i] = _mm512_add_epi32(isum[i], _mm512_add_epi32(_mm512_mullo_epi32(dl[i], sl),
										   _mm512_mullo_epi32(dh[i], sh)));
				msum[i] = _mm512_add_epi32(msum[i], _mm512_add_epi32(
					_mm512_mullo_epi32(ml, _mm512_set1_epi32(as[0].sum)),
					_mm512_mullo_epi32(mh, _mm512_set1_epi32(as[1].sum))));
			}
		}
		__m512 dv = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)o));
		__m512 dmv = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(o + 32)));
		_Pragma("GCC unroll 4") for (int i = 0; i < T; i++) {
			__m512 dx = _mm512_set1_ps(a[i][8 * s].d);
			acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[i]), _mm512_mul_ps(dv, dx), acc[i]);
			acc[i] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(msum[i]), _mm512_mul_ps(dmv, dx), acc[i]);
		}
	}
	for (int i = 0; i < T; i++)
		_mm512_storeu_ps(y[i], acc[i]);
}

/* Q6_K: the codes made whole from a ql nibble and a qh pair moved to bits
 * 4-5; the offset of 32 comes off each sub-block's dot as 32 x the sum of
 * its 16 activation codes (off, per token: -32 sum for sub-block 16 sb + i). */
INLINE void q6_k_group512(const uint8_t *grp, size_t nsb, const struct kern_act_q8 *const *a,
			  const int32_t *const *off, int T, float *const *y)
{
	const size_t gb = PR * sizeof(struct kern_block_q6_k);
	const __m512i m4 = _mm512_set1_epi8(0x0f), m30 = _mm512_set1_epi8(0x30);
	__m512 acc[4];
	for (int i = 0; i < T; i++)
		acc[i] = _mm512_setzero_ps();
	for (size_t s = 0; s < nsb; s++) {
		const uint8_t *o = grp + s * gb;
		__m512i isum[4];
		for (int i = 0; i < T; i++)
			isum[i] = _mm512_setzero_si512();
		_Pragma("GCC unroll 1") for (int n = 0; n < 2; n++)
			_Pragma("GCC unroll 1") for (int hh = 0; hh < 2; hh++) {
				/* groups 4n + 0..3, values 16 hh .. 16 hh + 15 of each */
				__m512i d[4][4];
				for (int i = 0; i < T; i++)
					d[i][0] = d[i][1] = d[i][2] = d[i][3] = _mm512_setzero_si512();
				_Pragma("GCC unroll 4") for (int k = 4 * hh; k < 4 * hh + 4; k++) {
					PREFETCH(o + 288 + (n * 16 + k) * 64);
					PREFETCH(o + 288 + (n * 16 + 8 + k) * 64);
					PREFETCH(o + 2336 + (n * 8 + k) * 64);
					__m512i vh = _mm512_loadu_si512(o + 2336 + (n * 8 + k) * 64);
					__m512i v0 = _mm512_loadu_si512(o + 288 + (n * 16 + k) * 64);
					__m512i v1 = _mm512_loadu_si512(o + 288 + (n * 16 + 8 + k) * 64);
					__m512i u0 = _mm512_or_si512(_mm512_and_si512(v0, m4),
								     _mm512_and_si512(_mm512_slli_epi16(vh, 4), m30));
					__m512i u1 = _mm512_or_si512(_mm512_and_si512(v1, m4),
								     _mm512_and_si512(_mm512_slli_epi16(vh, 2), m30));
					__m512i u2 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(v0, 4), m4),
								     _mm512_and_si512(vh, m30));
					__m512i u3 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(v1, 4), m4),
								     _mm512_and_si512(_mm512_srli_epi16(vh, 2), m30));
					_Pragma("GCC unroll 4") for (int i = 0; i < T; i++) {
						const struct kern_act_q8 *as = a[i] + 8 * s + 4 * n;
						d[i][0] = _mm512_dpbusd_epi32(d[i][0], u0, bc4(as[0].qs + 4 * k));
						d[i][1] = _mm512_dpbusd_epi32(d[i][1], u1, bc4(as[1].qs + 4 * k));
						d[i][2] = _mm512_dpbusd_epi32(d[i][2], u2, bc4(as[2].qs + 4 * k));
						d[i][3] = _mm512_dpbusd_epi32(d[i][3], u3, bc4(as[3].qs + 4 * k));
					}
				}
				_Pragma("GCC unroll 4") for (int g = 0; g < 4; g++) {
					int idx = 2 * (4 * n + g) + hh;    /* sub-block of 16 */
					__m512i scv = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(o + 32 + 16 * idx)));
					_Pragma("GCC unroll 4") for (int i = 0; i < T; i++)
						isum[i] = _mm512_add_epi32(isum[i], _mm512_mullo_epi32(scv,
							_mm512_add_epi32(d[i][g], _mm512_set1_epi32(off[i][16 * s + idx]))));
				}
			}
		__m512 dv = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)o));
		_Pragma("GCC unroll 4") for (int i = 0; i < T; i++)
			acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[i]),
						 _mm512_mul_ps(dv, _mm512_set1_ps(a[i][8 * s].d)), acc[i]);
	}
	for (int i = 0; i < T; i++)
		_mm512_storeu_ps(y[i], acc[i]);
}

/* -32 x the sum of each 16 activation codes of one token's nb blocks. */
static void q6_k_offsets(const struct kern_act_q8 *a, size_t nb, int32_t *off)
{
	for (size_t b = 0; b < nb; b++) {
		__m128i x0 = _mm_loadu_si128((const __m128i *)a[b].qs), x1 = _mm_loadu_si128((const __m128i *)(a[b].qs + 16));
		/* signed byte sums through sad on x ^ 0x80 (x + 128), less 16 x 128 */
		const __m128i flip = _mm_set1_epi8((char)0x80), z = _mm_setzero_si128();
		__m128i s0 = _mm_sad_epu8(_mm_xor_si128(x0, flip), z), s1 = _mm_sad_epu8(_mm_xor_si128(x1, flip), z);
		int32_t t0 = _mm_cvtsi128_si32(s0) + _mm_extract_epi16(s0, 4) - 2048;
		int32_t t1 = _mm_cvtsi128_si32(s1) + _mm_extract_epi16(s1, 4) - 2048;
		off[2 * b] = -32 * t0;
		off[2 * b + 1] = -32 * t1;
	}
}

/* Q4_1 (kernels/pack_gguf.c's layout), as the Q4_0 kernel of avx512.c:
 * per block of 32 the 16 rows' dots in one zmm, the unsigned nibbles needing
 * no offset, each row's m times the block's activation sum added. */
INLINE void q4_1_group512(const uint8_t *grp, size_t nb, const struct kern_act_q8 *const *a,
			  const int32_t *const *off, int T, float *const *y)
{
	(void)off;
	const size_t gb = PR * sizeof(struct kern_block_q4_1);
	const __m512i m4 = _mm512_set1_epi8(0x0f);
	__m512 acc[4];
	for (int i = 0; i < T; i++)
		acc[i] = _mm512_setzero_ps();
	for (size_t b = 0; b < nb; b++) {
		const uint8_t *o = grp + b * gb;
		__m512i s0[4], s1[4];
		for (int i = 0; i < T; i++)
			s0[i] = s1[i] = _mm512_setzero_si512();
		_Pragma("GCC unroll 4") for (int k = 0; k < 4; k++) {
			PREFETCH(o + 64 + 64 * k);
			__m512i v = _mm512_loadu_si512(o + 64 + 64 * k);
			__m512i lo = _mm512_and_si512(v, m4), hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
			_Pragma("GCC unroll 4") for (int i = 0; i < T; i++) {
				s0[i] = _mm512_dpbusd_epi32(s0[i], lo, bc4(a[i][b].qs + 4 * k));
				s1[i] = _mm512_dpbusd_epi32(s1[i], hi, bc4(a[i][b].qs + 16 + 4 * k));
			}
		}
		__m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)o));
		__m512 mw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(o + 32)));
		_Pragma("GCC unroll 4") for (int i = 0; i < T; i++) {
			float dx = a[i][b].d;
			acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(s0[i], s1[i])),
						 _mm512_mul_ps(dw, _mm512_set1_ps(dx)), acc[i]);
			acc[i] = _mm512_fmadd_ps(mw, _mm512_set1_ps(dx * (float)a[i][b].sum), acc[i]);
		}
	}
	for (int i = 0; i < T; i++)
		_mm512_storeu_ps(y[i], acc[i]);
}

/* Tokens [0, n) through groups [g0, g1), T at a time (4, then what is
 * left); OFFSETS: Q6_K's per-token sums, made once per chunk. */
#define GGUF_CHUNK512(NAME, BLOCK, OFFSETS, STEPS)                                                          \
	static void chunk_##NAME##_512(const void *wv, size_t g0, size_t g1, size_t ng,               \
				       const struct kern_act_q8 *a, float *y, size_t n, size_t rows)   \
	{                                                                                          \
		const uint8_t *w = wv;                                                             \
		size_t nsb = STEPS, gb = PR * sizeof(BLOCK), i = 0;                                \
		int32_t offs[4][OFFSETS ? 2 * ng : 1];                                             \
		const int32_t *op[4] = {offs[0], offs[1], offs[2], offs[3]};                       \
		while (i < n) {                                                                    \
			int T = n - i >= 4 ? 4 : (int)(n - i);                                     \
			const struct kern_act_q8 *ap[4];                                           \
			float tmp[4][PR], *yp[4] = {tmp[0], tmp[1], tmp[2], tmp[3]};               \
			for (int k = 0; k < T; k++) {                                              \
				ap[k] = a + (i + (size_t)k) * ng;                                  \
				if (OFFSETS)                                                       \
					q6_k_offsets(ap[k], ng, offs[k]);                          \
			}                                                                          \
			for (size_t g = g0; g < g1; g++) {                                         \
				const uint8_t *grp = w + g * nsb * gb;                             \
				switch (T) {                                                       \
				case 4: NAME##_group512(grp, nsb, ap, op, 4, yp); break;           \
				case 3: NAME##_group512(grp, nsb, ap, op, 3, yp); break;           \
				case 2: NAME##_group512(grp, nsb, ap, op, 2, yp); break;           \
				default: NAME##_group512(grp, nsb, ap, op, 1, yp); break;          \
				}                                                                  \
				for (int k = 0; k < T; k++)                                        \
					memcpy(y + (i + (size_t)k) * rows + g * PR, tmp[k], sizeof tmp[k]); \
			}                                                                          \
			i += (size_t)T;                                                            \
		}                                                                                  \
	}
GGUF_CHUNK512(q4_1, struct kern_block_q4_1, 0, ng)
GGUF_CHUNK512(q4_k, struct kern_block_q4_k, 0, ng / 8)
GGUF_CHUNK512(q6_k, struct kern_block_q6_k, 1, ng / 8)
#define CHUNK_Q4_K chunk_q4_k_512
#define CHUNK_Q6_K chunk_q6_k_512
#define QUANTIZE_K quantize_k_512
#define CHUNK_Q4_1 chunk_q4_1_512
#else
#define CHUNK_Q4_1 chunk_q4_1
#define QUANTIZE_K kern_quantize_act_k
#define CHUNK_Q4_K chunk_q4_k
#define CHUNK_Q6_K chunk_q6_k
#endif

static void gemv_q4_1_packed(const void *w, const float *x, float *y, size_t rows, size_t cols)
{
	kern_packed_gemv(quantize, CHUNK_Q4_1, w, x, y, rows, cols);
}

static void gemm_q4_1_packed(const void *w, const float *x, float *y, size_t n, size_t rows, size_t cols,
			     int threads)
{
	kern_packed_gemm(quantize, CHUNK_Q4_1, w, x, y, n, rows, cols, threads);
}


static void gemv_q4_k_packed(const void *w, const float *x, float *y, size_t rows, size_t cols)
{
	kern_packed_gemv(QUANTIZE_K, CHUNK_Q4_K, w, x, y, rows, cols);
}

static void gemm_q4_k_packed(const void *w, const float *x, float *y, size_t n, size_t rows, size_t cols,
			     int threads)
{
	kern_packed_gemm(QUANTIZE_K, CHUNK_Q4_K, w, x, y, n, rows, cols, threads);
}

#ifndef GGUF_VNNI
/* Q6_K packed (kernels/pack_gguf.c): as Q4_K's, the codes made whole from
 * their ql nibble and qh pair, the offset of 32 as 32 x the scale-weighted
 * sums of the activations' halves. */
INLINE void q6_k_group(const uint8_t *grp, size_t nsb, const struct kern_act_q8 *const *a, int T,
		       float *const *y)
{
	const size_t gb = PR * sizeof(struct kern_block_q6_k);
	const __m256i m4 = _mm256_set1_epi8(0x0f), m2 = _mm256_set1_epi8(3);
	__m256 acc[2][2] = {{_mm256_setzero_ps(), _mm256_setzero_ps()}, {_mm256_setzero_ps(), _mm256_setzero_ps()}};
	for (size_t s = 0; s < nsb; s++) {
		const uint8_t *o = grp + s * gb;
		int32_t xs[2][8][2];     /* token, group, half: the sum of 16 activation codes */
		for (int i = 0; i < T; i++)
			for (int g = 0; g < 8; g++)
				for (int hh = 0; hh < 2; hh++) {
					int32_t sum = 0;
					for (int l = 0; l < 16; l++)
						sum += a[i][8 * s + g].qs[16 * hh + l];
					xs[i][g][hh] = sum;
				}
		_Pragma("GCC unroll 2") for (int h = 0; h < 2; h++) {
			__m256i isum[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
			__m256i osum[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
			for (int n = 0; n < 2; n++)
				for (int q = 0; q < 2; q++)
					for (int hh = 0; hh < 2; hh++) {
						int glo = 4 * n + q, ghi = glo + 2;
						__m256i lo_acc[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
						__m256i hi_acc[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
						_Pragma("GCC unroll 4") for (int k = 4 * hh; k < 4 * hh + 4; k++) {
							__m256i vl = _mm256_loadu_si256((const __m256i *)(o + 288 + ((n * 2 + q) * 8 + k) * 64 + 32 * h));
							__m256i vh = _mm256_loadu_si256((const __m256i *)(o + 2336 + (n * 8 + k) * 64 + 32 * h));
							__m256i ulo = _mm256_or_si256(_mm256_and_si256(vl, m4),
								_mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(vh, 2 * q), m2), 4));
							__m256i uhi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(vl, 4), m4),
								_mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(vh, 2 * q + 4), m2), 4));
							_Pragma("GCC unroll 2") for (int i = 0; i < T; i++) {
								lo_acc[i] = dot_acc(lo_acc[i], ulo, bcast4(a[i][8 * s + glo].qs + 4 * k));
								hi_acc[i] = dot_acc(hi_acc[i], uhi, bcast4(a[i][8 * s + ghi].qs + 4 * k));
							}
						}
						int ilo = 8 * n + 2 * q + hh, ihi = 8 * n + 2 * (q + 2) + hh;
						__m256i sclo = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(o + 32 + 16 * ilo + 8 * h)));
						__m256i schi = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(o + 32 + 16 * ihi + 8 * h)));
						_Pragma("GCC unroll 2") for (int i = 0; i < T; i++) {
							isum[i] = _mm256_add_epi32(isum[i], _mm256_add_epi32(_mm256_mullo_epi32(lo_acc[i], sclo),
													  _mm256_mullo_epi32(hi_acc[i], schi)));
							osum[i] = _mm256_add_epi32(osum[i], _mm256_add_epi32(
								_mm256_mullo_epi32(sclo, _mm256_set1_epi32(xs[i][glo][hh])),
								_mm256_mullo_epi32(schi, _mm256_set1_epi32(xs[i][ghi][hh]))));
						}
					}
			__m256 dv = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(o + 16 * h)));
			_Pragma("GCC unroll 2") for (int i = 0; i < T; i++) {
				__m256i v = _mm256_sub_epi32(isum[i], _mm256_slli_epi32(osum[i], 5));
				acc[i][h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(v),
							    _mm256_mul_ps(dv, _mm256_set1_ps(a[i][8 * s].d)), acc[i][h]);
			}
		}
	}
	for (int i = 0; i < T; i++) {
		_mm256_storeu_ps(y[i], acc[i][0]);
		_mm256_storeu_ps(y[i] + 8, acc[i][1]);
	}
}

static void chunk_q6_k(const void *wv, size_t g0, size_t g1, size_t ng, const struct kern_act_q8 *a,
		       float *y, size_t n, size_t rows)
{
	const uint8_t *w = wv;
	size_t nsb = ng / 8, gb = PR * sizeof(struct kern_block_q6_k), i = 0;
	for (; i + 2 <= n; i += 2) {
		const struct kern_act_q8 *ap[2] = {a + i * ng, a + (i + 1) * ng};
		for (size_t g = g0; g < g1; g++) {
			float *yp[2] = {y + i * rows + g * PR, y + (i + 1) * rows + g * PR};
			q6_k_group(w + g * nsb * gb, nsb, ap, 2, yp);
		}
	}
	for (; i < n; i++) {
		const struct kern_act_q8 *ap[1] = {a + i * ng};
		for (size_t g = g0; g < g1; g++) {
			float *yp[1] = {y + i * rows + g * PR};
			q6_k_group(w + g * nsb * gb, nsb, ap, 1, yp);
		}
	}
}

#endif

static void gemv_q6_k_packed(const void *w, const float *x, float *y, size_t rows, size_t cols)
{
	kern_packed_gemv(QUANTIZE_K, CHUNK_Q6_K, w, x, y, rows, cols);
}

static void gemm_q6_k_packed(const void *w, const float *x, float *y, size_t n, size_t rows, size_t cols,
			     int threads)
{
	kern_packed_gemm(QUANTIZE_K, CHUNK_Q6_K, w, x, y, n, rows, cols, threads);
}

void GGUF_FILL(struct kern_ops *t)
{
	t->pack[KD_Q6_K] = kern_pack_q6_k;
	t->gemv_packed[KD_Q6_K] = gemv_q6_k_packed;
	t->gemm_packed[KD_Q6_K] = gemm_q6_k_packed;
	t->packed_row_f32[KD_Q6_K] = kern_packed_row_q6_k;
	t->pack[KD_Q4_K] = kern_pack_q4_k;
	t->gemv_packed[KD_Q4_K] = gemv_q4_k_packed;
	t->gemm_packed[KD_Q4_K] = gemm_q4_k_packed;
	t->packed_row_f32[KD_Q4_K] = kern_packed_row_q4_k;
	t->pack[KD_Q4_1] = kern_pack_q4_1;
	t->gemv_packed[KD_Q4_1] = gemv_q4_1_packed;
	t->gemm_packed[KD_Q4_1] = gemm_q4_1_packed;
	t->packed_row_f32[KD_Q4_1] = kern_packed_row_q4_1;
	quantize = t->quantize_act;
#ifdef GGUF_VNNI
	t->quantize_act_k = quantize_k_512;
#endif
	t->gemv[KD_Q4_1] = gemv_q4_1, t->gemm[KD_Q4_1] = gemm_q4_1;
	t->gemv[KD_Q5_0] = gemv_q5_0, t->gemm[KD_Q5_0] = gemm_q5_0;
	t->gemv[KD_Q5_1] = gemv_q5_1, t->gemm[KD_Q5_1] = gemm_q5_1;
	t->gemv[KD_Q4_K] = gemv_q4_k, t->gemm[KD_Q4_K] = gemm_q4_k;
	t->gemv[KD_Q5_K] = gemv_q5_k, t->gemm[KD_Q5_K] = gemm_q5_k;
	t->gemv[KD_Q6_K] = gemv_q6_k, t->gemm[KD_Q6_K] = gemm_q6_k;
	t->to_f32[KD_Q4_1] = q4_1_to_f32;
}
