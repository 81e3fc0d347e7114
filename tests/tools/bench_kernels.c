/* Kernel micro-benchmark: gemv weight-streaming bandwidth (GB/s of weight
 * bytes) per type and variant on a 2048x8192 matrix at one thread, on the
 * standard layout and, where a variant has one, on its packed layout (what
 * the engine's decode runs), and gemm GFLOP/s at n=64 (1 and 2 threads).
 * Each time is the best of a few, in wall-clock and in the thread's CPU
 * time (less disturbed on a loaded machine).  Usage: bench_kernels [rows cols n] */
#include "kernels/kern.h"

#include <blis.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double clock_s(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double now(void) { return clock_s(CLOCK_MONOTONIC); }

/* The plain types and, of MLX's 54, the 4- and 3-bit ones of groups of 64. */
static int shown(int t)
{
	return !KD_IS_MLX(t) || t == KD_MLX4_G64_BF16 || t == KD_MLX3_G64_BF16;
}

static void *weights(int t, size_t rows, size_t cols)
{
	float *f = malloc(rows * cols * sizeof *f);
	for (size_t i = 0; i < rows * cols; i++)
		f[i] = (float)((i * 2654435761u) % 2001) / 1000.0f - 1.0f;
	void *w = malloc(kern_row_bytes(t, cols) * rows);
	kern_ref.from_f32[t](f, w, rows * cols);
	free(f);
	return w;
}

typedef void gemv_fn(const void *w, const float *x, float *y, size_t rows, size_t cols);

/* Best of a few timed runs of at least 0.2 s each, in seconds per call;
 * *cpu the best in the thread's CPU time. */
static double time_gemv(gemv_fn *gemv, const void *w, const float *x, float *y, size_t rows,
			size_t cols, double *cpu)
{
	double best = 1e9;
	*cpu = 1e9;
	for (int rep = 0; rep < 5; rep++) {
		int calls = 0;
		double t0 = now(), c0 = clock_s(CLOCK_THREAD_CPUTIME_ID), el;
		do {
			gemv(w, x, y, rows, cols);
			calls++;
		} while ((el = now() - t0) < 0.2);
		double c = clock_s(CLOCK_THREAD_CPUTIME_ID) - c0;
		if (el / calls < best)
			best = el / calls;
		if (c / calls < *cpu)
			*cpu = c / calls;
	}
	return best;
}

static double time_gemm(const struct kern_ops *k, int t, const void *w, const float *x, float *y,
			size_t n, size_t rows, size_t cols, int threads)
{
	double best = 1e9;
	k->gemm[t](w, x, y, n, rows, cols, threads); /* warm up BLIS pools */
	for (int rep = 0; rep < 3; rep++) {
		double t0 = now();
		k->gemm[t](w, x, y, n, rows, cols, threads);
		double el = now() - t0;
		if (el < best)
			best = el;
	}
	return best;
}

int main(int argc, char **argv)
{
	size_t rows = argc > 2 ? strtoul(argv[1], NULL, 10) : 2048;
	size_t cols = argc > 2 ? strtoul(argv[2], NULL, 10) : 8192;
	size_t n = argc > 3 ? strtoul(argv[3], NULL, 10) : 64;
	float *x = malloc(n * cols * sizeof *x), *y = malloc(n * rows * sizeof *y);
	for (size_t i = 0; i < n * cols; i++)
		x[i] = (float)(i % 17) / 17.0f - 0.5f;
	printf("BLIS %s, arch %s\n", bli_info_get_version_str(), bli_arch_string(bli_arch_query_id()));
	printf("gemv %zux%zu, 1 thread: GB/s of weights (Gvalues/s)\n%-8s", rows, cols, "variant");
	for (int t = 0; t < KD_COUNT; t++)
		if (shown(t))
			printf(" %16s", kern_dtype_name(t));
	printf("\n");
	void *w[KD_COUNT];
	for (int t = 0; t < KD_COUNT; t++)
		w[t] = shown(t) ? weights(t, rows, cols) : NULL;
	for (const struct kern_ops *const *v = kern_variants(); *v; v++) {
		printf("%-8s", (*v)->name);
		for (int t = 0; t < KD_COUNT; t++) {
			if (!shown(t))
				continue;
			double cpu, s = time_gemv((*v)->gemv[t], w[t], x, y, rows, cols, &cpu);
			printf("  %6.2f (%6.2f)", kern_row_bytes(t, cols) * rows / s / 1e9, rows * cols / s / 1e9);
		}
		printf("\n");
	}
	printf("gemv on the packed layout (the engine's decode), 1 thread: GB/s of weights by the wall clock "
	       "/ by the thread's CPU time\n");
	for (const struct kern_ops *const *v = kern_variants(); *v; v++) {
		int any = 0;
		for (int t = 0; t < KD_COUNT; t++) {
			if (!shown(t) || !(*v)->pack[t] || rows % KERN_PACK_ROWS)
				continue;
			size_t bytes = kern_row_bytes(t, cols) * rows;
			void *p = malloc(bytes);
			(*v)->pack[t](w[t], p, rows, cols);
			double cpu, s = time_gemv((*v)->gemv_packed[t], p, x, y, rows, cols, &cpu);
			printf("%s%s %s %.2f / %.2f", any ? "," : (*v)->name, any ? "" : ":", kern_dtype_name(t),
			       bytes / s / 1e9, bytes / cpu / 1e9);
			any = 1;
			free(p);
		}
		if (any)
			printf("\n");
	}
	printf("gemm n=%zu %zux%zu: GFLOP/s at 1 / 2 threads\n%-8s", n, rows, cols, "variant");
	for (int t = 0; t < KD_COUNT; t++)
		if (shown(t))
			printf(" %16s", kern_dtype_name(t));
	printf("\n");
	for (const struct kern_ops *const *v = kern_variants(); *v; v++) {
		if ((*v) == &kern_ref)
			continue; /* minutes at this size: it is one gemv per row of X */
		printf("%-8s", (*v)->name);
		for (int t = 0; t < KD_COUNT; t++) {
			if (!shown(t))
				continue;
			double f = 2.0 * n * rows * cols / 1e9;
			double s1 = time_gemm(*v, t, w[t], x, y, n, rows, cols, 1);
			double s2 = time_gemm(*v, t, w[t], x, y, n, rows, cols, 2);
			printf("  %6.1f / %6.1f", f / s1, f / s2);
		}
		printf("\n");
	}
	for (int t = 0; t < KD_COUNT; t++)
		free(w[t]);
	free(x), free(y);
	return 0;
}
