/* Compute suite: BLIS sgemm in FLOP/s (square matrices, one call a sample,
 * after a warm-up call that lets BLIS set up its pools), and the engine's
 * GEMV kernels for each weight type in bytes of weights per second (what
 * bounds decoding), through the dispatch table the engine uses, split over
 * threads as the engine splits rows.  The GEMV matrix is 4x the last-level
 * cache where the run's time allows, so the weights stream from memory as
 * they do when a model decodes; on a large cache a short run bounds it (as
 * the memory suite bounds its arrays) and each record says the size used
 * (bytes), the cache (llc_bytes) and what bounded it (sized_by).
 *
 * Every figure is measured at least once, however little time is left
 * (exo-bench(1), Time): sgemm's order and the GEMV matrix are scaled down
 * by a timed calibration call so that their calls fit the figure's share,
 * never below SGEMM_MIN_N and GEMV_FLOOR_BYTES (still a meaningful figure:
 * BLIS at order 256 runs its full blocking, 4 MiB of weights stream past
 * the private caches); past the run's end a figure takes one call at that
 * floor. */
#include "bench/internal.h"
#include "kernels/kern.h"

#include <blis.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SGEMM_N 1024     /* 2 GFLOP a call: tens of ms on a modern core */
#define SGEMM_MIN_N 256  /* 34 MFLOP: the calibration call, and the floor */
#define GEMV_COLS 4096
#define GEMV_MIN_BYTES (64u << 20)   /* faulted in before the clock may stop it */
#define GEMV_FLOOR_BYTES (4u << 20)  /* the smallest matrix time may shrink it to: 2-4x a core's L2 */
#define GEMV_TYPES (KD_COUNT - KD_MLX_COUNT)
/* Samples a figure's share should hold when the size is chosen. */
#define SAMPLES_WANTED 3

static double sgemm_once(const float *a, const float *b, float *cm, dim_t n, rntm_t *rntm)
{
	float one = 1.0f, zero = 0.0f;
	double t0 = bench_now();
	bli_sgemm_ex(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, n, n, n, &one, (float *)a, n, 1,
		     (float *)b, n, 1, &zero, cm, n, 1, NULL, rntm);
	return bench_now() - t0;
}

/* The largest order, a multiple of SGEMM_MIN_N up to SGEMM_N, whose call
 * is predicted (n^3 from a calibration call of SGEMM_MIN_N taking t0) to
 * fit SAMPLES_WANTED times in `seconds`. */
static dim_t sgemm_order(double t0, double seconds)
{
	dim_t n = SGEMM_MIN_N;
	for (dim_t m = SGEMM_N; m > SGEMM_MIN_N; m -= SGEMM_MIN_N) {
		double k = (double)m / SGEMM_MIN_N;
		if (t0 * k * k * k * SAMPLES_WANTED <= seconds) {
			n = m;
			break;
		}
	}
	return n;
}

/* The calibration call at SGEMM_MIN_N is the warm-up (BLIS sets up its
 * pools there); past the run's end it is followed by one sample of that
 * order. */
static int sgemm_figure(struct bench_ctx *c, const float *a, const float *b, float *cm, int nt)
{
	char what[64];
	snprintf(what, sizeof what, "sgemm, %d thread%s", nt, nt > 1 ? "s" : "");
	bench_progress(c, what);
	double until = bench_figure_end(c), rate[BENCH_MAX_SAMPLES], total = 0;
	rntm_t rntm = BLIS_RNTM_INITIALIZER;
	bli_rntm_set_num_threads(nt, &rntm);
	double warm = sgemm_once(a, b, cm, SGEMM_MIN_N, &rntm);
	dim_t order = sgemm_order(warm, until - bench_now());
	double flop = 2.0 * (double)order * (double)order * (double)order, last = 0;
	int n = 0;
	while (n < BENCH_MAX_SAMPLES && (n == 0 || bench_fits(until, last))) {
		last = sgemm_once(a, b, cm, order, &rntm);
		rate[n++] = flop / last;
		total += last;
	}
	struct bench_figure f = { .name = "sgemm_flop_per_s", .samples = rate, .n = n, .best = true,
				  .seconds = total, .threads = nt };
	return bench_emit_figure(c, &f, json_pack("{s:i}", "size", (int)order));
}

static void gemv_threaded(const struct kern_ops *k, int t, const void *w, size_t row_bytes,
			  const float *x, float *y, size_t rows, int nt)
{
#pragma omp parallel num_threads(nt)
	{
		int i = omp_get_thread_num(), n = omp_get_num_threads();
		size_t chunk = ((rows + (size_t)n - 1) / (size_t)n + 15) & ~(size_t)15;
		size_t r0 = (size_t)i * chunk, r1 = r0 + chunk > rows ? rows : r0 + chunk;
		if (r0 < r1)
			k->gemv[t]((const char *)w + r0 * row_bytes, x, y + r0, r1 - r0, GEMV_COLS);
	}
}

/* Rows of type t covering `bytes` of weights (so a matrix is never under
 * the floor), in whole groups of 16, within the `mapped` bytes there are. */
static size_t gemv_rows(int t, size_t bytes, size_t mapped)
{
	size_t rb = kern_row_bytes(t, GEMV_COLS), rows = ((bytes + rb - 1) / rb + 15) / 16 * 16;
	return rows * rb <= mapped ? rows : mapped / rb / 16 * 16;
}

/* `rows` of weights of type t at the start of buf: 16 rows quantised
 * from a pattern, copied over the rest (a real-looking matrix without
 * converting all of it).  Rows filled, 0 when out of memory. */
static size_t gemv_fill(int t, char *buf, size_t rows)
{
	size_t rb = kern_row_bytes(t, GEMV_COLS);
	float *f = malloc(16 * GEMV_COLS * sizeof *f);
	if (!f)
		return 0;
	for (size_t i = 0; i < 16 * GEMV_COLS; i++)
		f[i] = (float)((i * 2654435761u) % 2001) / 1000.0f - 1.0f;
	kern_ref.from_f32[t](f, buf, 16 * GEMV_COLS);
	free(f);
	/* threads only where they pay: on a busy machine each parallel region
	 * waits tens of ms for its threads, which a floor-sized matrix does not */
#pragma omp parallel for schedule(static) if (rows * rb > GEMV_MIN_BYTES)
	for (size_t r = 16; r < rows; r += 16)
		memcpy(buf + r * rb, buf, 16 * rb);
	return rows;
}

/* Past the run's end the matrix is the floor: one call of it per figure. */
static void gemv_floor_when_late(struct bench_ctx *c, struct bench_sizing *z)
{
	if (bench_now() >= c->end && z->bytes > GEMV_FLOOR_BYTES)
		z->bytes = GEMV_FLOOR_BYTES, z->sized_by = "time";
}

/* One type at nt threads, on the first z->bytes of the filled matrix.  The
 * warm-up call also times the kernel: when a warm-up and a sample of this
 * figure and of each after it would not fit what is left of the suite, the
 * matrix shrinks (for the rest of the run, never below GEMV_FLOOR_BYTES)
 * so that they do: kernels run at very different speeds (a sanitizer build
 * is many times slower), which one fill pass cannot tell. */
static int gemv_figure(struct bench_ctx *c, const struct kern_ops *k, int t, const void *w,
		       const float *x, float *y, int nt, struct bench_sizing *z)
{
	char name[64], lower[16], what[64];
	snprintf(lower, sizeof lower, "%s", kern_dtype_name(t));
	for (char *p = lower; *p; p++)
		*p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
	snprintf(name, sizeof name, "gemv_%s_bytes_per_s", lower);
	snprintf(what, sizeof what, "gemv %s, %d thread%s", lower, nt, nt > 1 ? "s" : "");
	bench_progress(c, what);
	bool late = bench_now() >= c->end;
	gemv_floor_when_late(c, z);
	size_t rb = kern_row_bytes(t, GEMV_COLS), rows = gemv_rows(t, z->bytes, z->mapped);
	double w0 = bench_now(), warm = 0;
	if (!late)   /* late, the fill or the figure before has just touched the matrix */
		gemv_threaded(k, t, w, rb, x, y, rows, nt);   /* warm-up: threads started */
	warm = late ? 0 : bench_now() - w0;
	double left = c->suite_end - bench_now();
	int figures = c->figures_left > 0 ? c->figures_left : 1;   /* this one and those after it */
	if (warm > 0 && 2 * warm * figures > left && z->bytes > GEMV_FLOOR_BYTES) {
		double scale = left > 0 ? left / (2 * warm * figures) : 0;
		size_t fit = (size_t)((double)z->bytes * scale);
		z->bytes = fit > GEMV_FLOOR_BYTES ? fit : GEMV_FLOOR_BYTES;
		z->sized_by = "time";
		rows = gemv_rows(t, z->bytes, z->mapped);
	}
	double until = bench_figure_end(c), rate[BENCH_MAX_SAMPLES], total = 0, last = 0;
	int64_t bytes = (int64_t)(rb * rows);
	int n = 0;
	while (n < BENCH_MAX_SAMPLES && (n == 0 || bench_fits(until, last))) {
		double t0 = bench_now();
		gemv_threaded(k, t, w, rb, x, y, rows, nt);
		last = bench_now() - t0;
		rate[n++] = (double)bytes / last;
		total += last;
	}
	struct bench_figure f = { .name = name, .samples = rate, .n = n, .best = true,
				  .seconds = total, .threads = nt, .bytes = bytes };
	return bench_emit_figure(c, &f, json_pack("{s:s,s:s,s:I,s:i,s:I,s:s}", "dtype", lower, "kernels",
						  k->name, "rows", (json_int_t)rows, "cols", GEMV_COLS,
						  "llc_bytes", (json_int_t)bench_llc(c), "sized_by",
						  z->sized_by));
}

/* The most rows any type has in `bytes`: the output vector's length. */
static size_t gemv_max_rows(const struct bench_sizing *z)
{
	size_t most = 0;
	for (int t = 0; t < KD_COUNT; t++)
		if (!KD_IS_MLX(t) && gemv_rows(t, z->bytes, z->mapped) > most)
			most = gemv_rows(t, z->bytes, z->mapped);
	return most;
}

/* The matrix: faulted in within an eighth of what is left of the suite,
 * then shrunk when the first type's fill (one write pass) says that every
 * type's fill, warm-up and one sample per thread count would not fit. */
static int gemv_all(struct bench_ctx *c, const int *counts, int n_counts)
{
	void *buf = NULL;
	struct bench_sizing z = {0};
	float *x = malloc(GEMV_COLS * sizeof *x), *y = NULL;
	int rc = 0;
	bench_progress(c, "gemv: faulting in the matrix");
	/* late, only the floor is faulted in: it is all a figure will use */
	size_t min = bench_now() >= c->end ? GEMV_FLOOR_BYTES : GEMV_MIN_BYTES;
	if (!x || bench_working_set(c, &buf, 1, 4 * bench_llc(c), min,
				    (c->suite_end - bench_now()) / 8, &z) < 0) {
		bench_warn(c, "compute: gemv skipped: cannot allocate %zu MiB", min >> 20);
		c->failed = 1;
		goto out;
	}
	char *w = buf;
	y = malloc((gemv_max_rows(&z) + 16) * sizeof *y);
	if (!y) {
		bench_warn(c, "compute: gemv skipped: out of memory");
		c->failed = 1;
		goto out;
	}
	for (size_t i = 0; i < GEMV_COLS; i++)
		x[i] = (float)(i % 17) / 17.0f - 0.5f;
	const struct kern_ops *k = kern_select();
	bool first = true;
	for (int t = 0; t < KD_COUNT && rc == 0; t++) {
		if (KD_IS_MLX(t)) /* measured by scripts/bench-vs-llamacpp, not per type here */
			continue;
		gemv_floor_when_late(c, &z);
		double t0 = bench_now();
		if (!gemv_fill(t, w, gemv_rows(t, z.bytes, z.mapped))) {
			bench_warn(c, "compute: gemv %s skipped: out of memory", kern_dtype_name(t));
			c->failed = 1;
			c->figures_left -= n_counts;
			continue;
		}
		if (first)
			bench_fit_passes(&z, bench_now() - t0, GEMV_TYPES * (1 + 2 * n_counts),
					 c->suite_end - bench_now(), GEMV_FLOOR_BYTES);
		first = false;
		for (int i = 0; i < n_counts && rc == 0; i++)
			rc = gemv_figure(c, k, t, w, x, y, counts[i], &z);
	}
out:
	if (buf)
		bench_working_set_free(&buf, 1, &z);
	free(x), free(y);
	return rc;
}

int bench_compute(struct bench_ctx *c)
{
	int counts[2] = { 1, c->threads }, n_counts = c->threads > 1 ? 2 : 1;
	size_t nn = (size_t)SGEMM_N * SGEMM_N;
	float *a = malloc(nn * sizeof *a), *b = malloc(nn * sizeof *b), *cm = malloc(nn * sizeof *cm);
	int rc = 0;
	c->figures_left = n_counts * (1 + GEMV_TYPES);
	if (!a || !b || !cm) {
		bench_warn(c, "compute: sgemm skipped: cannot allocate its matrices");
		c->failed = 1;
		c->figures_left -= n_counts;
	} else {
		for (size_t i = 0; i < nn; i++)
			a[i] = (float)(i % 13) * 0.01f, b[i] = (float)(i % 7) * 0.02f;
		for (int i = 0; i < n_counts && rc == 0; i++)
			rc = sgemm_figure(c, a, b, cm, counts[i]);
	}
	free(a), free(b), free(cm);
	return rc < 0 ? rc : gemv_all(c, counts, n_counts);
}
