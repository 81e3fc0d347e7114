/* Command-side helper shared by every binary's -o option: the one place that
 * turns a bad format name into the usage error (exit 64). */
#include "records/record.h"

enum rec_format rec_format_option(const char *arg)
{
	int f = rec_format_parse(arg);
	if (f < 0)
		exo_errx(EXO_USAGE, "-o %s: expected msgpack, json, yaml or text", arg);
	return (enum rec_format)f;
}
