/* Records: construction, format names, and the small helpers every format
 * shares (type names for messages, the nesting limit). */
#include "records/rec_int.h"

#include <string.h>
#include <unistd.h>

json_t *rec_new(const char *kind)
{
	return json_pack("{s:s, s:i}", "kind", kind, "v", (json_int_t)REC_VERSION);
}

const char *rec_kind(const json_t *rec)
{
	return json_string_value(json_object_get(rec, "kind"));
}

const char *rec_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "object";
	case JSON_ARRAY: return "array";
	case JSON_STRING: return "string";
	case JSON_INTEGER: return "integer";
	case JSON_REAL: return "real";
	case JSON_TRUE:
	case JSON_FALSE: return "bool";
	default: return "null";
	}
}

void rec_msg_clean(char *msg)
{
	for (unsigned char *p = (unsigned char *)msg; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			*p = '?';
}

/* Deepest container level under v (v itself counts when it is one). */
static int depth_of(const json_t *v, int max)
{
	int d = 0;
	if (json_is_object(v)) {
		const char *k;
		json_t *x;
		json_object_foreach((json_t *)v, k, x) {
			int c = depth_of(x, max);
			d = c > d ? c : d;
			if (d >= max)
				break;
		}
		return d + 1;
	}
	if (json_is_array(v)) {
		size_t i;
		json_t *x;
		json_array_foreach(v, i, x) {
			int c = depth_of(x, max);
			d = c > d ? c : d;
			if (d >= max)
				break;
		}
		return d + 1;
	}
	return 0;
}

int rec_depth_check(const json_t *v, int max, struct exo_err *e)
{
	if (depth_of(v, max) > max)
		return exo_error(e, EXO_DATAERR, "nested deeper than %d levels", max);
	return 0;
}

int rec_format_parse(const char *name)
{
	static const char *const names[] = {
		[REC_MSGPACK] = "msgpack", [REC_JSON] = "json", [REC_YAML] = "yaml", [REC_TEXT] = "text",
	};
	for (int f = REC_MSGPACK; f <= REC_TEXT; f++)
		if (name && strcmp(name, names[f]) == 0)
			return f;
	return -1;
}

enum rec_format rec_format_resolve(enum rec_format f, int fd)
{
	if (f != REC_AUTO)
		return f;
	return isatty(fd) ? REC_TEXT : REC_MSGPACK;
}
