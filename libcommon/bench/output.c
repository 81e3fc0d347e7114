/* How bench records look to people and spreadsheets: a table in the style
 * of llama-bench's markdown (one row a figure, the value in a readable unit
 * with the spread beside it) and CSV with a header line.  The unit of a
 * figure comes from its name's suffix. */
#include "bench/output.h"

#include <stdio.h>
#include <string.h>

struct unit {
	const char *suffix, *label;
	double scale;
};
static const struct unit units[] = {
	{ "_bytes_per_s", "GB/s", 1e-9 },   { "_flop_per_s", "GFLOP/s", 1e-9 },
	{ "_tokens_per_s", "t/s", 1 },     { "_seconds", "us", 1e6 },
};

static const struct unit *unit_of(const char *name, size_t *stem)
{
	size_t n = strlen(name);
	for (size_t i = 0; i < sizeof units / sizeof *units; i++) {
		size_t s = strlen(units[i].suffix);
		if (n > s && strcmp(name + n - s, units[i].suffix) == 0) {
			*stem = n - s;
			return &units[i];
		}
	}
	*stem = n;
	return NULL;
}

static double num(const json_t *r, const char *key)
{
	return json_number_value(json_object_get(r, key));
}

static void row(FILE *f, const json_t *r)
{
	const char *name = json_string_value(json_object_get(r, "name"));
	const char *suite = json_string_value(json_object_get(r, "suite"));
	size_t stem;
	const struct unit *u = unit_of(name ? name : "?", &stem);
	double k = u ? u->scale : 1;
	char test[96], threads[16] = "";
	snprintf(test, sizeof test, "%.*s", (int)stem, name ? name : "?");
	const json_t *batch = json_object_get(r, "batch"), *tokens = json_object_get(r, "tokens");
	if (batch && tokens && json_integer_value(batch) != json_integer_value(tokens))
		snprintf(test + strlen(test), sizeof test - strlen(test), " b%lld",
			 (long long)json_integer_value(batch));
	const json_t *peer = json_object_get(r, "peer");
	if (json_is_string(peer))
		snprintf(test + strlen(test), sizeof test - strlen(test), " %s", json_string_value(peer));
	if (json_object_get(r, "threads"))
		snprintf(threads, sizeof threads, "%lld", (long long)json_integer_value(json_object_get(r, "threads")));
	fprintf(f, "| %-9s | %-24s | %7s | %10.2f | %10.2f | %10.2f | %10.2f | %-7s | %7lld |\n",
		suite ? suite : "?", test, threads, num(r, "value") * k, num(r, "min") * k,
		num(r, "median") * k, num(r, "max") * k, u ? u->label : "", 
		(long long)json_integer_value(json_object_get(r, "samples")));
}

void bench_table_print(FILE *f, const json_t *recs)
{
	fprintf(f, "| %-9s | %-24s | %7s | %10s | %10s | %10s | %10s | %-7s | %7s |\n", "suite", "test",
		"threads", "value", "min", "median", "max", "unit", "samples");
	fprintf(f, "| --------- | ------------------------ | ------: | ---------: | ---------: "
		   "| ---------: | ---------: | ------- | ------: |\n");
	size_t i;
	json_t *r;
	json_array_foreach(recs, i, r)
		row(f, r);
}

static const char *const csv_cols[] = {
	"suite", "name", "value", "min", "median", "max", "samples", "seconds", "threads", "bytes",
	"node", "model", "dtype", "batch", "tokens", "file", "method", "peer",
};

void bench_csv_header(FILE *f)
{
	for (size_t i = 0; i < sizeof csv_cols / sizeof *csv_cols; i++)
		fprintf(f, "%s%s", i ? "," : "", csv_cols[i]);
	fputc('\n', f);
}

/* RFC 4180: quoted when it holds a comma, quote or line break. */
static void csv_string(FILE *f, const char *s)
{
	if (!strpbrk(s, ",\"\r\n")) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

void bench_csv_row(FILE *f, const json_t *r)
{
	for (size_t i = 0; i < sizeof csv_cols / sizeof *csv_cols; i++) {
		const json_t *v = json_object_get(r, csv_cols[i]);
		if (i)
			fputc(',', f);
		if (json_is_string(v))
			csv_string(f, json_string_value(v));
		else if (json_is_integer(v))
			fprintf(f, "%lld", (long long)json_integer_value(v));
		else if (json_is_real(v))
			fprintf(f, "%.17g", json_real_value(v));
	}
	fputc('\n', f);
}
