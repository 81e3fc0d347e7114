/* Normalizers: NFC/NFD/NFKC/NFKD through utf8proc, Lowercase, Strip,
 * Prepend and Replace (a string or a regex), in a Sequence.  Applied to
 * each piece of text between added tokens, as HF does. */
#include "tokenizer/tok_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

static const struct { const char *name; enum norm_type type; } norm_names[] = {
	{"NFC", NORM_NFC}, {"NFD", NORM_NFD}, {"NFKC", NORM_NFKC}, {"NFKD", NORM_NFKD},
	{"Lowercase", NORM_LOWER}, {"Prepend", NORM_PREPEND}, {"Replace", NORM_REPLACE},
	{"Strip", NORM_STRIP},
};

/* {"String": s} or {"Regex": r} into a compiled regex (a string is literal). */
int tok_load_pattern(const struct tok *t, json_t *pat, const char *field, struct regex *re,
		     struct exo_err *e)
{
	json_t *s = json_object_get(pat, "String"), *r = json_object_get(pat, "Regex");
	if (json_is_string(s))
		return tok_regex_compile(re, json_string_value(s), json_string_length(s), true, e) < 0
			? tok_field_error(t, e, field, "%s", e->msg) : 0;
	if (json_is_string(r))
		return tok_regex_compile(re, json_string_value(r), json_string_length(r), false, e) < 0
			? tok_field_error(t, e, field, "%s", e->msg) : 0;
	return tok_field_error(t, e, field, "expected {\"String\": ...} or {\"Regex\": ...}");
}

static int load_one(struct tok *t, json_t *j, const char *field, struct exo_err *e)
{
	const char *type = json_string_value(json_object_get(j, "type"));
	if (!type)
		return tok_field_error(t, e, field, "missing 'type'");
	if (!strcmp(type, "Sequence")) {
		json_t *list = json_object_get(j, "normalizers"), *it;
		size_t i;
		if (!json_is_array(list))
			return tok_field_error(t, e, field, "'normalizers': expected an array");
		json_array_foreach(list, i, it) {
			char sub[256];
			snprintf(sub, sizeof sub, "%s.normalizers[%zu]", field, i);
			if (load_one(t, it, sub, e) < 0)
				return -1;
		}
		return 0;
	}
	size_t k = 0;
	while (k < sizeof norm_names / sizeof norm_names[0] && strcmp(norm_names[k].name, type))
		k++;
	if (k == sizeof norm_names / sizeof norm_names[0])
		return tok_field_error(t, e, field, "unsupported normalizer type '%s'", type);
	t->norms = xrealloc(t->norms, (t->n_norms + 1) * sizeof *t->norms);
	struct normalizer *n = &t->norms[t->n_norms++];
	memset(n, 0, sizeof *n);
	n->type = norm_names[k].type;
	if (n->type == NORM_PREPEND || n->type == NORM_REPLACE) {
		json_t *c = json_object_get(j, n->type == NORM_PREPEND ? "prepend" : "content");
		if (!json_is_string(c))
			return tok_field_error(t, e, field, "'%s': expected a string",
					       n->type == NORM_PREPEND ? "prepend" : "content");
		n->a = xstrdup(json_string_value(c));
		n->alen = json_string_length(c);
	}
	if (n->type == NORM_REPLACE) {
		char sub[256];
		snprintf(sub, sizeof sub, "%s.pattern", field);
		return tok_load_pattern(t, json_object_get(j, "pattern"), sub, &n->re, e);
	}
	if (n->type == NORM_STRIP)
		return tok_get_bool(t, j, "strip_left", true, &n->left, field, e) < 0 ||
		       tok_get_bool(t, j, "strip_right", true, &n->right, field, e) < 0 ? -1 : 0;
	return 0;
}

int tok_load_normalizer(struct tok *t, json_t *j, struct exo_err *e)
{
	if (!j || json_is_null(j))
		return 0;
	if (!json_is_object(j))
		return tok_field_error(t, e, "normalizer", "expected an object or null");
	return load_one(t, j, "normalizer", e);
}

static int utf8proc_form(enum norm_type type, const char *s, size_t n, struct strbuf *out,
			 struct exo_err *e)
{
	static const int opts[] = {
		[NORM_NFC] = UTF8PROC_STABLE | UTF8PROC_COMPOSE,
		[NORM_NFD] = UTF8PROC_STABLE | UTF8PROC_DECOMPOSE,
		[NORM_NFKC] = UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT,
		[NORM_NFKD] = UTF8PROC_STABLE | UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT,
	};
	utf8proc_uint8_t *dst = NULL;
	utf8proc_ssize_t r = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &dst,
					  (utf8proc_option_t)opts[type]);
	if (r < 0)
		return exo_error(e, EXO_DATAERR, "normalizer: %s", utf8proc_errmsg(r));
	strbuf_add(out, dst, (size_t)r);
	free(dst);
	return 0;
}

/* NFC and NFD leave text below U+0300 alone, and no ASCII character ever
 * combines with what precedes it, so the text is cut before each ASCII
 * character and only the chunks with a character from U+0300 up go
 * through utf8proc. */
static int unicode_form(const struct normalizer *nm, const struct strbuf *in, struct strbuf *out,
			struct exo_err *e)
{
	if (nm->type != NORM_NFC && nm->type != NORM_NFD)
		return utf8proc_form(nm->type, in->s, in->len, out, e);
	size_t start = 0, cold = 0;     /* chunk start; start of the text copied as is */
	bool hot = false;
	for (size_t i = 0; i <= in->len; i++) {
		unsigned char c = i < in->len ? (unsigned char)in->s[i] : 0;
		if (i == in->len || (c < 0x80 && i > start)) {
			if (hot) {
				strbuf_add(out, in->s + cold, start - cold);
				if (utf8proc_form(nm->type, in->s + start, i - start, out, e) < 0)
					return -1;
				cold = i;
			}
			start = i;
			hot = false;
		}
		hot |= c >= 0xCC;
	}
	strbuf_add(out, in->s + cold, in->len - cold);
	return 0;
}

static void lowercase(const struct strbuf *in, struct strbuf *out)
{
	for (size_t i = 0; i < in->len;) {
		uint32_t cp;
		char enc[4];
		i += tok_utf8_get(in->s + i, in->len - i, &cp);
		strbuf_add(out, enc, tok_utf8_put(enc, (uint32_t)utf8proc_tolower((utf8proc_int32_t)cp)));
	}
}

static void strip(const struct normalizer *nm, const struct strbuf *in, struct strbuf *out)
{
	size_t a = 0, b = in->len;
	uint32_t cp;
	while (nm->left && a < b) {
		size_t l = tok_utf8_get(in->s + a, b - a, &cp);
		if (!tok_is_space(cp))
			break;
		a += l;
	}
	while (nm->right && b > a) {
		size_t s = b - 1;
		while (s > a && ((unsigned char)in->s[s] & 0xC0) == 0x80)
			s--;
		tok_utf8_get(in->s + s, b - s, &cp);
		if (!tok_is_space(cp))
			break;
		b = s;
	}
	strbuf_add(out, in->s + a, b - a);
}

static int apply(const struct normalizer *nm, const struct strbuf *in, struct strbuf *out,
		 struct exo_err *e)
{
	out->len = 0;
	switch (nm->type) {
	case NORM_PREPEND:
		if (in->len)
			strbuf_add(out, nm->a, nm->alen);
		strbuf_add(out, in->s, in->len);
		return 0;
	case NORM_REPLACE:
		tok_regex_replace(&nm->re, in->s, in->len, nm->a, nm->alen, out);
		return 0;
	case NORM_LOWER:
		lowercase(in, out);
		return 0;
	case NORM_STRIP:
		strip(nm, in, out);
		return 0;
	default:
		return unicode_form(nm, in, out, e);
	}
}

int tok_normalize(const struct tok *t, const char *s, size_t n, struct strbuf *out, struct exo_err *e)
{
	struct strbuf a = {0}, b = {0};
	strbuf_add(&a, s, n);
	int rc = 0;
	for (size_t i = 0; i < t->n_norms && rc == 0; i++) {
		rc = apply(&t->norms[i], &a, &b, e);
		struct strbuf tmp = a;
		a = b;
		b = tmp;
	}
	out->len = 0;
	strbuf_add(out, a.s, a.len);
	strbuf_release(&a);
	strbuf_release(&b);
	return rc;
}
