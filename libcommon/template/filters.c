/* Jinja2's filters, as Jinja2 3.1 defines them, on the interpreter's
 * values.  tojson is transformers' json.dumps(ensure_ascii=False). */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "template/tmpl_impl.h"

/* The parameters of every filter: name is the one it was called by, as
 * some filters serve several names (select and reject, e and escape ...). */
#define FILTER_PARAMS struct ctx *c, int line, const char *name, const struct val *in, const struct args *a, \
		      struct frame *fr, struct val *out

/* str(v) as a string value (v itself when it is one). */
struct val tp_v_string_of(struct ctx *c, int line, const struct val *v, int *rc)
{
	*rc = 0;
	if (tp_v_is_str(v))
		return *v;
	struct strbuf b = { 0 };
	tp_v_to_str(c, line, v, &b);
	*rc = tp_v_strcheck(c, line, b.len);
	struct val s = tp_v_str(c, b.s, b.len);
	strbuf_release(&b);
	return s;
}

static struct val sb_val(struct ctx *c, struct strbuf *b)
{
	struct val v = tp_v_str(c, b->s, b->len);
	strbuf_release(b);
	return v;
}

static bool is_list(const struct val *v)
{
	return v->k == V_JSON && json_is_array(v->j);
}

bool tp_v_is_dict(const struct val *v)
{
	return (v->k == V_JSON || v->k == V_NS || v->k == V_LOOP) && json_is_object(v->j);
}

static bool arg_bool(const struct val *v, bool dflt)
{
	return v ? tp_v_truthy(v) : dflt;
}

int tp_arg_int(struct ctx *c, int line, const struct val *v, long long dflt, long long *out)
{
	*out = dflt;
	if (!v || (v->k == V_JSON && json_is_null(v->j)))
		return 0;
	if (v->k != V_JSON || !(json_is_integer(v->j) || json_is_boolean(v->j)))
		return tp_terr(c, line, "expected an integer argument, got %s", tp_v_typename(v));
	*out = json_is_integer(v->j) ? json_integer_value(v->j) : json_is_true(v->j);
	return 0;
}

static int arg_str(struct ctx *c, int line, const struct val *v, const char **s, size_t *n)
{
	if (!tp_v_is_str(v))
		return tp_terr(c, line, "expected a string argument, got %s", v ? tp_v_typename(v) : "nothing");
	*s = json_string_value(v->j);
	*n = json_string_length(v->j);
	return 0;
}

/* A sequence's items as a list: lists themselves, dict keys, string characters. */
static int as_list(struct ctx *c, int line, const struct val *v, json_t **out)
{
	if (v->k == V_UNDEF) {
		*out = tp_keep(c, json_array());
		return 0;
	}
	if (is_list(v)) {
		*out = v->j;
		return 0;
	}
	if (tp_v_is_dict(v)) {
		json_t *keys = tp_keep(c, json_array());
		const char *k;
		json_t *x;
		json_object_foreach(v->j, k, x)
			json_array_append_new(keys, json_string_nocheck(k));
		*out = keys;
		return 0;
	}
	if (tp_v_is_str(v)) {
		json_t *chars = tp_keep(c, json_array());
		const char *s = json_string_value(v->j);
		size_t n = json_string_length(v->j);
		for (size_t i = 0; i < n;) {
			size_t k = tp_utf8_offset(s + i, n - i, 1);
			json_array_append_new(chars, json_stringn_nocheck(s + i, k));
			i += k;
		}
		*out = chars;
		return 0;
	}
	return tp_terr(c, line, "'%s' object is not iterable", tp_v_typename(v));
}

/* attribute "a.b" or item index of an element, as Jinja's make_attrgetter */
static int attr_of(struct ctx *c, int line, const json_t *item, const char *path, struct val *out)
{
	*out = tp_v_json((json_t *)item);
	char part[256];
	while (*path) {
		size_t n = strcspn(path, ".");
		if (n >= sizeof part)
			n = sizeof part - 1;
		memcpy(part, path, n);
		part[n] = 0;
		path += n + (path[n] == '.');
		struct val cur = *out;
		char *end;
		long long idx = strtoll(part, &end, 10);
		if (*part && !*end && cur.k == V_JSON && json_is_array(cur.j)) {
			struct val key = tp_v_int(c, idx);
			if (tp_v_getitem(c, line, &cur, &key, out) < 0)
				return -1;
		} else {
			if (cur.k == V_UNDEF)
				return tp_terr(c, line, "'%s' is undefined", part);
			if (tp_v_getattr(c, line, &cur, part, out) < 0)
				return -1;
		}
	}
	return 0;
}

/* ---- sorting (stable, as Python's) ---- */

struct sortkey {
	json_t *key;
	json_t *item;
};

static int key_cmp(const struct sortkey *a, const struct sortkey *b, bool *bad)
{
	int r;
	if (tp_json_cmp_py(a->key, b->key, &r) < 0) {
		*bad = true;
		return 0;
	}
	return r;
}

static void merge_sort(struct sortkey *v, struct sortkey *tmp, size_t n, bool reverse, bool *bad)
{
	if (n < 2 || *bad)
		return;
	size_t h = n / 2;
	merge_sort(v, tmp, h, reverse, bad);
	merge_sort(v + h, tmp, n - h, reverse, bad);
	size_t i = 0, j = h, k = 0;
	while (i < h && j < n) {
		int r = key_cmp(&v[i], &v[j], bad);
		if (reverse ? r >= 0 : r <= 0)
			tmp[k++] = v[i++];
		else
			tmp[k++] = v[j++];
	}
	while (i < h)
		tmp[k++] = v[i++];
	while (j < n)
		tmp[k++] = v[j++];
	memcpy(v, tmp, n * sizeof *v);
}

/* The sort key of an item: its attribute, lower-cased unless case-sensitive. */
static int sort_key(struct ctx *c, int line, json_t *item, const char *attr, bool cs, json_t **key)
{
	struct val k = tp_v_json(item);
	if (attr && attr_of(c, line, item, attr, &k) < 0)
		return -1;
	if (k.k != V_JSON)
		return tp_terr(c, line, "cannot sort by an undefined attribute '%s'", attr);
	if (!cs && json_is_string(k.j)) {
		struct strbuf b = { 0 };
		tp_str_case(json_string_value(k.j), json_string_length(k.j), CASE_LOWER, &b);
		k = sb_val(c, &b);
	}
	*key = k.j;
	return 0;
}

static int sorted(struct ctx *c, int line, json_t *items, const char *attr, bool cs, bool reverse, json_t **out)
{
	size_t n = json_array_size(items);
	struct sortkey *v = xcalloc(n + 1, sizeof *v), *tmp = xcalloc(n + 1, sizeof *tmp);
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		v[i].item = json_array_get(items, i);
		rc = sort_key(c, line, v[i].item, attr, cs, &v[i].key);
	}
	bool bad = false;
	if (rc == 0)
		merge_sort(v, tmp, n, reverse, &bad);
	if (rc == 0 && bad)
		rc = tp_terr(c, line, "cannot sort values of different types");
	if (rc == 0) {
		*out = tp_keep(c, json_array());
		for (size_t i = 0; i < n; i++)
			json_array_append(*out, v[i].item);
	}
	free(v);
	free(tmp);
	return rc;
}

static int filter_select(FILTER_PARAMS)
{
	bool attr = strstr(name, "attr") != NULL, keep_true = name[0] == 's';
	json_t *items, *res = tp_keep(c, json_array());
	if (as_list(c, line, in, &items) < 0)
		return -1;
	size_t first = 0;
	const char *attrname = NULL, *test = NULL;
	size_t n;
	if (attr) {
		if (arg_str(c, line, tp_arg_get(a, 0, NULL), &attrname, &n) < 0)
			return -1;
		first = 1;
	}
	if (a->npos > first) {
		if (arg_str(c, line, &a->pos[first], &test, &n) < 0)
			return -1;
		if (!tmpl_test_known(test))
			return tp_terr(c, line, "unsupported test '%s'", test);
	}
	struct args targs = { .npos = 0 };
	for (size_t i = first + 1; i < a->npos; i++)
		targs.pos[targs.npos++] = a->pos[i];
	for (size_t i = 0; i < json_array_size(items); i++) {
		json_t *item = json_array_get(items, i);
		struct val v = tp_v_json(item);
		bool r;
		if (attr && attr_of(c, line, item, attrname, &v) < 0)
			return -1;
		if (test) {
			if (tp_apply_test(c, line, test, &v, &targs, &r) < 0)
				return -1;
		} else {
			r = tp_v_truthy(&v);
		}
		if (r == keep_true)
			json_array_append(res, item);
	}
	*out = tp_v_json(res);
	return 0;
}

static int filter_map(FILTER_PARAMS)
{
	json_t *items, *res = tp_keep(c, json_array());
	if (as_list(c, line, in, &items) < 0)
		return -1;
	const struct val *attr = tp_arg_get(a, (size_t)-1, "attribute"), *dflt = tp_arg_get(a, (size_t)-1, "default");
	const char *fname = NULL;
	size_t n;
	if (!attr && arg_str(c, line, tp_arg_get(a, 0, NULL), &fname, &n) < 0)
		return -1;
	if (attr && !tp_v_is_str(attr))
		return tp_terr(c, line, "map: attribute must be a string");
	if (fname && !tmpl_filter_known(fname))
		return tp_terr(c, line, "unsupported filter '%s'", fname);
	struct args fargs = { .npos = 0 };
	for (size_t i = 1; fname && i < a->npos; i++)
		fargs.pos[fargs.npos++] = a->pos[i];
	for (size_t i = 0; i < json_array_size(items); i++) {
		struct val v = tp_v_json(json_array_get(items, i)), r;
		if (attr) {
			if (attr_of(c, line, v.j, json_string_value(attr->j), &r) < 0)
				return -1;
			if (r.k == V_UNDEF && dflt)
				r = *dflt;
		} else if (tp_apply_filter(c, line, fname, &v, &fargs, fr, &r) < 0) {
			return -1;
		}
		json_array_append(res, r.k == V_JSON ? r.j : json_null());
	}
	*out = tp_v_json(res);
	return 0;
}

static int filter_join(FILTER_PARAMS)
{
	json_t *items;
	const struct val *sep = tp_arg_get(a, 0, "d"), *attr = tp_arg_get(a, 1, "attribute");
	if (as_list(c, line, in, &items) < 0)
		return -1;
	struct strbuf b = { 0 };
	for (size_t i = 0; i < json_array_size(items); i++) {
		if (i && sep)
			tp_v_to_str(c, line, sep, &b);
		struct val v = tp_v_json(json_array_get(items, i));
		if (attr && tp_v_is_str(attr) && attr_of(c, line, v.j, json_string_value(attr->j), &v) < 0) {
			strbuf_release(&b);
			return -1;
		}
		tp_v_to_str(c, line, &v, &b);
		if (b.len > TMPL_MAX_OUTPUT) {
			strbuf_release(&b);
			return tp_v_strcheck(c, line, TMPL_MAX_OUTPUT + 1);
		}
	}
	int rc = tp_v_strcheck(c, line, b.len);
	*out = sb_val(c, &b);
	return rc;
}

static int filter_indent(FILTER_PARAMS)
{
	const struct val *w = tp_arg_get(a, 0, "width");
	bool first = arg_bool(tp_arg_get(a, 1, "first"), false), blank = arg_bool(tp_arg_get(a, 2, "blank"), false);
	struct strbuf pad = { 0 }, b = { 0 };
	if (w && tp_v_is_str(w)) {
		strbuf_add(&pad, json_string_value(w->j), json_string_length(w->j));
	} else {
		long long n;
		if (tp_arg_int(c, line, w, 4, &n) < 0)
			return -1;
		for (long long i = 0; i < n && i < 1000; i++)
			strbuf_addch(&pad, ' ');
	}
	const char *p = json_string_value(in->j), *end = p + json_string_length(in->j);
	bool first_line = true;
	while (p <= end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		bool empty = le == p;
		if (first_line ? first : (blank || !empty))
			strbuf_add(&b, pad.s, pad.len);
		strbuf_add(&b, p, (size_t)(le - p));
		if (!nl)
			break;
		strbuf_addch(&b, '\n');
		p = nl + 1;
		first_line = false;
	}
	strbuf_release(&pad);
	int rc = tp_v_strcheck(c, line, b.len);
	*out = sb_val(c, &b);
	return rc;
}

static int filter_round(FILTER_PARAMS)
{
	long long prec;
	const struct val *m = tp_arg_get(a, 1, "method");
	if (!tp_v_is_num(in) && !(in->k == V_JSON && json_is_boolean(in->j)))
		return tp_terr(c, line, "round needs a number, got %s", tp_v_typename(in));
	if (tp_arg_int(c, line, tp_arg_get(a, 0, "precision"), 0, &prec) < 0)
		return -1;
	if (prec > 300 || prec < -300)
		prec = prec > 0 ? 300 : -300;
	const char *method = m && tp_v_is_str(m) ? json_string_value(m->j) : "common";
	double x = tp_json_num(in->j), f = pow(10, (double)prec), r;
	if (!strcmp(method, "common")) {
		if (!json_is_real(in->j)) {
			/* Python's round() of an int is the int */
			*out = json_is_boolean(in->j) ? tp_v_int(c, json_is_true(in->j)) : *in;
			return 0;
		}
		if (prec >= 0 && isfinite(x)) {
			/* correctly rounded, ties to even, as Python's round(x, n) */
			char buf[400];
			snprintf(buf, sizeof buf, "%.*f", (int)(prec < 60 ? prec : 60), x);
			r = strtod(buf, NULL);
		} else {
			r = nearbyint(x * f) / f;
		}
	} else if (!strcmp(method, "ceil")) {
		r = ceil(x * f) / f;
	} else if (!strcmp(method, "floor")) {
		r = floor(x * f) / f;
	} else {
		return tp_terr(c, line, "round: method must be common, ceil or floor");
	}
	return tp_v_real_finite(c, line, r, out);
}

static int filter_int(FILTER_PARAMS)
{
	const struct val *d = tp_arg_get(a, 0, "default");
	if (in->k == V_JSON && json_is_integer(in->j)) {
		*out = *in;
		return 0;
	}
	if (in->k == V_JSON && (json_is_real(in->j) || json_is_boolean(in->j))) {
		double x = tp_json_num(in->j);
		if (!isfinite(x) || fabs(x) > 9.2e18)
			return tp_terr(c, line, "cannot convert %g to an integer", x);
		*out = tp_v_int(c, (long long)x);
		return 0;
	}
	if (tp_v_is_str(in)) {
		const char *s = json_string_value(in->j), *end;
		size_t n;
		tp_str_strip(s, json_string_length(in->j), NULL, 0, 3, &s, &n);
		char buf[64];
		if (n < sizeof buf) {
			memcpy(buf, s, n);
			buf[n] = 0;
			errno = 0;
			char *e;
			long long v = strtoll(buf, &e, 10);
			if (n && !*e && !errno) {
				*out = tp_v_int(c, v);
				return 0;
			}
			double x = strtod(buf, &e);
			end = e;
			if (n && !*end && isfinite(x) && fabs(x) < 9.2e18) {
				*out = tp_v_int(c, (long long)x);
				return 0;
			}
		}
	}
	*out = d ? *d : tp_v_int(c, 0);
	return 0;
}

static int filter_float(FILTER_PARAMS)
{
	const struct val *d = tp_arg_get(a, 0, "default");
	if (in->k == V_JSON && (json_is_number(in->j) || json_is_boolean(in->j))) {
		*out = tp_v_real(c, tp_json_num(in->j));
		return 0;
	}
	if (tp_v_is_str(in)) {
		const char *s;
		size_t n;
		tp_str_strip(json_string_value(in->j), json_string_length(in->j), NULL, 0, 3, &s, &n);
		char buf[64];
		if (n && n < sizeof buf) {
			memcpy(buf, s, n);
			buf[n] = 0;
			char *e;
			double x = strtod(buf, &e);
			if (!*e && isfinite(x)) {
				*out = tp_v_real(c, x);
				return 0;
			}
		}
	}
	*out = d ? *d : tp_v_real(c, 0);
	return 0;
}

/* printf-style "%s" % args: the format filter and the % operator */
int tp_str_printf(struct ctx *c, int line, const struct val *fmt, const struct args *a, struct val *out)
{
	const char *s = json_string_value(fmt->j);
	size_t n = json_string_length(fmt->j), ai = 0;
	struct strbuf b = { 0 };
	for (size_t i = 0; i < n; i++) {
		if (s[i] != '%' || i + 1 >= n) {
			strbuf_addch(&b, s[i]);
			continue;
		}
		char conv = s[++i];
		if (conv == '%') {
			strbuf_addch(&b, '%');
			continue;
		}
		if (ai >= a->npos) {
			strbuf_release(&b);
			return tp_terr(c, line, "not enough arguments for format string");
		}
		const struct val *v = &a->pos[ai++];
		if (conv == 's') {
			tp_v_to_str(c, line, v, &b);
		} else if (conv == 'r' && v->k == V_JSON) {
			tp_json_repr(v->j, &b);
		} else if ((conv == 'd' || conv == 'i') && v->k == V_JSON && (json_is_number(v->j) || json_is_boolean(v->j))) {
			char num[32];
			snprintf(num, sizeof num, "%lld",
				 json_is_integer(v->j) ? (long long)json_integer_value(v->j) : (long long)tp_json_num(v->j));
			strbuf_addstr(&b, num);
		} else {
			strbuf_release(&b);
			return tp_terr(c, line, "unsupported format '%%%c'", conv);
		}
	}
	if (ai < a->npos) {
		strbuf_release(&b);
		return tp_terr(c, line, "not all arguments converted during string formatting");
	}
	int rc = tp_v_strcheck(c, line, b.len);
	*out = sb_val(c, &b);
	return rc;
}

static int filter_minmax(FILTER_PARAMS)
{
	json_t *items, *sorted_items;
	const struct val *attr = tp_arg_get(a, 1, "attribute");
	if (as_list(c, line, in, &items) < 0)
		return -1;
	if (sorted(c, line, items, attr && tp_v_is_str(attr) ? json_string_value(attr->j) : NULL,
		   arg_bool(tp_arg_get(a, 0, "case_sensitive"), false), name[1] == 'a', &sorted_items) < 0)
		return -1;
	*out = json_array_size(sorted_items) ? tp_v_json(json_array_get(sorted_items, 0)) : tp_v_undef(name);
	return 0;
}

static int filter_sum(FILTER_PARAMS)
{
	json_t *items;
	const struct val *attr = tp_arg_get(a, 0, "attribute"), *start = tp_arg_get(a, 1, "start");
	if (as_list(c, line, in, &items) < 0)
		return -1;
	long long isum = 0;
	double fsum = 0;
	bool real = false;
	if (start && tp_v_is_num(start)) {
		real = json_is_real(start->j);
		isum = json_is_integer(start->j) ? json_integer_value(start->j) : 0;
		fsum = tp_json_num(start->j);
	}
	for (size_t i = 0; i < json_array_size(items); i++) {
		struct val v = tp_v_json(json_array_get(items, i));
		if (attr && tp_v_is_str(attr) && attr_of(c, line, v.j, json_string_value(attr->j), &v) < 0)
			return -1;
		if (v.k != V_JSON || !(json_is_number(v.j) || json_is_boolean(v.j)))
			return tp_terr(c, line, "sum: cannot add %s", tp_v_typename(&v));
		real |= json_is_real(v.j);
		long long x = json_is_integer(v.j) ? json_integer_value(v.j) : json_is_true(v.j);
		if (__builtin_add_overflow(isum, x, &isum))
			return tp_terr(c, line, "integer overflow");
		fsum += tp_json_num(v.j);
	}
	if (real)
		return tp_v_real_finite(c, line, fsum, out);
	*out = tp_v_int(c, isum);
	return 0;
}

static int filter_dictsort(FILTER_PARAMS)
{
	if (!tp_v_is_dict(in))
		return tp_terr(c, line, "dictsort needs a mapping, got %s", tp_v_typename(in));
	bool cs = arg_bool(tp_arg_get(a, 0, "case_sensitive"), false), rev = arg_bool(tp_arg_get(a, 2, "reverse"), false);
	const struct val *by = tp_arg_get(a, 1, "by");
	const char *pos = by && tp_v_is_str(by) && !strcmp(json_string_value(by->j), "value") ? "1" : "0";
	json_t *pairs = tp_keep(c, json_array());
	const char *k;
	json_t *v;
	json_object_foreach(in->j, k, v)
		json_array_append_new(pairs, json_pack("[sO]", k, v));
	json_t *res;
	if (sorted(c, line, pairs, pos, cs, rev, &res) < 0)
		return -1;
	*out = tp_v_json(res);
	return 0;
}

static int filter_unique(FILTER_PARAMS)
{
	json_t *items, *res = tp_keep(c, json_array()), *seen = tp_keep(c, json_array());
	bool cs = arg_bool(tp_arg_get(a, 0, "case_sensitive"), false);
	const struct val *attr = tp_arg_get(a, 1, "attribute");
	if (as_list(c, line, in, &items) < 0)
		return -1;
	for (size_t i = 0; i < json_array_size(items); i++) {
		json_t *item = json_array_get(items, i), *key;
		if (sort_key(c, line, item, attr && tp_v_is_str(attr) ? json_string_value(attr->j) : NULL, cs, &key) < 0)
			return -1;
		bool dup = false;
		for (size_t k = 0; k < json_array_size(seen) && !dup; k++)
			dup = tp_json_equal_py(json_array_get(seen, k), key);
		if (!dup) {
			json_array_append(seen, key);
			json_array_append(res, item);
		}
		c->steps += (long)json_array_size(seen);  /* quadratic: charge for it */
		if (c->steps > TMPL_MAX_STEPS)
			return tp_terr(c, line, "template ran more than %ld steps", TMPL_MAX_STEPS);
	}
	*out = tp_v_json(res);
	return 0;
}

/* The result of a filter that built a string in b. */
static int sb_result(struct ctx *c, int line, struct strbuf *b, struct val *out)
{
	int rc = tp_v_strcheck(c, line, b->len);
	*out = sb_val(c, b);
	return rc;
}

/* The string filters below get their input as a string (F_STR_IN). */
static int filter_trim(FILTER_PARAMS)
{
	const struct val *chars = tp_arg_get(a, 0, "chars");
	const char *r;
	size_t rn;
	bool given = chars && tp_v_is_str(chars);
	tp_str_strip(json_string_value(in->j), json_string_length(in->j), given ? json_string_value(chars->j) : NULL,
		     given ? json_string_length(chars->j) : 0, 3, &r, &rn);
	*out = tp_v_str(c, r, rn);
	return 0;
}

static int filter_case(FILTER_PARAMS)
{
	enum tp_str_case how = name[0] == 'u' ? CASE_UPPER : name[0] == 'l' ? CASE_LOWER
			    : name[0] == 'c' ? CASE_CAPITALIZE : CASE_JINJA_TITLE;
	struct strbuf b = { 0 };
	tp_str_case(json_string_value(in->j), json_string_length(in->j), how, &b);
	return sb_result(c, line, &b, out);
}

static int filter_replace(FILTER_PARAMS)
{
	const char *p = json_string_value(in->j), *old, *new_;
	size_t n = json_string_length(in->j), nold, nnew;
	long long count;
	if (arg_str(c, line, tp_arg_get(a, 0, "old"), &old, &nold) < 0 ||
	    arg_str(c, line, tp_arg_get(a, 1, "new"), &new_, &nnew) < 0 ||
	    tp_arg_int(c, line, tp_arg_get(a, 2, "count"), -1, &count) < 0)
		return -1;
	size_t hits = tp_str_count(p, n, old, nold);
	if (nnew > nold && hits && (nnew - nold) > TMPL_MAX_OUTPUT / hits)
		return tp_v_strcheck(c, line, TMPL_MAX_OUTPUT + 1);
	struct strbuf b = { 0 };
	tp_str_replace(p, n, old, nold, new_, nnew, count, &b);
	return sb_result(c, line, &b, out);
}

static int filter_escape(FILTER_PARAMS)
{
	struct strbuf b = { 0 };
	tp_html_escape(json_string_value(in->j), json_string_length(in->j), &b);
	return sb_result(c, line, &b, out);
}

static int filter_center(FILTER_PARAMS)
{
	const char *p = json_string_value(in->j);
	size_t n = json_string_length(in->j);
	long long w;
	if (tp_arg_int(c, line, tp_arg_get(a, 0, "width"), 80, &w) < 0)
		return -1;
	long long len = (long long)tp_utf8_len(p, n), padl = w > len ? (w - len) / 2 : 0;
	long long padr = w > len ? w - len - padl : 0;
	if (w > 10000)
		return tp_terr(c, line, "center: width too large");
	if ((w - len) % 2 && len % 2 == 0 && w > len)
		padl++, padr--;  /* Python puts the odd space on the left when the length is even */
	struct strbuf b = { 0 };
	for (long long i = 0; i < padl; i++)
		strbuf_addch(&b, ' ');
	strbuf_add(&b, p, n);
	for (long long i = 0; i < padr; i++)
		strbuf_addch(&b, ' ');
	return sb_result(c, line, &b, out);
}

static int filter_wordcount(FILTER_PARAMS)
{
	const char *p = json_string_value(in->j);
	size_t n = json_string_length(in->j);
	long long words = 0;
	bool in_word = false;
	for (size_t i = 0; i < n;) {
		int32_t cp;
		int k = tp_utf8_decode(p + i, n - i, &cp);
		bool w = cp == '_' || (cp >= 0 && (cp < 128 ? isalnum(cp) : !tp_py_isspace(cp) && cp > 0xbf));
		words += w && !in_word;
		in_word = w;
		i += (size_t)k;
	}
	*out = tp_v_int(c, words);
	return 0;
}

static int filter_format(FILTER_PARAMS)
{
	return tp_str_printf(c, line, in, a, out);
}

static int filter_tojson(FILTER_PARAMS)
{
	long long indent;
	if (tp_arg_int(c, line, tp_arg_get(a, 1, "indent"), -1, &indent) < 0)
		return -1;
	if (indent > 64)
		indent = 64;
	if (in->k != V_JSON && !tp_v_is_dict(in))
		return tp_terr(c, line, "Object of type %s is not JSON serializable", tp_v_typename(in));
	struct json_style st = { .indent = (int)indent, .sort_keys = arg_bool(tp_arg_get(a, 3, "sort_keys"), false),
				.ensure_ascii = arg_bool(tp_arg_get(a, 0, "ensure_ascii"), false) };
	const struct val *sep = tp_arg_get(a, 2, "separators");
	if (sep && sep->k == V_JSON && json_is_array(sep->j)) {
		if (json_array_size(sep->j) != 2 || !json_is_string(json_array_get(sep->j, 0)) ||
		    !json_is_string(json_array_get(sep->j, 1)))
			return tp_terr(c, line, "tojson: separators must be two strings");
		st.item_sep = json_string_value(json_array_get(sep->j, 0));
		st.key_sep = json_string_value(json_array_get(sep->j, 1));
	}
	struct strbuf b = { 0 };
	if (tp_tojson_dump(in->j, &st, &b) < 0) {
		strbuf_release(&b);
		return tp_terr(c, line, "tojson: value nested too deeply");
	}
	int rc = tp_v_strcheck(c, line, b.len);
	*out = sb_val(c, &b);
	return rc;
}

static int filter_items(FILTER_PARAMS)
{
	json_t *res = tp_keep(c, json_array());
	*out = tp_v_json(res);
	if (in->k == V_UNDEF)
		return 0;
	if (!tp_v_is_dict(in))
		return tp_terr(c, line, "items needs a mapping, got %s", tp_v_typename(in));
	const char *k;
	json_t *v;
	json_object_foreach(in->j, k, v)
		json_array_append_new(res, json_pack("[sO]", k, v));
	return 0;
}

static int filter_length(FILTER_PARAMS)
{
	size_t n;
	if (in->k == V_UNDEF)
		n = 0;
	else if (tp_v_is_str(in))
		n = tp_utf8_len(json_string_value(in->j), json_string_length(in->j));
	else if (is_list(in))
		n = json_array_size(in->j);
	else if (tp_v_is_dict(in))
		n = json_object_size(in->j);
	else
		return tp_terr(c, line, "object of type '%s' has no len()", tp_v_typename(in));
	*out = tp_v_int(c, (long long)n);
	return 0;
}

static int filter_first_last(FILTER_PARAMS)
{
	json_t *items;
	if (as_list(c, line, in, &items) < 0)
		return -1;
	size_t n = json_array_size(items);
	*out = n ? tp_v_json(json_array_get(items, name[0] == 'f' ? 0 : n - 1)) : tp_v_undef(name);
	return 0;
}

static int filter_reverse(FILTER_PARAMS)
{
	json_t *items, *res = tp_keep(c, json_array());
	if (as_list(c, line, in, &items) < 0)
		return -1;
	for (size_t i = json_array_size(items); i-- > 0;)
		json_array_append(res, json_array_get(items, i));
	if (!tp_v_is_str(in)) {
		*out = tp_v_json(res);
		return 0;
	}
	struct strbuf b = { 0 };
	for (size_t i = 0; i < json_array_size(res); i++)
		strbuf_add(&b, json_string_value(json_array_get(res, i)), json_string_length(json_array_get(res, i)));
	*out = sb_val(c, &b);
	return 0;
}

static int filter_default(FILTER_PARAMS)
{
	const struct val *d = tp_arg_get(a, 0, "default_value");
	bool boolean = arg_bool(tp_arg_get(a, 1, "boolean"), false);
	if (in->k == V_UNDEF || (boolean && !tp_v_truthy(in)))
		*out = d ? *d : tp_v_str(c, "", 0);
	else
		*out = *in;
	return 0;
}

static int filter_string(FILTER_PARAMS)
{
	int rc;
	struct val s = tp_v_string_of(c, line, in, &rc);
	if (rc < 0)
		return -1;
	*out = s;
	return 0;
}

static int filter_pprint(FILTER_PARAMS)
{
	if (in->k != V_JSON || !json_is_string(in->j))
		return filter_string(c, line, name, in, a, fr, out);
	struct strbuf b = { 0 };
	tp_json_repr(in->j, &b);
	*out = sb_val(c, &b);
	return 0;
}

static int filter_safe(FILTER_PARAMS)
{
	if (in->k == V_UNDEF)
		return filter_string(c, line, name, in, a, fr, out);
	*out = *in;
	return 0;
}

static int filter_list(FILTER_PARAMS)
{
	json_t *items;
	if (as_list(c, line, in, &items) < 0)
		return -1;
	*out = tp_v_new(c, json_copy(items));
	return 0;
}

static int filter_abs(FILTER_PARAMS)
{
	if (!tp_v_is_num(in) && !(in->k == V_JSON && json_is_boolean(in->j)))
		return tp_terr(c, line, "bad operand type for abs(): '%s'", tp_v_typename(in));
	if (json_is_real(in->j))
		*out = tp_v_real(c, fabs(json_real_value(in->j)));
	else if (json_is_integer(in->j) && json_integer_value(in->j) == (json_int_t)(-9223372036854775807LL - 1))
		return tp_terr(c, line, "integer overflow");
	else
		*out = tp_v_int(c, llabs((long long)tp_json_num(in->j)));
	return 0;
}

static int filter_sort(FILTER_PARAMS)
{
	json_t *items, *res;
	const struct val *attr = tp_arg_get(a, 2, "attribute");
	if (as_list(c, line, in, &items) < 0 ||
	    sorted(c, line, items, attr && tp_v_is_str(attr) ? json_string_value(attr->j) : NULL,
		   arg_bool(tp_arg_get(a, 1, "case_sensitive"), false), arg_bool(tp_arg_get(a, 0, "reverse"), false),
		   &res) < 0)
		return -1;
	*out = tp_v_json(res);
	return 0;
}

static int filter_attr(FILTER_PARAMS)
{
	const char *attr;
	size_t n;
	if (arg_str(c, line, tp_arg_get(a, 0, "name"), &attr, &n) < 0)
		return -1;
	if (in->k != V_NS && in->k != V_LOOP) {
		*out = tp_v_undef(attr);  /* only attributes, not the items of a dict */
		return 0;
	}
	return tp_v_getattr(c, line, in, attr, out);
}

/* What the dispatch does around a filter. */
enum {
	F_STR_IN = 1,          /* str() of the input is filtered */
	F_GEN = 2,             /* a generator in Jinja2: true whatever it holds, until | list makes a list */
	F_GEN_UNLESS_STR = 4,  /* a generator unless its input is a string (reverse) */
};

static const struct filter {
	const char *name;
	int (*fn)(FILTER_PARAMS);
	unsigned flags;
} filters[] = {
	{ "abs", filter_abs, 0 },
	{ "attr", filter_attr, 0 },
	{ "capitalize", filter_case, F_STR_IN },
	{ "center", filter_center, F_STR_IN },
	{ "count", filter_length, 0 },
	{ "d", filter_default, 0 },
	{ "default", filter_default, 0 },
	{ "dictsort", filter_dictsort, 0 },
	{ "e", filter_escape, F_STR_IN },
	{ "escape", filter_escape, F_STR_IN },
	{ "first", filter_first_last, 0 },
	{ "float", filter_float, 0 },
	{ "forceescape", filter_escape, F_STR_IN },
	{ "format", filter_format, F_STR_IN },
	{ "indent", filter_indent, F_STR_IN },
	{ "int", filter_int, 0 },
	{ "items", filter_items, F_GEN },
	{ "join", filter_join, 0 },
	{ "last", filter_first_last, 0 },
	{ "length", filter_length, 0 },
	{ "list", filter_list, 0 },
	{ "lower", filter_case, F_STR_IN },
	{ "map", filter_map, F_GEN },
	{ "max", filter_minmax, 0 },
	{ "min", filter_minmax, 0 },
	{ "pprint", filter_pprint, 0 },
	{ "reject", filter_select, F_GEN },
	{ "rejectattr", filter_select, F_GEN },
	{ "replace", filter_replace, F_STR_IN },
	{ "reverse", filter_reverse, F_GEN_UNLESS_STR },
	{ "round", filter_round, 0 },
	{ "safe", filter_safe, 0 },
	{ "select", filter_select, F_GEN },
	{ "selectattr", filter_select, F_GEN },
	{ "sort", filter_sort, 0 },
	{ "string", filter_string, 0 },
	{ "sum", filter_sum, 0 },
	{ "title", filter_case, F_STR_IN },
	{ "tojson", filter_tojson, 0 },
	{ "trim", filter_trim, F_STR_IN },
	{ "unique", filter_unique, F_GEN },
	{ "upper", filter_case, F_STR_IN },
	{ "wordcount", filter_wordcount, F_STR_IN },
};

static const struct filter *filter_find(const char *name)
{
	for (size_t i = 0; i < sizeof filters / sizeof *filters; i++)
		if (!strcmp(filters[i].name, name))
			return &filters[i];
	return NULL;
}

bool tmpl_filter_known(const char *name)
{
	return filter_find(name) != NULL;
}

int tp_apply_filter(struct ctx *c, int line, const char *name, const struct val *in, const struct args *a,
		 struct frame *fr, struct val *out)
{
	const struct filter *f = filter_find(name);
	if (!f)
		return tp_terr(c, line, "unsupported filter '%s'", name);
	struct val s = *in;
	if (f->flags & F_STR_IN) {
		int rc;
		s = tp_v_string_of(c, line, in, &rc);
		if (rc < 0)
			return -1;
	}
	int rc = f->fn(c, line, name, &s, a, fr, out);
	if (rc == 0 && out->k == V_JSON)
		out->gen = (f->flags & F_GEN) || ((f->flags & F_GEN_UNLESS_STR) && !tp_v_is_str(in));
	return rc;
}
