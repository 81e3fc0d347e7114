/* The packed layout of Q8_0 and Q4_0 weights that the AVX2 and AVX-512
 * variants share (kern.h: pack, packed_row_f32).
 *
 * Per group of KERN_PACK_ROWS (16) rows and block of 32 columns: the 16
 * rows' f16 scales, then their values in 64-byte chunks whose 32-bit lane r
 * holds four consecutive values of row r, so that one vpdpbusd (or an AVX2
 * maddubs/madd pair per 8 rows) against four activation bytes broadcast to
 * every lane adds four products to each row's sum: no horizontal sums, one
 * activation load for 16 rows.  Q8_0: 8 chunks, chunk k values 4k..4k+3,
 * stored as value + 128 (unsigned).  Q4_0: 4 chunks, chunk k the bytes
 * qs[4k..4k+3] of the standard layout: low nibbles values 4k.., high
 * nibbles values 16+4k.., each value + 8.  A group block holds 16 * 34 or
 * 16 * 18 bytes, as many as the standard layout, so offsets of whole groups
 * are the standard ones. */
#include "kernels/kern_simd.h"

#include <stdlib.h>
#include <string.h>

#define PR KERN_PACK_ROWS

static size_t block_bytes(enum kern_dtype t)
{
	return t == KD_Q8_0 ? sizeof(struct kern_block_q8_0) : sizeof(struct kern_block_q4_0);
}

static void pack(enum kern_dtype t, const void *w, void *dst, size_t rows, size_t cols)
{
	size_t nb = cols / KERN_QBLOCK, bs = block_bytes(t), rb = nb * bs, gb = PR * bs;
	size_t chunks = t == KD_Q8_0 ? 8 : 4;
	for (size_t g = 0; g < rows / PR; g++)
		for (size_t b = 0; b < nb; b++) {
			uint8_t *o = (uint8_t *)dst + (g * nb + b) * gb;
			for (size_t r = 0; r < PR; r++) {
				const uint8_t *blk = (const uint8_t *)w + (g * PR + r) * rb + b * bs;
				memcpy(o + 2 * r, blk, 2);
				for (size_t k = 0; k < chunks; k++)
					for (size_t j = 0; j < 4; j++) {
						uint8_t v = blk[2 + 4 * k + j];
						o[32 + k * 64 + r * 4 + j] = t == KD_Q8_0 ? (uint8_t)(v ^ 0x80) : v;
					}
			}
		}
}

void kern_pack_q8_0(const void *w, void *dst, size_t rows, size_t cols) { pack(KD_Q8_0, w, dst, rows, cols); }
void kern_pack_q4_0(const void *w, void *dst, size_t rows, size_t cols) { pack(KD_Q4_0, w, dst, rows, cols); }

static void packed_row(enum kern_dtype t, const void *w, size_t cols, size_t r, float *out)
{
	size_t nb = cols / KERN_QBLOCK, gb = PR * block_bytes(t), l = r % PR;
	const uint8_t *grp = (const uint8_t *)w + (r / PR) * nb * gb;
	for (size_t b = 0; b < nb; b++) {
		const uint8_t *o = grp + b * gb;
		uint16_t h;
		memcpy(&h, o + 2 * l, 2);
		float d = kern_f16_to_f32(h), *y = out + b * KERN_QBLOCK;
		for (size_t k = 0; k < (t == KD_Q8_0 ? 8u : 4u); k++)
			for (size_t j = 0; j < 4; j++) {
				uint8_t v = o[32 + k * 64 + l * 4 + j];
				if (t == KD_Q8_0) {
					y[4 * k + j] = d * (float)((int)v - 128);
				} else {
					y[4 * k + j] = d * (float)((v & 15) - 8);
					y[16 + 4 * k + j] = d * (float)((v >> 4) - 8);
				}
			}
	}
}

void kern_packed_row_q8_0(const void *w, size_t cols, size_t r, float *out) { packed_row(KD_Q8_0, w, cols, r, out); }
void kern_packed_row_q4_0(const void *w, size_t cols, size_t r, float *out) { packed_row(KD_Q4_0, w, cols, r, out); }

/* Prefill through a packed matrix: X quantised once, the threads sharing
 * out the tokens for that, then chunks of KERN_PACK_CHUNK_GROUPS groups
 * (256 rows, 150-290 KB of weights, which stay in L2) through which every
 * token runs.  Without memory for the quantised X (n * cols / 32 blocks),
 * one token at a time. */
void kern_packed_gemm(kern_quantize_fn *quantize, kern_chunk_fn *chunk, const void *w,
		      const float *x, float *y, size_t n, size_t rows, size_t cols, int threads)
{
	size_t nb = cols / KERN_QBLOCK, groups = rows / PR;
	long chunks = (long)((groups + KERN_PACK_CHUNK_GROUPS - 1) / KERN_PACK_CHUNK_GROUPS);
	struct kern_act_q8 *a = malloc(n * nb * sizeof *a);
	if (!a) {
		struct kern_act_q8 one[nb ? nb : 1];
		for (size_t i = 0; i < n; i++) {
			quantize(x + i * cols, one, cols);
			chunk(w, 0, groups, nb, one, y + i * rows, 1, rows);
		}
		return;
	}
#pragma omp parallel num_threads(threads > 0 ? threads : 1)
	{
#pragma omp for schedule(static)
		for (size_t i = 0; i < n; i++)
			quantize(x + i * cols, a + i * nb, cols);
#pragma omp for schedule(static)
		for (long c = 0; c < chunks; c++) {
			size_t g0 = (size_t)c * KERN_PACK_CHUNK_GROUPS;
			chunk(w, g0, g0 + KERN_PACK_CHUNK_GROUPS < groups ? g0 + KERN_PACK_CHUNK_GROUPS : groups,
			      nb, a, y, n, rows);
		}
	}
	free(a);
}

/* Decode through a packed matrix: x quantised, every group in one chunk. */
void kern_packed_gemv(kern_quantize_fn *quantize, kern_chunk_fn *chunk, const void *w,
		      const float *x, float *y, size_t rows, size_t cols)
{
	size_t nb = cols / KERN_QBLOCK;
	struct kern_act_q8 a[nb ? nb : 1];
	quantize(x, a, cols);
	chunk(w, 0, rows / PR, nb, a, y, 1, rows);
}
