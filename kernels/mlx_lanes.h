/* The MLX gemv both SIMD variants use where it applies (included by
 * kernels/avx2_mlx.c and avx512_mlx.c, compiled for each one's ISA): a
 * chunk of a group's bit stream is 8 "units" of whole values, one per
 * 32-bit lane (a word of 8 4-bit, 4 8-bit or 16 2-bit values; 3 bytes of 8
 * 3-bit or 4 6-bit values, gathered into the lanes by one byte shuffle), so
 * value j of every lane is a shift and a mask away, with no shuffle per
 * value.  Lane i's value j is value i*V + j of the chunk: x is permuted to
 * that order once per call.  5-bit values (8 in 5 bytes) and groups shorter
 * than a chunk (4-bit in 32s, 3-bit in 32s, 2-bit below 128) take the
 * shuffle path of the file that includes this.  256 bits in both variants:
 * two rows in the halves of 512-bit vectors measured slower on the EPYC
 * (Zen 4) this was tuned on, which splits 512-bit operations in two. */
#ifndef EXO_KERNELS_MLX_LANES_H
#define EXO_KERNELS_MLX_LANES_H
#include "kernels/mlx.h"

#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

/* Values per unit (V), bytes per unit, for the widths this path takes. */
static inline int lanes_values(int bits) { return bits == 3 ? 8 : bits == 6 ? 4 : 32 / bits; }
static inline int lanes_unit_bytes(int bits) { return bits == 3 || bits == 6 ? 3 : 4; }

static inline int lanes_apply(int bits, int group)
{
	return bits != 5 && group % (8 * lanes_values(bits)) == 0;
}

/* The 8 units of the chunk at q in the lanes (3-byte units: two 16-byte
 * loads at 0 and 8 cover the 24 bytes exactly; no read past the chunk). */
static inline __attribute__((always_inline)) __m256i lanes_units(const uint8_t *q, int bits)
{
	if (lanes_unit_bytes(bits) == 4)
		return _mm256_loadu_si256((const __m256i *)q);
	const __m256i gather = _mm256_setr_epi8(0, 1, 2, -1, 3, 4, 5, -1, 6, 7, 8, -1, 9, 10, 11, -1,
						4, 5, 6, -1, 7, 8, 9, -1, 10, 11, 12, -1, 13, 14, 15, -1);
	__m256i v = _mm256_loadu2_m128i((const __m128i *)(q + 8), (const __m128i *)q);
	return _mm256_shuffle_epi8(v, gather);
}

/* x in lane order: chunk c's value i*V + j at c*8V + j*8 + i. */
static inline void lanes_permute(const float *x, float *xp, size_t cols, int bits)
{
	size_t V = (size_t)lanes_values(bits), chunk = 8 * V;
	for (size_t c0 = 0; c0 < cols; c0 += chunk)
		for (size_t i = 0; i < 8; i++)
			for (size_t j = 0; j < V; j++)
				xp[c0 + j * 8 + i] = x[c0 + i * V + j];
}

static inline float lanes_hsum(__m256 v)
{
	__m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

static inline float lanes_scale(const struct kern_mlx *p, const uint8_t *s)
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

/* y = W x for rows of type p (lanes_apply true), bits a constant at the call. */
static inline __attribute__((always_inline)) void lanes_gemv(const struct kern_mlx *p, int bits,
							     const void *w, const float *x, float *y,
							     size_t rows, size_t cols)
{
	size_t ng = cols / (size_t)p->group, rb = ng * p->block_bytes;
	int V = lanes_values(bits);
	size_t chunk_vals = 8 * (size_t)V, chunk_bytes = 8 * (size_t)lanes_unit_bytes(bits);
	size_t chunks = (size_t)p->group / chunk_vals;
	float local_x[2048], local_s[64];
	float *xp = cols <= 2048 ? local_x : malloc(cols * sizeof *xp);
	float *sums = ng <= 64 ? local_s : malloc(ng * sizeof *sums);
	if (!xp || !sums) { /* no memory for the permuted x: the reference needs none */
		kern_ref.gemv[kern_mlx_type(p->bits, p->group, p->scale_type)](w, x, y, rows, cols);
		goto out;
	}
	lanes_permute(x, xp, cols, bits);
	for (size_t g = 0; g < ng; g++) {
		__m256 s = _mm256_loadu_ps(x + g * (size_t)p->group);
		for (int c = 8; c < p->group; c += 8)
			s = _mm256_add_ps(s, _mm256_loadu_ps(x + g * (size_t)p->group + (size_t)c));
		sums[g] = lanes_hsum(s);
	}
	const __m256i mask = _mm256_set1_epi32((1 << bits) - 1);
	for (size_t r = 0; r < rows; r++) {
		const uint8_t *blk = (const uint8_t *)w + r * rb;
		const float *xc = xp;
		__m256 acc = _mm256_setzero_ps();
		float bias_acc = 0;
		for (size_t g = 0; g < ng; g++, blk += p->block_bytes) {
			const uint8_t *q = blk + 2 * p->scale_bytes;
			/* 4 KB ahead: measured 1.5x the decode of leaving it to the
			 * hardware prefetcher (2 KB: no gain, 8 and 16 KB: less) */
			_mm_prefetch((const char *)blk + 4096, _MM_HINT_T0);
			/* four chains: an FMA's latency is four of its issue slots */
			__m256 d[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
				       _mm256_setzero_ps()};
			for (size_t c = 0; c < chunks; c++, q += chunk_bytes, xc += chunk_vals) {
				__m256i u = lanes_units(q, bits);
#pragma GCC unroll 16
				for (int j = 0; j < V; j++) {
					__m256i qj = _mm256_and_si256(_mm256_srli_epi32(u, bits * j), mask);
					d[j % 4] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(qj), _mm256_loadu_ps(xc + 8 * j),
								   d[j % 4]);
				}
			}
			__m256 dot = _mm256_add_ps(_mm256_add_ps(d[0], d[1]), _mm256_add_ps(d[2], d[3]));
			acc = _mm256_fmadd_ps(_mm256_set1_ps(lanes_scale(p, blk)), dot, acc);
			bias_acc += lanes_scale(p, blk + p->scale_bytes) * sums[g];
		}
		y[r] = lanes_hsum(acc) + bias_acc;
	}
out:
	if (xp && xp != local_x)
		free(xp);
	if (sums && sums != local_s)
		free(sums);
}
/* Y[n, rows] = X W^T for 8 tokens at a time: each chunk of a row is
 * unpacked and scaled once (scale * q) and multiplied into 8 tokens'
 * accumulators; the biases come with each token's group sums.  Rows go in
 * blocks of 16 (their weights stay in L1 while the token blocks pass) shared
 * out among the threads.  Fewer than 8 tokens left: one gemv each. */
static inline __attribute__((always_inline)) void lanes_gemm8(const struct kern_mlx *p, int bits,
							      const void *w, const float *xp,
							      const float *sums, float *y, size_t n8,
							      size_t rows, size_t cols, int threads)
{
	size_t ng = cols / (size_t)p->group, rb = ng * p->block_bytes;
	int V = lanes_values(bits);
	size_t chunk_vals = 8 * (size_t)V, chunk_bytes = 8 * (size_t)lanes_unit_bytes(bits);
	size_t chunks = (size_t)p->group / chunk_vals, blocks = (rows + 15) / 16;
	const __m256i mask = _mm256_set1_epi32((1 << bits) - 1);
#pragma omp parallel for num_threads(threads > 0 ? threads : 1) schedule(static)
	for (size_t rblk = 0; rblk < blocks; rblk++)
		for (size_t t0 = 0; t0 < n8; t0 += 8)
			for (size_t r = rblk * 16; r < rows && r < rblk * 16 + 16; r++) {
				const uint8_t *blk = (const uint8_t *)w + r * rb;
				__m256 acc[8];
				float bias[8] = {0};
				for (int t = 0; t < 8; t++)
					acc[t] = _mm256_setzero_ps();
				size_t off = 0;
				for (size_t g = 0; g < ng; g++, blk += p->block_bytes) {
					const uint8_t *q = blk + 2 * p->scale_bytes;
					__m256 sc = _mm256_set1_ps(lanes_scale(p, blk));
					for (size_t c = 0; c < chunks; c++, q += chunk_bytes) {
						__m256i u = lanes_units(q, bits);
						for (int j = 0; j < V; j++, off += 8) {
							__m256i qj = _mm256_and_si256(_mm256_srli_epi32(u, bits * j), mask);
							__m256 wj = _mm256_mul_ps(_mm256_cvtepi32_ps(qj), sc);
#pragma GCC unroll 8
							for (int t = 0; t < 8; t++)
								acc[t] = _mm256_fmadd_ps(wj, _mm256_loadu_ps(xp + (t0 + (size_t)t) * cols + off), acc[t]);
						}
					}
					float b = lanes_scale(p, blk + p->scale_bytes);
					for (int t = 0; t < 8; t++)
						bias[t] += b * sums[(t0 + (size_t)t) * ng + g];
				}
				for (int t = 0; t < 8; t++)
					y[(t0 + (size_t)t) * rows + r] = lanes_hsum(acc[t]) + bias[t];
			}
}

static inline __attribute__((always_inline)) void lanes_gemm(const struct kern_mlx *p, int bits,
							     const void *w, const float *x, float *y,
							     size_t n, size_t rows, size_t cols, int threads)
{
	size_t ng = cols / (size_t)p->group, n8 = n / 8 * 8;
	float *xp = n8 ? malloc(n8 * cols * sizeof *xp) : NULL;
	float *sums = n8 ? malloc(n8 * ng * sizeof *sums) : NULL;
	if (!xp || !sums)
		n8 = 0;   /* no memory for the permuted tokens: a gemv each */
	for (size_t t = 0; t < n8; t++) {
		lanes_permute(x + t * cols, xp + t * cols, cols, bits);
		for (size_t g = 0; g < ng; g++) {
			const float *xg = x + t * cols + g * (size_t)p->group;
			__m256 s = _mm256_loadu_ps(xg);
			for (int c = 8; c < p->group; c += 8)
				s = _mm256_add_ps(s, _mm256_loadu_ps(xg + c));
			sums[t * ng + g] = lanes_hsum(s);
		}
	}
	if (n8)
		lanes_gemm8(p, bits, w, xp, sums, y, n8, rows, cols, threads);
	free(xp);
	free(sums);
	for (size_t t = n8; t < n; t++)
		lanes_gemv(p, bits, w, x + t * cols, y + t * rows, rows, cols);
}
#endif
