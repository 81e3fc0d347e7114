/* The scalar reference for every kernel: simple, obviously right, the oracle
 * that tests compare each optimised variant with. */
#include "kernels/kern.h"
#include "kernels/mlx.h"
#include "kernels/kern_gguf.h"

#include <math.h>
#include <string.h>
#include <strings.h>

#define MLX_NAME(b, g, s) "MLX" #b "_G" #g "_" #s,
static const char *const dtype_names[KD_COUNT] = {"F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1",
						  "Q5_0", "Q5_1", "Q4_K", "Q5_K", "Q6_K",
						  KERN_MLX_TYPES(MLX_NAME)};

const char *kern_dtype_name(enum kern_dtype t)
{
	return (unsigned)t < KD_COUNT ? dtype_names[t] : "?";
}

int kern_dtype_parse(const char *name)
{
	for (int t = 0; t < KD_COUNT; t++)
		if (strcasecmp(name, dtype_names[t]) == 0)
			return t;
	return -1;
}

size_t kern_row_bytes(enum kern_dtype t, size_t cols)
{
	switch (t) {
	case KD_F32: return cols * 4;
	case KD_F16:
	case KD_BF16: return cols * 2;
	case KD_Q8_0: return cols % KERN_QBLOCK ? 0 : cols / KERN_QBLOCK * sizeof(struct kern_block_q8_0);
	case KD_Q4_0: return cols % KERN_QBLOCK ? 0 : cols / KERN_QBLOCK * sizeof(struct kern_block_q4_0);
	default: {
		struct kern_mlx p;
		if (kern_mlx_params(t, &p))
			return cols % (size_t)p.group ? 0 : cols / (size_t)p.group * p.block_bytes;
		return kern_gguf_row_bytes(t, cols);
	}
	}
}

static uint32_t f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

float kern_f16_to_f32(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
	if (exp == 0) /* zero or subnormal: man * 2^-24, exact in f32 */
		return bits_f32(sign | f32_bits((float)man * 0x1p-24f));
	if (exp == 31)
		return bits_f32(sign | 0x7f800000 | (man << 13));
	return bits_f32(sign | ((exp + 112) << 23) | (man << 13));
}

uint16_t kern_f32_to_f16(float f)
{
	uint32_t u = f32_bits(f), sign = (u >> 16) & 0x8000;
	float a = fabsf(f);
	if (isnan(f))
		return (uint16_t)(sign | 0x7e00);
	if (a >= 65520.0f) /* rounds to infinity */
		return (uint16_t)(sign | 0x7c00);
	if (a < 0x1p-14f) /* subnormal: round a / 2^-24 to nearest even */
		return (uint16_t)(sign | (uint32_t)nearbyintf(a * 0x1p24f));
	uint32_t au = f32_bits(a);
	uint32_t mant = au & 0x7fffff, exp = (au >> 23) - 112;
	uint32_t h = (exp << 10) | (mant >> 13);
	uint32_t rest = mant & 0x1fff;
	if (rest > 0x1000 || (rest == 0x1000 && (h & 1)))
		h++;
	return (uint16_t)(sign | h);
}

float kern_bf16_to_f32(uint16_t b)
{
	return bits_f32((uint32_t)b << 16);
}

uint16_t kern_f32_to_bf16(float f)
{
	uint32_t u = f32_bits(f);
	if (isnan(f))
		return (uint16_t)((u >> 16) | 0x40);
	u += 0x7fff + ((u >> 16) & 1);
	return (uint16_t)(u >> 16);
}

/* --- widening and rounding --- */

static void f32_to_f32(const void *src, float *dst, size_t n) { memmove(dst, src, n * 4); }
static void f32_from_f32(const float *src, void *dst, size_t n) { memmove(dst, src, n * 4); }

/* 16-bit values at any alignment: safetensors files need not align tensors
 * (mlx-lm's put bf16 norms at odd offsets), and norms widen from the mapping. */
static uint16_t load16(const unsigned char *p)
{
	uint16_t v;
	memcpy(&v, p, 2);
	return v;
}

static void f16_to_f32(const void *src, float *dst, size_t n)
{
	const unsigned char *s = src;
	for (size_t i = 0; i < n; i++)
		dst[i] = kern_f16_to_f32(load16(s + 2 * i));
}

static void f16_from_f32(const float *src, void *dst, size_t n)
{
	uint16_t *d = dst;
	for (size_t i = 0; i < n; i++)
		d[i] = kern_f32_to_f16(src[i]);
}

static void bf16_to_f32(const void *src, float *dst, size_t n)
{
	const unsigned char *s = src;
	for (size_t i = 0; i < n; i++)
		dst[i] = kern_bf16_to_f32(load16(s + 2 * i));
}

static void bf16_from_f32(const float *src, void *dst, size_t n)
{
	uint16_t *d = dst;
	for (size_t i = 0; i < n; i++)
		d[i] = kern_f32_to_bf16(src[i]);
}

static void q8_0_to_f32(const void *src, float *dst, size_t n)
{
	const struct kern_block_q8_0 *b = src;
	for (size_t i = 0; i < n / KERN_QBLOCK; i++) {
		float d = kern_f16_to_f32(b[i].d);
		for (int j = 0; j < KERN_QBLOCK; j++)
			dst[i * KERN_QBLOCK + j] = b[i].qs[j] * d;
	}
}

/* GGML's quantize_row_q8_0_ref: d = amax / 127, q = round(x / d). */
static void q8_0_from_f32(const float *src, void *dst, size_t n)
{
	struct kern_block_q8_0 *b = dst;
	for (size_t i = 0; i < n / KERN_QBLOCK; i++) {
		const float *x = src + i * KERN_QBLOCK;
		float amax = 0;
		for (int j = 0; j < KERN_QBLOCK; j++)
			amax = fmaxf(amax, fabsf(x[j]));
		float d = amax / 127.0f, id = d ? 1.0f / d : 0.0f;
		b[i].d = kern_f32_to_f16(d);
		for (int j = 0; j < KERN_QBLOCK; j++)
			b[i].qs[j] = (int8_t)roundf(x[j] * id);
	}
}

static void q4_0_to_f32(const void *src, float *dst, size_t n)
{
	const struct kern_block_q4_0 *b = src;
	for (size_t i = 0; i < n / KERN_QBLOCK; i++) {
		float d = kern_f16_to_f32(b[i].d);
		for (int j = 0; j < KERN_QBLOCK / 2; j++) {
			dst[i * KERN_QBLOCK + j] = ((b[i].qs[j] & 0x0f) - 8) * d;
			dst[i * KERN_QBLOCK + j + 16] = ((b[i].qs[j] >> 4) - 8) * d;
		}
	}
}

/* GGML's quantize_row_q4_0_ref: d = (signed value of largest magnitude) / -8. */
static void q4_0_from_f32(const float *src, void *dst, size_t n)
{
	struct kern_block_q4_0 *b = dst;
	for (size_t i = 0; i < n / KERN_QBLOCK; i++) {
		const float *x = src + i * KERN_QBLOCK;
		float amax = 0, max = 0;
		for (int j = 0; j < KERN_QBLOCK; j++)
			if (fabsf(x[j]) > amax) {
				amax = fabsf(x[j]);
				max = x[j];
			}
		float d = max / -8.0f, id = d ? 1.0f / d : 0.0f;
		b[i].d = kern_f32_to_f16(d);
		for (int j = 0; j < KERN_QBLOCK / 2; j++) {
			int lo = (int)(x[j] * id + 8.5f), hi = (int)(x[j + 16] * id + 8.5f);
			lo = lo > 15 ? 15 : lo;
			hi = hi > 15 ? 15 : hi;
			b[i].qs[j] = (uint8_t)(lo | (hi << 4));
		}
	}
}

/* --- matrix-vector and matrix-matrix products --- */

/* y[r] = W[r,:] . x, one row widened at a time: the definition, in f32 with a
 * double accumulator so the reference is the more accurate side. */
void kern_quantize_act(const float *x, struct kern_act_q8 *out, size_t n)
{
	for (size_t b = 0; b < n / KERN_QBLOCK; b++) {
		const float *v = x + b * KERN_QBLOCK;
		float amax = 0;
		int finite = 1;
		for (int j = 0; j < KERN_QBLOCK; j++) {
			finite &= isfinite(v[j]) != 0;
			amax = fmaxf(amax, fabsf(v[j]));
		}
		float d = amax / 127.0f, id = d ? 1.0f / d : 0.0f;
		int32_t sum = 0;
		for (int j = 0; j < KERN_QBLOCK; j++) {
			int q = finite ? (int)roundf(v[j] * id) : 0;
			out[b].qs[j] = (int8_t)q;
			sum += q;
		}
		out[b].d = finite ? kern_f16_to_f32(kern_f32_to_f16(d)) : NAN;
		out[b].sum = sum;
	}
}

/* The integer dot of one weight block with one activation block. */
static int32_t q8_0_block_dot(const void *wb, const struct kern_act_q8 *a)
{
	const struct kern_block_q8_0 *b = wb;
	int32_t s = 0;
	for (int j = 0; j < KERN_QBLOCK; j++)
		s += b->qs[j] * a->qs[j];
	return s;
}

static int32_t q4_0_block_dot(const void *wb, const struct kern_act_q8 *a)
{
	const struct kern_block_q4_0 *b = wb;
	int32_t s = 0;
	for (int j = 0; j < KERN_QBLOCK / 2; j++)
		s += ((b->qs[j] & 0x0f) - 8) * a->qs[j] + ((b->qs[j] >> 4) - 8) * a->qs[j + 16];
	return s;
}

/* Q8_0 / Q4_0 rows against x quantised once (kern_quantize_act). */
static void q_gemv(enum kern_dtype t, const void *w, const float *x, float *y, size_t rows,
		   size_t cols)
{
	size_t nb = cols / KERN_QBLOCK, rb = kern_row_bytes(t, cols);
	size_t bs = t == KD_Q8_0 ? sizeof(struct kern_block_q8_0) : sizeof(struct kern_block_q4_0);
	struct kern_act_q8 a[nb ? nb : 1];
	kern_quantize_act(x, a, cols);
	for (size_t r = 0; r < rows; r++) {
		const char *row = (const char *)w + r * rb;
		double acc = 0;
		for (size_t b = 0; b < nb; b++) {
			const char *wb = row + b * bs;
			int32_t dot = t == KD_Q8_0 ? q8_0_block_dot(wb, &a[b]) : q4_0_block_dot(wb, &a[b]);
			uint16_t d;
			memcpy(&d, wb, sizeof d);
			acc += (double)dot * ((double)kern_f16_to_f32(d) * a[b].d);
		}
		y[r] = (float)acc;
	}
}

static void gemv_q8_0(const void *w, const float *x, float *y, size_t rows, size_t cols)
{
	q_gemv(KD_Q8_0, w, x, y, rows, cols);
}

static void gemv_q4_0(const void *w, const float *x, float *y, size_t rows, size_t cols)
{
	q_gemv(KD_Q4_0, w, x, y, rows, cols);
}

#define REF_GEMV(NAME, TO_F32)                                                   \
	static void NAME(const void *w, const float *x, float *y, size_t rows, size_t cols) \
	{                                                                         \
		float row[cols];                                                  \
		size_t rb = kern_row_bytes(KD_##TO_F32, cols);                    \
		for (size_t r = 0; r < rows; r++) {                               \
			to_f32_##TO_F32((const char *)w + r * rb, row, cols);     \
			double acc = 0;                                           \
			for (size_t c = 0; c < cols; c++)                         \
				acc += (double)row[c] * x[c];                     \
			y[r] = (float)acc;                                        \
		}                                                                 \
	}
#define to_f32_F32 f32_to_f32
#define to_f32_F16 f16_to_f32
#define to_f32_BF16 bf16_to_f32
REF_GEMV(gemv_f32, F32)
REF_GEMV(gemv_f16, F16)
REF_GEMV(gemv_bf16, BF16)

#define REF_GEMM(NAME, GEMV, T)                                                  \
	static void NAME(const void *w, const float *x, float *y, size_t n, size_t rows, \
			 size_t cols, int threads)                                \
	{                                                                         \
		(void)threads;                                                    \
		for (size_t i = 0; i < n; i++)                                    \
			GEMV(w, x + i * cols, y + i * rows, rows, cols);          \
	}
REF_GEMM(gemm_f32, gemv_f32, F32)
REF_GEMM(gemm_f16, gemv_f16, F16)
REF_GEMM(gemm_bf16, gemv_bf16, BF16)
REF_GEMM(gemm_q8_0, gemv_q8_0, Q8_0)
REF_GEMM(gemm_q4_0, gemv_q4_0, Q4_0)

/* --- element-wise and attention --- */

static void rmsnorm(float *out, const float *x, const float *w, size_t n, float eps)
{
	double ss = 0;
	for (size_t i = 0; i < n; i++)
		ss += (double)x[i] * x[i];
	float scale = 1.0f / sqrtf((float)(ss / (double)n) + eps);
	for (size_t i = 0; i < n; i++)
		out[i] = w[i] * (x[i] * scale);
}

static void rope(float *x, size_t n_heads, size_t head_dim, const float *cos, const float *sin)
{
	size_t half = head_dim / 2;
	for (size_t h = 0; h < n_heads; h++) {
		float *v = x + h * head_dim;
		for (size_t i = 0; i < half; i++) {
			float a = v[i], b = v[i + half];
			v[i] = a * cos[i] - b * sin[i];
			v[i + half] = b * cos[i] + a * sin[i];
		}
	}
}

static void softmax(float *x, size_t n)
{
	float max = -INFINITY;
	for (size_t i = 0; i < n; i++)
		max = fmaxf(max, x[i]);
	double sum = 0;
	for (size_t i = 0; i < n; i++) {
		x[i] = expf(x[i] - max);
		sum += x[i];
	}
	float inv = (float)(1.0 / sum);
	for (size_t i = 0; i < n; i++)
		x[i] *= inv;
}

static void silu_mul(float *gate, const float *up, size_t n)
{
	for (size_t i = 0; i < n; i++)
		gate[i] = gate[i] / (1.0f + expf(-gate[i])) * up[i];
}

static void add(float *y, const float *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		y[i] += x[i];
}

static void attention(float *out, const float *q, const float *k, const float *v, size_t n_keys,
		      size_t head_dim, size_t kv_stride, float scale, float *scores)
{
	for (size_t t = 0; t < n_keys; t++) {
		double dot = 0;
		for (size_t d = 0; d < head_dim; d++)
			dot += (double)q[d] * k[t * kv_stride + d];
		scores[t] = (float)dot * scale;
	}
	softmax(scores, n_keys);
	for (size_t d = 0; d < head_dim; d++) {
		double acc = 0;
		for (size_t t = 0; t < n_keys; t++)
			acc += (double)scores[t] * v[t * kv_stride + d];
		out[d] = (float)acc;
	}
}

const struct kern_ops kern_ref = {
	.name = "ref",
	.gemv = {gemv_f32, gemv_f16, gemv_bf16, gemv_q8_0, gemv_q4_0, KERN_GGUF_REF_GEMV,
		KERN_MLX_TYPES(KERN_MLX_REF_GEMV)},
	.gemm = {gemm_f32, gemm_f16, gemm_bf16, gemm_q8_0, gemm_q4_0, KERN_GGUF_REF_GEMM,
		KERN_MLX_TYPES(KERN_MLX_REF_GEMM)},
	.to_f32 = {f32_to_f32, f16_to_f32, bf16_to_f32, q8_0_to_f32, q4_0_to_f32, KERN_GGUF_REF_TO_F32,
		KERN_MLX_TYPES(KERN_MLX_REF_TO)},
	.from_f32 = {f32_from_f32, f16_from_f32, bf16_from_f32, q8_0_from_f32, q4_0_from_f32,
		KERN_GGUF_REF_FROM_F32, KERN_MLX_TYPES(KERN_MLX_REF_FROM)},
	.rmsnorm = rmsnorm,
	.rope = rope,
	.softmax = softmax,
	.silu_mul = silu_mul,
	.add = add,
	.attention = attention,
	.quantize_act = kern_quantize_act,
	.quantize_act_k = kern_quantize_act_k,
};
