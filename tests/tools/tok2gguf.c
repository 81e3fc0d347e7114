/* tok2gguf TOKENIZER_JSON PRE OUT.gguf: a Hugging Face tokenizer.json written
 * as the tokenizer.ggml.* keys of a GGUF file (no tensors), as llama.cpp's
 * converter writes them, so that tests can hold the tokenizer exo builds
 * from a GGUF file to the ids Hugging Face gives for the same vocabulary
 * (tests/shell/t0831-gguf-tokenizer.sh).
 *   byte-level BPE: tokenizer.ggml.model gpt2, tokens by id, merges, PRE as
 *                   tokenizer.ggml.pre;
 *   byte_fallback BPE (SentencePiece): model llama, byte tokens typed BYTE,
 *                   and scores that order the pieces as the merges do (a
 *                   piece made by merge r scores -r; the others below all of
 *                   them), which is what transformers' converter read them
 *                   from.
 * Added tokens are CONTROL when special, else USER_DEFINED; the BOS of a
 * TemplateProcessing post-processor becomes bos_token_id with add_bos_token. */
#include "model/gguf.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void put(FILE *f, const void *p, size_t n) { fwrite(p, 1, n, f); }
static void u32(FILE *f, uint32_t v) { put(f, &v, 4); }
static void u64(FILE *f, uint64_t v) { put(f, &v, 8); }
static void str(FILE *f, const char *s) { u64(f, strlen(s)); put(f, s, strlen(s)); }
static void key(FILE *f, const char *k, uint32_t t) { str(f, k); u32(f, t); }

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: tok2gguf TOKENIZER_JSON PRE OUT.gguf\n");
		return 64;
	}
	json_error_t je;
	json_t *j = json_load_file(argv[1], 0, &je);
	if (!j) {
		fprintf(stderr, "tok2gguf: %s: %s\n", argv[1], je.text);
		return 65;
	}
	json_t *model = json_object_get(j, "model"), *vocab = json_object_get(model, "vocab");
	json_t *merges = json_object_get(model, "merges"), *added = json_object_get(j, "added_tokens");
	bool spm = json_is_true(json_object_get(model, "byte_fallback"));
	size_t n = 0, i;
	const char *k;
	json_t *v;
	json_object_foreach(vocab, k, v)
		n = (size_t)json_integer_value(v) + 1 > n ? (size_t)json_integer_value(v) + 1 : n;
	json_array_foreach(added, i, v)
		n = (size_t)json_integer_value(json_object_get(v, "id")) + 1 > n
			    ? (size_t)json_integer_value(json_object_get(v, "id")) + 1 : n;
	const char **tok = calloc(n, sizeof *tok);
	int32_t *type = calloc(n, sizeof *type);
	json_object_foreach(vocab, k, v) {
		size_t id = (size_t)json_integer_value(v);
		tok[id] = k;
		type[id] = spm && strlen(k) == 6 && !strncmp(k, "<0x", 3) && k[5] == '>' ? 6 : 1;
	}
	json_array_foreach(added, i, v) {
		size_t id = (size_t)json_integer_value(json_object_get(v, "id"));
		tok[id] = json_string_value(json_object_get(v, "content"));
		type[id] = json_is_true(json_object_get(v, "special")) ? 3 : 4;
	}
	for (i = 0; i < n; i++)
		if (!tok[i]) {   /* holes: unused ids, as llama.cpp's converter pads them */
			char *pad = malloc(32);
			snprintf(pad, 32, "[PAD%zu]", i);
			tok[i] = pad;
			type[i] = 5;
		}
	/* BOS of a TemplateProcessing post-processor (also inside a Sequence) */
	json_t *post = json_object_get(j, "post_processor"), *procs = json_object_get(post, "processors");
	int64_t bos = -1;
	for (size_t p = 0; p < (procs ? json_array_size(procs) : 1); p++) {
		json_t *pp = procs ? json_array_get(procs, p) : post;
		json_t *first = json_array_get(json_object_get(pp, "single"), 0);
		const char *name = json_string_value(json_object_get(json_object_get(first, "SpecialToken"), "id"));
		json_t *ids = json_object_get(json_object_get(json_object_get(pp, "special_tokens"), name ? name : ""), "ids");
		if (json_is_array(ids))
			bos = json_integer_value(json_array_get(ids, 0));
	}
	FILE *f = fopen(argv[3], "wb");
	if (!f) {
		perror(argv[3]);
		return 73;
	}
	u32(f, 0x46554747u);
	u32(f, 3);
	u64(f, 0);
	u64(f, 5 + (spm ? 1 : 2) + (bos >= 0 ? 1 : 0));
	key(f, "general.architecture", GGUF_STRING), str(f, "llama");
	key(f, "tokenizer.ggml.model", GGUF_STRING), str(f, spm ? "llama" : "gpt2");
	key(f, "tokenizer.ggml.tokens", GGUF_ARRAY), u32(f, GGUF_STRING), u64(f, n);
	for (i = 0; i < n; i++)
		str(f, tok[i]);
	key(f, "tokenizer.ggml.token_type", GGUF_ARRAY), u32(f, GGUF_I32), u64(f, n);
	put(f, type, 4 * n);
	key(f, "tokenizer.ggml.add_bos_token", GGUF_BOOL), put(f, bos >= 0 ? "\1" : "\0", 1);
	if (spm) {
		float *score = malloc(n * sizeof *score);
		size_t nm = json_array_size(merges);
		for (i = 0; i < n; i++)
			score[i] = -(float)(nm + i);
		for (size_t r = nm; r-- > 0;) {      /* the first merge making a piece wins */
			json_t *m = json_array_get(merges, r);
			char buf[1024];
			if (json_is_string(m)) {
				snprintf(buf, sizeof buf, "%s", json_string_value(m));
				char *sp = strchr(buf, ' ');
				if (sp)
					memmove(sp, sp + 1, strlen(sp));
			} else
				snprintf(buf, sizeof buf, "%s%s", json_string_value(json_array_get(m, 0)),
					 json_string_value(json_array_get(m, 1)));
			json_t *id = json_object_get(vocab, buf);
			if (id)
				score[json_integer_value(id)] = -(float)r;
		}
		key(f, "tokenizer.ggml.scores", GGUF_ARRAY), u32(f, GGUF_F32), u64(f, n);
		put(f, score, 4 * n);
		free(score);
	} else {
		key(f, "tokenizer.ggml.pre", GGUF_STRING), str(f, argv[2]);
		key(f, "tokenizer.ggml.merges", GGUF_ARRAY), u32(f, GGUF_STRING), u64(f, json_array_size(merges));
		json_array_foreach(merges, i, v) {
			if (json_is_string(v)) {
				str(f, json_string_value(v));
				continue;
			}
			char buf[1024];
			snprintf(buf, sizeof buf, "%s %s", json_string_value(json_array_get(v, 0)),
				 json_string_value(json_array_get(v, 1)));
			str(f, buf);
		}
	}
	if (bos >= 0)
		key(f, "tokenizer.ggml.bos_token_id", GGUF_U32), u32(f, (uint32_t)bos);
	for (i = 0; i < n; i++)
		if (type[i] == 5)
			free((char *)tok[i]);
	free(tok);
	free(type);
	json_decref(j);
	return fclose(f) == 0 ? 0 : 74;
}
