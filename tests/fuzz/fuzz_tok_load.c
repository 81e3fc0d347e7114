/* libFuzzer target for the tokenizer.json loader: the bytes are the file.
 * A file that loads is used once (encode a short text with its added
 * tokens, decode the ids, stream them): loading must never crash or leak,
 * and whatever loads must work. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "tokenizer/tokenizer.h"

static const char sample[] = "Hello  world 123 <s> \xE2\x96\x81x\n\xC3\xA9\xF0\x9F\xA6\x99 <|eot_id|>";

static int valid_utf8(const char *str, size_t n)
{
	const uint8_t *s = (const uint8_t *)str;
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 16384)
		return 0;       /* big files add time, not paths */
	struct exo_err e;
	struct tok *t = tok_load_buffer((const char *)data, size, "fuzz.json", &e);
	if (!t)
		return 0;
	int32_t *ids = NULL;
	size_t n = 0, len;
	char *text;
	for (int special = 0; special < 2; special++) {
		text = NULL;
		if (tok_encode(t, sample, sizeof sample - 1, special, &ids, &n, &e) < 0)
			continue;
		if (tok_decode(t, ids, n, special, &text, &len, &e) == 0 && !valid_utf8(text, len))
			abort();        /* every decoder gives whole characters */
		free(text);
		struct tok_stream *s = tok_stream_new(t, false);
		const char *out;
		for (size_t i = 0; i < n; i++)
			tok_stream_push(s, ids[i], &out, &len);
		tok_stream_flush(s, &out, &len);
		tok_stream_free(s);
		free(ids);
	}
	tok_free(t);
	return 0;
}
