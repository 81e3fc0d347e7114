/* exo-bench: measures this machine (memory, compute, storage), a model
 * (prompt and generation tokens/s) and running stages, as `bench` records
 * (msgpack on a pipe, a table on a terminal).  See exo-bench(1). */
#include "bench/bench.h"
#include "bench/output.h"
#include "config/config.h"
#include "kernels/kern.h"
#include "records/record.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char usage_text[] =
	"usage: exo-bench [-d SECONDS] [-s SUITES] [-t THREADS] [--llc SIZE] [--name NAME] [--file FILE]\n"
	"                 [--model DIR [--connect HOST:PORT]] [--dtype TYPE] [-p LENGTHS]\n"
	"                 [-n LENGTHS] [-b SIZES]\n"
	"                 [--nodes HOST:PORT,...] [--key FILE] [--merge] [-c FILE] [-o FORMAT] [-q]\n"
	"       exo-bench --help | --version\n";

struct app {
	struct bench_opts b;
	const char *config, *name;
	enum rec_format format, resolved;
	int csv, merge, quiet, progress_shown;
	double last_progress;
	json_t *passed;     /* --merge: the records read, passed through */
	json_t *figures;    /* the bench records, when kept for the end */
	struct rec_writer *w;
};

static void usage(int status)
{
	fputs(usage_text, status ? stderr : stdout);
	if (!status)
		fputs("\nMeasures this machine, a model and running stages; writes bench records.\n"
		      "\n"
		      "  -d, --duration SECONDS   time for all suites together (default 20)\n"
		      "  -s, --suite LIST         memory,compute,storage,inference,network,gpu or all\n"
		      "                           (default: all that apply)\n"
		      "  -t, --threads N          threads of the all-threads figures (default: the\n"
		      "                           configuration's, else every online CPU)\n"
		      "  --llc SIZE               last-level cache the memory and GEMV arrays are\n"
		      "                           sized by (default: from /sys; e.g. 260M)\n"
		      "  --name NAME              node name in the records (default: the merged node's,\n"
		      "                           else the hostname)\n"
		      "  --file FILE              storage: file to read (default: the largest in the\n"
		      "                           model cache)\n"
		      "  --model DIR              inference: model directory\n"
		      "  --dtype TYPE             inference: convert weights (f32, bf16, f16, q8_0, q4_0)\n"
		      "  --connect HOST:PORT      inference: through the running pipeline whose first\n"
		      "                           stage is there (--model gives its config)\n"
		      "  -p, --sequence-lengths L prompt lengths of the ppN figures (default 512)\n"
		      "  -n, --gen-lengths L      generated lengths of the tgN figures (default 128)\n"
		      "  -b, --batch-sizes L      tokens per forward pass in ppN (default: N)\n"
		      "  --nodes HOST:PORT,...    network: running stages to measure\n"
		      "  --key FILE               network: cluster key of the stages (default: the\n"
		      "                           configuration's networking.clusterKey)\n"
		      "  --merge                  read records on stdin and pass them through, node\n"
		      "                           records with the measured figures attached\n"
		      "  -c, --config FILE        exo.yaml to read\n"
		      "  -o, --output FORMAT      msgpack, json, yaml, csv or text (default: text on a\n"
		      "                           terminal, msgpack otherwise)\n"
		      "  -q, --quiet              no progress line\n"
		      "  --help, --version\n"
		      "\nSee exo-bench(1).\n", stdout);
	exit(status);
}

/* "512,1024" into v (positive integers, at most BENCH_MAX_LIST). */
static int parse_list(const char *opt, const char *s, int *v)
{
	int n = 0;
	char *end;
	do {
		long x = strtol(s, &end, 10);
		if (end == s || x <= 0 || x > 1 << 20 || (*end && *end != ',') || n == BENCH_MAX_LIST)
			exo_errx(EXO_USAGE, "%s %s: expected up to %d positive integers separated by commas",
				 opt, s, BENCH_MAX_LIST);
		v[n++] = (int)x;
		s = end + 1;
	} while (*end);
	return n;
}

static double parse_seconds(const char *s)
{
	char *end;
	double d = strtod(s, &end);
	if (end == s || *end || !(d > 0) || d > 86400)
		exo_errx(EXO_USAGE, "--duration %s: expected seconds, more than 0", s);
	return d;
}

static void parse_options(int argc, char **argv, struct app *a)
{
	static const struct option longopts[] = {
		{"duration", required_argument, NULL, 'd'}, {"suite", required_argument, NULL, 's'},
		{"threads", required_argument, NULL, 't'}, {"name", required_argument, NULL, 'N'},
		{"file", required_argument, NULL, 'f'}, {"model", required_argument, NULL, 'm'},
		{"dtype", required_argument, NULL, 'D'}, {"sequence-lengths", required_argument, NULL, 'p'},
		{"gen-lengths", required_argument, NULL, 'n'}, {"batch-sizes", required_argument, NULL, 'b'},
		{"nodes", required_argument, NULL, 'H'}, {"key", required_argument, NULL, 'K'},
		{"connect", required_argument, NULL, 'C'}, {"llc", required_argument, NULL, 'L'},
		{"merge", no_argument, NULL, 'M'},
		{"config", required_argument, NULL, 'c'}, {"output", required_argument, NULL, 'o'},
		{"quiet", no_argument, NULL, 'q'}, {"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'}, {NULL, 0, NULL, 0}};
	struct exo_err e;
	int c, t[1];
	while ((c = getopt_long(argc, argv, "d:s:t:p:n:b:c:o:qhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': a->b.duration = parse_seconds(optarg); break;
		case 's': if (bench_suite_parse(optarg, &a->b.suites, &e) < 0) exo_die(&e); break;
		case 't': parse_list("--threads", optarg, t), a->b.threads = t[0]; break;
		case 'N': a->name = optarg; break;
		case 'L': {
			uint64_t llc;
			if (conf_parse_size(optarg, &llc) < 0 || llc == 0 || llc > (1ull << 40))
				exo_errx(EXO_USAGE, "--llc %s: expected a size from 1 byte to 1T (e.g. 260M)",
					 optarg);
			a->b.llc_bytes = (size_t)llc;
			break;
		}
		case 'f': a->b.file = optarg; break;
		case 'm': a->b.model = optarg; break;
		case 'D':
			if ((a->b.dtype = kern_dtype_parse(optarg)) < 0)
				exo_errx(EXO_USAGE, "--dtype %s: expected f32, bf16, f16, q8_0 or q4_0", optarg);
			break;
		case 'p': a->b.n_prompt = parse_list("--sequence-lengths", optarg, a->b.prompt); break;
		case 'n': a->b.n_gen = parse_list("--gen-lengths", optarg, a->b.gen); break;
		case 'b': a->b.n_batch = parse_list("--batch-sizes", optarg, a->b.batch); break;
		case 'H': a->b.nodes = optarg; break;
		case 'K': a->b.key = optarg; break;
		case 'C': a->b.connect = optarg; break;
		case 'M': a->merge = 1; break;
		case 'c': a->config = optarg; break;
		case 'o': a->csv = strcmp(optarg, "csv") == 0;
			  a->format = a->csv ? REC_TEXT : rec_format_option(optarg); break;
		case 'q': a->quiet = 1; break;
		case 'h': usage(0); break;
		case 'V': printf("exo-bench %s\n", EXO_VERSION); exit(0);
		default: usage(EXO_USAGE);
		}
	}
	if (optind != argc) {
		exo_warnx("unexpected argument: %s", argv[optind]);
		usage(EXO_USAGE);
	}
	if (a->b.nodes && !*a->b.nodes)
		exo_errx(EXO_USAGE, "--nodes: empty list");
	if (a->b.connect && !a->b.model)
		exo_errx(EXO_USAGE, "--connect: needs --model DIR (the model the pipeline serves)");
}

/* ---- callbacks of the run ---- */

static void clear_progress(struct app *a)
{
	if (a->progress_shown)
		fputs("\r\033[K", stderr);
	a->progress_shown = 0;
}

static void on_progress(void *arg, double done, const char *what)
{
	struct app *a = arg;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	double now = ts.tv_sec + ts.tv_nsec * 1e-9;
	if (now - a->last_progress < 0.15)   /* a few updates a second */
		return;
	a->last_progress = now;
	fprintf(stderr, "\r\033[Kexo-bench: [%3.0f%%] %.60s", floor(done * 100), what);
	a->progress_shown = 1;
}

static void on_warn(void *arg, const char *msg)
{
	clear_progress(arg);
	exo_warnx("%s", msg);
}

static int on_record(void *arg, json_t *rec, struct exo_err *e)
{
	struct app *a = arg;
	int rc = 0;
	if (a->w && !a->merge)   /* streaming: msgpack, json, yaml */
		rc = rec_write(a->w, rec, e);
	else if (a->csv && !a->merge)
		bench_csv_row(stdout, rec);
	json_array_append_new(a->figures, rec);
	return rc;
}

/* ---- input and output ---- */

static void read_merged(struct app *a)
{
	struct rec_reader *r = rec_reader_open(STDIN_FILENO, "stdin");
	struct exo_err e;
	json_t *rec;
	int rc;
	while ((rc = rec_reader_next(r, &rec, &e)) > 0) {
		const char *name = json_string_value(json_object_get(rec, "name"));
		if (!a->name && name && strcmp(rec_kind(rec), "node") == 0)
			a->b.node = name;   /* the record outlives the run */
		json_array_append_new(a->passed, rec);
	}
	rec_reader_close(r);
	if (rc < 0)
		exo_die(&e);
}

/* What is left to write after the run: passed-through records, then the
 * figures where they were not streamed. */
static int finish_output(struct app *a, struct exo_err *e)
{
	size_t i;
	json_t *rec;
	json_array_foreach(a->passed, i, rec) {
		if (strcmp(rec_kind(rec), "node") == 0)
			bench_merge_node(rec, a->figures);
		if (a->w && rec_write(a->w, rec, e) < 0)
			return -1;
	}
	if (a->csv && a->merge) {
		json_array_foreach(a->figures, i, rec)
			bench_csv_row(stdout, rec);
	} else if (!a->csv && a->resolved == REC_TEXT) {
		bench_table_print(stdout, a->figures);
	} else if (a->merge) {
		json_array_foreach(a->figures, i, rec)
			if (rec_write(a->w, rec, e) < 0)
				return -1;
	}
	return 0;
}

static void open_output(struct app *a)
{
	a->resolved = rec_format_resolve(a->format, STDOUT_FILENO);
	if (a->csv) {
		bench_csv_header(stdout);
		return;
	}
	if (a->resolved == REC_TEXT && !a->merge)
		return;   /* the table at the end */
	a->w = rec_writer_open(STDOUT_FILENO, a->resolved);
	if (!a->w)
		exo_errx(EXO_SOFTWARE, "stdout: cannot open writer");
}

/* networking.peers as a --nodes list ("HOST:PORT,..."), or NULL when none. */
static char *peer_list(const struct exo_config *conf)
{
	if (!conf->networking.n_peers)
		return NULL;
	size_t len = 0;
	for (size_t i = 0; i < conf->networking.n_peers; i++)
		len += strlen(conf->networking.peers[i].address) + 1;
	char *list = xcalloc(len + 1, 1);
	for (size_t i = 0; i < conf->networking.n_peers; i++) {
		if (i)
			strcat(list, ",");
		strcat(list, conf->networking.peers[i].address);
	}
	return list;
}

int main(int argc, char **argv)
{
	struct app a = { .format = REC_AUTO, .b = { .duration = 20, .dtype = -1 } };
	struct exo_config conf;
	struct exo_err e;
	char host[256] = "localhost";
	exo_progname = "exo-bench";
	parse_options(argc, argv, &a);
	conf_init(&conf);
	if (conf_load(&conf, a.config, &e) < 0 || conf_apply_affinity(&conf, &e) < 0)
		exo_die(&e);
	a.passed = json_array();
	a.figures = json_array();
	if (a.merge)
		read_merged(&a);
	gethostname(host, sizeof host - 1);
	a.b.node = a.name ? a.name : a.b.node ? a.b.node : host;
	a.b.cache_dir = conf.storage.model_cache.path;
	if (!a.b.threads)
		a.b.threads = conf.hardware.cpu.threads ? conf.hardware.cpu.threads
							: (int)conf.hardware.cpu.affinity.n;
	char *peers = a.b.nodes ? NULL : peer_list(&conf);
	if (peers)
		a.b.nodes = peers;
	if (!a.b.key && conf.networking.cluster_key[0])
		a.b.key = conf.networking.cluster_key;
	a.b.emit = on_record, a.b.warn = on_warn, a.b.arg = &a;
	if (!a.quiet && isatty(STDERR_FILENO))
		a.b.progress = on_progress;
	open_output(&a);
	int rc = bench_run(&a.b, &e);
	clear_progress(&a);
	if (rc >= 0 && finish_output(&a, &e) < 0)
		rc = -1;
	struct exo_err we;
	if (rec_writer_close(a.w, &we) < 0 && rc >= 0)
		e = we, rc = -1;
	if ((fflush(stdout) == EOF || ferror(stdout)) && rc >= 0)
		rc = exo_error(&e, EXO_IOERR, "write error on stdout");
	json_decref(a.passed);
	json_decref(a.figures);
	free(peers);
	conf_free(&conf);
	if (rc < 0)
		exo_die(&e);
	return rc;
}
