/* The statements: output, if, for (with loop variables, filters, else,
 * break and continue), set, macro, call and filter blocks, with; and
 * tmpl_render, which runs a template over its variables. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "template/tmpl_impl.h"
#include "util/err.h"

enum { EXEC_OK = 0, EXEC_BREAK = 1, EXEC_CONTINUE = 2 };

/* Run body in frame f with its output captured as a string value. */
int tp_capture(struct ctx *c, const struct node *body, struct frame *f, struct val *out)
{
	struct strbuf buf = { 0 }, *saved = c->out;
	c->out = &buf;
	int rc = body ? tp_exec_body(c, body, f) : 0;
	c->out = saved;
	if (rc >= 0)
		*out = tp_v_str(c, buf.s, buf.len);
	strbuf_release(&buf);
	return rc;
}

/* ---- statements ---- */

static int emit(struct ctx *c, int line, const char *s, size_t n)
{
	if (c->out->len + n > TMPL_MAX_OUTPUT)
		return tp_terr(c, line, "output longer than %u bytes", TMPL_MAX_OUTPUT);
	strbuf_add(c->out, s, n);
	return 0;
}

static int assign(struct ctx *c, const struct node *target, struct frame *fr, const struct val *v)
{
	if (target->kind == N_NAME) {
		tp_bind(fr, target->str, v);
		return 0;
	}
	if (target->kind == N_GETATTR) {
		struct val ns = tp_lookup(fr, target->a->str);
		if (ns.k != V_NS)
			return tp_terr(c, target->line, "cannot assign attribute on non-namespace object");
		if (v->k == V_UNDEF) {
			json_object_del(ns.j, target->str);  /* reads back as undefined */
			return 0;
		}
		if (v->k != V_JSON)
			return tp_terr(c, target->line, "unsupported: a %s as a namespace attribute", tp_v_typename(v));
		int inside = tp_json_contains(c, target->line, v->j, ns.j);
		if (inside)
			return inside < 0 ? -1 : tp_terr(c, target->line, "a namespace cannot contain itself");
		json_object_set_nocheck(ns.j, target->str, v->j);
		return 0;
	}
	/* unpacking */
	json_t *seq = v->k == V_JSON ? v->j : NULL;
	if (!seq || !json_is_array(seq))
		return tp_terr(c, target->line, "cannot unpack a %s", tp_v_typename(v));
	if (json_array_size(seq) != target->nkids)
		return tp_terr(c, target->line, "cannot unpack %zu values into %zu names", json_array_size(seq),
			    target->nkids);
	for (size_t i = 0; i < target->nkids; i++) {
		struct val e = tp_v_json(json_array_get(seq, i));
		tp_bind(fr, target->kids[i]->str, &e);
	}
	return 0;
}

/* The items a for loop walks: a list (a copy of it), a dict's keys, a string's characters. */
static int iterable(struct ctx *c, int line, const struct val *v, json_t **out)
{
	if (v->k == V_UNDEF) {
		*out = tp_keep(c, json_array());
		return 0;
	}
	if (v->k == V_JSON && json_is_array(v->j)) {
		*out = tp_keep(c, json_copy(v->j));
		return 0;
	}
	if ((v->k == V_JSON || v->k == V_NS) && json_is_object(v->j)) {
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
		return tp_terr(c, line, "template ran more than %ld loop iterations", TMPL_MAX_ITER);
	return 0;
}

/* The loop's items after its `if` filter. */
static int loop_filter(struct ctx *c, const struct node *n, struct frame *fr, json_t *items, json_t **out)
{
	if (!n->f) {
		*out = items;
		return 0;
	}
	json_t *kept = tp_keep(c, json_array());
	for (size_t i = 0; i < json_array_size(items); i++) {
		struct frame f;
		struct val item = tp_v_json(json_array_get(items, i)), cond;
		tp_frame_init(&f, fr);
		int rc = count_iter(c, n->line);
		if (rc == 0)
			rc = assign(c, n->a, &f, &item);
		if (rc == 0)
			rc = tp_eval(c, n->f, &f, &cond);
		tp_frame_free(&f);
		if (rc < 0)
			return -1;
		if (tp_v_truthy(&cond))
			json_array_append(kept, item.j);
	}
	*out = kept;
	return 0;
}

static int exec_for(struct ctx *c, const struct node *n, struct frame *fr)
{
	struct val seq;
	json_t *all = NULL, *items = NULL;
	if (tp_eval(c, n->b, fr, &seq) < 0 || iterable(c, n->line, &seq, &all) < 0 ||
	    loop_filter(c, n, fr, all, &items) < 0)
		return -1;
	size_t count = json_array_size(items), mark = c->narena;
	bool completed = false;  /* an iteration ran to the end of the body: Jinja2's else flag */
	for (size_t i = 0; i < count; i++) {
		struct frame f;
		struct val item = tp_v_json(json_array_get(items, i));
		tp_frame_init(&f, fr);
		struct val loop = { .k = V_LOOP, .j = loop_object(i, count, items) };
		tp_bind(&f, "loop", &loop);
		json_decref(loop.j);
		int rc = count_iter(c, n->line);
		if (rc == 0)
			rc = assign(c, n->a, &f, &item);
		if (rc == 0)
			rc = tp_exec_body(c, n->c, &f);
		tp_frame_free(&f);
		tp_arena_trim(c, mark);
		if (rc < 0)
			return -1;
		if (rc == EXEC_BREAK)
			break;
		completed |= rc == EXEC_OK;
	}
	if (!completed && n->d)
		return tp_exec_body(c, n->d, fr);
	return 0;
}

static int exec_stmt(struct ctx *c, const struct node *n, struct frame *fr);

/* str(v) written to the output */
static int emit_val(struct ctx *c, int line, const struct val *v)
{
	struct strbuf b = { 0 };
	tp_v_to_str(c, line, v, &b);
	int rc = emit(c, line, b.s, b.len);
	strbuf_release(&b);
	return rc;
}

static int exec_text(struct ctx *c, const struct node *n, struct frame *fr)
{
	return emit(c, n->line, n->str, n->len);
}

static int exec_output(struct ctx *c, const struct node *n, struct frame *fr)
{
	struct val v;
	if (tp_eval(c, n->a, fr, &v) < 0)
		return -1;
	if (tp_v_is_str(&v))
		return emit(c, n->line, json_string_value(v.j), json_string_length(v.j));
	return emit_val(c, n->line, &v);
}

static int exec_if(struct ctx *c, const struct node *n, struct frame *fr)
{
	struct val v;
	if (tp_eval(c, n->a, fr, &v) < 0)
		return -1;
	if (tp_v_truthy(&v))
		return tp_exec_body(c, n->b, fr);
	if (!n->c)
		return 0;
	return n->c->kind == N_IF ? exec_stmt(c, n->c, fr) : tp_exec_body(c, n->c, fr);
}

static int exec_set(struct ctx *c, const struct node *n, struct frame *fr)
{
	struct val v;
	if (tp_eval(c, n->b, fr, &v) < 0)
		return -1;
	return assign(c, n->a, fr, &v);
}

static int exec_setblock(struct ctx *c, const struct node *n, struct frame *fr)
{
	struct val v;
	int rc = tp_capture(c, n->b, fr, &v);
	if (rc != EXEC_OK)
		return rc;  /* break or continue in the block skip the assignment, as in Jinja2 */
	if (n->c) {
		struct val saved = c->hole;
		c->hole = v;
		rc = tp_eval(c, n->c, fr, &v);
		c->hole = saved;
		if (rc < 0)
			return -1;
	}
	return assign(c, n->a, fr, &v);
}

static int exec_macro(struct ctx *c, const struct node *n, struct frame *fr)
{
	struct val m = { .k = V_MACRO, .n = n };
	tp_bind(fr, n->str, &m);
	return 0;
}

static int exec_callblock(struct ctx *c, const struct node *n, struct frame *fr)
{
	struct val v, caller = { .k = V_MACRO, .n = n, .fr = fr };
	const struct val *saved = c->caller;
	const struct node *saved_call = c->caller_call;
	c->caller = &caller;
	c->caller_call = n->a;
	int rc = tp_eval(c, n->a, fr, &v);
	c->caller = saved;
	c->caller_call = saved_call;
	if (rc < 0)
		return -1;
	return emit_val(c, n->line, &v);
}

static int exec_filterblock(struct ctx *c, const struct node *n, struct frame *fr)
{
	struct val v, saved = c->hole;
	int rc = tp_capture(c, n->b, fr, &c->hole);
	if (rc == EXEC_OK)
		rc = tp_eval(c, n->a, fr, &v);
	c->hole = saved;
	if (rc != EXEC_OK)
		return rc;  /* break or continue: the block's output is dropped, as in Jinja2 */
	return emit_val(c, n->line, &v);
}

static int exec_with(struct ctx *c, const struct node *n, struct frame *fr)
{
	struct frame f;
	struct val v;
	int rc = 0;
	tp_frame_init(&f, fr);
	for (size_t i = 0; i < n->nkids && rc == 0; i++) {
		rc = tp_eval(c, n->kids[i]->b, fr, &v);
		if (rc == 0)
			rc = assign(c, n->kids[i]->a, &f, &v);
	}
	if (rc == 0)
		rc = tp_exec_body(c, n->b, &f);
	tp_frame_free(&f);
	return rc;
}

static int exec_passblock(struct ctx *c, const struct node *n, struct frame *fr)
{
	return tp_exec_body(c, n->b, fr);
}

static int exec_break(struct ctx *c, const struct node *n, struct frame *fr)
{
	return EXEC_BREAK;
}

static int exec_continue(struct ctx *c, const struct node *n, struct frame *fr)
{
	return EXEC_CONTINUE;
}

/* Each statement's kind to what runs it; expressions have none. */
static int (*const stmt_exec[])(struct ctx *c, const struct node *n, struct frame *fr) = {
	[N_TEXT] = exec_text,
	[N_OUTPUT] = exec_output,
	[N_IF] = exec_if,
	[N_FOR] = exec_for,
	[N_SET] = exec_set,
	[N_SETBLOCK] = exec_setblock,
	[N_MACRO] = exec_macro,
	[N_CALLBLOCK] = exec_callblock,
	[N_FILTERBLOCK] = exec_filterblock,
	[N_WITH] = exec_with,
	[N_PASSBLOCK] = exec_passblock,
	[N_BREAK] = exec_break,
	[N_CONTINUE] = exec_continue,
};

static int exec_stmt(struct ctx *c, const struct node *n, struct frame *fr)
{
	if ((size_t)n->kind >= sizeof stmt_exec / sizeof *stmt_exec || !stmt_exec[n->kind])
		return tp_terr(c, n->line, "internal error: expression as a statement");
	return stmt_exec[n->kind](c, n, fr);
}

int tp_exec_body(struct ctx *c, const struct node *n, struct frame *fr)
{
	if (c->depth >= TMPL_MAX_EVAL_DEPTH)
		return tp_terr(c, n->line, "template recursion deeper than %d", TMPL_MAX_EVAL_DEPTH);
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
	tp_frame_init(&root, NULL);
	if (vars && json_is_object(vars)) {
		json_decref(root.vars);
		root.vars = json_deep_copy(vars);
	}
	c.root = &root;
	c.out = &buf;
	c.hole = tp_v_undef("filter");
	int rc = tp_exec_body(&c, t->root, &root);
	tp_frame_free(&root);
	for (size_t i = 0; i < c.narena; i++)
		json_decref(c.arena[i]);
	free(c.arena);
	if (rc < 0) {
		strbuf_release(&buf);
		return -1;
	}
	*out = buf.s ? buf.s : xstrdup("");
	return 0;
}
