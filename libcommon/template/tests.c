/* Jinja2's tests (x is defined, is none, is string, is mapping, equalto ...),
 * as Jinja2 3.1 defines them. */
#include <string.h>
#include "template/tmpl_impl.h"

/* The parameters of every test: name is the one it was called by, as some
 * tests serve several names (lt and lessthan, odd and even ...); arg is
 * the first argument, NULL when none. */
#define TEST_PARAMS struct ctx *c, int line, const char *name, const struct val *in, const struct val *arg, \
		    bool *res

static int verdict(bool *res, bool v)
{
	*res = v;
	return 0;
}

static bool json_in(const struct val *in)
{
	return in->k == V_JSON;
}

static int test_defined(TEST_PARAMS)
{
	return verdict(res, in->k != V_UNDEF);
}

static int test_undefined(TEST_PARAMS)
{
	return verdict(res, in->k == V_UNDEF);
}

static int test_none(TEST_PARAMS)
{
	return verdict(res, json_in(in) && json_is_null(in->j));
}

static int test_string(TEST_PARAMS)
{
	return verdict(res, json_in(in) && json_is_string(in->j));
}

static int test_mapping(TEST_PARAMS)
{
	return verdict(res, tp_v_is_dict(in));
}

/* iterable and sequence */
static int test_iterable(TEST_PARAMS)
{
	return verdict(res, (json_in(in) && (json_is_array(in->j) || json_is_object(in->j) || json_is_string(in->j))) ||
			    in->k == V_UNDEF);
}

static int test_number(TEST_PARAMS)
{
	return verdict(res, json_in(in) && (json_is_number(in->j) || json_is_boolean(in->j)));
}

static int test_integer(TEST_PARAMS)
{
	return verdict(res, json_in(in) && json_is_integer(in->j));
}

static int test_float(TEST_PARAMS)
{
	return verdict(res, json_in(in) && json_is_real(in->j));
}

static int test_boolean(TEST_PARAMS)
{
	return verdict(res, json_in(in) && json_is_boolean(in->j));
}

static int test_true(TEST_PARAMS)
{
	return verdict(res, json_in(in) && json_is_true(in->j));
}

static int test_false(TEST_PARAMS)
{
	return verdict(res, json_in(in) && json_is_false(in->j));
}

static int test_callable(TEST_PARAMS)
{
	return verdict(res, in->k == V_MACRO || in->k == V_FUNC);
}

static int test_escaped(TEST_PARAMS)
{
	return verdict(res, false);
}

/* lower and upper: str(value).islower(), some cased character and none of the other case */
static int test_case(TEST_PARAMS)
{
	struct strbuf s = { 0 }, b = { 0 };
	tp_v_to_str(c, line, in, &s);
	tp_str_case(s.s ? s.s : "", s.len, name[0] == 'l' ? CASE_LOWER : CASE_UPPER, &b);
	struct strbuf other = { 0 };
	tp_str_case(s.s ? s.s : "", s.len, name[0] == 'l' ? CASE_UPPER : CASE_LOWER, &other);
	*res = b.len == s.len && !memcmp(b.s ? b.s : "", s.s ? s.s : "", s.len) &&
	       !(other.len == s.len && !memcmp(other.s ? other.s : "", s.s ? s.s : "", s.len));
	strbuf_release(&s);
	strbuf_release(&b);
	strbuf_release(&other);
	return 0;
}

static int number_arg(struct ctx *c, int line, const struct val *in, const char *test)
{
	if (!tp_v_is_num(in) && !(in->k == V_JSON && json_is_boolean(in->j)))
		return tp_terr(c, line, "test '%s' needs a number, got %s", test, tp_v_typename(in));
	return 0;
}

/* odd, even and divisibleby */
static int test_parity(TEST_PARAMS)
{
	if (number_arg(c, line, in, name) < 0)
		return -1;
	json_t *j = in->j;
	long long x = json_is_integer(j) ? json_integer_value(j) : (long long)tp_json_num(j), d = 2;
	if (name[0] == 'd' && tp_arg_int(c, line, arg, 1, &d) < 0)
		return -1;
	if (d == 0)
		return tp_terr(c, line, "divisibleby 0");
	if (d == -1)
		d = 1;
	long long r = x % d;
	return verdict(res, name[0] == 'o' ? r != 0 : r == 0);
}

static int test_sameas(TEST_PARAMS)
{
	return verdict(res, arg && in->k == arg->k &&
			    (json_in(in) ? (in->j == arg->j || (json_is_null(in->j) && json_is_null(arg->j))) : true));
}

static int test_in(TEST_PARAMS)
{
	json_t *j = in->j;
	if (!arg)
		return tp_terr(c, line, "test 'in' needs an argument");
	*res = false;
	if (arg->k == V_JSON && json_is_string(arg->j) && tp_v_is_str(in))
		*res = memmem(json_string_value(arg->j), json_string_length(arg->j), json_string_value(j),
			      json_string_length(j)) != NULL;
	else if (arg->k == V_JSON && json_is_array(arg->j) && json_in(in))
		for (size_t i = 0; i < json_array_size(arg->j) && !*res; i++)
			*res = tp_json_equal_py(json_array_get(arg->j, i), j);
	else if (tp_v_is_dict(arg) && tp_v_is_str(in))
		*res = json_object_get(arg->j, json_string_value(j)) != NULL;
	return 0;
}

static int test_filter(TEST_PARAMS)
{
	return verdict(res, tp_v_is_str(in) && tmpl_filter_known(json_string_value(in->j)));
}

static int test_test(TEST_PARAMS)
{
	return verdict(res, tp_v_is_str(in) && tmpl_test_known(json_string_value(in->j)));
}

/* eq, equalto, == and ne, != */
static int test_equal(TEST_PARAMS)
{
	if (!arg)
		return tp_terr(c, line, "test '%s' needs an argument", name);
	bool eq = in->k == V_JSON && arg->k == V_JSON ? tp_json_equal_py(in->j, arg->j) : in->k == arg->k;
	return verdict(res, (name[0] == 'e' || name[0] == '=') ? eq : !eq);
}

/* lt, lessthan, <, le, <=, gt, greaterthan, >, ge, >= */
static int test_order(TEST_PARAMS)
{
	int r;
	if (!arg)
		return tp_terr(c, line, "test '%s' needs an argument", name);
	if (in->k != V_JSON || arg->k != V_JSON || tp_json_cmp_py(in->j, arg->j, &r) < 0)
		return tp_terr(c, line, "test '%s' cannot compare %s and %s", name, tp_v_typename(in), tp_v_typename(arg));
	if (!strcmp(name, "lt") || !strcmp(name, "lessthan") || !strcmp(name, "<"))
		*res = r < 0;
	else if (!strcmp(name, "le") || !strcmp(name, "<="))
		*res = r <= 0;
	else if (!strcmp(name, "gt") || !strcmp(name, "greaterthan") || !strcmp(name, ">"))
		*res = r > 0;
	else
		*res = r >= 0;
	return 0;
}

static const struct test {
	const char *name;
	int (*fn)(TEST_PARAMS);
} tests[] = {
	{ "boolean", test_boolean },
	{ "callable", test_callable },
	{ "defined", test_defined },
	{ "divisibleby", test_parity },
	{ "eq", test_equal },
	{ "equalto", test_equal },
	{ "escaped", test_escaped },
	{ "even", test_parity },
	{ "false", test_false },
	{ "filter", test_filter },
	{ "float", test_float },
	{ "ge", test_order },
	{ "greaterthan", test_order },
	{ "gt", test_order },
	{ "in", test_in },
	{ "integer", test_integer },
	{ "iterable", test_iterable },
	{ "le", test_order },
	{ "lessthan", test_order },
	{ "lower", test_case },
	{ "lt", test_order },
	{ "mapping", test_mapping },
	{ "ne", test_equal },
	{ "none", test_none },
	{ "number", test_number },
	{ "odd", test_parity },
	{ "sameas", test_sameas },
	{ "sequence", test_iterable },
	{ "string", test_string },
	{ "test", test_test },
	{ "true", test_true },
	{ "undefined", test_undefined },
	{ "upper", test_case },
	{ "==", test_equal },
	{ "!=", test_equal },
	{ "<", test_order },
	{ "<=", test_order },
	{ ">", test_order },
	{ ">=", test_order },
};

static const struct test *test_find(const char *name)
{
	for (size_t i = 0; i < sizeof tests / sizeof *tests; i++)
		if (!strcmp(tests[i].name, name))
			return &tests[i];
	return NULL;
}

bool tmpl_test_known(const char *name)
{
	return test_find(name) != NULL;
}

int tp_apply_test(struct ctx *c, int line, const char *name, const struct val *in, const struct args *a, bool *res)
{
	const struct test *t = test_find(name);
	if (!t)
		return tp_terr(c, line, "unsupported test '%s'", name);
	return t->fn(c, line, name, in, tp_arg_get(a, 0, NULL), res);
}
