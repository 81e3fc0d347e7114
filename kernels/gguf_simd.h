/* The SIMD GGUF kernels, compiled twice: by kernels/avx2_gguf.c (maddubs +
 * madd) and by kernels/avx512_gguf.c (AVX-512 VNNI's dpbusd on 256-bit
 * lanes), which define GGUF_VNNI and GGUF_FILL before including it.  Each
 * block's integer dot is exact; only the float summation order differs from
 * the reference (kernels/ref_gguf.c). */
#include "kernels/kern_gguf.h"

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

/* Eight int32 partial sums of unsigned bytes u with signed bytes x. */
INLINE __m256i dot_u8_i8(__m256i u, __m256i x)
{
#ifdef GGUF_VNNI
	return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, x);
#else
	return _mm256_madd_epi16(_mm256_maddubs_epi16(u, x), _mm256_set1_epi16(1));
#endif
}

/* Q4_1's 32 nibbles as bytes, values 0..15 then 16..31. */
INLINE __m256i q4_nibbles(const uint8_t *qs)
{
	__m128i v = _mm_loadu_si128((const __m128i *)qs), m = _mm_set1_epi8(0x0f);
	return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v, 4), m), _mm_and_si128(v, m));
}

/* y[0, nr) for nr rows of nb Q4_1 blocks against a. */
INLINE void q4_1_rows(const struct kern_block_q4_1 *w, size_t nb, const struct kern_act_q8 *a,
		      float *y, int nr)
{
	__m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
	float macc[4] = {0, 0, 0, 0};
	for (size_t b = 0; b < nb; b++) {
		__m256i x = _mm256_loadu_si256((const __m256i *)a[b].qs);
		float dx = a[b].d, sx = (float)a[b].sum * dx;
		_Pragma("GCC unroll 4") for (int r = 0; r < nr; r++) {
			const struct kern_block_q4_1 *blk = &w[r * nb + b];
			__m256 d = _mm256_set1_ps(_cvtsh_ss(blk->d) * dx);
			acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot_u8_i8(q4_nibbles(blk->qs), x)), d, acc[r]);
			macc[r] += _cvtsh_ss(blk->m) * sx;
		}
	}
	_Pragma("GCC unroll 4") for (int r = 0; r < nr; r++)
		y[r] = hsum8(acc[r]) + macc[r];
}

INLINE void q4_1_gemv_act(const void *w, const struct kern_act_q8 *a, float *y, size_t rows,
			  size_t cols)
{
	size_t nb = cols / KERN_QBLOCK, r = 0;
	const struct kern_block_q4_1 *blocks = w;
	for (; r + 4 <= rows; r += 4)
		q4_1_rows(blocks + r * nb, nb, a, y + r, 4);
	for (; r < rows; r++)
		q4_1_rows(blocks + r * nb, nb, a, y + r, 1);
}

static void gemv_q4_1(const void *w, const float *x, float *y, size_t rows, size_t cols)
{
	struct kern_act_q8 a[cols / KERN_QBLOCK ? cols / KERN_QBLOCK : 1];
	quantize(x, a, cols);
	q4_1_gemv_act(w, a, y, rows, cols);
}

/* Prefill: X quantised once; threads take blocks of 16 weight rows and run
 * every token through them while they sit in L1. */
static void gemm_q4_1(const void *w, const float *x, float *y, size_t n, size_t rows, size_t cols,
		      int threads)
{
	size_t nb = cols / KERN_QBLOCK;
	struct kern_act_q8 *a = malloc(n * nb * sizeof *a + 1);
	if (!a) {   /* no memory for the quantised prompt: a token at a time */
		for (size_t i = 0; i < n; i++)
			gemv_q4_1(w, x + i * cols, y + i * rows, rows, cols);
		return;
	}
	for (size_t i = 0; i < n; i++)
		quantize(x + i * cols, a + i * nb, cols);
	long blocks = (long)((rows + 15) / 16);
	const struct kern_block_q4_1 *wb = w;
#pragma omp parallel for num_threads(threads > 0 ? threads : 1) schedule(static)
	for (long blk = 0; blk < blocks; blk++) {
		size_t r0 = (size_t)blk * 16, nr = rows - r0 < 16 ? rows - r0 : 16;
		float tmp[16];
		for (size_t i = 0; i < n; i++) {
			q4_1_gemv_act(wb + r0 * nb, a + i * nb, tmp, nr, cols);
			memcpy(y + i * rows + r0, tmp, nr * sizeof(float));
		}
	}
	free(a);
}

/* ggml's dequantize_row_q4_1, eight values at a time (exact: d q + m in f32
 * as the reference, with fma rounding once instead of twice would differ,
 * so the product and the sum are kept separate). */
static void q4_1_to_f32(const void *src, float *dst, size_t n)
{
	const struct kern_block_q4_1 *b = src;
	for (size_t i = 0; i < n / KERN_QBLOCK; i++) {
		__m256 d = _mm256_set1_ps(_cvtsh_ss(b[i].d)), m = _mm256_set1_ps(_cvtsh_ss(b[i].m));
		__m256i q = q4_nibbles(b[i].qs);
		__m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
		__m128i parts[4] = {lo, _mm_unpackhi_epi64(lo, lo), hi, _mm_unpackhi_epi64(hi, hi)};
		for (int k = 0; k < 4; k++) {
			__m256 v = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(parts[k]));
			_mm256_storeu_ps(dst + i * KERN_QBLOCK + 8 * k, _mm256_add_ps(_mm256_mul_ps(v, d), m));
		}
	}
}

void GGUF_FILL(struct kern_ops *t)
{
	quantize = t->quantize_act;
	t->gemv[KD_Q4_1] = gemv_q4_1;
	t->gemm[KD_Q4_1] = gemm_q4_1;
	t->to_f32[KD_Q4_1] = q4_1_to_f32;
}
