/* Encoding, in HF's order: added tokens found in the raw text (their
 * lstrip, rstrip and single_word flags applied), each piece between them
 * normalized, normalized added tokens found in that, the rest
 * pre-tokenized and merged by the model; then the post-processor when
 * special tokens are asked for. */
#include "tokenizer/tok_int.h"

#include <stdlib.h>
#include <string.h>

void tok_enc_push(struct enc *x, int32_t id)
{
	x->ids = grow_array(x->ids, &x->cap, x->n + 1, sizeof *x->ids, 256);
	x->ids[x->n++] = id;
}

static bool is_space_before(const char *s, size_t end, size_t *start)
{
	size_t b = end - 1;
	while (b > 0 && ((unsigned char)s[b] & 0xC0) == 0x80)
		b--;
	uint32_t cp;
	tok_utf8_get(s + b, end - b, &cp);
	*start = b;
	return tok_is_space(cp);
}

/* Start of the whitespace that ends s[0..end). */
static size_t space_run_before(const char *s, size_t end)
{
	size_t b;
	while (end > 0 && is_space_before(s, end, &b))
		end = b;
	return end;
}

/* End of the whitespace that starts s[from..n). */
static size_t space_run_after(const char *s, size_t from, size_t n)
{
	while (from < n) {
		uint32_t cp;
		size_t l = tok_utf8_get(s + from, n - from, &cp);
		if (!tok_is_space(cp))
			break;
		from += l;
	}
	return from;
}

static bool word_before(const char *s, size_t end)
{
	if (!end)
		return false;
	size_t b = end - 1;
	while (b > 0 && ((unsigned char)s[b] & 0xC0) == 0x80)
		b--;
	uint32_t cp;
	tok_utf8_get(s + b, end - b, &cp);
	return tok_is_alnum(cp);
}

static bool word_after(const char *s, size_t from, size_t n)
{
	uint32_t cp;
	if (from >= n)
		return false;
	tok_utf8_get(s + from, n - from, &cp);
	return tok_is_alnum(cp);
}

typedef int (*text_fn)(struct enc *x, const char *s, size_t n, bool first, struct exo_err *e);

/* HF's AddedVocabulary::find_matches: leftmost-longest matches of the
 * trie's tokens; the text between goes to fn, the tokens to the ids. */
static int split_added(struct enc *x, const struct trie *tr, const char *s, size_t n, bool first,
		       text_fn fn, struct exo_err *e)
{
	const struct tok *t = x->t;
	size_t done = 0, mlen = 0;
	for (size_t i = 0; i < n;) {
		int32_t k = tr->first[(unsigned char)s[i]] ? tok_trie_match(tr, s + i, n - i, &mlen) : -1;
		if (k < 0) {
			i++;
			continue;
		}
		const struct added_tok *at = &t->added[k];
		size_t start = i, stop = i + mlen;
		if (at->single_word && (word_before(s, start) || word_after(s, stop, n))) {
			i = stop;
			continue;
		}
		if (at->lstrip) {
			start = space_run_before(s, start);
			if (start < done)
				start = done;
		}
		if (at->rstrip)
			stop = space_run_after(s, stop, n);
		if (done < start && fn(x, s + done, start - done, first && done == 0, e) < 0)
			return -1;
		tok_enc_push(x, at->id);
		done = i = stop;
	}
	if (done < n)
		return fn(x, s + done, n - done, first && done == 0, e);
	return 0;
}

static int model_text(struct enc *x, const char *s, size_t n, bool first, struct exo_err *e)
{
	tok_pretokenize(x, 0, s, n, first);
	return 0;
}

static int normalized_text(struct enc *x, const char *s, size_t n, bool first, struct exo_err *e)
{
	const struct tok *t = x->t;
	if (!t->n_norms)
		return split_added(x, &t->norm_trie, s, n, first, model_text, e);
	struct strbuf nb = {0};
	int rc = tok_normalize(t, s, n, &nb, e);
	if (rc == 0)
		rc = split_added(x, &t->norm_trie, nb.s ? nb.s : "", nb.len, first, model_text, e);
	strbuf_release(&nb);
	return rc;
}

static void enc_free(struct enc *x)
{
	for (size_t i = 0; i < sizeof x->bufs / sizeof x->bufs[0]; i++) {
		strbuf_release(&x->bufs[i]);
		free(x->spans[i].v);
	}
	free(x->bpe.syms);
	free(x->bpe.heap);
	pcre2_match_data_free(x->md);
}

int tok_encode(const struct tok *t, const char *text, size_t len, bool add_special,
	       int32_t **ids, size_t *n, struct exo_err *e)
{
	struct enc x = {.t = t};
	struct strbuf clean = {0};
	if (tok_utf8_valid(text, len) != len) {
		tok_utf8_lossy(&clean, text, len);
		text = clean.s, len = clean.len;
	}
	x.md = pcre2_match_data_create(16, NULL);
	if (add_special)
		for (size_t i = 0; i < t->post.nbefore; i++)
			tok_enc_push(&x, t->post.before[i]);
	int rc = split_added(&x, &t->raw_trie, text, len, true, normalized_text, e);
	if (add_special)
		for (size_t i = 0; i < t->post.nafter; i++)
			tok_enc_push(&x, t->post.after[i]);
	strbuf_release(&clean);
	enc_free(&x);
	if (rc < 0) {
		free(x.ids);
		return -1;
	}
	*ids = x.ids ? x.ids : xmalloc(sizeof **ids);
	*n = x.n;
	return 0;
}
