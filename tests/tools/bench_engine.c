/* bench_engine: decode and prefill speed of the engine next to the machine's
 * memory limit, and the resident memory of a stage.
 *
 * Table mode opens the whole model once per (dtype, threads) and measures,
 * after one warm-up, ppN (a prompt of N random tokens in one eng_forward) and
 * tgN (N tokens fed one at a time after a 16-token prompt), each the median
 * of -r runs, llama-bench's names.  In the same run it measures the memory
 * read bandwidth at each thread count (an OpenMP read-only pass summing a
 * buffer of at least 4x the last-level cache, best of several, the first
 * discarded, as STREAM does).  A decoded token reads every weight of the
 * stage once (with tied embeddings the head reads the embedding matrix and
 * the lookup one row, so eng_weight_bytes, which counts it once, is right;
 * an untied embedding is read one row per token) plus the KV cache at its
 * mean context; the limit is bandwidth / those bytes.
 *
 * RSS mode (--rss) opens one stage, a quarter of the layers by default, feeds
 * a few positions and prints VmRSS, RssFile and RssAnon from /proc/self/status
 * next to eng_weight_bytes + eng_kv_bytes and the size of the checkpoint: a
 * stage should touch only its share of the mapped model.
 *
 * --cpu-clock times everything (the read pass too) in the process's CPU
 * time divided by the threads, not in wall time: on a machine that other
 * work loads, the rate of the time this process ran (threads that spin at
 * a barrier count, so at 2 threads it errs low).
 *
 *   bench_engine [-d DTYPES] [-t THREADS] [-r REPS] [-n TG] [-p PP,...] [-c CTX]
 *                [-B MIB] [-o md|jsonl] [--cpu-clock] MODEL
 *   bench_engine --rss [--layers A:B] [-d DTYPE] [-t THREADS] [-n N] [-c CTX] MODEL */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <immintrin.h>
#include <jansson.h>
#include <omp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "engine/engine.h"
#include "kernels/kern.h"
#include "model/config.h"
#include "util/err.h"

#define MAX_LIST 16
#define TG_PROMPT 16   /* tokens fed before a tg run */
#define BW_RUNS 6      /* bandwidth passes; the first is discarded */

struct opts {
	const char *model;
	int dtypes[MAX_LIST], n_dtypes;    /* -1: as stored */
	int threads[MAX_LIST], n_threads;
	int pp[MAX_LIST], n_pp;
	int tg, reps, ctx;
	size_t bw_bytes;
	bool jsonl, rss;
	int first, last;                   /* --layers; -1: default */
};

static clockid_t bench_clock = CLOCK_MONOTONIC;
static int clock_threads = 1;   /* --cpu-clock: CPU time / the threads of the run timed */

static double now(void)
{
	struct timespec ts;
	clock_gettime(bench_clock, &ts);
	return ((double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec) / clock_threads;
}

static const char *dtype_name(int d) { return d < 0 ? "stored" : kern_dtype_name((enum kern_dtype)d); }

/* --- memory read bandwidth --- */

__attribute__((target("avx2"))) static float sum_avx2(const float *p, size_t n)
{
	__m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
	size_t i = 0;
	for (; i + 32 <= n; i += 32) {
		a0 = _mm256_add_ps(a0, _mm256_load_ps(p + i));
		a1 = _mm256_add_ps(a1, _mm256_load_ps(p + i + 8));
		a2 = _mm256_add_ps(a2, _mm256_load_ps(p + i + 16));
		a3 = _mm256_add_ps(a3, _mm256_load_ps(p + i + 24));
	}
	__m256 a = _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3));
	float lanes[8], s = 0;
	_mm256_storeu_ps(lanes, a);
	for (int j = 0; j < 8; j++)
		s += lanes[j];
	for (; i < n; i++)
		s += p[i];
	return s;
}

static float sum_plain(const float *p, size_t n)
{
	float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
	size_t i = 0;
	for (; i + 4 <= n; i += 4)
		s0 += p[i], s1 += p[i + 1], s2 += p[i + 2], s3 += p[i + 3];
	for (; i < n; i++)
		s0 += p[i];
	return s0 + s1 + s2 + s3;
}

/* Best read rate in bytes/s over `bytes` at `threads` threads. */
static double read_bandwidth(size_t bytes, int threads)
{
	/* On huge pages where the kernel gives them, as the engine keeps its
	 * weights: the limit is the memory's, not the TLB's. */
	size_t huge = (size_t)2 << 20, len = (bytes + huge - 1) & ~(huge - 1);
	size_t n = len / sizeof(float);
	float *buf = aligned_alloc(huge, len);
	if (!buf)
		exo_errx(EXO_SOFTWARE, "out of memory for a %zu-byte bandwidth buffer", bytes);
	madvise(buf, len, MADV_HUGEPAGE);
	bool avx2 = __builtin_cpu_supports("avx2");
	clock_threads = bench_clock == CLOCK_MONOTONIC ? 1 : threads;
#pragma omp parallel for num_threads(threads) schedule(static)
	for (size_t i = 0; i < n; i++)
		buf[i] = 1.0f;
	double best = 1e30;
	volatile float sink = 0;
	for (int run = 0; run < BW_RUNS; run++) {
		float total = 0;
		double t0 = now();
#pragma omp parallel num_threads(threads) reduction(+ : total)
		{
			size_t nt = (size_t)omp_get_num_threads(), t = (size_t)omp_get_thread_num();
			size_t chunk = (n / nt + 63) / 64 * 64, b = t * chunk;
			size_t e = b + chunk > n ? n : b + chunk;
			if (b < e)
				total += avx2 ? sum_avx2(buf + b, e - b) : sum_plain(buf + b, e - b);
		}
		double dt = now() - t0;
		sink += total;
		if (run > 0 && dt < best)
			best = dt;
	}
	(void)sink;
	free(buf);
	return (double)(n * sizeof(float)) / best;
}

static size_t default_bw_bytes(void)
{
	long llc = sysconf(_SC_LEVEL3_CACHE_SIZE);
	size_t b = (size_t)1 << 30;
	if (llc > 0 && (size_t)llc * 4 > b)
		b = (size_t)llc * 4;
	return b;
}

/* --- engine runs --- */

static double median(double *v, int n)
{
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && v[j - 1] > v[j]; j--) {
			double t = v[j];
			v[j] = v[j - 1], v[j - 1] = t;
		}
	return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void random_tokens(int32_t *t, size_t n, int vocab, uint64_t *state)
{
	for (size_t i = 0; i < n; i++) {
		*state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
		t[i] = (int32_t)((*state >> 33) % (uint64_t)vocab);
	}
}

static void forward(struct eng_stage *s, struct eng_kv *kv, const int32_t *tok, size_t n, float *out)
{
	struct exo_err e = {0};
	if (eng_forward(s, kv, tok, NULL, n, ENG_OUT_LAST_LOGITS, out, &e) < 0)
		exo_die(&e);
}

/* Seconds to prefill n tokens into an empty cache. */
static double time_pp(struct eng_stage *s, struct eng_kv *kv, const int32_t *tok, size_t n, float *out)
{
	eng_kv_truncate(kv, 0);
	double t0 = now();
	forward(s, kv, tok, n, out);
	return now() - t0;
}

/* Seconds to decode n tokens one at a time after a TG_PROMPT-token prompt. */
static double time_tg(struct eng_stage *s, struct eng_kv *kv, const int32_t *tok, size_t n, float *out)
{
	eng_kv_truncate(kv, 0);
	forward(s, kv, tok, TG_PROMPT, out);
	double t0 = now();
	for (size_t i = 0; i < n; i++)
		forward(s, kv, tok + TG_PROMPT + i, 1, out);
	return now() - t0;
}

/* Bytes a decoded token reads: the weights as the stage holds them (a
 * GGUF file's tensors in their own types, each matrix as kept), less an
 * untied embedding but one row and the experts the router does not pick
 * (eng_token_weight_bytes), plus K and V at the mean context of the tg run. */
static size_t bytes_per_token(const struct eng_stage *s, int tg)
{
	return eng_token_weight_bytes(s) + eng_kv_bytes(s, TG_PROMPT + (tg + 1) / 2);
}

struct result {
	int dtype, threads;
	double pp_ts[MAX_LIST], tg_ts, bw, limit;
	size_t weights, bytes;
	json_t *samples;    /* {"pp64": [t/s...], "tg32": [...]} */
};

static struct eng_stage *open_stage(const struct opts *o, int dtype, int threads, int first, int last)
{
	struct eng_opts eo = {.dtype = dtype, .threads = threads, .ctx = o->ctx};
	struct exo_err e = {0};
	struct eng_stage *s = eng_stage_open(o->model, first, last, &eo, &e);
	if (!s)
		exo_die(&e);
	return s;
}

/* A one-line status on stderr, only on a terminal; NULL clears it. */
static void progress(const char *what, int dtype, int threads)
{
	if (!isatty(STDERR_FILENO))
		return;
	if (what)
		fprintf(stderr, "\rbench_engine: %s %s, %d threads...    ", what, dtype_name(dtype), threads);
	else
		fprintf(stderr, "\r%60s\r", "");
}

static void bench_one(const struct opts *o, int dtype, int threads, double bw, struct result *r)
{
	progress("loading", dtype, threads);
	struct eng_stage *s = open_stage(o, dtype, threads, 0, -1);
	const struct model_config *c = eng_config(s);
	struct exo_err e = {0};
	struct eng_kv *kv = eng_kv_new(s, &e);
	if (!kv)
		exo_die(&e);
	size_t ntok = (size_t)TG_PROMPT + (size_t)o->tg;
	for (int i = 0; i < o->n_pp; i++)
		if ((size_t)o->pp[i] > ntok)
			ntok = (size_t)o->pp[i];
	int32_t *tok = xmalloc(ntok * sizeof *tok);
	float *out = xmalloc((size_t)c->vocab * sizeof *out);
	uint64_t seed = 1;
	random_tokens(tok, ntok, c->vocab, &seed);
	double *t = xmalloc((size_t)o->reps * sizeof *t);
	char label[32];

	r->dtype = dtype, r->threads = threads, r->bw = bw;
	clock_threads = bench_clock == CLOCK_MONOTONIC ? 1 : threads;
	r->samples = json_object();
	progress("running", dtype, threads);
	time_tg(s, kv, tok, 1, out);
	for (int i = 0; i < o->n_pp; i++) {
		json_t *a = json_array();
		for (int k = 0; k < o->reps; k++) {
			t[k] = o->pp[i] / time_pp(s, kv, tok, (size_t)o->pp[i], out);
			json_array_append_new(a, json_real(t[k]));
		}
		snprintf(label, sizeof label, "pp%d", o->pp[i]);
		json_object_set_new(r->samples, label, a);
		r->pp_ts[i] = median(t, o->reps);
	}
	json_t *a = json_array();
	for (int k = 0; k < o->reps; k++) {
		t[k] = o->tg / time_tg(s, kv, tok, (size_t)o->tg, out);
		json_array_append_new(a, json_real(t[k]));
	}
	snprintf(label, sizeof label, "tg%d", o->tg);
	json_object_set_new(r->samples, label, a);
	r->tg_ts = median(t, o->reps);
	r->dtype = dtype < 0 ? -1 : dtype;
	r->weights = eng_weight_bytes(s);
	r->bytes = bytes_per_token(s, o->tg);
	r->limit = bw / (double)r->bytes;
	progress(NULL, 0, 0);
	free(t), free(out), free(tok);
	eng_kv_free(kv);
	eng_stage_close(s);
}

static const char *stored_name(const struct model_config *c)
{
	if (!c->torch_dtype[0])   /* a GGUF file: each matrix as stored */
		return "stored";
	return strcmp(c->torch_dtype, "float32") == 0 ? "F32" : strcmp(c->torch_dtype, "float16") == 0 ? "F16" : "BF16";
}

static void print_header(const struct opts *o, const struct model_config *c, const double *bw)
{
	printf("model: %s (%d layers, hidden %d, ffn %d, heads %d/%d, vocab %d, %s embeddings, %s)\n",
	       o->model, c->n_layers, c->hidden, c->ffn, c->n_heads, c->n_kv_heads, c->vocab,
	       c->tied_embeddings ? "tied" : "untied", c->torch_dtype);
	printf("kernels: %s\n", kern_select()->name);
	printf("read bandwidth (%zu MiB, best of %d):", o->bw_bytes >> 20, BW_RUNS - 1);
	for (int i = 0; i < o->n_threads; i++)
		printf(" %d thread%s %.1f GB/s%s", o->threads[i], o->threads[i] > 1 ? "s" : "", bw[i] / 1e9,
		       i + 1 < o->n_threads ? "," : "\n");
	printf("medians of %d runs; tg%d after a %d-token prompt; limit = bandwidth / bytes per token%s\n\n",
	       o->reps, o->tg, TG_PROMPT,
	       bench_clock == CLOCK_MONOTONIC ? "" : "; CPU time / threads, not wall time");
	printf("| dtype | threads | MiB/token |");
	for (int i = 0; i < o->n_pp; i++)
		printf(" pp%d t/s |", o->pp[i]);
	printf(" tg%d t/s | limit t/s | tg/limit |\n|---|--:|--:|", o->tg);
	for (int i = 0; i < o->n_pp; i++)
		printf("--:|");
	printf("--:|--:|--:|\n");
	fflush(stdout);
}

static void print_row(const struct opts *o, const struct model_config *c, const struct result *r)
{
	const char *dn = r->dtype < 0 ? stored_name(c) : kern_dtype_name((enum kern_dtype)r->dtype);
	if (o->jsonl) {
		json_t *j = json_pack("{s:s,s:s,s:s,s:s,s:i,s:I,s:I,s:f,s:i,s:f,s:f,s:f,s:O}", "model", o->model,
				      "clock", bench_clock == CLOCK_MONOTONIC ? "wall" : "cpu",
				      "kernels", kern_select()->name, "dtype", dn, "n_threads", r->threads,
				      "weight_bytes", (json_int_t)r->weights, "bytes_per_token",
				      (json_int_t)r->bytes, "read_bandwidth_bps", r->bw, "n_gen", o->tg,
				      "tg_ts", r->tg_ts, "limit_ts", r->limit, "tg_limit_ratio",
				      r->tg_ts / r->limit, "samples_ts", r->samples);
		for (int i = 0; i < o->n_pp; i++) {
			char k[32];
			snprintf(k, sizeof k, "pp%d_ts", o->pp[i]);
			json_object_set_new(j, k, json_real(r->pp_ts[i]));
		}
		json_dumpf(j, stdout, JSON_COMPACT | JSON_SORT_KEYS);
		putchar('\n');
		json_decref(j);
	} else {
		printf("| %s | %d | %.1f |", dn, r->threads, (double)r->bytes / 1048576.0);
		for (int i = 0; i < o->n_pp; i++)
			printf(" %.2f |", r->pp_ts[i]);
		printf(" %.2f | %.2f | %.2f |\n", r->tg_ts, r->limit, r->tg_ts / r->limit);
	}
	fflush(stdout);
}

static void load_config(const char *model, struct model_config *c)
{
	struct exo_err e = {0};
	if (model_config_load(c, model, &e) < 0)
		exo_die(&e);
}

static void run_table(const struct opts *o)
{
	struct model_config c;
	load_config(o->model, &c);
	double bw[MAX_LIST];
	for (int i = 0; i < o->n_threads; i++)
		bw[i] = read_bandwidth(o->bw_bytes, o->threads[i]);
	if (!o->jsonl)
		print_header(o, &c, bw);
	for (int d = 0; d < o->n_dtypes; d++)
		for (int i = 0; i < o->n_threads; i++) {
			struct result r = {0};
			bench_one(o, o->dtypes[d], o->threads[i], bw[i], &r);
			print_row(o, &c, &r);
			json_decref(r.samples);
		}
}

/* --- RSS --- */

struct rss { double vm, anon, file; };   /* MiB */

static struct rss read_rss(void)
{
	struct rss r = {0};
	FILE *f = fopen("/proc/self/status", "r");
	if (!f)
		exo_errx(EXO_IOERR, "can't open /proc/self/status: %s", strerror(errno));
	char line[256];
	long kb;
	while (fgets(line, sizeof line, f)) {
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			r.vm = kb / 1024.0;
		else if (sscanf(line, "RssAnon: %ld kB", &kb) == 1)
			r.anon = kb / 1024.0;
		else if (sscanf(line, "RssFile: %ld kB", &kb) == 1)
			r.file = kb / 1024.0;
	}
	fclose(f);
	return r;
}

/* Total size of the *.safetensors files of a checkpoint directory. */
static size_t checkpoint_bytes(const char *dir)
{
	DIR *d = opendir(dir);
	size_t total = 0;
	struct dirent *ent;
	char path[4096];
	struct stat st;
	while (d && (ent = readdir(d))) {
		size_t l = strlen(ent->d_name);
		if (l > 12 && strcmp(ent->d_name + l - 12, ".safetensors") == 0) {
			snprintf(path, sizeof path, "%s/%s", dir, ent->d_name);
			if (stat(path, &st) == 0)
				total += (size_t)st.st_size;
		}
	}
	if (d)
		closedir(d);
	return total;
}

static void run_rss(const struct opts *o, int n_feed)
{
	struct model_config c;
	load_config(o->model, &c);
	int first = o->first, last = o->last;
	if (first < 0) {
		first = c.n_layers / 4;
		last = first + (c.n_layers / 4 > 0 ? c.n_layers / 4 : 1);
	}
	struct rss before = read_rss();
	int dtype = o->dtypes[0];
	struct eng_stage *s = open_stage(o, dtype, o->threads[0], first, last);
	struct exo_err e = {0};
	struct eng_kv *kv = eng_kv_new(s, &e);
	if (!kv)
		exo_die(&e);
	size_t H = (size_t)c.hidden, n = (size_t)n_feed;
	float *out = xmalloc(size_mul(n, H > (size_t)c.vocab ? H : (size_t)c.vocab) * sizeof *out);
	int32_t *tok = xmalloc(n * sizeof *tok);
	float *hid = xmalloc(size_mul(n, H) * sizeof *hid);
	uint64_t seed = 7;
	random_tokens(tok, n, c.vocab, &seed);
	for (size_t i = 0; i < n * H; i++)
		hid[i] = (float)((int)(i * 2654435761u % 2001) - 1000) / 1000.0f;
	for (size_t i = 0; i < n; i++)   /* one position at a time, as decoding does */
		if (eng_forward(s, kv, first == 0 ? tok + i : NULL, first == 0 ? NULL : hid + i * H, 1,
				eng_has_head(s) ? ENG_OUT_LAST_LOGITS : ENG_OUT_HIDDEN, out, &e) < 0)
			exo_die(&e);
	struct rss after = read_rss();
	double mib = 1048576.0, w = (double)eng_weight_bytes(s) / mib;
	double kvb = (double)eng_kv_bytes(s, eng_context(s)) / mib;
	double file = (double)checkpoint_bytes(o->model) / mib;
	const char *dn = dtype < 0 ? stored_name(&c) : kern_dtype_name((enum kern_dtype)dtype);
	if (o->jsonl) {
		json_t *j = json_pack("{s:s,s:s,s:i,s:i,s:i,s:i,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:i,s:f}",
				      "model", o->model, "dtype", dn, "first", first, "last", last,
				      "n_layers", c.n_layers, "positions_fed", n_feed, "vm_rss_mib", after.vm,
				      "rss_file_mib", after.file, "rss_anon_mib", after.anon,
				      "vm_rss_before_open_mib", before.vm, "weight_mib", w, "kv_mib", kvb,
				      "checkpoint_mib", file, "context", eng_context(s), "stage_share",
				      file > 0 ? w / file : 0);
		json_dumpf(j, stdout, JSON_COMPACT | JSON_SORT_KEYS);
		putchar('\n');
		json_decref(j);
	} else {
		printf("rss: layers %d:%d of %d, %s, %d positions fed: VmRSS %.1f MiB (RssFile %.1f, "
		       "RssAnon %.1f; %.1f before open)\n", first, last, c.n_layers, dn, n_feed, after.vm,
		       after.file, after.anon, before.vm);
		printf("rss: eng_weight_bytes %.1f MiB + eng_kv_bytes %.1f MiB (context %d) = %.1f MiB; "
		       "checkpoint %.1f MiB, stage weights %.1f%% of it, VmRSS %.1f%% of it\n", w, kvb,
		       eng_context(s), w + kvb, file, file > 0 ? 100 * w / file : 0,
		       file > 0 ? 100 * after.vm / file : 0);
	}
	free(out), free(tok), free(hid);
	eng_kv_free(kv);
	eng_stage_close(s);
}

/* --- command line --- */

static const char usage_text[] =
	"usage: bench_engine [-d DTYPES] [-t THREADS] [-r REPS] [-n TG] [-p PP,...] [-c CTX]\n"
	"                    [-B MIB] [-o md|jsonl] [--cpu-clock] MODEL\n"
	"       bench_engine --rss [--layers A:B] [-d DTYPE] [-t THREADS] [-n N] [-c CTX] [-o md|jsonl] MODEL\n";

static int int_arg(const char *opt, const char *s, int min)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *end || end == s || v < min || v > 1 << 30)
		exo_errx(EXO_USAGE, "-%s %s: not an integer >= %d", opt, s, min);
	return (int)v;
}

/* A comma list of integers (or of dtypes when dt). */
static int list_arg(const char *opt, const char *s, int *v, bool dt)
{
	char *copy = xstrdup(s), *save = NULL;
	int n = 0;
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (n == MAX_LIST)
			exo_errx(EXO_USAGE, "-%s: more than %d values", opt, MAX_LIST);
		if (!dt)
			v[n] = int_arg(opt, t, 1);
		else if (strcmp(t, "stored") == 0)
			v[n] = -1;
		else if ((v[n] = kern_dtype_parse(t)) < 0)
			exo_errx(EXO_USAGE, "-d %s: not stored, f32, f16, bf16, q8_0 or q4_0", t);
		n++;
	}
	free(copy);
	if (n == 0)
		exo_errx(EXO_USAGE, "-%s: an empty list", opt);
	return n;
}

static void parse(int argc, char **argv, struct opts *o, int *n_feed)
{
	static const struct option lo[] = {
		{"dtype", 1, 0, 'd'}, {"threads", 1, 0, 't'}, {"reps", 1, 0, 'r'}, {"gen", 1, 0, 'n'},
		{"prompt", 1, 0, 'p'}, {"ctx", 1, 0, 'c'}, {"bw-mib", 1, 0, 'B'}, {"output", 1, 0, 'o'},
		{"rss", 0, 0, 'R'}, {"layers", 1, 0, 'L'}, {"cpu-clock", 0, 0, 'C'}, {"help", 0, 0, 'h'},
		{0, 0, 0, 0}};
	int c;
	bool gen_set = false;
	while ((c = getopt_long(argc, argv, "d:t:r:n:p:c:B:o:h", lo, NULL)) != -1) {
		switch (c) {
		case 'd': o->n_dtypes = list_arg("d", optarg, o->dtypes, true); break;
		case 't': o->n_threads = list_arg("t", optarg, o->threads, false); break;
		case 'r': o->reps = int_arg("r", optarg, 1); break;
		case 'n': o->tg = int_arg("n", optarg, 1), gen_set = true; break;
		case 'p': o->n_pp = list_arg("p", optarg, o->pp, false); break;
		case 'c': o->ctx = int_arg("c", optarg, 1); break;
		case 'B': o->bw_bytes = (size_t)int_arg("B", optarg, 1) << 20; break;
		case 'o':
			if (strcmp(optarg, "md") != 0 && strcmp(optarg, "jsonl") != 0 && strcmp(optarg, "json") != 0)
				exo_errx(EXO_USAGE, "-o %s: not md or jsonl", optarg);
			o->jsonl = optarg[0] == 'j';
			break;
		case 'R': o->rss = true; break;
		case 'C': bench_clock = CLOCK_PROCESS_CPUTIME_ID; break;
		case 'L':
			if (sscanf(optarg, "%d:%d", &o->first, &o->last) != 2 || o->first < 0 ||
			    o->last <= o->first)
				exo_errx(EXO_USAGE, "--layers %s: not A:B with 0 <= A < B", optarg);
			break;
		case 'h': fputs(usage_text, stdout); exit(0);
		default: fputs(usage_text, stderr); exit(EXO_USAGE);
		}
	}
	if (optind + 1 != argc) {
		fputs(usage_text, stderr);
		exit(EXO_USAGE);
	}
	o->model = argv[optind];
	*n_feed = gen_set ? o->tg : 8;
	int need = TG_PROMPT + o->tg;
	for (int i = 0; i < o->n_pp; i++)
		if (o->pp[i] > need)
			need = o->pp[i];
	if (!o->rss && o->ctx < need)
		o->ctx = need;
	if (o->rss && o->ctx < *n_feed)
		o->ctx = *n_feed;
}

int main(int argc, char **argv)
{
	exo_progname = "bench_engine";
	struct opts o = {.dtypes = {-1, KD_Q8_0, KD_Q4_0}, .n_dtypes = 3, .threads = {1, 2},
			 .n_threads = 2, .pp = {64, 512}, .n_pp = 2, .tg = 32, .reps = 3, .ctx = 1024,
			 .first = -1, .last = -1};
	int n_feed;
	o.bw_bytes = default_bw_bytes();
	parse(argc, argv, &o, &n_feed);
	if (o.rss)
		run_rss(&o, n_feed);
	else
		run_table(&o);
	if (fflush(stdout) == EOF || ferror(stdout))
		exo_errx(EXO_IOERR, "can't write stdout: %s", strerror(errno));
	return 0;
}
