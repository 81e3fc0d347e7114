/* Network suite: round trips to running stages (--nodes HOST:PORT,...)
 * through the stage protocol's ping and echo frames (net/proto.h), over a
 * link keyed with the cluster key when there is one (so encryption is in
 * the figures, as it is in inference).
 *
 *   rtt_seconds        a ping with an empty payload and its echo
 *   echo_bytes_per_s   a ping carrying ECHO_BYTES: payload bytes that crossed
 *                      the link (out and back) per second of round trip
 *
 * Each node is measured on its own: an address that does not parse, a host
 * that does not resolve, a stage that does not answer or refuses the hello
 * is a warning naming the node, and the other nodes and suites still
 * report. */
#include "bench/internal.h"
#include "config/config.h"
#include "net/net.h"
#include "net/proto.h"
#include "serve/serve.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ECHO_BYTES (4u << 20)
#define CONNECT_TIMEOUT_MS 3000
#define IO_TIMEOUT_MS 5000

/* One frame back, decoded; an error frame becomes the error.  *buf holds
 * the bytes the message points into (the caller frees it). */
static int recv_msg(struct net_link *l, char **buf, struct proto_msg *m, struct exo_err *e)
{
	size_t len;
	*buf = NULL;
	if (net_recv(l, buf, &len, -1, e) < 0 || proto_decode(*buf, len, m, e) < 0)
		return -1;
	if (m->op == PROTO_ERROR)
		return exo_error(e, proto_error_status(m->code), "refused: %s", m->message);
	return 0;
}

/* Hello as an anonymous client, which a stage accepts at any position of
 * the chain (exo-wire(5)); errors keep the address first, as net's do. */
static int hello(const char *addr, const struct net_opts *no, struct net_link **l, struct exo_err *e)
{
	struct proto_msg m, a;
	char *buf = NULL;
	if (net_connect(addr, no, l, e) < 0)
		return -1;
	proto_msg_init(&a, PROTO_HELLO);
	proto_msg_init(&m, PROTO_HELLO);
	snprintf(m.role, sizeof m.role, "client");
	int rc = serve_send(*l, &m, e) < 0 ? -1 : recv_msg(*l, &buf, &a, e);
	if (rc == 0 && a.op != PROTO_HELLO)
		rc = exo_error(e, EXO_DATAERR, "answered hello with a %s frame", proto_op_name(a.op));
	proto_msg_free(&a);
	free(buf);
	return rc;
}

/* One ping of n payload bytes and its echo; seconds, or -1. */
static double ping(struct net_link *l, uint64_t seq, const void *payload, size_t n, struct exo_err *e)
{
	struct proto_msg m, a;
	char *buf = NULL;
	proto_msg_init(&a, PROTO_ECHO);
	proto_msg_init(&m, PROTO_PING);
	m.seq = seq, m.payload = payload, m.payload_len = n;
	double t0 = bench_now();
	if (serve_send(l, &m, e) < 0 || recv_msg(l, &buf, &a, e) < 0) {
		proto_msg_free(&a);
		free(buf);
		return -1;
	}
	double t = bench_now() - t0;
	int ok = a.op == PROTO_ECHO && a.seq == seq && a.payload_len == n;
	proto_msg_free(&a);
	free(buf);
	if (!ok)
		return exo_error(e, EXO_DATAERR, "ping %llu: the echo does not match", (unsigned long long)seq);
	return t;
}

/* Samples of one figure into v (seconds per round trip); count, or -1. */
static int round_trips(struct bench_ctx *c, struct net_link *l, const void *payload, size_t n,
		       double *v, double *total, struct exo_err *e)
{
	double until = bench_figure_end(c), last = 0;
	static uint64_t seq;
	int k = 0;
	if (ping(l, ++seq, payload, n, e) < 0)   /* warm-up: buffers, TCP window */
		return -1;
	while (k < BENCH_MAX_SAMPLES && (k == 0 || bench_fits(until, last))) {
		if ((last = ping(l, ++seq, payload, n, e)) < 0)
			return -1;
		v[k++] = last;
		*total += last;
	}
	return k;
}

static int measure(struct bench_ctx *c, const char *node, struct net_link *l, bool keyed,
		   const char *payload, struct exo_err *e)
{
	double v[BENCH_MAX_SAMPLES], total = 0;
	int n = round_trips(c, l, NULL, 0, v, &total, e);
	if (n < 0)
		return 1;
	struct bench_figure f = { .name = "rtt_seconds", .samples = v, .n = n, .seconds = total };
	if (bench_emit_figure(c, &f, json_pack("{s:s,s:b}", "peer", node, "encrypted", keyed)) < 0)
		return -1;
	if (bench_out_of_time(c, "echo"))
		return 0;
	total = 0;
	n = round_trips(c, l, payload, ECHO_BYTES, v, &total, e);
	if (n < 0)
		return 1;
	for (int i = 0; i < n; i++)
		v[i] = 2.0 * ECHO_BYTES / v[i];
	struct bench_figure g = { .name = "echo_bytes_per_s", .samples = v, .n = n, .seconds = total,
				  .bytes = 2 * (int64_t)ECHO_BYTES };
	return bench_emit_figure(c, &g, json_pack("{s:s,s:b}", "peer", node, "encrypted", keyed));
}

/* 0, or -1 when the run cannot go on; a node that fails is a warning. */
static int one_node(struct bench_ctx *c, const char *node, const struct net_opts *no,
		    const char *payload)
{
	char host[256];
	int port, rc = 1;
	struct exo_err e = { 0 };
	struct net_link *l = NULL;
	if (bench_out_of_time(c, node))
		return 0;
	bench_progress(c, node);
	if (conf_parse_addr(node, 1, host, sizeof host, &port) < 0)
		exo_error(&e, EXO_USAGE, "bad address (expected HOST:PORT)");
	else if (hello(node, no, &l, &e) == 0)
		rc = measure(c, node, l, no->key != NULL, payload, &e);
	net_close(l);
	if (rc > 0 && strncmp(e.msg, node, strlen(node)) == 0)   /* net names the address */
		bench_warn(c, "network: %s", e.msg);
	else if (rc > 0)
		bench_warn(c, "network: %s: %s", node, e.msg);
	if (rc > 0) {
		c->failed = 1;
	}
	return rc < 0 ? -1 : 0;
}

int bench_network(struct bench_ctx *c)
{
	char list[4096];
	uint8_t key[NET_KEY_BYTES];
	struct exo_err e;
	struct net_opts no = { .connect_timeout_ms = CONNECT_TIMEOUT_MS, .io_timeout_ms = IO_TIMEOUT_MS };
	if (snprintf(list, sizeof list, "%s", c->o->nodes) >= (int)sizeof list)
		return exo_error(c->e, EXO_USAGE, "--nodes: list too long");
	if (c->o->key && *c->o->key) {
		if (net_key_load(c->o->key, key, &e) < 0) {
			bench_warn(c, "network: skipped: %s", e.msg);
			c->failed = 1;
			return 0;
		}
		no.key = key;
	}
	int n = 0;
	for (const char *p = list; *p; p++)
		n += *p == ',';
	c->figures_left = 2 * (n + 1);
	char *payload = calloc(1, ECHO_BYTES);
	if (!payload)
		return exo_error(c->e, EXO_SOFTWARE, "network: out of memory");
	int rc = 0;
	for (char *save, *t = strtok_r(list, ",", &save); t && rc == 0; t = strtok_r(NULL, ",", &save))
		rc = one_node(c, t, &no, payload);
	free(payload);
	return rc;
}
