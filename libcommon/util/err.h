/* Errors: the library never prints and never exits.  A failing call fills a
 * struct exo_err with an exit-status-style code and a message that names the
 * object, the place, and what was expected, then returns -1 (or NULL). */
#ifndef EXO_UTIL_ERR_H
#define EXO_UTIL_ERR_H
#include <stddef.h>

/* Exit statuses, shared by every binary (sysexits.h values). */
enum exo_status {
	EXO_OK = 0,
	EXO_FAIL = 1,          /* the operation failed */
	EXO_USAGE = 64,        /* bad command line */
	EXO_DATAERR = 65,      /* bad input data */
	EXO_NOINPUT = 66,      /* input file missing or unreadable */
	EXO_UNAVAILABLE = 69,  /* a service or peer is unavailable */
	EXO_SOFTWARE = 70,     /* internal error */
	EXO_IOERR = 74,        /* read or write error */
	EXO_TEMPFAIL = 75,     /* try again later */
	EXO_NOPERM = 77,       /* permission denied */
	EXO_CONFIG = 78,       /* bad configuration */
};

struct exo_err {
	int code;
	char msg[1024];
};

/* Fill e (which may be NULL) and return -1. */
int exo_error(struct exo_err *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Prefix e->msg with "prefix: " (to add the file or peer a lower layer did not know). */
void exo_error_prefix(struct exo_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Command-side helpers: print "prog: message" on stderr. */
extern const char *exo_progname;
void exo_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void exo_errx(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Print e's message and exit with its code. */
_Noreturn void exo_die(const struct exo_err *e);

/* Allocation that dies on failure: for commands and for sizes that cannot fail sanely. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
/* a * b, or SIZE_MAX when it overflows. */
size_t size_mul(size_t a, size_t b);
#endif
