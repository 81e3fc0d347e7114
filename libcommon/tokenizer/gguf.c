/* A tokenizer from a GGUF file's tokenizer.ggml.* keys, built as the
 * tokenizer.json that Hugging Face would have for it and then loaded by the
 * same code as one (so one encoder serves both formats):
 *   gpt2  byte-level BPE: tokens, merges, and the pre-tokenizer that
 *         tokenizer.ggml.pre names, as llama.cpp's src/llama-vocab.cpp lists
 *         them (llama3 / llama-bpe, qwen2, smollm, gpt2 ...);
 *   llama SentencePiece: scores become merges the way transformers'
 *         SentencePieceExtractor makes them, with byte fallback.
 * Token types CONTROL and USER_DEFINED become added tokens (CONTROL ones
 * special), bos/eos/add_bos_token the post-processor and end ids, and
 * tokenizer.chat_template the chat template. */
#include "tokenizer/tok_int.h"
#include "model/gguf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { TT_NORMAL = 1, TT_UNKNOWN, TT_CONTROL, TT_USER_DEFINED, TT_UNUSED, TT_BYTE };

/* Pre-tokenizer regexes by tokenizer.ggml.pre (transformers' spelling of
 * what llama-vocab.cpp adapts). */
static const char llama3_re[] =
	"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"
	"|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char qwen2_re[] =
	"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"
	"|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

static json_t *split_re(const char *re)
{
	return json_pack("{s:s, s:{s:s}, s:s, s:b}", "type", "Split", "pattern", "Regex", re,
			 "behavior", "Isolated", "invert", 0);
}

static json_t *bytelevel(bool use_regex)
{
	return json_pack("{s:s, s:b, s:b, s:b}", "type", "ByteLevel", "add_prefix_space", 0,
			 "trim_offsets", 1, "use_regex", use_regex);
}

static json_t *pretokenizer(const char *pre, const char *path, struct exo_err *e)
{
	if (!strcmp(pre, "llama3") || !strcmp(pre, "llama-bpe") || !strcmp(pre, "llama-v3") ||
	    !strcmp(pre, "smaug-bpe") || !strcmp(pre, "falcon3"))
		return json_pack("{s:s, s:[o, o]}", "type", "Sequence", "pretokenizers",
				 split_re(llama3_re), bytelevel(false));
	if (!strcmp(pre, "qwen2") || !strcmp(pre, "deepseek-r1-qwen"))
		return json_pack("{s:s, s:[o, o]}", "type", "Sequence", "pretokenizers",
				 split_re(qwen2_re), bytelevel(false));
	/* llama-vocab.cpp: \p{N} alone, then GPT-2's regex */
	if (!strcmp(pre, "smollm") || !strcmp(pre, "starcoder") || !strcmp(pre, "refact") ||
	    !strcmp(pre, "command-r") || !strcmp(pre, "codeshell") || !strcmp(pre, "exaone") ||
	    !strcmp(pre, "minerva-7b"))
		return json_pack("{s:s, s:[{s:s, s:b}, o]}", "type", "Sequence", "pretokenizers",
				 "type", "Digits", "individual_digits", 1, bytelevel(true));
	if (!strcmp(pre, "gpt2") || !strcmp(pre, "default") || !strcmp(pre, "gpt-2") ||
	    !strcmp(pre, "olmo") || !strcmp(pre, "jais"))
		return bytelevel(true);
	exo_error(e, EXO_DATAERR, "%s: tokenizer.ggml.pre '%s' is not supported (llama3, llama-bpe, "
		  "qwen2, smollm, starcoder, gpt2 ... are)", path, pre);
	return NULL;
}

static const struct gguf_kv *array_of(const struct gguf_file *f, const char *key,
				      enum gguf_vtype type, uint64_t n)
{
	const struct gguf_kv *kv = gguf_get(f, key);
	if (!kv || kv->type != GGUF_ARRAY || kv->elem_type != type || (n && kv->n != n))
		return NULL;
	return kv;
}

static int32_t token_type(const struct gguf_kv *types, size_t i)
{
	int32_t v = TT_NORMAL;
	if (types)
		memcpy(&v, types->data + 4 * i, 4);
	return v;
}

static json_t *str_json(struct gguf_str s)
{
	return json_stringn(s.p, s.len);
}

/* vocab and the added tokens: CONTROL and USER_DEFINED tokens. */
static json_t *vocab_json(const struct gguf_kv *toks, const struct gguf_kv *types, json_t *added)
{
	json_t *vocab = json_object();
	for (size_t i = 0; i < toks->n; i++) {
		struct gguf_str s = toks->strs[i];
		if (!s.len || memchr(s.p, '\0', s.len))
			continue;
		json_object_setn_new_nocheck(vocab, s.p, s.len, json_integer((json_int_t)i));
		int32_t tt = token_type(types, i);
		if (tt == TT_CONTROL || tt == TT_USER_DEFINED)
			json_array_append_new(added, json_pack("{s:I, s:o, s:b, s:b, s:b, s:b, s:b}",
				"id", (json_int_t)i, "content", str_json(s), "special", tt == TT_CONTROL,
				"lstrip", 0, "rstrip", 0, "normalized", 0, "single_word", 0));
	}
	return vocab;
}

/* --- SentencePiece: merges from scores --- */

struct spm_piece { size_t id; float score; };

static int by_score(const void *a, const void *b)
{
	const struct spm_piece *x = a, *y = b;
	if (x->score != y->score)
		return x->score > y->score ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* transformers' SentencePieceExtractor: every split of a piece into two
 * pieces of the vocabulary is a merge; pieces by score, highest first, the
 * splits of one piece ordered by the ids of their halves. */
static json_t *spm_merges(const struct gguf_kv *toks, const struct gguf_kv *types,
			  const struct gguf_kv *scores, json_t *vocab)
{
	struct spm_piece *order = xmalloc((toks->n + 1) * sizeof *order);
	size_t n = 0;
	for (size_t i = 0; i < toks->n; i++)
		if (token_type(types, i) == TT_NORMAL) {
			float sc = 0;
			if (scores)
				memcpy(&sc, scores->data + 4 * i, 4);
			order[n++] = (struct spm_piece){i, sc};
		}
	qsort(order, n, sizeof *order, by_score);
	json_t *merges = json_array();
	struct { json_int_t l, r; size_t cut; } *local = xmalloc(256 * sizeof *local);
	for (size_t k = 0; k < n; k++) {
		struct gguf_str s = toks->strs[order[k].id];
		size_t nl = 0;
		if (!s.len)
			continue;
		for (size_t cut = tok_utf8_len((unsigned char)s.p[0]); cut < s.len && nl < 256;
		     cut += tok_utf8_len((unsigned char)s.p[cut])) {
			char *l = strndup(s.p, cut), *r = strndup(s.p + cut, s.len - cut);
			json_t *jl = json_object_get(vocab, l), *jr = json_object_get(vocab, r);
			if (jl && jr) {
				local[nl].l = json_integer_value(jl);
				local[nl].r = json_integer_value(jr);
				local[nl++].cut = cut;
			}
			free(l), free(r);
		}
		for (size_t a = 1; a < nl; a++)         /* insertion sort by (id left, id right) */
			for (size_t b = a; b > 0 && (local[b - 1].l > local[b].l ||
				     (local[b - 1].l == local[b].l && local[b - 1].r > local[b].r)); b--) {
				__typeof__(*local) tmp = local[b];
				local[b] = local[b - 1], local[b - 1] = tmp;
			}
		for (size_t a = 0; a < nl; a++)
			json_array_append_new(merges, json_pack("[s%, s%]", s.p, local[a].cut,
								s.p + local[a].cut, s.len - local[a].cut));
	}
	free(local);
	free(order);
	return merges;
}

static json_t *gpt2_merges(const struct gguf_kv *m)
{
	json_t *merges = json_array();
	for (size_t i = 0; m && i < m->n; i++)
		json_array_append_new(merges, str_json(m->strs[i]));
	return merges;
}

static json_t *post_bos(const struct gguf_kv *toks, int64_t bos)
{
	json_t *name = str_json(toks->strs[bos]);
	const char *n = json_string_value(name);
	json_t *post = json_pack("{s:s, s:[{s:{s:s, s:i}}, {s:{s:s, s:i}}], s:{s:{s:s, s:[I], s:[s]}}}",
		"type", "TemplateProcessing", "single", "SpecialToken", "id", n, "type_id", 0,
		"Sequence", "id", "A", "type_id", 0, "special_tokens", n, "id", n, "ids", (json_int_t)bos,
		"tokens", n);
	json_decref(name);
	return post;
}

/* The tokenizer.json for f; NULL with e set. */
static json_t *tokenizer_json(const struct gguf_file *f, struct exo_err *e)
{
	char *model = gguf_get_string(f, "tokenizer.ggml.model"), *pre = NULL;
	const struct gguf_kv *toks = array_of(f, "tokenizer.ggml.tokens", GGUF_STRING, 0);
	json_t *j = NULL;
	if (!model || !toks || !toks->n) {
		exo_error(e, EXO_DATAERR, "%s: no tokenizer (tokenizer.ggml.model and "
			  "tokenizer.ggml.tokens are missing)", f->path);
		goto out;
	}
	bool spm = !strcmp(model, "llama");
	if (!spm && strcmp(model, "gpt2")) {
		exo_error(e, EXO_DATAERR, "%s: tokenizer.ggml.model '%s' is not supported (gpt2 and "
			  "llama are)", f->path, model);
		goto out;
	}
	const struct gguf_kv *types = array_of(f, "tokenizer.ggml.token_type", GGUF_I32, toks->n);
	const struct gguf_kv *scores = array_of(f, "tokenizer.ggml.scores", GGUF_F32, toks->n);
	json_t *added = json_array(), *vocab = vocab_json(toks, types, added);
	pre = spm ? NULL : gguf_get_string(f, "tokenizer.ggml.pre");
	/* llama-vocab.cpp: Llama 3's pre-tokenizer also takes a word found whole
	 * in the vocabulary as one token (transformers' ignore_merges) */
	bool whole_words = pre && (!strcmp(pre, "llama3") || !strcmp(pre, "llama-bpe") ||
				   !strcmp(pre, "llama-v3") || !strcmp(pre, "falcon3"));
	json_t *bpe = json_pack("{s:s, s:o, s:b, s:b, s:b}", "type", "BPE", "vocab", vocab,
				"byte_fallback", spm, "fuse_unk", spm, "ignore_merges", whole_words);
	json_object_set_new(bpe, "merges", spm ? spm_merges(toks, types, scores, vocab)
					       : gpt2_merges(array_of(f, "tokenizer.ggml.merges", GGUF_STRING, 0)));
	int64_t unk = -1, bos = -1;
	if (spm && gguf_kv_int(gguf_get(f, "tokenizer.ggml.unknown_token_id"), &unk) && unk >= 0 &&
	    (uint64_t)unk < toks->n)
		json_object_set_new(bpe, "unk_token", str_json(toks->strs[unk]));
	j = json_pack("{s:o, s:o}", "model", bpe, "added_tokens", added);
	if (spm) {
		int64_t prefix = 1;
		gguf_kv_int(gguf_get(f, "tokenizer.ggml.add_space_prefix"), &prefix);
		json_t *norms = json_array();
		if (prefix)
			json_array_append_new(norms, json_pack("{s:s, s:s}", "type", "Prepend", "prepend", "\u2581"));
		json_array_append_new(norms, json_pack("{s:s, s:{s:s}, s:s}", "type", "Replace", "pattern",
						       "String", " ", "content", "\u2581"));
		json_object_set_new(j, "normalizer", json_pack("{s:s, s:o}", "type", "Sequence", "normalizers", norms));
		json_t *decs = json_pack("[{s:s, s:{s:s}, s:s}, {s:s}, {s:s}]", "type", "Replace", "pattern",
					 "String", "\u2581", "content", " ", "type", "ByteFallback", "type", "Fuse");
		if (prefix)
			json_array_append_new(decs, json_pack("{s:s, s:s, s:i, s:i}", "type", "Strip",
							      "content", " ", "start", 1, "stop", 0));
		json_object_set_new(j, "decoder", json_pack("{s:s, s:o}", "type", "Sequence", "decoders", decs));
	} else {
		json_t *p = pretokenizer(pre ? pre : "default", f->path, e);
		if (!p) {
			json_decref(j);
			j = NULL;
			goto out;
		}
		json_object_set_new(j, "pre_tokenizer", p);
		json_object_set_new(j, "decoder", json_pack("{s:s, s:b, s:b, s:b}", "type", "ByteLevel",
							   "add_prefix_space", 0, "trim_offsets", 1, "use_regex", 1));
	}
	int64_t add_bos = spm;      /* llama.cpp's default: SentencePiece adds BOS */
	gguf_kv_int(gguf_get(f, "tokenizer.ggml.add_bos_token"), &add_bos);
	if (add_bos && gguf_kv_int(gguf_get(f, "tokenizer.ggml.bos_token_id"), &bos) && bos >= 0 &&
	    (uint64_t)bos < toks->n)
		json_object_set_new(j, "post_processor", post_bos(toks, bos));
out:
	free(pre);
	free(model);
	return j;
}

/* tokenizer_config.json's part that chat templates read: the bos and eos tokens. */
static void set_around(struct tok *t, const struct gguf_file *f)
{
	int64_t bos = -1, eos = -1;
	t->config = json_object();
	if (gguf_kv_int(gguf_get(f, "tokenizer.ggml.bos_token_id"), &bos) && tok_piece(t, (int32_t)bos)) {
		t->bos = (int32_t)bos;
		json_object_set_new(t->config, "bos_token", json_string(tok_piece(t, t->bos)));
	}
	if (gguf_kv_int(gguf_get(f, "tokenizer.ggml.eos_token_id"), &eos) && tok_piece(t, (int32_t)eos)) {
		t->eos = xmalloc(sizeof *t->eos);
		t->eos[t->n_eos++] = (int32_t)eos;
		json_object_set_new(t->config, "eos_token", json_string(tok_piece(t, (int32_t)eos)));
	}
	int64_t eot = -1;         /* llama.cpp ends a turn at EOT too */
	if (gguf_kv_int(gguf_get(f, "tokenizer.ggml.eot_token_id"), &eot) && eot != eos &&
	    tok_piece(t, (int32_t)eot)) {
		t->eos = xrealloc(t->eos, (t->n_eos + 1) * sizeof *t->eos);
		t->eos[t->n_eos++] = (int32_t)eot;
	}
	t->chat_template = gguf_get_string(f, "tokenizer.chat_template");
}

struct tok *tok_load_gguf(const char *path, struct exo_err *e)
{
	struct gguf_file *f = gguf_open(path, e);
	if (!f)
		return NULL;
	json_t *j = tokenizer_json(f, e);
	struct tok *t = NULL;
	if (j) {
		t = xcalloc(1, sizeof *t);
		t->path = xstrdup(path);
		t->unk = t->bos = -1;
		if (tok_load_json(t, j, e) < 0) {
			tok_free(t);
			t = NULL;
		} else
			set_around(t, f);
	}
	json_decref(j);
	gguf_close(f);
	return t;
}
