/* Benchmarks: measured figures for this machine, a model and running stages,
 * as `bench` records (records/record.h, man/exo-wire.5, exo-bench(1)).
 *
 * Suites: memory (STREAM kernels and a read-only pass), compute (BLIS sgemm
 * and the engine's GEMV kernels), storage (sequential reads of a large file,
 * from disk and from the page cache), inference (llama-bench's ppN / tgN
 * through the engine), network (round trips to running stages) and gpu.
 *
 * Time: bench_run() shares opts->duration out among the suites it runs and
 * each suite among its figures (what one overruns is shared again among
 * those after it).  Every memory, compute and storage figure is measured
 * at least once: a timed calibration sizes its working set (4x the
 * last-level cache, STREAM's rule, where the time allows) so that its
 * samples fit its share, never below a floor that still measures what it
 * names, and a figure that starts after the end takes one sample at that
 * floor.  A figure repeats while the next sample is predicted to fit.
 * Inference and network figures cannot shrink: they are skipped when the
 * time is up.  So the run ends after the duration by at most what is in
 * progress and one floor sample of each machine figure left (exo-bench(1),
 * Time); each record says the size it used, and every figure is repeated
 * where it fits and carries min / median / max.
 * Names carry the unit: "triad_bytes_per_s", "sgemm_flop_per_s",
 * "pp512_tokens_per_s", "rtt_seconds".
 *
 * The library never prints: records go to opts->emit, warnings (a suite
 * skipped, a node that does not answer) to opts->warn, progress to
 * opts->progress. */
#ifndef EXO_BENCH_BENCH_H
#define EXO_BENCH_BENCH_H
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include "util/err.h"

enum bench_suite {
	BENCH_MEMORY, BENCH_COMPUTE, BENCH_STORAGE, BENCH_INFERENCE, BENCH_NETWORK, BENCH_GPU,
	BENCH_SUITES
};
#define BENCH_ALL ((1u << BENCH_SUITES) - 1)

const char *bench_suite_name(enum bench_suite s);   /* "memory", ... */
/* "memory,compute" or "all" into a mask; -1 naming the unknown suite. */
int bench_suite_parse(const char *list, unsigned *mask, struct exo_err *e);

#define BENCH_MAX_LIST 16

struct bench_opts {
	double duration;            /* seconds for every suite together (> 0) */
	unsigned suites;            /* mask of enum bench_suite; 0: all that apply */
	int threads;                /* the "all threads" figures; 0: online CPUs */
	size_t llc_bytes;           /* last-level cache to size arrays by; 0: from sysfs */
	const char *node;           /* node name written in the records */
	/* storage */
	const char *file;           /* file to read; NULL: the largest in cache_dir */
	const char *cache_dir;      /* the model cache */
	/* inference */
	const char *model;          /* model directory; NULL: no inference suite */
	const char *connect;        /* address of a running pipeline's first stage, or NULL:
				     * the model runs here (model still gives its config) */
	int dtype;                  /* enum kern_dtype, -1: as stored */
	int prompt[BENCH_MAX_LIST], n_prompt;   /* ppN lengths; none: 512 */
	int gen[BENCH_MAX_LIST], n_gen;         /* tgN lengths; none: 128 */
	int batch[BENCH_MAX_LIST], n_batch;     /* tokens per eng_forward in ppN; none: N */
	/* network */
	const char *nodes;          /* "HOST:PORT,..." of running stages; NULL: none */
	const char *key;            /* cluster key file for the links, or NULL */
	/* output */
	int (*emit)(void *arg, json_t *rec, struct exo_err *e);  /* takes the record */
	void (*warn)(void *arg, const char *msg);
	void (*progress)(void *arg, double done, const char *what);  /* done in [0,1] */
	void *arg;
};

/* Run the chosen suites.  Returns 0 when every figure asked for was
 * measured, 1 when some were not (each reported through warn: a node that
 * cannot be reached, a suite that does not apply here), -1 with e filled
 * when the run could not go on (emit failed, no memory). */
int bench_run(const struct bench_opts *o, struct exo_err *e);

/* Attach a run's figures to a node record: mem_bandwidth (the best
 * read-only rate), flops (the best sgemm rate), both over the thread counts
 * measured, and "bench", a map of
 * every figure's name (with "_tN" for its thread count where it has one) to
 * its value.  recs is an array of bench records. */
void bench_merge_node(json_t *node, const json_t *recs);
#endif
