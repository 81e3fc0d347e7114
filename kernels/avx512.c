/* AVX-512 kernels (F, BW, VL, DQ; F16C for scalar scales).  The table is built
 * on first use from the AVX2 table (itself the reference with overrides) and
 * overrides what this file has: gemv for every weight type, widening and
 * f16/bf16 rounding (bit-identical to the reference), the element-wise ops
 * and attention, all with masked tails instead of scalar loops.  Weights are
 * widened to f32 and multiplied with f32 activations: no bf16 dot products
 * (vdpbf16ps would round x to bf16) and no integer dots on quantised x. */
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
	return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
	       __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
	       __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
	       __builtin_cpu_supports("f16c");
}

/* --- helpers --- */

/* Lanes [0, n) for n <= 16. */
INLINE __mmask16 lanes(size_t n) { return (__mmask16)((1u << n) - 1); }

/* The lanes of the 16 starting at i that are below n. */
INLINE __mmask16 tail(size_t n, size_t i) { return n - i >= 16 ? 0xffff : lanes(n - i); }

INLINE __m512 bf16x16(__m256i h)
{
	return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* The first n <= 16 values of type t (F32, F16, BF16) from element i of p,
 * widened, zeros after; masked loads never touch the lanes left out. */
INLINE __m512 load16(enum kern_dtype t, const void *p, size_t i, __mmask16 m)
{
	if (t == KD_F32)
		return _mm512_maskz_loadu_ps(m, (const float *)p + i);
	__m256i h = _mm256_maskz_loadu_epi16(m, (const uint16_t *)p + i);
	return t == KD_F16 ? _mm512_cvtph_ps(h) : bf16x16(h);
}

/* e^x for sixteen lanes, within ~1 ulp of expf: the same scheme as avx2.c's
 * exp8 (two-part ln2 reduction, Cephes polynomial, 2^n as two exact factors
 * so overflow and subnormal results round once). */
INLINE __m512 exp16(__m512 x)
{
	const __m512 hi = _mm512_set1_ps(88.72283935546875f), lo = _mm512_set1_ps(-103.972084f);
	__mmask16 big = _mm512_cmp_ps_mask(x, hi, _CMP_GT_OQ), tiny = _mm512_cmp_ps_mask(x, lo, _CMP_LT_OQ);
	__mmask16 nan = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
	__m512 xc = _mm512_min_ps(_mm512_max_ps(x, lo), hi);
	__m512 n = _mm512_roundscale_ps(_mm512_mul_ps(xc, _mm512_set1_ps(1.44269504088896341f)),
					_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
	__m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), xc);
	r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
	__m512 p = _mm512_set1_ps(1.9875691500e-4f);
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
	p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
	__m512i ni = _mm512_cvtps_epi32(n);
	__m512i n1 = _mm512_srai_epi32(ni, 1), n2 = _mm512_sub_epi32(ni, n1);
	__m512 s1 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(n1, _mm512_set1_epi32(127)), 23));
	__m512 s2 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(n2, _mm512_set1_epi32(127)), 23));
	p = _mm512_mul_ps(_mm512_mul_ps(p, s1), s2);
	p = _mm512_mask_mov_ps(p, big, _mm512_set1_ps(INFINITY));
	p = _mm512_mask_mov_ps(p, tiny, _mm512_setzero_ps());
	return _mm512_mask_mov_ps(p, nan, x);
}

/* --- gemv --- */

/* y[0, nr) = W[0, nr)[0, cols) . x[0, cols), nr <= 4 known at compile time;
 * rows are ld elements apart.  F32, F16 and BF16. */
INLINE void float_rows(enum kern_dtype t, const void *w, size_t ld, const float *x, float *y,
		       size_t cols, int nr)
{
	__m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
	size_t c = 0;
	for (; c + 16 <= cols; c += 16) {
		__m512 xv = _mm512_loadu_ps(x + c);
		_Pragma("GCC unroll 8") for (int r = 0; r < nr; r++)
			acc[r] = _mm512_fmadd_ps(load16(t, w, r * ld + c, 0xffff), xv, acc[r]);
	}
	if (c < cols) {
		__mmask16 m = lanes(cols - c);
		__m512 xv = _mm512_maskz_loadu_ps(m, x + c);
		_Pragma("GCC unroll 8") for (int r = 0; r < nr; r++)
			acc[r] = _mm512_fmadd_ps(load16(t, w, r * ld + c, m), xv, acc[r]);
	}
	_Pragma("GCC unroll 8") for (int r = 0; r < nr; r++)
		y[r] = _mm512_reduce_add_ps(acc[r]);
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

/* x's values in the order bf16_row() reads weights: per 32 columns the 16
 * even ones, then the 16 odd ones. */
INLINE void even_odd(const float *x, float *xp, size_t n32)
{
	const __m512i ev = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
	const __m512i od = _mm512_add_epi32(ev, _mm512_set1_epi32(1));
	for (size_t c = 0; c < n32; c += 32) {
		__m512 a = _mm512_loadu_ps(x + c), b = _mm512_loadu_ps(x + c + 16);
		_mm512_store_ps(xp + c, _mm512_permutex2var_ps(a, ev, b));
		_mm512_store_ps(xp + c + 16, _mm512_permutex2var_ps(a, od, b));
	}
}

/* The 32 bf16 weights of one 64-byte load as two f32 vectors: a 32-bit lane
 * holds two values, the even one in its low half (shift it up) and the odd
 * one in its high half (mask the low half off).  Two instructions per 32
 * values where widening takes four. */
INLINE __m512 bf16_even(__m512i v) { return _mm512_castsi512_ps(_mm512_slli_epi32(v, 16)); }
INLINE __m512 bf16_odd(__m512i v)
{
	return _mm512_castsi512_ps(_mm512_and_si512(v, _mm512_set1_epi32((int)0xffff0000)));
}

/* One row: n32 columns (a multiple of 32) against xp, the rest against x. */
INLINE float bf16_row(const uint16_t *w, const float *xp, const float *x, size_t n32, size_t cols)
{
	__m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
	size_t c = 0;
	for (; c + 64 <= n32; c += 64) {
		__m512i v0 = _mm512_loadu_si512(w + c), v1 = _mm512_loadu_si512(w + c + 32);
		a0 = _mm512_fmadd_ps(bf16_even(v0), _mm512_load_ps(xp + c), a0);
		a1 = _mm512_fmadd_ps(bf16_odd(v0), _mm512_load_ps(xp + c + 16), a1);
		a2 = _mm512_fmadd_ps(bf16_even(v1), _mm512_load_ps(xp + c + 32), a2);
		a3 = _mm512_fmadd_ps(bf16_odd(v1), _mm512_load_ps(xp + c + 48), a3);
	}
	if (c < n32) {
		__m512i v0 = _mm512_loadu_si512(w + c);
		a0 = _mm512_fmadd_ps(bf16_even(v0), _mm512_load_ps(xp + c), a0);
		a1 = _mm512_fmadd_ps(bf16_odd(v0), _mm512_load_ps(xp + c + 16), a1);
		c += 32;
	}
	for (; c < cols; c += 16) {
		__mmask16 m = tail(cols, c);
		a2 = _mm512_fmadd_ps(load16(KD_BF16, w, c, m), _mm512_maskz_loadu_ps(m, x + c), a2);
	}
	return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
}

/* Rows one after another, so the weights stream in address order: rows
 * read side by side start a stream per row, and at 4 KB rows the hardware
 * prefetcher restarts at every page.  x (permuted) stays in L1 while cols is
 * small; the engine stores wide matrices as panels of 2048 columns. */
static void gemv_bf16(const void *w, const float *x, float *y, size_t rows, size_t cols)
{
	size_t n32 = cols & ~(size_t)31;
	if (n32 == 0 || cols > 8192) {
		float_gemv(KD_BF16, w, x, y, rows, cols);
		return;
	}
	float xp[n32] __attribute__((aligned(64)));
	even_odd(x, xp, n32);
	for (size_t r = 0; r < rows; r++)
		y[r] = bf16_row((const uint16_t *)w + r * cols, xp, x, n32, cols);
}

/* The 32 integer values of one Q8_0 or Q4_0 block as floats, scale returned. */
INLINE float qblock(enum kern_dtype t, const void *blk, __m512 q[2])
{
	uint16_t d;
	memcpy(&d, blk, 2);
	const char *qs = (const char *)blk + 2;
	__m128i lo, hi;
	if (t == KD_Q8_0) {
		lo = _mm_loadu_si128((const __m128i *)qs);
		hi = _mm_loadu_si128((const __m128i *)(qs + 16));
	} else { /* low nibbles are values 0..15, high nibbles 16..31, offset 8 */
		__m128i v = _mm_loadu_si128((const __m128i *)qs), m = _mm_set1_epi8(0x0f);
		lo = _mm_sub_epi8(_mm_and_si128(v, m), _mm_set1_epi8(8));
		hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(v, 4), m), _mm_set1_epi8(8));
	}
	q[0] = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(lo));
	q[1] = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(hi));
	return _cvtsh_ss(d);
}

/* kern_quantize_act, sixteen lanes at a time, with the same integers and
 * scales: the same max, d = amax / 127 and id = 1 / d in scalar f32, the same
 * product v * id, and roundf's half-away-from-zero done exactly as trunc
 * plus one step away where the (exact) fraction is at least one half. */
INLINE __m512i round_away(__m512 t)
{
	__m512 r = _mm512_roundscale_ps(t, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
	__m512 frac = _mm512_abs_ps(_mm512_sub_ps(t, r));
	__mmask16 up = _mm512_cmp_ps_mask(frac, _mm512_set1_ps(0.5f), _CMP_GE_OQ);
	__m512i q = _mm512_cvttps_epi32(r);
	__m512i step = _mm512_srai_epi32(_mm512_castps_si512(t), 31);   /* -1 or 0 */
	step = _mm512_or_si512(step, _mm512_set1_epi32(1));               /* -1 or 1 */
	return _mm512_mask_add_epi32(q, up, q, step);
}

static void quantize_act(const float *x, struct kern_act_q8 *out, size_t n)
{
	const __m512 zero = _mm512_setzero_ps();
	for (size_t b = 0; b < n / KERN_QBLOCK; b++) {
		__m512 v0 = _mm512_loadu_ps(x + b * KERN_QBLOCK), v1 = _mm512_loadu_ps(x + b * KERN_QBLOCK + 16);
		__mmask16 fin = _mm512_cmp_ps_mask(_mm512_sub_ps(v0, v0), zero, _CMP_EQ_OQ) &
				_mm512_cmp_ps_mask(_mm512_sub_ps(v1, v1), zero, _CMP_EQ_OQ);
		if (fin != 0xffff) {
			memset(out[b].qs, 0, sizeof out[b].qs);
			out[b].d = NAN;
			out[b].sum = 0;
			continue;
		}
		float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
		float d = amax / 127.0f, id = d ? 1.0f / d : 0.0f;
		__m512 vid = _mm512_set1_ps(id);
		__m512i q0 = round_away(_mm512_mul_ps(v0, vid)), q1 = round_away(_mm512_mul_ps(v1, vid));
		_mm_storeu_si128((__m128i *)out[b].qs, _mm512_cvtepi32_epi8(q0));
		_mm_storeu_si128((__m128i *)(out[b].qs + 16), _mm512_cvtepi32_epi8(q1));
		out[b].d = _cvtsh_ss(_cvtss_sh(d, 0));
		out[b].sum = _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
	}
}

/* --- Q8_0 / Q4_0 against quantised activations (kern_quantize_act) --- */

/* Two blocks' 32 values each in one register: a's in the low half. */
INLINE __m512i join256(__m256i a, __m256i b)
{
	return _mm512_inserti64x4(_mm512_castsi256_si512(a), b, 1);
}

/* The 32 weights of a block as bytes: Q8_0 signed; Q4_0 the unsigned
 * nibbles 0..15 (value + 8), low nibbles first as the layout orders them. */
INLINE __m256i wbytes(enum kern_dtype t, const char *blk)
{
	if (t == KD_Q8_0)
		return _mm256_loadu_si256((const __m256i *)(blk + 2));
	__m128i v = _mm_loadu_si128((const __m128i *)(blk + 2)), m = _mm_set1_epi8(0x0f);
	return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v, 4), m), _mm_and_si128(v, m));
}

/* Sixteen int32 partial sums of u8 x s8 products, four per lane: VNNI's one
 * instruction, or the AVX-512BW pair (no saturation: |u| <= 128, |s| <= 127). */
INLINE __m512i dot_u8s8(__m512i u, __m512i s, int vnni)
{
	if (vnni)
		return _mm512_dpbusd_epi32(_mm512_setzero_si512(), u, s);
	return _mm512_madd_epi16(_mm512_maddubs_epi16(u, s), _mm512_set1_epi16(1));
}

/* Partial sums of two weight blocks with two activation blocks x, per
 * lane, lanes 0-7 the first pair.  Q8_0 moves the weight's sign onto x (|w|
 * is an unsigned byte even for -128); Q4_0 takes 8 times x's sum off: off
 * holds each block's sum in its 8 lanes. */
INLINE __m512i pair_dot(enum kern_dtype t, __m512i w, __m512i x, __m512i off, int vnni)
{
	if (t == KD_Q8_0) {
		__mmask64 neg = _mm512_movepi8_mask(w);
		return dot_u8s8(_mm512_abs_epi8(w), _mm512_mask_sub_epi8(x, neg, _mm512_setzero_si512(), x), vnni);
	}
	return _mm512_sub_epi32(dot_u8s8(w, x, vnni), off);
}

INLINE float wscale(const char *blk)
{
	uint16_t d;
	memcpy(&d, blk, 2);
	return _cvtsh_ss(d);
}

/* lo in lanes 0-7, hi in lanes 8-15. */
INLINE __m512 halves(float lo, float hi)
{
	return _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_set1_ps(lo)), _mm256_set1_ps(hi), 1);
}

/* The activation side of blocks b and b+1 (b+1 < nb), or of the last block
 * b with zeros above it: loaded once for all the rows that use them. */
struct act_pair { __m512i x, off; __m512 d; };

INLINE struct act_pair act_pair(const struct kern_act_q8 *a, size_t b, int both)
{
	__m256i x1 = both ? _mm256_loadu_si256((const __m256i *)a[b + 1].qs) : _mm256_setzero_si256();
	struct act_pair p = {
		.x = join256(_mm256_loadu_si256((const __m256i *)a[b].qs), x1),
		.off = join256(_mm256_set1_epi32(a[b].sum), _mm256_set1_epi32(both ? a[b + 1].sum : 0)),
		.d = halves(a[b].d, both ? a[b + 1].d : 0.0f),
	};
	return p;
}

/* One row's two blocks at blk (or one, with both 0) into acc. */
INLINE __m512 row_pair(enum kern_dtype t, const char *blk, size_t bs, struct act_pair p, int both,
		       __m512 acc, int vnni)
{
	__m512i w = join256(wbytes(t, blk), both ? wbytes(t, blk + bs) : _mm256_setzero_si256());
	__m512 sc = _mm512_mul_ps(halves(wscale(blk), both ? wscale(blk + bs) : 0.0f), p.d);
	return _mm512_fmadd_ps(_mm512_cvtepi32_ps(pair_dot(t, w, p.x, p.off, vnni)), sc, acc);
}

/* y[0, nr) = W[0, nr) . a for nr rows of nb blocks, rb bytes apart. */
INLINE void q_rows(enum kern_dtype t, const char *w, size_t rb, const struct kern_act_q8 *a,
		   float *y, size_t nb, int nr, int vnni)
{
	size_t bs = t == KD_Q8_0 ? sizeof(struct kern_block_q8_0) : sizeof(struct kern_block_q4_0);
	__m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
	size_t b = 0;
	for (; b + 1 < nb; b += 2) {
		struct act_pair p = act_pair(a, b, 1);
		_Pragma("GCC unroll 8") for (int r = 0; r < nr; r++)
			acc[r] = row_pair(t, w + r * rb + b * bs, bs, p, 1, acc[r], vnni);
	}
	if (b < nb) {
		struct act_pair p = act_pair(a, b, 0);
		_Pragma("GCC unroll 8") for (int r = 0; r < nr; r++)
			acc[r] = row_pair(t, w + r * rb + b * bs, bs, p, 0, acc[r], vnni);
	}
	_Pragma("GCC unroll 8") for (int r = 0; r < nr; r++)
		y[r] = _mm512_reduce_add_ps(acc[r]);
}

/* W [rows, cols] against activations already quantised. */
INLINE void q_gemv_act(enum kern_dtype t, const void *w, const struct kern_act_q8 *a, float *y,
		       size_t rows, size_t cols, int vnni)
{
	size_t rb = kern_row_bytes(t, cols), nb = cols / KERN_QBLOCK, r = 0;
	for (; r + 4 <= rows; r += 4)
		q_rows(t, (const char *)w + r * rb, rb, a, y + r, nb, 4, vnni);
	for (; r < rows; r++)
		q_rows(t, (const char *)w + r * rb, rb, a, y + r, nb, 1, vnni);
}

INLINE void q_gemv(enum kern_dtype t, const void *w, const float *x, float *y, size_t rows,
		   size_t cols, int vnni)
{
	struct kern_act_q8 a[cols / KERN_QBLOCK ? cols / KERN_QBLOCK : 1];
	quantize_act(x, a, cols);
	q_gemv_act(t, w, a, y, rows, cols, vnni);
}

/* Prefill: the n rows of X quantised once, then each thread takes blocks of
 * 16 weight rows and runs every token through them while they sit in L1. */
INLINE void q_gemm(enum kern_dtype t, const void *w, const float *x, float *y, size_t n,
		   size_t rows, size_t cols, int threads, int vnni)
{
	size_t nb = cols / KERN_QBLOCK, rb = kern_row_bytes(t, cols);
	struct kern_act_q8 *a = malloc(n * nb * sizeof *a);
	if (!a) {   /* no memory for the quantised prompt: a token at a time */
		for (size_t i = 0; i < n; i++)
			q_gemv(t, w, x + i * cols, y + i * rows, rows, cols, vnni);
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
			q_gemv_act(t, (const char *)w + r0 * rb, a + i * nb, tmp, nr, cols, vnni);
			memcpy(y + i * rows + r0, tmp, nr * sizeof(float));
		}
	}
	free(a);
}

static int has_vnni;

static void gemv_q8_0(const void *w, const float *x, float *y, size_t rows, size_t cols)
{
	if (has_vnni)
		q_gemv(KD_Q8_0, w, x, y, rows, cols, 1);
	else
		q_gemv(KD_Q8_0, w, x, y, rows, cols, 0);
}

static void gemv_q4_0(const void *w, const float *x, float *y, size_t rows, size_t cols)
{
	if (has_vnni)
		q_gemv(KD_Q4_0, w, x, y, rows, cols, 1);
	else
		q_gemv(KD_Q4_0, w, x, y, rows, cols, 0);
}

/* --- Q8_0 / Q4_0 packed (kernels/pack.c): 16 rows side by side, VNNI ---
 * The stored values are unsigned (Q8_0 value + 128, Q4_0 value + 8): one
 * vpdpbusd per chunk, then the offset times the activation block's sum off. */
#define PR KERN_PACK_ROWS

INLINE size_t qbs(enum kern_dtype t) { return t == KD_Q8_0 ? 34 : 18; }

INLINE __m512i bcast4(const int8_t *p)
{
	int32_t v;
	memcpy(&v, p, 4);
	return _mm512_set1_epi32(v);
}

/* The 16 rows' integer dots of one group block with T activation blocks,
 * the offset taken off, into isum[T]. */
INLINE void group_block_dots(enum kern_dtype t, const uint8_t *o, const struct kern_act_q8 *const *a,
			     size_t b, int T, __m512i *isum)
{
	__m512i s0[4], s1[4];
	for (int i = 0; i < T; i++)
		s0[i] = s1[i] = _mm512_setzero_si512();
	if (t == KD_Q8_0) {
		_Pragma("GCC unroll 8") for (int k = 0; k < 8; k += 2) {
			__m512i w0 = _mm512_loadu_si512(o + 32 + k * 64), w1 = _mm512_loadu_si512(o + 96 + k * 64);
			_Pragma("GCC unroll 4") for (int i = 0; i < T; i++) {
				s0[i] = _mm512_dpbusd_epi32(s0[i], w0, bcast4(a[i][b].qs + 4 * k));
				s1[i] = _mm512_dpbusd_epi32(s1[i], w1, bcast4(a[i][b].qs + 4 * k + 4));
			}
		}
	} else {
		const __m512i m = _mm512_set1_epi8(0x0f);
		_Pragma("GCC unroll 4") for (int k = 0; k < 4; k++) {
			__m512i v = _mm512_loadu_si512(o + 32 + k * 64);
			__m512i lo = _mm512_and_si512(v, m), hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), m);
			_Pragma("GCC unroll 4") for (int i = 0; i < T; i++) {
				s0[i] = _mm512_dpbusd_epi32(s0[i], lo, bcast4(a[i][b].qs + 4 * k));
				s1[i] = _mm512_dpbusd_epi32(s1[i], hi, bcast4(a[i][b].qs + 16 + 4 * k));
			}
		}
	}
	int off = t == KD_Q8_0 ? 128 : 8;
	for (int i = 0; i < T; i++)
		isum[i] = _mm512_sub_epi32(_mm512_add_epi32(s0[i], s1[i]), _mm512_set1_epi32(off * a[i][b].sum));
}

/* y[i][0..16) for T tokens through one group of 16 rows (nb blocks). */
INLINE void group_rows(enum kern_dtype t, const uint8_t *grp, size_t nb, const struct kern_act_q8 *const *a,
		       int T, float *const *y)
{
	size_t gb = PR * qbs(t);
	__m512 acc[4];
	for (int i = 0; i < T; i++)
		acc[i] = _mm512_setzero_ps();
	for (size_t b = 0; b < nb; b++) {
		const uint8_t *o = grp + b * gb;
		__m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)o));
		__m512i isum[4];
		group_block_dots(t, o, a, b, T, isum);
		_Pragma("GCC unroll 4") for (int i = 0; i < T; i++)
			acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[i]),
						 _mm512_mul_ps(dw, _mm512_set1_ps(a[i][b].d)), acc[i]);
	}
	for (int i = 0; i < T; i++)
		_mm512_storeu_ps(y[i], acc[i]);
}

/* Prefill (kern_packed_gemm): every token through one chunk of groups
 * while its weights sit in L2, four at a time so each weight load serves
 * four.  A chunk reads the activations once; group by group, a 512-token
 * prompt would stream its 1.3 MB of activations once per 16 rows. */
INLINE void chunk_rows(enum kern_dtype t, const void *wv, size_t g0, size_t g1, size_t nb,
		       const struct kern_act_q8 *a, float *y, size_t n, size_t rows)
{
	const uint8_t *w = wv;
	size_t gb = PR * qbs(t), i = 0;
	float tmp[4][PR];
	for (; i + 4 <= n; i += 4) {
		const struct kern_act_q8 *ap[4] = {a + i * nb, a + (i + 1) * nb, a + (i + 2) * nb, a + (i + 3) * nb};
		float *yp[4] = {tmp[0], tmp[1], tmp[2], tmp[3]};
		for (size_t g = g0; g < g1; g++) {
			group_rows(t, w + g * nb * gb, nb, ap, 4, yp);
			for (int k = 0; k < 4; k++)
				memcpy(y + (i + k) * rows + g * PR, tmp[k], sizeof tmp[k]);
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
	for (size_t i = 0; i < n; i += 16) {
		__mmask16 m = tail(n, i);
		_mm512_mask_storeu_ps(dst + i, m, load16(t, src, i, m));
	}
}

static void f16_to_f32(const void *src, float *dst, size_t n) { half_to_f32(KD_F16, src, dst, n); }
static void bf16_to_f32(const void *src, float *dst, size_t n) { half_to_f32(KD_BF16, src, dst, n); }

/* Hardware rounding is round-to-nearest-even with subnormals, as the
 * reference; NaNs become the reference's sign | 0x7e00 (the hardware would
 * keep payload bits). */
INLINE __m256i f16x16_from(__m512 v)
{
	__m256i h = _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
	__mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
	__m256i q = _mm256_or_si256(_mm256_and_si256(h, _mm256_set1_epi16((short)0x8000)),
				    _mm256_set1_epi16(0x7e00));
	return _mm256_mask_mov_epi16(h, nan, q);
}

/* The reference's rounding, u + 0x7fff + lsb, NaNs quietened with 0x40;
 * vcvtneps2bf16 is not used: it flushes subnormals. */
INLINE __m256i bf16x16_from(__m512 v)
{
	__m512i u = _mm512_castps_si512(v);
	__m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
	__m512i r = _mm512_srli_epi32(_mm512_add_epi32(u, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff))), 16);
	__m512i q = _mm512_or_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(0x40));
	r = _mm512_mask_mov_epi32(r, _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), q);
	return _mm512_cvtepi32_epi16(r);
}

/* src [n] f32 to dst [n] of type t (F16 or BF16). */
INLINE void half_from_f32(enum kern_dtype t, const float *src, void *dst, size_t n)
{
	uint16_t *d = dst;
	for (size_t i = 0; i < n; i += 16) {
		__mmask16 m = tail(n, i);
		__m512 v = _mm512_maskz_loadu_ps(m, src + i);
		_mm256_mask_storeu_epi16(d + i, m, t == KD_F16 ? f16x16_from(v) : bf16x16_from(v));
	}
}

static void f16_from_f32(const float *src, void *dst, size_t n) { half_from_f32(KD_F16, src, dst, n); }
static void bf16_from_f32(const float *src, void *dst, size_t n) { half_from_f32(KD_BF16, src, dst, n); }

/* src: n / 32 blocks of type t; dst [n]. */
INLINE void q_to_f32(enum kern_dtype t, const void *src, float *dst, size_t n)
{
	size_t bs = t == KD_Q8_0 ? sizeof(struct kern_block_q8_0) : sizeof(struct kern_block_q4_0);
	for (size_t b = 0; b < n / KERN_QBLOCK; b++) {
		__m512 q[2];
		__m512 d = _mm512_set1_ps(qblock(t, (const char *)src + b * bs, q));
		_mm512_storeu_ps(dst + b * KERN_QBLOCK, _mm512_mul_ps(q[0], d));
		_mm512_storeu_ps(dst + b * KERN_QBLOCK + 16, _mm512_mul_ps(q[1], d));
	}
}

static void q8_0_to_f32(const void *src, float *dst, size_t n) { q_to_f32(KD_Q8_0, src, dst, n); }
static void q4_0_to_f32(const void *src, float *dst, size_t n) { q_to_f32(KD_Q4_0, src, dst, n); }

/* --- element-wise; tails are masked lanes --- */

/* out [n] = w [n] * x [n] / sqrt(mean(x^2) + eps); out may be x. */
static void rmsnorm(float *out, const float *x, const float *w, size_t n, float eps)
{
	/* squares summed in double like the reference */
	__m512d s = _mm512_setzero_pd();
	for (size_t i = 0; i < n; i += 16) {
		__mmask16 m = tail(n, i);
		__m512 v = _mm512_maskz_loadu_ps(m, x + i);
		__m512d a = _mm512_cvtps_pd(_mm512_castps512_ps256(v));
		__m512d b = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
		s = _mm512_fmadd_pd(a, a, _mm512_fmadd_pd(b, b, s));
	}
	double ss = _mm512_reduce_add_pd(s);
	__m512 sv = _mm512_set1_ps(1.0f / sqrtf((float)(ss / (double)n) + eps));
	for (size_t i = 0; i < n; i += 16) {
		__mmask16 m = tail(n, i);
		__m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), sv);
		_mm512_mask_storeu_ps(out + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, w + i), v));
	}
}

/* x [n_heads, head_dim] rotated in place; cos, sin [head_dim / 2]. */
static void rope(float *x, size_t n_heads, size_t head_dim, const float *cos, const float *sin)
{
	size_t half = head_dim / 2;
	for (size_t h = 0; h < n_heads; h++) {
		float *v = x + h * head_dim;
		for (size_t i = 0; i < half; i += 16) {
			__mmask16 m = tail(half, i);
			__m512 a = _mm512_maskz_loadu_ps(m, v + i), b = _mm512_maskz_loadu_ps(m, v + i + half);
			__m512 c = _mm512_maskz_loadu_ps(m, cos + i), s = _mm512_maskz_loadu_ps(m, sin + i);
			_mm512_mask_storeu_ps(v + i, m, _mm512_fmsub_ps(a, c, _mm512_mul_ps(b, s)));
			_mm512_mask_storeu_ps(v + i + half, m, _mm512_fmadd_ps(b, c, _mm512_mul_ps(a, s)));
		}
	}
}

/* x [n] in place: exp(x - max) / sum. */
static void softmax(float *x, size_t n)
{
	__m512 mv = _mm512_set1_ps(-INFINITY);
	for (size_t i = 0; i < n; i += 16) {
		__mmask16 m = tail(n, i);
		mv = _mm512_mask_max_ps(mv, m, mv, _mm512_maskz_loadu_ps(m, x + i));
	}
	__m512 mx = _mm512_set1_ps(_mm512_reduce_max_ps(mv)), sv = _mm512_setzero_ps();
	for (size_t i = 0; i < n; i += 16) {
		__mmask16 m = tail(n, i);
		__m512 e = exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), mx));
		_mm512_mask_storeu_ps(x + i, m, e);
		sv = _mm512_mask_add_ps(sv, m, sv, e);
	}
	__m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(sv));
	for (size_t i = 0; i < n; i += 16) {
		__mmask16 m = tail(n, i);
		_mm512_mask_storeu_ps(x + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), inv));
	}
}

/* gate [n] = silu(gate) * up [n]. */
static void silu_mul(float *gate, const float *up, size_t n)
{
	for (size_t i = 0; i < n; i += 16) {
		__mmask16 m = tail(n, i);
		__m512 g = _mm512_maskz_loadu_ps(m, gate + i);
		__m512 e = exp16(_mm512_sub_ps(_mm512_setzero_ps(), g));
		__m512 s = _mm512_div_ps(g, _mm512_add_ps(_mm512_set1_ps(1.0f), e));
		_mm512_mask_storeu_ps(gate + i, m, _mm512_mul_ps(s, _mm512_maskz_loadu_ps(m, up + i)));
	}
}

/* y [n] += x [n]. */
static void add(float *y, const float *x, size_t n)
{
	for (size_t i = 0; i < n; i += 16) {
		__mmask16 m = tail(n, i);
		__m512 s = _mm512_add_ps(_mm512_maskz_loadu_ps(m, y + i), _mm512_maskz_loadu_ps(m, x + i));
		_mm512_mask_storeu_ps(y + i, m, s);
	}
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
		__m512 s = _mm512_set1_ps(scratch[t]);
		for (size_t d = 0; d < head_dim; d += 16) {
			__mmask16 m = tail(head_dim, d);
			__m512 o = _mm512_fmadd_ps(s, _mm512_maskz_loadu_ps(m, vt + d), _mm512_maskz_loadu_ps(m, out + d));
			_mm512_mask_storeu_ps(out + d, m, o);
		}
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
	if (has_vnni)
		q_gemm(KD_Q8_0, w, x, y, n, rows, cols, threads, 1);
	else
		q_gemm(KD_Q8_0, w, x, y, n, rows, cols, threads, 0);
}

static void gemm_q4_0(const void *w, const float *x, float *y, size_t n, size_t rows, size_t cols, int threads)
{
	if (has_vnni)
		q_gemm(KD_Q4_0, w, x, y, n, rows, cols, threads, 1);
	else
		q_gemm(KD_Q4_0, w, x, y, n, rows, cols, threads, 0);
}

/* --- the table --- */

static struct kern_ops table;

static void build(void)
{
	const struct kern_ops *base = kern_avx2_ops();
	table = base ? *base : kern_ref;
	table.name = "avx512";
	has_vnni = __builtin_cpu_supports("avx512vnni");
	void (*gemv[KD_COUNT])(const void *, const float *, float *, size_t, size_t) = {
		gemv_f32, gemv_f16, gemv_bf16, gemv_q8_0, gemv_q4_0};
	memcpy(table.gemv, gemv, (KD_Q4_0 + 1) * sizeof *gemv);   /* the types of this file */
	table.gemm[KD_F32] = gemm_f32;
	table.gemm[KD_F16] = gemm_f16;
	table.gemm[KD_BF16] = gemm_bf16;
	table.gemm[KD_Q8_0] = gemm_q8_0;
	table.gemm[KD_Q4_0] = gemm_q4_0;
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
	/* The packed layout is kernels/pack.c's for both variants: with VNNI
	 * these kernels, without it AVX2's (copied with the base table). */
	if (has_vnni) {
		table.pack[KD_Q8_0] = kern_pack_q8_0;
		table.pack[KD_Q4_0] = kern_pack_q4_0;
		table.gemv_packed[KD_Q8_0] = gemv_q8_0_packed;
		table.gemv_packed[KD_Q4_0] = gemv_q4_0_packed;
		table.gemm_packed[KD_Q8_0] = gemm_q8_0_packed;
		table.gemm_packed[KD_Q4_0] = gemm_q4_0_packed;
		table.packed_row_f32[KD_Q8_0] = kern_packed_row_q8_0;
		table.packed_row_f32[KD_Q4_0] = kern_packed_row_q4_0;
		kern_gguf_avx512(&table);
	}
	kern_avx512_mlx_fill(&table);
}

const struct kern_ops *kern_avx512_ops(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	if (!usable())
		return NULL;
	pthread_once(&once, build);
	return &table;
}
