/* `exo-validate --test-component cpu|gpu|network|storage|all`: functional
 * tests that run real work on a part of this machine and compare the
 * results with a reference (validate/component_*.c). */
#include "cmd/validate/subcommand.h"
#include "hub/cache.h"
#include "validate/component.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
	"usage: exo-validate --test-component cpu|gpu|network|storage|all [-o FORMAT] [-q]\n";

static const char *const components[] = {"cpu", "gpu", "network", "storage", "all", NULL};

static int parse_component(const char *s)
{
	for (int i = 0; components[i]; i++)
		if (!strcmp(s, components[i]))
			return i;
	exo_errx(EXO_USAGE, "--test-component %s: expected cpu, gpu, network, storage or all", s);
}

static void model_cache(char *dir, size_t n)
{
	struct exo_err e = {0};
	if (hub_cache_location(dir, n, &e) < 0)
		exo_die(&e);
}

int validate_test_component(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"test-component", required_argument, NULL, 'T'}, {"output", required_argument, NULL, 'o'},
		{"quiet", no_argument, NULL, 'q'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
	enum rec_format format = REC_AUTO;
	int which = -1, c;
	while ((c = getopt_long(argc, argv, "o:qh", longopts, NULL)) != -1) {
		switch (c) {
		case 'T': which = parse_component(optarg); break;
		case 'o': format = rec_format_option(optarg); break;
		case 'q': break;
		case 'h': fputs(usage_text, stdout); exit(0);
		default: fputs(usage_text, stderr); exit(EXO_USAGE);
		}
	}
	if (which < 0 || optind != argc) {
		fputs(usage_text, stderr);
		exit(EXO_USAGE);
	}
	int all = !strcmp(components[which], "all");
	char cache[4096];
	model_cache(cache, sizeof cache);
	struct vcheck_out out;
	vcheck_open(&out, format);
	if (all || which == 0)
		component_cpu(&out);
	if (all || which == 1)
		component_gpu(&out, !all);
	if (all || which == 2)
		component_network(&out);
	if (all || which == 3)
		component_storage(&out, cache);
	return vcheck_close(&out, vcheck_status(&out));
}
