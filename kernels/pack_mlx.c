/* The packed layout of MLX's affine types for the AVX-512 VNNI variant
 * (kernels/mlx.h: kern_mlx_pack), and the scalar form of what its kernels
 * compute (kern_mlx_gemv_act): the activations quantised to int8 as for
 * Q8_0/Q4_0 (kern_quantize_act, blocks of 32), so that a group's
 *   sum_k (s q_k + b) x_k  ~  s sum_blocks d_x sum_j q_j qx_j + b sum_blocks d_x sum_j qx_j
 * is integer dot products of the unsigned codes with the signed bytes. */
#include "kernels/mlx.h"

#include <string.h>

#define PR KERN_PACK_ROWS

/* Where value v (< 32) of an activation block sits in a plane of width w:
 * chunk c, lane byte j, bit position i*w, with quad 4*(c*8/w + i) + j. */
static void plane_place(int v, int w, int *c, int *i, int *j)
{
	int quad = v / 4, per = 8 / w;
	*j = v % 4, *c = quad / per, *i = quad % per;
}

/* Where each value of an activation block goes, per plane: the byte of
 * row 0 (from the block's first chunk) and the bit position. */
struct places {
	int np, width[2], shift[2];
	uint16_t byte[2][32];
	uint8_t bit[2][32];
};

static void make_places(int bits, struct places *pl)
{
	pl->np = kern_mlx_planes(bits, pl->width, pl->shift);
	int off = 0;
	for (int k = 0; k < pl->np; k++) {
		for (int v = 0; v < 32; v++) {
			int c, i, j;
			plane_place(v, pl->width[k], &c, &i, &j);
			pl->byte[k][v] = (uint16_t)(off + c * 64 + j);
			pl->bit[k][v] = (uint8_t)(i * pl->width[k]);
		}
		off += 64 * pl->width[k];
	}
}

static void pack_group(const struct kern_mlx *p, const struct places *pl, const uint8_t *const *blk,
		       uint8_t *o)
{
	for (int r = 0; r < PR; r++) {
		memcpy(o + (size_t)r * p->scale_bytes, blk[r], p->scale_bytes);
		memcpy(o + (size_t)(PR + r) * p->scale_bytes, blk[r] + p->scale_bytes, p->scale_bytes);
	}
	uint8_t *c0 = o + 2 * PR * p->scale_bytes;
	memset(c0, 0, (size_t)PR * p->packed_bytes);
	for (int r = 0; r < PR; r++) {
		uint8_t q[128];
		const uint8_t *src = blk[r] + 2 * p->scale_bytes;
		for (int v = 0; v < p->group; v++)
			q[v] = (uint8_t)(p->bits == 8 ? src[v] : p->bits == 4 ? src[v / 2] >> (v % 2 * 4) & 15
					 : kern_mlx_value(src, p->bits, (size_t)v));
		for (int b = 0; b < p->group / 32; b++) {
			uint8_t *cb = c0 + (size_t)b * 64 * (size_t)p->bits + (size_t)r * 4;
			for (int k = 0; k < pl->np; k++) {
				unsigned mask = (1u << pl->width[k]) - 1;
				for (int v = 0; v < 32; v++)
					cb[pl->byte[k][v]] |= (uint8_t)(((q[32 * b + v] >> pl->shift[k]) & mask) << pl->bit[k][v]);
			}
		}
	}
}

void kern_mlx_pack(int t, const void *w, void *dst, size_t rows, size_t cols)
{
	struct kern_mlx p;
	struct places pl;
	kern_mlx_params(t, &p);
	make_places(p.bits, &pl);
	size_t ng = cols / (size_t)p.group, rb = ng * p.block_bytes, gb = PR * p.block_bytes;
	for (size_t G = 0; G < rows / PR; G++)
		for (size_t g = 0; g < ng; g++) {
			const uint8_t *blk[PR];
			for (size_t r = 0; r < PR; r++)
				blk[r] = (const uint8_t *)w + (G * PR + r) * rb + g * p.block_bytes;
			pack_group(&p, &pl, blk, (uint8_t *)dst + (G * ng + g) * gb);
		}
}

/* Row r of a packed matrix back in the standard layout's block form. */
static void unpack_block(const struct kern_mlx *p, const uint8_t *o, size_t l, uint8_t *blk)
{
	int width[2], shift[2], np = kern_mlx_planes(p->bits, width, shift);
	memcpy(blk, o + l * p->scale_bytes, p->scale_bytes);
	memcpy(blk + p->scale_bytes, o + (PR + l) * p->scale_bytes, p->scale_bytes);
	uint8_t *q = blk + 2 * p->scale_bytes;
	memset(q, 0, p->packed_bytes);
	const uint8_t *c0 = o + 2 * PR * p->scale_bytes;
	for (int b = 0; b < p->group / 32; b++)
		for (int v = 0; v < 32; v++) {
			const uint8_t *cb = c0 + (size_t)b * 64 * (size_t)p->bits;
			unsigned val = 0;
			size_t off = 0;
			for (int k = 0; k < np; k++) {
				int c, i, j;
				plane_place(v, width[k], &c, &i, &j);
				unsigned byte = cb[off + (size_t)c * 64 + l * 4 + (size_t)j];
				val |= ((byte >> (i * width[k])) & ((1u << width[k]) - 1)) << shift[k];
				off += 64 * (size_t)width[k];
			}
			size_t bit = (size_t)(32 * b + v) * (size_t)p->bits;
			q[bit >> 3] |= (uint8_t)(val << (bit & 7));
			if ((bit & 7) + (size_t)p->bits > 8)
				q[(bit >> 3) + 1] |= (uint8_t)(val >> (8 - (bit & 7)));
		}
}

void kern_mlx_packed_row_f32(int t, const void *w, size_t cols, size_t r, float *out)
{
	struct kern_mlx p;
	kern_mlx_params(t, &p);
	size_t ng = cols / (size_t)p.group, gb = PR * p.block_bytes;
	const uint8_t *grp = (const uint8_t *)w + (r / PR) * ng * gb;
	uint8_t blk[4 + 4 + 128];
	for (size_t g = 0; g < ng; g++) {
		unpack_block(&p, grp + g * gb, r % PR, blk);
		kern_ref.to_f32[t](blk, out + g * (size_t)p.group, (size_t)p.group);
	}
}

void kern_mlx_gemv_act(int t, const void *w, const struct kern_act_q8 *a, float *y, size_t rows,
		       size_t cols)
{
	struct kern_mlx p;
	kern_mlx_params(t, &p);
	size_t ng = cols / (size_t)p.group, rb = ng * p.block_bytes, nb = (size_t)p.group / 32;
	for (size_t r = 0; r < rows; r++) {
		double acc = 0;
		for (size_t g = 0; g < ng; g++) {
			const uint8_t *blk = (const uint8_t *)w + r * rb + g * p.block_bytes;
			double s = kern_mlx_scale(&p, blk), bias = kern_mlx_scale(&p, blk + p.scale_bytes);
			double dot = 0, xs = 0;
			for (size_t b = 0; b < nb; b++) {
				const struct kern_act_q8 *ab = a + g * nb + b;
				int32_t isum = 0;
				for (int j = 0; j < 32; j++)
					isum += (int32_t)kern_mlx_value(blk + 2 * p.scale_bytes, p.bits, b * 32 + (size_t)j) *
						ab->qs[j];
				dot += (double)ab->d * isum;
				xs += (double)ab->d * ab->sum;
			}
			acc += s * dot + bias * xs;
		}
		y[r] = (float)acc;
	}
}
