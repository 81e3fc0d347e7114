/* YAML: the type resolution of plain scalars (shared by the reader and the
 * writer so that they agree) and the emitter, through libyaml's event API.
 * A string that would read back as anything but a string is quoted; reals are
 * printed in the shortest form that reads back to the same double, with a
 * ".0" when that form would look like an integer. */
#include "records/rec_int.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

static int one_of(const char *s, size_t n, const char *const *words)
{
	for (; *words; words++)
		if (strlen(*words) == n && memcmp(*words, s, n) == 0)
			return 1;
	return 0;
}

static size_t digits(const char *s, size_t n, size_t i)
{
	while (i < n && isdigit((unsigned char)s[i]))
		i++;
	return i;
}

/* YAML 1.2 core schema: [-+]?[0-9]+ is an integer. */
static int is_int(const char *s, size_t n)
{
	size_t i = n && (s[0] == '-' || s[0] == '+');
	return i < n && digits(s, n, i) == n;
}

/* [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? with a dot or an exponent. */
static int is_float(const char *s, size_t n)
{
	size_t i = n && (s[0] == '-' || s[0] == '+'), j = digits(s, n, i);
	int mant = j > i, dot = 0;
	if (j < n && s[j] == '.') {
		size_t k = digits(s, n, j + 1);
		mant |= k > j + 1;
		dot = 1;
		j = k;
	}
	if (!mant)
		return 0;
	if (j < n && (s[j] == 'e' || s[j] == 'E')) {
		size_t k = j + 1 + (j + 1 < n && (s[j + 1] == '-' || s[j + 1] == '+'));
		size_t m = digits(s, n, k);
		if (m == k)
			return 0;
		return m == n;
	}
	return dot && j == n;
}

json_t *rec_yaml_resolve(const char *s, size_t n, int *err)
{
	static const char *const nulls[] = { "", "~", "null", "Null", "NULL", NULL };
	static const char *const trues[] = { "true", "True", "TRUE", NULL };
	static const char *const falses[] = { "false", "False", "FALSE", NULL };
	char num[64];
	*err = 0;
	if (one_of(s, n, nulls))
		return json_null();
	if (one_of(s, n, trues) || one_of(s, n, falses))
		return json_boolean(one_of(s, n, trues));
	if (n >= sizeof num || !(is_int(s, n) || is_float(s, n)))
		return NULL;
	memcpy(num, s, n);
	num[n] = '\0';
	errno = 0;
	if (is_int(s, n)) {
		long long v = strtoll(num, NULL, 10);
		*err = errno == ERANGE;
		return *err ? NULL : json_integer(v);
	}
	double d = strtod(num, NULL);
	*err = !isfinite(d);
	return *err ? NULL : json_real(d);
}

/* Strings to quote: those the resolver would not read back as strings, and,
 * for other YAML readers, YAML 1.1 booleans and anything strtod accepts. */
static int needs_quotes(const char *s, size_t n)
{
	static const char *const yaml11[] = { "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No",
		"NO", "on", "On", "ON", "off", "Off", "OFF", NULL };
	int err;
	json_t *v = rec_yaml_resolve(s, n, &err);
	if (v || err || one_of(s, n, yaml11) || (n && s[0] == '.')) {
		json_decref(v);
		return 1;
	}
	char *end;
	char tmp[64];
	if (n == 0 || n >= sizeof tmp)
		return 0;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	strtod(tmp, &end);
	return *end == '\0';
}

/* Shortest %.Ng (N = 15..17) that reads back to d, with ".0" if it has no '.' or 'e'. */
static void format_real(double d, char *buf, size_t size)
{
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(buf, size, "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			break;
	}
	if (!strpbrk(buf, ".eE"))
		strncat(buf, ".0", size - strlen(buf) - 1);
}

struct out {
	char **buf;
	size_t *len;
};

static int write_handler(void *data, unsigned char *bytes, size_t size)
{
	struct out *o = data;
	char *nb = realloc(*o->buf, *o->len + size + 1);
	if (!nb)
		return 0;
	memcpy(nb + *o->len, bytes, size);
	*o->len += size;
	nb[*o->len] = '\0';
	*o->buf = nb;
	return 1;
}

static int emit_scalar(yaml_emitter_t *em, const char *s, size_t n, int is_string)
{
	yaml_event_t ev;
	int quote = is_string && needs_quotes(s, n);
	yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)n, !quote, 1,
				     quote ? YAML_DOUBLE_QUOTED_SCALAR_STYLE : YAML_ANY_SCALAR_STYLE);
	return yaml_emitter_emit(em, &ev);
}

static int emit(yaml_emitter_t *em, const json_t *v);

static int emit_container(yaml_emitter_t *em, const json_t *v)
{
	yaml_event_t ev;
	const char *k;
	json_t *x;
	size_t i;
	if (json_is_array(v)) {
		yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_ANY_SEQUENCE_STYLE);
		if (!yaml_emitter_emit(em, &ev))
			return 0;
		json_array_foreach(v, i, x)
			if (!emit(em, x))
				return 0;
		yaml_sequence_end_event_initialize(&ev);
		return yaml_emitter_emit(em, &ev);
	}
	yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_ANY_MAPPING_STYLE);
	if (!yaml_emitter_emit(em, &ev))
		return 0;
	json_object_foreach((json_t *)v, k, x)
		if (!emit_scalar(em, k, strlen(k), 1) || !emit(em, x))
			return 0;
	yaml_mapping_end_event_initialize(&ev);
	return yaml_emitter_emit(em, &ev);
}

static int emit(yaml_emitter_t *em, const json_t *v)
{
	char num[64];
	switch (json_typeof(v)) {
	case JSON_STRING: return emit_scalar(em, json_string_value(v), json_string_length(v), 1);
	case JSON_INTEGER:
		snprintf(num, sizeof num, "%lld", (long long)json_integer_value(v));
		return emit_scalar(em, num, strlen(num), 0);
	case JSON_REAL:
		format_real(json_real_value(v), num, sizeof num);
		return emit_scalar(em, num, strlen(num), 0);
	case JSON_TRUE: return emit_scalar(em, "true", 4, 0);
	case JSON_FALSE: return emit_scalar(em, "false", 5, 0);
	case JSON_NULL: return emit_scalar(em, "null", 4, 0);
	default: return emit_container(em, v);
	}
}

/* One document: "---" then the record, from a fresh emitter so that nothing
 * is held back between records. */
static int emit_document(yaml_emitter_t *em, const json_t *rec)
{
	yaml_event_t ev;
	yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
	if (!yaml_emitter_emit(em, &ev))
		return 0;
	yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 0);
	if (!yaml_emitter_emit(em, &ev) || !emit(em, rec))
		return 0;
	yaml_document_end_event_initialize(&ev, 1);
	if (!yaml_emitter_emit(em, &ev))
		return 0;
	yaml_stream_end_event_initialize(&ev);
	return yaml_emitter_emit(em, &ev);
}

int rec_to_yaml(const json_t *rec, char **buf, size_t *len, struct exo_err *e)
{
	yaml_emitter_t em;
	struct out o = { buf, len };
	size_t old = *len;
	if (!yaml_emitter_initialize(&em))
		return exo_error(e, EXO_SOFTWARE, "yaml: out of memory");
	yaml_emitter_set_output(&em, write_handler, &o);
	yaml_emitter_set_unicode(&em, 1);
	yaml_emitter_set_width(&em, -1);
	int ok = emit_document(&em, rec) && yaml_emitter_flush(&em);
	if (!ok) {
		*len = old;
		exo_error(e, EXO_SOFTWARE, "yaml: %s", em.problem ? em.problem : "emitter error");
	}
	yaml_emitter_delete(&em);
	return ok ? 0 : -1;
}
