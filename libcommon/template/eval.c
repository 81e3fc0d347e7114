/* The evaluator of expressions: names, attributes and items, slices,
 * operators with Python's semantics, calls of macros, methods and globals,
 * with the limits that keep a hostile template from recursing or running
 * without end. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "template/tmpl_impl.h"
#include "util/err.h"

/* ---- attributes and items ---- */

static int undefined_error(struct ctx *c, int line, const struct val *v)
{
	return tp_terr(c, line, "'%s' is undefined", v->name ? v->name : "value");
}

int tp_v_getattr(struct ctx *c, int line, const struct val *obj, const char *name, struct val *out)
{
	if (obj->k == V_UNDEF)
		return undefined_error(c, line, obj);
	*out = tp_v_undef(name);
	if ((obj->k == V_JSON || obj->k == V_NS || obj->k == V_LOOP) && json_is_object(obj->j)) {
		json_t *j = json_object_get(obj->j, name);
		if (j)
			*out = tp_v_json(j);
	}
	return 0;
}

static long long py_index(long long i, size_t n)
{
	return i < 0 ? i + (long long)n : i;
}

int tp_v_getitem(struct ctx *c, int line, const struct val *obj, const struct val *key, struct val *out)
{
	if (obj->k == V_UNDEF)
		return undefined_error(c, line, obj);
	*out = tp_v_undef(tp_v_is_str(key) ? json_string_value(key->j) : "item");
	if (obj->k == V_UNDEF || key->k != V_JSON || !obj->j)
		return 0;
	json_t *o = obj->j, *k = key->j;
	if (json_is_object(o) && json_is_string(k)) {
		json_t *j = json_object_get(o, json_string_value(k));
		if (j)
			*out = tp_v_json(j);
	} else if (obj->k == V_JSON && json_is_array(o) && (json_is_integer(k) || json_is_boolean(k))) {
		long long i = py_index(json_is_integer(k) ? json_integer_value(k) : json_is_true(k), json_array_size(o));
		if (i >= 0 && (size_t)i < json_array_size(o))
			*out = tp_v_json(json_array_get(o, (size_t)i));
	} else if (obj->k == V_JSON && json_is_string(o) && json_is_integer(k)) {
		const char *s = json_string_value(o);
		size_t n = json_string_length(o), len = tp_utf8_len(s, n);
		long long i = py_index(json_integer_value(k), len);
		if (i >= 0 && (size_t)i < len) {
			size_t a = tp_utf8_offset(s, n, i), b = tp_utf8_offset(s, n, i + 1);
			*out = tp_v_str(c, s + a, b - a);
		}
	}
	return 0;
}

/* Python slice bounds for a sequence of n. */
static void slice_bounds(size_t n, const struct val *sv[3], long long *start, long long *stop, long long *step)
{
	long long len = (long long)n;
	*step = sv[2] ? json_integer_value(sv[2]->j) : 1;
	bool neg = *step < 0;
	long long lo = neg ? -1 : 0, hi = neg ? len - 1 : len;
	for (int k = 0; k < 2; k++) {
		long long *dst = k ? stop : start;
		if (!sv[k]) {
			*dst = k ? (neg ? lo : hi) : (neg ? hi : lo);
			continue;
		}
		long long v = json_integer_value(sv[k]->j);
		if (v < 0) {
			v += len;
			if (v < lo)
				v = lo;
		} else if (v > hi) {
			v = hi;
		}
		*dst = v;
	}
}

static int eval_slice(struct ctx *c, const struct node *n, struct frame *fr, struct val *out)
{
	struct val obj, parts[3];
	const struct val *sv[3] = { NULL, NULL, NULL };
	const struct node *pn[3] = { n->b, n->c, n->d };
	if (tp_eval(c, n->a, fr, &obj) < 0)
		return -1;
	for (int k = 0; k < 3; k++) {
		if (!pn[k])
			continue;
		if (tp_eval(c, pn[k], fr, &parts[k]) < 0)
			return -1;
		if (parts[k].k == V_JSON && json_is_null(parts[k].j))
			continue;
		if (parts[k].k != V_JSON || !json_is_integer(parts[k].j))
			return tp_terr(c, n->line, "slice indices must be integers");
		sv[k] = &parts[k];
	}
	if (sv[2] && json_integer_value(sv[2]->j) == 0)
		return tp_terr(c, n->line, "slice step cannot be zero");
	if (obj.k == V_UNDEF)
		return undefined_error(c, n->line, &obj);
	long long start, stop, step;
	if (obj.k == V_JSON && json_is_array(obj.j)) {
		json_t *res = json_array();
		slice_bounds(json_array_size(obj.j), sv, &start, &stop, &step);
		for (long long i = start; step > 0 ? i < stop : i > stop; i += step)
			json_array_append(res, json_array_get(obj.j, (size_t)i));
		*out = tp_v_new(c, res);
		return 0;
	}
	if (obj.k == V_JSON && json_is_string(obj.j)) {
		const char *s = json_string_value(obj.j);
		size_t n_ = json_string_length(obj.j), len = tp_utf8_len(s, n_);
		struct strbuf b = { 0 };
		slice_bounds(len, sv, &start, &stop, &step);
		if (step == 1 && start < stop) {
			size_t a = tp_utf8_offset(s, n_, start), z = tp_utf8_offset(s, n_, stop);
			strbuf_add(&b, s + a, z - a);
		} else {
			for (long long i = start; step > 0 ? i < stop : i > stop; i += step) {
				size_t a = tp_utf8_offset(s, n_, i), z = tp_utf8_offset(s + a, n_ - a, 1);
				strbuf_add(&b, s + a, z);
			}
		}
		*out = tp_v_str(c, b.s, b.len);
		strbuf_release(&b);
		return 0;
	}
	return tp_terr(c, n->line, "'%s' object is not subscriptable", tp_v_typename(&obj));
}

/* ---- operators ---- */

static int arith_int(struct ctx *c, int line, int op, long long x, long long y, struct val *out)
{
	long long r;
	bool over = false;
	switch (op) {
	case '+': over = __builtin_add_overflow(x, y, &r); break;
	case '-': over = __builtin_sub_overflow(x, y, &r); break;
	case '*': over = __builtin_mul_overflow(x, y, &r); break;
	case OP2('/', '/'):
	case '%':
		if (y == 0)
			return tp_terr(c, line, "integer division or modulo by zero");
		if (x == LLONG_MIN && y == -1)
			return tp_terr(c, line, "integer overflow");
		r = op == '%' ? x % y : x / y;
		if (op == '%' && r != 0 && ((r < 0) != (y < 0)))
			r += y;
		else if (op != '%' && (x % y != 0) && ((x < 0) != (y < 0)))
			r -= 1;
		break;
	case OP2('*', '*'):
		if (y < 0) {
			if (x == 0)
				return tp_terr(c, line, "0 cannot be raised to a negative power");
			return tp_v_real_finite(c, line, pow((double)x, (double)y), out);
		}
		r = 1;
		for (long long i = 0; i < y && !over; i++) {
			over = __builtin_mul_overflow(r, x, &r);
			if (r == 0 || r == 1 || (r == -1 && x == -1 && (y - i) % 2 == 1))
				break;
		}
		if (!over && x == -1)
			r = y % 2 ? -1 : 1;
		break;
	default:
		return tp_terr(c, line, "bad operator");
	}
	if (over)
		return tp_terr(c, line, "integer overflow");
	*out = tp_v_int(c, r);
	return 0;
}

static int arith_real(struct ctx *c, int line, int op, double x, double y, struct val *out)
{
	double r;
	switch (op) {
	case '+': r = x + y; break;
	case '-': r = x - y; break;
	case '*': r = x * y; break;
	case '/':
		if (y == 0)
			return tp_terr(c, line, "division by zero");
		r = x / y;
		break;
	case OP2('/', '/'):
	case '%':
		if (y == 0)
			return tp_terr(c, line, "float division or modulo by zero");
		r = fmod(x, y);
		if (r != 0 && ((r < 0) != (y < 0)))
			r += y;
		if (op != '%')
			r = floor((x - r) / y + 0.5);
		break;
	case OP2('*', '*'): r = pow(x, y); break;
	default: return tp_terr(c, line, "bad operator");
	}
	return tp_v_real_finite(c, line, r, out);
}

static int repeat(struct ctx *c, int line, const struct val *seq, long long times, struct val *out)
{
	if (times < 0)
		times = 0;
	if (json_is_string(seq->j)) {
		size_t n = json_string_length(seq->j);
		if (n && (unsigned long long)times > TMPL_MAX_OUTPUT / n)
			return tp_terr(c, line, "string longer than %u bytes", TMPL_MAX_OUTPUT);
		if (tp_v_strcheck(c, line, n * (size_t)times) < 0)
			return -1;
		struct strbuf b = { 0 };
		for (long long i = 0; i < times; i++)
			strbuf_add(&b, json_string_value(seq->j), n);
		*out = tp_v_str(c, b.s, b.len);
		strbuf_release(&b);
		return 0;
	}
	size_t n = json_array_size(seq->j);
	if (n && (unsigned long long)times > TMPL_MAX_ITEMS / n)
		return tp_terr(c, line, "list longer than %d items", TMPL_MAX_ITEMS);
	json_t *res = json_array();
	for (long long i = 0; i < times; i++)
		json_array_extend(res, seq->j);
	*out = tp_v_new(c, res);
	return 0;
}

static int binop(struct ctx *c, const struct node *n, const struct val *a, const struct val *b, struct val *out)
{
	int op = n->op;
	if (op == '~') {
		struct strbuf s = { 0 };
		tp_v_to_str(c, n->line, a, &s);
		tp_v_to_str(c, n->line, b, &s);
		int rc = tp_v_strcheck(c, n->line, s.len);
		if (rc == 0)
			*out = tp_v_str(c, s.s, s.len);
		strbuf_release(&s);
		return rc;
	}
	if (a->k == V_UNDEF)
		return undefined_error(c, n->line, a);
	if (b->k == V_UNDEF)
		return undefined_error(c, n->line, b);
	bool an = a->k == V_JSON && (json_is_number(a->j) || json_is_boolean(a->j));
	bool bn = b->k == V_JSON && (json_is_number(b->j) || json_is_boolean(b->j));
	if (an && bn) {
		bool ints = !json_is_real(a->j) && !json_is_real(b->j);
		if (ints && op != '/') {
			long long x = json_is_integer(a->j) ? json_integer_value(a->j) : json_is_true(a->j);
			long long y = json_is_integer(b->j) ? json_integer_value(b->j) : json_is_true(b->j);
			return arith_int(c, n->line, op, x, y, out);
		}
		return arith_real(c, n->line, op, tp_json_num(a->j), tp_json_num(b->j), out);
	}
	if (op == '%' && tp_v_is_str(a)) {
		struct args fa = { .npos = 0 };
		if (b->k == V_JSON && json_is_array(b->j)) {  /* a tuple of arguments */
			if (json_array_size(b->j) > 16)
				return tp_terr(c, n->line, "too many arguments for format string");
			for (size_t i = 0; i < json_array_size(b->j); i++)
				fa.pos[fa.npos++] = tp_v_json(json_array_get(b->j, i));
		} else {
			fa.pos[fa.npos++] = *b;
		}
		return tp_str_printf(c, n->line, a, &fa, out);
	}
	if (op == '+' && tp_v_is_str(a) && tp_v_is_str(b)) {
		size_t la = json_string_length(a->j), lb = json_string_length(b->j);
		if (tp_v_strcheck(c, n->line, la + lb) < 0)
			return -1;
		char *s = xmalloc(la + lb + 1);
		memcpy(s, json_string_value(a->j), la);
		memcpy(s + la, json_string_value(b->j), lb);
		*out = tp_v_str(c, s, la + lb);
		free(s);
		return 0;
	}
	if (op == '+' && a->k == V_JSON && b->k == V_JSON && json_is_array(a->j) && json_is_array(b->j)) {
		if (json_array_size(a->j) + json_array_size(b->j) > TMPL_MAX_ITEMS)
			return tp_terr(c, n->line, "list longer than %d items", TMPL_MAX_ITEMS);
		json_t *res = json_copy(a->j);
		json_array_extend(res, b->j);
		*out = tp_v_new(c, res);
		return 0;
	}
	if (op == '*' && (tp_v_is_str(a) || (a->k == V_JSON && json_is_array(a->j))) && bn && !json_is_real(b->j))
		return repeat(c, n->line, a, json_is_integer(b->j) ? json_integer_value(b->j) : json_is_true(b->j), out);
	if (op == '*' && (tp_v_is_str(b) || (b->k == V_JSON && json_is_array(b->j))) && an && !json_is_real(a->j))
		return repeat(c, n->line, b, json_is_integer(a->j) ? json_integer_value(a->j) : json_is_true(a->j), out);
	char ops[3] = { (char)(op > 255 ? op >> 8 : op), (char)(op > 255 ? op & 255 : 0), 0 };
	return tp_terr(c, n->line, "unsupported operand type(s) for %s: '%s' and '%s'", ops, tp_v_typename(a),
		    tp_v_typename(b));
}

static bool v_equal(const struct val *a, const struct val *b)
{
	if (a->k == V_JSON && b->k == V_JSON)
		return tp_json_equal_py(a->j, b->j);
	if (a->k == V_UNDEF || b->k == V_UNDEF)
		return a->k == b->k;
	return a->k == b->k && a->j == b->j && a->n == b->n && a->name == b->name;
}

static int contains(struct ctx *c, int line, const struct val *item, const struct val *seq, bool *res)
{
	*res = false;
	if (seq->k == V_UNDEF)
		return 0;
	if (seq->k == V_NS || seq->k == V_LOOP || (seq->k == V_JSON && json_is_object(seq->j))) {
		*res = tp_v_is_str(item) && json_object_get(seq->j, json_string_value(item->j));
		return 0;
	}
	if (seq->k == V_JSON && json_is_string(seq->j)) {
		if (!tp_v_is_str(item))
			return tp_terr(c, line, "'in <string>' requires string as left operand, not %s",
				    tp_v_typename(item));
		*res = memmem(json_string_value(seq->j), json_string_length(seq->j), json_string_value(item->j),
			      json_string_length(item->j)) != NULL;
		return 0;
	}
	if (seq->k == V_JSON && json_is_array(seq->j)) {
		for (size_t i = 0; i < json_array_size(seq->j); i++) {
			struct val e = tp_v_json(json_array_get(seq->j, i));
			if (v_equal(item, &e)) {
				*res = true;
				break;
			}
		}
		return 0;
	}
	return tp_terr(c, line, "argument of type '%s' is not iterable", tp_v_typename(seq));
}

static int compare(struct ctx *c, const struct node *n, const struct val *a, const struct val *b, bool *res)
{
	switch (n->op) {
	case OP2('=', '='): *res = v_equal(a, b); return 0;
	case OP2('!', '='): *res = !v_equal(a, b); return 0;
	case 'i': return contains(c, n->line, a, b, res);
	case 'n':
		if (contains(c, n->line, a, b, res) < 0)
			return -1;
		*res = !*res;
		return 0;
	}
	int r;
	if (a->k != V_JSON || b->k != V_JSON || tp_json_cmp_py(a->j, b->j, &r) < 0) {
		char ops[3] = { (char)(n->op > 255 ? n->op >> 8 : n->op), (char)(n->op > 255 ? n->op & 255 : 0), 0 };
		return tp_terr(c, n->line, "'%s' not supported between instances of '%s' and '%s'", ops,
			    tp_v_typename(a), tp_v_typename(b));
	}
	switch (n->op) {
	case '<': *res = r < 0; break;
	case '>': *res = r > 0; break;
	case OP2('<', '='): *res = r <= 0; break;
	default: *res = r >= 0; break;
	}
	return 0;
}

/* ---- calls ---- */

static int eval_args(struct ctx *c, const struct node *n, struct frame *fr, struct args *a)
{
	a->npos = a->nkw = 0;
	for (size_t i = 0; i < n->nkids; i++) {
		const struct node *k = n->kids[i];
		bool kw = k->kind == N_KWARG;
		if ((kw ? a->nkw : a->npos) >= 16)
			return tp_terr(c, n->line, "too many arguments");
		if (kw) {
			a->kwname[a->nkw] = k->str;
			if (tp_eval(c, k->a, fr, &a->kw[a->nkw++]) < 0)
				return -1;
		} else if (tp_eval(c, k, fr, &a->pos[a->npos++]) < 0) {
			return -1;
		}
	}
	return 0;
}

int tp_call_macro(struct ctx *c, int line, const struct val *m, const struct val *args, size_t nargs,
	       const char *const *kwnames, const struct val *kwvals, size_t nkw, const struct val *caller,
	       struct val *out)
{
	const struct node *def = m->n;
	bool is_caller = def->kind == N_CALLBLOCK;
	if (c->calls >= TMPL_MAX_CALL_DEPTH)
		return tp_terr(c, line, "macro calls nested more than %d deep", TMPL_MAX_CALL_DEPTH);
	struct frame f;
	tp_frame_init(&f, is_caller ? m->fr : c->root);
	int rc = 0;
	json_t *varargs = tp_keep(c, json_array()), *kwargs = tp_keep(c, json_object());
	for (size_t i = def->nkids; i < nargs; i++)
		if (args[i].k == V_JSON)
			json_array_append(varargs, args[i].j);
	for (size_t i = 0; i < def->nkids && rc == 0; i++) {
		const struct node *p = def->kids[i];
		struct val v = tp_v_undef(p->str);
		bool set = false;
		if (i < nargs)
			v = args[i], set = true;
		for (size_t k = 0; k < nkw; k++)
			if (!strcmp(kwnames[k], p->str))
				v = kwvals[k], set = true;
		if (!set && p->b)
			rc = tp_eval(c, p->b, &f, &v);
		tp_bind(&f, p->str, &v);
	}
	for (size_t k = 0; k < nkw; k++) {
		bool param = false;
		for (size_t i = 0; i < def->nkids; i++)
			param |= !strcmp(kwnames[k], def->kids[i]->str);
		if (!param && kwvals[k].k == V_JSON)
			json_object_set_nocheck(kwargs, kwnames[k], kwvals[k].j);
	}
	struct val va = tp_v_json(varargs), kv = tp_v_json(kwargs);
	tp_bind(&f, "varargs", &va);
	tp_bind(&f, "kwargs", &kv);
	if (!is_caller && caller)
		tp_bind(&f, "caller", caller);
	c->calls++;
	if (rc == 0)
		rc = tp_capture(c, is_caller ? def->b : def->a, &f, out) < 0 ? -1 : 0;
	c->calls--;
	tp_frame_free(&f);
	return rc;
}

static int eval_call(struct ctx *c, const struct node *n, struct frame *fr, struct val *out)
{
	struct args a;
	const struct node *callee = n->a;
	if (callee->kind == N_GETATTR) {
		struct val obj;
		if (tp_eval(c, callee->a, fr, &obj) < 0)
			return -1;
		if (obj.k == V_UNDEF)
			return undefined_error(c, n->line, &obj);
		if (eval_args(c, n, fr, &a) < 0)
			return -1;
		return tp_call_method(c, n->line, &obj, callee->str, &a, out);
	}
	struct val f;
	if (tp_eval(c, callee, fr, &f) < 0 || eval_args(c, n, fr, &a) < 0)
		return -1;
	if (f.k == V_FUNC)
		return tp_call_builtin(c, n->line, f.name, &a, out);
	if (f.k == V_MACRO)
		return tp_call_macro(c, n->line, &f, a.pos, a.npos, a.kwname, a.kw, a.nkw,
				  n == c->caller_call ? c->caller : NULL, out);
	if (f.k == V_UNDEF)
		return undefined_error(c, n->line, &f);
	return tp_terr(c, n->line, "'%s' object is not callable", tp_v_typename(&f));
}

/* ---- expressions ---- */

static int to_json_elem(struct ctx *c, int line, const struct val *v, json_t **out)
{
	if (v->k == V_JSON) {
		*out = v->j;
		return 0;
	}
	if (v->k == V_UNDEF) {
		*out = json_null();
		return 0;
	}
	return tp_terr(c, line, "unsupported: a %s inside a list or dict", tp_v_typename(v));
}

static int eval_container(struct ctx *c, const struct node *n, struct frame *fr, struct val *out)
{
	bool dict = n->kind == N_DICT;
	json_t *res = tp_keep(c, dict ? json_object() : json_array());
	for (size_t i = 0; i < n->nkids; i++) {
		const struct node *k = n->kids[i];
		struct val v, key;
		json_t *j = NULL;
		if (tp_eval(c, dict ? k->b : k, fr, &v) < 0 || to_json_elem(c, k->line, &v, &j) < 0)
			return -1;
		if (!dict) {
			json_array_append(res, j);
			continue;
		}
		if (tp_eval(c, k->a, fr, &key) < 0)
			return -1;
		if (!tp_v_is_str(&key))
			return tp_terr(c, k->line, "unsupported: a dict key of type %s", tp_v_typename(&key));
		json_object_set_nocheck(res, json_string_value(key.j), j);
	}
	*out = tp_v_json(res);
	return 0;
}

static int eval_filter(struct ctx *c, const struct node *n, struct frame *fr, struct val *out)
{
	struct val in;
	struct args a;
	if (tp_eval(c, n->a, fr, &in) < 0 || eval_args(c, n, fr, &a) < 0)
		return -1;
	return tp_apply_filter(c, n->line, n->str, &in, &a, fr, out);
}

static int eval_test(struct ctx *c, const struct node *n, struct frame *fr, struct val *out)
{
	struct val in;
	struct args a;
	bool res;
	if (tp_eval(c, n->a, fr, &in) < 0 || eval_args(c, n, fr, &a) < 0)
		return -1;
	if (tp_apply_test(c, n->line, n->str, &in, &a, &res) < 0)
		return -1;
	*out = tp_v_bool(res != (bool)n->op);
	return 0;
}

static int eval_node(struct ctx *c, const struct node *n, struct frame *fr, struct val *out)
{
	struct val a, b;
	bool res;
	switch (n->kind) {
	case N_CONST: *out = tp_v_json(n->lit); return 0;
	case N_NAME: *out = tp_lookup(fr, n->str); return 0;
	case N_HOLE: *out = c->hole; return 0;
	case N_LIST: case N_TUPLE: case N_DICT: return eval_container(c, n, fr, out);
	case N_GETATTR:
		return tp_eval(c, n->a, fr, &a) < 0 ? -1 : tp_v_getattr(c, n->line, &a, n->str, out);
	case N_GETITEM:
		if (tp_eval(c, n->a, fr, &a) < 0 || tp_eval(c, n->b, fr, &b) < 0)
			return -1;
		return tp_v_getitem(c, n->line, &a, &b, out);
	case N_SLICE: return eval_slice(c, n, fr, out);
	case N_CALL: return eval_call(c, n, fr, out);
	case N_FILTER: return eval_filter(c, n, fr, out);
	case N_TEST: return eval_test(c, n, fr, out);
	case N_BINOP:
		if (tp_eval(c, n->a, fr, &a) < 0 || tp_eval(c, n->b, fr, &b) < 0)
			return -1;
		return binop(c, n, &a, &b, out);
	case N_COMPARE:
		if (tp_eval(c, n->a, fr, &a) < 0 || tp_eval(c, n->b, fr, &b) < 0 || compare(c, n, &a, &b, &res) < 0)
			return -1;
		*out = tp_v_bool(res);
		return 0;
	case N_NOT:
		if (tp_eval(c, n->a, fr, &a) < 0)
			return -1;
		*out = tp_v_bool(!tp_v_truthy(&a));
		return 0;
	case N_AND: case N_OR:
		if (tp_eval(c, n->a, fr, &a) < 0)
			return -1;
		if (tp_v_truthy(&a) == (n->kind == N_OR)) {
			*out = a;
			return 0;
		}
		return tp_eval(c, n->b, fr, out);
	case N_COND:
		if (tp_eval(c, n->a, fr, &a) < 0)
			return -1;
		if (tp_v_truthy(&a))
			return tp_eval(c, n->b, fr, out);
		if (n->c)
			return tp_eval(c, n->c, fr, out);
		*out = tp_v_undef("else");
		return 0;
	case N_NEG: case N_POS:
		if (tp_eval(c, n->a, fr, &a) < 0)
			return -1;
		if (a.k != V_JSON || !(json_is_number(a.j) || json_is_boolean(a.j)))
			return tp_terr(c, n->line, "bad operand type for unary %c: '%s'", n->kind == N_NEG ? '-' : '+',
				    tp_v_typename(&a));
		if (n->kind == N_POS)
			*out = json_is_boolean(a.j) ? tp_v_int(c, json_is_true(a.j)) : a;
		else if (json_is_real(a.j))
			*out = tp_v_real(c, -json_real_value(a.j));
		else if (json_is_integer(a.j) && json_integer_value(a.j) == LLONG_MIN)
			return tp_terr(c, n->line, "integer overflow");
		else
			*out = tp_v_int(c, json_is_integer(a.j) ? -json_integer_value(a.j) : -(long long)json_is_true(a.j));
		return 0;
	default:
		return tp_terr(c, n->line, "internal error: statement in an expression");
	}
}

int tp_eval(struct ctx *c, const struct node *n, struct frame *fr, struct val *out)
{
	if (!n)
		return tp_terr(c, 0, "internal error: missing expression");
	if (++c->steps > TMPL_MAX_STEPS)
		return tp_terr(c, n->line, "template ran more than %ld steps", TMPL_MAX_STEPS);
	if (c->depth >= TMPL_MAX_EVAL_DEPTH)
		return tp_terr(c, n->line, "template recursion deeper than %d", TMPL_MAX_EVAL_DEPTH);
	c->depth++;
	*out = tp_v_undef(NULL);
	int rc = eval_node(c, n, fr, out);
	c->depth--;
	return rc;
}
