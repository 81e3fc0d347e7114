/* Shared by the suites: the run's clock and budget, repetition and
 * statistics, and the making of records. */
#ifndef EXO_BENCH_INTERNAL_H
#define EXO_BENCH_INTERNAL_H
#include "bench/bench.h"

#include <stdbool.h>

#define BENCH_MAX_SAMPLES 1000

struct bench_ctx {
	const struct bench_opts *o;
	int threads;          /* the "all threads" count, resolved */
	double start, end;    /* the whole run: monotonic seconds */
	double suite_end;     /* the running suite's share */
	int figures_left;     /* of the running suite, for bench_figure_end */
	double done_before;   /* progress: fraction of the run before this suite */
	const char *suite;
	int failed;           /* something asked for was not measured */
	bool out_of_time;     /* the running suite has said so */
	struct exo_err *e;
};

double bench_now(void);
/* When the next figure of the suite should stop: an equal share of what is
 * left of the suite (counts the figure as started). */
double bench_figure_end(struct bench_ctx *c);
/* True when the run's time is up before a figure starts: the figure is
 * skipped (the first skip of a suite is reported). */
bool bench_out_of_time(struct bench_ctx *c, const char *what);
/* Predicts whether one more sample of `last` seconds fits before `until`. */
bool bench_fits(double until, double last);
/* Report progress on the running suite (what: e.g. "triad, 2 threads"). */
void bench_progress(struct bench_ctx *c, const char *what);
void bench_warn(struct bench_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

struct bench_stats {
	double min, median, max;
	int n;
};
void bench_stats_of(const double *v, int n, struct bench_stats *s);

/* A figure: rates[n] samples of one measurement in the unit of name; value
 * is the best (highest) for the machine suites, the median otherwise.
 * seconds: time measured in all; bytes: moved per sample (0: none). */
struct bench_figure {
	const char *name;
	const double *samples;
	int n;
	bool best;            /* value = max, as STREAM reports; else the median */
	bool lower_better;    /* samples are times: best = min */
	double seconds;
	int threads;          /* 0: not written */
	int64_t bytes;        /* 0: not written */
};
/* Emit the figure as a record; extra (may be NULL) is merged into it. */
int bench_emit_figure(struct bench_ctx *c, const struct bench_figure *f, json_t *extra);

/* The suites.  Each measures what applies, reporting skips through
 * bench_warn, and returns -1 only when the run cannot go on. */
int bench_memory(struct bench_ctx *c);
int bench_compute(struct bench_ctx *c);
int bench_storage(struct bench_ctx *c);
int bench_inference(struct bench_ctx *c);
int bench_network(struct bench_ctx *c);
int bench_gpu(struct bench_ctx *c);
/* Whether a suite applies without being asked for. */
bool bench_storage_applies(const struct bench_opts *o);
bool bench_gpu_present(void);

/* Sum of the last-level caches of the machine in bytes (sysfs), 0 if unknown. */
size_t bench_llc_bytes(void);
/* The last-level cache the run sizes its arrays by: opts->llc_bytes, else
 * bench_llc_bytes(). */
size_t bench_llc(const struct bench_ctx *c);

/* Working sets sized by the time a run has, not only by the cache: count
 * buffers of want bytes each (the 4x-LLC rule), at least min, are
 * allocated and faulted in together, a chunk at a time, until want is
 * reached or `seconds` have passed; on a machine with a large cache and
 * slow page faults, a short run then still measures every figure.  Each
 * buffer's usable size is set in *bytes (a multiple of 4 KiB, >= min) and
 * sized_by says what bounded it: "4x_llc", "minimum" (the floor was above
 * 4x the LLC), "time" or "memory" (the machine has less free).  Returns 0,
 * or -1 when even min cannot be allocated (bufs all NULL). */
struct bench_sizing {
	size_t bytes;
	const char *sized_by;
	size_t mapped;        /* each buffer's mapping, for bench_working_set_free */
};
int bench_working_set(struct bench_ctx *c, void **bufs, int count, size_t want, size_t min,
		      double seconds, struct bench_sizing *out);
void bench_working_set_free(void **bufs, int count, const struct bench_sizing *z);
/* Shrink a working set of *bytes whose one pass took pass_seconds so that
 * passes more of them fit in `seconds` (never below min); sized_by becomes
 * "time" when it shrank. */
void bench_fit_passes(struct bench_sizing *s, double pass_seconds, int passes, double seconds,
		      size_t min);
#endif
