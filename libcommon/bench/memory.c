/* Memory suite: STREAM's four kernels (copy, scale, add, triad on doubles,
 * McCalpin's stream.c v5.10) and a read-only pass (a sum), with OpenMP, at
 * one thread and at all threads.
 *
 * STREAM's rules: each array is at least 4x the sum of the last-level
 * caches and at least 1M elements; every iteration runs the kernels in
 * order, the first iteration is discarded, and the figure is the best rate,
 * bytes / fastest time, where copy and scale move 2 and add and triad 3
 * arrays' worth of bytes.  The results are validated as stream.c does. */
#include "bench/internal.h"

#include <glob.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STREAM_MIN_ELEMS (1u << 20)
#define STREAM_SCALAR 3.0
#define MAX_ITERS 100   /* values grow 15x an iteration: stay far from overflow */

enum { K_COPY, K_SCALE, K_ADD, K_TRIAD, K_READ, K_N };
static const char *const kernel_names[K_N] = {
	"copy_bytes_per_s", "scale_bytes_per_s", "add_bytes_per_s", "triad_bytes_per_s",
	"read_bytes_per_s",
};
static const int kernel_arrays[K_N] = { 2, 2, 3, 3, 1 };   /* arrays moved per pass */

struct arrays {
	double *a, *b, *c;
	size_t n;
	int iters;              /* since init, for the validation */
	volatile double sink;   /* keeps the read pass */
};

/* ---- sizes ---- */

static size_t read_size_file(const char *path)
{
	char buf[64] = "";
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	if (!fgets(buf, sizeof buf, f))
		buf[0] = '\0';
	fclose(f);
	char *end;
	size_t v = strtoull(buf, &end, 10);
	return v << (*end == 'K' ? 10 : *end == 'M' ? 20 : *end == 'G' ? 30 : 0);
}

/* The highest cache level of each CPU, each cache counted once (caches are
 * told apart by the CPUs that share them). */
size_t bench_llc_bytes(void)
{
	glob_t g;
	if (glob("/sys/devices/system/cpu/cpu[0-9]*/cache/index[0-9]*", 0, NULL, &g) != 0)
		return 0;
	int top = 0;
	size_t total = 0;
	char (*seen)[128] = calloc(g.gl_pathc, sizeof *seen);
	size_t n_seen = 0;
	for (int pass = 0; pass < 2 && seen; pass++) {
		for (size_t i = 0; i < g.gl_pathc; i++) {
			char p[512], shared[128] = "";
			snprintf(p, sizeof p, "%s/level", g.gl_pathv[i]);
			int level = (int)read_size_file(p);
			if (pass == 0) {
				top = level > top ? level : top;
				continue;
			}
			snprintf(p, sizeof p, "%s/shared_cpu_list", g.gl_pathv[i]);
			FILE *f = level == top ? fopen(p, "r") : NULL;
			if (!f)
				continue;
			if (!fgets(shared, sizeof shared, f))
				shared[0] = '\0';
			fclose(f);
			int dup = 0;
			for (size_t j = 0; j < n_seen && !dup; j++)
				dup = strcmp(seen[j], shared) == 0;
			if (dup)
				continue;
			snprintf(seen[n_seen++], sizeof *seen, "%s", shared);
			snprintf(p, sizeof p, "%s/size", g.gl_pathv[i]);
			total += read_size_file(p);
		}
	}
	free(seen);
	globfree(&g);
	return total;
}

static size_t mem_available(void)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[256];
	size_t kib = 0;
	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "MemAvailable: %zu kB", &kib) == 1)
			break;
	if (f)
		fclose(f);
	return kib * 1024;
}

void *bench_alloc(size_t bytes)
{
	size_t avail = mem_available();
	if (bytes == 0 || (avail && bytes > avail / 2))
		return NULL;
	return aligned_alloc(4096, (bytes + 4095) & ~(size_t)4095);
}

/* ---- kernels, as in stream.c ---- */

static void init(struct arrays *s, int nt)
{
	s->iters = 0;
	double *restrict a = s->a, *restrict b = s->b, *restrict c = s->c;
#pragma omp parallel for simd num_threads(nt) schedule(static)
	for (size_t j = 0; j < s->n; j++) {
		a[j] = 2.0;   /* stream.c sets 1.0, then doubles it in its timer check */
		b[j] = 2.0;
		c[j] = 0.0;
	}
}

/* The sum of a in four independent chains of vectors (GCC vector
 * extensions, SSE2 at the least): one chain would measure the adder's
 * latency, not memory. */
typedef double v2d __attribute__((vector_size(16), aligned(8), may_alias));

static double read_pass(const double *restrict a, size_t n, int nt)
{
	double sum = 0;
	size_t n8 = n & ~(size_t)7;
#pragma omp parallel num_threads(nt) reduction(+ : sum)
	{
		v2d s0 = { 0, 0 }, s1 = s0, s2 = s0, s3 = s0;
#pragma omp for schedule(static)
		for (size_t j = 0; j < n8; j += 8) {
			const v2d *x = (const v2d *)(a + j);
			s0 += x[0], s1 += x[1], s2 += x[2], s3 += x[3];
		}
		v2d t = (s0 + s1) + (s2 + s3);
		sum += t[0] + t[1];
	}
	for (size_t j = n8; j < n; j++)
		sum += a[j];
	return sum;
}

static void kernel(int k, struct arrays *s, int nt)
{
	double *restrict a = s->a, *restrict b = s->b, *restrict c = s->c;
	const double q = STREAM_SCALAR;
	size_t n = s->n;
	switch (k) {
	case K_COPY:
#pragma omp parallel for simd num_threads(nt) schedule(static)
		for (size_t j = 0; j < n; j++)
			c[j] = a[j];
		break;
	case K_SCALE:
#pragma omp parallel for simd num_threads(nt) schedule(static)
		for (size_t j = 0; j < n; j++)
			b[j] = q * c[j];
		break;
	case K_ADD:
#pragma omp parallel for simd num_threads(nt) schedule(static)
		for (size_t j = 0; j < n; j++)
			c[j] = a[j] + b[j];
		break;
	case K_TRIAD:
#pragma omp parallel for simd num_threads(nt) schedule(static)
		for (size_t j = 0; j < n; j++)
			a[j] = b[j] + q * c[j];
		break;
	default:
		s->sink = read_pass(a, n, nt);
	}
}

/* stream.c's checkSTREAMresults: replay the iterations on scalars. */
static int valid(const struct arrays *s, int iters)
{
	double a = 2.0, b = 2.0, c = 0.0;
	for (int i = 0; i < iters; i++) {
		c = a;
		b = STREAM_SCALAR * c;
		c = a + b;
		a = b + STREAM_SCALAR * c;
	}
	size_t at[] = { 0, s->n / 3, s->n - 1 };
	for (size_t i = 0; i < sizeof at / sizeof *at; i++)
		if (fabs(s->a[at[i]] - a) > 1e-13 * fabs(a) || fabs(s->b[at[i]] - b) > 1e-13 * fabs(b) ||
		    fabs(s->c[at[i]] - c) > 1e-13 * fabs(c))
			return 0;
	return 1;
}

/* ---- one thread count ---- */

static int measure(struct bench_ctx *c, struct arrays *s, int nt)
{
	static double t[K_N][MAX_ITERS];
	char what[64];
	snprintf(what, sizeof what, "%d thread%s", nt, nt > 1 ? "s" : "");
	if (bench_out_of_time(c, what))
		return 0;
	double until = bench_figure_end(c), last = 0;
	if (s->iters > MAX_ITERS / 2)   /* the arrays are set once: page faults cost */
		init(s, nt);
	int iters = 0;
	while (s->iters < MAX_ITERS && (iters == 0 || bench_fits(until, last))) {
		double t0 = bench_now();
		int k = 0;
		for (; k < K_N && (iters == 0 || bench_now() < c->end); k++) {
			double k0 = bench_now();
			kernel(k, s, nt);
			t[k][iters] = bench_now() - k0;
		}
		if (k < K_N) {   /* the run's end came mid-iteration: the arrays must be reset */
			s->iters = MAX_ITERS;
			break;
		}
		last = bench_now() - t0;
		iters++, s->iters++;
		snprintf(what, sizeof what, "%d thread%s, iteration %d", nt, nt > 1 ? "s" : "", iters);
		bench_progress(c, what);
	}
	if (s->iters < MAX_ITERS && !valid(s, s->iters))
		bench_warn(c, "memory: %d threads: results failed validation", nt), c->failed = 1;
	int skip = iters > 1;   /* STREAM discards the first iteration */
	for (int k = 0; k < K_N; k++) {
		double rate[MAX_ITERS], total = 0;
		int64_t bytes = (int64_t)(kernel_arrays[k] * sizeof(double) * s->n);
		for (int i = skip; i < iters; i++) {
			rate[i - skip] = (double)bytes / t[k][i];
			total += t[k][i];
		}
		struct bench_figure f = { .name = kernel_names[k], .samples = rate, .n = iters - skip,
					  .best = true, .seconds = total, .threads = nt, .bytes = bytes };
		json_t *x = json_pack("{s:I}", "array_bytes", (json_int_t)(s->n * sizeof(double)));
		if (bench_emit_figure(c, &f, x) < 0)
			return -1;
	}
	return 0;
}

int bench_memory(struct bench_ctx *c)
{
	if (bench_out_of_time(c, "1 thread"))
		return 0;
	size_t llc = bench_llc_bytes();
	struct arrays s = { .n = 4 * llc / sizeof(double) };
	if (s.n < STREAM_MIN_ELEMS)
		s.n = STREAM_MIN_ELEMS;
	s.a = bench_alloc(s.n * sizeof(double));
	s.b = s.a ? bench_alloc(s.n * sizeof(double)) : NULL;
	s.c = s.b ? bench_alloc(s.n * sizeof(double)) : NULL;
	int rc = 0;
	if (!s.c) {
		bench_warn(c, "memory: skipped: cannot allocate 3 arrays of %zu MiB", s.n * sizeof(double) >> 20);
		c->failed = 1;
	} else {
		int counts[2] = { 1, c->threads }, n = c->threads > 1 ? 2 : 1;
		c->figures_left = n;
		init(&s, c->threads);
		for (int i = 0; i < n && rc == 0; i++)
			rc = measure(c, &s, counts[i]);
	}
	free(s.a), free(s.b), free(s.c);
	return rc;
}
