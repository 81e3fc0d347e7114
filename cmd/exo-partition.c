/* exo-partition: plans the split of a model's layers across the nodes whose
 * records it reads, and writes the `plan` record.  See exo-partition(1). */
#include "config/config.h"
#include "planner/input.h"
#include "planner/planner.h"
#include "records/record.h"
#include "util/opt.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage_text[] =
	"usage: exo-partition [--model DIR|ORG/NAME[@REV]] [--strategy NAME] [--dtype TYPE]\n"
	"                     [--ctx N] [--sessions N] [--memory-fraction F] [--port N]\n"
	"                     [-o msgpack|json|yaml|text] [-q] [FILE ...]\n"
	"       exo-partition --model DIR --profile [--dtype TYPE] [-o FORMAT]\n"
	"       exo-partition --help | --version\n";

struct options {
	const char *model;
	struct plan_request req;
	int dtype;              /* -1: as stored */
	double fraction;        /* 0: each node's memory_fraction, else 0.9 */
	int profile;
	enum rec_format format;
};

static void usage(int status)
{
	fputs(usage_text, status ? stderr : stdout);
	if (!status)
		fputs("\nReads node and bench records (msgpack, JSON or YAML) from the FILEs or\n"
		      "stdin and writes a plan record: each stage's node, device, address and\n"
		      "layer range, its memory and its predicted time per token.\n"
		      "\n"
		      "  --model MODEL          checkpoint directory or ORG/NAME[@REV] in the HF cache\n"
		      "                         (default: a model record in the input)\n"
		      "  --strategy NAME        latency (default), throughput or ring-memory\n"
		      "  --dtype TYPE           f32, f16, bf16, q8_0 or q4_0 (default: as stored)\n"
		      "  --ctx N                KV cache positions per session (default: the\n"
		      "                         model's context, at most 4096)\n"
		      "  --sessions N           sessions each stage holds a KV cache for (default 1)\n"
		      "  --memory-fraction F    share of available memory a stage may use\n"
		      "                         (default: the node's memory_fraction, else 0.9)\n"
		      "  --port N               first stage's port; stage k gets N+k (default 52416)\n"
		      "  --profile              print the model's profile as a model record\n"
		      "  -o, --output FORMAT    msgpack, json, yaml or text (default: text on a\n"
		      "                         terminal, msgpack otherwise)\n"
		      "  -q, --quiet            accepted; nothing but the record is printed\n"
		      "  --help, --version\n"
		      "\nSee exo-partition(1) and exo-wire(5).\n", stdout);
	exit(status);
}

static long number(const char *opt, const char *arg, long lo, long hi)
{
	long v;
	if (!opt_long(arg, lo, hi, &v))
		exo_errx(EXO_USAGE, "%s: expected an integer from %ld to %ld, got '%s'", opt, lo, hi, arg);
	return v;
}

static void parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{"model", required_argument, NULL, 'm'}, {"strategy", required_argument, NULL, 's'},
		{"dtype", required_argument, NULL, 'd'}, {"ctx", required_argument, NULL, 'c'},
		{"sessions", required_argument, NULL, 'S'}, {"memory-fraction", required_argument, NULL, 'f'},
		{"port", required_argument, NULL, 'p'}, {"profile", no_argument, NULL, 'P'},
		{"output", required_argument, NULL, 'o'}, {"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'}, {"version", no_argument, NULL, 'V'}, {NULL, 0, NULL, 0}};
	int c;
	char *end;
	while ((c = getopt_long(argc, argv, "o:qhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'm': o->model = optarg; break;
		case 's':
			if ((int)(o->req.strategy = plan_strategy_parse(optarg)) < 0)
				exo_errx(EXO_USAGE, "--strategy: expected latency, throughput or ring-memory, "
					 "got '%s'", optarg);
			break;
		case 'd':
			if ((o->dtype = plan_dtype_parse(optarg)) < 0)
				exo_errx(EXO_USAGE, "--dtype: expected f32, f16, bf16, q8_0 or q4_0, got '%s'",
					 optarg);
			break;
		case 'c': o->req.ctx = (int)number("--ctx", optarg, 1, 1 << 24); break;
		case 'S': o->req.sessions = (int)number("--sessions", optarg, 1, 4096); break;
		case 'p': o->req.port_base = (int)number("--port", optarg, 1, 65535 - PLAN_MAX_UNITS); break;
		case 'f':
			o->fraction = strtod(optarg, &end);
			if (!*optarg || *end || !(o->fraction > 0 && o->fraction <= 1))
				exo_errx(EXO_USAGE, "--memory-fraction: expected a number in (0, 1], got '%s'",
					 optarg);
			break;
		case 'P': o->profile = 1; break;
		case 'o': o->format = rec_format_option(optarg); break;
		case 'q': break;
		case 'h': usage(0); break;
		case 'V': printf("exo-partition %s\n", EXO_VERSION); exit(0);
		default: usage(EXO_USAGE);
		}
	}
	if (o->profile && !o->model)
		exo_errx(EXO_USAGE, "--profile needs --model");
}

static void load_model(struct plan_model *m, const struct options *o, const struct plan_input *in)
{
	struct exo_err e;
	const json_t *rec = o->model ? NULL : plan_input_find(in, "model");
	if (!o->model && !rec)
		exo_errx(EXO_USAGE, "no model: give --model DIR|ORG/NAME, or a model record in the input");
	if ((o->model ? plan_model_load(m, o->model, o->dtype, &e)
		      : plan_model_from_record(m, rec, &e)) < 0 ||
	    (!o->model && o->dtype >= 0 && plan_model_set_dtype(m, o->dtype, &e) < 0))
		exo_die(&e);
}

static void check_ctx(struct options *o, const struct plan_model *m)
{
	if (!o->req.ctx)
		o->req.ctx = m->max_pos > 0 && m->max_pos < 4096 ? m->max_pos : 4096;
	if (m->max_pos > 0 && o->req.ctx > m->max_pos)
		exo_errx(EXO_USAGE, "--ctx %d: %s holds at most %d positions", o->req.ctx, m->id, m->max_pos);
}

/* networking.peers name where the other machines' stages are reached: a
 * node record that advertises no address takes its peer's. */
static void apply_peers(struct plan_input *in)
{
	struct exo_config conf;
	struct exo_err e;
	conf_init(&conf);
	if (conf_load(&conf, NULL, &e) < 0)
		exo_die(&e);
	for (size_t i = 0; i < in->n; i++) {
		json_t *r = in->records[i];
		const char *name = json_string_value(json_object_get(r, "name"));
		if (strcmp(rec_kind(r), "node") || !name || json_object_get(r, "advertise"))
			continue;
		for (size_t k = 0; k < conf.networking.n_peers; k++)
			if (!strcmp(conf.networking.peers[k].name, name))
				json_object_set_new(r, "advertise", json_string(conf.networking.peers[k].address));
	}
	conf_free(&conf);
}

static void emit(const json_t *rec, enum rec_format f)
{
	struct exo_err e;
	if (f == REC_TEXT && strcmp(rec_kind(rec), "plan") == 0) {
		char *t = plan_table(rec);
		if (fputs(t, stdout) == EOF || fflush(stdout) == EOF)
			exo_errx(EXO_IOERR, "stdout: write failed");
		free(t);
		return;
	}
	int rc = rec_write_stdout(rec, f, &e);
	if (rc < 0)
		exo_die(&e);
}

int main(int argc, char **argv)
{
	struct options o = { .req = { .strategy = PLAN_LATENCY, .sessions = 1,
				      .port_base = PLAN_PORT_BASE }, .dtype = -1, .format = REC_AUTO };
	struct plan_input in = { 0 };
	struct plan_model m;
	struct plan_cluster c;
	struct plan_result p;
	struct exo_err e;
	exo_progname = "exo-partition";
	parse_options(argc, argv, &o);
	enum rec_format f = rec_format_resolve(o.format, STDOUT_FILENO);
	if (!o.profile && plan_input_read(&in, argv + optind, (size_t)(argc - optind), &e) < 0)
		exo_die(&e);
	load_model(&m, &o, &in);
	if (o.profile) {
		json_t *rec = plan_model_record(&m);
		emit(rec, f);
		json_decref(rec);
		plan_model_free(&m);
		return 0;
	}
	check_ctx(&o, &m);
	apply_peers(&in);
	if (plan_cluster_build(&c, in.records, in.n, o.fraction, &e) < 0 ||
	    plan_make(&m, &c, &o.req, &p, &e) < 0)
		exo_die(&e);
	json_t *plan = plan_record(&m, &c, &o.req, &p);
	emit(plan, f);
	json_decref(plan);
	plan_result_free(&p);
	plan_cluster_free(&c);
	plan_model_free(&m);
	plan_input_free(&in);
	return 0;
}
