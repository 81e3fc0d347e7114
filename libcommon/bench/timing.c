/* The clock, the budget of each figure, the statistics of its samples and
 * the record it becomes. */
#include "bench/internal.h"
#include "records/record.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double bench_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double bench_figure_end(struct bench_ctx *c)
{
	double now = bench_now(), left = c->suite_end - now;
	int n = c->figures_left > 0 ? c->figures_left : 1;
	if (c->figures_left > 0)
		c->figures_left--;
	return left > 0 ? now + left / n : now;
}

bool bench_out_of_time(struct bench_ctx *c, const char *what)
{
	if (bench_now() < c->end)
		return false;
	if (!c->out_of_time)
		bench_warn(c, "%s: out of time: %s and the figures after it skipped (raise --duration)",
			   c->suite, what);
	c->out_of_time = true;
	return true;
}

/* The next sample is predicted to take as long as the last one; a little
 * slack keeps a run of many short figures from creeping past its end. */
bool bench_fits(double until, double last)
{
	return bench_now() + last * 1.05 <= until;
}

void bench_progress(struct bench_ctx *c, const char *what)
{
	if (!c->o->progress)
		return;
	double span = c->end - c->start, done = span > 0 ? (bench_now() - c->start) / span : 1;
	char line[256];
	snprintf(line, sizeof line, "%s: %s", c->suite, what);
	c->o->progress(c->o->arg, done < 0 ? 0 : done > 1 ? 1 : done, line);
}

void bench_warn(struct bench_ctx *c, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (c->o->warn)
		c->o->warn(c->o->arg, msg);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

void bench_stats_of(const double *v, int n, struct bench_stats *s)
{
	memset(s, 0, sizeof *s);
	if (n <= 0)
		return;
	double *t = malloc((size_t)n * sizeof *t);
	if (!t)
		return;
	memcpy(t, v, (size_t)n * sizeof *t);
	qsort(t, (size_t)n, sizeof *t, cmp_double);
	s->n = n;
	s->min = t[0];
	s->max = t[n - 1];
	s->median = n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
	free(t);
}

int bench_emit_figure(struct bench_ctx *c, const struct bench_figure *f, json_t *extra)
{
	struct bench_stats s;
	bench_stats_of(f->samples, f->n, &s);
	if (s.n == 0) {
		json_decref(extra);
		return 0;
	}
	double value = !f->best ? s.median : f->lower_better ? s.min : s.max;
	json_t *r = rec_new("bench");
	json_object_set_new(r, "suite", json_string(c->suite));
	json_object_set_new(r, "name", json_string(f->name));
	json_object_set_new(r, "value", json_real(value));
	if (c->o->node)
		json_object_set_new(r, "node", json_string(c->o->node));
	json_object_set_new(r, "min", json_real(s.min));
	json_object_set_new(r, "median", json_real(s.median));
	json_object_set_new(r, "max", json_real(s.max));
	json_object_set_new(r, "samples", json_integer(s.n));
	json_object_set_new(r, "seconds", json_real(f->seconds));
	if (f->threads > 0)
		json_object_set_new(r, "threads", json_integer(f->threads));
	if (f->bytes > 0)
		json_object_set_new(r, "bytes", json_integer(f->bytes));
	if (extra) {
		json_object_update(r, extra);
		json_decref(extra);
	}
	return c->o->emit(c->o->arg, r, c->e);
}
