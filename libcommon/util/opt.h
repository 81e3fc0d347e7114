/* Values given on a command line: the one parser of integer options. */
#ifndef EXO_UTIL_OPT_H
#define EXO_UTIL_OPT_H
#include <stdbool.h>

/* True when s is a whole decimal integer (leading blanks allowed, as
 * strtol) from lo to hi; *out gets it.  The caller words the error. */
bool opt_long(const char *s, long lo, long hi, long *out);
#endif
