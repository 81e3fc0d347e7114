/* Tokenizer: the real files of ../shared/fixtures/tokenizers (special and
 * end ids, decode round trips, streaming decode of characters split across
 * tokens) and small files written here for the paths the real ones do not
 * take (Metaspace, lstrip, single_word) and for errors. */
#include "tests/tap.h"
#include "tokenizer/tokenizer.h"
#include "util/file.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[] = "/tmp/exo-tok-test.XXXXXX";

static struct tok *load_fixture(const char *name)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/fixtures/tokenizers/%s", tap_shared(), name);
	struct exo_err e = {0};
	struct tok *t = tok_load(path, &e);
	if (!t)
		diag("%s: %s", name, e.msg);
	return t;
}

/* A tokenizer.json written to the temporary directory, then loaded. */
static struct tok *load_text(const char *json, struct exo_err *e)
{
	char path[256];
	snprintf(path, sizeof path, "%s/tokenizer.json", tmpdir);
	struct exo_err we = {0};
	if (file_write_atomic(path, json, strlen(json), &we) < 0)
		diag("%s", we.msg);
	memset(e, 0, sizeof *e);
	return tok_load(path, e);
}

static char *decode(const struct tok *t, const int32_t *ids, size_t n, bool skip)
{
	char *s = NULL;
	size_t len;
	struct exo_err e = {0};
	if (tok_decode(t, ids, n, skip, &s, &len, &e) < 0)
		diag("decode: %s", e.msg);
	return s;
}

static int32_t *encode(const struct tok *t, const char *s, bool special, size_t *n)
{
	int32_t *ids = NULL;
	struct exo_err e = {0};
	if (tok_encode(t, s, strlen(s), special, &ids, n, &e) < 0)
		diag("encode: %s", e.msg);
	return ids;
}

static bool valid_utf8(const char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)s[i];
		size_t l = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
		if (!l || i + l > n)
			return false;
		for (size_t k = 1; k < l; k++)
			if (((unsigned char)s[i + k] & 0xC0) != 0x80)
				return false;
		i += l;
	}
	return true;
}

static const char *round_trip_texts[] = {
	"Hello, world!", "  leading and trailing spaces  ", "tabs\tand\nnewlines\r\n",
	"héllo wörld ½ €", "日本語のテキスト", "emoji 😀🎉 and 👍🏽", "Привет, мир", "x = 12345 + 678;",
};

static void test_round_trips(const char *name, const struct tok *t)
{
	size_t ok_count = 0, total = sizeof round_trip_texts / sizeof round_trip_texts[0];
	for (size_t i = 0; i < total; i++) {
		size_t n;
		int32_t *ids = encode(t, round_trip_texts[i], false, &n);
		char *back = decode(t, ids, n, false);
		if (back && !strcmp(back, round_trip_texts[i]))
			ok_count++;
		else
			diag("%s: \"%s\" came back as \"%s\"", name, round_trip_texts[i], back ? back : "(null)");
		free(back);
		free(ids);
	}
	is_int(ok_count, total, "%s: decode(encode(text)) == text for %zu texts", name, total);
}

/* Pushing ids one at a time gives the whole text, each piece valid UTF-8,
 * and returns the number of pushes that gave nothing. */
static size_t stream_check(const char *name, const struct tok *t, const char *text)
{
	size_t n, held = 0;
	int32_t *ids = encode(t, text, false, &n);
	struct tok_stream *s = tok_stream_new(t, false);
	char all[512] = "";
	bool valid = true;
	const char *out;
	size_t len;
	for (size_t i = 0; i < n; i++) {
		if (tok_stream_push(s, ids[i], &out, &len) < 0)
			valid = false;
		valid &= valid_utf8(out, len);
		held += len == 0;
		strncat(all, out, len);
	}
	tok_stream_flush(s, &out, &len);
	strncat(all, out, len);
	ok(valid, "%s: every streamed piece is whole UTF-8", name);
	is_str(all, text, "%s: the streamed pieces make the text", name);
	tok_stream_free(s);
	free(ids);
	return held;
}

static void test_llama3(void)
{
	struct tok *t = load_fixture("llama3.2");
	if (!t) {
		skip("no llama3.2 fixture");
		return;
	}
	is_int(tok_vocab_size(t), 128256, "llama3.2: 128256 ids");
	is_int(tok_id(t, "<|begin_of_text|>"), 128000, "llama3.2: <|begin_of_text|> is 128000");
	is_int(tok_id(t, "<|eot_id|>"), 128009, "llama3.2: <|eot_id|> is 128009");
	is_int(tok_bos(t), 128000, "llama3.2: bos from tokenizer_config.json");
	const int32_t *eos;
	size_t neos = tok_eos_ids(t, &eos);
	ok(neos == 1 && eos[0] == 128009, "llama3.2: eos is <|eot_id|>");
	ok(tok_is_special(t, 128009) && !tok_is_special(t, 1000), "llama3.2: special flags");
	int32_t hello = tok_id(t, "ĠHello");
	ok(hello >= 0 && !strcmp(tok_piece(t, hello), "ĠHello"), "llama3.2: piece and id agree");
	ok(tok_piece(t, 128256) == NULL && tok_piece(t, -1) == NULL, "llama3.2: no piece out of range");
	ok(tok_chat_template(t) && strstr(tok_chat_template(t), "start_header_id"),
	   "llama3.2: chat template from tokenizer_config.json");
	size_t n;
	int32_t *ids = encode(t, "", true, &n);
	ok(n == 1 && ids[0] == 128000, "llama3.2: empty text with special tokens is [BOS]");
	free(ids);
	ids = encode(t, "Hi<|eot_id|>", false, &n);
	ok(n >= 2 && ids[n - 1] == 128009, "llama3.2: special token text is its id");
	char *s = decode(t, ids, n, true);
	is_str(s, "Hi", "llama3.2: skip_special drops <|eot_id|>");
	free(s);
	free(ids);
	test_round_trips("llama3.2", t);
	stream_check("llama3.2", t, "naïve 日本 😀 done");
	int32_t bad = 999999;
	char *out;
	size_t len;
	struct exo_err e = {0};
	ok(tok_decode(t, &bad, 1, false, &out, &len, &e) < 0 && strstr(e.msg, "999999"),
	   "llama3.2: decoding an unknown id is an error naming it");
	tok_free(t);
}

static void test_mistral(void)
{
	struct tok *t = load_fixture("mistral");
	if (!t) {
		skip("no mistral fixture");
		return;
	}
	is_int(tok_bos(t), 1, "mistral: bos <s> is 1");
	const int32_t *eos;
	ok(tok_eos_ids(t, &eos) == 1 && eos[0] == 2, "mistral: eos </s> is 2");
	ok(tok_chat_template(t) && strstr(tok_chat_template(t), "[INST]"),
	   "mistral: chat template from chat_template.jinja");
	test_round_trips("mistral", t);
	/* 🦙 is not in the vocabulary: four byte-fallback pieces, and the
	 * stream holds the first three back. */
	size_t n;
	int32_t *ids = encode(t, "🦙", false, &n);
	ok(n == 5 && ids[1] == 0xF0 + 3, "mistral: 🦙 falls back to <0xF0><0x9F><0xA6><0x99>");
	struct tok_stream *s = tok_stream_new(t, false);
	const char *out;
	size_t len, empties = 0;
	for (size_t i = 0; i + 1 < n; i++) {
		tok_stream_push(s, ids[i], &out, &len);
		empties += len == 0;
	}
	tok_stream_push(s, ids[n - 1], &out, &len);
	ok(empties == 4 && len == 4 && !memcmp(out, "🦙", 4),
	   "mistral: the character comes out whole with its last byte");
	tok_stream_free(s);
	/* An incomplete character at the end comes out of flush as U+FFFD. */
	s = tok_stream_new(t, false);
	tok_stream_push(s, ids[0], &out, &len);
	tok_stream_push(s, ids[1], &out, &len);
	ok(len == 0, "mistral: a lone lead byte is held back");
	tok_stream_flush(s, &out, &len);
	ok(len >= 3 && !memcmp(out + len - 3, "\xEF\xBF\xBD", 3), "mistral: flush gives U+FFFD for it");
	tok_stream_free(s);
	free(ids);
	char path[1024];
	snprintf(path, sizeof path, "%s/fixtures/tokenizers/mistral/tokenizer.json", tap_shared());
	struct exo_err e = {0};
	struct tok *f = tok_load(path, &e);
	ok(f && tok_bos(f) == 1 && tok_chat_template(f),
	   "mistral: given the file, the files beside it are read too");
	tok_free(f);
	size_t held = stream_check("mistral", t, "héllo 世界 🦙 ok");
	ok(held >= 3, "mistral: pushes inside split characters give nothing (%zu)", held);
	tok_free(t);
}

static void test_others(void)
{
	static const struct { const char *name; const char *eos; int32_t eos_id; } fx[] = {
		{"qwen2.5", "<|im_end|>", 151645}, {"phi3-mini", "<|endoftext|>", 32000},
		{"gpt2", "<|endoftext|>", 50256}, {"llama3", "<|end_of_text|>", 128001},
	};
	for (size_t i = 0; i < sizeof fx / sizeof fx[0]; i++) {
		struct tok *t = load_fixture(fx[i].name);
		if (!t) {
			skip("fixture missing");
			continue;
		}
		const int32_t *eos;
		size_t n = tok_eos_ids(t, &eos);
		ok(n == 1 && eos[0] == fx[i].eos_id, "%s: eos %s is %d", fx[i].name, fx[i].eos,
		   (int)fx[i].eos_id);
		test_round_trips(fx[i].name, t);
		stream_check(fx[i].name, t, "a ½ 日本語 😀👍🏽 z");
		tok_free(t);
	}
}

/* A tiny SentencePiece-style tokenizer with the Metaspace pre-tokenizer and
 * decoder, and added tokens with lstrip, rstrip and single_word. */
static const char tiny_json[] =
	"{\"added_tokens\": ["
	" {\"id\": 7, \"content\": \"<x>\", \"special\": true, \"lstrip\": true},"
	" {\"id\": 8, \"content\": \"<y>\", \"special\": true, \"rstrip\": true},"
	" {\"id\": 9, \"content\": \"ba\", \"special\": false, \"single_word\": true}],"
	" \"normalizer\": null,"
	" \"pre_tokenizer\": {\"type\": \"Metaspace\", \"replacement\": \"\\u2581\","
	"   \"prepend_scheme\": \"first\", \"split\": true},"
	" \"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": ["
	"   {\"SpecialToken\": {\"id\": \"<s>\", \"type_id\": 0}}, {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}],"
	"   \"special_tokens\": {\"<s>\": {\"id\": \"<s>\", \"ids\": [10], \"tokens\": [\"<s>\"]}}},"
	" \"decoder\": {\"type\": \"Metaspace\", \"replacement\": \"\\u2581\", \"prepend_scheme\": \"first\"},"
	" \"model\": {\"type\": \"BPE\", \"unk_token\": \"<unk>\", \"fuse_unk\": true,"
	"   \"vocab\": {\"<unk>\": 0, \"\\u2581\": 1, \"a\": 2, \"b\": 3, \"\\u2581a\": 4, \"ab\": 5,"
	"     \"\\u2581ab\": 6, \"<s>\": 10},"
	"   \"merges\": [\"\\u2581 a\", [\"a\", \"b\"], \"\\u2581a b\"]}}";

static void expect_ids(const struct tok *t, const char *text, bool special, const int32_t *want,
		       size_t nw, const char *what)
{
	size_t n;
	int32_t *ids = encode(t, text, special, &n);
	bool same = ids && n == nw && !memcmp(ids, want, n * sizeof *ids);
	ok(same, "tiny: %s", what);
	if (!same)
		for (size_t i = 0; ids && i < n; i++)
			diag("  got id %d", (int)ids[i]);
	free(ids);
}

static void test_tiny(void)
{
	struct exo_err e;
	struct tok *t = load_text(tiny_json, &e);
	ok(t != NULL, "tiny: loads");
	if (!t) {
		diag("%s", e.msg);
		return;
	}
	expect_ids(t, "ab ab", false, (int32_t[]){6, 6}, 2, "Metaspace splits and prepends ▁");
	expect_ids(t, "ab ab", true, (int32_t[]){10, 6, 6}, 3, "TemplateProcessing adds <s>");
	expect_ids(t, " ab", false, (int32_t[]){6}, 1, "a leading space is the ▁ itself, none prepended");
	expect_ids(t, "ab  <x>ab", false, (int32_t[]){6, 7, 5}, 3,
		   "lstrip takes the spaces before; no ▁ after an added token with prepend_scheme first");
	expect_ids(t, "<y>  ab", false, (int32_t[]){8, 5}, 2, "rstrip takes the spaces after");
	expect_ids(t, "ba ab", false, (int32_t[]){9, 6}, 2, "single_word matches a whole word");
	expect_ids(t, "aba", false, (int32_t[]){6, 2}, 2, "single_word does not match inside one");
	expect_ids(t, "ab c€d", false, (int32_t[]){6, 1, 0}, 3, "unknown characters fuse into one <unk>");
	char *s = decode(t, (int32_t[]){6, 6, 4}, 3, false);
	is_str(s, "ab ab a", "tiny: Metaspace decoder");
	free(s);
	tok_free(t);
}

static void expect_error(const char *json, const char *needle, const char *what)
{
	struct exo_err e;
	struct tok *t = load_text(json, &e);
	ok(!t && e.code == EXO_DATAERR && strstr(e.msg, needle) && strstr(e.msg, "tokenizer.json"),
	   "error: %s", what);
	if (t || !strstr(e.msg, needle))
		diag("message: %s", e.msg);
	tok_free(t);
}

static void test_missing(void)
{
	struct exo_err e = {0};
	struct tok *t = tok_load("/nonexistent/tokenizer", &e);
	ok(!t && e.code == EXO_NOINPUT && strstr(e.msg, "/nonexistent/tokenizer"),
	   "error: a missing path is EXO_NOINPUT naming it");
	t = tok_load(tmpdir, &e);   /* a directory without tokenizer.json */
	ok(!t && e.code == EXO_NOINPUT && strstr(e.msg, "tokenizer.json"),
	   "error: a directory without tokenizer.json names the file");
}

static void test_errors(void)
{
	struct exo_err e = {0};
	struct tok *t;
	expect_error("{\"model\": ", "line 1", "malformed JSON names the line");
	expect_error("{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}", "'Unigram'",
		     "an unsupported model type is named");
	expect_error("{\"model\": {\"type\": \"BPE\", \"vocab\": [], \"merges\": []}}", "model.vocab",
		     "a vocabulary that is not an object names model.vocab");
	expect_error("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"a q\"]}}",
		     "model.merges[0]: 'q' is not in the vocabulary", "a merge of an unknown piece");
	expect_error("{\"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Nope\"}]},"
		     " \"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": []}}",
		     "pre_tokenizer.pretokenizers[0]: unsupported pre-tokenizer type 'Nope'",
		     "an unsupported pre-tokenizer is named with its place");
	expect_error("{\"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"(\"},"
		     " \"behavior\": \"Isolated\"}, \"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": []}}",
		     "pre_tokenizer.pattern: regex at offset 1", "a bad regex names the field and offset");
	expect_error("{\"added_tokens\": [{\"id\": -3, \"content\": \"x\"}],"
		     " \"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": []}}",
		     "added_tokens[0]", "a bad added token is named");
	expect_error("{\"decoder\": {\"type\": \"WordPiece\"}, \"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": []}}",
		     "unsupported decoder type 'WordPiece'", "an unsupported decoder is named");
	/* Invalid UTF-8 in the text is encoded as U+FFFD, not refused. */
	t = load_text(tiny_json, &e);
	int32_t *ids = NULL;
	size_t n = 0;
	ok(t && tok_encode(t, "a\xff\xfe" "b", 4, false, &ids, &n, &e) == 0 && n > 0,
	   "invalid UTF-8 in the text encodes");
	free(ids);
	tok_free(t);
}

int main(void)
{
	if (!mkdtemp(tmpdir))
		return 1;
	test_missing();
	test_llama3();
	test_mistral();
	test_others();
	test_tiny();
	test_errors();
	char path[256];
	snprintf(path, sizeof path, "%s/tokenizer.json", tmpdir);
	unlink(path);
	rmdir(tmpdir);
	return done_testing();
}
