/* Values of the interpreter and their Python behaviour: truthiness, str()
 * and repr(), json.dumps as transformers' tojson, equality and ordering,
 * float repr, and code-point arithmetic on UTF-8 strings. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>
#include "template/tmpl_impl.h"
#include "util/err.h"

int tp_terr(struct ctx *c, int line, const char *fmt, ...)
{
	char msg[700];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	for (char *p = msg; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';  /* one line, whatever raise_exception was given */
	if (c->e && c->e->code == 0)
		exo_error(c->e, EXO_DATAERR, "%s:%d: %s", c->t->name, line, msg);
	return -1;
}

struct val tp_v_undef(const char *name)
{
	return (struct val){ .k = V_UNDEF, .name = name };
}

struct val tp_v_json(json_t *j)
{
	return (struct val){ .k = V_JSON, .j = j };
}

struct val tp_v_new(struct ctx *c, json_t *fresh)
{
	return tp_v_json(tp_keep(c, fresh));
}

int tp_v_strcheck(struct ctx *c, int line, size_t n)
{
	if (n > TMPL_MAX_OUTPUT)
		return tp_terr(c, line, "string longer than %u bytes", TMPL_MAX_OUTPUT);
	c->alloced += n;
	if (c->alloced > TMPL_MAX_ALLOC)
		return tp_terr(c, line, "template built more than %u bytes of strings", TMPL_MAX_ALLOC);
	return 0;
}

struct val tp_v_str(struct ctx *c, const char *s, size_t n)
{
	return tp_v_new(c, json_stringn_nocheck(s ? s : "", n));
}

struct val tp_v_int(struct ctx *c, long long i)
{
	return tp_v_new(c, json_integer(i));
}

struct val tp_v_real(struct ctx *c, double d)
{
	return tp_v_new(c, json_real(d));
}

int tp_v_real_finite(struct ctx *c, int line, double d, struct val *out)
{
	if (!isfinite(d))
		return tp_terr(c, line, "unsupported: a float result that is not finite");
	*out = tp_v_real(c, d);
	return 0;
}

struct val tp_v_bool(bool b)
{
	return tp_v_json(b ? json_true() : json_false());  /* singletons: no reference to hold */
}

struct val tp_v_none(void)
{
	return tp_v_json(json_null());
}

bool tp_v_is_str(const struct val *v)
{
	return v && v->k == V_JSON && json_is_string(v->j);
}

bool tp_v_is_num(const struct val *v)
{
	return v && v->k == V_JSON && json_is_number(v->j);
}

double tp_json_num(const json_t *j)
{
	if (json_is_integer(j))
		return (double)json_integer_value(j);
	if (json_is_real(j))
		return json_real_value(j);
	return json_is_true(j) ? 1 : 0;
}

bool tp_v_truthy(const struct val *v)
{
	if (v->k == V_UNDEF)
		return false;
	if (v->k != V_JSON || v->gen)
		return true;
	const json_t *j = v->j;
	switch (json_typeof(j)) {
	case JSON_NULL: case JSON_FALSE: return false;
	case JSON_TRUE: return true;
	case JSON_INTEGER: return json_integer_value(j) != 0;
	case JSON_REAL: return json_real_value(j) != 0;
	case JSON_STRING: return json_string_length(j) != 0;
	case JSON_ARRAY: return json_array_size(j) != 0;
	case JSON_OBJECT: return json_object_size(j) != 0;
	}
	return false;
}

const char *tp_v_typename(const struct val *v)
{
	switch (v->k) {
	case V_UNDEF: return "undefined";
	case V_NS: return "Namespace";
	case V_MACRO: return "Macro";
	case V_FUNC: return "function";
	case V_LOOP: return "LoopContext";
	case V_JSON: break;
	}
	switch (json_typeof(v->j)) {
	case JSON_NULL: return "NoneType";
	case JSON_TRUE: case JSON_FALSE: return "bool";
	case JSON_INTEGER: return "int";
	case JSON_REAL: return "float";
	case JSON_STRING: return "str";
	case JSON_ARRAY: return "list";
	case JSON_OBJECT: return "dict";
	}
	return "object";
}

/* Python's repr(float): the shortest digits that read back the same, in
 * fixed notation for exponents -4..15 and scientific otherwise. */
void tp_py_float_repr(double d, struct strbuf *b)
{
	if (isnan(d)) {
		strbuf_addstr(b, "nan");
		return;
	}
	if (isinf(d)) {
		strbuf_addstr(b, d < 0 ? "-inf" : "inf");
		return;
	}
	char buf[64];
	int prec;
	for (prec = 1; prec < 17; prec++) {
		snprintf(buf, sizeof buf, "%.*e", prec - 1, d);
		if (strtod(buf, NULL) == d)
			break;
	}
	snprintf(buf, sizeof buf, "%.*e", prec - 1, d);
	/* buf: [-]D[.DDD]e[+-]XX */
	char digits[32];
	int nd = 0;
	const char *p = buf;
	bool neg = *p == '-';
	if (neg)
		p++;
	for (; *p && *p != 'e'; p++)
		if (*p != '.')
			digits[nd++] = *p;
	int exp = atoi(p + 1);
	while (nd > 1 && digits[nd - 1] == '0')
		nd--;
	digits[nd] = 0;
	if (neg)
		strbuf_addch(b, '-');
	if (exp < -4 || exp >= 16) {
		strbuf_addch(b, digits[0]);
		if (nd > 1) {
			strbuf_addch(b, '.');
			strbuf_addstr(b, digits + 1);
		}
		snprintf(buf, sizeof buf, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
		strbuf_addstr(b, buf);
	} else if (exp < 0) {
		strbuf_addstr(b, "0.");
		for (int i = 0; i < -exp - 1; i++)
			strbuf_addch(b, '0');
		strbuf_addstr(b, digits);
	} else {
		for (int i = 0; i <= exp; i++)
			strbuf_addch(b, i < nd ? digits[i] : '0');
		strbuf_addch(b, '.');
		if (nd > exp + 1)
			strbuf_addstr(b, digits + exp + 1);
		else
			strbuf_addch(b, '0');
	}
}

/* Decode one UTF-8 sequence at s (n bytes left); invalid bytes read as
 * themselves (one byte, cp = -1). */
static int utf8_next(const char *s, size_t n, int32_t *cp)
{
	utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, cp);
	if (k <= 0) {
		*cp = -1;
		return 1;
	}
	return (int)k;
}

size_t tp_utf8_len(const char *s, size_t n)
{
	size_t count = 0;
	for (size_t i = 0; i < n; count++) {
		int32_t cp;
		i += (size_t)utf8_next(s + i, n - i, &cp);
	}
	return count;
}

size_t tp_utf8_offset(const char *s, size_t n, long long cp)
{
	size_t i = 0;
	for (long long k = 0; k < cp && i < n; k++) {
		int32_t c;
		i += (size_t)utf8_next(s + i, n - i, &c);
	}
	return i;
}

static bool py_printable(int32_t cp)
{
	if (cp == ' ')
		return true;
	if (cp < 0)
		return false;
	switch (utf8proc_category(cp)) {
	case UTF8PROC_CATEGORY_CC: case UTF8PROC_CATEGORY_CF: case UTF8PROC_CATEGORY_CS:
	case UTF8PROC_CATEGORY_CO: case UTF8PROC_CATEGORY_CN: case UTF8PROC_CATEGORY_ZL:
	case UTF8PROC_CATEGORY_ZP: case UTF8PROC_CATEGORY_ZS:
		return false;
	default:
		return true;
	}
}

static void str_repr(const char *s, size_t n, struct strbuf *b)
{
	bool has_sq = memchr(s, '\'', n) != NULL, has_dq = memchr(s, '"', n) != NULL;
	char q = has_sq && !has_dq ? '"' : '\'';
	strbuf_addch(b, q);
	for (size_t i = 0; i < n;) {
		int32_t cp;
		int k = utf8_next(s + i, n - i, &cp);
		char esc[16];
		if (cp == q || cp == '\\') {
			strbuf_addch(b, '\\');
			strbuf_addch(b, (char)cp);
		} else if (cp == '\n') {
			strbuf_addstr(b, "\\n");
		} else if (cp == '\r') {
			strbuf_addstr(b, "\\r");
		} else if (cp == '\t') {
			strbuf_addstr(b, "\\t");
		} else if (cp < 0) {
			snprintf(esc, sizeof esc, "\\x%02x", (unsigned char)s[i]);
			strbuf_addstr(b, esc);
		} else if (!py_printable(cp)) {
			if (cp < 0x100)
				snprintf(esc, sizeof esc, "\\x%02x", cp);
			else if (cp < 0x10000)
				snprintf(esc, sizeof esc, "\\u%04x", cp);
			else
				snprintf(esc, sizeof esc, "\\U%08x", cp);
			strbuf_addstr(b, esc);
		} else {
			strbuf_add(b, s + i, (size_t)k);
		}
		i += (size_t)k;
	}
	strbuf_addch(b, q);
}

/* Python repr of a JSON value: what Jinja prints for lists and dicts. */
void tp_json_repr(const json_t *j, struct strbuf *b)
{
	char buf[32];
	switch (json_typeof(j)) {
	case JSON_NULL: strbuf_addstr(b, "None"); break;
	case JSON_TRUE: strbuf_addstr(b, "True"); break;
	case JSON_FALSE: strbuf_addstr(b, "False"); break;
	case JSON_INTEGER:
		snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(j));
		strbuf_addstr(b, buf);
		break;
	case JSON_REAL: tp_py_float_repr(json_real_value(j), b); break;
	case JSON_STRING: str_repr(json_string_value(j), json_string_length(j), b); break;
	case JSON_ARRAY: {
		strbuf_addch(b, '[');
		for (size_t i = 0; i < json_array_size(j); i++) {
			if (i)
				strbuf_addstr(b, ", ");
			tp_json_repr(json_array_get(j, i), b);
		}
		strbuf_addch(b, ']');
		break;
	}
	case JSON_OBJECT: {
		const char *k;
		json_t *v;
		bool first = true;
		strbuf_addch(b, '{');
		json_object_foreach((json_t *)j, k, v) {
			if (!first)
				strbuf_addstr(b, ", ");
			first = false;
			str_repr(k, strlen(k), b);
			strbuf_addstr(b, ": ");
			tp_json_repr(v, b);
		}
		strbuf_addch(b, '}');
		break;
	}
	}
}

int tp_v_to_str(struct ctx *c, int line, const struct val *v, struct strbuf *b)
{
	switch (v->k) {
	case V_UNDEF: return 0;
	case V_NS: strbuf_addstr(b, "<Namespace>"); return 0;
	case V_MACRO: strbuf_addstr(b, "<Macro>"); return 0;
	case V_FUNC: strbuf_addstr(b, "<function>"); return 0;
	case V_LOOP: strbuf_addstr(b, "<LoopContext>"); return 0;
	case V_JSON: break;
	}
	if (v->gen)
		strbuf_addstr(b, "<generator object>");
	else if (json_is_string(v->j))
		strbuf_add(b, json_string_value(v->j), json_string_length(v->j));
	else
		tp_json_repr(v->j, b);
	return 0;
}

static void json_str_escaped(const char *s, size_t n, bool ascii, struct strbuf *b)
{
	strbuf_addch(b, '"');
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		char esc[16];
		if (ascii && ch >= 0x80) {
			int32_t cp;
			int k = utf8_next(s + i, n - i, &cp);
			if (cp < 0)
				cp = 0xFFFD;
			if (cp >= 0x10000)
				snprintf(esc, sizeof esc, "\\u%04x\\u%04x", 0xD800 + ((cp - 0x10000) >> 10),
					 0xDC00 + ((cp - 0x10000) & 0x3FF));
			else
				snprintf(esc, sizeof esc, "\\u%04x", cp);
			strbuf_addstr(b, esc);
			i += (size_t)k - 1;
			continue;
		}
		switch (ch) {
		case '"': strbuf_addstr(b, "\\\""); break;
		case '\\': strbuf_addstr(b, "\\\\"); break;
		case '\n': strbuf_addstr(b, "\\n"); break;
		case '\r': strbuf_addstr(b, "\\r"); break;
		case '\t': strbuf_addstr(b, "\\t"); break;
		case '\b': strbuf_addstr(b, "\\b"); break;
		case '\f': strbuf_addstr(b, "\\f"); break;
		default:
			if (ch < 0x20) {
				snprintf(esc, sizeof esc, "\\u%04x", ch);
				strbuf_addstr(b, esc);
			} else {
				strbuf_addch(b, (char)ch);
			}
		}
	}
	strbuf_addch(b, '"');
}

static void newline_indent(struct strbuf *b, int indent, int level)
{
	strbuf_addch(b, '\n');
	for (int i = 0; i < indent * level; i++)
		strbuf_addch(b, ' ');
}

static int key_order(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int dump(const json_t *j, const struct json_style *st, int level, struct strbuf *b);

/* Before the i-th element of a container: separator, newline and indent. */
static void element_start(const struct json_style *st, size_t i, int level, struct strbuf *b)
{
	if (i)
		strbuf_addstr(b, st->item_sep);
	if (st->indent >= 0)
		newline_indent(b, st->indent, level + 1);
}

static int dump_object(const json_t *j, const struct json_style *st, int level, struct strbuf *b)
{
	size_t n = json_object_size(j), k = 0;
	const char **keys = xmalloc((n + 1) * sizeof *keys);
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)j, key, v)
		keys[k++] = key;
	if (st->sort_keys)
		qsort(keys, n, sizeof *keys, key_order);
	strbuf_addch(b, '{');
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		element_start(st, i, level, b);
		json_str_escaped(keys[i], strlen(keys[i]), st->ensure_ascii, b);
		strbuf_addstr(b, st->key_sep);
		rc = dump(json_object_get(j, keys[i]), st, level + 1, b);
	}
	free(keys);
	if (st->indent >= 0)
		newline_indent(b, st->indent, level);
	strbuf_addch(b, '}');
	return rc;
}

static int dump(const json_t *j, const struct json_style *st, int level, struct strbuf *b)
{
	char buf[32];
	if (level > TMPL_MAX_DEPTH)
		return -1;
	switch (json_typeof(j)) {
	case JSON_NULL: strbuf_addstr(b, "null"); return 0;
	case JSON_TRUE: strbuf_addstr(b, "true"); return 0;
	case JSON_FALSE: strbuf_addstr(b, "false"); return 0;
	case JSON_INTEGER:
		snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(j));
		strbuf_addstr(b, buf);
		return 0;
	case JSON_REAL: {
		double d = json_real_value(j);
		if (isnan(d))
			strbuf_addstr(b, "NaN");
		else if (isinf(d))
			strbuf_addstr(b, d < 0 ? "-Infinity" : "Infinity");
		else
			tp_py_float_repr(d, b);
		return 0;
	}
	case JSON_STRING: json_str_escaped(json_string_value(j), json_string_length(j), st->ensure_ascii, b); return 0;
	case JSON_ARRAY:
		if (json_array_size(j) == 0) {
			strbuf_addstr(b, "[]");
			return 0;
		}
		strbuf_addch(b, '[');
		for (size_t i = 0; i < json_array_size(j); i++) {
			element_start(st, i, level, b);
			if (dump(json_array_get(j, i), st, level + 1, b) < 0)
				return -1;
		}
		if (st->indent >= 0)
			newline_indent(b, st->indent, level);
		strbuf_addch(b, ']');
		return 0;
	case JSON_OBJECT:
		if (json_object_size(j) == 0) {
			strbuf_addstr(b, "{}");
			return 0;
		}
		return dump_object(j, st, level, b);
	}
	return -1;
}

/* json.dumps(j, ensure_ascii=False, ...) as transformers' tojson. */
int tp_tojson_dump(const json_t *j, const struct json_style *st, struct strbuf *b)
{
	struct json_style s = *st;
	if (!s.item_sep)
		s.item_sep = s.indent >= 0 ? "," : ", ";
	if (!s.key_sep)
		s.key_sep = ": ";
	return dump(j, &s, 0, b);
}

bool tp_json_equal_py(const json_t *a, const json_t *b)
{
	if (json_is_number(a) && json_is_number(b)) {
		if (json_is_integer(a) && json_is_integer(b))
			return json_integer_value(a) == json_integer_value(b);
		return tp_json_num(a) == tp_json_num(b);
	}
	/* Python: True == 1 */
	if ((json_is_boolean(a) && json_is_number(b)) || (json_is_number(a) && json_is_boolean(b)))
		return tp_json_num(a) == tp_json_num(b);
	if (json_typeof(a) != json_typeof(b))
		return false;
	if (json_is_array(a)) {
		if (json_array_size(a) != json_array_size(b))
			return false;
		for (size_t i = 0; i < json_array_size(a); i++)
			if (!tp_json_equal_py(json_array_get(a, i), json_array_get(b, i)))
				return false;
		return true;
	}
	if (json_is_object(a)) {
		if (json_object_size(a) != json_object_size(b))
			return false;
		const char *k;
		json_t *v;
		json_object_foreach((json_t *)a, k, v) {
			json_t *w = json_object_get(b, k);
			if (!w || !tp_json_equal_py(v, w))
				return false;
		}
		return true;
	}
	return json_equal(a, b);
}

int tp_json_cmp_py(const json_t *a, const json_t *b, int *res)
{
	bool an = json_is_number(a) || json_is_boolean(a), bn = json_is_number(b) || json_is_boolean(b);
	if (an && bn) {
		if (json_is_integer(a) && json_is_integer(b)) {
			long long x = json_integer_value(a), y = json_integer_value(b);
			*res = x < y ? -1 : x > y;
		} else {
			double x = tp_json_num(a), y = tp_json_num(b);
			*res = x < y ? -1 : x > y;
		}
		return 0;
	}
	if (json_is_string(a) && json_is_string(b)) {
		size_t la = json_string_length(a), lb = json_string_length(b);
		int r = memcmp(json_string_value(a), json_string_value(b), la < lb ? la : lb);
		*res = r ? (r < 0 ? -1 : 1) : (la < lb ? -1 : la > lb);
		return 0;
	}
	if (json_is_array(a) && json_is_array(b)) {
		size_t la = json_array_size(a), lb = json_array_size(b);
		for (size_t i = 0; i < la && i < lb; i++) {
			if (tp_json_equal_py(json_array_get(a, i), json_array_get(b, i)))
				continue;
			return tp_json_cmp_py(json_array_get(a, i), json_array_get(b, i), res);
		}
		*res = la < lb ? -1 : la > lb;
		return 0;
	}
	return -1;
}

/* Each node visited costs a step of *budget: -1 when it runs out. */
static int contains(const json_t *hay, const json_t *needle, long *budget)
{
	int r = 0;
	if (--*budget < 0)
		return -1;
	if (hay == needle)
		return 1;
	if (json_is_array(hay)) {
		for (size_t i = 0; i < json_array_size(hay) && !r; i++)
			r = contains(json_array_get(hay, i), needle, budget);
	} else if (json_is_object(hay)) {
		const char *k;
		json_t *v;
		json_object_foreach((json_t *)hay, k, v)
			if ((r = contains(v, needle, budget)) != 0)
				break;
	}
	return r;
}

int tp_json_contains(struct ctx *c, int line, const json_t *hay, const json_t *needle)
{
	long budget = TMPL_MAX_STEPS - c->steps;
	int r = contains(hay, needle, &budget);
	c->steps = TMPL_MAX_STEPS - budget;
	if (r < 0)
		return tp_terr(c, line, "template ran more than %ld steps", TMPL_MAX_STEPS);
	return r;
}
