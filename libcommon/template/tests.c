/* Jinja2's tests (x is defined, is none, is string, is mapping, equalto ...),
 * as Jinja2 3.1 defines them. */
#include <string.h>
#include "template/tmpl_impl.h"

static const char *const test_names[] = {
	"boolean", "callable", "defined", "divisibleby", "eq", "equalto", "escaped", "even", "false",
	"filter", "float", "ge", "greaterthan", "gt", "in", "integer", "iterable", "le", "lessthan",
	"lower", "lt", "mapping", "ne", "none", "number", "odd", "sameas", "sequence", "string", "test",
	"true", "undefined", "upper", "==", "!=", "<", "<=", ">", ">=", NULL,
};


bool tmpl_test_known(const char *name)
{
	return name_listed(test_names, name);
}


static int number_arg(struct ctx *c, int line, const struct val *in, const char *test)
{
	if (!v_is_num(in) && !(in->k == V_JSON && json_is_boolean(in->j)))
		return terr(c, line, "test '%s' needs a number, got %s", test, v_typename(in));
	return 0;
}

static int compare_test(struct ctx *c, int line, const char *name, const struct val *in, const struct val *other,
			bool *res)
{
	int r;
	if (!other)
		return terr(c, line, "test '%s' needs an argument", name);
	if (!strcmp(name, "eq") || !strcmp(name, "equalto") || !strcmp(name, "==") || !strcmp(name, "ne") ||
	    !strcmp(name, "!=")) {
		bool eq = in->k == V_JSON && other->k == V_JSON ? json_equal_py(in->j, other->j) : in->k == other->k;
		*res = (name[0] == 'e' || name[0] == '=') ? eq : !eq;
		return 0;
	}
	if (in->k != V_JSON || other->k != V_JSON || json_cmp_py(in->j, other->j, &r) < 0)
		return terr(c, line, "test '%s' cannot compare %s and %s", name, v_typename(in), v_typename(other));
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

int apply_test(struct ctx *c, int line, const char *name, const struct val *in, const struct args *a, bool *res)
{
	const struct val *arg = arg_get(a, 0, NULL);
	bool json = in->k == V_JSON;
	json_t *j = in->j;
	if (!strcmp(name, "defined"))
		*res = in->k != V_UNDEF;
	else if (!strcmp(name, "undefined"))
		*res = in->k == V_UNDEF;
	else if (!strcmp(name, "none"))
		*res = json && json_is_null(j);
	else if (!strcmp(name, "string"))
		*res = json && json_is_string(j);
	else if (!strcmp(name, "mapping"))
		*res = v_is_dict(in);
	else if (!strcmp(name, "iterable"))
		*res = (json && (json_is_array(j) || json_is_object(j) || json_is_string(j))) || in->k == V_UNDEF;
	else if (!strcmp(name, "sequence"))
		*res = (json && (json_is_array(j) || json_is_object(j) || json_is_string(j))) || in->k == V_UNDEF;
	else if (!strcmp(name, "number"))
		*res = json && (json_is_number(j) || json_is_boolean(j));
	else if (!strcmp(name, "integer"))
		*res = json && json_is_integer(j);
	else if (!strcmp(name, "float"))
		*res = json && json_is_real(j);
	else if (!strcmp(name, "boolean"))
		*res = json && json_is_boolean(j);
	else if (!strcmp(name, "true"))
		*res = json && json_is_true(j);
	else if (!strcmp(name, "false"))
		*res = json && json_is_false(j);
	else if (!strcmp(name, "callable"))
		*res = in->k == V_MACRO || in->k == V_FUNC;
	else if (!strcmp(name, "escaped"))
		*res = false;
	else if (!strcmp(name, "lower") || !strcmp(name, "upper")) {
		/* str(value).islower(): some cased character, none of the other case */
		struct strbuf s = { 0 }, b = { 0 };
		v_to_str(c, line, in, &s);
		str_case(s.s ? s.s : "", s.len, name[0] == 'l' ? CASE_LOWER : CASE_UPPER, &b);
		struct strbuf other = { 0 };
		str_case(s.s ? s.s : "", s.len, name[0] == 'l' ? CASE_UPPER : CASE_LOWER, &other);
		*res = b.len == s.len && !memcmp(b.s ? b.s : "", s.s ? s.s : "", s.len) &&
		       !(other.len == s.len && !memcmp(other.s ? other.s : "", s.s ? s.s : "", s.len));
		sb_free(&s);
		sb_free(&b);
		sb_free(&other);
	} else if (!strcmp(name, "odd") || !strcmp(name, "even") || !strcmp(name, "divisibleby")) {
		if (number_arg(c, line, in, name) < 0)
			return -1;
		long long x = json_is_integer(j) ? json_integer_value(j) : (long long)json_num(j), d = 2;
		if (name[0] == 'd' && arg_int(c, line, arg, 1, &d) < 0)
			return -1;
		if (d == 0)
			return terr(c, line, "divisibleby 0");
		if (d == -1)
			d = 1;
		long long r = x % d;
		*res = name[0] == 'o' ? r != 0 : r == 0;
	} else if (!strcmp(name, "sameas"))
		*res = arg && in->k == arg->k && (json ? (in->j == arg->j || (json_is_null(j) && json_is_null(arg->j))) : true);
	else if (!strcmp(name, "in")) {
		if (!arg)
			return terr(c, line, "test 'in' needs an argument");
		*res = false;
		if (arg->k == V_JSON && json_is_string(arg->j) && v_is_str(in))
			*res = memmem(json_string_value(arg->j), json_string_length(arg->j), json_string_value(j),
				      json_string_length(j)) != NULL;
		else if (arg->k == V_JSON && json_is_array(arg->j) && json)
			for (size_t i = 0; i < json_array_size(arg->j) && !*res; i++)
				*res = json_equal_py(json_array_get(arg->j, i), j);
		else if (v_is_dict(arg) && v_is_str(in))
			*res = json_object_get(arg->j, json_string_value(j)) != NULL;
	} else if (!strcmp(name, "filter"))
		*res = v_is_str(in) && tmpl_filter_known(json_string_value(j));
	else if (!strcmp(name, "test"))
		*res = v_is_str(in) && tmpl_test_known(json_string_value(j));
	else
		return compare_test(c, line, name, in, arg, res);
	return 0;
}

/* select/reject/selectattr/rejectattr */
