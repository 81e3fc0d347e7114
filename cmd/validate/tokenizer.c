/* `exo-validate tokenizer DIR`: the tokenizer loads; with --cases every
 * reference case encodes to exactly its ids (and decodes back to its text
 * where the reference says the tokenizer is lossless); with --chat every
 * conversation renders through the chat template to exactly its prompt and
 * that prompt encodes to exactly its ids. */
#include "records/record.h"
#include "template/template.h"
#include "tokenizer/tokenizer.h"
#include "util/file.h"
#include "cmd/validate/subcommand.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char usage_text[] =
	"usage: exo-validate tokenizer DIR [--cases FILE] [--chat FILE] [--chat-template FILE]\n"
	"                    [-o msgpack|json|yaml|text] [-q]\n"
	"       exo-validate --help | --version\n";

struct options {
	const char *dir, *cases, *chat, *chat_template;
	int quiet;
	enum rec_format format;
};

struct run {
	const struct options *o;
	struct tok *tok;
	struct vcheck_out *out;
	const char *file;       /* the cases or chat file being read */
	size_t line;
};

static void usage(int status)
{
	fputs(usage_text, status ? stderr : stdout);
	if (!status)
		fputs("\nLoads a tokenizer (tokenizer.json and the files beside it) and checks it\n"
		      "against reference cases: --cases (text, add_special_tokens, ids per line),\n"
		      "--chat (conversations rendered by the chat template, then encoded).\n"
		      "See exo-validate(1).\n", stdout);
	exit(status);
}

static void parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{"cases", required_argument, NULL, 'c'}, {"chat", required_argument, NULL, 'C'},
		{"chat-template", required_argument, NULL, 'T'}, {"output", required_argument, NULL, 'o'},
		{"quiet", no_argument, NULL, 'q'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
	int c;
	while ((c = getopt_long(argc, argv, "o:qh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': o->cases = optarg; break;
		case 'C': o->chat = optarg; break;
		case 'T': o->chat_template = optarg; break;
		case 'o': o->format = rec_format_option(optarg); break;
		case 'q': o->quiet = 1; break;
		case 'h': usage(0); break;
		default: usage(EXO_USAGE);
		}
	}
	if (optind + 1 != argc)
		usage(EXO_USAGE);
	o->dir = argv[optind];
}

static void emit(struct run *r, json_t *c)
{
	const char *level = json_string_value(json_object_get(c, "level"));
	if (r->o->quiet && level && !strcmp(level, "ok")) {
		json_decref(c);
		return;
	}
	vcheck_emit(r->out, c);
}

static json_t *ids_json(const int32_t *ids, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_integer(ids[i]));
	return a;
}

/* A line's integer array; -1 when it is not one. */
static int read_ids(json_t *arr, int32_t **ids, size_t *n)
{
	if (!json_is_array(arr))
		return -1;
	*n = json_array_size(arr);
	*ids = xmalloc((*n + 1) * sizeof **ids);
	for (size_t i = 0; i < *n; i++) {
		json_t *v = json_array_get(arr, i);
		if (!json_is_integer(v) || json_integer_value(v) < INT32_MIN ||
		    json_integer_value(v) > INT32_MAX) {
			free(*ids);
			return -1;
		}
		(*ids)[i] = (int32_t)json_integer_value(v);
	}
	return 0;
}

static _Noreturn void bad_line(const struct run *r, const char *what)
{
	exo_errx(EXO_DATAERR, "%s:%zu: %s", r->file, r->line, what);
}

/* Index of the first difference, or SIZE_MAX when equal. */
static size_t first_diff(const int32_t *a, size_t na, const int32_t *b, size_t nb)
{
	size_t i = 0;
	while (i < na && i < nb && a[i] == b[i])
		i++;
	return i == na && i == nb ? SIZE_MAX : i;
}

static char *shorten(const char *s, size_t max)
{
	size_t n = strlen(s);
	char *o = xmalloc(max + 8);
	if (n <= max) {
		memcpy(o, s, n + 1);
		return o;
	}
	size_t k = max;
	while (k && ((unsigned char)s[k] & 0xC0) == 0x80)
		k--;
	memcpy(o, s, k);
	memcpy(o + k, "...", 4);
	return o;
}

static void ids_mismatch(struct run *r, const char *code, const char *text, const int32_t *want,
			 size_t nw, const int32_t *got, size_t ng, size_t at)
{
	char msg[900], where[600];
	char *t = shorten(text, 200);
	snprintf(where, sizeof where, "%s:%zu", r->file, r->line);
	if (at < nw && at < ng)
		snprintf(msg, sizeof msg, "%s: \"%s\": ids differ at position %zu: expected %d, got %d "
			 "(%zu ids expected, %zu produced)", where, t, at, (int)want[at], (int)got[at], nw, ng);
	else
		snprintf(msg, sizeof msg, "%s: \"%s\": ids differ at position %zu: %zu ids expected, "
			 "%zu produced", where, t, at, nw, ng);
	free(t);
	json_t *c = vcheck_new(r->o->dir, code, "fail", msg);
	json_object_set_new(c, "text", json_string(text));
	json_object_set_new(c, "expected", ids_json(want, nw));
	json_object_set_new(c, "actual", ids_json(got, ng));
	json_object_set_new(c, "position", json_integer((json_int_t)at));
	json_object_set_new(c, "line", json_integer((json_int_t)r->line));
	emit(r, c);
}

static void text_mismatch(struct run *r, const char *code, const char *what, const char *want,
			  const char *got)
{
	size_t at = 0;
	while (want[at] && want[at] == got[at])
		at++;
	char msg[1000];
	char *w = shorten(want + at, 60), *g = shorten(got + at, 60);
	snprintf(msg, sizeof msg, "%s:%zu: %s differs at byte %zu: expected \"%s\", got \"%s\"",
		 r->file, r->line, what, at, w, g);
	free(w);
	free(g);
	json_t *c = vcheck_new(r->o->dir, code, "fail", msg);
	json_object_set_new(c, "expected", json_string(want));
	json_object_set_new(c, "actual", json_string(got));
	json_object_set_new(c, "position", json_integer((json_int_t)at));
	json_object_set_new(c, "line", json_integer((json_int_t)r->line));
	emit(r, c);
}

/* Encodes text and compares; returns 1 when the ids match, 0 when not. */
static int check_ids(struct run *r, const char *code, const char *text, size_t len, bool special,
		     const int32_t *want, size_t nw, int32_t **got, size_t *ng)
{
	struct exo_err e = {0};
	if (tok_encode(r->tok, text, len, special, got, ng, &e) < 0) {
		char msg[1200];
		snprintf(msg, sizeof msg, "%s:%zu: %s", r->file, r->line, e.msg);
		emit(r, vcheck_new(r->o->dir, code, "fail", msg));
		*got = NULL;
		return 0;
	}
	size_t at = first_diff(want, nw, *got, *ng);
	if (at == SIZE_MAX)
		return 1;
	ids_mismatch(r, code, text, want, nw, *got, *ng, at);
	return 0;
}

/* decode(encode(text)) == text, where the reference decodes to the text. */
static int check_round_trip(struct run *r, const char *text, size_t len, const int32_t *ids,
			    size_t n)
{
	char *back = NULL;
	size_t blen;
	struct exo_err e = {0};
	if (tok_decode(r->tok, ids, n, false, &back, &blen, &e) < 0) {
		char msg[1200];
		snprintf(msg, sizeof msg, "%s:%zu: %s", r->file, r->line, e.msg);
		emit(r, vcheck_new(r->o->dir, "tokenizer.decode", "fail", msg));
		return 0;
	}
	int same = blen == len && !memcmp(back, text, len);
	if (!same)
		text_mismatch(r, "tokenizer.decode", "decode(encode(text))", text, back);
	free(back);
	return same;
}

struct tally { size_t lines, failed, trips, trips_failed; };

static void case_line(struct run *r, json_t *j, struct tally *t)
{
	json_t *text = json_object_get(j, "text"), *special = json_object_get(j, "add_special_tokens");
	json_t *decoded = json_object_get(j, "decoded");
	int32_t *want, *got = NULL;
	size_t nw, ng;
	if (!json_is_string(text))
		bad_line(r, "'text': expected a string");
	if (!json_is_boolean(special))
		bad_line(r, "'add_special_tokens': expected true or false");
	if (read_ids(json_object_get(j, "ids"), &want, &nw) < 0)
		bad_line(r, "'ids': expected an array of integers");
	const char *s = json_string_value(text);
	size_t len = json_string_length(text);
	t->lines++;
	if (!check_ids(r, "tokenizer.encode", s, len, json_is_true(special), want, nw, &got, &ng))
		t->failed++;
	if (got && json_is_string(decoded) && json_string_length(decoded) == len &&
	    !memcmp(json_string_value(decoded), s, len) && !json_is_true(special)) {
		t->trips++;
		if (!check_round_trip(r, s, len, got, ng))
			t->trips_failed++;
	}
	free(want);
	free(got);
}

/* Calls fn for each non-empty line of the file, parsed as a JSON object. */
static void each_line(struct run *r, const char *path, void (*fn)(struct run *, json_t *, void *),
		      void *arg)
{
	struct exo_err e = {0};
	size_t len;
	char *buf = file_read_all(path, &len, &e);
	if (!buf)
		exo_die(&e);
	r->file = path;
	r->line = 0;
	for (char *p = buf, *nl; p < buf + len; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(buf + len - p));
		if (!nl)
			nl = buf + len;
		r->line++;
		size_t n = (size_t)(nl - p);
		if (!n || (n == 1 && *p == '\r'))
			continue;
		json_error_t je;
		json_t *j = json_loadb(p, n, 0, &je);
		if (!j) {
			char what[300];
			snprintf(what, sizeof what, "column %d: %s", je.column, je.text);
			bad_line(r, what);
		}
		if (!json_is_object(j))
			bad_line(r, "expected a JSON object");
		fn(r, j, arg);
		json_decref(j);
	}
	free(buf);
}

static void case_cb(struct run *r, json_t *j, void *arg)
{
	case_line(r, j, arg);
}

static void run_cases(struct run *r)
{
	struct tally t = {0};
	each_line(r, r->o->cases, case_cb, &t);
	char msg[600];
	snprintf(msg, sizeof msg, "%s: %zu of %zu cases give exactly the expected ids; "
		 "%zu of %zu decode round trips give the text back", r->o->cases, t.lines - t.failed,
		 t.lines, t.trips - t.trips_failed, t.trips);
	bool ok = !t.failed && !t.trips_failed && t.lines;
	emit(r, vcheck_new(r->o->dir, "tokenizer.cases", ok ? "ok" : "fail",
			   t.lines ? msg : "no cases in the file"));
}

struct chat_run {
	struct tmpl *tmpl;
	size_t lines, failed;
};

static void chat_line(struct run *r, json_t *j, void *arg)
{
	struct chat_run *c = arg;
	json_t *messages = json_object_get(j, "messages"), *prompt = json_object_get(j, "prompt");
	json_t *agp = json_object_get(j, "add_generation_prompt"), *tools = json_object_get(j, "tools");
	json_t *kwargs = json_object_get(j, "template_kwargs");
	int32_t *want, *got = NULL;
	size_t nw, ng;
	if (!json_is_array(messages))
		bad_line(r, "'messages': expected an array");
	if (!json_is_string(prompt))
		bad_line(r, "'prompt': expected a string");
	if (agp && !json_is_boolean(agp))
		bad_line(r, "'add_generation_prompt': expected true or false");
	if (read_ids(json_object_get(j, "ids"), &want, &nw) < 0)
		bad_line(r, "'ids': expected an array of integers");
	c->lines++;
	char *out = NULL;
	struct exo_err e = {0};
	if (chat_render(c->tmpl, tok_config(r->tok), messages, json_is_null(tools) ? NULL : tools,
			json_is_true(agp), kwargs, &out, &e) < 0) {
		char msg[1200];
		snprintf(msg, sizeof msg, "%s:%zu: %s", r->file, r->line, e.msg);
		emit(r, vcheck_new(r->o->dir, "tokenizer.chat.render", "fail", msg));
		c->failed++;
	} else if (strcmp(out, json_string_value(prompt))) {
		text_mismatch(r, "tokenizer.chat.render", "rendered prompt", json_string_value(prompt), out);
		c->failed++;
	} else if (!check_ids(r, "tokenizer.chat.encode", out, strlen(out), false, want, nw, &got, &ng))
		c->failed++;
	free(out);
	free(want);
	free(got);
}

static struct tmpl *open_template(struct run *r)
{
	struct exo_err e = {0};
	char *owned = NULL;
	const char *src = tok_chat_template(r->tok), *name = "chat_template";
	if (r->o->chat_template) {
		size_t len;
		if (!(owned = file_read_all(r->o->chat_template, &len, &e)))
			exo_die(&e);
		src = owned;
		name = r->o->chat_template;
	}
	if (!src)
		exo_errx(EXO_DATAERR, "%s: no chat template (tokenizer_config.json's chat_template or "
			 "chat_template.jinja); give one with --chat-template", r->o->dir);
	struct tmpl *t = tmpl_parse(src, name, &e);
	free(owned);
	if (!t) {
		emit(r, vcheck_new(r->o->dir, "tokenizer.chat.parse", "fail", e.msg));
		return NULL;
	}
	return t;
}

static void run_chat(struct run *r)
{
	struct chat_run c = {0};
	if (!(c.tmpl = open_template(r)))
		return;
	each_line(r, r->o->chat, chat_line, &c);
	tmpl_free(c.tmpl);
	char msg[600];
	snprintf(msg, sizeof msg, "%s: %zu of %zu conversations render to exactly the expected "
		 "prompt and ids", r->o->chat, c.lines - c.failed, c.lines);
	emit(r, vcheck_new(r->o->dir, "tokenizer.chat", !c.failed && c.lines ? "ok" : "fail",
			   c.lines ? msg : "no conversations in the file"));
}

static int load(struct run *r)
{
	struct exo_err e = {0};
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	r->tok = tok_load(r->o->dir, &e);
	clock_gettime(CLOCK_MONOTONIC, &b);
	if (!r->tok && (e.code == EXO_NOINPUT || e.code == EXO_NOPERM))
		exo_die(&e);
	char msg[1200];
	if (r->tok)
		snprintf(msg, sizeof msg, "%zu ids, chat template %s; loaded in %.3f s",
			 tok_vocab_size(r->tok), tok_chat_template(r->tok) ? "present" : "absent",
			 (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9);
	emit(r, vcheck_new(r->o->dir, "tokenizer.load", r->tok ? "ok" : "fail", r->tok ? msg : e.msg));
	return r->tok ? 0 : -1;
}

int validate_tokenizer(int argc, char **argv)
{
	struct options o = {.format = REC_AUTO};
	parse_options(argc, argv, &o);
	struct vcheck_out out;
	vcheck_open(&out, o.format);
	struct run r = {.o = &o, .out = &out};
	if (load(&r) == 0) {
		if (o.cases)
			run_cases(&r);
		if (o.chat)
			run_chat(&r);
	}
	tok_free(r.tok);
	return vcheck_close(&out, vcheck_status(&out));
}

