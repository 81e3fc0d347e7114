/* Decoding: ids to pieces, then the file's decoders over the list of
 * pieces as HF's decode_chain does (ByteLevel, Replace, ByteFallback, Fuse,
 * Strip, Metaspace, Sequence), joined.  Streaming decode follows HF's
 * DecodeStream: decode a short window of ids and emit what grew past the
 * text already emitted, holding back while it ends in an incomplete
 * character (U+FFFD). */
#include "tokenizer/tok_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FFFD "\xEF\xBF\xBD"

/* A list of strings in one buffer. */
struct strs {
	struct strbuf text;
	size_t *off, *len;
	size_t n, cap;
};

static void strs_add(struct strs *l, const char *s, size_t n)
{
	if (l->n == l->cap) {
		l->cap = grow_cap(l->cap, l->n + 1, 64);
		l->off = xrealloc(l->off, l->cap * sizeof *l->off);
		l->len = xrealloc(l->len, l->cap * sizeof *l->len);
	}
	l->off[l->n] = l->text.len;
	l->len[l->n++] = n;
	strbuf_add(&l->text, s, n);
}

/* Opens a new string that the caller appends to l->text, closed by strs_end. */
static void strs_begin(struct strs *l)
{
	strs_add(l, "", 0);
}

static void strs_end(struct strs *l)
{
	l->len[l->n - 1] = l->text.len - l->off[l->n - 1];
}

static void strs_free(struct strs *l)
{
	strbuf_release(&l->text);
	free(l->off);
	free(l->len);
	memset(l, 0, sizeof *l);
}

#define STR(l, i) ((l)->text.s + (l)->off[i])

static void dec_bytelevel(const struct strs *in, struct strs *out)
{
	struct strbuf raw = {0};
	for (size_t i = 0; i < in->n; i++)
		if (!tok_bytelevel_unmap(STR(in, i), in->len[i], &raw))
			strbuf_add(&raw, STR(in, i), in->len[i]);
	strs_begin(out);
	tok_utf8_lossy(&out->text, raw.s ? raw.s : "", raw.len);
	strs_end(out);
	strbuf_release(&raw);
}

static void replace_literal(struct strbuf *out, const char *s, size_t n, const char *pat, size_t pn,
			    const char *with, size_t wn)
{
	const char *p;
	while (pn && (p = memmem(s, n, pat, pn))) {
		strbuf_add(out, s, (size_t)(p - s));
		strbuf_add(out, with, wn);
		n -= (size_t)(p - s) + pn;
		s = p + pn;
	}
	strbuf_add(out, s, n);
}

static void dec_replace(const struct decoder *d, const struct strs *in, struct strs *out)
{
	for (size_t i = 0; i < in->n; i++) {
		strs_begin(out);
		replace_literal(&out->text, STR(in, i), in->len[i], d->pat, d->plen, d->content, d->clen);
		strs_end(out);
	}
}

static int hex_digit(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10
	       : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* <0xXX>: the byte, else -1. */
static int byte_piece(const char *s, size_t n)
{
	if (n != 6 || memcmp(s, "<0x", 3) || s[5] != '>')
		return -1;
	int hi = hex_digit(s[3]), lo = hex_digit(s[4]);
	return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

static void flush_bytes(struct strbuf *bytes, struct strs *out)
{
	if (!bytes->len)
		return;
	if (tok_utf8_valid(bytes->s, bytes->len) == bytes->len)
		strs_add(out, bytes->s, bytes->len);
	else
		for (size_t k = 0; k < bytes->len; k++)
			strs_add(out, FFFD, 3);
	bytes->len = 0;
}

static void dec_bytefallback(const struct strs *in, struct strs *out)
{
	struct strbuf bytes = {0};
	for (size_t i = 0; i < in->n; i++) {
		int b = byte_piece(STR(in, i), in->len[i]);
		if (b >= 0) {
			strbuf_addch(&bytes, b);
			continue;
		}
		flush_bytes(&bytes, out);
		strs_add(out, STR(in, i), in->len[i]);
	}
	flush_bytes(&bytes, out);
	strbuf_release(&bytes);
}

static void dec_fuse(const struct strs *in, struct strs *out)
{
	strs_begin(out);
	for (size_t i = 0; i < in->n; i++)
		strbuf_add(&out->text, STR(in, i), in->len[i]);
	strs_end(out);
}

static void dec_strip(const struct decoder *d, const struct strs *in, struct strs *out)
{
	char c[4];
	size_t cl = tok_utf8_put(c, d->strip_char);
	for (size_t i = 0; i < in->n; i++) {
		const char *s = STR(in, i);
		size_t a = 0, b = in->len[i];
		for (size_t k = 0; k < d->start && b - a >= cl && !memcmp(s + a, c, cl); k++)
			a += cl;
		for (size_t k = 0; k < d->stop && b - a >= cl && !memcmp(s + b - cl, c, cl); k++)
			b -= cl;
		strs_add(out, s + a, b - a);
	}
}

/* As HF: ▁ becomes a space, except in the first piece, where every ▁ is
 * dropped unless the prepend scheme is never. */
static void dec_metaspace(const struct decoder *d, const struct strs *in, struct strs *out)
{
	for (size_t i = 0; i < in->n; i++) {
		bool drop = i == 0 && d->scheme != PREPEND_NEVER;
		strs_begin(out);
		replace_literal(&out->text, STR(in, i), in->len[i], d->repl, d->repl_len, " ", !drop);
		strs_end(out);
	}
}

static void apply(const struct decoder *d, const struct strs *in, struct strs *out)
{
	switch (d->type) {
	case DEC_BYTELEVEL: dec_bytelevel(in, out); break;
	case DEC_REPLACE: dec_replace(d, in, out); break;
	case DEC_BYTEFALLBACK: dec_bytefallback(in, out); break;
	case DEC_FUSE: dec_fuse(in, out); break;
	case DEC_STRIP: dec_strip(d, in, out); break;
	case DEC_METASPACE: dec_metaspace(d, in, out); break;
	}
}

/* The first decoder's work when it is ByteLevel: the bytes of each id
 * concatenated (as from_utf8_lossy sees them). */
static void bytelevel_direct(const struct tok *t, const int32_t *ids, size_t n, bool skip_special,
			     struct strs *a)
{
	struct strbuf raw = {0};
	for (size_t i = 0; i < n; i++)
		if (!(skip_special && t->special[ids[i]]))
			strbuf_add(&raw, t->raw.s + t->raw_off[ids[i]],
				 t->raw_off[ids[i] + 1] - t->raw_off[ids[i]]);
	strs_begin(a);
	tok_utf8_lossy(&a->text, raw.s ? raw.s : "", raw.len);
	strs_end(a);
	strbuf_release(&raw);
}

int tok_decode_pipeline(const struct tok *t, const int32_t *ids, size_t n, bool skip_special,
		    struct strbuf *out, struct exo_err *e)
{
	struct strs a = {0}, b = {0};
	for (size_t i = 0; i < n; i++)
		if (!tok_piece(t, ids[i]))
			return exo_error(e, EXO_DATAERR, "token id %d: not in the vocabulary (%zu ids)",
					 (int)ids[i], t->n_ids);
	size_t k = 0;
	if (t->raw_off) {
		bytelevel_direct(t, ids, n, skip_special, &a);
		k = 1;
	} else
		for (size_t i = 0; i < n; i++)
			if (!(skip_special && t->special[ids[i]])) {
				const char *p = tok_piece(t, ids[i]);
				strs_add(&a, p, strlen(p));
			}
	for (; k < t->n_decs; k++) {
		b.n = 0;
		b.text.len = 0;
		apply(&t->decs[k], &a, &b);
		struct strs tmp = a;
		a = b;
		b = tmp;
	}
	out->len = 0;
	strbuf_add(out, "", 0);
	for (size_t i = 0; i < a.n; i++) {
		if (i && !t->n_decs)
			strbuf_addch(out, ' ');
		strbuf_add(out, STR(&a, i), a.len[i]);
	}
	strs_free(&a);
	strs_free(&b);
	return 0;
}

int tok_decode(const struct tok *t, const int32_t *ids, size_t n, bool skip_special,
	       char **text, size_t *len, struct exo_err *e)
{
	struct strbuf out = {0};
	if (tok_decode_pipeline(t, ids, n, skip_special, &out, e) < 0) {
		strbuf_release(&out);
		return -1;
	}
	*text = out.s;
	*len = out.len;
	return 0;
}

/* Loading */

static int load_string(const struct tok *t, json_t *j, const char *key, char **s, size_t *n,
		       const char *field, struct exo_err *e)
{
	json_t *v = json_object_get(j, key);
	if (!json_is_string(v))
		return tok_field_error(t, e, field, "'%s': expected a string", key);
	*s = xstrdup(json_string_value(v));
	*n = json_string_length(v);
	return 0;
}

static int load_replace(struct tok *t, json_t *j, struct decoder *d, const char *field,
			struct exo_err *e)
{
	json_t *pat = json_object_get(j, "pattern");
	if (!json_is_string(json_object_get(pat, "String")))
		return tok_field_error(t, e, field, "'pattern': only {\"String\": ...} is supported");
	return load_string(t, pat, "String", &d->pat, &d->plen, field, e) < 0 ||
	       load_string(t, j, "content", &d->content, &d->clen, field, e) < 0 ? -1 : 0;
}

static int load_strip(struct tok *t, json_t *j, struct decoder *d, const char *field,
		      struct exo_err *e)
{
	json_t *c = json_object_get(j, "content"), *a = json_object_get(j, "start"),
	       *b = json_object_get(j, "stop");
	uint32_t cp;
	if (!json_is_string(c) || !json_string_length(c) ||
	    tok_utf8_get(json_string_value(c), json_string_length(c), &cp) != json_string_length(c) ||
	    !json_is_integer(a) || !json_is_integer(b) || json_integer_value(a) < 0 ||
	    json_integer_value(b) < 0)
		return tok_field_error(t, e, field, "expected one 'content' character, 'start' and 'stop' counts");
	d->strip_char = cp;
	d->start = (size_t)json_integer_value(a);
	d->stop = (size_t)json_integer_value(b);
	return 0;
}

static int load_metaspace(struct tok *t, json_t *j, struct decoder *d, const char *field,
			  struct exo_err *e)
{
	json_t *r = json_object_get(j, "replacement");
	const char *repl = json_is_string(r) ? json_string_value(r) : "\xE2\x96\x81";
	if (!*repl || strlen(repl) > 4)
		return tok_field_error(t, e, field, "'replacement': expected one character");
	d->repl_len = strlen(repl);
	memcpy(d->repl, repl, d->repl_len);
	const char *scheme = json_string_value(json_object_get(j, "prepend_scheme"));
	bool add = true;
	if (tok_get_bool(t, j, "add_prefix_space", true, &add, field, e) < 0)
		return -1;
	d->scheme = scheme ? (!strcmp(scheme, "never") ? PREPEND_NEVER : PREPEND_ALWAYS)
			   : add ? PREPEND_ALWAYS : PREPEND_NEVER;
	return 0;
}

static int load_one(struct tok *t, json_t *j, const char *field, struct exo_err *e)
{
	static const struct { const char *name; enum dec_type type; } names[] = {
		{"ByteLevel", DEC_BYTELEVEL}, {"Replace", DEC_REPLACE}, {"ByteFallback", DEC_BYTEFALLBACK},
		{"Fuse", DEC_FUSE}, {"Strip", DEC_STRIP}, {"Metaspace", DEC_METASPACE},
	};
	const char *type = json_string_value(json_object_get(j, "type"));
	if (!type)
		return tok_field_error(t, e, field, "missing 'type'");
	if (!strcmp(type, "Sequence")) {
		json_t *list = json_object_get(j, "decoders"), *it;
		size_t i;
		if (!json_is_array(list))
			return tok_field_error(t, e, field, "'decoders': expected an array");
		json_array_foreach(list, i, it) {
			char sub[256];
			snprintf(sub, sizeof sub, "%s.decoders[%zu]", field, i);
			if (load_one(t, it, sub, e) < 0)
				return -1;
		}
		return 0;
	}
	size_t k = 0;
	while (k < sizeof names / sizeof names[0] && strcmp(names[k].name, type))
		k++;
	if (k == sizeof names / sizeof names[0])
		return tok_field_error(t, e, field, "unsupported decoder type '%s'", type);
	t->decs = xrealloc(t->decs, (t->n_decs + 1) * sizeof *t->decs);
	struct decoder *d = &t->decs[t->n_decs++];
	memset(d, 0, sizeof *d);
	d->type = names[k].type;
	switch (d->type) {
	case DEC_REPLACE: return load_replace(t, j, d, field, e);
	case DEC_STRIP: return load_strip(t, j, d, field, e);
	case DEC_METASPACE: return load_metaspace(t, j, d, field, e);
	default: return 0;
	}
}

int tok_load_decoder(struct tok *t, json_t *j, struct exo_err *e)
{
	if (!j || json_is_null(j))
		return 0;
	if (!json_is_object(j))
		return tok_field_error(t, e, "decoder", "expected an object or null");
	return load_one(t, j, "decoder", e);
}

/* Streaming */

struct tok_stream {
	const struct tok *t;
	bool skip_special;
	int32_t *ids;
	size_t n, cap, prefix_index;
	struct strbuf prefix, cur, out;
};

struct tok_stream *tok_stream_new(const struct tok *t, bool skip_special)
{
	struct tok_stream *s = xcalloc(1, sizeof *s);
	s->t = t;
	s->skip_special = skip_special;
	strbuf_add(&s->prefix, "", 0);
	strbuf_add(&s->out, "", 0);
	return s;
}

static bool ends_incomplete(const struct strbuf *b)
{
	return b->len >= 3 && !memcmp(b->s + b->len - 3, FFFD, 3);
}

int tok_stream_push(struct tok_stream *s, int32_t id, const char **out, size_t *len)
{
	s->out.len = 0;
	s->out.s[0] = '\0';
	*out = s->out.s;
	*len = 0;
	if (!tok_piece(s->t, id))
		return exo_error(NULL, EXO_DATAERR, "token id out of range");
	s->ids = grow_array(s->ids, &s->cap, s->n + 1, sizeof *s->ids, 16);
	s->ids[s->n++] = id;
	if (tok_decode_pipeline(s->t, s->ids, s->n, s->skip_special, &s->cur, NULL) < 0)
		return -1;
	if (s->cur.len <= s->prefix.len || ends_incomplete(&s->cur))
		return 0;
	/* The decoders only append to a window's text; should one ever rewrite
	 * it, the new text still starts on a character boundary. */
	size_t from = s->prefix.len;
	while (from < s->cur.len && ((unsigned char)s->cur.s[from] & 0xC0) == 0x80)
		from++;
	strbuf_add(&s->out, s->cur.s + from, s->cur.len - from);
	size_t new_prefix_index = s->n - s->prefix_index;
	memmove(s->ids, s->ids + s->prefix_index, new_prefix_index * sizeof *s->ids);
	s->n = new_prefix_index;
	if (tok_decode_pipeline(s->t, s->ids, s->n, s->skip_special, &s->prefix, NULL) < 0)
		return -1;
	s->prefix_index = new_prefix_index;
	*out = s->out.s;
	*len = s->out.len;
	return 0;
}

int tok_stream_flush(struct tok_stream *s, const char **out, size_t *len)
{
	s->out.len = 0;
	s->out.s[0] = '\0';
	if (tok_decode_pipeline(s->t, s->ids, s->n, s->skip_special, &s->cur, NULL) < 0)
		return -1;
	if (s->cur.len > s->prefix.len)
		strbuf_add(&s->out, s->cur.s + s->prefix.len, s->cur.len - s->prefix.len);
	s->n = s->prefix_index = 0;
	s->prefix.len = 0;
	s->prefix.s[0] = '\0';
	*out = s->out.s;
	*len = s->out.len;
	return 0;
}

void tok_stream_free(struct tok_stream *s)
{
	if (!s)
		return;
	free(s->ids);
	strbuf_release(&s->prefix);
	strbuf_release(&s->cur);
	strbuf_release(&s->out);
	free(s);
}
