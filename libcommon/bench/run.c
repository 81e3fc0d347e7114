/* The run: which suites apply, the share of the duration each gets, and the
 * figures attached to a node record by --merge. */
#include "bench/internal.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *const suite_names[BENCH_SUITES] = {
	[BENCH_MEMORY] = "memory", [BENCH_COMPUTE] = "compute", [BENCH_STORAGE] = "storage",
	[BENCH_INFERENCE] = "inference", [BENCH_NETWORK] = "network", [BENCH_GPU] = "gpu",
};

static int (*const suite_fns[BENCH_SUITES])(struct bench_ctx *) = {
	[BENCH_MEMORY] = bench_memory, [BENCH_COMPUTE] = bench_compute,
	[BENCH_STORAGE] = bench_storage, [BENCH_INFERENCE] = bench_inference,
	[BENCH_NETWORK] = bench_network, [BENCH_GPU] = bench_gpu,
};

const char *bench_suite_name(enum bench_suite s)
{
	return s < BENCH_SUITES ? suite_names[s] : "?";
}

int bench_suite_parse(const char *list, unsigned *mask, struct exo_err *e)
{
	char buf[256];
	if (snprintf(buf, sizeof buf, "%s", list) >= (int)sizeof buf)
		return exo_error(e, EXO_USAGE, "--suite: list too long");
	*mask = 0;
	for (char *save, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		int found = strcmp(t, "all") == 0;
		if (found)
			*mask |= BENCH_ALL;
		for (int s = 0; s < BENCH_SUITES && !found; s++)
			if (strcmp(t, suite_names[s]) == 0)
				*mask |= 1u << s, found = 1;
		if (!found)
			return exo_error(e, EXO_USAGE, "--suite: unknown suite '%s' (expected memory, "
					 "compute, storage, inference, network, gpu or all)", t);
	}
	if (!*mask)
		return exo_error(e, EXO_USAGE, "--suite: empty list");
	return 0;
}

/* Suites to run: those asked for, or all that apply here.  A suite asked
 * for that cannot run is a warning (and, but for gpu, a failure). */
static unsigned chosen_suites(struct bench_ctx *c)
{
	const struct bench_opts *o = c->o;
	unsigned asked = o->suites ? o->suites : BENCH_ALL, run = 0;
	for (int s = 0; s < BENCH_SUITES; s++) {
		if (!(asked & (1u << s)))
			continue;
		const char *why = NULL;
		if (s == BENCH_INFERENCE && !o->model)
			why = "needs --model DIR";
		else if (s == BENCH_NETWORK && !o->nodes)
			why = "needs --nodes HOST:PORT,...";
		else if (s == BENCH_STORAGE && !bench_storage_applies(o))
			why = "no file to read in the model cache; give --file FILE";
		else if (s == BENCH_GPU && !bench_gpu_present())
			why = "no CUDA device on this machine";
		if (!why) {
			run |= 1u << s;
		} else if (o->suites & (1u << s)) {
			bench_warn(c, "%s: skipped: %s", suite_names[s], why);
			c->failed |= s != BENCH_GPU;
		}
	}
	return run;
}

static int count_bits(unsigned m)
{
	int n = 0;
	for (; m; m &= m - 1)
		n++;
	return n;
}

int bench_run(const struct bench_opts *o, struct exo_err *e)
{
	struct bench_ctx c = { .o = o, .e = e };
	long online = sysconf(_SC_NPROCESSORS_ONLN);
	c.threads = o->threads > 0 ? o->threads : online > 0 ? (int)online : 1;
	c.start = bench_now();
	c.end = c.start + o->duration;
	/* network first: unreachable nodes are reported at once and cost nothing */
	static const enum bench_suite order[BENCH_SUITES] = {
		BENCH_NETWORK, BENCH_MEMORY, BENCH_COMPUTE, BENCH_STORAGE, BENCH_INFERENCE, BENCH_GPU,
	};
	unsigned run = chosen_suites(&c);
	int left = count_bits(run);
	for (int i = 0; i < BENCH_SUITES; i++) {
		enum bench_suite s = order[i];
		if (!(run & (1u << s)))
			continue;
		double now = bench_now();
		c.suite = suite_names[s];
		c.out_of_time = false;
		c.suite_end = now + (c.end > now ? (c.end - now) / left : 0);
		left--;
		bench_progress(&c, "starting");
		if (suite_fns[s](&c) < 0)
			return -1;
	}
	return c.failed ? 1 : 0;
}

/* The key a figure has in node.bench: its name, with the thread count of
 * figures measured at several. */
static void figure_key(const json_t *r, char *key, size_t n)
{
	const char *name = json_string_value(json_object_get(r, "name"));
	const json_t *t = json_object_get(r, "threads");
	const char *suite = json_string_value(json_object_get(r, "suite"));
	int threaded = suite && (!strcmp(suite, "memory") || !strcmp(suite, "compute"));
	if (t && threaded)
		snprintf(key, n, "%s_t%lld", name, (long long)json_integer_value(t));
	else
		snprintf(key, n, "%s", name);
}

void bench_merge_node(json_t *node, const json_t *recs)
{
	json_t *figs = json_object(), *r;
	size_t i;
	double best_read = 0, best_gemm = 0;
	json_array_foreach(recs, i, r) {
		const char *name = json_string_value(json_object_get(r, "name"));
		const json_t *v = json_object_get(r, "value");
		if (!name || !v)
			continue;
		char key[160];
		figure_key(r, key, sizeof key);
		json_object_set(figs, key, (json_t *)v);
		/* the rates a planner wants: the best over the thread counts */
		double x = json_number_value(v);
		if (!strcmp(name, "read_bytes_per_s") && x > best_read)
			best_read = x;
		if (!strcmp(name, "sgemm_flop_per_s") && x > best_gemm)
			best_gemm = x;
	}
	if (best_read > 0)
		json_object_set_new(node, "mem_bandwidth", json_real(best_read));
	if (best_gemm > 0)
		json_object_set_new(node, "flops", json_real(best_gemm));
	json_object_set_new(node, "bench", figs);
}
