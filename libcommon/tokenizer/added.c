/* Added tokens (added_tokens of tokenizer.json): their ids and flags, and
 * two byte tries, one matched on the raw text (normalized: false) and one
 * on the normalized text, for HF's leftmost-longest split. */
#include "tokenizer/tok_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int32_t trie_node_new(struct trie *tr, unsigned char c)
{
	tr->nodes = grow_array(tr->nodes, &tr->cap, tr->n + 1, sizeof *tr->nodes, 64);
	tr->nodes[tr->n] = (struct trie_node){-1, -1, -1, c};
	return (int32_t)tr->n++;
}

static int32_t trie_child(const struct trie *tr, int32_t node, unsigned char c)
{
	for (int32_t k = tr->nodes[node].child; k >= 0; k = tr->nodes[k].sibling)
		if (tr->nodes[k].c == c)
			return k;
	return -1;
}

void tok_trie_add(struct trie *tr, const char *s, size_t n, int32_t tok)
{
	if (!n)
		return;
	if (!tr->n)
		trie_node_new(tr, 0);
	tr->first[(unsigned char)s[0]] = true;
	int32_t node = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		int32_t k = trie_child(tr, node, c);
		if (k < 0) {
			k = trie_node_new(tr, c);
			tr->nodes[k].sibling = tr->nodes[node].child;
			tr->nodes[node].child = k;
		}
		node = k;
	}
	if (tr->nodes[node].tok < 0)
		tr->nodes[node].tok = tok;
}

int32_t tok_trie_match(const struct trie *tr, const char *s, size_t n, size_t *mlen)
{
	int32_t best = -1, node = 0;
	if (!tr->n || !n || !tr->first[(unsigned char)s[0]])
		return -1;
	for (size_t i = 0; i < n && node >= 0; i++) {
		node = trie_child(tr, node, (unsigned char)s[i]);
		if (node >= 0 && tr->nodes[node].tok >= 0) {
			best = tr->nodes[node].tok;
			*mlen = i + 1;
		}
	}
	return best;
}

void tok_trie_free(struct trie *tr)
{
	free(tr->nodes);
	memset(tr, 0, sizeof *tr);
}

static int load_one(struct tok *t, json_t *a, size_t i, struct exo_err *e)
{
	char field[64];
	snprintf(field, sizeof field, "added_tokens[%zu]", i);
	json_t *id = json_object_get(a, "id"), *content = json_object_get(a, "content");
	if (!json_is_object(a) || !json_is_integer(id) || json_integer_value(id) < 0 ||
	    json_integer_value(id) >= TOK_MAX_ID || !json_is_string(content) ||
	    !*json_string_value(content))
		return tok_field_error(t, e, field, "expected {\"id\": 0.., \"content\": \"...\"}");
	struct added_tok *at = &t->added[t->n_added];
	memset(at, 0, sizeof *at);
	if (tok_get_bool(t, a, "special", false, &at->special, field, e) < 0 ||
	    tok_get_bool(t, a, "lstrip", false, &at->lstrip, field, e) < 0 ||
	    tok_get_bool(t, a, "rstrip", false, &at->rstrip, field, e) < 0 ||
	    tok_get_bool(t, a, "normalized", !at->special, &at->normalized, field, e) < 0 ||
	    tok_get_bool(t, a, "single_word", false, &at->single_word, field, e) < 0)
		return -1;
	at->len = strlen(json_string_value(content));
	at->content = xstrdup(json_string_value(content));
	at->id = (int32_t)json_integer_value(id);
	t->n_added++;
	tok_set_piece(t, at->id, at->content, at->len);
	t->special[at->id] = at->special;
	return 0;
}

/* Normalized tokens are matched in normalized text, so their pattern is
 * their normalized content (as HF's refresh_added_tokens does). */
static int build_tries(struct tok *t, struct exo_err *e)
{
	struct strbuf nb = {0};
	for (size_t i = 0; i < t->n_added; i++) {
		struct added_tok *at = &t->added[i];
		if (!at->normalized) {
			tok_trie_add(&t->raw_trie, at->content, at->len, (int32_t)i);
			continue;
		}
		nb.len = 0;
		if (tok_normalize(t, at->content, at->len, &nb, e) < 0) {
			strbuf_release(&nb);
			return -1;
		}
		tok_trie_add(&t->norm_trie, nb.s, nb.len, (int32_t)i);
	}
	strbuf_release(&nb);
	return 0;
}

int tok_load_added(struct tok *t, json_t *arr, struct exo_err *e)
{
	if (!arr || json_is_null(arr))
		return 0;
	if (!json_is_array(arr))
		return tok_field_error(t, e, "added_tokens", "expected an array");
	t->added = xcalloc(json_array_size(arr) + 1, sizeof *t->added);
	size_t i;
	json_t *a;
	json_array_foreach(arr, i, a)
		if (load_one(t, a, i, e) < 0)
			return -1;
	return build_tries(t, e);
}
