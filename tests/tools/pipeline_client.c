/* pipeline_client: generate tokens through a running pipeline with the
 * head library (serve/head.h), for the shell tests and by hand.  Prints the
 * generated ids on one line, each as soon as it arrives (so a test can kill
 * a stage in the middle of a generation: --pause-ms slows it down). */
#include "net/net.h"
#include "serve/head.h"
#include "serve/serve.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char usage_text[] =
	"usage: pipeline_client --model M [--next ADDR] [--local N] [--prompt 'ID ...'] [--tokens N]\n"
	"                       [--seed S] [--temperature T] [--top-k K] [--top-p P] [--pause-ms MS]\n"
	"                       [--retry-ms MS] [--timeout-ms MS] [--key FILE] [--session ID] [--stats]\n"
	"                       [--threads N] [--chunk N]\n"
	"       pipeline_client --next ADDR --ping N [--ping-bytes B] [--key FILE]\n";

struct opts {
	int pause_ms, stats;
};

static int on_token(void *arg, int32_t token, float logprob, bool eos)
{
	const struct opts *o = arg;
	(void)logprob, (void)eos;
	printf("%d ", token);
	fflush(stdout);
	if (o->pause_ms > 0) {
		struct timespec ts = {o->pause_ms / 1000, (long)(o->pause_ms % 1000) * 1000000};
		nanosleep(&ts, NULL);
	}
	return 0;
}

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* --ping N: round trips of ping frames of `bytes` payload to the stage at
 * addr (one hop there and back, the stage's decode and encode included). */
static int ping(const char *addr, const struct net_opts *no, int n, size_t bytes)
{
	struct serve_ident me = {.role = "client", .stage = -1};
	struct net_link *l;
	struct exo_err e = {0};
	if (serve_connect(addr, 0, no, &me, &l, NULL, &e) < 0)
		exo_die(&e);
	char *payload = xcalloc(1, bytes + 1), *buf;
	double *t = xcalloc((size_t)n, sizeof *t);
	size_t len;
	for (int i = 0; i < n; i++) {
		struct proto_msg m, r;
		proto_msg_init(&m, PROTO_PING);
		m.seq = (uint64_t)i, m.payload = payload, m.payload_len = bytes;
		double t0 = now_us();
		if (serve_send(l, &m, &e) < 0 || net_recv(l, &buf, &len, -1, &e) < 0)
			exo_die(&e);
		t[i] = now_us() - t0;
		if (proto_decode(buf, len, &r, &e) < 0 || r.op != PROTO_ECHO || r.seq != (uint64_t)i ||
		    r.payload_len != bytes)
			exo_errx(EXO_DATAERR, "%s: a bad echo", addr);
		free(buf);
	}
	qsort(t, (size_t)n, sizeof *t, cmp_double);
	printf("%d pings of %zu bytes: median %.1f us, min %.1f us a round trip\n", n, bytes, t[n / 2], t[0]);
	free(payload), free(t);
	net_close(l);
	return 0;
}

static size_t parse_ids(const char *s, int32_t *ids, size_t cap)
{
	size_t n = 0;
	char *end;
	while (n < cap) {
		long v = strtol(s, &end, 10);
		if (end == s)
			break;
		ids[n++] = (int32_t)v;
		s = end;
	}
	return n;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"model", required_argument, NULL, 'm'}, {"next", required_argument, NULL, 'n'},
		{"local", required_argument, NULL, 'l'}, {"prompt", required_argument, NULL, 'p'},
		{"tokens", required_argument, NULL, 't'}, {"seed", required_argument, NULL, 's'},
		{"temperature", required_argument, NULL, 'T'}, {"top-k", required_argument, NULL, 'k'},
		{"top-p", required_argument, NULL, 'P'}, {"pause-ms", required_argument, NULL, 'w'},
		{"retry-ms", required_argument, NULL, 'r'}, {"timeout-ms", required_argument, NULL, 'o'},
		{"key", required_argument, NULL, 'K'}, {"session", required_argument, NULL, 'S'},
		{"stats", no_argument, NULL, 'x'}, {"threads", required_argument, NULL, 'j'},
		{"chunk", required_argument, NULL, 'c'}, {"ping", required_argument, NULL, 'g'}, {"ping-bytes", required_argument, NULL, 'b'},
		{NULL, 0, NULL, 0}};
	struct head_opts ho = {.eng = {.dtype = -1}};
	struct head_request r = {.max_tokens = 8};
	struct opts o = {0};
	int pings = 0;
	size_t ping_bytes = 8192;
	int32_t prompt[4096] = {1, 2, 3, 4};
	size_t n_prompt = 4;
	uint8_t key[NET_KEY_BYTES];
	struct exo_err e = {0};
	eng_sampling_defaults(&r.sampling);
	exo_progname = "pipeline_client";
	int c;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'm': ho.model = optarg; break;
		case 'n': ho.next = optarg; break;
		case 'l': ho.local_layers = atoi(optarg); break;
		case 'p': n_prompt = parse_ids(optarg, prompt, 4096); break;
		case 't': r.max_tokens = atoi(optarg); break;
		case 's': r.sampling.seed = strtoull(optarg, NULL, 10); break;
		case 'T': r.sampling.temperature = strtof(optarg, NULL); break;
		case 'k': r.sampling.top_k = atoi(optarg); break;
		case 'P': r.sampling.top_p = strtof(optarg, NULL); break;
		case 'w': o.pause_ms = atoi(optarg); break;
		case 'r': ho.retry_ms = atoi(optarg); break;
		case 'o': ho.net.io_timeout_ms = ho.net.connect_timeout_ms = atoi(optarg); break;
		case 'K':
			if (net_key_load(optarg, key, &e) < 0)
				exo_die(&e);
			ho.net.key = key;
			break;
		case 'S': r.session = strtoull(optarg, NULL, 10); break;
		case 'x': o.stats = 1; break;
		case 'j': ho.eng.threads = atoi(optarg); break;
		case 'g': pings = atoi(optarg); break;
		case 'c': ho.chunk = atoi(optarg); break;
		case 'b': ping_bytes = (size_t)atol(optarg); break;
		default: fputs(usage_text, stderr); return EXO_USAGE;
		}
	}
	if (pings > 0 && ho.next && optind == argc)
		return ping(ho.next, &ho.net, pings, ping_bytes);
	if (!ho.model || optind != argc) {
		fputs(usage_text, stderr);
		return EXO_USAGE;
	}
	r.prompt = prompt, r.n_prompt = n_prompt;
	struct head *h = head_open(&ho, &e);
	if (!h)
		exo_die(&e);
	struct head_result res;
	int rc = head_generate(h, &r, on_token, &o, &res, &e);
	printf("\n");
	if (o.stats)
		fprintf(stderr, "pipeline_client: %zu tokens, prefill %.3f s, decode %.3f s (%.2f tokens/s), "
			"%d re-sends\n", res.n_generated, res.prefill_s, res.decode_s,
			res.n_generated > 1 ? (res.n_generated - 1) / res.decode_s : 0.0, res.resends);
	head_close(h);
	if (rc < 0)
		exo_die(&e);
	return 0;
}
