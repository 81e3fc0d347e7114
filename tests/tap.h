/* A tiny TAP harness for the C unit tests: ok()/is_*() print one TAP line
 * each, done_testing() prints the plan and returns the exit status. */
#ifndef EXO_TAP_H
#define EXO_TAP_H
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_count, tap_failed;

static inline int tap_vok(int cond, const char *fmt, va_list ap)
{
	tap_count++;
	if (!cond)
		tap_failed++;
	printf("%sok %d - ", cond ? "" : "not ", tap_count);
	vprintf(fmt, ap);
	putchar('\n');
	fflush(stdout);
	return cond;
}

static inline int ok(int cond, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = tap_vok(cond, fmt, ap);
	va_end(ap);
	return r;
}

static inline void skip(const char *why)
{
	tap_count++;
	printf("ok %d # SKIP %s\n", tap_count, why);
}

static inline void diag(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("# ", stdout);
	vprintf(fmt, ap);
	putchar('\n');
	va_end(ap);
}

#define is_int(got, want, ...)                                                     \
	do {                                                                        \
		long long g_ = (got), w_ = (want);                                  \
		if (!ok(g_ == w_, __VA_ARGS__))                                     \
			diag("got %lld, want %lld", g_, w_);                         \
	} while (0)

#define is_str(got, want, ...)                                                     \
	do {                                                                        \
		const char *g_ = (got), *w_ = (want);                               \
		if (!ok(g_ && w_ && strcmp(g_, w_) == 0, __VA_ARGS__))              \
			diag("got '%s', want '%s'", g_ ? g_ : "(null)", w_ ? w_ : "(null)"); \
	} while (0)

static inline int done_testing(void)
{
	printf("1..%d\n", tap_count);
	return tap_failed ? 1 : 0;
}

/* Directory of ../shared, from the environment (make sets it). */
static inline const char *tap_shared(void)
{
	const char *s = getenv("EXO_SHARED");
	return s ? s : "../shared";
}
#endif
