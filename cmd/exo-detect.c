/* exo-detect: prints what this machine can contribute to a cluster as one
 * `node` record (msgpack on a pipe, a table on a terminal).  See exo-detect(1). */
#include "hardware/hardware.h"
#include "records/record.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static const char usage_text[] =
	"usage: exo-detect [--name NAME] [--advertise ADDR] [--sysroot DIR]\n"
	"                  [-c FILE] [-o msgpack|json|yaml|text] [-q]\n"
	"       exo-detect --help | --version\n";

struct options {
	struct hw_opts hw;
	const char *config;     /* --config, or NULL to search */
	enum rec_format format;
	int quiet;
};

static void usage(int status)
{
	fputs(usage_text, status ? stderr : stdout);
	if (!status)
		fputs("\nPrints this machine's CPU, memory, GPUs with their compatibility verdict,\n"
		      "model-cache storage and network interfaces as one node record.\n"
		      "\n"
		      "  --name NAME          node name (default: the hostname)\n"
		      "  --advertise ADDR     host:port where other stages reach this node\n"
		      "  --sysroot DIR        read /proc and /sys under DIR\n"
		      "  -c, --config FILE    exo.yaml to read (default: $EXO_CONFIG,\n"
		      "                       ~/.config/exo/exo.yaml, /etc/exo/exo.yaml)\n"
		      "  -o, --output FORMAT  msgpack, json, yaml or text (default: text on a\n"
		      "                       terminal, msgpack otherwise)\n"
		      "  -q, --quiet          accepted; nothing but the record is printed\n"
		      "  --help, --version\n"
		      "\nSee exo-detect(1) and exo.yaml(5).\n", stdout);
	exit(status);
}

static void parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{"name", required_argument, NULL, 'n'}, {"advertise", required_argument, NULL, 'a'},
		{"sysroot", required_argument, NULL, 's'}, {"config", required_argument, NULL, 'c'},
		{"output", required_argument, NULL, 'o'},
		{"quiet", no_argument, NULL, 'q'}, {"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'}, {NULL, 0, NULL, 0}};
	int c;
	while ((c = getopt_long(argc, argv, "c:o:qhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'n': o->hw.name = optarg; break;
		case 'a': o->hw.advertise = optarg; break;
		case 's': o->hw.sysroot = optarg; break;
		case 'c': o->config = optarg; break;
		case 'o': o->format = rec_format_option(optarg); break;
		case 'q': o->quiet = 1; break;
		case 'h': usage(0); break;
		case 'V': printf("exo-detect %s\n", EXO_VERSION); exit(0);
		default: usage(EXO_USAGE);
		}
	}
	if (optind != argc) {
		exo_warnx("unexpected argument: %s", argv[optind]);
		usage(EXO_USAGE);
	}
	if (o->hw.name && !o->hw.name[0])
		exo_errx(EXO_USAGE, "--name: empty");
}

int main(int argc, char **argv)
{
	struct options o = {.format = REC_AUTO};
	struct exo_config conf;
	struct exo_err e;
	exo_progname = "exo-detect";
	parse_options(argc, argv, &o);
	conf_init(&conf);
	if (conf_load(&conf, o.config, &e) < 0)
		exo_die(&e);
	o.hw.conf = &conf;
	json_t *node = hw_node_new(&o.hw, &e);
	conf_free(&conf);
	if (!node)
		exo_die(&e);
	int rc = rec_write_stdout(node, rec_format_resolve(o.format, STDOUT_FILENO), &e);
	json_decref(node);
	if (rc < 0)
		exo_die(&e);
	return 0;
}
