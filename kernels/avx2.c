/* AVX2 + FMA (+F16C) kernels.  The table is built on first use as a copy of
 * the reference and then overrides what this file has: gemv for every weight
 * type (four rows per pass so each load of x serves four rows; weights
 * widened to f32 in registers and multiplied with f32 activations), widening
 * and f16/bf16 rounding (bit-identical to the reference), the element-wise
 * ops, attention, and gemm through BLIS (kernels/gemm_blis.c).  Q8_0/Q4_0
 * quantisation stays the reference's. */
#include "kernels/kern_simd.h"
#include "kernels/mlx.h"
#include "kernels/kern_gguf.h"

#include <immintrin.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define INLINE static inline __attribute__((always_inline))

static int usable(void)
{
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
	       __builtin_cpu_supports("f16c");
}

/* --- helpers --- */

INLINE float hsum(__m256 v)
{
	__m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

INLINE float hmax(__m256 v)
{
	__m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
	s = _mm_max_ps(s, _mm_movehl_ps(s, s));
	s = _mm_max_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

/* Lanes [0, n) set, n < 8: for maskload/maskstore of a row's tail. */
INLINE __m256i tail_mask(size_t n)
{
	return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

INLINE __m256 bf16x8(__m128i h)
{
	return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

/* Eight values of type t (F32, F16 or BF16) from element i of p, widened. */
INLINE __m256 load8(enum kern_dtype t, const void *p, size_t i)
{
	if (t == KD_F32)
		return _mm256_loadu_ps((const float *)p + i);
	__m128i h = _mm_loadu_si128((const __m128i *)((const uint16_t *)p + i));
	return t == KD_F16 ? _mm256_cvtph_ps(h) : bf16x8(h);
}

/* The n < 8 values from element i, zeros after: never reads past the row. */
INLINE __m256 load8_tail(enum kern_dtype t, const void *p, size_t i, size_t n)
{
	if (t == KD_F32)
		return _mm256_maskload_ps((const float *)p + i, tail_mask(n));
	uint16_t tmp[8] = {0};
	memcpy(tmp, (const uint16_t *)p + i, n * 2);
	return load8(t, tmp, 0);
}

/* e^x for eight lanes, within ~1 ulp of expf: n = round(x/ln2), r = x - n ln2
 * (two-part ln2), Cephes' degree-6 polynomial for e^r, then 2^n applied as two
 * exact power-of-two factors so results near overflow and into the subnormal
 * range round once, like expf. */
INLINE __m256 exp8(__m256 x)
{
	const __m256 hi = _mm256_set1_ps(88.72283935546875f), lo = _mm256_set1_ps(-103.972084f);
	__m256 big = _mm256_cmp_ps(x, hi, _CMP_GT_OQ), tiny = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
	__m256 xc = _mm256_min_ps(_mm256_max_ps(x, lo), hi);
	__m256 n = _mm256_round_ps(_mm256_mul_ps(xc, _mm256_set1_ps(1.44269504088896341f)),
				   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
	__m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), xc);
	r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
	__m256 p = _mm256_set1_ps(1.9875691500e-4f);
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
	p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
	__m256i ni = _mm256_cvtps_epi32(n);
	__m256i n1 = _mm256_srai_epi32(ni, 1), n2 = _mm256_sub_epi32(ni, n1);
	__m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, _mm256_set1_epi32(127)), 23));
	__m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, _mm256_set1_epi32(127)), 23));
	p = _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
	p = _mm256_blendv_ps(p, _mm256_set1_ps(INFINITY), big);
	p = _mm256_andnot_ps(tiny, p);
	/* NaN in, NaN out (the clamps above would have turned it into a number). */
	__m256 nan = _mm256_cmp_ps(x, x, _CMP_UNORD_Q);
	return _mm256_blendv_ps(p, x, nan);
}

/* --- gemv --- */

/* y[0, nr) = W[0, nr)[0, cols) . x[0, cols), nr <= 4 known at compile time;
 * rows are ld elements apart.  F32, F16 and BF16. */
INLINE void float_rows(enum kern_dtype t, const void *w, size_t ld, const float *x, float *y,
		       size_t cols, int nr)
{
	__m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
	size_t c = 0;
	for (; c + 8 <= cols; c += 8) {
		__m256 xv = _mm256_loadu_ps(x + c);
		_Pragma("GCC unroll 8") for (int r = 0; r < nr; r++)
			acc[r] = _mm256_fmadd_ps(load8(t, w, r * ld + c), xv, acc[r]);
	}
	if (c < cols) {
		__m256 xv = _mm256_maskload_ps(x + c, tail_mask(cols - c));
		_Pragma("GCC unroll 8") for (int r = 0; r < nr; r++)
			acc[r] = _mm256_fmadd_ps(load8_tail(t, w, r * ld + c, cols - c), xv, acc[r]);
	}
	_Pragma("GCC unroll 8") for (int r = 0; r < nr; r++)
		y[r] = hsum(acc[r]);
}

/* W [rows, cols] of type t, x [cols], y [rows]. */
INLINE void float_gemv(enum kern_dtype t, const void *w, const float *x, float *y, size_t rows,
		       size_t cols)
{
	size_t es = t == KD_F32 ? 4 : 2, r = 0;
	for (; r + 4 <= rows; r += 4)
		float_rows(t, (const char *)w + r * cols * es, cols, x, y + r, cols, 4);
	for (; r < rows; r++)
		float_rows(t, (const char *)w + r * cols * es, cols, x, y + r, cols, 1);
}

static void gemv_f32(const void *w, const float *x, float *y, size_t rows, size_t cols)
{
	float_gemv(KD_F32, w, x, y, rows, cols);
}

static void gemv_f16(const void *w, const float *x, float *y, size_t rows, size_t cols)
{
	float_gemv(KD_F16, w, x, y, rows, cols);
}

/* BF16 rows one after another, in address order, with the even/odd split
 * of avx512.c: a 32-bit lane holds two bf16 values, the even one widened by
 * a shift, the odd one by masking; x permuted once to match, per 16 columns
 * the 8 even values, then the 8 odd ones. */
INLINE void even_odd(const float *x, float *xp, size_t n16)
{
	for (size_t c = 0; c < n16; c += 16) {
		__m256 a = _mm256_loadu_ps(x + c), b = _mm256_loadu_ps(x + c + 8);
		__m256 e = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));
		__m256 o = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1));
		_mm256_store_ps(xp + c, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), 0xd8)));
		_mm256_store_ps(xp + c + 8, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(o), 0xd8)));
	}
}

INLINE __m256 bf16_even(__m256i v) { return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16)); }
INLINE __m256 bf16_odd(__m256i v)
{
	return _mm256_castsi256_ps(_mm256_and_si256(v, _mm256_set1_epi32((int)0xffff0000)));
}

INLINE float bf16_row(const uint16_t *w, const float *xp, const float *x, size_t n16, size_t cols)
{
	__m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
	size_t c = 0;
	for (; c + 32 <= n16; c += 32) {
		__m256i v0 = _mm256_loadu_si256((const __m256i *)(w + c));
		__m256i v1 = _mm256_loadu_si256((const __m256i *)(w + c + 16));
		a0 = _mm256_fmadd_ps(bf16_even(v0), _mm256_load_ps(xp + c), a0);
		a1 = _mm256_fmadd_ps(bf16_odd(v0), _mm256_load_ps(xp + c + 8), a1);
		a2 = _mm256_fmadd_ps(bf16_even(v1), _mm256_load_ps(xp + c + 16), a2);
		a3 = _mm256_fmadd_ps(bf16_odd(v1), _mm256_load_ps(xp + c + 24), a3);
	}
	if (c < n16) {
		__m256i v0 = _mm256_loadu_si256((const __m256i *)(w + c));
		a0 = _mm256_fmadd_ps(bf16_even(v0), _mm256_load_ps(xp + c), a0);
		a1 = _mm256_fmadd_ps(bf16_odd(v0), _mm256_load_ps(xp + c + 8), a1);
		c += 16;
	}
	float sum = hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
	for (; c < cols; c++)
		sum += kern_bf16_to_f32(w[c]) * x[c];
	return sum;
}

static void gemv_bf16(const void *w, const float *x, float *y, size_t rows, size_t cols)
{
	size_t n16 = cols & ~(size_t)15;
	if (n16 == 0 || cols > 8192) {
		float_gemv(KD_BF16, w, x, y, rows, cols);
		return;
	}
	float xp[n16] __attribute__((aligned(32)));
	even_odd(x, xp, n16);
	for (size_t r = 0; r < rows; r++)
		y[r] = bf16_row((const uint16_t *)w + r * cols, xp, x, n16, cols);
}

INLINE __m256 i8x8(const void *p)
{
	return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadu_si64(p)));
}

/* The 32 integer values of one Q8_0 or Q4_0 block as floats, scale returned. */
INLINE float qblock(enum kern_dtype t, const void *blk, __m256 q[4])
{
	uint16_t d;
	memcpy(&d, blk, 2);
	const char *qs = (const char *)blk + 2;
	if (t == KD_Q8_0) {
		for (int k = 0; k < 4; k++)
			q[k] = i8x8(qs + 8 * k);
	} else { /* low nibbles are values 0..15, high nibbles 16..31, offset 8 */
		__m128i v = _mm_loadu_si128((const __m128i *)qs), m = _mm_set1_epi8(0x0f);
		__m128i eight = _mm_set1_epi8(8);
		__m128i lo = _mm_sub_epi8(_mm_and_si128(v, m), eight);
		__m128i hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(v, 4), m), eight);
		q[0] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo));
		q[1] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_unpackhi_epi64(lo, lo)));
		q[2] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi));
		q[3] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_unpackhi_epi64(hi, hi)));
	}
	return _cvtsh_ss(d);
}

/* kern_quantize_act eight lanes at a time, the reference's bytes (see
 * avx512.c: the same scalar d and id, the same products, roundf's half away
 * from zero as trunc plus one step where the exact fraction is >= 1/2). */
INLINE __m256i round_away(__m256 t)
{
	__m256 r = _mm256_round_ps(t, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
	__m256 frac = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), _mm256_sub_ps(t, r));
	__m256i up = _mm256_castps_si256(_mm256_cmp_ps(frac, _mm256_set1_ps(0.5f), _CMP_GE_OQ));
	__m256i step = _mm256_or_si256(_mm256_srai_epi32(_mm256_castps_si256(t), 31), _mm256_set1_epi32(1));
	return _mm256_add_epi32(_mm256_cvttps_epi32(r), _mm256_and_si256(up, step));
}

static void quantize_act(const float *x, struct kern_act_q8 *out, size_t n)
{
	const __m256 zero = _mm256_setzero_ps(), sign = _mm256_set1_ps(-0.0f);
	for (size_t b = 0; b < n / KERN_QBLOCK; b++) {
		__m256 v[4], amax = zero;
		int fin = 0xff;
		for (int k = 0; k < 4; k++) {
			v[k] = _mm256_loadu_ps(x + b * KERN_QBLOCK + 8 * k);
			fin &= _mm256_movemask_ps(_mm256_cmp_ps(_mm256_sub_ps(v[k], v[k]), zero, _CMP_EQ_OQ));
			amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign, v[k]));
		}
		if (fin != 0xff) {
			memset(out[b].qs, 0, sizeof out[b].qs);
			out[b].d = NAN;
			out[b].sum = 0;
			continue;
		}
		float d = hmax(amax) / 127.0f, id = d ? 1.0f / d : 0.0f;
		__m256i q[4];
		for (int k = 0; k < 4; k++)
			q[k] = round_away(_mm256_mul_ps(v[k], _mm256_set1_ps(id)));
		__m256i bytes = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
		bytes = _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
		_mm256_storeu_si256((__m256i *)out[b].qs, bytes);
		__m256i s = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
		__m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
		s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, _MM_SHUFFLE(1, 0, 3, 2)));
		s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, _MM_SHUFFLE(2, 3, 0, 1)));
		out[b].d = _cvtsh_ss(_cvtss_sh(d, 0));
		out[b].sum = _mm_cvtsi128_si32(s4);
	}
}

/* --- Q8_0 / Q4_0 against quantised activations (kern_quantize_act) --- */

/* Eight int32 partial sums of one weight block with one activation block.
 * Q8_0: the weight's sign moved onto x so maddubs sees |w| (at most 128,
 * no saturation with |x| <= 127); Q4_0: unsigned nibbles (value + 8), then
 * 8 times x's sum taken off, as x's sum in each of the 8 lanes. */
INLINE __m256i block_dot(enum kern_dtype t, const char *blk, __m256i x, __m256i sum)
{
	__m256i ones = _mm256_set1_epi16(1);
	if (t == KD_Q8_0) {
		__m256i w = _mm256_loadu_si256((const __m256i *)(blk + 2));
		__m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
		return _mm256_madd_epi16(p, ones);
	}
	__m128i v = _mm_loadu_si128((const __m128i *)(blk + 2)), m = _mm_set1_epi8(0x0f);
	__m256i u = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v, 4), m), _mm_and_si128(v, m));
	__m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(u, x), ones);
	return _mm256_sub_epi32(p, sum);
}

INLINE float wscale(const char *blk)
{
	uint16_t d;
	memcpy(&d, blk, 2);
	return _cvtsh_ss(d);
}

/* y[0, nr) = W[0, nr) . a for nr rows of nb blocks, rb bytes apart. */
INLINE void q_rows(enum kern_dtype t, const char *w, size_t rb, const struct kern_act_q8 *a,
		   float *y, size_t nb, int nr)
{
	size_t bs = t == KD_Q8_0 ? sizeof(struct kern_block_q8_0) : sizeof(struct kern_block_q4_0);
	__m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
	for (size_t b = 0; b < nb; b++) {
		/* the activation side, loaded once for the nr rows */
		__m256i x = _mm256_loadu_si256((const __m256i *)a[b].qs), sum = _mm256_set1_epi32(a[b].sum);
		_Pragma("GCC unroll 8") for (int r = 0; r < nr; r++) {
			const char *blk = w + r * rb + b * bs;
			__m256 d = _mm256_set1_ps(wscale(blk) * a[b].d);
			acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(block_dot(t, blk, x, sum)), d, acc[r]);
		}
	}
	_Pragma("GCC unroll 8") for (int r = 0; r < nr; r++)
		y[r] = hsum(acc[r]);
}

INLINE void q_gemv_act(enum kern_dtype t, const void *w, const struct kern_act_q8 *a, float *y,
		       size_t rows, size_t cols)
{
	size_t rb = kern_row_bytes(t, cols), nb = cols / KERN_QBLOCK, r = 0;
	for (; r + 4 <= rows; r += 4)
		q_rows(t, (const char *)w + r * rb, rb, a, y + r, nb, 4);
	for (; r < rows; r++)
		q_rows(t, (const char *)w + r * rb, rb, a, y + r, nb, 1);
}

INLINE void q_gemv(enum kern_dtype t, const void *w, const float *x, float *y, size_t rows,
		   size_t cols)
{
	struct kern_act_q8 a[cols / KERN_QBLOCK ? cols / KERN_QBLOCK : 1];
	quantize_act(x, a, cols);
	q_gemv_act(t, w, a, y, rows, cols);
}

/* Prefill: the n rows of X quantised once, then each thread takes blocks of
 * 16 weight rows and runs every token through them while they sit in L1. */
INLINE void q_gemm(enum kern_dtype t, const void *w, const float *x, float *y, size_t n,
		   size_t rows, size_t cols, int threads)
{
	size_t nb = cols / KERN_QBLOCK, rb = kern_row_bytes(t, cols);
	struct kern_act_q8 *a = malloc(n * nb * sizeof *a);
	if (!a) {   /* no memory for the quantised prompt: a token at a time */
		for (size_t i = 0; i < n; i++)
			q_gemv(t, w, x + i * cols, y + i * rows, rows, cols);
		return;
	}
	for (size_t i = 0; i < n; i++)
		quantize_act(x + i * cols, a + i * nb, cols);
	long blocks = (long)((rows + 15) / 16);
#pragma omp parallel for num_threads(threads > 0 ? threads : 1) schedule(static)
	for (long blk = 0; blk < blocks; blk++) {
		size_t r0 = (size_t)blk * 16, nr = rows - r0 < 16 ? rows - r0 : 16;
		float tmp[16];
		for (size_t i = 0; i < n; i++) {
			q_gemv_act(t, (const char *)w + r0 * rb, a + i * nb, tmp, nr, cols);
			memcpy(y + i * rows + r0, tmp, nr * sizeof(float));
		}
	}
	free(a);
}

static void gemv_q8_0(const void *w, const float *x, float *y, size_t rows, size_t cols)
{
	q_gemv(KD_Q8_0, w, x, y, rows, cols);
}

static void gemv_q4_0(const void *w, const float *x, float *y, size_t rows, size_t cols)
{
	q_gemv(KD_Q4_0, w, x, y, rows, cols);
}

/* --- Q8_0 / Q4_0 packed (kernels/pack.c): 16 rows side by side ---
 * A 64-byte chunk is two registers of 8 rows (h = 0, 1).  Q8_0: the stored
 * value + 128 turned back into the signed value, whose sign moves onto the
 * broadcast activation bytes so maddubs sees |w| <= 128 (no saturation);
 * Q4_0: unsigned nibbles, the low and high halves' maddubs pairs added in
 * int16 (at most 2 * 2 * 15 * 127), then 8 times the block's sum off. */
#define PR KERN_PACK_ROWS

INLINE size_t qbs(enum kern_dtype t) { return t == KD_Q8_0 ? 34 : 18; }

INLINE __m256i bcast4(const int8_t *p)
{
	int32_t v;
	memcpy(&v, p, 4);
	return _mm256_set1_epi32(v);
}

/* Rows 8h..8h+7 of one group block against T activation blocks. */
INLINE void half_dots(enum kern_dtype t, const uint8_t *o, int h, const struct kern_act_q8 *const *a,
		      size_t b, int T, __m256i *isum)
{
	const __m256i ones = _mm256_set1_epi16(1);
	for (int i = 0; i < T; i++)
		isum[i] = _mm256_setzero_si256();
	if (t == KD_Q8_0) {
		_Pragma("GCC unroll 8") for (int k = 0; k < 8; k++) {
			__m256i w = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(o + 32 + k * 64 + 32 * h)),
						     _mm256_set1_epi8((char)0x80));
			__m256i aw = _mm256_sign_epi8(w, w);
			_Pragma("GCC unroll 2") for (int i = 0; i < T; i++) {
				__m256i p = _mm256_maddubs_epi16(aw, _mm256_sign_epi8(bcast4(a[i][b].qs + 4 * k), w));
				isum[i] = _mm256_add_epi32(isum[i], _mm256_madd_epi16(p, ones));
			}
		}
		return;
	}
	const __m256i m = _mm256_set1_epi8(0x0f);
	_Pragma("GCC unroll 4") for (int k = 0; k < 4; k++) {
		__m256i v = _mm256_loadu_si256((const __m256i *)(o + 32 + k * 64 + 32 * h));
		__m256i lo = _mm256_and_si256(v, m), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m);
		_Pragma("GCC unroll 2") for (int i = 0; i < T; i++) {
			__m256i p = _mm256_add_epi16(_mm256_maddubs_epi16(lo, bcast4(a[i][b].qs + 4 * k)),
						     _mm256_maddubs_epi16(hi, bcast4(a[i][b].qs + 16 + 4 * k)));
			isum[i] = _mm256_add_epi32(isum[i], _mm256_madd_epi16(p, ones));
		}
	}
	for (int i = 0; i < T; i++)
		isum[i] = _mm256_sub_epi32(isum[i], _mm256_set1_epi32(8 * a[i][b].sum));
}

/* y[i][0..16) for T <= 2 tokens through one group of 16 rows (nb blocks). */
INLINE void group_rows(enum kern_dtype t, const uint8_t *grp, size_t nb, const struct kern_act_q8 *const *a,
		       int T, float *const *y)
{
	size_t gb = PR * qbs(t);
	__m256 acc[2][2] = {{_mm256_setzero_ps(), _mm256_setzero_ps()}, {_mm256_setzero_ps(), _mm256_setzero_ps()}};
	for (size_t b = 0; b < nb; b++) {
		const uint8_t *o = grp + b * gb;
		_Pragma("GCC unroll 2") for (int h = 0; h < 2; h++) {
			__m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(o + 16 * h)));
			__m256i isum[2];
			half_dots(t, o, h, a, b, T, isum);
			_Pragma("GCC unroll 2") for (int i = 0; i < T; i++)
				acc[i][h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[i]),
							    _mm256_mul_ps(dw, _mm256_set1_ps(a[i][b].d)), acc[i][h]);
		}
	}
	for (int i = 0; i < T; i++) {
		_mm256_storeu_ps(y[i], acc[i][0]);
		_mm256_storeu_ps(y[i] + 8, acc[i][1]);
	}
}

/* Prefill (kern_packed_gemm): the tokens of a run through one chunk of
 * groups, two per weight load. */
INLINE void chunk_rows(enum kern_dtype t, const void *wv, size_t g0, size_t g1, size_t nb,
		       const struct kern_act_q8 *a, float *y, size_t n, size_t rows)
{
	const uint8_t *w = wv;
	size_t gb = PR * qbs(t), i = 0;
	for (; i + 2 <= n; i += 2) {
		const struct kern_act_q8 *ap[2] = {a + i * nb, a + (i + 1) * nb};
		for (size_t g = g0; g < g1; g++) {
			float *yp[2] = {y + i * rows + g * PR, y + (i + 1) * rows + g * PR};
			group_rows(t, w + g * nb * gb, nb, ap, 2, yp);
		}
	}
	for (; i < n; i++) {
		const struct kern_act_q8 *ap[1] = {a + i * nb};
		for (size_t g = g0; g < g1; g++) {
			float *yp[1] = {y + i * rows + g * PR};
			group_rows(t, w + g * nb * gb, nb, ap, 1, yp);
		}
	}
}

static void chunk_q8_0(const void *w, size_t g0, size_t g1, size_t nb, const struct kern_act_q8 *a,
		       float *y, size_t n, size_t rows)
{
	chunk_rows(KD_Q8_0, w, g0, g1, nb, a, y, n, rows);
}

static void chunk_q4_0(const void *w, size_t g0, size_t g1, size_t nb, const struct kern_act_q8 *a,
		       float *y, size_t n, size_t rows)
{
	chunk_rows(KD_Q4_0, w, g0, g1, nb, a, y, n, rows);
}

static void gemv_q8_0_packed(const void *w, const float *x, float *y, size_t rows, size_t cols)
{
	kern_packed_gemv(quantize_act, chunk_q8_0, w, x, y, rows, cols);
}

static void gemv_q4_0_packed(const void *w, const float *x, float *y, size_t rows, size_t cols)
{
	kern_packed_gemv(quantize_act, chunk_q4_0, w, x, y, rows, cols);
}

static void gemm_q8_0_packed(const void *w, const float *x, float *y, size_t n, size_t rows, size_t cols, int threads)
{
	kern_packed_gemm(quantize_act, chunk_q8_0, w, x, y, n, rows, cols, threads);
}

static void gemm_q4_0_packed(const void *w, const float *x, float *y, size_t n, size_t rows, size_t cols, int threads)
{
	kern_packed_gemm(quantize_act, chunk_q4_0, w, x, y, n, rows, cols, threads);
}

/* --- widening and rounding --- */

/* src [n] of type t (F16 or BF16), dst [n]. */
INLINE void half_to_f32(enum kern_dtype t, const void *src, float *dst, size_t n)
{
	size_t i = 0;
	for (; i + 8 <= n; i += 8)
		_mm256_storeu_ps(dst + i, load8(t, src, i));
	if (i < n)
		_mm256_maskstore_ps(dst + i, tail_mask(n - i), load8_tail(t, src, i, n - i));
}

static void f16_to_f32(const void *src, float *dst, size_t n) { half_to_f32(KD_F16, src, dst, n); }
static void bf16_to_f32(const void *src, float *dst, size_t n) { half_to_f32(KD_BF16, src, dst, n); }

/* Hardware rounding is round-to-nearest-even with subnormals, as the
 * reference; only NaNs differ (the hardware keeps payload bits), so they are
 * replaced with the reference's sign | 0x7e00. */
INLINE __m128i f16x8_from(__m256 v)
{
	__m128i h = _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
	__m256i nan = _mm256_castps_si256(_mm256_cmp_ps(v, v, _CMP_UNORD_Q));
	if (_mm256_testz_si256(nan, nan))
		return h;
	__m128i nan16 = _mm_packs_epi32(_mm256_castsi256_si128(nan), _mm256_extracti128_si256(nan, 1));
	__m128i q = _mm_or_si128(_mm_and_si128(h, _mm_set1_epi16((short)0x8000)), _mm_set1_epi16(0x7e00));
	return _mm_blendv_epi8(h, q, nan16);
}

/* The reference's rounding, u + 0x7fff + lsb, NaNs quietened with 0x40. */
INLINE __m128i bf16x8_from(__m256 v)
{
	__m256i u = _mm256_castps_si256(v);
	__m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
	__m256i r = _mm256_srli_epi32(_mm256_add_epi32(u, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7fff))), 16);
	__m256i q = _mm256_or_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(0x40));
	r = _mm256_blendv_epi8(r, q, _mm256_castps_si256(_mm256_cmp_ps(v, v, _CMP_UNORD_Q)));
	/* values are < 0x10000, so the unsigned pack is exact */
	__m128i p = _mm_packus_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
	return p;
}

/* src [n] f32 to dst [n] of type t (F16 or BF16). */
INLINE void half_from_f32(enum kern_dtype t, const float *src, void *dst, size_t n)
{
	uint16_t *d = dst;
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		__m256 v = _mm256_loadu_ps(src + i);
		_mm_storeu_si128((__m128i *)(d + i), t == KD_F16 ? f16x8_from(v) : bf16x8_from(v));
	}
	if (i < n) {
		uint16_t tmp[8];
		__m256 v = _mm256_maskload_ps(src + i, tail_mask(n - i));
		_mm_storeu_si128((__m128i *)tmp, t == KD_F16 ? f16x8_from(v) : bf16x8_from(v));
		memcpy(d + i, tmp, (n - i) * 2);
	}
}

static void f16_from_f32(const float *src, void *dst, size_t n) { half_from_f32(KD_F16, src, dst, n); }
static void bf16_from_f32(const float *src, void *dst, size_t n) { half_from_f32(KD_BF16, src, dst, n); }

/* src: n / 32 blocks of type t; dst [n]. */
INLINE void q_to_f32(enum kern_dtype t, const void *src, float *dst, size_t n)
{
	size_t bs = t == KD_Q8_0 ? sizeof(struct kern_block_q8_0) : sizeof(struct kern_block_q4_0);
	for (size_t b = 0; b < n / KERN_QBLOCK; b++) {
		__m256 q[4];
		__m256 d = _mm256_set1_ps(qblock(t, (const char *)src + b * bs, q));
		for (int k = 0; k < 4; k++)
			_mm256_storeu_ps(dst + b * KERN_QBLOCK + 8 * k, _mm256_mul_ps(q[k], d));
	}
}

static void q8_0_to_f32(const void *src, float *dst, size_t n) { q_to_f32(KD_Q8_0, src, dst, n); }
static void q4_0_to_f32(const void *src, float *dst, size_t n) { q_to_f32(KD_Q4_0, src, dst, n); }

/* --- element-wise --- */

/* out [n] = w [n] * x [n] / sqrt(mean(x^2) + eps); out may be x. */
static void rmsnorm(float *out, const float *x, const float *w, size_t n, float eps)
{
	/* squares summed in double like the reference: n is only the hidden size */
	__m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		__m256 v = _mm256_loadu_ps(x + i);
		__m256d a = _mm256_cvtps_pd(_mm256_castps256_ps128(v));
		__m256d b = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
		s0 = _mm256_fmadd_pd(a, a, s0);
		s1 = _mm256_fmadd_pd(b, b, s1);
	}
	double t[4], ss = 0;
	_mm256_storeu_pd(t, _mm256_add_pd(s0, s1));
	ss = (t[0] + t[1]) + (t[2] + t[3]);
	for (size_t j = i; j < n; j++)
		ss += (double)x[j] * x[j];
	float scale = 1.0f / sqrtf((float)(ss / (double)n) + eps);
	__m256 sv = _mm256_set1_ps(scale);
	for (i = 0; i + 8 <= n; i += 8)
		_mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_loadu_ps(w + i),
							_mm256_mul_ps(_mm256_loadu_ps(x + i), sv)));
	for (; i < n; i++)
		out[i] = w[i] * (x[i] * scale);
}

/* x [n_heads, head_dim] rotated in place; cos, sin [head_dim / 2]. */
static void rope(float *x, size_t n_heads, size_t head_dim, const float *cos, const float *sin)
{
	size_t half = head_dim / 2;
	for (size_t h = 0; h < n_heads; h++) {
		float *v = x + h * head_dim;
		size_t i = 0;
		for (; i + 8 <= half; i += 8) {
			__m256 a = _mm256_loadu_ps(v + i), b = _mm256_loadu_ps(v + i + half);
			__m256 c = _mm256_loadu_ps(cos + i), s = _mm256_loadu_ps(sin + i);
			_mm256_storeu_ps(v + i, _mm256_fmsub_ps(a, c, _mm256_mul_ps(b, s)));
			_mm256_storeu_ps(v + i + half, _mm256_fmadd_ps(b, c, _mm256_mul_ps(a, s)));
		}
		for (; i < half; i++) {
			float a = v[i], b = v[i + half];
			v[i] = a * cos[i] - b * sin[i];
			v[i + half] = b * cos[i] + a * sin[i];
		}
	}
}

/* x [n] in place: exp(x - max) / sum. */
static void softmax(float *x, size_t n)
{
	__m256 mv = _mm256_set1_ps(-INFINITY);
	size_t i = 0;
	for (; i + 8 <= n; i += 8)
		mv = _mm256_max_ps(mv, _mm256_loadu_ps(x + i));
	float max = hmax(mv);
	for (size_t j = i; j < n; j++)
		max = fmaxf(max, x[j]);
	__m256 m = _mm256_set1_ps(max), sv = _mm256_setzero_ps();
	for (i = 0; i + 8 <= n; i += 8) {
		__m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), m));
		_mm256_storeu_ps(x + i, e);
		sv = _mm256_add_ps(sv, e);
	}
	if (i < n) {
		__m256i tm = tail_mask(n - i);
		__m256 e = exp8(_mm256_sub_ps(_mm256_maskload_ps(x + i, tm), m));
		e = _mm256_and_ps(e, _mm256_castsi256_ps(tm));
		_mm256_maskstore_ps(x + i, tm, e);
		sv = _mm256_add_ps(sv, e);
	}
	__m256 inv = _mm256_set1_ps(1.0f / hsum(sv));
	for (i = 0; i + 8 <= n; i += 8)
		_mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), inv));
	for (; i < n; i++)
		x[i] *= _mm256_cvtss_f32(inv);
}

/* gate [n] = silu(gate) * up [n]. */
static void silu_mul(float *gate, const float *up, size_t n)
{
	const __m256 one = _mm256_set1_ps(1.0f);
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		__m256 g = _mm256_loadu_ps(gate + i);
		__m256 e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), g));
		__m256 s = _mm256_div_ps(g, _mm256_add_ps(one, e));
		_mm256_storeu_ps(gate + i, _mm256_mul_ps(s, _mm256_loadu_ps(up + i)));
	}
	for (; i < n; i++)
		gate[i] = gate[i] / (1.0f + expf(-gate[i])) * up[i];
}

/* y [n] += x [n]. */
static void add(float *y, const float *x, size_t n)
{
	size_t i = 0;
	for (; i + 8 <= n; i += 8)
		_mm256_storeu_ps(y + i, _mm256_add_ps(_mm256_loadu_ps(y + i), _mm256_loadu_ps(x + i)));
	for (; i < n; i++)
		y[i] += x[i];
}

/* q [head_dim]; k, v [n_keys] rows of head_dim, kv_stride apart; out
 * [head_dim]; scratch [n_keys] holds the scores. */
static void attention(float *out, const float *q, const float *k, const float *v, size_t n_keys,
		      size_t head_dim, size_t kv_stride, float scale, float *scratch)
{
	for (size_t t = 0; t < n_keys; t++) {
		float dot;
		float_rows(KD_F32, k + t * kv_stride, 0, q, &dot, head_dim, 1);
		scratch[t] = dot * scale;
	}
	softmax(scratch, n_keys);
	memset(out, 0, head_dim * sizeof *out);
	for (size_t t = 0; t < n_keys; t++) {
		const float *vt = v + t * kv_stride;
		__m256 s = _mm256_set1_ps(scratch[t]);
		size_t d = 0;
		for (; d + 8 <= head_dim; d += 8)
			_mm256_storeu_ps(out + d, _mm256_fmadd_ps(s, _mm256_loadu_ps(vt + d),
								  _mm256_loadu_ps(out + d)));
		for (; d < head_dim; d++)
			out[d] += scratch[t] * vt[d];
	}
}

/* --- gemm: BLIS, with this file's widening --- */

static void gemm_f32(const void *w, const float *x, float *y, size_t n, size_t rows, size_t cols, int threads)
{
	kern_blis_gemm(KD_F32, NULL, w, x, y, n, rows, cols, threads);
}

static void gemm_f16(const void *w, const float *x, float *y, size_t n, size_t rows, size_t cols, int threads)
{
	kern_blis_gemm(KD_F16, f16_to_f32, w, x, y, n, rows, cols, threads);
}

static void gemm_bf16(const void *w, const float *x, float *y, size_t n, size_t rows, size_t cols, int threads)
{
	kern_blis_gemm(KD_BF16, bf16_to_f32, w, x, y, n, rows, cols, threads);
}

static void gemm_q8_0(const void *w, const float *x, float *y, size_t n, size_t rows, size_t cols, int threads)
{
	q_gemm(KD_Q8_0, w, x, y, n, rows, cols, threads);
}

static void gemm_q4_0(const void *w, const float *x, float *y, size_t n, size_t rows, size_t cols, int threads)
{
	q_gemm(KD_Q4_0, w, x, y, n, rows, cols, threads);
}

/* --- the table --- */

static struct kern_ops table;

static void build(void)
{
	table = kern_ref;
	table.name = "avx2";
	void (*gemv[KD_COUNT])(const void *, const float *, float *, size_t, size_t) = {
		gemv_f32, gemv_f16, gemv_bf16, gemv_q8_0, gemv_q4_0};
	void (*gemm[KD_COUNT])(const void *, const float *, float *, size_t, size_t, size_t, int) = {
		gemm_f32, gemm_f16, gemm_bf16, gemm_q8_0, gemm_q4_0};
	memcpy(table.gemv, gemv, (KD_Q4_0 + 1) * sizeof *gemv);   /* the types of this file */
	memcpy(table.gemm, gemm, (KD_Q4_0 + 1) * sizeof *gemm);
	table.to_f32[KD_F16] = f16_to_f32;
	table.to_f32[KD_BF16] = bf16_to_f32;
	table.to_f32[KD_Q8_0] = q8_0_to_f32;
	table.to_f32[KD_Q4_0] = q4_0_to_f32;
	table.from_f32[KD_F16] = f16_from_f32;
	table.from_f32[KD_BF16] = bf16_from_f32;
	table.rmsnorm = rmsnorm;
	table.rope = rope;
	table.softmax = softmax;
	table.silu_mul = silu_mul;
	table.add = add;
	table.attention = attention;
	table.quantize_act = quantize_act;
	table.pack[KD_Q8_0] = kern_pack_q8_0;
	table.pack[KD_Q4_0] = kern_pack_q4_0;
	table.gemv_packed[KD_Q8_0] = gemv_q8_0_packed;
	table.gemv_packed[KD_Q4_0] = gemv_q4_0_packed;
	table.gemm_packed[KD_Q8_0] = gemm_q8_0_packed;
	table.gemm_packed[KD_Q4_0] = gemm_q4_0_packed;
	table.packed_row_f32[KD_Q8_0] = kern_packed_row_q8_0;
	table.packed_row_f32[KD_Q4_0] = kern_packed_row_q4_0;
	kern_avx2_mlx_fill(&table);
	kern_gguf_avx2(&table);
}

const struct kern_ops *kern_avx2_ops(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	if (!usable())
		return NULL;
	pthread_once(&once, build);
	return &table;
}
