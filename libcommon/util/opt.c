/* Values given on a command line (opt.h). */
#include "util/opt.h"

#include <errno.h>
#include <stdlib.h>

bool opt_long(const char *s, long lo, long hi, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (end == s || *end || errno == ERANGE || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}
