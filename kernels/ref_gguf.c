/* Scalar reference of the GGUF block types (kernels/kern_gguf.h).
 *
 * Every type is read as groups of 32 values (one block of the 32-value
 * types, one eighth of a 256-value K block), each group as integers q and,
 * per half of 16, a scale and an offset: value = s q + m.  Widening computes
 * exactly ggml-quants.c's dequantize_row_* from these (the same products in
 * the same order); the products use kern_quantize_act's blocks of 32:
 *   y += d_x (s_0 q.x over the first half + m_0 sum x over it + the same for the second). */
#include "kernels/kern_gguf.h"

#include <float.h>
#include <math.h>
#include <string.h>

size_t kern_gguf_row_bytes(enum kern_dtype t, size_t cols)
{
	switch (t) {
	case KD_Q4_1: return cols % 32 ? 0 : cols / 32 * sizeof(struct kern_block_q4_1);
	case KD_Q5_0: return cols % 32 ? 0 : cols / 32 * sizeof(struct kern_block_q5_0);
	case KD_Q5_1: return cols % 32 ? 0 : cols / 32 * sizeof(struct kern_block_q5_1);
	case KD_Q4_K: return cols % KERN_QK_K ? 0 : cols / KERN_QK_K * sizeof(struct kern_block_q4_k);
	case KD_Q5_K: return cols % KERN_QK_K ? 0 : cols / KERN_QK_K * sizeof(struct kern_block_q5_k);
	case KD_Q6_K: return cols % KERN_QK_K ? 0 : cols / KERN_QK_K * sizeof(struct kern_block_q6_k);
	default: return 0;
	}
}

/* --- groups --- */

/* ggml-quants.c get_scale_min_k4: the 6-bit scale and min of sub-block j. */
void kern_k4_scale_min(int j, const uint8_t *q, uint8_t *sc, uint8_t *m)
{
	if (j < 4) {
		*sc = q[j] & 63;
		*m = q[j + 4] & 63;
	} else {
		*sc = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
		*m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
	}
}

static void group_q4_1(const void *row, size_t g, struct kern_group *o)
{
	const struct kern_block_q4_1 *b = (const struct kern_block_q4_1 *)row + g;
	for (int j = 0; j < 16; j++) {
		o->q[j] = (int8_t)(b->qs[j] & 0xF);
		o->q[j + 16] = (int8_t)(b->qs[j] >> 4);
	}
	o->s[0] = o->s[1] = kern_f16_to_f32(b->d);
	o->m[0] = o->m[1] = kern_f16_to_f32(b->m);
}

/* Q5_0 and Q5_1: bit j of qh is value j's fifth bit. */
static void five_bits(const uint8_t *qs, const uint8_t qh4[4], int offset, int8_t *q)
{
	uint32_t qh;
	memcpy(&qh, qh4, 4);
	for (int j = 0; j < 16; j++) {
		q[j] = (int8_t)(((qs[j] & 0xF) | (((qh >> j) << 4) & 0x10)) - offset);
		q[j + 16] = (int8_t)(((qs[j] >> 4) | ((qh >> (j + 12)) & 0x10)) - offset);
	}
}

static void group_q5_0(const void *row, size_t g, struct kern_group *o)
{
	const struct kern_block_q5_0 *b = (const struct kern_block_q5_0 *)row + g;
	five_bits(b->qs, b->qh, 16, o->q);
	o->s[0] = o->s[1] = kern_f16_to_f32(b->d);
	o->m[0] = o->m[1] = 0;
}

static void group_q5_1(const void *row, size_t g, struct kern_group *o)
{
	const struct kern_block_q5_1 *b = (const struct kern_block_q5_1 *)row + g;
	five_bits(b->qs, b->qh, 0, o->q);
	o->s[0] = o->s[1] = kern_f16_to_f32(b->d);
	o->m[0] = o->m[1] = kern_f16_to_f32(b->m);
}

/* Q4_K/Q5_K sub-block g % 8: low nibbles of qs[32 (g/2) ..] for even g, high for odd. */
static void group_q4_k(const void *row, size_t g, struct kern_group *o)
{
	const struct kern_block_q4_k *b = (const struct kern_block_q4_k *)row + g / 8;
	int j = (int)(g % 8);
	uint8_t sc, m;
	kern_k4_scale_min(j, b->scales, &sc, &m);
	const uint8_t *qs = b->qs + 32 * (j / 2);
	for (int l = 0; l < 32; l++)
		o->q[l] = (int8_t)(j % 2 ? qs[l] >> 4 : qs[l] & 0xF);
	o->s[0] = o->s[1] = kern_f16_to_f32(b->d) * sc;
	o->m[0] = o->m[1] = -(kern_f16_to_f32(b->dmin) * m);
}

static void group_q5_k(const void *row, size_t g, struct kern_group *o)
{
	const struct kern_block_q5_k *b = (const struct kern_block_q5_k *)row + g / 8;
	int j = (int)(g % 8);
	uint8_t sc, m;
	kern_k4_scale_min(j, b->scales, &sc, &m);
	const uint8_t *qs = b->qs + 32 * (j / 2);
	for (int l = 0; l < 32; l++)
		o->q[l] = (int8_t)((j % 2 ? qs[l] >> 4 : qs[l] & 0xF) + (b->qh[l] >> j & 1) * 16);
	o->s[0] = o->s[1] = kern_f16_to_f32(b->d) * sc;
	o->m[0] = o->m[1] = -(kern_f16_to_f32(b->dmin) * m);
}

/* Q6_K group g % 8 = 4n + r: ql[64n + 32 (r & 1) ..] low nibbles for r < 2,
 * high for r >= 2, bits 2r and 2r+1 of qh[32n ..]; scales 8n + 2r and +1. */
static void group_q6_k(const void *row, size_t g, struct kern_group *o)
{
	const struct kern_block_q6_k *b = (const struct kern_block_q6_k *)row + g / 8;
	int n = (int)(g % 8) / 4, r = (int)(g % 4);
	const uint8_t *ql = b->ql + 64 * n + 32 * (r & 1), *qh = b->qh + 32 * n;
	for (int l = 0; l < 32; l++)
		o->q[l] = (int8_t)(((r >= 2 ? ql[l] >> 4 : ql[l] & 0xF) | (((qh[l] >> (2 * r)) & 3) << 4)) - 32);
	float d = kern_f16_to_f32(b->d);
	o->s[0] = d * b->scales[8 * n + 2 * r];
	o->s[1] = d * b->scales[8 * n + 2 * r + 1];
	o->m[0] = o->m[1] = 0;
}

kern_group_fn *kern_gguf_group(enum kern_dtype t)
{
	switch (t) {
	case KD_Q4_1: return group_q4_1;
	case KD_Q5_0: return group_q5_0;
	case KD_Q5_1: return group_q5_1;
	case KD_Q4_K: return group_q4_k;
	case KD_Q5_K: return group_q5_k;
	case KD_Q6_K: return group_q6_k;
	default: return NULL;
	}
}

/* --- widening and the products, for every type through its groups --- */

static void groups_to_f32(kern_group_fn *group, const void *src, float *dst, size_t n)
{
	struct kern_group o;
	for (size_t g = 0; g < n / 32; g++) {
		group(src, g, &o);
		for (int j = 0; j < 32; j++)
			dst[g * 32 + j] = o.s[j / 16] * o.q[j] + o.m[j / 16];
	}
}

/* llama.cpp's quantize_row_q8_K_ref as kern_act_q8 blocks: one scale for
 * each 256 values, d = -max / 127 of the value of largest magnitude,
 * q = rint(x / d) (at most 127).  A superblock holding a NaN or an infinity
 * gets d = NaN. */
void kern_quantize_act_k(const float *x, struct kern_act_q8 *out, size_t n)
{
	for (size_t sb = 0; sb < n / KERN_QK_K; sb++) {
		const float *v = x + sb * KERN_QK_K;
		float amax = 0, max = 0;
		int finite = 1;
		for (int j = 0; j < KERN_QK_K; j++) {
			finite &= isfinite(v[j]) != 0;
			if (fabsf(v[j]) > amax) {
				amax = fabsf(v[j]);
				max = v[j];
			}
		}
		float iscale = finite && amax ? -127.f / max : 0;
		for (int g = 0; g < 8; g++) {
			struct kern_act_q8 *o = &out[sb * 8 + g];
			int32_t sum = 0;
			for (int j = 0; j < 32; j++) {
				long q = iscale ? lrintf(iscale * v[32 * g + j]) : 0;
				o->qs[j] = (int8_t)(q > 127 ? 127 : q);
				sum += o->qs[j];
			}
			o->d = !finite ? NAN : iscale ? 1 / iscale : 0;
			o->sum = sum;
		}
	}
}

static void groups_gemv(kern_group_fn *group, enum kern_dtype t, const void *w, const float *x,
			float *y, size_t rows, size_t cols)
{
	size_t ng = cols / 32, rb = kern_row_bytes(t, cols);
	struct kern_act_q8 a[ng ? ng : 1];
	if (t == KD_Q4_K || t == KD_Q5_K || t == KD_Q6_K)
		kern_quantize_act_k(x, a, cols);
	else
		kern_quantize_act(x, a, cols);
	struct kern_group o;
	for (size_t r = 0; r < rows; r++) {
		double acc = 0;
		for (size_t g = 0; g < ng; g++) {
			group((const char *)w + r * rb, g, &o);
			for (int h = 0; h < 2; h++) {
				int32_t dot = 0, sum = 0;
				for (int j = 16 * h; j < 16 * h + 16; j++) {
					dot += o.q[j] * a[g].qs[j];
					sum += a[g].qs[j];
				}
				acc += (double)a[g].d * ((double)o.s[h] * dot + (double)o.m[h] * sum);
			}
		}
		y[r] = (float)acc;
	}
}

#define GGUF_REF(T, NAME)                                                                      \
	void kern_ref_##NAME##_to_f32(const void *src, float *dst, size_t n)                   \
	{                                                                                      \
		groups_to_f32(group_##NAME, src, dst, n);                                      \
	}                                                                                      \
	void kern_ref_gemv_##NAME(const void *w, const float *x, float *y, size_t rows, size_t cols) \
	{                                                                                      \
		groups_gemv(group_##NAME, T, w, x, y, rows, cols);                             \
	}                                                                                      \
	void kern_ref_gemm_##NAME(const void *w, const float *x, float *y, size_t n, size_t rows, \
				  size_t cols, int threads)                                    \
	{                                                                                      \
		(void)threads;                                                                 \
		for (size_t i = 0; i < n; i++)                                                 \
			groups_gemv(group_##NAME, T, w, x + i * cols, y + i * rows, rows, cols); \
	}
GGUF_REF(KD_Q4_1, q4_1)
GGUF_REF(KD_Q5_0, q5_0)
GGUF_REF(KD_Q5_1, q5_1)
GGUF_REF(KD_Q4_K, q4_k)
GGUF_REF(KD_Q5_K, q5_k)
GGUF_REF(KD_Q6_K, q6_k)

/* --- quantisation --- */

/* ggml-quants.c quantize_row_q4_1_ref: d = (max - min) / 15, m = min. */
void kern_ref_q4_1_from_f32(const float *src, void *dst, size_t n)
{
	struct kern_block_q4_1 *b = dst;
	for (size_t i = 0; i < n / 32; i++) {
		const float *x = src + i * 32;
		float min = FLT_MAX, max = -FLT_MAX;
		for (int j = 0; j < 32; j++) {
			min = fminf(min, x[j]);
			max = fmaxf(max, x[j]);
		}
		float d = (max - min) / 15.0f, id = d ? 1.0f / d : 0.0f;
		b[i].d = kern_f32_to_f16(d);
		b[i].m = kern_f32_to_f16(min);
		for (int j = 0; j < 16; j++) {
			int lo = (int)(int8_t)((x[j] - min) * id + 0.5f);
			int hi = (int)(int8_t)((x[j + 16] - min) * id + 0.5f);
			lo = lo > 15 ? 15 : lo;
			hi = hi > 15 ? 15 : hi;
			b[i].qs[j] = (uint8_t)(lo | (hi << 4));
		}
	}
}

/* 32 five-bit values into qs (low four bits) and qh (the fifth). */
static void pack_five(const int *v, uint8_t *qs, uint8_t qh4[4])
{
	uint32_t qh = 0;
	for (int j = 0; j < 16; j++) {
		qs[j] = (uint8_t)((v[j] & 0xF) | ((v[j + 16] & 0xF) << 4));
		qh |= (uint32_t)((v[j] & 0x10) >> 4) << j;
		qh |= (uint32_t)((v[j + 16] & 0x10) >> 4) << (j + 16);
	}
	memcpy(qh4, &qh, 4);
}

/* ggml-quants.c quantize_row_q5_0_ref: d = (signed value of largest magnitude) / -16. */
void kern_ref_q5_0_from_f32(const float *src, void *dst, size_t n)
{
	struct kern_block_q5_0 *b = dst;
	for (size_t i = 0; i < n / 32; i++) {
		const float *x = src + i * 32;
		float amax = 0, max = 0;
		for (int j = 0; j < 32; j++)
			if (fabsf(x[j]) > amax) {
				amax = fabsf(x[j]);
				max = x[j];
			}
		float d = max / -16, id = d ? 1.0f / d : 0.0f;
		int v[32];
		for (int j = 0; j < 32; j++) {
			int q = (int8_t)(x[j] * id + 16.5f);
			v[j] = q > 31 ? 31 : q;
		}
		b[i].d = kern_f32_to_f16(d);
		pack_five(v, b[i].qs, b[i].qh);
	}
}

/* ggml-quants.c quantize_row_q5_1_ref: d = (max - min) / 31, m = min. */
void kern_ref_q5_1_from_f32(const float *src, void *dst, size_t n)
{
	struct kern_block_q5_1 *b = dst;
	for (size_t i = 0; i < n / 32; i++) {
		const float *x = src + i * 32;
		float min = FLT_MAX, max = -FLT_MAX;
		for (int j = 0; j < 32; j++) {
			min = fminf(min, x[j]);
			max = fmaxf(max, x[j]);
		}
		float d = (max - min) / 31, id = d ? 1.0f / d : 0.0f;
		int v[32];
		for (int j = 0; j < 32; j++)
			v[j] = (uint8_t)((x[j] - min) * id + 0.5f);
		b[i].d = kern_f32_to_f16(d);
		b[i].m = kern_f32_to_f16(min);
		pack_five(v, b[i].qs, b[i].qh);
	}
}

/* The K types: a plain quantiser (each sub-block's own min and range, the
 * scales to 6 or 8 bits of the largest), not ggml's iterative search; exo
 * reads these types from files and makes them only for its tests. */
static void k_scales(const float *x, int levels, float *scale, float *min)
{
	for (int j = 0; j < 8; j++) {
		float lo = 0, hi = -FLT_MAX;
		for (int l = 0; l < 32; l++) {
			lo = fminf(lo, x[32 * j + l]);
			hi = fmaxf(hi, x[32 * j + l]);
		}
		scale[j] = (hi - lo) / (float)levels;
		min[j] = -lo;
	}
}

static void pack_k4_scales(const uint8_t *sc, const uint8_t *m, uint8_t *q)
{
	memset(q, 0, 12);
	for (int j = 0; j < 8; j++) {
		if (j < 4) {
			q[j] |= sc[j] & 63;
			q[j + 4] |= m[j] & 63;
		} else {
			q[j + 4] = (uint8_t)((sc[j] & 0xF) | ((m[j] & 0xF) << 4));
			q[j - 4] |= (uint8_t)((sc[j] >> 4) << 6);
			q[j] |= (uint8_t)((m[j] >> 4) << 6);
		}
	}
}

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* The smallest f16 >= v (v >= 0 and finite). */
static uint16_t f16_at_least(float v)
{
	uint16_t h = kern_f32_to_f16(v);
	while (kern_f16_to_f32(h) < v && h < 0x7bff)
		h++;
	return h;
}

/* One 256-value superblock of Q4_K (levels 15) or Q5_K (31): the codes into q. */
static void k_quantize(const float *x, int levels, uint16_t *d16, uint16_t *dmin16, uint8_t *scales,
		       int *q)
{
	float scale[8], min[8], maxs = 0, maxm = 0;
	k_scales(x, levels, scale, min);
	for (int j = 0; j < 8; j++) {
		maxs = fmaxf(maxs, scale[j]);
		maxm = fmaxf(maxm, min[j]);
	}
	/* d and dmin rounded up to f16, scales and mins up to steps of them: a
	 * sub-block's range then fits its levels and no value falls below 0 */
	*d16 = f16_at_least(maxs / 63);
	*dmin16 = f16_at_least(maxm / 63);
	float d = kern_f16_to_f32(*d16), dmin = kern_f16_to_f32(*dmin16);
	uint8_t sc[8], m[8];
	for (int j = 0; j < 8; j++) {
		sc[j] = (uint8_t)clampi(d ? (int)ceilf(scale[j] / d) : 0, 0, 63);
		m[j] = (uint8_t)clampi(dmin ? (int)ceilf(min[j] / dmin) : 0, 0, 63);
		float s = d * sc[j], mm = dmin * m[j];
		for (int l = 0; l < 32; l++)
			q[32 * j + l] = s ? clampi((int)lrintf((x[32 * j + l] + mm) / s), 0, levels) : 0;
	}
	pack_k4_scales(sc, m, scales);
}

void kern_ref_q4_k_from_f32(const float *src, void *dst, size_t n)
{
	struct kern_block_q4_k *b = dst;
	for (size_t i = 0; i < n / KERN_QK_K; i++) {
		int q[KERN_QK_K];
		k_quantize(src + i * KERN_QK_K, 15, &b[i].d, &b[i].dmin, b[i].scales, q);
		for (int j = 0; j < 4; j++)
			for (int l = 0; l < 32; l++)
				b[i].qs[32 * j + l] = (uint8_t)(q[64 * j + l] | (q[64 * j + 32 + l] << 4));
	}
}

void kern_ref_q5_k_from_f32(const float *src, void *dst, size_t n)
{
	struct kern_block_q5_k *b = dst;
	for (size_t i = 0; i < n / KERN_QK_K; i++) {
		int q[KERN_QK_K];
		k_quantize(src + i * KERN_QK_K, 31, &b[i].d, &b[i].dmin, b[i].scales, q);
		memset(b[i].qh, 0, sizeof b[i].qh);
		for (int j = 0; j < 4; j++)
			for (int l = 0; l < 32; l++) {
				int lo = q[64 * j + l], hi = q[64 * j + 32 + l];
				b[i].qs[32 * j + l] = (uint8_t)((lo & 0xF) | ((hi & 0xF) << 4));
				b[i].qh[l] |= (uint8_t)(((lo >> 4) << (2 * j)) | ((hi >> 4) << (2 * j + 1)));
			}
	}
}

/* Q6_K: sixteen sub-blocks of 16, each scale an int8 step of d. */
void kern_ref_q6_k_from_f32(const float *src, void *dst, size_t n)
{
	struct kern_block_q6_k *b = dst;
	for (size_t i = 0; i < n / KERN_QK_K; i++) {
		const float *x = src + i * KERN_QK_K;
		float scale[16], maxs = 0;
		for (int s = 0; s < 16; s++) {
			float amax = 0;
			for (int l = 0; l < 16; l++)
				amax = fmaxf(amax, fabsf(x[16 * s + l]));
			scale[s] = amax / 31;
			maxs = fmaxf(maxs, scale[s]);
		}
		b[i].d = kern_f32_to_f16(maxs / 127);
		float d = kern_f16_to_f32(b[i].d);
		int q[KERN_QK_K];
		for (int s = 0; s < 16; s++) {
			b[i].scales[s] = (int8_t)clampi(d ? (int)lrintf(scale[s] / d) : 0, 0, 127);
			float step = d * b[i].scales[s];
			for (int l = 0; l < 16; l++)
				q[16 * s + l] = (step ? clampi((int)lrintf(x[16 * s + l] / step), -32, 31) : 0) + 32;
		}
		for (int h = 0; h < 2; h++) {   /* 128 values: ql 64 bytes, qh 32 */
			const int *v = q + 128 * h;
			uint8_t *ql = b[i].ql + 64 * h, *qh = b[i].qh + 32 * h;
			for (int l = 0; l < 32; l++) {
				ql[l] = (uint8_t)((v[l] & 0xF) | ((v[l + 64] & 0xF) << 4));
				ql[l + 32] = (uint8_t)((v[l + 32] & 0xF) | ((v[l + 96] & 0xF) << 4));
				qh[l] = (uint8_t)((v[l] >> 4) | ((v[l + 32] >> 4) << 2) | ((v[l + 64] >> 4) << 4) |
						  ((v[l + 96] >> 4) << 6));
			}
		}
	}
}
