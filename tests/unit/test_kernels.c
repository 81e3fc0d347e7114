/* Every slot of every kernel variant against the scalar reference on random
 * inputs of odd sizes (tails, single rows, partial row groups), with a
 * tolerance per op; rounding must be byte-identical; quantisation error is
 * bounded; and the reference itself is checked on hand-computed cases. */
#include "kernels/kern.h"
#include "kernels/mlx.h"
#include "kernels/kern_gguf.h"
#include "tests/tap.h"

#include <stdint.h>

static const size_t ROWS[] = {1, 3, 7, 33, 257};
static const size_t FCOLS[] = {1, 5, 31, 33, 100, 257, 2085, 8230};
static const size_t QCOLS[] = {32, 96, 160, 4096};
static const size_t NS[] = {1, 3, 17};
#define LEN(a) (sizeof(a) / sizeof(a)[0])

static uint64_t rng = 0x9e3779b97f4a7c15ull;

/* Uniform in [-1, 1): deterministic xorshift so failures reproduce. */
static float frand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (float)((rng >> 40) * 0x1p-23) - 1.0f;
}

static float *rand_vec(size_t n, float scale)
{
	float *v = malloc((n ? n : 1) * sizeof *v);
	for (size_t i = 0; i < n; i++)
		v[i] = frand() * scale;
	return v;
}

/* got within atol + rtol |ref| everywhere; else the first mismatches. */
static int close_enough(const char *what, const float *ref, const float *got, size_t n, double atol,
			double rtol)
{
	int bad = 0;
	for (size_t i = 0; i < n; i++) {
		double err = fabs((double)got[i] - ref[i]);
		if (!(err <= atol + rtol * fabs(ref[i]))) {
			if (bad++ < 5)
				diag("%s: [%zu] ref %.9g got %.9g (|err| %.3g > %.3g)", what, i, ref[i],
				     got[i], err, atol + rtol * fabs(ref[i]));
		}
	}
	if (bad)
		diag("%s: %d of %zu out of tolerance", what, bad, n);
	return bad == 0;
}

static int is_q(int t) { return t >= KD_Q8_0; }
static int is_k(int t) { return t == KD_Q4_K || t == KD_Q5_K || t == KD_Q6_K; }
static const size_t KCOLS[] = {256, 768, 4096};

/* Weights of type t for [rows, cols], quantised by the reference. */
static void *rand_weights(int t, size_t rows, size_t cols)
{
	float *f = rand_vec(rows * cols, 1.0f);
	void *w = malloc(kern_row_bytes(t, cols) * rows + 1);
	kern_ref.from_f32[t](f, w, rows * cols);
	free(f);
	return w;
}

/* A dot product of cols terms in f32 against the reference's double: allow
 * a few f32 ulps per term of magnitude (|w|, |x| <= 1; Q4_0 values <= 8). */
static double dot_atol(int t, size_t cols) { return (t == KD_Q8_0 ? 1 : 8) * 4e-7 * (double)cols + 1e-6; }

static int check_gemv(const struct kern_ops *k, int t, size_t rows, size_t cols)
{
	void *w = rand_weights(t, rows, cols);
	float *x = rand_vec(cols, 1.0f), *yr = calloc(rows, 4), *yg = calloc(rows, 4);
	kern_ref.gemv[t](w, x, yr, rows, cols);
	k->gemv[t](w, x, yg, rows, cols);
	char what[96];
	snprintf(what, sizeof what, "%s gemv %s %zux%zu", k->name, kern_dtype_name(t), rows, cols);
	int good = close_enough(what, yr, yg, rows, dot_atol(t, cols), 1e-5);
	free(w), free(x), free(yr), free(yg);
	return good;
}

static int check_gemm(const struct kern_ops *k, int t, size_t n, size_t rows, size_t cols)
{
	void *w = rand_weights(t, rows, cols);
	float *x = rand_vec(n * cols, 1.0f), *yr = calloc(n * rows, 4), *yg = calloc(n * rows, 4);
	kern_ref.gemm[t](w, x, yr, n, rows, cols, 1);
	k->gemm[t](w, x, yg, n, rows, cols, 2);
	char what[96];
	snprintf(what, sizeof what, "%s gemm %s n=%zu %zux%zu", k->name, kern_dtype_name(t), n, rows, cols);
	int good = close_enough(what, yr, yg, n * rows, dot_atol(t, cols), 1e-5);
	free(w), free(x), free(yr), free(yg);
	return good;
}

static void test_products(const struct kern_ops *k)
{
	for (int t = 0; t < KD_COUNT; t++) {
		if (KD_IS_MLX(t)) /* test_mlx */
			continue;
		const size_t *cols = is_k(t) ? KCOLS : is_q(t) ? QCOLS : FCOLS;
		size_t nc = is_k(t) ? LEN(KCOLS) : is_q(t) ? LEN(QCOLS) : LEN(FCOLS);
		int good_v = 1, good_m = 1;
		for (size_t r = 0; r < LEN(ROWS); r++)
			for (size_t c = 0; c < nc; c++) {
				good_v &= check_gemv(k, t, ROWS[r], cols[c]);
				for (size_t i = 0; i < LEN(NS); i++)
					if (ROWS[r] * cols[c] * NS[i] <= 257 * 4096 * 3)
						good_m &= check_gemm(k, t, NS[i], ROWS[r], cols[c]);
			}
		ok(good_v, "%s gemv %s matches the reference", k->name, kern_dtype_name(t));
		ok(good_m, "%s gemm %s matches the reference", k->name, kern_dtype_name(t));
	}
}

/* Values that exercise rounding: normals, ties, subnormals, huge, specials. */
static float *conversion_inputs(size_t n)
{
	float *v = rand_vec(n, 4.0f);
	static const float special[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, -NAN, 65504.0f, 65519.0f,
					65520.0f, 1e30f, -1e-30f, 0x1p-24f, 0x1p-25f, 3 * 0x1p-26f,
					1.0f + 0x1p-11f, 1.0f + 3 * 0x1p-11f, 1.0f + 0x1p-8f, 6e-5f, 1e-40f};
	for (size_t i = 0; i < n; i++) {
		if (i % 7 == 3)
			v[i] = special[(i / 7) % LEN(special)];
		else if (i % 7 == 5) /* halfway cases and random bit patterns */
			v[i] *= (float)(1u << (i % 24)) * 0x1p-12f;
		else if (i % 7 == 6) {
			uint32_t u = (uint32_t)(rng >> 11) ^ (uint32_t)i * 2654435761u;
			memcpy(&v[i], &u, 4);
			frand();
		}
	}
	v[0] = 1.0f + 0x1p-8f; /* bf16 tie at element 0 too */
	return v;
}

/* A variant's packed layout: gemv_packed and gemm_packed against the
 * reference's gemv and gemm on the standard layout, and every packed row
 * widened exactly as the reference widens the standard one. */
static int check_packed(const struct kern_ops *k, int t, size_t rows, size_t cols)
{
	static const size_t ns[] = {1, 4, 7};
	void *w = rand_weights(t, rows, cols), *p = malloc(kern_row_bytes(t, cols) * rows);
	k->pack[t](w, p, rows, cols);
	char what[96];
	int good = 1;
	for (size_t i = 0; i < LEN(ns); i++) {
		size_t n = ns[i];
		float *x = rand_vec(n * cols, 1.0f), *yr = calloc(n * rows, 4), *yg = calloc(n * rows, 4);
		kern_ref.gemm[t](w, x, yr, n, rows, cols, 1);
		if (n == 1)
			k->gemv_packed[t](p, x, yg, rows, cols);
		else
			k->gemm_packed[t](p, x, yg, n, rows, cols, 2);
		snprintf(what, sizeof what, "%s packed %s n=%zu %zux%zu", k->name, kern_dtype_name(t), n, rows, cols);
		good &= close_enough(what, yr, yg, n * rows, dot_atol(t, cols), 1e-5);
		free(x), free(yr), free(yg);
	}
	float *a = malloc(cols * 4), *b = malloc(cols * 4);
	for (size_t r = 0; r < rows; r++) {
		kern_ref.to_f32[t]((const char *)w + r * kern_row_bytes(t, cols), a, cols);
		k->packed_row_f32[t](p, cols, r, b);
		if (memcmp(a, b, cols * 4) != 0) {
			diag("%s packed %s row %zu of %zux%zu widens differently", k->name, kern_dtype_name(t), r, rows, cols);
			good = 0;
			break;
		}
	}
	free(a), free(b), free(w), free(p);
	return good;
}

static void test_packed(const struct kern_ops *k)
{
	static const size_t prows[] = {16, 48, 272};
	for (int t = 0; t < KD_COUNT; t++) {
		if (!k->pack[t])
			continue;
		int slots = k->gemv_packed[t] && k->gemm_packed[t] && k->packed_row_f32[t], good = slots;
		const size_t *cols = is_k(t) ? KCOLS : QCOLS;
		size_t nc = is_k(t) ? LEN(KCOLS) : LEN(QCOLS);
		for (size_t r = 0; slots && r < LEN(prows); r++)
			for (size_t c = 0; c < nc; c++)
				good &= check_packed(k, t, prows[r], cols[c]);
		ok(good, "%s packed %s matches the reference", k->name, kern_dtype_name(t));
	}
}

/* The variant's activation quantiser gives the reference's bytes: random
 * blocks, exact halves after scaling (amax 127 makes id 1), zeros, and a
 * block holding an infinity. */
static void test_quantize_act(const struct kern_ops *k)
{
	enum { N = 32 * 67 };
	float *x = rand_vec(N, 3.0f);
	static const float halves[] = {127, 2.5f, -2.5f, 0.5f, -0.5f, 126.5f, -126.5f, 1.5f, -1.5f, 0};
	for (size_t j = 0; j < LEN(halves); j++)
		x[j] = halves[j];
	for (size_t j = 32; j < 64; j++)
		x[j] = 0;
	x[70] = INFINITY;
	struct kern_act_q8 *a = calloc(N / 32, sizeof *a), *b = calloc(N / 32, sizeof *b);
	kern_quantize_act(x, a, N);
	k->quantize_act(x, b, N);
	int same = 1;
	for (size_t i = 0; i < N / 32; i++)
		if (memcmp(a[i].qs, b[i].qs, 32) || a[i].sum != b[i].sum ||
		    (memcmp(&a[i].d, &b[i].d, 4) && !(isnan(a[i].d) && isnan(b[i].d)))) {
			diag("%s quantize_act block %zu: sum %d vs %d, d %g vs %g", k->name, i, a[i].sum,
			     b[i].sum, a[i].d, b[i].d);
			same = 0;
			break;
		}
	ok(same, "%s quantize_act gives the reference's bytes", k->name);
	free(x), free(a), free(b);
}

static void test_conversions(const struct kern_ops *k)
{
	for (int t = 0; t < KD_COUNT; t++) {
		if (KD_IS_MLX(t)) /* test_mlx */
			continue;
		size_t ns[] = {1, 7, 9, 31, 64, 1000, 4096};
		int same = 1, widen = 1;
		for (size_t i = 0; i < LEN(ns); i++) {
			size_t blk = is_k(t) ? 256 : is_q(t) ? 32 : 1, n = (ns[i] + blk - 1) / blk * blk;
			float *src = conversion_inputs(n);
			if (is_q(t)) /* quantisation of finite data only */
				for (size_t j = 0; j < n; j++)
					src[j] = isfinite(src[j]) && fabsf(src[j]) < 1e4f ? src[j] : frand();
			size_t nb = kern_row_bytes(t, n) ? kern_row_bytes(t, n) : n * 4;
			unsigned char *a = malloc(nb), *b = malloc(nb);
			kern_ref.from_f32[t](src, a, n);
			k->from_f32[t](src, b, n);
			if (memcmp(a, b, nb) != 0) {
				same = 0;
				for (size_t j = 0; j < nb; j++)
					if (a[j] != b[j]) {
						diag("%s from_f32 %s n=%zu: byte %zu ref %02x got %02x", k->name,
						     kern_dtype_name(t), n, j, a[j], b[j]);
						break;
					}
			}
			float *fr = malloc(n * 4), *fg = malloc(n * 4);
			kern_ref.to_f32[t](a, fr, n);
			k->to_f32[t](a, fg, n);
			if (memcmp(fr, fg, n * 4) != 0) {
				widen = 0;
				diag("%s to_f32 %s n=%zu differs", k->name, kern_dtype_name(t), n);
			}
			free(src), free(a), free(b), free(fr), free(fg);
		}
		ok(same, "%s from_f32 %s is byte-identical to the reference", k->name, kern_dtype_name(t));
		ok(widen, "%s to_f32 %s is bit-identical to the reference", k->name, kern_dtype_name(t));
	}
}

static const size_t VLEN[] = {1, 5, 8, 31, 33, 100, 257, 4096};

/* rmsnorm, softmax, silu_mul, add on every length; out-of-place rmsnorm. */
static void test_elementwise(const struct kern_ops *k)
{
	int g_rms = 1, g_soft = 1, g_silu = 1, g_add = 1;
	char what[64];
	for (size_t i = 0; i < LEN(VLEN); i++) {
		size_t n = VLEN[i];
		float *x = rand_vec(n, 3.0f), *w = rand_vec(n, 1.0f), *a = malloc(n * 4), *b = malloc(n * 4);
		snprintf(what, sizeof what, "%s n=%zu", k->name, n);
		kern_ref.rmsnorm(a, x, w, n, 1e-6f);
		k->rmsnorm(b, x, w, n, 1e-6f);
		g_rms &= close_enough(what, a, b, n, 1e-6, 2e-6);
		float *s = rand_vec(n, 20.0f);
		memcpy(a, s, n * 4), memcpy(b, s, n * 4);
		kern_ref.softmax(a, n);
		k->softmax(b, n);
		g_soft &= close_enough(what, a, b, n, 1e-7, 1e-5);
		float *up = rand_vec(n, 1.0f);
		for (size_t j = 0; j < n; j++) /* reach the tails of exp: +-100 */
			s[j] = j % 11 == 10 ? (j % 2 ? 100.0f : -100.0f) : s[j];
		memcpy(a, s, n * 4), memcpy(b, s, n * 4);
		kern_ref.silu_mul(a, up, n);
		k->silu_mul(b, up, n);
		g_silu &= close_enough(what, a, b, n, 1e-7, 1e-5);
		memcpy(a, s, n * 4), memcpy(b, s, n * 4);
		kern_ref.add(a, x, n);
		k->add(b, x, n);
		g_add &= memcmp(a, b, n * 4) == 0;
		free(x), free(w), free(a), free(b), free(s), free(up);
	}
	ok(g_rms, "%s rmsnorm matches the reference", k->name);
	ok(g_soft, "%s softmax matches the reference", k->name);
	ok(g_silu, "%s silu_mul matches the reference", k->name);
	ok(g_add, "%s add is exact", k->name);
}

static void test_rope_attention(const struct kern_ops *k)
{
	static const size_t HD[] = {2, 6, 16, 34, 64, 128};
	static const size_t KEYS[] = {1, 2, 7, 33, 300};
	int g_rope = 1, g_att = 1;
	char what[80];
	for (size_t i = 0; i < LEN(HD); i++) {
		size_t hd = HD[i], nh = 3;
		float *x = rand_vec(nh * hd, 2.0f), *c = rand_vec(hd / 2, 1.0f), *s = rand_vec(hd / 2, 1.0f);
		float *a = malloc(nh * hd * 4), *b = malloc(nh * hd * 4);
		memcpy(a, x, nh * hd * 4), memcpy(b, x, nh * hd * 4);
		kern_ref.rope(a, nh, hd, c, s);
		k->rope(b, nh, hd, c, s);
		snprintf(what, sizeof what, "%s rope head_dim=%zu", k->name, hd);
		g_rope &= close_enough(what, a, b, nh * hd, 1e-6, 1e-6);
		for (size_t j = 0; j < LEN(KEYS); j++) {
			size_t nk = KEYS[j], stride = hd * 2 + 3; /* keys interleaved with other heads */
			float *q = rand_vec(hd, 1.0f), *kk = rand_vec(nk * stride, 1.0f), *v = rand_vec(nk * stride, 1.0f);
			float *sc = malloc(nk * 4), *oa = malloc(hd * 4), *ob = malloc(hd * 4);
			float scale = 1.0f / sqrtf((float)hd) * 3.0f;
			kern_ref.attention(oa, q, kk, v, nk, hd, stride, scale, sc);
			k->attention(ob, q, kk, v, nk, hd, stride, scale, sc);
			snprintf(what, sizeof what, "%s attention head_dim=%zu keys=%zu", k->name, hd, nk);
			g_att &= close_enough(what, oa, ob, hd, 2e-6, 1e-5);
			free(q), free(kk), free(v), free(sc), free(oa), free(ob);
		}
		free(x), free(c), free(s), free(a), free(b);
	}
	ok(g_rope, "%s rope matches the reference", k->name);
	ok(g_att, "%s attention matches the reference", k->name);
}

/* Round-trip error of the reference quantisers: Q8_0 within half a step
 * (amax/127/2, plus the f16 rounding of d), Q4_0 within one step (amax/8). */
static void test_quant_error(void)
{
	size_t n = 4096;
	float *x = rand_vec(n, 2.0f), *y = malloc(n * 4);
	for (size_t i = 0; i < n; i += 97)
		x[i] *= 10.0f; /* some blocks with outliers */
	static const int types[] = {KD_Q8_0, KD_Q4_0, KD_Q4_1, KD_Q5_0, KD_Q5_1, KD_Q4_K, KD_Q5_K, KD_Q6_K};
	for (size_t ti = 0; ti < LEN(types); ti++) {
		int t = types[ti];
		void *q = malloc(kern_row_bytes(t, n));
		kern_ref.from_f32[t](x, q, n);
		kern_ref.to_f32[t](q, y, n);
		int good = 1;
		for (size_t b = 0; b < n / 32; b++) {
			float amax = 0, lo = INFINITY, hi = -INFINITY, sb = 0;  /* sb: |max| of its 256 */
			for (int j = 0; j < 32; j++) {
				amax = fmaxf(amax, fabsf(x[b * 32 + j]));
				lo = fminf(lo, x[b * 32 + j]);
				hi = fmaxf(hi, x[b * 32 + j]);
			}
			for (size_t j = b / 8 * 256; j < b / 8 * 256 + 256; j++)
				sb = fmaxf(sb, fabsf(x[j]));
			/* half a step, and f16's rounding of the scales; the K types' mins
			 * and scales are steps of d and dmin (up to sb / 63) */
			double bound;
			switch (t) {
			case KD_Q8_0: bound = amax / 127.0 * 0.5 * 1.01 + amax * 1e-3; break;
			case KD_Q4_0: bound = amax / 8.0 * 1.01; break;
			case KD_Q4_1: bound = (hi - lo) / 15.0 * 0.5 * 1.01 + amax * 4e-3; break;
			case KD_Q5_0: bound = amax / 16.0 * 1.01; break;
			case KD_Q5_1: bound = (hi - lo) / 31.0 * 0.5 * 1.01 + amax * 4e-3; break;
			case KD_Q4_K: bound = (hi - lo) / 15.0 * 0.5 + 2 * sb / 63 / 15 + sb / 63 + amax * 4e-3; break;
			case KD_Q5_K: bound = (hi - lo) / 31.0 * 0.5 + 2 * sb / 63 / 31 + sb / 63 + amax * 4e-3; break;
			default: bound = amax / 31.0 * 0.5 * 1.05 + sb / 31 / 127 * 16 + amax * 4e-3; break;
			}
			for (int j = 0; j < 32; j++)
				if (fabs((double)y[b * 32 + j] - x[b * 32 + j]) > bound) {
					if (good)
						diag("%s block %zu [%d]: %g -> %g, bound %g", kern_dtype_name(t), b, j,
						     x[b * 32 + j], y[b * 32 + j], bound);
					good = 0;
				}
		}
		ok(good, "%s quantise-dequantise error within its step bound", kern_dtype_name(t));
		free(q);
	}
	free(x), free(y);
}

static int feq(float a, float b, float tol) { return fabsf(a - b) <= tol; }

/* The oracle itself on cases worked out by hand. */
static void test_reference_by_hand(void)
{
	float x[4] = {1, 2, 3, 4}, w[4] = {1, 1, 2, 0.5f}, o[4];
	kern_ref.rmsnorm(o, x, w, 4, 0.0f); /* rms = sqrt(30/4) */
	float r = sqrtf(7.5f);
	ok(feq(o[0], 1 / r, 1e-6f) && feq(o[1], 2 / r, 1e-6f) && feq(o[2], 6 / r, 1e-6f) &&
		   feq(o[3], 2 / r, 1e-6f), "ref rmsnorm of [1,2,3,4]");

	float v[8] = {1, 2, 3, 4, 5, 6, 7, 8}, c[2] = {0, 0.5f}, s[2] = {1, 0.5f};
	kern_ref.rope(v, 2, 4, c, s); /* pairs (1,3),(2,4) then (5,7),(6,8) */
	ok(feq(v[0], -3, 0) && feq(v[2], 1, 0) && feq(v[1], -1, 1e-6f) && feq(v[3], 3, 1e-6f) &&
		   feq(v[4], -7, 0) && feq(v[6], 5, 0) && feq(v[5], -1, 1e-6f) && feq(v[7], 7, 1e-6f),
	   "ref rope rotates dimension i with i + head_dim/2");

	float sm[5] = {1000, 1001, 1002, -INFINITY, 1000}, sum = 0;
	kern_ref.softmax(sm, 5);
	for (int i = 0; i < 5; i++)
		sum += sm[i];
	ok(feq(sum, 1, 1e-6f) && sm[3] == 0 && feq(sm[2] / sm[1], expf(1), 1e-5f),
	   "ref softmax is stable and sums to 1");

	float g[2] = {0, 2}, up[2] = {5, 3};
	kern_ref.silu_mul(g, up, 2);
	ok(g[0] == 0 && feq(g[1], 2 / (1 + expf(-2)) * 3, 1e-6f), "ref silu_mul by hand");

	struct kern_block_q4_0 b = {.d = kern_f32_to_f16(1.0f)};
	for (int j = 0; j < 16; j++)
		b.qs[j] = (uint8_t)((j & 15) | (((15 - j) & 15) << 4));
	float d[32];
	kern_ref.to_f32[KD_Q4_0](&b, d, 32);
	int layout = 1;
	for (int j = 0; j < 16; j++)
		layout &= d[j] == j - 8 && d[j + 16] == 7 - j;
	ok(layout, "Q4_0: value j in the low nibble of qs[j], value j+16 in the high nibble");

	/* ggml's block_q4_1: d, m, then the nibbles as Q4_0's; value = d q + m */
	struct kern_block_q4_1 b1 = {.d = kern_f32_to_f16(0.5f), .m = kern_f32_to_f16(-2.0f)};
	for (int j = 0; j < 16; j++)
		b1.qs[j] = (uint8_t)(j | ((15 - j) << 4));
	kern_ref.to_f32[KD_Q4_1](&b1, d, 32);
	layout = sizeof b1 == 20;
	for (int j = 0; j < 16; j++)
		layout &= d[j] == 0.5f * j - 2 && d[j + 16] == 0.5f * (15 - j) - 2;
	ok(layout, "Q4_1: 20-byte blocks, d q + m with value j low in qs[j] and j+16 high");
	float x127[32], yq;  /* 127: the activation's scale is 1, exact in f16 */
	for (int j = 0; j < 32; j++)
		x127[j] = 127.0f;
	kern_ref.gemv[KD_Q4_1](&b1, x127, &yq, 1, 32);  /* 127 times the sum of d q + m */
	ok(feq(yq, 127 * (0.5f * 2 * 120 - 64), 1e-3f), "ref gemv Q4_1 by hand: %g", yq);

	float ww[6] = {1, 2, 3, 4, 5, 6}, xx[3] = {1, 0, -1}, yy[2];
	kern_ref.gemv[KD_F32](ww, xx, yy, 2, 3);
	ok(yy[0] == -2 && yy[1] == -2, "ref gemv F32 by hand");
	float q[2] = {1, 0}, kv[4] = {1, 0, 0, 1}, vv[4] = {2, 0, 0, 4}, out[2], sc[2];
	kern_ref.attention(out, q, kv, vv, 2, 2, 2, logf(3.0f), sc); /* weights 3/4, 1/4 */
	ok(feq(out[0], 1.5f, 1e-6f) && feq(out[1], 1.0f, 1e-6f), "ref attention by hand");
}

/* MLX's affine types: every (bits, group, scale type), gemv and gemm at odd
 * row counts and several groups per row against the reference, widening
 * bit-identical to it.  Weights are random bytes (every q pattern) with
 * scales and biases of either sign. */
static void *mlx_weights(int t, size_t rows, size_t cols)
{
	struct kern_mlx p;
	kern_mlx_params(t, &p);
	size_t nb = rows * cols / (size_t)p.group;
	unsigned char *w = malloc(nb * p.block_bytes);
	for (size_t b = 0; b < nb; b++) {
		unsigned char *blk = w + b * p.block_bytes;
		float sb[2] = {frand() * 0.05f, frand() * 0.5f};
		for (int i = 0; i < 2; i++) {
			unsigned char *d = blk + (size_t)i * p.scale_bytes;
			if (p.scale_type == KD_F32) {
				memcpy(d, &sb[i], 4);
			} else {
				uint16_t h = p.scale_type == KD_F16 ? kern_f32_to_f16(sb[i]) : kern_f32_to_bf16(sb[i]);
				memcpy(d, &h, 2);
			}
		}
		for (size_t j = 0; j < p.packed_bytes; j++)
			blk[2 * p.scale_bytes + j] = (unsigned char)((frand() + 1.0f) * 128.0f);
	}
	return w;
}

static int check_mlx(const struct kern_ops *k, int t, size_t n, size_t rows, size_t cols)
{
	void *w = mlx_weights(t, rows, cols);
	float *x = rand_vec(n * cols, 1.0f), *yr = calloc(n * rows, 4), *yg = calloc(n * rows, 4);
	float *wr = malloc(rows * cols * 4), *wg = malloc(rows * cols * 4);
	char what[128];
	int good = 1;
	kern_ref.to_f32[t](w, wr, rows * cols);
	k->to_f32[t](w, wg, rows * cols);
	if (memcmp(wr, wg, rows * cols * 4)) {
		diag("%s %s %zux%zu widens differently", k->name, kern_dtype_name(t), rows, cols);
		good = 0;
	}
	kern_ref.gemv[t](w, x, yr, rows, cols);
	k->gemv[t](w, x, yg, rows, cols);
	snprintf(what, sizeof what, "%s gemv %s %zux%zu", k->name, kern_dtype_name(t), rows, cols);
	good &= close_enough(what, yr, yg, rows, 4e-7 * (double)cols + 1e-6, 1e-5);
	kern_ref.gemm[t](w, x, yr, n, rows, cols, 1);
	k->gemm[t](w, x, yg, n, rows, cols, 2);
	snprintf(what, sizeof what, "%s gemm %s n=%zu %zux%zu", k->name, kern_dtype_name(t), n, rows, cols);
	good &= close_enough(what, yr, yg, n * rows, 4e-7 * (double)cols + 1e-6, 1e-5);
	free(w), free(x), free(yr), free(yg), free(wr), free(wg);
	return good;
}

static void test_mlx(const struct kern_ops *k)
{
	static const size_t rows[] = {1, 3, 7, 33}, groups[] = {1, 3, 17}, ns[] = {1, 5, 9, 17};
	int good = 1;
	for (int t = KD_MLX_FIRST; t <= KD_MLX_LAST; t++) {
		struct kern_mlx p;
		kern_mlx_params(t, &p);
		int good_t = 1;
		for (size_t r = 0; r < LEN(rows); r++)
			for (size_t g = 0; g < LEN(groups); g++)
				good_t &= check_mlx(k, t, ns[(r + g) % LEN(ns)], rows[r], groups[g] * (size_t)p.group);
		if (!good_t)
			diag("%s %s differs from the reference", k->name, kern_dtype_name(t));
		good &= good_t;
	}
	ok(good, "%s gemv, gemm and widening of all %d MLX types match the reference", k->name,
	   (int)KD_MLX_COUNT);
}

/* The bit stream by hand, as mlx/backend/cpu/quantized.cpp's extract_bits
 * reads it: 3-bit values straddle bytes (8 values in 3 bytes), 5-bit ones
 * (8 in 5), 6-bit ones (4 in 3); 4-bit value 0 is a word's low nibble. */
static void test_mlx_layout(void)
{
	const uint8_t b3[3] = {0xd1, 0x58, 0xfa};   /* 001 010 011 (0x1 0x2 0x3 ...) */
	unsigned want3[8];
	want3[0] = b3[0] & 0x7, want3[1] = (b3[0] & 0x38) >> 3;
	want3[2] = ((b3[0] & 0xc0) >> 6) + ((b3[1] & 0x1) << 2), want3[3] = (b3[1] & 0xe) >> 1;
	want3[4] = (b3[1] & 0x70) >> 4, want3[5] = ((b3[1] & 0x80) >> 7) + ((b3[2] & 0x3) << 1);
	want3[6] = (b3[2] & 0x1c) >> 2, want3[7] = (b3[2] & 0xe0) >> 5;
	int same = 1;
	for (size_t i = 0; i < 8; i++)
		same &= kern_mlx_value(b3, 3, i) == want3[i];
	ok(same, "3-bit values read across bytes as MLX's extract_bits");
	const uint8_t b5[5] = {0x3e, 0xc1, 0x9d, 0x72, 0xa8};
	unsigned want5[8] = {b5[0] & 0x1fu, ((b5[0] & 0xe0u) >> 5) + ((b5[1] & 0x3u) << 3), (b5[1] & 0x7cu) >> 2,
			     ((b5[1] & 0x80u) >> 7) + ((b5[2] & 0xfu) << 1),
			     ((b5[2] & 0xf0u) >> 4) + ((b5[3] & 0x1u) << 4), (b5[3] & 0x3eu) >> 1,
			     ((b5[3] & 0xc0u) >> 6) + ((b5[4] & 0x7u) << 2), (b5[4] & 0xf8u) >> 3};
	same = 1;
	for (size_t i = 0; i < 8; i++)
		same &= kern_mlx_value(b5, 5, i) == want5[i];
	ok(same, "5-bit values read across bytes as MLX's extract_bits");
	const uint8_t b6[3] = {0x9b, 0x4e, 0xe7};
	unsigned want6[4] = {b6[0] & 0x3fu, ((b6[0] >> 6) & 0x3u) + ((b6[1] & 0xfu) << 2),
			     ((b6[1] >> 4) & 0xfu) + ((b6[2] & 0x3u) << 4), (b6[2] >> 2) & 0x3fu};
	same = 1;
	for (size_t i = 0; i < 4; i++)
		same &= kern_mlx_value(b6, 6, i) == want6[i];
	ok(same, "6-bit values read across bytes as MLX's extract_bits");
	uint32_t word = 0x87654321u;
	uint8_t b4[4];
	memcpy(b4, &word, 4);
	ok(kern_mlx_value(b4, 4, 0) == 1 && kern_mlx_value(b4, 4, 7) == 8, "4-bit value 0 is the low nibble of a word");
	/* One 3-bit block of 32 by hand: scale -0.5 (negative), bias 2, in BF16. */
	int t = KD_MLX3_G32_BF16;
	uint8_t blk[4 + 12] = {0};
	uint16_t s = kern_f32_to_bf16(-0.5f), bias = kern_f32_to_bf16(2.0f);
	memcpy(blk, &s, 2), memcpy(blk + 2, &bias, 2);
	for (int v = 0; v < 32; v++) { /* q = v % 8 at bit 3v */
		unsigned q = (unsigned)v % 8, bit = 3u * (unsigned)v;
		blk[4 + bit / 8] |= (uint8_t)(q << (bit % 8));
		if (bit % 8 > 5)
			blk[4 + bit / 8 + 1] |= (uint8_t)(q >> (8 - bit % 8));
	}
	float out[32];
	kern_ref.to_f32[t](blk, out, 32);
	same = 1;
	for (int v = 0; v < 32; v++)
		same &= out[v] == -0.5f * (float)(v % 8) + 2.0f;
	ok(same, "ref widens a 3-bit block with a negative scale to scale*q + bias");
	ok(kern_row_bytes(KD_MLX4_G64_BF16, 128) == 2 * 36 && kern_row_bytes(KD_MLX4_G64_BF16, 96) == 0,
	   "MLX4_G64_BF16 rows are whole blocks of 4 + 32 bytes");
	ok(kern_dtype_parse("mlx3_g64_bf16") == KD_MLX3_G64_BF16 &&
	   strcmp(kern_dtype_name(KD_MLX6_G128_F16), "MLX6_G128_F16") == 0, "MLX type names");
}

int main(void)
{
	test_reference_by_hand();
	test_quant_error();
	test_mlx_layout();
	for (const struct kern_ops *const *v = kern_variants(); *v; v++) {
		const struct kern_ops *k = *v;
		diag("variant %s", k->name);
		int full = 1;
		for (int t = 0; t < KD_COUNT; t++)
			full &= k->gemv[t] && k->gemm[t] && k->to_f32[t] && k->from_f32[t];
		full &= k->rmsnorm && k->rope && k->softmax && k->silu_mul && k->add && k->attention;
		ok(full, "%s fills every slot", k->name);
		test_products(k);
		test_mlx(k);
		test_packed(k);
		test_quantize_act(k);
		test_conversions(k);
		test_elementwise(k);
		test_rope_attention(k);
	}
	ok(kern_by_name("ref") == &kern_ref, "kern_by_name finds the reference");
	return done_testing();
}
