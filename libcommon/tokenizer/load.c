/* Loading a tokenizer: tokenizer.json (each section handed to its own
 * loader), and next to it tokenizer_config.json, generation_config.json and
 * chat_template.jinja for the special tokens, end ids and chat template. */
#include "tokenizer/tok_int.h"
#include "util/file.h"
#include "model/gguf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int tok_field_error(const struct tok *t, struct exo_err *e, const char *field, const char *fmt, ...)
{
	char msg[800];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return exo_error(e, EXO_DATAERR, "%s: %s: %s", t->path, field, msg);
}

int tok_get_bool(const struct tok *t, json_t *obj, const char *key, bool def, bool *out,
		 const char *field, struct exo_err *e)
{
	json_t *v = json_object_get(obj, key);
	if (!v || json_is_null(v)) {
		*out = def;
		return 0;
	}
	if (!json_is_boolean(v))
		return tok_field_error(t, e, field, "'%s': expected true or false", key);
	*out = json_is_true(v);
	return 0;
}

static char *join_path(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = xmalloc(n);
	snprintf(p, n, "%s/%s", dir, name);
	return p;
}

/* Reads and parses a JSON file; NULL with *missing set when it does not exist. */
static json_t *read_json(const char *path, size_t flags, bool *missing, struct exo_err *e)
{
	size_t len;
	*missing = false;
	char *buf = file_read_all(path, &len, e);
	if (!buf) {
		*missing = e && e->code == EXO_NOINPUT && access(path, F_OK) != 0;
		return NULL;
	}
	json_error_t je;
	json_t *j = json_loadb(buf, len, flags, &je);
	free(buf);
	if (!j)
		exo_error(e, EXO_DATAERR, "%s: line %d column %d: %s", path, je.line, je.column, je.text);
	return j;
}

/* An id given as a token string or an AddedToken object {"content": ...}. */
static int32_t token_ref(const struct tok *t, json_t *v)
{
	if (json_is_object(v))
		v = json_object_get(v, "content");
	return json_is_string(v) ? tok_id(t, json_string_value(v)) : -1;
}

static void add_eos(struct tok *t, int32_t id)
{
	if (id < 0 || (size_t)id >= t->n_ids)
		return;
	for (size_t i = 0; i < t->n_eos; i++)
		if (t->eos[i] == id)
			return;
	t->eos = xrealloc(t->eos, (t->n_eos + 1) * sizeof *t->eos);
	t->eos[t->n_eos++] = id;
}

static int load_template(struct tok *t, const char *dir, struct exo_err *e)
{
	json_t *ct = json_object_get(t->config, "chat_template");
	if (json_is_string(ct))
		t->chat_template = xstrdup(json_string_value(ct));
	size_t i;
	json_t *it;
	json_array_foreach(ct, i, it) {
		json_t *name = json_object_get(it, "name"), *tpl = json_object_get(it, "template");
		if (json_is_string(name) && json_is_string(tpl) &&
		    !strcmp(json_string_value(name), "default"))
			t->chat_template = xstrdup(json_string_value(tpl));
	}
	if (t->chat_template || !dir)
		return 0;
	char *p = join_path(dir, "chat_template.jinja");
	size_t len;
	struct exo_err fe = {0};
	t->chat_template = file_read_all(p, &len, &fe);
	int missing = !t->chat_template && access(p, F_OK) != 0;
	free(p);
	if (!t->chat_template && !missing) {
		*e = fe;
		return -1;
	}
	return 0;
}

/* tokenizer_config.json, generation_config.json, chat_template.jinja. */
static int load_around(struct tok *t, const char *dir, struct exo_err *e)
{
	bool missing;
	if (dir) {
		char *p = join_path(dir, "tokenizer_config.json");
		/* integers as integers, unless one is too big for that (model_max_length 1e30) */
		t->config = read_json(p, 0, &missing, e);
		if (!t->config && !missing)
			t->config = read_json(p, JSON_DECODE_INT_AS_REAL, &missing, e);
		free(p);
		if (!t->config && !missing)
			return -1;
	}
	t->bos = token_ref(t, json_object_get(t->config, "bos_token"));
	add_eos(t, token_ref(t, json_object_get(t->config, "eos_token")));
	if (load_template(t, dir, e) < 0)
		return -1;
	if (!dir)
		return 0;
	char *p = join_path(dir, "generation_config.json");
	json_t *gen = read_json(p, 0, &missing, e);
	free(p);
	if (!gen)
		return missing ? 0 : -1;
	json_t *eos = json_object_get(gen, "eos_token_id"), *it;
	size_t i;
	if (json_is_integer(eos))
		add_eos(t, (int32_t)json_integer_value(eos));
	json_array_foreach(eos, i, it)
		if (json_is_integer(it))
			add_eos(t, (int32_t)json_integer_value(it));
	json_decref(gen);
	return 0;
}

/* What ByteLevel decoding makes of each piece, ready to be concatenated. */
static void index_raw(struct tok *t)
{
	if (!t->n_decs || t->decs[0].type != DEC_BYTELEVEL)
		return;
	t->raw_off = xmalloc((t->n_ids + 1) * sizeof *t->raw_off);
	strbuf_add(&t->raw, "", 0);
	for (size_t id = 0; id < t->n_ids; id++) {
		t->raw_off[id] = (uint32_t)t->raw.len;
		const char *p = tok_piece(t, (int32_t)id);
		if (p && !tok_bytelevel_unmap(p, strlen(p), &t->raw))
			strbuf_add(&t->raw, p, strlen(p));
	}
	t->raw_off[t->n_ids] = (uint32_t)t->raw.len;
}

int tok_load_json(struct tok *t, json_t *j, struct exo_err *e)
{
	if (!json_is_object(j))
		return tok_field_error(t, e, "(top level)", "expected an object");
	if (!json_is_object(json_object_get(j, "model")))
		return tok_field_error(t, e, "model", "missing or not an object");
	if (tok_load_pretok(t, json_object_get(j, "pre_tokenizer"), e) < 0 ||
	    tok_load_normalizer(t, json_object_get(j, "normalizer"), e) < 0 ||
	    tok_load_model(t, json_object_get(j, "model"), e) < 0 ||
	    tok_load_added(t, json_object_get(j, "added_tokens"), e) < 0 ||
	    tok_load_post(t, json_object_get(j, "post_processor"), e) < 0 ||
	    tok_load_decoder(t, json_object_get(j, "decoder"), e) < 0)
		return -1;
	index_raw(t);
	return 0;
}

struct tok *tok_load_buffer(const char *json, size_t len, const char *name, struct exo_err *e)
{
	struct tok *t = xcalloc(1, sizeof *t);
	t->path = xstrdup(name);
	t->unk = t->bos = -1;
	json_error_t je;
	json_t *j = json_loadb(json, len, 0, &je);
	if (!j)
		exo_error(e, EXO_DATAERR, "%s: line %d column %d: %s", name, je.line, je.column, je.text);
	if (!j || tok_load_json(t, j, e) < 0 || load_around(t, NULL, e) < 0) {
		json_decref(j);
		tok_free(t);
		return NULL;
	}
	json_decref(j);
	return t;
}

struct tok *tok_load(const char *path, struct exo_err *e)
{
	if (gguf_is_file(path))
		return tok_load_gguf(path, e);
	struct stat st;
	if (stat(path, &st) < 0) {
		exo_error(e, errno == EACCES ? EXO_NOPERM : EXO_NOINPUT, "%s: %s", path, strerror(errno));
		return NULL;
	}
	char *dir = xstrdup(path);
	if (!S_ISDIR(st.st_mode)) {     /* the files beside it */
		char *slash = strrchr(dir, '/');
		if (slash)
			slash[slash == dir] = '\0';
		else
			strcpy(dir, ".");
	}
	struct tok *t = xcalloc(1, sizeof *t);
	t->path = S_ISDIR(st.st_mode) ? join_path(dir, "tokenizer.json") : xstrdup(path);
	t->unk = t->bos = -1;
	bool missing;
	json_t *j = read_json(t->path, 0, &missing, e);
	if (!j || tok_load_json(t, j, e) < 0 || load_around(t, dir, e) < 0) {
		json_decref(j);
		free(dir);
		tok_free(t);
		return NULL;
	}
	json_decref(j);
	free(dir);
	return t;
}

void tok_free(struct tok *t)
{
	if (!t)
		return;
	tok_strmap_free(&t->vocab);
	tok_pairmap_free(&t->merges);
	strbuf_release(&t->pieces);
	free(t->piece_off);
	strbuf_release(&t->raw);
	free(t->raw_off);
	free(t->special);
	for (size_t i = 0; i < t->n_added; i++)
		free(t->added[i].content);
	free(t->added);
	tok_trie_free(&t->raw_trie);
	tok_trie_free(&t->norm_trie);
	for (size_t i = 0; i < t->n_norms; i++) {
		free(t->norms[i].a);
		tok_regex_free(&t->norms[i].re);
	}
	free(t->norms);
	for (size_t i = 0; i < t->n_pres; i++)
		tok_regex_free(&t->pres[i].re);
	free(t->pres);
	for (size_t i = 0; i < t->n_decs; i++) {
		free(t->decs[i].pat);
		free(t->decs[i].content);
	}
	free(t->decs);
	free(t->post.before);
	free(t->post.after);
	json_decref(t->config);
	free(t->chat_template);
	free(t->eos);
	free(t->path);
	free(t);
}

size_t tok_vocab_size(const struct tok *t)
{
	return t->n_ids;
}

int32_t tok_id(const struct tok *t, const char *piece)
{
	size_t n = strlen(piece);
	for (size_t i = 0; i < t->n_added; i++)
		if (t->added[i].len == n && !memcmp(t->added[i].content, piece, n))
			return t->added[i].id;
	if (!t->bytelevel)
		return tok_strmap_get(&t->vocab, piece, n);
	struct strbuf raw = {0};
	int32_t id = tok_bytelevel_unmap(piece, n, &raw) ? tok_strmap_get(&t->vocab, raw.s ? raw.s : "", raw.len)
						      : tok_strmap_get(&t->vocab, piece, n);
	strbuf_release(&raw);
	return id;
}

const char *tok_piece(const struct tok *t, int32_t id)
{
	if (id < 0 || (size_t)id >= t->n_ids || t->piece_off[id] == UINT32_MAX)
		return NULL;
	return t->pieces.s + t->piece_off[id];
}

bool tok_is_special(const struct tok *t, int32_t id)
{
	return id >= 0 && (size_t)id < t->n_ids && t->special[id];
}

int32_t tok_bos(const struct tok *t)
{
	return t->bos;
}

size_t tok_eos_ids(const struct tok *t, const int32_t **ids)
{
	*ids = t->eos;
	return t->n_eos;
}

const json_t *tok_config(const struct tok *t)
{
	return t->config;
}

const char *tok_chat_template(const struct tok *t)
{
	return t->chat_template;
}
