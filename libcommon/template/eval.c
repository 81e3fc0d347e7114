/* The evaluator: runs the syntax tree over JSON values in scopes, with the
 * limits that keep a hostile template from crashing or hanging (recursion,
 * steps, loop iterations, string sizes).  Every value made while rendering
 * is held by the context's arena and passed around borrowed; loops give back
 * what an iteration made and nothing else holds. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "template/tmpl_impl.h"
#include "util/err.h"

enum { EXEC_OK = 0, EXEC_BREAK = 1, EXEC_CONTINUE = 2 };

/* ---- the arena ---- */

json_t *keep(struct ctx *c, json_t *fresh)
{
	if (!fresh)
		fresh = json_null();  /* allocation failure: a null is harmless */
	if (c->narena == c->caparena) {
		c->caparena = c->caparena ? c->caparena * 2 : 256;
		c->arena = xrealloc(c->arena, c->caparena * sizeof *c->arena);
	}
	c->arena[c->narena++] = fresh;
	return fresh;
}

/* Give back what was made since mark and is held by nothing else. */
static void arena_trim(struct ctx *c, size_t mark)
{
	size_t w = mark;
	for (size_t i = mark; i < c->narena; i++) {
		json_t *j = c->arena[i];
		if (j->refcount == 1)
			json_decref(j);
		else
			c->arena[w++] = j;
	}
	c->narena = w;
}

/* ---- scopes ---- */

static void frame_init(struct frame *f, struct frame *parent)
{
	memset(f, 0, sizeof *f);
	f->vars = json_object();
	f->parent = parent;
}

static void frame_free(struct frame *f)
{
	for (size_t i = 0; i < f->nsp; i++)
		json_decref(f->sp[i].v.j);
	free(f->sp);
	json_decref(f->vars);
}

static struct binding *frame_special(struct frame *f, const char *name)
{
	for (size_t i = 0; i < f->nsp; i++)
		if (!strcmp(f->sp[i].name, name))
			return &f->sp[i];
	return NULL;
}

static void bind(struct frame *f, const char *name, const struct val *v)
{
	struct binding *b = frame_special(f, name);
	if (v->k == V_JSON && !v->gen) {
		if (b) {
			json_decref(b->v.j);
			*b = f->sp[--f->nsp];
		}
		json_object_set_nocheck(f->vars, name, v->j);
		return;
	}
	json_object_del(f->vars, name);
	if (!b) {
		if (f->nsp == f->capsp) {
			f->capsp = f->capsp ? f->capsp * 2 : 4;
			f->sp = xrealloc(f->sp, f->capsp * sizeof *f->sp);
		}
		b = &f->sp[f->nsp++];
	} else {
		json_decref(b->v.j);
	}
	b->name = name;
	b->v = *v;
	json_incref(v->j);
}

static struct val lookup(struct frame *f, const char *name)
{
	for (; f; f = f->parent) {
		struct binding *b = frame_special(f, name);
		if (b)
			return b->v;
		json_t *j = json_object_get(f->vars, name);
		if (j)
			return v_json(j);
	}
	if (builtin_known(name))
		return (struct val){ .k = V_FUNC, .name = name };
	return v_undef(name);
}

const struct val *arg_get(const struct args *a, size_t i, const char *kw)
{
	for (size_t k = 0; kw && k < a->nkw; k++)
		if (!strcmp(a->kwname[k], kw))
			return &a->kw[k];
	return i < a->npos ? &a->pos[i] : NULL;
}

/* ---- attributes and items ---- */

static int undefined_error(struct ctx *c, int line, const struct val *v)
{
	return terr(c, line, "'%s' is undefined", v->name ? v->name : "value");
}

int v_getattr(struct ctx *c, int line, const struct val *obj, const char *name, struct val *out)
{
	if (obj->k == V_UNDEF)
		return undefined_error(c, line, obj);
	*out = v_undef(name);
	if ((obj->k == V_JSON || obj->k == V_NS || obj->k == V_LOOP) && json_is_object(obj->j)) {
		json_t *j = json_object_get(obj->j, name);
		if (j)
			*out = v_json(j);
	}
	return 0;
}

static long long py_index(long long i, size_t n)
{
	return i < 0 ? i + (long long)n : i;
}

int v_getitem(struct ctx *c, int line, const struct val *obj, const struct val *key, struct val *out)
{
	if (obj->k == V_UNDEF)
		return undefined_error(c, line, obj);
	*out = v_undef(v_is_str(key) ? json_string_value(key->j) : "item");
	if (obj->k == V_UNDEF || key->k != V_JSON || !obj->j)
		return 0;
	json_t *o = obj->j, *k = key->j;
	if (json_is_object(o) && json_is_string(k)) {
		json_t *j = json_object_get(o, json_string_value(k));
		if (j)
			*out = v_json(j);
	} else if (obj->k == V_JSON && json_is_array(o) && (json_is_integer(k) || json_is_boolean(k))) {
		long long i = py_index(json_is_integer(k) ? json_integer_value(k) : json_is_true(k), json_array_size(o));
		if (i >= 0 && (size_t)i < json_array_size(o))
			*out = v_json(json_array_get(o, (size_t)i));
	} else if (obj->k == V_JSON && json_is_string(o) && json_is_integer(k)) {
		const char *s = json_string_value(o);
		size_t n = json_string_length(o), len = utf8_len(s, n);
		long long i = py_index(json_integer_value(k), len);
		if (i >= 0 && (size_t)i < len) {
			size_t a = utf8_offset(s, n, i), b = utf8_offset(s, n, i + 1);
			*out = v_str(c, s + a, b - a);
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
	if (eval(c, n->a, fr, &obj) < 0)
		return -1;
	for (int k = 0; k < 3; k++) {
		if (!pn[k])
			continue;
		if (eval(c, pn[k], fr, &parts[k]) < 0)
			return -1;
		if (parts[k].k == V_JSON && json_is_null(parts[k].j))
			continue;
		if (parts[k].k != V_JSON || !json_is_integer(parts[k].j))
			return terr(c, n->line, "slice indices must be integers");
		sv[k] = &parts[k];
	}
	if (sv[2] && json_integer_value(sv[2]->j) == 0)
		return terr(c, n->line, "slice step cannot be zero");
	if (obj.k == V_UNDEF)
		return undefined_error(c, n->line, &obj);
	long long start, stop, step;
	if (obj.k == V_JSON && json_is_array(obj.j)) {
		json_t *res = json_array();
		slice_bounds(json_array_size(obj.j), sv, &start, &stop, &step);
		for (long long i = start; step > 0 ? i < stop : i > stop; i += step)
			json_array_append(res, json_array_get(obj.j, (size_t)i));
		*out = v_new(c, res);
		return 0;
	}
	if (obj.k == V_JSON && json_is_string(obj.j)) {
		const char *s = json_string_value(obj.j);
		size_t n_ = json_string_length(obj.j), len = utf8_len(s, n_);
		struct strbuf b = { 0 };
		slice_bounds(len, sv, &start, &stop, &step);
		if (step == 1 && start < stop) {
			size_t a = utf8_offset(s, n_, start), z = utf8_offset(s, n_, stop);
			sb_add(&b, s + a, z - a);
		} else {
			for (long long i = start; step > 0 ? i < stop : i > stop; i += step) {
				size_t a = utf8_offset(s, n_, i), z = utf8_offset(s + a, n_ - a, 1);
				sb_add(&b, s + a, z);
			}
		}
		*out = v_str(c, b.s, b.len);
		sb_free(&b);
		return 0;
	}
	return terr(c, n->line, "'%s' object is not subscriptable", v_typename(&obj));
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
			return terr(c, line, "integer division or modulo by zero");
		if (x == LLONG_MIN && y == -1)
			return terr(c, line, "integer overflow");
		r = op == '%' ? x % y : x / y;
		if (op == '%' && r != 0 && ((r < 0) != (y < 0)))
			r += y;
		else if (op != '%' && (x % y != 0) && ((x < 0) != (y < 0)))
			r -= 1;
		break;
	case OP2('*', '*'):
		if (y < 0) {
			if (x == 0)
				return terr(c, line, "0 cannot be raised to a negative power");
			return v_real_finite(c, line, pow((double)x, (double)y), out);
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
		return terr(c, line, "bad operator");
	}
	if (over)
		return terr(c, line, "integer overflow");
	*out = v_int(c, r);
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
			return terr(c, line, "division by zero");
		r = x / y;
		break;
	case OP2('/', '/'):
	case '%':
		if (y == 0)
			return terr(c, line, "float division or modulo by zero");
		r = fmod(x, y);
		if (r != 0 && ((r < 0) != (y < 0)))
			r += y;
		if (op != '%')
			r = floor((x - r) / y + 0.5);
		break;
	case OP2('*', '*'): r = pow(x, y); break;
	default: return terr(c, line, "bad operator");
	}
	return v_real_finite(c, line, r, out);
}

static int repeat(struct ctx *c, int line, const struct val *seq, long long times, struct val *out)
{
	if (times < 0)
		times = 0;
	if (json_is_string(seq->j)) {
		size_t n = json_string_length(seq->j);
		if (n && (unsigned long long)times > TMPL_MAX_OUTPUT / n)
			return terr(c, line, "string longer than %u bytes", TMPL_MAX_OUTPUT);
		if (v_strcheck(c, line, n * (size_t)times) < 0)
			return -1;
		struct strbuf b = { 0 };
		for (long long i = 0; i < times; i++)
			sb_add(&b, json_string_value(seq->j), n);
		*out = v_str(c, b.s, b.len);
		sb_free(&b);
		return 0;
	}
	size_t n = json_array_size(seq->j);
	if (n && (unsigned long long)times > TMPL_MAX_ITEMS / n)
		return terr(c, line, "list longer than %d items", TMPL_MAX_ITEMS);
	json_t *res = json_array();
	for (long long i = 0; i < times; i++)
		json_array_extend(res, seq->j);
	*out = v_new(c, res);
	return 0;
}

static int binop(struct ctx *c, const struct node *n, const struct val *a, const struct val *b, struct val *out)
{
	int op = n->op;
	if (op == '~') {
		struct strbuf s = { 0 };
		v_to_str(c, n->line, a, &s);
		v_to_str(c, n->line, b, &s);
		int rc = v_strcheck(c, n->line, s.len);
		if (rc == 0)
			*out = v_str(c, s.s, s.len);
		sb_free(&s);
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
		return arith_real(c, n->line, op, json_num(a->j), json_num(b->j), out);
	}
	if (op == '+' && v_is_str(a) && v_is_str(b)) {
		size_t la = json_string_length(a->j), lb = json_string_length(b->j);
		if (v_strcheck(c, n->line, la + lb) < 0)
			return -1;
		char *s = xmalloc(la + lb + 1);
		memcpy(s, json_string_value(a->j), la);
		memcpy(s + la, json_string_value(b->j), lb);
		*out = v_str(c, s, la + lb);
		free(s);
		return 0;
	}
	if (op == '+' && a->k == V_JSON && b->k == V_JSON && json_is_array(a->j) && json_is_array(b->j)) {
		if (json_array_size(a->j) + json_array_size(b->j) > TMPL_MAX_ITEMS)
			return terr(c, n->line, "list longer than %d items", TMPL_MAX_ITEMS);
		json_t *res = json_copy(a->j);
		json_array_extend(res, b->j);
		*out = v_new(c, res);
		return 0;
	}
	if (op == '*' && (v_is_str(a) || (a->k == V_JSON && json_is_array(a->j))) && bn && !json_is_real(b->j))
		return repeat(c, n->line, a, json_is_integer(b->j) ? json_integer_value(b->j) : json_is_true(b->j), out);
	if (op == '*' && (v_is_str(b) || (b->k == V_JSON && json_is_array(b->j))) && an && !json_is_real(a->j))
		return repeat(c, n->line, b, json_is_integer(a->j) ? json_integer_value(a->j) : json_is_true(a->j), out);
	char ops[3] = { (char)(op > 255 ? op >> 8 : op), (char)(op > 255 ? op & 255 : 0), 0 };
	return terr(c, n->line, "unsupported operand type(s) for %s: '%s' and '%s'", ops, v_typename(a),
		    v_typename(b));
}

static bool v_equal(const struct val *a, const struct val *b)
{
	if (a->k == V_JSON && b->k == V_JSON)
		return json_equal_py(a->j, b->j);
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
		*res = v_is_str(item) && json_object_get(seq->j, json_string_value(item->j));
		return 0;
	}
	if (seq->k == V_JSON && json_is_string(seq->j)) {
		if (!v_is_str(item))
			return terr(c, line, "'in <string>' requires string as left operand, not %s",
				    v_typename(item));
		*res = memmem(json_string_value(seq->j), json_string_length(seq->j), json_string_value(item->j),
			      json_string_length(item->j)) != NULL;
		return 0;
	}
	if (seq->k == V_JSON && json_is_array(seq->j)) {
		for (size_t i = 0; i < json_array_size(seq->j); i++) {
			struct val e = v_json(json_array_get(seq->j, i));
			if (v_equal(item, &e)) {
				*res = true;
				break;
			}
		}
		return 0;
	}
	return terr(c, line, "argument of type '%s' is not iterable", v_typename(seq));
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
	if (a->k != V_JSON || b->k != V_JSON || json_cmp_py(a->j, b->j, &r) < 0) {
		char ops[3] = { (char)(n->op > 255 ? n->op >> 8 : n->op), (char)(n->op > 255 ? n->op & 255 : 0), 0 };
		return terr(c, n->line, "'%s' not supported between instances of '%s' and '%s'", ops,
			    v_typename(a), v_typename(b));
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
			return terr(c, n->line, "too many arguments");
		if (kw) {
			a->kwname[a->nkw] = k->str;
			if (eval(c, k->a, fr, &a->kw[a->nkw++]) < 0)
				return -1;
		} else if (eval(c, k, fr, &a->pos[a->npos++]) < 0) {
			return -1;
		}
	}
	return 0;
}

static int exec_body(struct ctx *c, const struct node *n, struct frame *fr);

/* Run body in frame f with its output captured as a string value. */
static int capture(struct ctx *c, const struct node *body, struct frame *f, struct val *out)
{
	struct strbuf buf = { 0 }, *saved = c->out;
	c->out = &buf;
	int rc = body ? exec_body(c, body, f) : 0;
	c->out = saved;
	if (rc >= 0)
		*out = v_str(c, buf.s, buf.len);
	sb_free(&buf);
	return rc < 0 ? -1 : 0;
}

int call_macro(struct ctx *c, int line, const struct val *m, const struct val *args, size_t nargs,
	       const char *const *kwnames, const struct val *kwvals, size_t nkw, const struct val *caller,
	       struct val *out)
{
	const struct node *def = m->n;
	bool is_caller = def->kind == N_CALLBLOCK;
	if (c->calls >= TMPL_MAX_CALL_DEPTH)
		return terr(c, line, "macro calls nested more than %d deep", TMPL_MAX_CALL_DEPTH);
	struct frame f;
	frame_init(&f, is_caller ? m->fr : c->root);
	int rc = 0;
	json_t *varargs = keep(c, json_array()), *kwargs = keep(c, json_object());
	for (size_t i = def->nkids; i < nargs; i++)
		if (args[i].k == V_JSON)
			json_array_append(varargs, args[i].j);
	for (size_t i = 0; i < def->nkids && rc == 0; i++) {
		const struct node *p = def->kids[i];
		struct val v = v_undef(p->str);
		bool set = false;
		if (i < nargs)
			v = args[i], set = true;
		for (size_t k = 0; k < nkw; k++)
			if (!strcmp(kwnames[k], p->str))
				v = kwvals[k], set = true;
		if (!set && p->b)
			rc = eval(c, p->b, &f, &v);
		bind(&f, p->str, &v);
	}
	for (size_t k = 0; k < nkw; k++) {
		bool param = false;
		for (size_t i = 0; i < def->nkids; i++)
			param |= !strcmp(kwnames[k], def->kids[i]->str);
		if (!param && kwvals[k].k == V_JSON)
			json_object_set_nocheck(kwargs, kwnames[k], kwvals[k].j);
	}
	struct val va = v_json(varargs), kv = v_json(kwargs);
	bind(&f, "varargs", &va);
	bind(&f, "kwargs", &kv);
	if (!is_caller && caller)
		bind(&f, "caller", caller);
	c->calls++;
	if (rc == 0)
		rc = capture(c, is_caller ? def->b : def->a, &f, out);
	c->calls--;
	frame_free(&f);
	return rc;
}

static int eval_call(struct ctx *c, const struct node *n, struct frame *fr, struct val *out)
{
	struct args a;
	const struct node *callee = n->a;
	if (callee->kind == N_GETATTR) {
		struct val obj;
		if (eval(c, callee->a, fr, &obj) < 0)
			return -1;
		if (obj.k == V_UNDEF)
			return undefined_error(c, n->line, &obj);
		if (eval_args(c, n, fr, &a) < 0)
			return -1;
		return call_method(c, n->line, &obj, callee->str, &a, out);
	}
	struct val f;
	if (eval(c, callee, fr, &f) < 0 || eval_args(c, n, fr, &a) < 0)
		return -1;
	if (f.k == V_FUNC)
		return call_builtin(c, n->line, f.name, &a, out);
	if (f.k == V_MACRO)
		return call_macro(c, n->line, &f, a.pos, a.npos, a.kwname, a.kw, a.nkw,
				  n == c->caller_call ? c->caller : NULL, out);
	if (f.k == V_UNDEF)
		return undefined_error(c, n->line, &f);
	return terr(c, n->line, "'%s' object is not callable", v_typename(&f));
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
	return terr(c, line, "unsupported: a %s inside a list or dict", v_typename(v));
}

static int eval_container(struct ctx *c, const struct node *n, struct frame *fr, struct val *out)
{
	bool dict = n->kind == N_DICT;
	json_t *res = keep(c, dict ? json_object() : json_array());
	for (size_t i = 0; i < n->nkids; i++) {
		const struct node *k = n->kids[i];
		struct val v, key;
		json_t *j = NULL;
		if (eval(c, dict ? k->b : k, fr, &v) < 0 || to_json_elem(c, k->line, &v, &j) < 0)
			return -1;
		if (!dict) {
			json_array_append(res, j);
			continue;
		}
		if (eval(c, k->a, fr, &key) < 0)
			return -1;
		if (!v_is_str(&key))
			return terr(c, k->line, "unsupported: a dict key of type %s", v_typename(&key));
		json_object_set_nocheck(res, json_string_value(key.j), j);
	}
	*out = v_json(res);
	return 0;
}

static int eval_filter(struct ctx *c, const struct node *n, struct frame *fr, struct val *out)
{
	struct val in;
	struct args a;
	if (eval(c, n->a, fr, &in) < 0 || eval_args(c, n, fr, &a) < 0)
		return -1;
	return apply_filter(c, n->line, n->str, &in, &a, fr, out);
}

static int eval_test(struct ctx *c, const struct node *n, struct frame *fr, struct val *out)
{
	struct val in;
	struct args a;
	bool res;
	if (eval(c, n->a, fr, &in) < 0 || eval_args(c, n, fr, &a) < 0)
		return -1;
	if (apply_test(c, n->line, n->str, &in, &a, &res) < 0)
		return -1;
	*out = v_bool(res != (bool)n->op);
	return 0;
}

static int eval_node(struct ctx *c, const struct node *n, struct frame *fr, struct val *out)
{
	struct val a, b;
	bool res;
	switch (n->kind) {
	case N_CONST: *out = v_json(n->lit); return 0;
	case N_NAME: *out = lookup(fr, n->str); return 0;
	case N_HOLE: *out = c->hole; return 0;
	case N_LIST: case N_TUPLE: case N_DICT: return eval_container(c, n, fr, out);
	case N_GETATTR:
		return eval(c, n->a, fr, &a) < 0 ? -1 : v_getattr(c, n->line, &a, n->str, out);
	case N_GETITEM:
		if (eval(c, n->a, fr, &a) < 0 || eval(c, n->b, fr, &b) < 0)
			return -1;
		return v_getitem(c, n->line, &a, &b, out);
	case N_SLICE: return eval_slice(c, n, fr, out);
	case N_CALL: return eval_call(c, n, fr, out);
	case N_FILTER: return eval_filter(c, n, fr, out);
	case N_TEST: return eval_test(c, n, fr, out);
	case N_BINOP:
		if (eval(c, n->a, fr, &a) < 0 || eval(c, n->b, fr, &b) < 0)
			return -1;
		return binop(c, n, &a, &b, out);
	case N_COMPARE:
		if (eval(c, n->a, fr, &a) < 0 || eval(c, n->b, fr, &b) < 0 || compare(c, n, &a, &b, &res) < 0)
			return -1;
		*out = v_bool(res);
		return 0;
	case N_NOT:
		if (eval(c, n->a, fr, &a) < 0)
			return -1;
		*out = v_bool(!v_truthy(&a));
		return 0;
	case N_AND: case N_OR:
		if (eval(c, n->a, fr, &a) < 0)
			return -1;
		if (v_truthy(&a) == (n->kind == N_OR)) {
			*out = a;
			return 0;
		}
		return eval(c, n->b, fr, out);
	case N_COND:
		if (eval(c, n->a, fr, &a) < 0)
			return -1;
		if (v_truthy(&a))
			return eval(c, n->b, fr, out);
		if (n->c)
			return eval(c, n->c, fr, out);
		*out = v_undef("else");
		return 0;
	case N_NEG: case N_POS:
		if (eval(c, n->a, fr, &a) < 0)
			return -1;
		if (a.k != V_JSON || !(json_is_number(a.j) || json_is_boolean(a.j)))
			return terr(c, n->line, "bad operand type for unary %c: '%s'", n->kind == N_NEG ? '-' : '+',
				    v_typename(&a));
		if (n->kind == N_POS)
			*out = json_is_boolean(a.j) ? v_int(c, json_is_true(a.j)) : a;
		else if (json_is_real(a.j))
			*out = v_real(c, -json_real_value(a.j));
		else if (json_is_integer(a.j) && json_integer_value(a.j) == LLONG_MIN)
			return terr(c, n->line, "integer overflow");
		else
			*out = v_int(c, json_is_integer(a.j) ? -json_integer_value(a.j) : -(long long)json_is_true(a.j));
		return 0;
	default:
		return terr(c, n->line, "internal error: statement in an expression");
	}
}

int eval(struct ctx *c, const struct node *n, struct frame *fr, struct val *out)
{
	if (!n)
		return terr(c, 0, "internal error: missing expression");
	if (++c->steps > TMPL_MAX_STEPS)
		return terr(c, n->line, "template ran more than %ld steps", TMPL_MAX_STEPS);
	if (c->depth >= TMPL_MAX_EVAL_DEPTH)
		return terr(c, n->line, "template recursion deeper than %d", TMPL_MAX_EVAL_DEPTH);
	c->depth++;
	*out = v_undef(NULL);
	int rc = eval_node(c, n, fr, out);
	c->depth--;
	return rc;
}

/* ---- statements ---- */

static int emit(struct ctx *c, int line, const char *s, size_t n)
{
	if (c->out->len + n > TMPL_MAX_OUTPUT)
		return terr(c, line, "output longer than %u bytes", TMPL_MAX_OUTPUT);
	sb_add(c->out, s, n);
	return 0;
}

static int assign(struct ctx *c, const struct node *target, struct frame *fr, const struct val *v)
{
	if (target->kind == N_NAME) {
		bind(fr, target->str, v);
		return 0;
	}
	if (target->kind == N_GETATTR) {
		struct val ns = lookup(fr, target->a->str);
		if (ns.k != V_NS)
			return terr(c, target->line, "cannot assign attribute on non-namespace object");
		if (v->k != V_JSON)
			return terr(c, target->line, "unsupported: a %s as a namespace attribute", v_typename(v));
		if (json_contains(v->j, ns.j))
			return terr(c, target->line, "a namespace cannot contain itself");
		json_object_set_nocheck(ns.j, target->str, v->j);
		return 0;
	}
	/* unpacking */
	json_t *seq = v->k == V_JSON ? v->j : NULL;
	if (!seq || !json_is_array(seq))
		return terr(c, target->line, "cannot unpack a %s", v_typename(v));
	if (json_array_size(seq) != target->nkids)
		return terr(c, target->line, "cannot unpack %zu values into %zu names", json_array_size(seq),
			    target->nkids);
	for (size_t i = 0; i < target->nkids; i++) {
		struct val e = v_json(json_array_get(seq, i));
		bind(fr, target->kids[i]->str, &e);
	}
	return 0;
}

/* The items a for loop walks: a list (a copy of it), a dict's keys, a string's characters. */
static int iterable(struct ctx *c, int line, const struct val *v, json_t **out)
{
	if (v->k == V_UNDEF) {
		*out = keep(c, json_array());
		return 0;
	}
	if (v->k == V_JSON && json_is_array(v->j)) {
		*out = keep(c, json_copy(v->j));
		return 0;
	}
	if ((v->k == V_JSON || v->k == V_NS) && json_is_object(v->j)) {
		json_t *keys = keep(c, json_array());
		const char *k;
		json_t *x;
		json_object_foreach(v->j, k, x)
			json_array_append_new(keys, json_string_nocheck(k));
		*out = keys;
		return 0;
	}
	if (v_is_str(v)) {
		json_t *chars = keep(c, json_array());
		const char *s = json_string_value(v->j);
		size_t n = json_string_length(v->j);
		for (size_t i = 0; i < n;) {
			size_t k = utf8_offset(s + i, n - i, 1);
			json_array_append_new(chars, json_stringn_nocheck(s + i, k));
			i += k;
		}
		*out = chars;
		return 0;
	}
	return terr(c, line, "'%s' object is not iterable", v_typename(v));
}

static json_t *loop_object(size_t i, size_t n, json_t *items)
{
	json_t *l = json_object();
	json_object_set_new(l, "index", json_integer((json_int_t)i + 1));
	json_object_set_new(l, "index0", json_integer((json_int_t)i));
	json_object_set_new(l, "revindex", json_integer((json_int_t)(n - i)));
	json_object_set_new(l, "revindex0", json_integer((json_int_t)(n - i - 1)));
	json_object_set_new(l, "first", json_boolean(i == 0));
	json_object_set_new(l, "last", json_boolean(i + 1 == n));
	json_object_set_new(l, "length", json_integer((json_int_t)n));
	json_object_set_new(l, "depth", json_integer(1));
	json_object_set_new(l, "depth0", json_integer(0));
	if (i > 0)
		json_object_set(l, "previtem", json_array_get(items, i - 1));
	if (i + 1 < n)
		json_object_set(l, "nextitem", json_array_get(items, i + 1));
	return l;
}

static int count_iter(struct ctx *c, int line)
{
	if (++c->iters > TMPL_MAX_ITER)
		return terr(c, line, "template ran more than %ld loop iterations", TMPL_MAX_ITER);
	return 0;
}

/* The loop's items after its `if` filter. */
static int loop_filter(struct ctx *c, const struct node *n, struct frame *fr, json_t *items, json_t **out)
{
	if (!n->f) {
		*out = items;
		return 0;
	}
	json_t *kept = keep(c, json_array());
	for (size_t i = 0; i < json_array_size(items); i++) {
		struct frame f;
		struct val item = v_json(json_array_get(items, i)), cond;
		frame_init(&f, fr);
		int rc = count_iter(c, n->line);
		if (rc == 0)
			rc = assign(c, n->a, &f, &item);
		if (rc == 0)
			rc = eval(c, n->f, &f, &cond);
		frame_free(&f);
		if (rc < 0)
			return -1;
		if (v_truthy(&cond))
			json_array_append(kept, item.j);
	}
	*out = kept;
	return 0;
}

static int exec_for(struct ctx *c, const struct node *n, struct frame *fr)
{
	struct val seq;
	json_t *all = NULL, *items = NULL;
	if (eval(c, n->b, fr, &seq) < 0 || iterable(c, n->line, &seq, &all) < 0 ||
	    loop_filter(c, n, fr, all, &items) < 0)
		return -1;
	size_t count = json_array_size(items), mark = c->narena;
	for (size_t i = 0; i < count; i++) {
		struct frame f;
		struct val item = v_json(json_array_get(items, i));
		frame_init(&f, fr);
		struct val loop = { .k = V_LOOP, .j = loop_object(i, count, items) };
		bind(&f, "loop", &loop);
		json_decref(loop.j);
		int rc = count_iter(c, n->line);
		if (rc == 0)
			rc = assign(c, n->a, &f, &item);
		if (rc == 0)
			rc = exec_body(c, n->c, &f);
		frame_free(&f);
		arena_trim(c, mark);
		if (rc < 0)
			return -1;
		if (rc == EXEC_BREAK)
			break;
	}
	if (count == 0 && n->d)
		return exec_body(c, n->d, fr);
	return 0;
}

static int exec_stmt(struct ctx *c, const struct node *n, struct frame *fr)
{
	struct val v;
	switch (n->kind) {
	case N_TEXT: return emit(c, n->line, n->str, n->len);
	case N_OUTPUT: {
		if (eval(c, n->a, fr, &v) < 0)
			return -1;
		if (v_is_str(&v))
			return emit(c, n->line, json_string_value(v.j), json_string_length(v.j));
		struct strbuf b = { 0 };
		v_to_str(c, n->line, &v, &b);
		int rc = emit(c, n->line, b.s, b.len);
		sb_free(&b);
		return rc;
	}
	case N_IF:
		if (eval(c, n->a, fr, &v) < 0)
			return -1;
		if (v_truthy(&v))
			return exec_body(c, n->b, fr);
		if (!n->c)
			return 0;
		return n->c->kind == N_IF ? exec_stmt(c, n->c, fr) : exec_body(c, n->c, fr);
	case N_FOR: return exec_for(c, n, fr);
	case N_SET:
		if (eval(c, n->b, fr, &v) < 0)
			return -1;
		return assign(c, n->a, fr, &v);
	case N_SETBLOCK:
		if (capture(c, n->b, fr, &v) < 0)
			return -1;
		if (n->c) {
			struct val saved = c->hole;
			c->hole = v;
			int rc = eval(c, n->c, fr, &v);
			c->hole = saved;
			if (rc < 0)
				return -1;
		}
		return assign(c, n->a, fr, &v);
	case N_MACRO: {
		struct val m = { .k = V_MACRO, .n = n };
		bind(fr, n->str, &m);
		return 0;
	}
	case N_CALLBLOCK: {
		struct val caller = { .k = V_MACRO, .n = n, .fr = fr };
		const struct val *saved = c->caller;
		const struct node *saved_call = c->caller_call;
		c->caller = &caller;
		c->caller_call = n->a;
		int rc = eval(c, n->a, fr, &v);
		c->caller = saved;
		c->caller_call = saved_call;
		if (rc < 0)
			return -1;
		struct strbuf b = { 0 };
		v_to_str(c, n->line, &v, &b);
		rc = emit(c, n->line, b.s, b.len);
		sb_free(&b);
		return rc;
	}
	case N_FILTERBLOCK: {
		struct val saved = c->hole;
		if (capture(c, n->b, fr, &c->hole) < 0 || eval(c, n->a, fr, &v) < 0) {
			c->hole = saved;
			return -1;
		}
		c->hole = saved;
		struct strbuf b = { 0 };
		v_to_str(c, n->line, &v, &b);
		int rc = emit(c, n->line, b.s, b.len);
		sb_free(&b);
		return rc;
	}
	case N_WITH: {
		struct frame f;
		int rc = 0;
		frame_init(&f, fr);
		for (size_t i = 0; i < n->nkids && rc == 0; i++) {
			rc = eval(c, n->kids[i]->b, fr, &v);
			if (rc == 0)
				rc = assign(c, n->kids[i]->a, &f, &v);
		}
		if (rc == 0)
			rc = exec_body(c, n->b, &f);
		frame_free(&f);
		return rc;
	}
	case N_PASSBLOCK: return exec_body(c, n->b, fr);
	case N_BREAK: return EXEC_BREAK;
	case N_CONTINUE: return EXEC_CONTINUE;
	default: return terr(c, n->line, "internal error: expression as a statement");
	}
}

static int exec_body(struct ctx *c, const struct node *n, struct frame *fr)
{
	if (c->depth >= TMPL_MAX_EVAL_DEPTH)
		return terr(c, n->line, "template recursion deeper than %d", TMPL_MAX_EVAL_DEPTH);
	c->depth++;
	int rc = 0;
	for (size_t i = 0; i < n->nkids && rc == 0; i++)
		rc = exec_stmt(c, n->kids[i], fr);
	c->depth--;
	return rc;
}

int tmpl_render(const struct tmpl *t, const json_t *vars, char **out, struct exo_err *e)
{
	struct exo_err local;
	struct ctx c = { .t = t, .e = e ? e : &local };
	struct strbuf buf = { 0 };
	struct frame root;
	c.e->code = 0;
	c.e->msg[0] = 0;
	*out = NULL;
	frame_init(&root, NULL);
	if (vars && json_is_object(vars)) {
		json_decref(root.vars);
		root.vars = json_deep_copy(vars);
	}
	c.root = &root;
	c.out = &buf;
	c.hole = v_undef("filter");
	int rc = exec_body(&c, t->root, &root);
	frame_free(&root);
	for (size_t i = 0; i < c.narena; i++)
		json_decref(c.arena[i]);
	free(c.arena);
	if (rc < 0) {
		sb_free(&buf);
		return -1;
	}
	*out = buf.s ? buf.s : xstrdup("");
	return 0;
}
