/* Methods of values (str, dict, list, the loop object) and the global
 * functions of transformers' template environment: range, namespace, dict,
 * raise_exception, strftime_now. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "template/tmpl_impl.h"

static bool is(const char *a, const char *b)
{
	return strcmp(a, b) == 0;
}

static int want_str(struct ctx *c, int line, const char *method, const struct val *v, const char **s, size_t *n)
{
	if (!v || !tp_v_is_str(v))
		return tp_terr(c, line, "%s() argument must be str, not %s", method, v ? tp_v_typename(v) : "nothing");
	*s = json_string_value(v->j);
	*n = json_string_length(v->j);
	return 0;
}

static int want_int(struct ctx *c, int line, const struct val *v, long long dflt, long long *out)
{
	*out = dflt;
	if (!v || (v->k == V_JSON && json_is_null(v->j)))
		return 0;
	if (v->k != V_JSON || !json_is_integer(v->j))
		return tp_terr(c, line, "an integer is required, not %s", tp_v_typename(v));
	*out = json_integer_value(v->j);
	return 0;
}

static struct val sb_val(struct ctx *c, struct strbuf *b)
{
	struct val v = tp_v_str(c, b->s, b->len);
	strbuf_release(b);
	return v;
}

static bool affix(const char *s, size_t n, const char *x, size_t nx, bool start)
{
	return nx <= n && !memcmp(start ? s : s + n - nx, x, nx);
}

static int str_affix(struct ctx *c, int line, const char *name, const char *s, size_t n, const struct val *x,
		     struct val *out)
{
	bool start = name[0] == 's', res = false;
	if (x && x->k == V_JSON && json_is_array(x->j)) {
		for (size_t i = 0; i < json_array_size(x->j); i++) {
			json_t *e = json_array_get(x->j, i);
			if (!json_is_string(e))
				return tp_terr(c, line, "%s: tuple for %s must only contain str", name, name);
			res |= affix(s, n, json_string_value(e), json_string_length(e), start);
		}
	} else {
		const char *p;
		size_t np;
		if (want_str(c, line, name, x, &p, &np) < 0)
			return -1;
		res = affix(s, n, p, np, start);
	}
	*out = tp_v_bool(res);
	return 0;
}

/* str.format: {} {0} {name}, {{ and }}; no format specs */
static int str_format(struct ctx *c, int line, const char *s, size_t n, const struct args *a, struct val *out)
{
	struct strbuf b = { 0 };
	size_t auto_idx = 0;
	for (size_t i = 0; i < n; i++) {
		if ((s[i] == '{' || s[i] == '}') && i + 1 < n && s[i + 1] == s[i]) {
			strbuf_addch(&b, s[i++]);
			continue;
		}
		if (s[i] == '}') {
			strbuf_release(&b);
			return tp_terr(c, line, "format: single '}' encountered in format string");
		}
		if (s[i] != '{') {
			strbuf_addch(&b, s[i]);
			continue;
		}
		const char *close = memchr(s + i, '}', n - i);
		if (!close) {
			strbuf_release(&b);
			return tp_terr(c, line, "format: single '{' encountered in format string");
		}
		char field[128];
		size_t fl = (size_t)(close - (s + i + 1));
		if (fl >= sizeof field || memchr(s + i + 1, ':', fl) || memchr(s + i + 1, '!', fl)) {
			strbuf_release(&b);
			return tp_terr(c, line, "unsupported: format field '%.*s'", (int)(fl < 100 ? fl : 100), s + i + 1);
		}
		memcpy(field, s + i + 1, fl);
		field[fl] = 0;
		const struct val *v = NULL;
		char *end;
		long idx = strtol(field, &end, 10);
		if (!*field)
			v = auto_idx < a->npos ? &a->pos[auto_idx++] : NULL;
		else if (!*end)
			v = idx >= 0 && (size_t)idx < a->npos ? &a->pos[idx] : NULL;
		else
			v = tp_arg_get(a, (size_t)-1, field);
		if (!v) {
			strbuf_release(&b);
			return tp_terr(c, line, "format: no argument for field '{%s}'", field);
		}
		tp_v_to_str(c, line, v, &b);
		i = (size_t)(close - s);
	}
	int rc = tp_v_strcheck(c, line, b.len);
	*out = sb_val(c, &b);
	return rc;
}

static bool all_chars(const char *s, size_t n, int kind)
{
	if (!n)
		return false;
	for (size_t i = 0; i < n;) {
		int32_t cp;
		int k = tp_utf8_decode(s + i, n - i, &cp);
		bool ok = kind == 's' ? tp_py_isspace(cp)
			: kind == 'd' ? (cp >= '0' && cp <= '9')
			: kind == 'a' ? ((cp | 32) >= 'a' && (cp | 32) <= 'z') || cp >= 0xc0
			: ((cp | 32) >= 'a' && (cp | 32) <= 'z') || (cp >= '0' && cp <= '9') || cp >= 0xc0;
		if (!ok)
			return false;
		i += (size_t)k;
	}
	return true;
}

/* The parameters of every method and global function: name is the one it
 * was called by, as some serve several names (strip, lstrip and rstrip ...);
 * obj is the value whose method it is (NULL for a global function). */
#define METHOD_PARAMS struct ctx *c, int line, const char *name, const struct val *obj, const struct args *a, \
		      struct val *out

struct method {
	const char *name;
	int (*fn)(METHOD_PARAMS);
};

#define NMETHODS(table) (sizeof table / sizeof *table)

static const struct method *method_find(const struct method *table, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (is(table[i].name, name))
			return &table[i];
	return NULL;
}

/* strip, lstrip and rstrip */
static int str_strip(METHOD_PARAMS)
{
	const char *s = json_string_value(obj->j), *p;
	size_t n = json_string_length(obj->j), np;
	const struct val *a0 = tp_arg_get(a, 0, NULL);
	bool given = a0 && !(a0->k == V_JSON && json_is_null(a0->j));
	if (given && want_str(c, line, name, a0, &p, &np) < 0)
		return -1;
	tp_str_strip(s, n, given ? p : NULL, given ? np : 0, name[0] == 'l' ? 1 : name[0] == 'r' ? 2 : 3, &p, &np);
	*out = tp_v_str(c, p, np);
	return 0;
}

/* upper, lower, title and capitalize */
static int str_case(METHOD_PARAMS)
{
	struct strbuf b = { 0 };
	tp_str_case(json_string_value(obj->j), json_string_length(obj->j),
		    name[0] == 'u' ? CASE_UPPER : name[0] == 'l' ? CASE_LOWER : name[0] == 't' ? CASE_TITLE
		    : CASE_CAPITALIZE, &b);
	*out = sb_val(c, &b);
	return 0;
}

/* startswith and endswith */
static int str_startswith(METHOD_PARAMS)
{
	return str_affix(c, line, name, json_string_value(obj->j), json_string_length(obj->j), tp_arg_get(a, 0, NULL),
			 out);
}

/* split and rsplit */
static int str_split(METHOD_PARAMS)
{
	const char *s = json_string_value(obj->j), *p;
	size_t n = json_string_length(obj->j), np;
	const struct val *sep = tp_arg_get(a, 0, "sep");
	long long maxsplit;
	bool given = sep && !(sep->k == V_JSON && json_is_null(sep->j));
	if ((given && want_str(c, line, name, sep, &p, &np) < 0) ||
	    want_int(c, line, tp_arg_get(a, 1, "maxsplit"), -1, &maxsplit) < 0)
		return -1;
	if (given && np == 0)
		return tp_terr(c, line, "empty separator");
	if (name[0] == 'r' && maxsplit >= 0)
		return tp_terr(c, line, "unsupported: rsplit with maxsplit");
	*out = tp_v_new(c, tp_str_split(s, n, given ? p : NULL, given ? np : 0, maxsplit));
	return 0;
}

static int str_replace(METHOD_PARAMS)
{
	const char *s = json_string_value(obj->j), *old, *new_;
	size_t n = json_string_length(obj->j), nold, nnew;
	long long count;
	if (want_str(c, line, name, tp_arg_get(a, 0, NULL), &old, &nold) < 0 ||
	    want_str(c, line, name, tp_arg_get(a, 1, NULL), &new_, &nnew) < 0 ||
	    want_int(c, line, tp_arg_get(a, 2, "count"), -1, &count) < 0)
		return -1;
	size_t hits = tp_str_count(s, n, old, nold);
	if (nnew > nold && hits && (nnew - nold) > TMPL_MAX_OUTPUT / hits)
		return tp_v_strcheck(c, line, TMPL_MAX_OUTPUT + 1);
	struct strbuf b = { 0 };
	tp_str_replace(s, n, old, nold, new_, nnew, count, &b);
	int rc = tp_v_strcheck(c, line, b.len);
	*out = sb_val(c, &b);
	return rc;
}

static int str_format_method(METHOD_PARAMS)
{
	return str_format(c, line, json_string_value(obj->j), json_string_length(obj->j), a, out);
}

/* find, rfind, index and count */
static int str_find(METHOD_PARAMS)
{
	const char *s = json_string_value(obj->j), *p;
	size_t n = json_string_length(obj->j), np;
	if (want_str(c, line, name, tp_arg_get(a, 0, NULL), &p, &np) < 0)
		return -1;
	if (is(name, "count")) {
		*out = tp_v_int(c, (long long)tp_str_count(s, n, p, np));
		return 0;
	}
	const char *hit = NULL;
	if (name[0] == 'r') {
		for (size_t i = n + 1; i-- > 0 && !hit;)
			if (i + np <= n && !memcmp(s + i, p, np))
				hit = s + i;
	} else {
		hit = np ? memmem(s, n, p, np) : s;
	}
	if (!hit && is(name, "index"))
		return tp_terr(c, line, "substring not found");
	*out = tp_v_int(c, hit ? (long long)tp_utf8_len(s, (size_t)(hit - s)) : -1);
	return 0;
}

static int str_join(METHOD_PARAMS)
{
	const char *s = json_string_value(obj->j);
	size_t n = json_string_length(obj->j);
	const struct val *a0 = tp_arg_get(a, 0, NULL);
	if (!a0 || a0->k != V_JSON || !json_is_array(a0->j))
		return tp_terr(c, line, "join() needs a list");
	struct strbuf b = { 0 };
	for (size_t i = 0; i < json_array_size(a0->j); i++) {
		json_t *e = json_array_get(a0->j, i);
		if (!json_is_string(e)) {
			strbuf_release(&b);
			return tp_terr(c, line, "sequence item %zu: expected str instance", i);
		}
		if (i)
			strbuf_add(&b, s, n);
		strbuf_add(&b, json_string_value(e), json_string_length(e));
		if (b.len > TMPL_MAX_OUTPUT)
			break;
	}
	int rc = tp_v_strcheck(c, line, b.len);
	*out = sb_val(c, &b);
	return rc;
}

/* isdigit, isalpha, isalnum and isspace */
static int str_is(METHOD_PARAMS)
{
	*out = tp_v_bool(all_chars(json_string_value(obj->j), json_string_length(obj->j),
				   name[2] == 'd' ? 'd' : name[2] == 's' ? 's' : name[4] == 'n' ? 'n' : 'a'));
	return 0;
}

static int str_splitlines(METHOD_PARAMS)
{
	const char *s = json_string_value(obj->j);
	size_t n = json_string_length(obj->j);
	json_t *lines = json_array();
	size_t st = 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] == '\n' || s[i] == '\r') {
			json_array_append_new(lines, json_stringn_nocheck(s + st, i - st));
			if (s[i] == '\r' && i + 1 < n && s[i + 1] == '\n')
				i++;
			st = i + 1;
		}
	if (st < n)
		json_array_append_new(lines, json_stringn_nocheck(s + st, n - st));
	*out = tp_v_new(c, lines);
	return 0;
}

static const struct method str_methods[] = {
	{ "strip", str_strip },
	{ "lstrip", str_strip },
	{ "rstrip", str_strip },
	{ "upper", str_case },
	{ "lower", str_case },
	{ "title", str_case },
	{ "capitalize", str_case },
	{ "startswith", str_startswith },
	{ "endswith", str_startswith },
	{ "split", str_split },
	{ "rsplit", str_split },
	{ "replace", str_replace },
	{ "format", str_format_method },
	{ "find", str_find },
	{ "rfind", str_find },
	{ "index", str_find },
	{ "count", str_find },
	{ "join", str_join },
	{ "isdigit", str_is },
	{ "isalpha", str_is },
	{ "isalnum", str_is },
	{ "isspace", str_is },
	{ "splitlines", str_splitlines },
};

/* items, keys and values */
static int dict_items(METHOD_PARAMS)
{
	json_t *res = tp_keep(c, json_array());
	const char *k;
	json_t *v;
	json_object_foreach(obj->j, k, v) {
		if (name[0] == 'i')
			json_array_append_new(res, json_pack("[sO]", k, v));
		else if (name[0] == 'k')
			json_array_append_new(res, json_string_nocheck(k));
		else
			json_array_append(res, v);
	}
	*out = tp_v_json(res);
	return 0;
}

static int dict_get(METHOD_PARAMS)
{
	const struct val *key = tp_arg_get(a, 0, NULL), *dflt = tp_arg_get(a, 1, "default");
	json_t *v = key && tp_v_is_str(key) ? json_object_get(obj->j, json_string_value(key->j)) : NULL;
	*out = v ? tp_v_json(v) : dflt ? *dflt : tp_v_none();
	return 0;
}

static const struct method dict_methods[] = {
	{ "items", dict_items },
	{ "keys", dict_items },
	{ "values", dict_items },
	{ "get", dict_get },
};

static int list_append(METHOD_PARAMS)
{
	const struct val *a0 = tp_arg_get(a, 0, NULL);
	if (!a0 || a0->k != V_JSON)
		return tp_terr(c, line, "unsupported: appending a %s", a0 ? tp_v_typename(a0) : "nothing");
	int inside = tp_json_contains(c, line, a0->j, obj->j);
	if (inside)
		return inside < 0 ? -1 : tp_terr(c, line, "a list cannot contain itself");
	if (json_array_size(obj->j) >= TMPL_MAX_ITEMS)
		return tp_terr(c, line, "list longer than %d items", TMPL_MAX_ITEMS);
	json_array_append(obj->j, a0->j);
	*out = tp_v_none();
	return 0;
}

/* index and count */
static int list_index(METHOD_PARAMS)
{
	const struct val *a0 = tp_arg_get(a, 0, NULL);
	long long count = 0, first = -1;
	for (size_t i = 0; a0 && a0->k == V_JSON && i < json_array_size(obj->j); i++)
		if (tp_json_equal_py(json_array_get(obj->j, i), a0->j)) {
			count++;
			if (first < 0)
				first = (long long)i;
		}
	if (name[0] == 'i' && first < 0)
		return tp_terr(c, line, "value is not in list");
	*out = tp_v_int(c, name[0] == 'i' ? first : count);
	return 0;
}

static const struct method list_methods[] = {
	{ "append", list_append },
	{ "index", list_index },
	{ "count", list_index },
};

static int call_in(const struct method *table, size_t n, const char *kind, struct ctx *c, int line,
		   const struct val *obj, const char *name, const struct args *a, struct val *out)
{
	const struct method *m = method_find(table, n, name);
	if (!m)
		return tp_terr(c, line, "unsupported method '%s' of %s", name, kind);
	return m->fn(c, line, name, obj, a, out);
}

int tp_call_method(struct ctx *c, int line, const struct val *obj, const char *name, const struct args *a,
		struct val *out)
{
	if (obj->k == V_LOOP && is(name, "cycle")) {
		if (a->npos == 0)
			return tp_terr(c, line, "no items for cycling given");
		long long i = json_integer_value(json_object_get(obj->j, "index0"));
		*out = a->pos[(size_t)i % a->npos];
		return 0;
	}
	if (tp_v_is_str(obj))
		return call_in(str_methods, NMETHODS(str_methods), "str", c, line, obj, name, a, out);
	if (obj->k == V_JSON && json_is_object(obj->j))
		return call_in(dict_methods, NMETHODS(dict_methods), "dict", c, line, obj, name, a, out);
	if (obj->k == V_JSON && json_is_array(obj->j))
		return call_in(list_methods, NMETHODS(list_methods), "list", c, line, obj, name, a, out);
	if (obj->k == V_JSON)
		return tp_terr(c, line, "'%s' object has no attribute '%s'", tp_v_typename(obj), name);
	return tp_terr(c, line, "unsupported method '%s' of %s", name, tp_v_typename(obj));
}

static int range(METHOD_PARAMS)
{
	long long start = 0, stop, step = 1;
	if (a->npos == 0 || a->npos > 3)
		return tp_terr(c, line, "range expected 1 to 3 arguments, got %zu", a->npos);
	for (size_t i = 0; i < a->npos; i++)
		if (a->pos[i].k != V_JSON || !json_is_integer(a->pos[i].j))
			return tp_terr(c, line, "range: '%s' object cannot be interpreted as an integer",
				    tp_v_typename(&a->pos[i]));
	if (a->npos == 1) {
		stop = json_integer_value(a->pos[0].j);
	} else {
		start = json_integer_value(a->pos[0].j);
		stop = json_integer_value(a->pos[1].j);
		if (a->npos == 3)
			step = json_integer_value(a->pos[2].j);
	}
	if (step == 0)
		return tp_terr(c, line, "range() arg 3 must not be zero");
	json_t *res = tp_keep(c, json_array());
	size_t n = 0;
	for (long long i = start; step > 0 ? i < stop : i > stop; n++) {
		if (n >= TMPL_MAX_ITEMS)
			return tp_terr(c, line, "range longer than %d items", TMPL_MAX_ITEMS);
		json_array_append_new(res, json_integer(i));
		if (__builtin_add_overflow(i, step, &i))
			break;
	}
	*out = tp_v_json(res);
	return 0;
}

/* namespace and dict */
static int make_dict(METHOD_PARAMS)
{
	bool ns = name[0] == 'n';
	json_t *d = tp_keep(c, json_object());
	if (a->npos > 1)
		return tp_terr(c, line, "%s expected at most 1 argument", ns ? "namespace" : "dict");
	if (a->npos == 1) {
		if (!(a->pos[0].k == V_JSON || a->pos[0].k == V_NS) || !json_is_object(a->pos[0].j))
			return tp_terr(c, line, "unsupported: %s from a %s", ns ? "namespace" : "dict",
				    tp_v_typename(&a->pos[0]));
		json_object_update(d, a->pos[0].j);
	}
	for (size_t i = 0; i < a->nkw; i++) {
		if (a->kw[i].k != V_JSON)
			return tp_terr(c, line, "unsupported: a %s in a %s", tp_v_typename(&a->kw[i]), ns ? "namespace" : "dict");
		json_object_set_nocheck(d, a->kwname[i], a->kw[i].j);
	}
	*out = ns ? (struct val){ .k = V_NS, .j = d } : tp_v_json(d);
	return 0;
}

static int raise_exception(METHOD_PARAMS)
{
	struct strbuf b = { 0 };
	if (a->npos)
		tp_v_to_str(c, line, &a->pos[0], &b);
	tp_terr(c, line, "%s", b.s ? b.s : "raise_exception called");
	strbuf_release(&b);
	return -1;
}

static int strftime_now(METHOD_PARAMS)
{
	const struct val *fmt = tp_arg_get(a, 0, NULL);
	if (!fmt || !tp_v_is_str(fmt))
		return tp_terr(c, line, "strftime_now needs a format string");
	char buf[512];
	time_t now = time(NULL);
	struct tm tm;
	localtime_r(&now, &tm);
	size_t n = json_string_length(fmt->j) < 200 ? strftime(buf, sizeof buf, json_string_value(fmt->j), &tm) : 0;
	*out = tp_v_str(c, buf, n);
	return 0;
}

/* The global functions of transformers' template environment. */
static const struct method builtins[] = {
	{ "range", range },
	{ "namespace", make_dict },
	{ "dict", make_dict },
	{ "raise_exception", raise_exception },
	{ "strftime_now", strftime_now },
};

bool tp_builtin_known(const char *name)
{
	return method_find(builtins, NMETHODS(builtins), name) != NULL;
}

int tp_call_builtin(struct ctx *c, int line, const char *name, const struct args *a, struct val *out)
{
	const struct method *f = method_find(builtins, NMETHODS(builtins), name);
	if (!f)
		return tp_terr(c, line, "unsupported function '%s'", name);
	return f->fn(c, line, name, NULL, a, out);
}
