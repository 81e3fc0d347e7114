/* Pre-tokenizers: Split (a regex through PCRE2 with UTF, UCP and JIT, or a
 * literal string), ByteLevel (GPT-2's regex; the byte mapping itself is
 * implicit because byte-level vocabularies are keyed by raw bytes),
 * Metaspace, Digits, Whitespace, WhitespaceSplit, in a Sequence.  Each level
 * splits its piece and hands every part to the next level; the last level
 * hands it to the BPE model. */
#include "tokenizer/tok_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LEVELS 8

static const char gpt2_regex[] =
	"'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

int tok_regex_compile(struct regex *re, const char *pat, size_t len, bool literal,
		      struct exo_err *e)
{
	int err;
	PCRE2_SIZE off;
	re->code = pcre2_compile((PCRE2_SPTR)pat, len,
				 literal ? PCRE2_UTF | PCRE2_LITERAL : PCRE2_UTF | PCRE2_UCP, &err, &off, NULL);
	if (!re->code) {
		PCRE2_UCHAR msg[256];
		pcre2_get_error_message(err, msg, sizeof msg);
		return exo_error(e, EXO_DATAERR, "regex at offset %zu: %s", (size_t)off, (char *)msg);
	}
	re->jit = pcre2_jit_compile(re->code, PCRE2_JIT_COMPLETE) == 0;
	return 0;
}

void tok_regex_free(struct regex *re)
{
	pcre2_code_free(re->code);
	re->code = NULL;
}

/* The next match at or after start: 1 with [*ms, *me), 0 none (or a match
 * error, which ends the search: the rest is text). */
static int regex_next(const struct regex *re, pcre2_match_data *md, const char *s, size_t n,
		      size_t start, size_t *ms, size_t *me)
{
	int rc = re->jit ? pcre2_jit_match(re->code, (PCRE2_SPTR)s, n, start, 0, md, NULL)
			 : pcre2_match(re->code, (PCRE2_SPTR)s, n, start, PCRE2_NO_UTF_CHECK, md, NULL);
	if (rc < 0)
		return 0;
	PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
	if (ov[0] > ov[1] || ov[1] > n)
		return 0;
	*ms = ov[0];
	*me = ov[1];
	return 1;
}

void tok_regex_replace(const struct regex *re, const char *s, size_t n, const char *with, size_t wn,
		   struct strbuf *out)
{
	pcre2_match_data *md = pcre2_match_data_create(16, NULL);
	size_t pos = 0, ms, me;
	strbuf_add(out, "", 0);
	while (pos <= n && regex_next(re, md, s, n, pos, &ms, &me)) {
		strbuf_add(out, s + pos, ms - pos);
		strbuf_add(out, with, wn);
		if (me == ms) {         /* empty match: keep one character and go on */
			if (ms >= n) {
				pos = n;
				break;
			}
			size_t l = tok_utf8_len((unsigned char)s[ms]);
			strbuf_add(out, s + ms, l);
			me = ms + l;
		}
		pos = me;
	}
	if (pos < n)
		strbuf_add(out, s + pos, n - pos);
	pcre2_match_data_free(md);
}


static void span_add(struct spans *sp, size_t a, size_t b, bool m)
{
	sp->v = grow_array(sp->v, &sp->cap, sp->n + 1, sizeof *sp->v, 32);
	sp->v[sp->n++] = (struct span){a, b, m};
}

static void find_regex(const struct regex *re, pcre2_match_data *md, const char *s, size_t n,
		       struct spans *sp)
{
	size_t prev = 0, pos = 0, ms, me;
	while (pos <= n && regex_next(re, md, s, n, pos, &ms, &me)) {
		if (prev != ms)
			span_add(sp, prev, ms, false);
		span_add(sp, ms, me, true);
		prev = me;
		pos = me > ms ? me : ms < n ? ms + tok_utf8_len((unsigned char)s[ms]) : n + 1;
	}
	if (prev != n)
		span_add(sp, prev, n, false);
}

static void find_literal(const char *lit, size_t ln, const char *s, size_t n, struct spans *sp)
{
	size_t prev = 0;
	const char *p = s;
	while (ln && (p = memmem(p, n - (size_t)(p - s), lit, ln))) {
		size_t a = (size_t)(p - s);
		if (prev != a)
			span_add(sp, prev, a, false);
		span_add(sp, a, a + ln, true);
		prev = a + ln;
		p += ln;
	}
	if (prev != n)
		span_add(sp, prev, n, false);
}

/* HF's SplitDelimiterBehavior over the spans, in place. */
static void apply_behavior(struct spans *sp, enum split_behavior how, bool invert)
{
	if (invert)
		for (size_t i = 0; i < sp->n; i++)
			sp->v[i].m = !sp->v[i].m;
	size_t k = 0;
	bool prev_m = false;
	switch (how) {
	case SPLIT_ISOLATED:
		return;
	case SPLIT_REMOVED:
		for (size_t i = 0; i < sp->n; i++)
			if (!sp->v[i].m)
				sp->v[k++] = sp->v[i];
		break;
	case SPLIT_MERGED_PREV:
		for (size_t i = 0; i < sp->n; i++) {
			if (sp->v[i].m && !prev_m && k)
				sp->v[k - 1].b = sp->v[i].b;
			else
				sp->v[k++] = sp->v[i];
			prev_m = sp->v[i].m;
		}
		break;
	case SPLIT_MERGED_NEXT:
		/* walk backwards, merging each match into the part after it */
		for (size_t i = sp->n; i-- > 0;) {
			if (sp->v[i].m && !prev_m && k)
				sp->v[sp->n - k].a = sp->v[i].a;
			else {
				k++;
				sp->v[sp->n - k] = sp->v[i];
			}
			prev_m = sp->v[i].m;
		}
		memmove(sp->v, sp->v + sp->n - k, k * sizeof *sp->v);
		break;
	case SPLIT_CONTIGUOUS:
		for (size_t i = 0; i < sp->n; i++) {
			if (k && sp->v[i].m == prev_m)
				sp->v[k - 1].b = sp->v[i].b;
			else
				sp->v[k++] = sp->v[i];
			prev_m = sp->v[i].m;
		}
		break;
	}
	sp->n = k;
}

static void each_span(struct enc *x, size_t level, const char *s, struct spans *sp, bool first)
{
	for (size_t i = 0; i < sp->n; i++)
		tok_pretokenize(x, level + 1, s + sp->v[i].a, sp->v[i].b - sp->v[i].a,
			    first && sp->v[i].a == 0);
}

static struct spans *level_spans(struct enc *x, size_t level)
{
	struct spans *sp = &x->spans[level];
	sp->n = 0;
	return sp;
}

static void metaspace(struct enc *x, size_t level, const struct pretok *p, const char *s,
		      size_t n, bool first)
{
	struct strbuf *b = &x->bufs[level];
	b->len = 0;
	/* HF replaces the spaces first, so a leading space counts as ▁ */
	bool has = s[0] == ' ' || (n >= p->repl_len && !memcmp(s, p->repl, p->repl_len));
	if (!has && (p->scheme == PREPEND_ALWAYS || (p->scheme == PREPEND_FIRST && first)))
		strbuf_add(b, p->repl, p->repl_len);
	for (size_t i = 0; i < n; i++)
		if (s[i] == ' ')
			strbuf_add(b, p->repl, p->repl_len);
		else
			strbuf_addch(b, s[i]);
	if (!p->split) {
		tok_pretokenize(x, level + 1, b->s, b->len, first);
		return;
	}
	struct spans *sp = level_spans(x, level);
	find_literal(p->repl, p->repl_len, b->s, b->len, sp);
	apply_behavior(sp, SPLIT_MERGED_NEXT, false);
	each_span(x, level, b->s, sp, first);
}

void tok_pretokenize(struct enc *x, size_t level, const char *s, size_t n, bool first)
{
	const struct tok *t = x->t;
	if (!n)
		return;
	if (level == t->n_pres) {
		tok_bpe_word(x, s, n);
		return;
	}
	const struct pretok *p = &t->pres[level];
	struct spans *sp;
	switch (p->type) {
	case PRE_METASPACE:
		metaspace(x, level, p, s, n, first);
		return;
	case PRE_BYTELEVEL:
		if (p->add_prefix_space && s[0] != ' ') {
			struct strbuf *b = &x->bufs[level];
			b->len = 0;
			strbuf_addch(b, ' ');
			strbuf_add(b, s, n);
			s = b->s, n = b->len;
		}
		if (!p->use_regex) {
			tok_pretokenize(x, level + 1, s, n, first);
			return;
		}
		/* split by GPT-2's regex */
		__attribute__((fallthrough));
	default:
		sp = level_spans(x, level);
		find_regex(&p->re, x->md, s, n, sp);
		apply_behavior(sp, p->type == PRE_BYTELEVEL ? SPLIT_ISOLATED : p->behavior, p->invert);
		each_span(x, level, s, sp, first);
	}
}

static int parse_behavior(const struct tok *t, json_t *j, const char *field,
			  enum split_behavior *out, struct exo_err *e)
{
	static const char *names[] = {"Removed", "Isolated", "MergedWithPrevious", "MergedWithNext",
				      "Contiguous"};
	const char *b = json_string_value(json_object_get(j, "behavior"));
	for (int i = 0; b && i < 5; i++)
		if (!strcmp(b, names[i])) {
			*out = (enum split_behavior)i;
			return 0;
		}
	return tok_field_error(t, e, field, "'behavior': expected Removed, Isolated, "
			       "MergedWithPrevious, MergedWithNext or Contiguous");
}

static int load_metaspace(struct tok *t, json_t *j, struct pretok *p, const char *field,
			  struct exo_err *e)
{
	json_t *r = json_object_get(j, "replacement");
	const char *repl = json_is_string(r) ? json_string_value(r) : "\xE2\x96\x81";
	if (!*repl || strlen(repl) > 4)
		return tok_field_error(t, e, field, "'replacement': expected one character");
	p->repl_len = strlen(repl);
	memcpy(p->repl, repl, p->repl_len);
	const char *scheme = json_string_value(json_object_get(j, "prepend_scheme"));
	bool add = true;
	if (tok_get_bool(t, j, "add_prefix_space", true, &add, field, e) < 0 ||
	    tok_get_bool(t, j, "split", true, &p->split, field, e) < 0)
		return -1;
	p->scheme = !scheme ? (add ? PREPEND_ALWAYS : PREPEND_NEVER)
		    : !strcmp(scheme, "always") ? PREPEND_ALWAYS
		    : !strcmp(scheme, "first") ? PREPEND_FIRST
		    : !strcmp(scheme, "never") ? PREPEND_NEVER : (enum prepend_scheme)-1;
	if ((int)p->scheme < 0)
		return tok_field_error(t, e, field, "'prepend_scheme': expected always, first or never");
	return 0;
}

static int compile_builtin(struct tok *t, struct pretok *p, const char *re, const char *field,
			   struct exo_err *e)
{
	if (tok_regex_compile(&p->re, re, strlen(re), false, e) < 0)
		return tok_field_error(t, e, field, "%s", e->msg);
	return 0;
}

static int load_one(struct tok *t, json_t *j, const char *field, struct exo_err *e);

static int load_sequence(struct tok *t, json_t *j, const char *field, struct exo_err *e)
{
	json_t *list = json_object_get(j, "pretokenizers"), *it;
	size_t i;
	if (!json_is_array(list))
		return tok_field_error(t, e, field, "'pretokenizers': expected an array");
	json_array_foreach(list, i, it) {
		char sub[256];
		snprintf(sub, sizeof sub, "%s.pretokenizers[%zu]", field, i);
		if (load_one(t, it, sub, e) < 0)
			return -1;
	}
	return 0;
}

static int load_one(struct tok *t, json_t *j, const char *field, struct exo_err *e)
{
	const char *type = json_string_value(json_object_get(j, "type"));
	if (!type)
		return tok_field_error(t, e, field, "missing 'type'");
	if (!strcmp(type, "Sequence"))
		return load_sequence(t, j, field, e);
	if (t->n_pres == MAX_LEVELS)
		return tok_field_error(t, e, field, "more than %d pre-tokenizers", MAX_LEVELS);
	t->pres = xrealloc(t->pres, (t->n_pres + 1) * sizeof *t->pres);
	struct pretok *p = &t->pres[t->n_pres++];
	memset(p, 0, sizeof *p);
	p->behavior = SPLIT_ISOLATED;
	if (!strcmp(type, "Split")) {
		char sub[256];
		snprintf(sub, sizeof sub, "%s.pattern", field);
		p->type = PRE_SPLIT;
		return tok_load_pattern(t, json_object_get(j, "pattern"), sub, &p->re, e) < 0 ||
		       parse_behavior(t, j, field, &p->behavior, e) < 0 ||
		       tok_get_bool(t, j, "invert", false, &p->invert, field, e) < 0 ? -1 : 0;
	}
	if (!strcmp(type, "ByteLevel")) {
		p->type = PRE_BYTELEVEL;
		t->bytelevel = true;
		if (tok_get_bool(t, j, "add_prefix_space", true, &p->add_prefix_space, field, e) < 0 ||
		    tok_get_bool(t, j, "use_regex", true, &p->use_regex, field, e) < 0)
			return -1;
		return p->use_regex ? compile_builtin(t, p, gpt2_regex, field, e) : 0;
	}
	if (!strcmp(type, "Metaspace")) {
		p->type = PRE_METASPACE;
		return load_metaspace(t, j, p, field, e);
	}
	p->type = PRE_SPLIT;
	if (!strcmp(type, "Digits")) {
		bool one;
		if (tok_get_bool(t, j, "individual_digits", false, &one, field, e) < 0)
			return -1;
		return compile_builtin(t, p, one ? "\\p{N}" : "\\p{N}+", field, e);
	}
	if (!strcmp(type, "WhitespaceSplit")) {
		p->behavior = SPLIT_REMOVED;
		return compile_builtin(t, p, "\\s+", field, e);
	}
	if (!strcmp(type, "Whitespace")) {
		p->behavior = SPLIT_REMOVED;
		p->invert = true;
		return compile_builtin(t, p, "\\w+|[^\\w\\s]+", field, e);
	}
	t->n_pres--;
	return tok_field_error(t, e, field, "unsupported pre-tokenizer type '%s'", type);
}

int tok_load_pretok(struct tok *t, json_t *j, struct exo_err *e)
{
	if (!j || json_is_null(j))
		return 0;
	if (!json_is_object(j))
		return tok_field_error(t, e, "pre_tokenizer", "expected an object or null");
	return load_one(t, j, "pre_tokenizer", e);
}
