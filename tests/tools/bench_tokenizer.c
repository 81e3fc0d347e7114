/* bench_tokenizer DIR [TEXTFILE]: time to load a tokenizer, then encode
 * and decode speed over TEXTFILE (in MB/s of text), once each; CPU time of
 * this single-threaded process, so that a busy machine distorts less. */
#include "tokenizer/tokenizer.h"
#include "util/file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	exo_progname = "bench_tokenizer";
	if (argc < 2 || argc > 3)
		exo_errx(EXO_USAGE, "usage: bench_tokenizer DIR [TEXTFILE]");
	struct exo_err e = {0};
	double t0 = now();
	struct tok *t = tok_load(argv[1], &e);
	if (!t)
		exo_die(&e);
	printf("load\t%.3f s\n", now() - t0);
	if (argc == 2)
		return 0;
	size_t len, n, dlen;
	char *text = file_read_all(argv[2], &len, &e), *back;
	int32_t *ids;
	if (!text)
		exo_die(&e);
	t0 = now();
	if (tok_encode(t, text, len, false, &ids, &n, &e) < 0)
		exo_die(&e);
	double te = now() - t0;
	printf("encode\t%.2f MB/s\t%zu bytes -> %zu tokens in %.3f s\n", len / te / 1e6, len, n, te);
	t0 = now();
	if (tok_decode(t, ids, n, false, &back, &dlen, &e) < 0)
		exo_die(&e);
	double td = now() - t0;
	printf("decode\t%.2f MB/s\t%.1f M tokens/s, round trip %s\n", dlen / td / 1e6, n / td / 1e6,
	       dlen == len && !memcmp(back, text, len) ? "exact" : "differs");
	t0 = now();
	struct tok_stream *s = tok_stream_new(t, false);
	size_t slen = 0, k;
	const char *piece;
	for (size_t i = 0; i < n; i++) {
		if (tok_stream_push(s, ids[i], &piece, &k) < 0)
			exo_errx(EXO_SOFTWARE, "stream push failed at %zu", i);
		slen += k;
	}
	tok_stream_flush(s, &piece, &k);
	slen += k;
	double ts = now() - t0;
	printf("stream\t%.2f MB/s\t%.1f M tokens/s, %zu bytes\n", slen / ts / 1e6, n / ts / 1e6, slen);
	tok_stream_free(s);
	free(back);
	free(ids);
	free(text);
	tok_free(t);
	return 0;
}
