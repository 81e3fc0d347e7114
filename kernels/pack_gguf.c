/* The packed layout of Q4_1 weights that the AVX2 and AVX-512 variants
 * share: kernels/pack.c's Q4_0 layout with each row's offset beside its
 * scale.  Per group of KERN_PACK_ROWS (16) rows and block of 32 columns:
 * the 16 rows' f16 d, their 16 f16 m, then 4 chunks of 64 bytes whose
 * 32-bit lane r holds bytes qs[4k..4k+3] of row r (low nibbles values
 * 4k.., high nibbles values 16+4k..).  A group block holds 16 * 20 bytes,
 * as many as the standard layout. */
#include "kernels/kern_gguf.h"

#include <string.h>

#define PR KERN_PACK_ROWS
#define BS sizeof(struct kern_block_q4_1)

void kern_pack_q4_1(const void *w, void *dst, size_t rows, size_t cols)
{
	size_t nb = cols / 32, rb = nb * BS, gb = PR * BS;
	for (size_t g = 0; g < rows / PR; g++)
		for (size_t b = 0; b < nb; b++) {
			uint8_t *o = (uint8_t *)dst + (g * nb + b) * gb;
			for (size_t r = 0; r < PR; r++) {
				const struct kern_block_q4_1 *blk =
					(const struct kern_block_q4_1 *)((const uint8_t *)w + (g * PR + r) * rb) + b;
				memcpy(o + 2 * r, &blk->d, 2);
				memcpy(o + 32 + 2 * r, &blk->m, 2);
				for (size_t k = 0; k < 4; k++)
					memcpy(o + 64 + k * 64 + r * 4, blk->qs + 4 * k, 4);
			}
		}
}

void kern_packed_row_q4_1(const void *w, size_t cols, size_t r, float *out)
{
	size_t nb = cols / 32, gb = PR * BS, l = r % PR;
	const uint8_t *grp = (const uint8_t *)w + (r / PR) * nb * gb;
	for (size_t b = 0; b < nb; b++) {
		struct kern_block_q4_1 blk;
		const uint8_t *o = grp + b * gb;
		memcpy(&blk.d, o + 2 * l, 2);
		memcpy(&blk.m, o + 32 + 2 * l, 2);
		for (size_t k = 0; k < 4; k++)
			memcpy(blk.qs + 4 * k, o + 64 + k * 64 + l * 4, 4);
		kern_ref_q4_1_to_f32(&blk, out + b * 32, 32);
	}
}

/* Q4_K: per group of 16 rows and superblock of 256 columns, 16 * 144 bytes:
 * the 16 rows' f16 d, their 16 f16 dmin, their 12-byte scales index-major
 * (byte i of row r at 64 + 16 i + r, so one 16-byte load holds byte i of
 * every row and the 6-bit scales and mins decode for 16 rows at once), then for each pair p of sub-blocks (the 32 bytes qs[32p ..] whose
 * low nibbles are sub-block 2p and high nibbles 2p+1) 8 chunks of 64 bytes,
 * chunk k's 32-bit lane r holding qs[32p + 4k .. +3] of row r. */
#define KB sizeof(struct kern_block_q4_k)

void kern_pack_q4_k(const void *w, void *dst, size_t rows, size_t cols)
{
	size_t nsb = cols / KERN_QK_K, rb = nsb * KB, gb = PR * KB;
	for (size_t g = 0; g < rows / PR; g++)
		for (size_t s = 0; s < nsb; s++) {
			uint8_t *o = (uint8_t *)dst + (g * nsb + s) * gb;
			for (size_t r = 0; r < PR; r++) {
				const struct kern_block_q4_k *b =
					(const struct kern_block_q4_k *)((const uint8_t *)w + (g * PR + r) * rb) + s;
				memcpy(o + 2 * r, &b->d, 2);
				memcpy(o + 32 + 2 * r, &b->dmin, 2);
				for (size_t i = 0; i < 12; i++)
					o[64 + 16 * i + r] = b->scales[i];
				for (size_t p = 0; p < 4; p++)
					for (size_t k = 0; k < 8; k++)
						memcpy(o + 256 + (p * 8 + k) * 64 + 4 * r, b->qs + 32 * p + 4 * k, 4);
			}
		}
}

void kern_packed_row_q4_k(const void *w, size_t cols, size_t r, float *out)
{
	size_t nsb = cols / KERN_QK_K, gb = PR * KB, l = r % PR;
	const uint8_t *grp = (const uint8_t *)w + (r / PR) * nsb * gb;
	for (size_t s = 0; s < nsb; s++) {
		struct kern_block_q4_k b;
		const uint8_t *o = grp + s * gb;
		memcpy(&b.d, o + 2 * l, 2);
		memcpy(&b.dmin, o + 32 + 2 * l, 2);
		for (size_t i = 0; i < 12; i++)
			b.scales[i] = o[64 + 16 * i + l];
		for (size_t p = 0; p < 4; p++)
			for (size_t k = 0; k < 8; k++)
				memcpy(b.qs + 32 * p + 4 * k, o + 256 + (p * 8 + k) * 64 + 4 * l, 4);
		kern_ref_q4_k_to_f32(&b, out + s * KERN_QK_K, KERN_QK_K);
	}
}

/* Q6_K: per group of 16 rows and superblock, 16 * 210 bytes: the rows' f16
 * d (32 bytes); the int8 scales index-major (scale i of row r at 32 + 16 i +
 * r); for half n (128 values) and pair q (ql[64n + 32q ..]: low nibbles
 * group 4n+q, high nibbles group 4n+q+2) 8 chunks of 64 bytes, chunk k's
 * lane r holding ql[64n + 32q + 4k .. +3] of row r (from 288); then for
 * half n 8 chunks of qh[32n + 4k .. +3] (from 2336). */
#define K6 sizeof(struct kern_block_q6_k)

void kern_pack_q6_k(const void *w, void *dst, size_t rows, size_t cols)
{
	size_t nsb = cols / KERN_QK_K, rb = nsb * K6, gb = PR * K6;
	for (size_t g = 0; g < rows / PR; g++)
		for (size_t s = 0; s < nsb; s++) {
			uint8_t *o = (uint8_t *)dst + (g * nsb + s) * gb;
			for (size_t r = 0; r < PR; r++) {
				const struct kern_block_q6_k *b =
					(const struct kern_block_q6_k *)((const uint8_t *)w + (g * PR + r) * rb) + s;
				memcpy(o + 2 * r, &b->d, 2);
				for (size_t i = 0; i < 16; i++)
					o[32 + 16 * i + r] = (uint8_t)b->scales[i];
				for (size_t n = 0; n < 2; n++)
					for (size_t k = 0; k < 8; k++) {
						for (size_t q = 0; q < 2; q++)
							memcpy(o + 288 + ((n * 2 + q) * 8 + k) * 64 + 4 * r,
							       b->ql + 64 * n + 32 * q + 4 * k, 4);
						memcpy(o + 2336 + (n * 8 + k) * 64 + 4 * r, b->qh + 32 * n + 4 * k, 4);
					}
			}
		}
}

void kern_packed_row_q6_k(const void *w, size_t cols, size_t r, float *out)
{
	size_t nsb = cols / KERN_QK_K, gb = PR * K6, l = r % PR;
	const uint8_t *grp = (const uint8_t *)w + (r / PR) * nsb * gb;
	for (size_t s = 0; s < nsb; s++) {
		struct kern_block_q6_k b;
		const uint8_t *o = grp + s * gb;
		memcpy(&b.d, o + 2 * l, 2);
		for (size_t i = 0; i < 16; i++)
			b.scales[i] = (int8_t)o[32 + 16 * i + l];
		for (size_t n = 0; n < 2; n++)
			for (size_t k = 0; k < 8; k++) {
				for (size_t q = 0; q < 2; q++)
					memcpy(b.ql + 64 * n + 32 * q + 4 * k, o + 288 + ((n * 2 + q) * 8 + k) * 64 + 4 * l, 4);
				memcpy(b.qh + 32 * n + 4 * k, o + 2336 + (n * 8 + k) * 64 + 4 * l, 4);
			}
		kern_ref_q6_k_to_f32(&b, out + s * KERN_QK_K, KERN_QK_K);
	}
}
