/* Internals of the Jinja interpreter shared by its files: tokens (lex.c),
 * the syntax tree (parse.c), values and the render context (eval.c,
 * value.c, filters.c, methods.c). */
#ifndef EXO_TEMPLATE_TMPL_IMPL_H
#define EXO_TEMPLATE_TMPL_IMPL_H
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "template/template.h"
#include "util/strbuf.h"

/* Limits against hostile templates. */
#define TMPL_MAX_DEPTH 200            /* nesting of expressions and blocks when parsing */
#define TMPL_MAX_EVAL_DEPTH 600       /* recursion of the evaluator */
#define TMPL_MAX_CALL_DEPTH 50        /* nested macro calls */
#define TMPL_MAX_OUTPUT (32u << 20)   /* bytes of any string or of the output */
#define TMPL_MAX_ALLOC (256u << 20)   /* bytes of strings built during one render */
#define TMPL_MAX_ITER 1000000L        /* loop iterations in one render */
#define TMPL_MAX_STEPS 20000000L      /* expressions evaluated in one render */
#define TMPL_MAX_ITEMS 100000         /* elements of a list made by range() or '*' */

/* ---- tokens ---- */
enum tok_kind {
	TK_EOF, TK_DATA, TK_VAR_BEGIN, TK_VAR_END, TK_BLOCK_BEGIN, TK_BLOCK_END,
	TK_NAME, TK_STRING, TK_INT, TK_FLOAT, TK_OP,
};

/* Operators, as their first characters packed: two-character ones use OP2. */
#define OP2(a, b) (((a) << 8) | (b))

struct token {
	enum tok_kind kind;
	int line;
	int op;           /* TK_OP */
	char *str;        /* TK_DATA, TK_NAME, TK_STRING (owned) */
	size_t len;       /* of str */
	long long ival;   /* TK_INT */
	double fval;      /* TK_FLOAT */
};

struct toklist {
	struct token *t;
	size_t n, cap;
};

int tmpl_lex(const char *src, const char *name, struct toklist *out, struct exo_err *e);
void tmpl_toks_free(struct toklist *tl);

/* ---- syntax tree ---- */
enum node_kind {
	/* statements */
	N_BODY, N_TEXT, N_OUTPUT, N_IF, N_FOR, N_SET, N_SETBLOCK, N_MACRO, N_CALLBLOCK,
	N_FILTERBLOCK, N_BREAK, N_CONTINUE, N_WITH, N_PASSBLOCK,
	/* expressions */
	N_CONST, N_NAME, N_LIST, N_TUPLE, N_DICT, N_PAIR, N_GETATTR, N_GETITEM, N_SLICE,
	N_CALL, N_KWARG, N_FILTER, N_TEST, N_BINOP, N_NEG, N_POS, N_NOT, N_AND, N_OR,
	N_COMPARE, N_COND, N_HOLE,
};

struct node {
	enum node_kind kind;
	int line;
	int op;                  /* N_BINOP, N_COMPARE: operator; N_TEST: negated */
	char *str;               /* names, text (owned) */
	size_t len;              /* of str for N_TEXT */
	json_t *lit;             /* N_CONST (owned reference) */
	struct node *a, *b, *c, *d, *f;
	struct node **kids;      /* bodies, elements, arguments, parameters */
	size_t nkids, capkids;
};

struct tmpl {
	char *name;
	struct node *root;
};

struct node *tp_node_new(enum node_kind k, int line);
void tp_node_add(struct node *parent, struct node *kid);
void tp_node_free(struct node *n);

/* Known filters and tests: the parser refuses any other name. */
bool tmpl_filter_known(const char *name);
bool tmpl_test_known(const char *name);

/* ---- values ---- */
enum vkind { V_UNDEF, V_JSON, V_NS, V_MACRO, V_FUNC, V_LOOP };

struct frame;
struct val {
	enum vkind k;
	json_t *j;                 /* V_JSON, V_NS (object), V_LOOP (object); borrowed */
	const struct node *n;      /* V_MACRO: the macro or call block */
	struct frame *fr;          /* V_MACRO of a call block: where its body runs */
	const char *name;          /* V_UNDEF: what was looked up; V_FUNC: builtin */
	bool gen;                  /* a list Jinja would give as a generator: always true, prints as one */
};

/* A scope: JSON values in vars (which holds their references), other
 * values (macros, namespaces, loop) in sp (holding a reference to their j). */
struct binding {
	const char *name;          /* borrowed from the tree or a literal */
	struct val v;
};
struct frame {
	json_t *vars;
	struct binding *sp;
	size_t nsp, capsp;
	struct frame *parent;
};

struct ctx {
	const struct tmpl *t;
	struct exo_err *e;
	json_t **arena;            /* holds every value made during the render */
	size_t narena, caparena;
	struct val hole;           /* the text a {% filter %} block filters */
	struct strbuf *out;
	struct frame *root;
	long iters, steps;
	size_t alloced;
	int depth, calls;
	const struct val *caller;       /* caller() of the active {% call %} block */
	const struct node *caller_call; /* the macro call that block makes */
};

/* errors: "NAME:LINE: message", EXO_DATAERR; return -1 */
int tp_terr(struct ctx *c, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* values (value.c) */
struct val tp_v_undef(const char *name);
struct val tp_v_json(json_t *j);
json_t *tp_keep(struct ctx *c, json_t *fresh);     /* arena takes the reference; returns it borrowed */
struct val tp_v_new(struct ctx *c, json_t *fresh);  /* v_json(keep(c, fresh)) */
struct val tp_v_str(struct ctx *c, const char *s, size_t n);
struct val tp_v_int(struct ctx *c, long long i);
struct val tp_v_real(struct ctx *c, double d);
int tp_v_real_finite(struct ctx *c, int line, double d, struct val *out); /* error for inf and nan */
struct val tp_v_bool(bool b);
struct val tp_v_none(void);
int tp_v_strcheck(struct ctx *c, int line, size_t n); /* a string of n bytes may be made */
bool tp_v_truthy(const struct val *v);
bool tp_v_is_str(const struct val *v);
bool tp_v_is_num(const struct val *v);
const char *tp_v_typename(const struct val *v);
/* str(v) appended to b; repr for elements of containers */
int tp_v_to_str(struct ctx *c, int line, const struct val *v, struct strbuf *b);
void tp_json_repr(const json_t *j, struct strbuf *b);
void tp_py_float_repr(double d, struct strbuf *b);
/* json.dumps: indent < 0 for none; separators NULL for Python's defaults */
struct json_style {
	int indent;
	const char *item_sep, *key_sep;
	bool sort_keys, ensure_ascii;
};
int tp_tojson_dump(const json_t *j, const struct json_style *st, struct strbuf *b);
bool tp_json_equal_py(const json_t *a, const json_t *b);
int tp_json_cmp_py(const json_t *a, const json_t *b, int *res); /* -1 when not orderable */
double tp_json_num(const json_t *j);
size_t tp_utf8_len(const char *s, size_t n);
size_t tp_utf8_offset(const char *s, size_t n, long long cp); /* byte offset of code point cp */
/* 1 when the pointer needle occurs inside hay, 0 when not; each node
 * visited counts as a step of the render (a value nested n deep checked
 * n times is quadratic): -1 past TMPL_MAX_STEPS. */
int tp_json_contains(struct ctx *c, int line, const json_t *hay, const json_t *needle);

/* scopes and the arena (scope.c) */
void tp_arena_trim(struct ctx *c, size_t mark);
void tp_frame_init(struct frame *f, struct frame *parent);
void tp_frame_free(struct frame *f);
void tp_bind(struct frame *f, const char *name, const struct val *v);
struct val tp_lookup(struct frame *f, const char *name);

/* statements (exec.c) */
int tp_exec_body(struct ctx *c, const struct node *n, struct frame *fr);
/* Run body in frame f with its output captured as a string value; returns
 * -1, 0, or the break or continue that left the body (its output is then lost). */
int tp_capture(struct ctx *c, const struct node *body, struct frame *f, struct val *out);

/* expressions (eval.c) */
int tp_eval(struct ctx *c, const struct node *n, struct frame *fr, struct val *out);
int tp_call_macro(struct ctx *c, int line, const struct val *m, const struct val *args, size_t nargs,
	       const char *const *kwnames, const struct val *kwvals, size_t nkw, const struct val *caller,
	       struct val *out);
struct val tp_v_string_of(struct ctx *c, int line, const struct val *v, int *rc);
int tp_v_getattr(struct ctx *c, int line, const struct val *obj, const char *name, struct val *out);
int tp_v_getitem(struct ctx *c, int line, const struct val *obj, const struct val *key, struct val *out);

/* call arguments, evaluated */
struct args {
	struct val pos[16];
	size_t npos;
	const char *kwname[16];
	struct val kw[16];
	size_t nkw;
};
const struct val *tp_arg_get(const struct args *a, size_t i, const char *kw);

/* filters.c, tests.c, methods.c */
/* fmt % args with %s %d %i %r %% */
int tp_str_printf(struct ctx *c, int line, const struct val *fmt, const struct args *a, struct val *out);
bool tp_v_is_dict(const struct val *v);  /* a dict, namespace or loop */
int tp_arg_int(struct ctx *c, int line, const struct val *v, long long dflt, long long *out);
int tp_apply_filter(struct ctx *c, int line, const char *name, const struct val *in, const struct args *a,
		 struct frame *fr, struct val *out);
int tp_apply_test(struct ctx *c, int line, const char *name, const struct val *in, const struct args *a,
	       bool *res);
int tp_call_method(struct ctx *c, int line, const struct val *obj, const char *name, const struct args *a,
		struct val *out);
int tp_call_builtin(struct ctx *c, int line, const char *name, const struct args *a, struct val *out);
bool tp_builtin_known(const char *name);

/* Python string operations on UTF-8 (strings.c), appending to b. */
bool tp_py_isspace(int32_t cp);
int tp_utf8_decode(const char *s, size_t n, int32_t *cp); /* bytes used; cp -1 for a bad byte */
enum tp_str_case { CASE_UPPER, CASE_LOWER, CASE_TITLE, CASE_CAPITALIZE, CASE_JINJA_TITLE };
void tp_str_case(const char *s, size_t n, enum tp_str_case how, struct strbuf *b);
/* which: 1 left, 2 right, 3 both; chars NULL for whitespace */
void tp_str_strip(const char *s, size_t n, const char *chars, size_t nchars, int which, const char **out,
	       size_t *outn);
void tp_str_replace(const char *s, size_t n, const char *old, size_t nold, const char *new_, size_t nnew,
		 long long count, struct strbuf *b);
size_t tp_str_count(const char *s, size_t n, const char *sub, size_t nsub);
/* split on sep (NULL: runs of whitespace) into an array of strings */
json_t *tp_str_split(const char *s, size_t n, const char *sep, size_t nsep, long long maxsplit);
void tp_html_escape(const char *s, size_t n, struct strbuf *b);
#endif
