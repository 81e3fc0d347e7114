/* The scalar reference for MLX's affine types: w = scale * q + bias in f32,
 * as MLX's CPU back end dequantizes (mlx/backend/cpu/quantized.cpp), each
 * product summed in double (the oracle's order; MLX's own order differs
 * between its kernels). */
#include "kernels/mlx.h"

#include <math.h>
#include <string.h>

static const int mlx_bits[] = {2, 3, 4, 5, 6, 8};
static const int mlx_groups[] = {32, 64, 128};
static const int mlx_scales[] = {KD_F16, KD_BF16, KD_F32};

bool kern_mlx_params(int t, struct kern_mlx *p)
{
	if (!KD_IS_MLX(t))
		return false;
	int i = t - KD_MLX_FIRST;
	p->scale_type = mlx_scales[i % 3];
	p->bits = mlx_bits[i / 3 % 6];
	p->group = mlx_groups[i / 18];
	p->scale_bytes = p->scale_type == KD_F32 ? 4 : 2;
	p->packed_bytes = (size_t)p->group * (size_t)p->bits / 8;
	p->block_bytes = 2 * p->scale_bytes + p->packed_bytes;
	return true;
}

int kern_mlx_type(int bits, int group, int scale_type)
{
	for (int t = KD_MLX_FIRST; t <= KD_MLX_LAST; t++) {
		struct kern_mlx p;
		kern_mlx_params(t, &p);
		if (p.bits == bits && p.group == group && p.scale_type == scale_type)
			return t;
	}
	return -1;
}

void kern_mlx_assemble_row(int t, const void *packed, const void *scales, const void *biases,
			   void *dst, size_t cols)
{
	struct kern_mlx p;
	kern_mlx_params(t, &p);
	const char *q = packed, *s = scales, *b = biases;
	char *d = dst;
	for (size_t g = 0; g < cols / (size_t)p.group; g++) {
		memcpy(d, s + g * p.scale_bytes, p.scale_bytes);
		memcpy(d + p.scale_bytes, b + g * p.scale_bytes, p.scale_bytes);
		memcpy(d + 2 * p.scale_bytes, q + g * p.packed_bytes, p.packed_bytes);
		d += p.block_bytes;
	}
}

static void store_scale(const struct kern_mlx *p, float v, uint8_t *dst)
{
	if (p->scale_type == KD_F32) {
		memcpy(dst, &v, 4);
		return;
	}
	uint16_t h = p->scale_type == KD_F16 ? kern_f32_to_f16(v) : kern_f32_to_bf16(v);
	dst[0] = (uint8_t)h, dst[1] = (uint8_t)(h >> 8);
}

/* One block's n = group values, dequantized. */
static void block_to_f32(const struct kern_mlx *p, const uint8_t *blk, float *out)
{
	float s = kern_mlx_scale(p, blk), b = kern_mlx_scale(p, blk + p->scale_bytes);
	const uint8_t *q = blk + 2 * p->scale_bytes;
	for (int k = 0; k < p->group; k++)
		out[k] = s * (float)kern_mlx_value(q, p->bits, (size_t)k) + b;
}

static void ref_to_f32(int t, const void *src, float *dst, size_t n)
{
	struct kern_mlx p;
	kern_mlx_params(t, &p);
	const uint8_t *blk = src;
	for (size_t i = 0; i < n / (size_t)p.group; i++)
		block_to_f32(&p, blk + i * p.block_bytes, dst + i * (size_t)p.group);
}

/* Min-max affine quantization of each group (scale and bias rounded to the
 * scale type first, q then rounded against the rounded pair). */
static void ref_from_f32(int t, const float *src, void *dst, size_t n)
{
	struct kern_mlx p;
	kern_mlx_params(t, &p);
	float levels = (float)((1u << p.bits) - 1);
	for (size_t i = 0; i < n / (size_t)p.group; i++) {
		const float *x = src + i * (size_t)p.group;
		uint8_t *blk = (uint8_t *)dst + i * p.block_bytes, *q = blk + 2 * p.scale_bytes;
		float lo = x[0], hi = x[0];
		for (int k = 1; k < p.group; k++)
			lo = fminf(lo, x[k]), hi = fmaxf(hi, x[k]);
		store_scale(&p, (hi - lo) / levels, blk);
		store_scale(&p, lo, blk + p.scale_bytes);
		float s = kern_mlx_scale(&p, blk), b = kern_mlx_scale(&p, blk + p.scale_bytes);
		memset(q, 0, p.packed_bytes);
		for (int k = 0; k < p.group; k++) {
			float v = s != 0 ? nearbyintf((x[k] - b) / s) : 0;
			unsigned u = !(v > 0) ? 0 : v > levels ? (unsigned)levels : (unsigned)v;
			size_t bit = (size_t)k * (size_t)p.bits;
			q[bit >> 3] |= (uint8_t)(u << (bit & 7));
			if ((bit & 7) + (size_t)p.bits > 8)
				q[(bit >> 3) + 1] |= (uint8_t)(u >> (8 - (bit & 7)));
		}
	}
}

static void ref_gemv(int t, const void *w, const float *x, float *y, size_t rows, size_t cols)
{
	struct kern_mlx p;
	kern_mlx_params(t, &p);
	size_t rb = kern_row_bytes(t, cols);
	float wg[128];
	for (size_t r = 0; r < rows; r++) {
		const uint8_t *row = (const uint8_t *)w + r * rb;
		double acc = 0;
		for (size_t g = 0; g < cols / (size_t)p.group; g++) {
			block_to_f32(&p, row + g * p.block_bytes, wg);
			for (int k = 0; k < p.group; k++)
				acc += (double)x[g * (size_t)p.group + (size_t)k] * wg[k];
		}
		y[r] = (float)acc;
	}
}

#define REF_MLX(b, g, s)                                                                       \
	void kern_ref_gemv_mlx##b##_##g##_##s(const void *w, const float *x, float *y, size_t rows, \
					      size_t cols)                                         \
	{                                                                                      \
		ref_gemv(KD_MLX##b##_G##g##_##s, w, x, y, rows, cols);                         \
	}                                                                                      \
	void kern_ref_gemm_mlx##b##_##g##_##s(const void *w, const float *x, float *y, size_t n,    \
					      size_t rows, size_t cols, int threads)               \
	{                                                                                      \
		(void)threads;                                                                 \
		for (size_t i = 0; i < n; i++)                                                 \
			ref_gemv(KD_MLX##b##_G##g##_##s, w, x + i * cols, y + i * rows, rows, cols); \
	}                                                                                      \
	void kern_ref_to_f32_mlx##b##_##g##_##s(const void *src, float *dst, size_t n)              \
	{                                                                                      \
		ref_to_f32(KD_MLX##b##_G##g##_##s, src, dst, n);                               \
	}                                                                                      \
	void kern_ref_from_f32_mlx##b##_##g##_##s(const float *src, void *dst, size_t n)            \
	{                                                                                      \
		ref_from_f32(KD_MLX##b##_G##g##_##s, src, dst, n);                             \
	}
KERN_MLX_TYPES(REF_MLX)
