/* Scalar reference of the GGUF block types (kernels/kern_gguf.h). */
#include "kernels/kern_gguf.h"

#include <float.h>
#include <math.h>
#include <string.h>

size_t kern_gguf_row_bytes(enum kern_dtype t, size_t cols)
{
	switch (t) {
	case KD_Q4_1: return cols % KERN_QBLOCK ? 0 : cols / KERN_QBLOCK * sizeof(struct kern_block_q4_1);
	default: return 0;
	}
}

/* ggml-quants.c dequantize_row_q4_1 */
void kern_ref_q4_1_to_f32(const void *src, float *dst, size_t n)
{
	const struct kern_block_q4_1 *b = src;
	for (size_t i = 0; i < n / KERN_QBLOCK; i++) {
		float d = kern_f16_to_f32(b[i].d), m = kern_f16_to_f32(b[i].m);
		for (int j = 0; j < KERN_QBLOCK / 2; j++) {
			dst[i * KERN_QBLOCK + j] = (b[i].qs[j] & 0x0f) * d + m;
			dst[i * KERN_QBLOCK + j + 16] = (b[i].qs[j] >> 4) * d + m;
		}
	}
}

/* ggml-quants.c quantize_row_q4_1_ref: d = (max - min) / 15, m = min. */
void kern_ref_q4_1_from_f32(const float *src, void *dst, size_t n)
{
	struct kern_block_q4_1 *b = dst;
	for (size_t i = 0; i < n / KERN_QBLOCK; i++) {
		const float *x = src + i * KERN_QBLOCK;
		float min = FLT_MAX, max = -FLT_MAX;
		for (int j = 0; j < KERN_QBLOCK; j++) {
			min = fminf(min, x[j]);
			max = fmaxf(max, x[j]);
		}
		float d = (max - min) / 15.0f, id = d ? 1.0f / d : 0.0f;
		b[i].d = kern_f32_to_f16(d);
		b[i].m = kern_f32_to_f16(min);
		for (int j = 0; j < KERN_QBLOCK / 2; j++) {
			int lo = (int)(int8_t)((x[j] - min) * id + 0.5f);
			int hi = (int)(int8_t)((x[j + 16] - min) * id + 0.5f);
			lo = lo > 15 ? 15 : lo;
			hi = hi > 15 ? 15 : hi;
			b[i].qs[j] = (uint8_t)(lo | (hi << 4));
		}
	}
}

static int32_t q4_1_block_dot(const struct kern_block_q4_1 *b, const struct kern_act_q8 *a)
{
	int32_t s = 0;
	for (int j = 0; j < KERN_QBLOCK / 2; j++)
		s += (b->qs[j] & 0x0f) * a->qs[j] + (b->qs[j] >> 4) * a->qs[j + 16];
	return s;
}

void kern_ref_gemv_q4_1(const void *w, const float *x, float *y, size_t rows, size_t cols)
{
	size_t nb = cols / KERN_QBLOCK;
	struct kern_act_q8 a[nb ? nb : 1];
	kern_quantize_act(x, a, cols);
	const struct kern_block_q4_1 *blocks = w;
	for (size_t r = 0; r < rows; r++) {
		double acc = 0;
		for (size_t b = 0; b < nb; b++) {
			const struct kern_block_q4_1 *wb = &blocks[r * nb + b];
			acc += (double)q4_1_block_dot(wb, &a[b]) * ((double)kern_f16_to_f32(wb->d) * a[b].d) +
			       (double)a[b].sum * ((double)kern_f16_to_f32(wb->m) * a[b].d);
		}
		y[r] = (float)acc;
	}
}

void kern_ref_gemm_q4_1(const void *w, const float *x, float *y, size_t n, size_t rows,
			size_t cols, int threads)
{
	(void)threads;
	for (size_t i = 0; i < n; i++)
		kern_ref_gemv_q4_1(w, x + i * cols, y + i * rows, rows, cols);
}
