/* The template parser: tokens to a syntax tree, following the grammar of
 * Jinja2's parser.py (precedence from the conditional expression down to
 * filters and tests).  Unknown tags, filters and tests are refused here, so a
 * template the interpreter cannot run fails when it is loaded. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "template/tmpl_impl.h"
#include "util/err.h"

struct parser {
	struct token *t;
	size_t n, i;
	const char *name;
	struct exo_err *e;
	int depth;
	int loops;  /* for loops around here, within the same macro or call body */
	bool failed;
};

static int perr(struct parser *p, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int perr(struct parser *p, int line, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (!p->failed)
		exo_error(p->e, EXO_DATAERR, "%s:%d: %s", p->name, line, msg);
	p->failed = true;
	return -1;
}

struct node *tp_node_new(enum node_kind k, int line)
{
	struct node *n = xcalloc(1, sizeof *n);
	n->kind = k;
	n->line = line;
	return n;
}

void tp_node_add(struct node *parent, struct node *kid)
{
	parent->kids = grow_array(parent->kids, &parent->capkids, parent->nkids + 1, sizeof *parent->kids, 4);
	parent->kids[parent->nkids++] = kid;
}

void tp_node_free(struct node *n)
{
	if (!n)
		return;
	tp_node_free(n->a);
	tp_node_free(n->b);
	tp_node_free(n->c);
	tp_node_free(n->d);
	tp_node_free(n->f);
	for (size_t i = 0; i < n->nkids; i++)
		tp_node_free(n->kids[i]);
	free(n->kids);
	free(n->str);
	json_decref(n->lit);
	free(n);
}

static struct token *cur(struct parser *p)
{
	return &p->t[p->i < p->n ? p->i : p->n - 1];
}

static bool is_op(struct parser *p, int op)
{
	return cur(p)->kind == TK_OP && cur(p)->op == op;
}

static bool is_name(struct parser *p, const char *name)
{
	return cur(p)->kind == TK_NAME && strcmp(cur(p)->str, name) == 0;
}

static bool skip_op(struct parser *p, int op)
{
	if (!is_op(p, op))
		return false;
	p->i++;
	return true;
}

static bool skip_name(struct parser *p, const char *name)
{
	if (!is_name(p, name))
		return false;
	p->i++;
	return true;
}

static const char *describe(const struct token *t, char *buf, size_t n)
{
	switch (t->kind) {
	case TK_EOF: return "end of template";
	case TK_DATA: return "template data";
	case TK_VAR_BEGIN: return "'{{'";
	case TK_VAR_END: return "'}}'";
	case TK_BLOCK_BEGIN: return "'{%'";
	case TK_BLOCK_END: return "'%}'";
	case TK_NAME: snprintf(buf, n, "'%s'", t->str); return buf;
	case TK_STRING: return "string";
	case TK_INT: case TK_FLOAT: return "number";
	case TK_OP:
		if (t->op > 255)
			snprintf(buf, n, "'%c%c'", t->op >> 8, t->op & 255);
		else
			snprintf(buf, n, "'%c'", t->op);
		return buf;
	}
	return "token";
}

static int unexpected(struct parser *p, const char *want)
{
	char buf[80];
	return perr(p, cur(p)->line, "unexpected %s, expected %s", describe(cur(p), buf, sizeof buf), want);
}

static int expect_op(struct parser *p, int op, const char *want)
{
	return skip_op(p, op) ? 0 : unexpected(p, want);
}

static int expect_end(struct parser *p)
{
	if (cur(p)->kind == TK_BLOCK_END) {
		p->i++;
		return 0;
	}
	return unexpected(p, "end of statement '%}'");
}

static char *expect_ident(struct parser *p)
{
	if (cur(p)->kind != TK_NAME) {
		unexpected(p, "a name");
		return NULL;
	}
	return xstrdup(p->t[p->i++].str);
}

static struct node *expr(struct parser *p);
static struct node *expr_nocond(struct parser *p);
static struct node *tuple(struct parser *p, bool condexpr, bool explicit_parens);
static struct node *primary(struct parser *p);
static struct node *unary(struct parser *p, bool with_filter);

static bool enter(struct parser *p)
{
	if (++p->depth > TMPL_MAX_DEPTH) {
		perr(p, cur(p)->line, "template nested too deeply");
		return false;
	}
	return true;
}

static struct node *leave(struct parser *p, struct node *n)
{
	p->depth--;
	if (p->failed) {
		tp_node_free(n);
		return NULL;
	}
	return n;
}

static struct node *constant(int line, json_t *lit)
{
	struct node *n = tp_node_new(N_CONST, line);
	n->lit = lit;
	return n;
}

/* (args, name=value) after the '(' */
static void call_args(struct parser *p, struct node *call)
{
	while (!p->failed && !skip_op(p, ')')) {
		if (call->nkids && expect_op(p, ',', "','") < 0)
			return;
		if (skip_op(p, ')'))
			return;
		if (is_op(p, '*') || is_op(p, OP2('*', '*'))) {
			perr(p, cur(p)->line, "unsupported syntax '*args' in a call");
			return;
		}
		if (cur(p)->kind == TK_NAME && p->i + 1 < p->n && p->t[p->i + 1].kind == TK_OP &&
		    p->t[p->i + 1].op == '=') {
			struct node *kw = tp_node_new(N_KWARG, cur(p)->line);
			kw->str = xstrdup(cur(p)->str);
			p->i += 2;
			kw->a = expr(p);
			tp_node_add(call, kw);
		} else {
			tp_node_add(call, expr(p));
		}
	}
}

static struct node *filter(struct parser *p, struct node *in)
{
	int line = cur(p)->line;
	char *name = expect_ident(p);
	if (!name)
		return in;
	while (!p->failed && skip_op(p, '.')) {
		char *more = expect_ident(p);
		if (!more)
			break;
		char *full = xmalloc(strlen(name) + strlen(more) + 2);
		sprintf(full, "%s.%s", name, more);
		free(name);
		free(more);
		name = full;
	}
	struct node *f = tp_node_new(N_FILTER, line);
	f->str = name;
	f->a = in;
	if (!p->failed && !tmpl_filter_known(name))
		perr(p, line, "unsupported filter '%s'", name);
	if (!p->failed && skip_op(p, '('))
		call_args(p, f);
	return f;
}

static struct node *test(struct parser *p, struct node *in)
{
	int line = cur(p)->line;
	struct node *t = tp_node_new(N_TEST, line);
	t->a = in;
	t->op = skip_name(p, "not");
	t->str = expect_ident(p);
	if (!t->str)
		return t;
	if (!tmpl_test_known(t->str)) {
		perr(p, line, "unsupported test '%s'", t->str);
		return t;
	}
	struct token *c = cur(p);
	if (skip_op(p, '(')) {
		call_args(p, t);
	} else if ((c->kind == TK_NAME || c->kind == TK_STRING || c->kind == TK_INT || c->kind == TK_FLOAT ||
		    (c->kind == TK_OP && (c->op == '[' || c->op == '{'))) &&
		   !is_name(p, "else") && !is_name(p, "or") && !is_name(p, "and")) {
		if (is_name(p, "is")) {
			perr(p, c->line, "cannot chain tests with 'is'");
			return t;
		}
		tp_node_add(t, primary(p));
	}
	return t;
}

static struct node *postfix(struct parser *p, struct node *n)
{
	while (!p->failed) {
		int line = cur(p)->line;
		if (skip_op(p, '.')) {
			struct node *g;
			if (cur(p)->kind == TK_INT) {
				g = tp_node_new(N_GETITEM, line);
				g->b = constant(line, json_integer(p->t[p->i++].ival));
			} else {
				g = tp_node_new(N_GETATTR, line);
				g->str = expect_ident(p);
			}
			g->a = n;
			n = g;
		} else if (skip_op(p, '[')) {
			struct node *start = NULL, *stop = NULL, *step = NULL;
			bool slice = false;
			if (!is_op(p, ':'))
				start = expr(p);
			if (skip_op(p, ':')) {
				slice = true;
				if (!is_op(p, ']') && !is_op(p, ':'))
					stop = expr(p);
				if (skip_op(p, ':') && !is_op(p, ']'))
					step = expr(p);
			}
			struct node *g = tp_node_new(slice ? N_SLICE : N_GETITEM, line);
			g->a = n;
			g->b = start;
			g->c = stop;
			g->d = step;
			n = g;
			if (!slice && !start)
				perr(p, line, "empty subscript");
			expect_op(p, ']', "']'");
		} else if (skip_op(p, '(')) {
			struct node *call = tp_node_new(N_CALL, line);
			call->a = n;
			n = call;
			call_args(p, call);
		} else {
			return n;
		}
	}
	return n;
}

static struct node *filter_expr(struct parser *p, struct node *n)
{
	while (!p->failed) {
		if (skip_op(p, '|'))
			n = filter(p, n);
		else if (skip_name(p, "is"))
			n = test(p, n);
		else if (is_op(p, '('))
			n = postfix(p, n);
		else
			break;
	}
	return n;
}

static struct node *list_or_dict(struct parser *p, int line, bool dict)
{
	struct node *n = tp_node_new(dict ? N_DICT : N_LIST, line);
	int close = dict ? '}' : ']';
	while (!p->failed && !skip_op(p, close)) {
		if (n->nkids && expect_op(p, ',', "','") < 0)
			break;
		if (skip_op(p, close))
			break;
		if (!dict) {
			tp_node_add(n, expr(p));
			continue;
		}
		struct node *pair = tp_node_new(N_PAIR, cur(p)->line);
		pair->a = expr(p);
		tp_node_add(n, pair);
		if (expect_op(p, ':', "':'") < 0)
			break;
		pair->b = expr(p);
	}
	return n;
}

static struct node *primary(struct parser *p)
{
	struct token *t = cur(p);
	int line = t->line;
	if (!enter(p))
		return NULL;
	struct node *n = NULL;
	if (t->kind == TK_NAME) {
		p->i++;
		const char *s = t->str;
		if (!strcmp(s, "true") || !strcmp(s, "True"))
			n = constant(line, json_true());
		else if (!strcmp(s, "false") || !strcmp(s, "False"))
			n = constant(line, json_false());
		else if (!strcmp(s, "none") || !strcmp(s, "None"))
			n = constant(line, json_null());
		else {
			n = tp_node_new(N_NAME, line);
			n->str = xstrdup(s);
		}
	} else if (t->kind == TK_STRING) {
		struct strbuf b = { 0 };
		while (cur(p)->kind == TK_STRING) {
			strbuf_add(&b, cur(p)->str, cur(p)->len);
			p->i++;
		}
		n = constant(line, json_stringn_nocheck(b.s ? b.s : "", b.len));
		strbuf_release(&b);
	} else if (t->kind == TK_INT) {
		p->i++;
		n = constant(line, json_integer(t->ival));
	} else if (t->kind == TK_FLOAT) {
		p->i++;
		n = constant(line, json_real(t->fval));
	} else if (skip_op(p, '(')) {
		n = tuple(p, true, true);
		expect_op(p, ')', "')'");
	} else if (skip_op(p, '[')) {
		n = list_or_dict(p, line, false);
	} else if (skip_op(p, '{')) {
		n = list_or_dict(p, line, true);
	} else {
		unexpected(p, "an expression");
	}
	return leave(p, n);
}

static struct node *unary(struct parser *p, bool with_filter)
{
	int line = cur(p)->line;
	if (!enter(p))
		return NULL;
	struct node *n;
	if (skip_op(p, '-') || skip_op(p, '+')) {
		n = tp_node_new(p->t[p->i - 1].op == '-' ? N_NEG : N_POS, line);
		n->a = unary(p, false);
	} else {
		n = primary(p);
	}
	n = postfix(p, n);
	if (with_filter)
		n = filter_expr(p, n);
	return leave(p, n);
}

static struct node *binop(int op, int line, struct node *a, struct node *b)
{
	struct node *n = tp_node_new(N_BINOP, line);
	n->op = op;
	n->a = a;
	n->b = b;
	return n;
}

static struct node *power(struct parser *p)
{
	struct node *n = unary(p, true);
	while (!p->failed && is_op(p, OP2('*', '*'))) {
		int line = cur(p)->line;
		p->i++;
		n = binop(OP2('*', '*'), line, n, unary(p, true));
	}
	return n;
}

static struct node *math2(struct parser *p)
{
	struct node *n = power(p);
	while (!p->failed && (is_op(p, '*') || is_op(p, '/') || is_op(p, OP2('/', '/')) || is_op(p, '%'))) {
		struct token *t = &p->t[p->i++];
		n = binop(t->op, t->line, n, power(p));
	}
	return n;
}

static struct node *concat(struct parser *p)
{
	struct node *n = math2(p);
	while (!p->failed && is_op(p, '~')) {
		int line = cur(p)->line;
		p->i++;
		n = binop('~', line, n, math2(p));
	}
	return n;
}

static struct node *math1(struct parser *p)
{
	struct node *n = concat(p);
	while (!p->failed && (is_op(p, '+') || is_op(p, '-'))) {
		struct token *t = &p->t[p->i++];
		n = binop(t->op, t->line, n, concat(p));
	}
	return n;
}

/* Comparison operators as N_COMPARE op codes: OP2 of the two characters,
 * 'i' for in and 'n' for not in. */
static struct node *compare(struct parser *p)
{
	struct node *n = math1(p);
	while (!p->failed) {
		struct token *t = cur(p);
		int op = 0;
		if (t->kind == TK_OP && (t->op == OP2('=', '=') || t->op == OP2('!', '=') || t->op == '<' ||
					 t->op == '>' || t->op == OP2('<', '=') || t->op == OP2('>', '=')))
			op = t->op, p->i++;
		else if (skip_name(p, "in"))
			op = 'i';
		else if (is_name(p, "not") && p->i + 1 < p->n && p->t[p->i + 1].kind == TK_NAME &&
			 !strcmp(p->t[p->i + 1].str, "in"))
			op = 'n', p->i += 2;
		else
			break;
		struct node *c = tp_node_new(N_COMPARE, t->line);
		c->op = op;
		c->a = n;
		c->b = math1(p);
		n = c;
	}
	return n;
}

static struct node *not_expr(struct parser *p)
{
	int line = cur(p)->line;
	if (!skip_name(p, "not"))
		return compare(p);
	if (!enter(p))
		return NULL;
	struct node *n = tp_node_new(N_NOT, line);
	n->a = not_expr(p);
	return leave(p, n);
}

static struct node *and_expr(struct parser *p)
{
	struct node *n = not_expr(p);
	while (!p->failed && is_name(p, "and")) {
		struct node *a = tp_node_new(N_AND, cur(p)->line);
		p->i++;
		a->a = n;
		a->b = not_expr(p);
		n = a;
	}
	return n;
}

static struct node *or_expr(struct parser *p)
{
	struct node *n = and_expr(p);
	while (!p->failed && is_name(p, "or")) {
		struct node *o = tp_node_new(N_OR, cur(p)->line);
		p->i++;
		o->a = n;
		o->b = and_expr(p);
		n = o;
	}
	return n;
}

static struct node *expr(struct parser *p)
{
	if (!enter(p))
		return NULL;
	struct node *n = or_expr(p);
	while (!p->failed && is_name(p, "if")) {
		struct node *c = tp_node_new(N_COND, cur(p)->line);
		p->i++;
		c->b = n;
		c->a = or_expr(p);
		if (!p->failed && skip_name(p, "else"))
			c->c = expr(p);
		n = c;
	}
	return leave(p, n);
}

static struct node *expr_nocond(struct parser *p)
{
	return or_expr(p);
}

/* a, b, c as a tuple; a single expression without a comma is itself. */
static bool tuple_ends(struct parser *p)
{
	struct token *t = cur(p);
	return t->kind == TK_VAR_END || t->kind == TK_BLOCK_END || t->kind == TK_EOF ||
	       (t->kind == TK_OP && (t->op == ')' || t->op == '=')) || is_name(p, "if") ||
	       is_name(p, "in");
}

static struct node *tuple(struct parser *p, bool condexpr, bool explicit_parens)
{
	int line = cur(p)->line;
	struct node *t = tp_node_new(N_TUPLE, line);
	bool comma = false;
	for (;;) {
		if (t->nkids && !skip_op(p, ','))
			break;
		if (t->nkids)
			comma = true;
		if (tuple_ends(p))
			break;
		tp_node_add(t, condexpr ? expr(p) : expr_nocond(p));
		if (p->failed)
			break;
	}
	if (!comma && t->nkids == 1) {
		struct node *only = t->kids[0];
		t->nkids = 0;
		tp_node_free(t);
		return only;
	}
	if (!t->nkids && !explicit_parens && !p->failed)
		unexpected(p, "an expression");
	return t;
}

/* Targets of for and set: name, a, b, (a, b), or ns.attr when allowed. */
static struct node *assign_target(struct parser *p, bool attr_ok)
{
	int line = cur(p)->line;
	if (attr_ok && cur(p)->kind == TK_NAME && p->i + 1 < p->n && p->t[p->i + 1].kind == TK_OP &&
	    p->t[p->i + 1].op == '.') {
		struct node *g = tp_node_new(N_GETATTR, line);
		g->a = tp_node_new(N_NAME, line);
		g->a->str = expect_ident(p);
		p->i++;
		g->str = expect_ident(p);
		return g;
	}
	bool paren = skip_op(p, '(');
	struct node *t = tp_node_new(N_TUPLE, line);
	do {
		if (paren && is_op(p, ')'))
			break;
		struct node *n = tp_node_new(N_NAME, cur(p)->line);
		n->str = expect_ident(p);
		tp_node_add(t, n);
	} while (!p->failed && skip_op(p, ','));
	if (paren)
		expect_op(p, ')', "')'");
	if (t->nkids == 1 && !paren) {
		struct node *only = t->kids[0];
		t->nkids = 0;
		tp_node_free(t);
		return only;
	}
	return t;
}

static struct node *body(struct parser *p, const char *const *ends);

static struct node *stmt_if(struct parser *p, int line)
{
	static const char *const ends[] = { "elif", "else", "endif", NULL };
	struct node *n = tp_node_new(N_IF, line);
	n->a = expr(p);
	if (expect_end(p) < 0)
		return n;
	n->b = body(p, ends);
	if (p->failed)
		return n;
	int l2 = cur(p)->line;
	if (skip_name(p, "elif")) {
		n->c = stmt_if(p, l2);
		return n;
	}
	if (skip_name(p, "else")) {
		static const char *const endif[] = { "endif", NULL };
		if (expect_end(p) < 0)
			return n;
		n->c = body(p, endif);
		if (p->failed)
			return n;
		p->i++;
	} else {
		p->i++;  /* endif */
	}
	expect_end(p);
	return n;
}

static struct node *stmt_for(struct parser *p, int line)
{
	static const char *const ends[] = { "else", "endfor", NULL };
	static const char *const endfor[] = { "endfor", NULL };
	struct node *n = tp_node_new(N_FOR, line);
	n->a = assign_target(p, false);
	if (!p->failed && !skip_name(p, "in"))
		unexpected(p, "'in'");
	if (p->failed)
		return n;
	n->b = tuple(p, false, false);
	if (!p->failed && skip_name(p, "if"))
		n->f = expr(p);
	if (!p->failed && is_name(p, "recursive"))
		perr(p, cur(p)->line, "unsupported loop 'recursive'");
	if (p->failed || expect_end(p) < 0)
		return n;
	p->loops++;
	n->c = body(p, ends);
	p->loops--;
	if (p->failed)
		return n;
	if (skip_name(p, "else")) {
		if (expect_end(p) < 0)
			return n;
		n->d = body(p, endfor);
		if (p->failed)
			return n;
	}
	p->i++;
	expect_end(p);
	return n;
}

static struct node *filter_chain(struct parser *p, int line)
{
	struct node *n = tp_node_new(N_HOLE, line);
	do
		n = filter(p, n);
	while (!p->failed && skip_op(p, '|'));
	return n;
}

static struct node *stmt_set(struct parser *p, int line)
{
	struct node *target = assign_target(p, true);
	if (p->failed)
		return target;
	if (skip_op(p, '=')) {
		struct node *n = tp_node_new(N_SET, line);
		n->a = target;
		n->b = tuple(p, true, false);
		expect_end(p);
		return n;
	}
	static const char *const ends[] = { "endset", NULL };
	struct node *n = tp_node_new(N_SETBLOCK, line);
	n->a = target;
	if (skip_op(p, '|'))
		n->c = filter_chain(p, line);
	if (p->failed || expect_end(p) < 0)
		return n;
	n->b = body(p, ends);
	if (!p->failed) {
		p->i++;
		expect_end(p);
	}
	return n;
}

/* (a, b=default) of a macro or call block, as N_NAME kids with b = default. */
static void params(struct parser *p, struct node *n)
{
	if (expect_op(p, '(', "'('") < 0)
		return;
	while (!p->failed && !skip_op(p, ')')) {
		if (n->nkids && expect_op(p, ',', "','") < 0)
			return;
		if (skip_op(p, ')'))
			return;
		struct node *param = tp_node_new(N_NAME, cur(p)->line);
		param->str = expect_ident(p);
		tp_node_add(n, param);
		if (!p->failed && skip_op(p, '='))
			param->b = expr(p);
	}
}

static struct node *stmt_macro(struct parser *p, int line)
{
	static const char *const ends[] = { "endmacro", NULL };
	struct node *n = tp_node_new(N_MACRO, line);
	n->str = expect_ident(p);
	if (!p->failed)
		params(p, n);
	if (p->failed || expect_end(p) < 0)
		return n;
	int loops = p->loops;
	p->loops = 0;
	n->a = body(p, ends);
	p->loops = loops;
	if (!p->failed) {
		p->i++;
		if (cur(p)->kind == TK_NAME)
			p->i++;  /* {% endmacro name %} */
		expect_end(p);
	}
	return n;
}

static struct node *stmt_call(struct parser *p, int line)
{
	static const char *const ends[] = { "endcall", NULL };
	struct node *n = tp_node_new(N_CALLBLOCK, line);
	if (is_op(p, '('))
		params(p, n);
	if (!p->failed)
		n->a = expr(p);
	if (!p->failed && n->a->kind != N_CALL)
		perr(p, line, "expected a call in 'call' block");
	if (p->failed || expect_end(p) < 0)
		return n;
	int loops = p->loops;
	p->loops = 0;
	n->b = body(p, ends);
	p->loops = loops;
	if (!p->failed) {
		p->i++;
		expect_end(p);
	}
	return n;
}

static struct node *stmt_block(struct parser *p, int line, enum node_kind k, const char *end)
{
	const char *ends[] = { end, NULL };
	struct node *n = tp_node_new(k, line);
	if (k == N_FILTERBLOCK)
		n->a = filter_chain(p, line);
	if (k == N_WITH) {
		while (!p->failed && cur(p)->kind != TK_BLOCK_END) {
			if (n->nkids && expect_op(p, ',', "','") < 0)
				break;
			struct node *set = tp_node_new(N_SET, cur(p)->line);
			tp_node_add(n, set);
			set->a = assign_target(p, false);
			if (!p->failed && expect_op(p, '=', "'='") == 0)
				set->b = expr(p);
		}
	}
	if (p->failed || expect_end(p) < 0)
		return n;
	n->b = body(p, ends);
	if (!p->failed) {
		p->i++;
		expect_end(p);
	}
	return n;
}

static struct node *statement(struct parser *p)
{
	struct token *t = cur(p);
	int line = t->line;
	if (t->kind != TK_NAME) {
		unexpected(p, "a tag name");
		return NULL;
	}
	const char *s = t->str;
	p->i++;
	if (!strcmp(s, "if"))
		return stmt_if(p, line);
	if (!strcmp(s, "for"))
		return stmt_for(p, line);
	if (!strcmp(s, "set"))
		return stmt_set(p, line);
	if (!strcmp(s, "macro"))
		return stmt_macro(p, line);
	if (!strcmp(s, "call"))
		return stmt_call(p, line);
	if (!strcmp(s, "filter"))
		return stmt_block(p, line, N_FILTERBLOCK, "endfilter");
	if (!strcmp(s, "with"))
		return stmt_block(p, line, N_WITH, "endwith");
	if (!strcmp(s, "generation"))
		return stmt_block(p, line, N_PASSBLOCK, "endgeneration");
	if (!strcmp(s, "break") || !strcmp(s, "continue")) {
		struct node *n = tp_node_new(s[0] == 'b' ? N_BREAK : N_CONTINUE, line);
		if (p->loops == 0)
			perr(p, line, "'%s' outside loop", s);
		expect_end(p);
		return n;
	}
	if (!strncmp(s, "end", 3) || !strcmp(s, "else") || !strcmp(s, "elif"))
		perr(p, line, "unexpected tag '%s'", s);
	else
		perr(p, line, "unsupported tag '%s'", s);
	return NULL;
}

/* Statements up to a {% tag %} named in ends (left at that name), or to the
 * end of the template when ends is NULL. */
static struct node *body(struct parser *p, const char *const *ends)
{
	struct node *b = tp_node_new(N_BODY, cur(p)->line);
	if (!enter(p))
		return b;
	while (!p->failed) {
		struct token *t = cur(p);
		if (t->kind == TK_EOF) {
			if (ends)
			{
				size_t last = 0;
				while (ends[last + 1])
					last++;
				perr(p, t->line, "unexpected end of template, expected '%s'", ends[last]);
			}
			break;
		}
		if (t->kind == TK_DATA) {
			struct node *n = tp_node_new(N_TEXT, t->line);
			n->str = xmalloc(t->len + 1);
			memcpy(n->str, t->str, t->len + 1);
			n->len = t->len;
			tp_node_add(b, n);
			p->i++;
		} else if (t->kind == TK_VAR_BEGIN) {
			struct node *n = tp_node_new(N_OUTPUT, t->line);
			p->i++;
			tp_node_add(b, n);
			n->a = tuple(p, true, false);
			if (!p->failed && cur(p)->kind != TK_VAR_END)
				unexpected(p, "end of print statement '}}'");
			p->i++;
		} else if (t->kind == TK_BLOCK_BEGIN) {
			p->i++;
			for (size_t k = 0; ends && ends[k]; k++)
				if (is_name(p, ends[k])) {
					p->depth--;
					return b;
				}
			struct node *n = statement(p);
			if (n)
				tp_node_add(b, n);
		} else {
			unexpected(p, "template data or a tag");
		}
	}
	p->depth--;
	return b;
}

struct tmpl *tmpl_parse(const char *src, const char *name, struct exo_err *e)
{
	struct toklist tl = { 0 };
	if (!name)
		name = "template";
	if (tmpl_lex(src, name, &tl, e) < 0) {
		tmpl_toks_free(&tl);
		return NULL;
	}
	struct parser p = { .t = tl.t, .n = tl.n, .name = name, .e = e };
	struct node *root = body(&p, NULL);
	tmpl_toks_free(&tl);
	if (p.failed) {
		tp_node_free(root);
		return NULL;
	}
	struct tmpl *t = xcalloc(1, sizeof *t);
	t->name = xstrdup(name);
	t->root = root;
	return t;
}

void tmpl_free(struct tmpl *t)
{
	if (!t)
		return;
	tp_node_free(t->root);
	free(t->name);
	free(t);
}
