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
	"                  [-o msgpack|json|yaml|text] [-q]\n"
	"       exo-detect --help | --version\n";

struct options {
	struct hw_opts hw;
	enum rec_format format;
	int quiet;
};

static void usage(int status)
{
	fputs(usage_text, status ? stderr : stdout);
	if (!status)
		fputs("\nPrints this machine's CPU, memory, GPUs with their compatibility verdict,\n"
		      "model-cache storage and network interfaces as one node record.\n"
		      "See exo-detect(1).\n", stdout);
	exit(status);
}

static void parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{"name", required_argument, NULL, 'n'}, {"advertise", required_argument, NULL, 'a'},
		{"sysroot", required_argument, NULL, 's'}, {"output", required_argument, NULL, 'o'},
		{"quiet", no_argument, NULL, 'q'}, {"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'}, {NULL, 0, NULL, 0}};
	int c;
	while ((c = getopt_long(argc, argv, "o:qhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'n': o->hw.name = optarg; break;
		case 'a': o->hw.advertise = optarg; break;
		case 's': o->hw.sysroot = optarg; break;
		case 'o':
			if ((int)(o->format = rec_format_parse(optarg)) < 0)
				exo_errx(EXO_USAGE, "-o %s: expected msgpack, json, yaml or text", optarg);
			break;
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
	struct exo_err e;
	exo_progname = "exo-detect";
	parse_options(argc, argv, &o);
	json_t *node = hw_node_new(&o.hw, &e);
	if (!node)
		exo_die(&e);
	struct rec_writer *w = rec_writer_open(STDOUT_FILENO, rec_format_resolve(o.format, STDOUT_FILENO));
	int rc = w ? rec_write(w, node, &e) : exo_error(&e, EXO_IOERR, "stdout: cannot open writer");
	if (w && rec_writer_close(w, &e) < 0)
		rc = -1;
	json_decref(node);
	if (rc < 0)
		exo_die(&e);
	return 0;
}
