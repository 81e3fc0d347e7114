/* Memory suite: STREAM's four kernels (copy, scale, add, triad on doubles,
 * McCalpin's stream.c v5.10) and a read-only pass (a sum), with OpenMP, at
 * one thread and at all threads.
 *
 * STREAM's rules: each array is at least 4x the sum of the last-level
 * caches and at least 1M elements; every iteration runs the kernels in
 * order, the first iteration is discarded, and the figure is the best rate,
 * bytes / fastest time, where copy and scale move 2 and add and triad 3
 * arrays' worth of bytes.  The results are validated as stream.c does.
 *
 * The 4x rule holds where the run's time allows it.  A large cache (260 MiB
 * on some Xeons: 3 arrays of 1 GiB) can take a whole short run to fault in,
 * so the arrays are faulted in a chunk at a time within half of the
 * suite's share, and shrunk further when two iterations at each thread
 * count would not fit what is left; each record says the size it used
 * (array_bytes), the cache (llc_bytes) and what bounded it (sized_by).
 * Every figure is measured at least once (exo-bench(1), Time): a thread
 * count that starts after the run's end runs one iteration on the first
 * STREAM_MIN_ELEMS of the arrays. */
#include "bench/internal.h"

#include <glob.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

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
	size_t llc;
	const char *sized_by;
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

size_t bench_llc(const struct bench_ctx *c)
{
	return c->o->llc_bytes ? c->o->llc_bytes : bench_llc_bytes();
}

#define PAGE 4096u
#define FAULT_CHUNK (8u << 20)   /* per buffer: a few ms, so the clock is read often */

static void touch(char *p, size_t n, int nt)
{
#pragma omp parallel for num_threads(nt) schedule(static)
	for (size_t k = 0; k < n; k += PAGE)
		memset(p + k, 0, n - k < PAGE ? n - k : PAGE);
}

int bench_working_set(struct bench_ctx *c, void **bufs, int count, size_t want, size_t min,
		      double seconds, struct bench_sizing *out)
{
	const char *by = want >= min ? "4x_llc" : "minimum";
	min = (min + PAGE - 1) & ~(size_t)(PAGE - 1);
	want = want > min ? want & ~(size_t)(PAGE - 1) : min;
	size_t avail = mem_available(), cap = avail / 2 / (size_t)count & ~(size_t)(PAGE - 1);
	if (avail && want > cap)   /* all of them within half of what is free */
		want = cap, by = "memory";
	/* Mappings, not malloc: address space only until faulted in (an
	 * allocator that prepares the whole of each, as ASan's poisons its
	 * shadow, would spend the time this bounds). */
	out->mapped = want;
	for (int i = 0; i < count; i++) {
		void *p = want >= min ? mmap(NULL, want, PROT_READ | PROT_WRITE,
					     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0) : MAP_FAILED;
		bufs[i] = p == MAP_FAILED ? NULL : p;
	}
	for (int i = 0; i < count; i++)
		if (!bufs[i]) {
			bench_working_set_free(bufs, count, out);
			return -1;
		}
	double t0 = bench_now();
	size_t done = 0;
	while (done < want) {
		size_t n = want - done < FAULT_CHUNK ? want - done : FAULT_CHUNK;
		for (int i = 0; i < count; i++)
			touch((char *)bufs[i] + done, n, c->threads);
		done += n;
		if (done >= min && done < want && bench_now() - t0 > seconds) {
			by = "time";
			break;
		}
	}
	out->bytes = done;
	out->sized_by = by;
	return 0;
}

void bench_working_set_free(void **bufs, int count, const struct bench_sizing *z)
{
	for (int i = 0; i < count; i++) {
		if (bufs[i])
			munmap(bufs[i], z->mapped);
		bufs[i] = NULL;
	}
}

void bench_fit_passes(struct bench_sizing *s, double pass_seconds, int passes, double seconds,
		      size_t min)
{
	if (pass_seconds <= 0 || passes * pass_seconds <= seconds)
		return;
	double scale = seconds > 0 ? seconds / (passes * pass_seconds) : 0;
	size_t b = (size_t)((double)s->bytes * scale) & ~(size_t)(PAGE - 1);
	if (b < min)
		b = min;
	if (b < s->bytes)
		s->bytes = b, s->sized_by = "time";
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
	if (bench_now() >= c->end && s->n > STREAM_MIN_ELEMS)   /* late: one iteration at the floor */
		s->n = STREAM_MIN_ELEMS, s->sized_by = "time";
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
		json_t *x = json_pack("{s:I,s:I,s:s}", "array_bytes", (json_int_t)(s->n * sizeof(double)),
				      "llc_bytes", (json_int_t)s->llc, "sized_by", s->sized_by);
		if (bench_emit_figure(c, &f, x) < 0)
			return -1;
	}
	return 0;
}

/* An iteration moves 11 arrays' worth of bytes (2 + 2 + 3 + 3 + 1), an
 * initialisation 3. */
#define ITERATION_ARRAYS 11.0

int bench_memory(struct bench_ctx *c)
{
	size_t llc = bench_llc(c), min = STREAM_MIN_ELEMS * sizeof(double);
	int counts[2] = { 1, c->threads }, n = c->threads > 1 ? 2 : 1;
	void *bufs[3];
	struct bench_sizing z;
	bench_progress(c, "faulting in the arrays");
	if (bench_working_set(c, bufs, 3, 4 * llc, min, (c->suite_end - bench_now()) / 2, &z) < 0) {
		bench_warn(c, "memory: skipped: cannot allocate 3 arrays of %zu MiB", min >> 20);
		c->failed = 1;
		return 0;
	}
	struct arrays s = { .a = bufs[0], .b = bufs[1], .c = bufs[2], .n = z.bytes / sizeof(double),
			    .llc = llc };
	/* One initialisation at one thread times the slowest figure's writes:
	 * the arrays shrink until two iterations (the first is discarded) at
	 * each thread count fit what is left of the suite. */
	double t0 = bench_now();
	init(&s, 1);
	double pass = (bench_now() - t0) * ITERATION_ARRAYS / 3;
	bench_fit_passes(&z, pass, 2 * n, c->suite_end - bench_now(), min);
	s.n = z.bytes / sizeof(double);
	s.sized_by = z.sized_by;
	int rc = 0;
	c->figures_left = n;
	for (int i = 0; i < n && rc == 0; i++)
		rc = measure(c, &s, counts[i]);
	bench_working_set_free(bufs, 3, &z);
	return rc;
}
