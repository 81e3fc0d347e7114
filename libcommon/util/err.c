/* Error structs for the library, err(3)-style reporting for commands. */
#include "util/err.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *exo_progname = "exo";

int exo_error(struct exo_err *e, int code, const char *fmt, ...)
{
	if (!e)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	e->code = code;
	vsnprintf(e->msg, sizeof e->msg, fmt, ap);
	va_end(ap);
	return -1;
}

void exo_error_prefix(struct exo_err *e, const char *fmt, ...)
{
	if (!e)
		return;
	char old[sizeof e->msg];
	memcpy(old, e->msg, sizeof old);
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(e->msg, sizeof e->msg, fmt, ap);
	va_end(ap);
	size_t used = n < 0 ? 0 : (size_t)n < sizeof e->msg ? (size_t)n : sizeof e->msg - 1;
	size_t room = sizeof e->msg - used - 1;
	if (room >= 2) {
		memcpy(e->msg + used, ": ", 2);
		used += 2;
		size_t len = strnlen(old, room - 2);
		memcpy(e->msg + used, old, len);
		e->msg[used + len] = '\0';
	}
}

static void vwarnx(const char *fmt, va_list ap)
{
	fprintf(stderr, "%s: ", exo_progname);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void exo_warnx(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vwarnx(fmt, ap);
	va_end(ap);
}

void exo_errx(int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vwarnx(fmt, ap);
	va_end(ap);
	exit(status);
}

void exo_die(const struct exo_err *e)
{
	exo_errx(e->code ? e->code : EXO_FAIL, "%s", e->msg);
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		exo_errx(EXO_SOFTWARE, "out of memory allocating %zu bytes", n);
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		exo_errx(EXO_SOFTWARE, "out of memory allocating %zu x %zu bytes", n, size);
	return p;
}

void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		exo_errx(EXO_SOFTWARE, "out of memory allocating %zu bytes", n);
	return q;
}

char *xstrdup(const char *s)
{
	char *d = strdup(s);
	if (!d)
		exo_errx(EXO_SOFTWARE, "out of memory");
	return d;
}

size_t size_mul(size_t a, size_t b)
{
	size_t r;
	if (__builtin_mul_overflow(a, b, &r))
		return SIZE_MAX;
	return r;
}
