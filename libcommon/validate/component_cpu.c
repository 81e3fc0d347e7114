/* --test-component cpu: every kernel variant usable on this CPU against the
 * scalar reference on random data, with the tolerances of the unit tests
 * (a dot product of n terms may differ by ~4e-7 n from summation order). */
#include "kernels/kern.h"
#include "kernels/mlx.h"
#include "validate/component.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define ROWS 96
#define COLS 512

static float uniform(uint64_t *s)
{
	*s = *s * 6364136223846793005ull + 1442695040888963407ull;
	return (float)((*s >> 40) * (1.0 / (1ull << 24))) * 2.0f - 1.0f;
}

/* Largest |got - ref| / (atol + rtol |ref|): within tolerance when <= 1. */
static double worst(const float *ref, const float *got, size_t n, double atol, double rtol)
{
	double w = 0;
	for (size_t i = 0; i < n; i++) {
		double r = fabs((double)got[i] - ref[i]) / (atol + rtol * fabs(ref[i]));
		if (!(r <= w))
			w = isnan(r) ? INFINITY : r;
	}
	return w;
}

/* gemv of every weight type: the weights quantised once by the reference, so
 * both variants multiply the same bytes. */
static double check_gemv(const struct kern_ops *k, int t, const float *w32, const float *x)
{
	size_t bytes = kern_row_bytes(t, COLS) * ROWS;
	void *w = malloc(bytes);
	float yr[ROWS], yg[ROWS];
	kern_ref.from_f32[t](w32, w, (size_t)ROWS * COLS);
	kern_ref.gemv[t](w, x, yr, ROWS, COLS);
	k->gemv[t](w, x, yg, ROWS, COLS);
	free(w);
	return worst(yr, yg, ROWS, (t == KD_Q4_0 ? 8 : 1) * 4e-7 * COLS + 1e-6, 1e-5);
}

/* The packed MLX kernels (kern.h's packed_rounds_x: int8 activations)
 * against kern_mlx_gemv_act, the scalar form of what they compute, with
 * the tolerance of a gemv (the order of summation is all that differs);
 * *rel gets their RMS error against the f32 reference over its RMS, which
 * the rounding of the activations makes: reported, not held. */
static double check_mlx_packed(const struct kern_ops *k, int t, const float *w32, const float *x,
			       double *rel)
{
	size_t bytes = kern_row_bytes(t, COLS) * ROWS;
	void *w = malloc(bytes), *p = malloc(bytes);
	float yr[ROWS], yq[ROWS], yg[ROWS];
	struct kern_act_q8 a[COLS / KERN_QBLOCK];
	kern_ref.from_f32[t](w32, w, (size_t)ROWS * COLS);
	k->pack[t](w, p, ROWS, COLS);
	kern_ref.gemv[t](w, x, yr, ROWS, COLS);
	kern_quantize_act(x, a, COLS);
	kern_mlx_gemv_act(t, w, a, yq, ROWS, COLS);
	k->gemv_packed[t](p, x, yg, ROWS, COLS);
	double num = 0, den = 0;
	for (int r = 0; r < ROWS; r++) {
		num += ((double)yg[r] - yr[r]) * ((double)yg[r] - yr[r]);
		den += (double)yr[r] * yr[r];
	}
	*rel = den > 0 ? sqrt(num / den) : 0;
	free(w), free(p);
	return worst(yq, yg, ROWS, 8 * 4e-7 * COLS + 1e-6, 1e-5);
}

static double check_elementwise(const struct kern_ops *k, const float *x, const float *w)
{
	float a[COLS], b[COLS], s[COLS];
	double m = 0, r;
	kern_ref.rmsnorm(a, x, w, COLS, 1e-5f);
	k->rmsnorm(b, x, w, COLS, 1e-5f);
	if ((r = worst(a, b, COLS, 1e-6, 1e-5)) > m) m = r;
	for (int i = 0; i < COLS; i++) a[i] = b[i] = x[i] * 8;
	kern_ref.softmax(a, COLS);
	k->softmax(b, COLS);
	if ((r = worst(a, b, COLS, 1e-7, 1e-5)) > m) m = r;
	for (int i = 0; i < COLS; i++) a[i] = b[i] = x[i] * 4;
	kern_ref.silu_mul(a, w, COLS);
	k->silu_mul(b, w, COLS);
	if ((r = worst(a, b, COLS, 1e-6, 1e-5)) > m) m = r;
	/* one head of 64 over 8 keys: K is w, V is x (8 x 64 = COLS values each) */
	kern_ref.attention(a, x, w, x, 8, 64, 64, 0.125f, s);
	k->attention(b, x, w, x, 8, 64, 64, 0.125f, s);
	if ((r = worst(a, b, 64, 1e-6, 1e-4)) > m) m = r;
	return m;
}

void component_cpu(struct vcheck_out *out)
{
	uint64_t seed = 42;
	float *w32 = malloc(sizeof(float) * ROWS * COLS), x[COLS], w[COLS];
	for (size_t i = 0; i < (size_t)ROWS * COLS; i++)
		w32[i] = uniform(&seed) * 0.05f;
	for (int i = 0; i < COLS; i++) {
		x[i] = uniform(&seed);
		w[i] = 1 + uniform(&seed) * 0.1f;
	}
	for (const struct kern_ops *const *v = kern_variants(); *v; v++) {
		double m = check_elementwise(*v, x, w);
		char msg[1024];
		int n = snprintf(msg, sizeof msg, "kernels '%s' against the scalar reference: ", (*v)->name);
		for (int t = 0; t < KD_COUNT; t++) {
			if (KD_IS_MLX(t) && t != KD_MLX4_G64_BF16) /* one of the 54 stands for them */
				continue;
			double g = check_gemv(*v, t, w32, x);
			n += snprintf(msg + n, sizeof msg - (size_t)n, "gemv %s %.2f, ", kern_dtype_name(t), g);
			if (g > m) m = g;
		}
		static const int mlx_shown[] = {KD_MLX3_G64_BF16, KD_MLX4_G64_BF16, KD_MLX8_G64_BF16};
		for (size_t i = 0; i < sizeof mlx_shown / sizeof *mlx_shown; i++) {
			int t = mlx_shown[i];
			if (!(*v)->packed_rounds_x[t])
				continue;
			double rel, g = check_mlx_packed(*v, t, w32, x, &rel);
			n += snprintf(msg + n, sizeof msg - (size_t)n, "packed %s %.2f (int8 activations: %.2f%% RMS "
				      "off the f32 reference), ", kern_dtype_name(t), g, 100 * rel);
			if (g > m) m = g;
		}
		snprintf(msg + n, sizeof msg - (size_t)n, "element-wise ops and attention: worst error %.2f of the tolerance",
			 m);
		json_t *c = vcheck_new("cpu", "component.cpu", m <= 1 ? "ok" : "fail", msg);
		json_object_set_new(c, "worst_over_tolerance", json_real(m));
		vcheck_emit(out, c);
	}
	free(w32);
}

/* There is no GPU backend yet: say so, so that a request for gpu is never
 * silently passed. */
void component_gpu(struct vcheck_out *out, int asked)
{
	vcheck_emit(out, vcheck_new("gpu", "component.gpu", asked ? "warn" : "ok",
				    "this build has no GPU backend (stages run on CPUs): GPU test skipped"));
}
