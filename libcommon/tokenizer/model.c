/* The BPE model: vocabulary and merge ranks from tokenizer.json, and the
 * merging of one pre-tokenized word.  Symbols are ids; the merge table maps
 * a pair of ids to its rank and the merged id, and a binary heap picks the
 * lowest rank (leftmost on ties) as HF's Word::merge_all does, so a long
 * word costs O(n log n).  Byte-level vocabularies are keyed by the raw bytes
 * their pieces stand for, so encoding never maps text to GPT-2's alphabet. */
#include "tokenizer/tok_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


void tok_set_piece(struct tok *t, int32_t id, const char *s, size_t n)
{
	if ((size_t)id >= t->ids_cap) {
		size_t cap = grow_cap(t->ids_cap, (size_t)id + 1, 256);
		t->piece_off = xrealloc(t->piece_off, cap * sizeof *t->piece_off);
		t->special = xrealloc(t->special, cap * sizeof *t->special);
		for (size_t i = t->ids_cap; i < cap; i++) {
			t->piece_off[i] = UINT32_MAX;
			t->special[i] = false;
		}
		t->ids_cap = cap;
	}
	if ((size_t)id >= t->n_ids)
		t->n_ids = (size_t)id + 1;
	t->piece_off[id] = (uint32_t)t->pieces.len;
	strbuf_add(&t->pieces, s, n);
	strbuf_addch(&t->pieces, 0);
}

/* The hash key of a piece: its raw bytes for byte-level models. */
static const char *piece_key(const struct tok *t, const char *s, size_t n, struct strbuf *tmp,
			     size_t *klen)
{
	tmp->len = 0;
	if (t->bytelevel && tok_bytelevel_unmap(s, n, tmp)) {
		*klen = tmp->len;
		return tmp->s ? tmp->s : "";
	}
	*klen = n;
	return s;
}

static int load_vocab(struct tok *t, json_t *vocab, struct exo_err *e)
{
	if (!json_is_object(vocab))
		return tok_field_error(t, e, "model.vocab", "missing or not an object");
	tok_strmap_init(&t->vocab, json_object_size(vocab));
	const char *k;
	json_t *v;
	struct strbuf tmp = {0};
	json_object_foreach(vocab, k, v) {
		json_int_t id = json_integer_value(v);
		if (!json_is_integer(v) || id < 0 || id >= TOK_MAX_ID) {
			strbuf_release(&tmp);
			return tok_field_error(t, e, "model.vocab", "'%s': expected an id from 0 to %d", k,
					       TOK_MAX_ID - 1);
		}
		size_t n = strlen(k), kl;
		const char *key = piece_key(t, k, n, &tmp, &kl);
		tok_strmap_put(&t->vocab, key, kl, (int32_t)id);
		tok_set_piece(t, (int32_t)id, k, n);
	}
	strbuf_release(&tmp);
	return 0;
}

/* One merge, "a b" or ["a", "b"], into its two halves. */
static int merge_parts(const struct tok *t, json_t *m, size_t i, const char **a, size_t *an,
		       const char **b, size_t *bn, struct exo_err *e)
{
	char field[64];
	snprintf(field, sizeof field, "model.merges[%zu]", i);
	if (json_is_string(m)) {
		const char *s = json_string_value(m), *sp = strchr(s, ' ');
		if (!sp || strchr(sp + 1, ' '))
			return tok_field_error(t, e, field, "'%s': expected two pieces separated by one space", s);
		*a = s, *an = (size_t)(sp - s), *b = sp + 1, *bn = strlen(sp + 1);
		return 0;
	}
	if (json_is_array(m) && json_array_size(m) == 2 && json_is_string(json_array_get(m, 0)) &&
	    json_is_string(json_array_get(m, 1))) {
		*a = json_string_value(json_array_get(m, 0));
		*b = json_string_value(json_array_get(m, 1));
		*an = strlen(*a), *bn = strlen(*b);
		return 0;
	}
	return tok_field_error(t, e, field, "expected \"a b\" or [\"a\", \"b\"]");
}

static int32_t lookup_piece(const struct tok *t, const char *s, size_t n, struct strbuf *tmp)
{
	size_t kl;
	const char *k = piece_key(t, s, n, tmp, &kl);
	return tok_strmap_get(&t->vocab, k, kl);
}

static int load_merges(struct tok *t, json_t *merges, struct exo_err *e)
{
	if (!json_is_array(merges))
		return tok_field_error(t, e, "model.merges", "missing or not an array");
	tok_pairmap_init(&t->merges, json_array_size(merges));
	struct strbuf tmp = {0}, cat = {0};
	size_t i;
	json_t *m;
	int rc = 0;
	json_array_foreach(merges, i, m) {
		const char *a = "", *b = "";
		size_t an = 0, bn = 0;
		if ((rc = merge_parts(t, m, i, &a, &an, &b, &bn, e)) < 0)
			break;
		cat.len = 0;
		strbuf_add(&cat, a, an);
		strbuf_add(&cat, b, bn);
		int32_t ia = lookup_piece(t, a, an, &tmp), ib = lookup_piece(t, b, bn, &tmp);
		int32_t ic = lookup_piece(t, cat.s, cat.len, &tmp);
		if (ia < 0 || ib < 0 || ic < 0) {
			char field[64];
			snprintf(field, sizeof field, "model.merges[%zu]", i);
			rc = tok_field_error(t, e, field, "'%.*s' is not in the vocabulary",
					     (int)(ia < 0 ? an : ib < 0 ? bn : cat.len),
					     ia < 0 ? a : ib < 0 ? b : cat.s);
			break;
		}
		tok_pairmap_put(&t->merges, ia, ib, (int32_t)i, ic);
	}
	strbuf_release(&tmp);
	strbuf_release(&cat);
	return rc;
}

/* Single bytes: their id for byte-level models, <0xXX> for byte fallback. */
static void load_byte_ids(struct tok *t)
{
	for (int b = 0; b < 256; b++) {
		char s[8];
		unsigned char c = (unsigned char)b;
		if (t->bytelevel)
			t->byte_id[b] = tok_strmap_get(&t->vocab, (const char *)&c, 1);
		else {
			snprintf(s, sizeof s, "<0x%02X>", b);
			t->byte_id[b] = tok_strmap_get(&t->vocab, s, 6);
		}
	}
}

static int check_affix(const struct tok *t, json_t *model, const char *key, struct exo_err *e)
{
	json_t *v = json_object_get(model, key);
	if (v && !json_is_null(v) && !(json_is_string(v) && !*json_string_value(v))) {
		char field[64];
		snprintf(field, sizeof field, "model.%s", key);
		return tok_field_error(t, e, field, "not supported (only empty or null)");
	}
	return 0;
}

#define META "\xE2\x96\x81"     /* ▁, SentencePiece's space */

/* Whether a piece has ▁ after some other character, so that a merge could
 * reach across the start of a ▁-word. */
static bool meta_inside(const struct tok *t)
{
	const struct strmap *v = &t->vocab;
	for (size_t i = 0; i < v->n; i++) {
		const char *k = v->keys.s + v->ents[i].off;
		size_t n = v->ents[i].len, j = 0;
		while (j + 3 <= n && !memcmp(k + j, META, 3))
			j += 3;
		if (j < n && memmem(k + j, n - j, META, 3))
			return true;
	}
	return false;
}

int tok_load_model(struct tok *t, json_t *model, struct exo_err *e)
{
	json_t *type = json_object_get(model, "type");
	if (type && !json_is_string(type))
		return tok_field_error(t, e, "model.type", "expected a string");
	if (type && strcmp(json_string_value(type), "BPE"))
		return tok_field_error(t, e, "model.type", "unsupported model type '%s' (only BPE)",
				       json_string_value(type));
	if (tok_get_bool(t, model, "byte_fallback", false, &t->byte_fallback, "model", e) < 0 ||
	    tok_get_bool(t, model, "fuse_unk", false, &t->fuse_unk, "model", e) < 0 ||
	    tok_get_bool(t, model, "ignore_merges", false, &t->ignore_merges, "model", e) < 0 ||
	    check_affix(t, model, "continuing_subword_prefix", e) < 0 ||
	    check_affix(t, model, "end_of_word_suffix", e) < 0 ||
	    load_vocab(t, json_object_get(model, "vocab"), e) < 0 ||
	    load_merges(t, json_object_get(model, "merges"), e) < 0)
		return -1;
	json_t *unk = json_object_get(model, "unk_token");
	if (json_is_string(unk)) {
		struct strbuf tmp = {0};
		const char *u = json_string_value(unk);
		t->unk = lookup_piece(t, u, strlen(u), &tmp);
		strbuf_release(&tmp);
		if (t->unk < 0)
			return tok_field_error(t, e, "model.unk_token", "'%s' is not in the vocabulary", u);
	} else if (unk && !json_is_null(unk))
		return tok_field_error(t, e, "model.unk_token", "expected a string or null");
	load_byte_ids(t);
	t->meta_chunks = !t->bytelevel && !meta_inside(t);
	return 0;
}

static bool all_bytes_known(const struct tok *t, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (t->byte_id[(unsigned char)s[i]] < 0)
			return false;
	return true;
}

/* Initial symbols: bytes for byte-level models, else characters, unknown
 * ones as <0xXX> pieces (byte_fallback) or unk (fused when asked). */
static size_t initial_symbols(struct enc *x, const char *s, size_t n)
{
	const struct tok *t = x->t;
	struct bpe_scratch *b = &x->bpe;
	size_t k = 0;
	bool last_unk = false;
	if (b->cap < n) {
		b->cap = n * 2;
		b->syms = xrealloc(b->syms, b->cap * sizeof *b->syms);
	}
	for (size_t i = 0; i < n;) {
		size_t l = t->bytelevel ? 1 : tok_utf8_len((unsigned char)s[i]);
		if (l > n - i)
			l = n - i;
		int32_t id = l == 1 && t->bytelevel ? t->byte_id[(unsigned char)s[i]]
						     : tok_strmap_get(&t->vocab, s + i, l);
		if (id >= 0 || (t->byte_fallback && all_bytes_known(t, s + i, l))) {
			if (id >= 0)
				b->syms[k++] = (struct sym){id, 0, 0, (uint32_t)l};
			else
				for (size_t j = 0; j < l; j++)
					b->syms[k++] = (struct sym){t->byte_id[(unsigned char)s[i + j]], 0, 0, 1};
			last_unk = false;
		} else if (t->unk >= 0) {
			if (last_unk && t->fuse_unk)
				b->syms[k - 1].len += (uint32_t)l;
			else
				b->syms[k++] = (struct sym){t->unk, 0, 0, (uint32_t)l};
			last_unk = true;
		}
		i += l;
	}
	for (size_t i = 0; i < k; i++) {
		b->syms[i].prev = (int32_t)i - 1;
		b->syms[i].next = i + 1 < k ? (int32_t)i + 1 : -1;
	}
	return k;
}

static bool heap_less(const struct heap_ent *a, const struct heap_ent *b)
{
	return a->rank != b->rank ? a->rank < b->rank : a->pos < b->pos;
}

static void heap_push(struct bpe_scratch *b, size_t *hn, struct heap_ent v)
{
	b->heap = grow_array(b->heap, &b->hcap, *hn + 1, sizeof *b->heap, 64);
	size_t i = (*hn)++;
	while (i && heap_less(&v, &b->heap[(i - 1) / 2])) {
		b->heap[i] = b->heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	b->heap[i] = v;
}

static struct heap_ent heap_pop(struct bpe_scratch *b, size_t *hn)
{
	struct heap_ent top = b->heap[0], last = b->heap[--*hn];
	size_t i = 0, n = *hn;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= n)
			break;
		if (c + 1 < n && heap_less(&b->heap[c + 1], &b->heap[c]))
			c++;
		if (!heap_less(&b->heap[c], &last))
			break;
		b->heap[i] = b->heap[c];
		i = c;
	}
	if (n)
		b->heap[i] = last;
	return top;
}

static void push_pair(struct enc *x, size_t *hn, int32_t pos)
{
	struct sym *s = x->bpe.syms;
	if (pos < 0 || s[pos].next < 0)
		return;
	const struct pair_ent *m = tok_pairmap_get(&x->t->merges, s[pos].id, s[s[pos].next].id);
	if (m)
		heap_push(&x->bpe, hn, (struct heap_ent){m->rank, pos, m->id});
}

static void merge_all(struct enc *x, size_t k)
{
	struct sym *s = x->bpe.syms;
	size_t hn = 0;
	for (size_t i = 0; i + 1 < k; i++)
		push_pair(x, &hn, (int32_t)i);
	while (hn) {
		struct heap_ent top = heap_pop(&x->bpe, &hn);
		struct sym *cur = &s[top.pos];
		if (!cur->len || cur->next < 0)
			continue;
		const struct pair_ent *m = tok_pairmap_get(&x->t->merges, cur->id, s[cur->next].id);
		if (!m || m->id != top.id)
			continue;       /* stale: one side merged since */
		struct sym *right = &s[cur->next];
		cur->id = top.id;
		cur->len += right->len;
		right->len = 0;
		cur->next = right->next;
		if (cur->next >= 0)
			s[cur->next].prev = top.pos;
		push_pair(x, &hn, cur->prev);
		push_pair(x, &hn, top.pos);
	}
}

#define SMALL_WORD 16

/* Short words (most of them) skip the heap: the lowest rank among the
 * adjacent pairs, leftmost on ties, is found by a scan, which merges in the
 * same order as merge_all. */
static void merge_small(struct enc *x, size_t k)
{
	int32_t id[SMALL_WORD], rank[SMALL_WORD], to[SMALL_WORD];
	for (size_t i = 0; i < k; i++)
		id[i] = x->bpe.syms[i].id;
	for (size_t i = 0; i + 1 < k; i++) {
		const struct pair_ent *m = tok_pairmap_get(&x->t->merges, id[i], id[i + 1]);
		rank[i] = m ? m->rank : INT32_MAX;
		to[i] = m ? m->id : -1;
	}
	while (k > 1) {
		size_t best = 0;
		for (size_t i = 1; i + 1 < k; i++)
			if (rank[i] < rank[best])
				best = i;
		if (rank[best] == INT32_MAX)
			break;
		id[best] = to[best];
		memmove(id + best + 1, id + best + 2, (k - best - 2) * sizeof *id);
		memmove(rank + best, rank + best + 1, (k - best - 2) * sizeof *rank);
		memmove(to + best, to + best + 1, (k - best - 2) * sizeof *to);
		k--;
		for (size_t i = best ? best - 1 : 0; i <= best && i + 1 < k; i++) {
			const struct pair_ent *m = tok_pairmap_get(&x->t->merges, id[i], id[i + 1]);
			rank[i] = m ? m->rank : INT32_MAX;
			to[i] = m ? m->id : -1;
		}
	}
	for (size_t i = 0; i < k; i++)
		tok_enc_push(x, id[i]);
}

static void merge_word(struct enc *x, const char *s, size_t n)
{
	size_t k = initial_symbols(x, s, n);
	if (k <= SMALL_WORD) {
		merge_small(x, k);
		return;
	}
	merge_all(x, k);
	for (int32_t i = 0; i >= 0; i = x->bpe.syms[i].next)
		tok_enc_push(x, x->bpe.syms[i].id);
}

void tok_bpe_word(struct enc *x, const char *s, size_t n)
{
	if (!n)
		return;
	if (x->t->ignore_merges) {
		int32_t id = tok_strmap_get(&x->t->vocab, s, n);
		if (id >= 0) {
			tok_enc_push(x, id);
			return;
		}
	}
	if (!x->t->meta_chunks) {
		merge_word(x, s, n);
		return;
	}
	/* No merge crosses the start of a ▁-word here, so each is merged on
	 * its own: the same ids, and no heap of the size of a whole text. */
	size_t start = 0;
	for (size_t i = 1; i + 3 <= n; i++)
		if (!memcmp(s + i, META, 3) && !(i >= 3 && !memcmp(s + i - 3, META, 3))) {
			merge_word(x, s + start, i - start);
			start = i;
		}
	merge_word(x, s + start, n - start);
}
