/* The text listing for a terminal: a header line with the kind and the
 * record's name, then aligned "key  value" lines; nested objects indented,
 * arrays of scalars on one line, arrays of objects as small tables.  Sizes in
 * bytes also show a human form: "17179869184 (16.0 GiB)".  For people only:
 * nothing reads this format back. */
#include "records/rec_int.h"
#include "util/human.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Integer keys that hold a number of bytes. */
static int is_size_key(const char *k)
{
	if (!k || strstr(k, "bandwidth") || strstr(k, "per_s"))
		return 0;
	return strstr(k, "bytes") || strncmp(k, "mem_", 4) == 0;
}

/* " (1.5 KiB)" after a size of 1 KiB or more */
static void human(FILE *f, long long n)
{
	char buf[32];
	if (n > -1024 && n < 1024)
		return;
	human_bytes(buf, sizeof buf, n < 0 ? -(double)n : (double)n);
	fprintf(f, " (%s%s)", n < 0 ? "-" : "", buf);
}

static void scalar(FILE *f, const char *key, const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_STRING: fputs(json_string_value(v), f); break;
	case JSON_INTEGER:
		fprintf(f, "%lld", (long long)json_integer_value(v));
		if (is_size_key(key))
			human(f, (long long)json_integer_value(v));
		break;
	case JSON_REAL: fprintf(f, "%g", json_real_value(v)); break;
	case JSON_TRUE: fputs("true", f); break;
	case JSON_FALSE: fputs("false", f); break;
	case JSON_NULL: fputs("-", f); break;
	default: {
		char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		fputs(s ? s : "?", f);
		free(s);
	}
	}
}

/* A cell of a table, or a value on one line: as scalar() prints it. */
static char *cell(const char *key, const json_t *v)
{
	char *s = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&s, &n);
	if (!f)
		return NULL;
	scalar(f, key, v);
	fclose(f);
	return s;
}

static int all_of(const json_t *arr, int (*pred)(const json_t *))
{
	size_t i;
	json_t *x;
	json_array_foreach(arr, i, x)
		if (!pred(x))
			return 0;
	return 1;
}

static int is_obj(const json_t *v) { return json_is_object(v); }
static int is_scalar(const json_t *v) { return !json_is_object(v) && !json_is_array(v); }

/* Columns: the keys of all the objects, in first-seen order. */
static json_t *columns(const json_t *arr)
{
	json_t *cols = json_object(), *o, *x;
	size_t i;
	const char *k;
	json_array_foreach(arr, i, o)
		json_object_foreach(o, k, x)
			json_object_set_new(cols, k, json_integer((json_int_t)strlen(k)));
	json_array_foreach(arr, i, o)
		json_object_foreach(o, k, x) {
			char *c = cell(k, x);
			size_t w = c ? strlen(c) : 1;
			if ((json_int_t)w > json_integer_value(json_object_get(cols, k)))
				json_object_set_new(cols, k, json_integer((json_int_t)w));
			free(c);
		}
	return cols;
}

/* Two spaces between columns, none after the last so lines end cleanly. */
static const char *f_sep(json_t *cols, const char *k)
{
	return json_object_iter_key(json_object_iter(cols)) == k ? "" : "  ";
}

static int last(json_t *cols, const char *k)
{
	void *it = json_object_iter_at(cols, k);
	return json_object_iter_next(cols, it) == NULL;
}

static void table(FILE *f, const json_t *arr, int indent)
{
	json_t *cols = columns(arr), *o, *w;
	const char *k;
	size_t i;
	fprintf(f, "%*s", indent, "");
	json_object_foreach(cols, k, w)
		fprintf(f, "%s%-*s", f_sep(cols, k), last(cols, k) ? 0 : (int)json_integer_value(w), k);
	fputc('\n', f);
	json_array_foreach(arr, i, o) {
		fprintf(f, "%*s", indent, "");
		json_object_foreach(cols, k, w) {
			const json_t *x = json_object_get(o, k);
			char *c = x ? cell(k, x) : NULL;
			fprintf(f, "%s%-*s", f_sep(cols, k), last(cols, k) ? 0 : (int)json_integer_value(w),
				c ? c : "");
			free(c);
		}
		fputc('\n', f);
	}
	json_decref(cols);
}

static void list(FILE *f, const json_t *obj, int indent);

static void array_line(FILE *f, const char *key, const json_t *arr)
{
	size_t i;
	json_t *x;
	json_array_foreach(arr, i, x) {
		fputs(i ? ", " : "", f);
		scalar(f, key, x);
	}
}

static void entry(FILE *f, const char *k, const json_t *v, int width, int indent)
{
	int empty = (json_is_array(v) && json_array_size(v) == 0) ||
		    (json_is_object(v) && json_object_size(v) == 0);
	int block = !empty && (json_is_object(v) || (json_is_array(v) && all_of(v, is_obj)));
	fprintf(f, "%*s%-*s", indent, "", block ? 0 : width, k);
	if (empty) {
		fputs("  (none)\n", f);
	} else if (json_is_object(v)) {
		fputc('\n', f);
		list(f, v, indent + 2);
	} else if (json_is_array(v) && all_of(v, is_obj)) {
		fputc('\n', f);
		table(f, v, indent + 2);
	} else if (json_is_array(v) && all_of(v, is_scalar)) {
		fputs("  ", f);
		array_line(f, k, v);
		fputc('\n', f);
	} else {
		fputs("  ", f);
		scalar(f, k, v);
		fputc('\n', f);
	}
}

/* "key  value" lines, keys padded to the longest; kind and v are in the header. */
static void list(FILE *f, const json_t *obj, int indent)
{
	const char *k;
	json_t *v;
	int width = 0;
	json_object_foreach((json_t *)obj, k, v)
		if ((int)strlen(k) > width)
			width = (int)strlen(k);
	json_object_foreach((json_t *)obj, k, v)
		if (indent || (strcmp(k, "kind") != 0 && strcmp(k, "v") != 0))
			entry(f, k, v, width, indent);
}

static const char *title(const json_t *rec)
{
	static const char *const keys[] = { "name", "id", "model", "subject", "code", NULL };
	for (const char *const *k = keys; *k; k++)
		if (json_is_string(json_object_get(rec, *k)))
			return json_string_value(json_object_get(rec, *k));
	return "";
}

int rec_to_text(const json_t *rec, char **buf, size_t *len, struct exo_err *e)
{
	char *s = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&s, &n);
	if (!f)
		return exo_error(e, EXO_SOFTWARE, "text: out of memory");
	const char *kind = rec_kind(rec);
	fprintf(f, "%s  %s\n", kind ? kind : "record", title(rec));
	list(f, rec, 0);
	fputc('\n', f);
	fclose(f);
	char *nb = s ? realloc(*buf, *len + n + 1) : NULL;
	if (!nb) {
		free(s);
		return exo_error(e, EXO_SOFTWARE, "text: out of memory");
	}
	memcpy(nb + *len, s, n + 1);
	*buf = nb;
	*len += n;
	free(s);
	return 0;
}
