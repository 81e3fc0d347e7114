/* Chat templates: every conversation of every tokenizer fixture renders to
 * its reference prompt exactly; each construct real templates use gives what
 * Jinja2 3.1 gives in transformers' environment (trim_blocks, lstrip_blocks,
 * loopcontrols; the expected strings came from Jinja2 itself); errors name
 * the construct and the line; hostile templates stop at the limits. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "template/template.h"
#include "tests/tap.h"
#include "util/file.h"

struct tcase {
	const char *tmpl, *want;
};

#include "tests/unit/test_template_cases.h"

static char *render(const char *src, const char *vars_json, struct exo_err *e)
{
	json_t *vars = json_loads(vars_json, 0, NULL);
	struct tmpl *t = tmpl_parse(src, "case", e);
	char *out = NULL;
	if (t && tmpl_render(t, vars, &out, e) < 0)
		out = NULL;
	tmpl_free(t);
	json_decref(vars);
	return out;
}

/* The start of a template on one line, for a test's name. */
static const char *label(const char *tmpl)
{
	static char buf[64];
	size_t i;
	for (i = 0; i + 1 < sizeof buf && tmpl[i]; i++)
		buf[i] = tmpl[i] == '\n' || tmpl[i] == '\r' ? ' ' : tmpl[i];
	buf[i] = 0;
	return buf;
}

static void check_cases(void)
{
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		struct exo_err e = { 0 };
		char *out = render(cases[i].tmpl, VARS, &e);
		is_str(out, cases[i].want, "case %zu: %s", i, label(cases[i].tmpl));
		if (!out)
			diag("error: %s", e.msg);
		free(out);
	}
}

/* Templates that must fail, and what the message must say. */
static const struct tcase errors[] = {
	{ "line one\n{{ x | nosuch }}", "case:2: unsupported filter 'nosuch'" },
	{ "a\nb\n{% include 'x.j2' %}", "case:3: unsupported tag 'include'" },
	{ "{% if x is nosuch %}{% endif %}", "case:1: unsupported test 'nosuch'" },
	{ "\n{{ 'a'.nosuch() }}", "case:2: unsupported method 'nosuch' of str" },
	{ "{{ [1] | map('nosuch') | list }}", "unsupported filter 'nosuch'" },
	{ "x\ny\n{% if %}{% endif %}", "case:3: unexpected '%}'" },
	{ "{% for x in [1] %}\n{{ x }}", "case:2: unexpected end of template, expected 'endfor'" },
	{ "{% if true %}{% endfor %}", "case:1: unexpected tag 'endfor'" },
	{ "\n\n\n{{ (1 + }}", "case:4: unexpected '}'" },
	{ "{{ 'unterminated }}", "case:1: unterminated string" },
	{ "{# never closed", "case:1: missing end of comment tag" },
	{ "{{ 1 ]}}", "case:1: unexpected ']'" },
	{ "{% for x in l recursive %}{% endfor %}", "unsupported loop 'recursive'" },
	{ "\n{{ raise_exception('Conversation roles must alternate') }}", "case:2: Conversation roles must alternate" },
	{ "{{ x.y }}", "case:1: 'x' is undefined" },
	{ "{{ x + 1 }}", "'x' is undefined" },
	{ "{{ 1 / 0 }}", "division by zero" },
	{ "{{ 'a' + 1 }}", "unsupported operand type(s) for +: 'str' and 'int'" },
	{ "{{ 9223372036854775807 + 1 }}", "integer overflow" },
	{ "{{ none | length }}", "has no len()" },
	{ "{% for x in 3 %}{% endfor %}", "'int' object is not iterable" },
	{ "{% set a, b = [1] %}", "cannot unpack 1 values into 2 names" },
	{ "{% set d = {} %}{% set d.x = 1 %}", "cannot assign attribute on non-namespace object" },
	{ "{% set a = [] %}{{ a.append(a) }}", "a list cannot contain itself" },
	{ "{% macro r(n) %}{{ r(n + 1) }}{% endmacro %}{{ r(0) }}", "macro calls nested more than 50 deep" },
	{ "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
	  "more than 1000000 loop iterations" },
	{ "{% set s = 'x' * 1000000 %}{% for i in range(100) %}{{ s }}{% endfor %}", "output longer than" },
	{ "{{ 'x' * 100000000 }}", "string longer than" },
	{ "{% set s = 'x' * 10000000 %}{% for i in range(100) %}{% set t = s ~ i %}{% endfor %}",
	  "more than 268435456 bytes of strings" },
	{ "{{ range(1000000000) | length }}", "range longer than 100000 items" },
};

static void check_errors(void)
{
	for (size_t i = 0; i < sizeof errors / sizeof *errors; i++) {
		struct exo_err e = { 0 };
		char *out = render(errors[i].tmpl, VARS, &e);
		ok(!out && e.code == EXO_DATAERR && strstr(e.msg, errors[i].want), "error %zu: %s", i,
		   label(errors[i].tmpl));
		if (out || !strstr(e.msg, errors[i].want))
			diag("got code %d '%s', want '%s'", e.code, e.msg, errors[i].want);
		free(out);
	}
	/* nesting: 300 parentheses, 300 blocks */
	const char *parts[][3] = { { "{{ ", "(", "1" }, { "", "{% if true %}", "x" } };
	const char *closes[][2] = { { ")", " }}" }, { "{% endif %}", "" } };
	for (int k = 0; k < 2; k++) {
		char src[8000] = "";
		strcat(src, parts[k][0]);
		for (int i = 0; i < 300; i++)
			strcat(src, parts[k][1]);
		strcat(src, parts[k][2]);
		for (int i = 0; i < 300; i++)
			strcat(src, closes[k][0]);
		strcat(src, closes[k][1]);
		struct exo_err e = { 0 };
		char *out = render(src, "{}", &e);
		ok(!out && strstr(e.msg, "case:1: template nested too deeply"), "300 nested %s refused: %s",
		   k ? "blocks" : "parentheses", e.msg);
		free(out);
	}
}

/* The template of a fixture dir: tokenizer_config's chat_template or chat_template.jinja. */
static char *fixture_template(const char *dir, json_t *config, const char *from)
{
	char path[8192];
	if (from && !strcmp(from, "chat_template.jinja")) {
		snprintf(path, sizeof path, "%s/chat_template.jinja", dir);
		return file_read_all(path, NULL, NULL);
	}
	json_t *t = json_object_get(config, "chat_template");
	return json_is_string(t) ? strdup(json_string_value(t)) : NULL;
}

static int check_fixture_line(const char *dir, const char *name, json_t *config, json_t *c, int lineno)
{
	char *src = fixture_template(dir, config, json_string_value(json_object_get(c, "chat_template_from")));
	struct exo_err e = { 0 };
	struct tmpl *t = src ? tmpl_parse(src, name, &e) : NULL;
	char *out = NULL;
	if (t && chat_render(t, config, json_object_get(c, "messages"), json_object_get(c, "tools"),
			     json_is_true(json_object_get(c, "add_generation_prompt")),
			     json_object_get(c, "template_kwargs"), &out, &e) < 0)
		out = NULL;
	is_str(out, json_string_value(json_object_get(c, "prompt")), "%s chat.jsonl line %d", name, lineno);
	if (!out)
		diag("error: %s", e.msg);
	free(out);
	tmpl_free(t);
	free(src);
	return 1;
}

static void check_fixtures(void)
{
	char base[4096];
	snprintf(base, sizeof base, "%s/fixtures/tokenizers", tap_shared());
	DIR *d = opendir(base);
	if (!d) {
		skip("no tokenizer fixtures");
		return;
	}
	int count = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		char dir[4096 + 512], path[8192];
		snprintf(dir, sizeof dir, "%s/%s", base, de->d_name);
		snprintf(path, sizeof path, "%s/chat.jsonl", dir);
		FILE *f = fopen(path, "r");
		if (!f || de->d_name[0] == '.') {
			if (f)
				fclose(f);
			continue;
		}
		snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
		/* model_max_length can exceed 64 bits: integers as reals (only strings are used) */
		json_t *config = json_load_file(path, JSON_PRESERVE_ORDER | JSON_DECODE_INT_AS_REAL, NULL);
		snprintf(path, sizeof path, "%s/chat.jsonl", dir);
		char *line = NULL;
		size_t cap = 0;
		int lineno = 0;
		while (getline(&line, &cap, f) > 0) {
			json_t *c = json_loads(line, JSON_PRESERVE_ORDER, NULL);
			lineno++;
			if (c)
				count += check_fixture_line(dir, de->d_name, config, c, lineno);
			json_decref(c);
		}
		free(line);
		fclose(f);
		json_decref(config);
	}
	closedir(d);
	ok(count >= 32, "rendered %d fixture conversations", count);
}

int main(void)
{
	check_fixtures();
	check_cases();
	check_errors();
	return done_testing();
}
