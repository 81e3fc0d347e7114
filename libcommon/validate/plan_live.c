/* `exo-validate plan --live`: every stage of the plan reached over the
 * network, with the cluster key when one is given, as an anonymous client
 * (exo-wire(5)): its hello must give our protocol, the plan's layer range
 * and the same model revision as every other stage; three ping/echo round
 * trips give its latency. */
#include "net/net.h"
#include "net/proto.h"
#include "planner/planner.h"
#include "serve/serve.h"
#include "validate/plan_live.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

/* The median of three ping/echo round trips, or -1. */
static double ping_rtt(struct net_link *l, struct exo_err *e)
{
	double t[3];
	for (int i = 0; i < 3; i++) {
		struct proto_msg m;
		proto_msg_init(&m, PROTO_PING);
		m.seq = (uint64_t)i + 1;
		double t0 = now();
		char *buf = NULL;
		size_t len;
		struct proto_msg a;
		if (serve_send(l, &m, e) < 0 || net_recv(l, &buf, &len, -1, e) < 0)
			return -1;
		int ok = proto_decode(buf, len, &a, e) == 0 && a.op == PROTO_ECHO && a.seq == m.seq;
		proto_msg_free(&a);
		free(buf);
		if (!ok)
			return -1;
		t[i] = now() - t0;
	}
	double lo = t[0] < t[1] ? t[0] : t[1], hi = t[0] < t[1] ? t[1] : t[0];
	return t[2] < lo ? lo : t[2] > hi ? hi : t[2];
}

static void live_stage(const struct plan_rec_stage *s, size_t i, const uint8_t *key, char *revision,
		       size_t rev_len, json_t **check)
{
	const char *addr = s->address;
	int first = (int)s->layer_start, last = (int)s->layer_end;
	char msg[1200];
	if (!addr) {
		snprintf(msg, sizeof msg, "stage %zu: the plan gives no address", i);
		*check = vcheck_new("plan", "plan.live", "fail", msg);
		return;
	}
	struct net_opts no = {.key = key};
	struct serve_ident me = {.role = "client", .stage = -1};
	struct net_link *l = NULL;
	struct proto_msg hello;
	struct exo_err e = {0};
	if (serve_connect(addr, (int)i, &no, &me, &l, &hello, &e) < 0) {
		snprintf(msg, sizeof msg, "stage %zu (%s): %s", i, addr, e.msg);
		*check = vcheck_new("plan", "plan.live", "fail", msg);
		return;
	}
	double rtt = ping_rtt(l, &e);
	net_close(l);
	const char *fault = NULL;
	char why[600] = "";
	if (hello.layer_start != first || hello.layer_end != last) {
		snprintf(why, sizeof why, "; the plan says layers %d..%d", first, last - 1);
		fault = why;
	} else if (*revision && strcmp(revision, hello.revision)) {
		snprintf(why, sizeof why, "; other stages serve revision %s", revision);
		fault = why;
	} else if (!*revision) {
		snprintf(revision, rev_len, "%s", hello.revision);
	}
	snprintf(msg, sizeof msg, "stage %zu (%s): protocol %d, layers %d..%d of %s@%s, round trip %.0f us%s", i,
		 addr, hello.version, hello.layer_start, hello.layer_end - 1, hello.model, hello.revision,
		 rtt * 1e6, fault ? fault : "");
	*check = vcheck_new("plan", "plan.live", fault || rtt < 0 ? "fail" : "ok", msg);
	json_object_set_new(*check, "rtt_seconds", json_real(rtt));
	proto_msg_free(&hello);
}

void plan_live_checks(const struct plan_rec *plan, const uint8_t *key, struct vcheck_out *out)
{
	char revision[PROTO_ID_MAX];
	snprintf(revision, sizeof revision, "%s", plan->revision ? plan->revision : "");
	for (size_t i = 0; i < plan->n_stages; i++) {
		json_t *c = NULL;
		live_stage(&plan->stages[i], i, key, revision, sizeof revision, &c);
		vcheck_emit(out, c);
	}
}
