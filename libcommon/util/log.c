/* EXO_DEBUG-driven logging on stderr, with the level and a time stamp. */
#include "util/log.h"
#include "util/err.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static int current_level = -1;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

int log_level(void)
{
	if (current_level < 0) {
		const char *s = getenv("EXO_DEBUG");
		int v = s ? atoi(s) : 0;
		current_level = v < 0 ? 0 : v > 9 ? 9 : v;
	}
	return current_level;
}

void log_set_level(int level)
{
	current_level = level < 0 ? 0 : level > 9 ? 9 : level;
}

void log_msg(int level, const char *fmt, ...)
{
	if (level > log_level())
		return;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	va_list ap;
	va_start(ap, fmt);
	pthread_mutex_lock(&log_lock);
	fprintf(stderr, "%02d:%02d:%02d.%03ld %s[%d]: ", tm.tm_hour, tm.tm_min, tm.tm_sec,
		ts.tv_nsec / 1000000, exo_progname, level);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	pthread_mutex_unlock(&log_lock);
	va_end(ap);
}
