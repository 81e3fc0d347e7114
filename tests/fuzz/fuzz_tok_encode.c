/* libFuzzer target for encoding: arbitrary bytes (invalid UTF-8 included)
 * through two small tokenizers built here, one byte-level with Llama 3's
 * regex and one SentencePiece-style with byte fallback and NFC, with added
 * tokens that strip spaces.  Every result decodes, and for the byte-level
 * one valid UTF-8 must come back exactly; streaming gives the same text. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tokenizer/tokenizer.h"

static struct tok *bytelevel, *spm;

/* GPT-2's byte alphabet: printable Latin-1 stands for itself, the rest
 * moves to U+0100 and up. */
static void put_byte_char(char *o, size_t *k, int b)
{
	static int next_of[256];
	static int ready;
	if (!ready) {
		int next = 256;
		for (int i = 0; i < 256; i++) {
			int keep = (i >= '!' && i <= '~') || (i >= 0xA1 && i <= 0xAC) || i >= 0xAE;
			next_of[i] = keep ? i : next++;
		}
		ready = 1;
	}
	int c = next_of[b];
	if (c < 0x80)
		o[(*k)++] = (char)c;
	else {
		o[(*k)++] = (char)(0xC0 | (c >> 6));
		o[(*k)++] = (char)(0x80 | (c & 0x3F));
	}
}

static char *bytelevel_json(void)
{
	size_t cap = 65536, k = 0;
	char *o = malloc(cap);
	k += (size_t)sprintf(o + k, "{\"added_tokens\": [{\"id\": 300, \"content\": \"<|eot|>\", \"special\": true,"
		" \"lstrip\": true}, {\"id\": 301, \"content\": \"<t>\", \"special\": false, \"rstrip\": true,"
		" \"single_word\": true}], \"normalizer\": {\"type\": \"NFC\"},"
		" \"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\":"
		" {\"Regex\": \"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}{1,3}|"
		" ?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+\"}, \"behavior\": \"Isolated\","
		" \"invert\": false}, {\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"use_regex\": false}]},"
		" \"post_processor\": {\"type\": \"ByteLevel\"}, \"decoder\": {\"type\": \"ByteLevel\"},"
		" \"model\": {\"type\": \"BPE\", \"vocab\": {");
	for (int b = 0; b < 256; b++) {
		o[k++] = '"';
		if (b == '"' || b == '\\')
			o[k++] = '\\';
		put_byte_char(o, &k, b);
		k += (size_t)sprintf(o + k, "\": %d, ", b);
	}
	k += (size_t)sprintf(o + k, "\"\\u0120t\": 256, \"he\": 257, \"\\u0120the\": 258, \"in\": 259,"
		" \"\\u0120\\u0120\": 260}, \"merges\": [\"\\u0120 t\", \"h e\", \"\\u0120t he\", \"i n\","
		" [\"\\u0120\", \"\\u0120\"]]}}");
	o[k] = '\0';
	return o;
}

static const char spm_json[] =
	"{\"added_tokens\": [{\"id\": 0, \"content\": \"<unk>\", \"special\": true},"
	" {\"id\": 1, \"content\": \"<s>\", \"special\": true}, {\"id\": 2, \"content\": \"</s>\","
	" \"special\": false, \"rstrip\": true}],"
	" \"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"NFC\"},"
	" {\"type\": \"Prepend\", \"prepend\": \"\\u2581\"}, {\"type\": \"Replace\", \"pattern\": {\"String\": \" \"},"
	" \"content\": \"\\u2581\"}]}, \"pre_tokenizer\": null,"
	" \"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": \"<s>\"}},"
	" {\"Sequence\": {\"id\": \"A\"}}], \"special_tokens\": {\"<s>\": {\"id\": \"<s>\", \"ids\": [1]}}},"
	" \"decoder\": {\"type\": \"Sequence\", \"decoders\": [{\"type\": \"Replace\", \"pattern\": {\"String\":"
	" \"\\u2581\"}, \"content\": \" \"}, {\"type\": \"ByteFallback\"}, {\"type\": \"Fuse\"},"
	" {\"type\": \"Strip\", \"content\": \" \", \"start\": 1, \"stop\": 0}]},"
	" \"model\": {\"type\": \"BPE\", \"unk_token\": \"<unk>\", \"fuse_unk\": true, \"byte_fallback\": true,"
	" \"vocab\": {\"<unk>\": 0, \"<s>\": 1, \"</s>\": 2, \"<0x00>\": 3, \"<0x41>\": 4, \"<0xC3>\": 5,"
	" \"<0xA9>\": 6, \"<0xFF>\": 7, \"\\u2581\": 8, \"a\": 9, \"b\": 10, \"\\u2581a\": 11, \"ab\": 12,"
	" \"\\u2581ab\": 13, \"\\u00e9\": 14, \"\\u2581\\u2581\": 15},"
	" \"merges\": [\"\\u2581 a\", \"a b\", \"\\u2581a b\", \"\\u2581 \\u2581\"]}}";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct exo_err e;
	char *bl = bytelevel_json();
	bytelevel = tok_load_buffer(bl, strlen(bl), "bytelevel.json", &e);
	free(bl);
	if (!bytelevel || !(spm = tok_load_buffer(spm_json, sizeof spm_json - 1, "spm.json", &e))) {
		fprintf(stderr, "fuzz_tok_encode: %s\n", e.msg);
		abort();
	}
	return 0;
}

static int valid_utf8(const uint8_t *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		uint8_t c = s[i];
		size_t l = c < 0x80 ? 1 : c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3
			 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
		if (!l || i + l > n)
			return 0;
		for (size_t k = 1; k < l; k++)
			if ((s[i + k] & 0xC0) != 0x80)
				return 0;
		if ((c == 0xE0 && s[i + 1] < 0xA0) || (c == 0xED && s[i + 1] > 0x9F) ||
		    (c == 0xF0 && s[i + 1] < 0x90) || (c == 0xF4 && s[i + 1] > 0x8F))
			return 0;
		i += l;
	}
	return 1;
}

static void one(const struct tok *t, const uint8_t *data, size_t size, int exact)
{
	struct exo_err e;
	int32_t *ids;
	size_t n, len, slen = 0;
	char *text;
	if (tok_encode(t, (const char *)data, size, false, &ids, &n, &e) < 0)
		abort();
	if (tok_decode(t, ids, n, false, &text, &len, &e) < 0)
		abort();
	/* NFC may change valid text and the added tokens strip spaces, so
	 * exactness is asked only where neither can happen */
	if (exact && !memchr(data, '<', size) && valid_utf8(data, size) &&
	    (len != size || memcmp(text, data, size)))
		abort();
	struct tok_stream *s = tok_stream_new(t, false);
	const char *out;
	size_t olen;
	char *all = malloc(len + 16);
	for (size_t i = 0; i < n; i++) {
		if (tok_stream_push(s, ids[i], &out, &olen) < 0 || slen + olen > len)
			abort();
		memcpy(all + slen, out, olen);
		slen += olen;
	}
	tok_stream_flush(s, &out, &olen);
	if (slen + olen != len)
		abort();
	memcpy(all + slen, out, olen);
	if (memcmp(all, text, len))
		abort();
	tok_stream_free(s);
	free(all);
	free(text);
	free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 4096)
		return 0;
	int nfc_stable = 1;
	for (size_t i = 0; i < size; i++)
		nfc_stable &= data[i] < 0xCC;
	one(bytelevel, data, size, nfc_stable);
	one(spm, data, size, 0);
	return 0;
}
