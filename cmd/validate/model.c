/* `exo-validate model`: a checkpoint loads, and with --reference the engine
 * matches what transformers computed for it. */
#include "config/config.h"
#include "engine/engine.h"
#include "kernels/kern.h"
#include "model/checkpoint.h"
#include "net/net.h"
#include "records/record.h"
#include "util/opt.h"
#include "validate/model_checks.h"
#include "validate/reference.h"
#include "cmd/validate/subcommand.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage_text[] =
	"usage: exo-validate model DIR|ORG/NAME [--reference REFDIR] [--stages N]\n"
	"                    [--dtype f32|f16|bf16|q8_0|q4_0] [--handover f32|f16|bf16]\n"
	"                    [--threads N] [--connect HOST:PORT [--key FILE]]\n"
	"                    [-o msgpack|json|yaml|text] [-q]\n"
	"       exo-validate --help | --version\n";

struct options {
	const char *reference, *connect, *key;
	int stages, dtype, handover, threads, quiet;
	enum rec_format format;
};

static void usage(int status)
{
	fputs(usage_text, status ? stderr : stdout);
	if (!status)
		fputs("\nChecks a model checkpoint, and with --reference compares the engine's logits,\n"
		      "hidden states and greedy tokens with a reference computed by transformers.\n"
		      "See exo-validate(1).\n", stdout);
	exit(status);
}

static int parse_handover(const char *s)
{
	int t = kern_dtype_parse(s);
	if (t != KD_F32 && t != KD_F16 && t != KD_BF16)
		exo_errx(EXO_USAGE, "--handover %s: expected f32, f16 or bf16", s);
	return t;
}

static int parse_count(const char *opt, const char *s, int min)
{
	long v;
	if (!opt_long(s, min, 4096, &v))
		exo_errx(EXO_USAGE, "%s %s: expected an integer of at least %d", opt, s, min);
	return (int)v;
}

static void parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{"reference", required_argument, NULL, 'r'}, {"stages", required_argument, NULL, 's'},
		{"dtype", required_argument, NULL, 'd'}, {"handover", required_argument, NULL, 'H'},
		{"threads", required_argument, NULL, 't'}, {"output", required_argument, NULL, 'o'},
		{"quiet", no_argument, NULL, 'q'}, {"help", no_argument, NULL, 'h'},
		{"connect", required_argument, NULL, 'c'}, {"key", required_argument, NULL, 'k'},
		{NULL, 0, NULL, 0}};
	int c;
	while ((c = getopt_long(argc, argv, "o:qh", longopts, NULL)) != -1) {
		switch (c) {
		case 'r': o->reference = optarg; break;
		case 's': o->stages = parse_count("--stages", optarg, 1); break;
		case 'd':
			if ((o->dtype = kern_dtype_parse(optarg)) < 0)
				exo_errx(EXO_USAGE, "--dtype %s: expected f32, f16, bf16, q8_0 or q4_0", optarg);
			break;
		case 'H': o->handover = parse_handover(optarg); break;
		case 't': o->threads = parse_count("--threads", optarg, 1); break;
		case 'o': o->format = rec_format_option(optarg); break;
		case 'q': o->quiet = 1; break;
		case 'c': o->connect = optarg; break;
		case 'k': o->key = optarg; break;
		case 'h': usage(0); break;
		default: usage(EXO_USAGE);
		}
	}
}

/* Without a reference: the checkpoint loads, every tensor checked against the config. */
static int check_loads(const char *model, struct vcheck_out *out)
{
	struct exo_err e = {0};
	struct eng_opts eo = {.dtype = -1, .threads = 1, .ctx = 1};
	struct eng_stage *s = eng_stage_open(model, 0, -1, &eo, &e);
	if (!s && (e.code == EXO_NOINPUT || e.code == EXO_NOPERM))
		exo_die(&e); /* nothing to check: not a finding about the model */
	json_t *c = rec_new("check");
	json_object_set_new(c, "subject", json_string(model));
	json_object_set_new(c, "code", json_string("model.load"));
	json_object_set_new(c, "level", json_string(s ? "ok" : "fail"));
	char msg[1200];
	if (s)
		snprintf(msg, sizeof msg, "%s, %d layers, every tensor present with the shape config.json "
			 "gives; %zu bytes of weights", eng_config(s)->architecture, eng_config(s)->n_layers,
			 eng_weight_bytes(s));
	json_object_set_new(c, "message", json_string(s ? msg : e.msg));
	eng_stage_close(s);
	vcheck_emit(out, c);
	return s ? 0 : 2;
}

/* The configuration file fills what the flags left unset (hardware.cpu.threads). */
static void apply_config(struct options *o)
{
	struct exo_config conf;
	struct exo_err e = {0};
	conf_init(&conf);
	if (conf_load(&conf, NULL, &e) < 0)
		exo_die(&e);
	if (!o->threads)
		o->threads = conf.hardware.cpu.threads;
	if (!o->key && o->connect && conf.networking.cluster_key[0])
		o->key = xstrdup(conf.networking.cluster_key);
	conf_free(&conf);
}

static int cmd_model(const char *model, const struct options *o, struct vcheck_out *out)
{
	int status = check_loads(model, out);
	if (!status)
		model_extra_checks(model, out);
	if (status || !o->reference)
		return status;
	struct refcheck_opts ro = {.model = model, .ref_dir = o->reference, .stages = o->stages,
				   .dtype = o->dtype, .handover = o->handover, .threads = o->threads,
				   .connect = o->connect};
	struct exo_err e = {0};
	uint8_t key[NET_KEY_BYTES];
	if (o->key && net_key_load(o->key, key, &e) < 0)
		exo_die(&e);
	ro.key = o->key ? key : NULL;
	int worst = refcheck_run(&ro, vcheck_emit, out, &e);
	if (worst < 0)
		exo_die(&e);
	return worst == CHECK_FAIL ? 2 : worst == CHECK_WARN ? 1 : 0;
}

int validate_model(int argc, char **argv)
{
	struct options o = {.stages = 1, .dtype = -1, .handover = KD_F32, .format = REC_AUTO};
	parse_options(argc, argv, &o);
	if (optind + 1 != argc)
		usage(EXO_USAGE);
	apply_config(&o);
	struct vcheck_out out;
	vcheck_open(&out, o.format);
	int status = cmd_model(argv[optind], &o, &out);
	int worst = vcheck_status(&out);
	return vcheck_close(&out, worst > status ? worst : status);
}
