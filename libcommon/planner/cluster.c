/* The cluster as the planner sees it: one unit per device a stage can run on
 * (each used CUDA GPU of a node, else the node's CPU and RAM), with its
 * memory budget, memory bandwidth and network figures, each marked measured
 * (a bench record), detected (the node record), estimated (the GPU table) or
 * default. */
#include "planner/planner.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEFAULT_CPU_BW 20e9      /* dual-channel DDR4, conservatively */
#define DEFAULT_GPU_BW 100e9
#define DEFAULT_RTT 0.5e-3       /* a LAN round trip */
#define DEFAULT_NET_BW 125e6     /* 1 Gb/s */
#define DEFAULT_FRACTION 0.9

/* Spec-sheet memory bandwidth of NVIDIA GPUs, bytes/s; the first entry
 * whose pattern is in the name (case-insensitive) wins, so specific names
 * come before general ones. */
static const struct { const char *pattern; double bw; } gpu_table[] = {
	{ "GH200", 4.0e12 }, { "H200", 4.8e12 }, { "H100 NVL", 3.9e12 }, { "H100 PCIe", 2.0e12 },
	{ "H100", 3.35e12 }, { "A100-SXM4-80GB", 2.039e12 }, { "A100 80GB", 1.935e12 },
	{ "A100", 1.555e12 }, { "L40S", 8.64e11 }, { "L40", 8.64e11 }, { "L4", 3.0e11 },
	{ "A30", 9.33e11 }, { "A10", 6.0e11 }, { "V100", 9.0e11 }, { "T4", 3.2e11 },
	{ "6000 Ada", 9.6e11 }, { "A6000", 7.68e11 }, { "5090", 1.792e12 }, { "5080", 9.6e11 },
	{ "4090", 1.008e12 }, { "4080", 7.17e11 }, { "4070 Ti", 5.04e11 }, { "4070", 5.04e11 },
	{ "4060 Ti", 2.88e11 }, { "4060", 2.72e11 }, { "3090 Ti", 1.008e12 }, { "3090", 9.36e11 },
	{ "3080", 7.6e11 }, { "3070", 4.48e11 }, { "3060", 3.6e11 }, { "2080 Ti", 6.16e11 },
};

double plan_gpu_bandwidth(const char *name)
{
	for (size_t i = 0; name && i < sizeof gpu_table / sizeof *gpu_table; i++)
		if (strcasestr(name, gpu_table[i].pattern))
			return gpu_table[i].bw;
	return 0;
}

const char *plan_source_name(enum plan_source s)
{
	static const char *const names[] = { "measured", "detected", "estimated", "default" };
	return names[s];
}

/* The value of the bench record (suite, name) for node, or 0. */
static double bench(json_t *const *recs, size_t n, const char *node, const char *suite,
		    const char *name)
{
	for (size_t i = 0; i < n; i++) {
		const json_t *r = recs[i];
		const char *k = json_string_value(json_object_get(r, "kind"));
		const char *nd = json_string_value(json_object_get(r, "node"));
		if (!k || strcmp(k, "bench") || !nd || strcmp(nd, node))
			continue;
		const char *su = json_string_value(json_object_get(r, "suite"));
		const char *nm = json_string_value(json_object_get(r, "name"));
		if (su && nm && strcmp(su, suite) == 0 && strcmp(nm, name) == 0 &&
		    json_number_value(json_object_get(r, "value")) > 0)
			return json_number_value(json_object_get(r, "value"));
	}
	return 0;
}

static uint64_t uint_field(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);
	return json_is_integer(v) && json_integer_value(v) > 0 ? (uint64_t)json_integer_value(v) : 0;
}

/* An "addr/prefix" usable from other machines: not loopback, not link-local. */
static int routable(const char *a)
{
	return strncmp(a, "127.", 4) && strncmp(a, "::1/", 4) && strcmp(a, "::1") &&
	       strncasecmp(a, "fe80:", 5) && strncmp(a, "169.254.", 8);
}

static void copy_host(char *out, size_t len, const char *addr)
{
	snprintf(out, len, "%s", addr);
	out[strcspn(out, "/")] = '\0';
}

/* The first routable address: IPv4 before IPv6, interfaces that are up
 * first, then the top-level addresses array; 127.0.0.1 when none. */
static bool node_host(const json_t *node, char *out, size_t len)
{
	for (int v6 = 0; v6 < 2; v6++) {
		size_t i, j;
		json_t *nic, *a;
		json_array_foreach(json_object_get(node, "net"), i, nic) {
			const char *st = json_string_value(json_object_get(nic, "state"));
			if (st && strcmp(st, "up") != 0)
				continue;
			json_array_foreach(json_object_get(nic, "addresses"), j, a) {
				const char *s = json_string_value(a);
				if (s && routable(s) && (strchr(s, ':') != NULL) == v6) {
					copy_host(out, len, s);
					return false;
				}
			}
		}
	}
	const char *s = json_string_value(json_array_get(json_object_get(node, "addresses"), 0));
	copy_host(out, len, s ? s : "127.0.0.1");
	return !s;
}

/* "host:port" or "[v6]:port" -> host and port. */
static void split_advertise(const char *adv, char *host, size_t len, int *port)
{
	const char *colon = strrchr(adv, ':');
	const char *close = strchr(adv, ']');
	*port = 0;
	if (adv[0] == '[' && close) {
		snprintf(host, len, "%.*s", (int)(close - adv - 1), adv + 1);
		if (close[1] == ':')
			*port = atoi(close + 2);
	} else if (colon && strchr(adv, ':') == colon) {
		snprintf(host, len, "%.*s", (int)(colon - adv), adv);
		*port = atoi(colon + 1);
	} else {
		snprintf(host, len, "%s", adv);
	}
	if (*port < 1 || *port > 65535)
		*port = 0;
}

static double nic_speed(const json_t *node)
{
	double best = 0;
	size_t i;
	json_t *nic;
	json_array_foreach(json_object_get(node, "net"), i, nic) {
		const char *st = json_string_value(json_object_get(nic, "state"));
		double s = json_number_value(json_object_get(nic, "speed"));
		if ((!st || strcmp(st, "up") == 0) && s > best)
			best = s;
	}
	return best;
}

static void net_figures(struct plan_unit *u, const json_t *node, json_t *const *recs, size_t n)
{
	u->rtt = bench(recs, n, u->node, "network", "rtt");
	u->rtt_source = u->rtt > 0 ? PS_MEASURED : PS_DEFAULT;
	if (u->rtt <= 0)
		u->rtt = DEFAULT_RTT;
	u->net_bandwidth = bench(recs, n, u->node, "network", "bandwidth");
	u->net_source = PS_MEASURED;
	if (u->net_bandwidth <= 0) {
		u->net_bandwidth = nic_speed(node);
		u->net_source = u->net_bandwidth > 0 ? PS_DETECTED : PS_DEFAULT;
	}
	if (u->net_bandwidth <= 0)
		u->net_bandwidth = DEFAULT_NET_BW;
}

static void set_bw(struct plan_unit *u, double measured, double detected, double estimated,
		   double fallback)
{
	if (measured > 0)
		u->bandwidth = measured, u->bw_source = PS_MEASURED;
	else if (detected > 0)
		u->bandwidth = detected, u->bw_source = PS_DETECTED;
	else if (estimated > 0)
		u->bandwidth = estimated, u->bw_source = PS_ESTIMATED;
	else
		u->bandwidth = fallback, u->bw_source = PS_DEFAULT;
}

/* A GPU the engine computes on: CUDA, and used (or, in a record without
 * "used", not judged unsupported). */
static int gpu_used(const json_t *g)
{
	const char *be = json_string_value(json_object_get(g, "backend"));
	const json_t *used = json_object_get(g, "used");
	const char *sup = json_string_value(json_object_get(g, "support"));
	if (!be || strcmp(be, "cuda") != 0)
		return 0;
	if (used)
		return json_is_true(used);
	return !sup || strcmp(sup, "unsupported") != 0;
}

static struct plan_unit *new_unit(struct plan_cluster *c, const struct plan_unit *proto)
{
	c->units = xrealloc(c->units, (c->n + 1) * sizeof *c->units);
	c->units[c->n] = *proto;
	return &c->units[c->n++];
}

static void gpu_units(struct plan_cluster *c, const struct plan_unit *proto, const json_t *node,
		      double fraction, json_t *const *recs, size_t n)
{
	size_t i;
	json_t *g;
	json_array_foreach(json_object_get(node, "gpus"), i, g) {
		const char *name = json_string_value(json_object_get(g, "name"));
		const char *be = json_string_value(json_object_get(g, "backend"));
		if (!gpu_used(g)) {
			if (be && strcmp(be, "cuda") != 0 && json_is_true(json_object_get(g, "used")))
				json_array_append_new(c->notes, json_sprintf(
					"node '%s': GPU %zu (%s, %s) left out: the engine computes on CPUs and "
					"CUDA GPUs only", proto->node, i, name ? name : "?", be));
			continue;
		}
		const json_t *ord = json_object_get(g, "device_ordinal");
		struct plan_unit *u = new_unit(c, proto);
		snprintf(u->device, sizeof u->device, "cuda:%lld",
			 json_is_integer(ord) ? (long long)json_integer_value(ord) : (long long)i);
		u->mem_total = uint_field(g, "memory_total");
		if (!u->mem_total)
			u->mem_total = uint_field(g, "mem_total");
		uint64_t avail = uint_field(g, "memory_free");
		if (!avail)
			avail = uint_field(g, "mem_available");
		if (!avail)
			avail = u->mem_total;
		u->mem_budget = (uint64_t)floor((double)avail * fraction);
		set_bw(u, bench(recs, n, u->node, "memory", u->device),
		       json_number_value(json_object_get(g, "mem_bandwidth")), plan_gpu_bandwidth(name),
		       DEFAULT_GPU_BW);
	}
}

static int add_node(struct plan_cluster *c, const json_t *node, double fraction,
		    json_t *const *recs, size_t n, struct exo_err *e)
{
	struct plan_unit proto = { .port = 0 };
	const char *name = json_string_value(json_object_get(node, "name"));
	if (strlen(name) >= sizeof proto.node || !name[0])
		return exo_error(e, EXO_DATAERR, "node record '%.40s': name empty or longer than %zu bytes",
				 name, sizeof proto.node - 1);
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->units[i].node, name) == 0)
			return exo_error(e, EXO_DATAERR, "node '%s': two node records with this name", name);
	snprintf(proto.node, sizeof proto.node, "%s", name);
	const char *adv = json_string_value(json_object_get(node, "advertise"));
	if (adv)
		split_advertise(adv, proto.host, sizeof proto.host, &proto.port);
	else
		proto.no_address = node_host(node, proto.host, sizeof proto.host);
	double nf = json_number_value(json_object_get(node, "memory_fraction"));
	double f = fraction > 0 ? fraction : nf > 0 && nf <= 1 ? nf : DEFAULT_FRACTION;
	net_figures(&proto, node, recs, n);
	size_t before = c->n;
	gpu_units(c, &proto, node, f, recs, n);
	if (c->n > before)
		return 0;
	struct plan_unit *u = new_unit(c, &proto);
	snprintf(u->device, sizeof u->device, "cpu");
	u->mem_total = uint_field(node, "mem_total");
	uint64_t avail = uint_field(node, "mem_available");
	u->mem_budget = (uint64_t)floor((double)(avail ? avail : u->mem_total) * f);
	set_bw(u, bench(recs, n, name, "memory", "triad"),
	       json_number_value(json_object_get(node, "mem_bandwidth")), 0, DEFAULT_CPU_BW);
	return 0;
}

int plan_cluster_build(struct plan_cluster *c, json_t *const *recs, size_t n, double fraction,
		       struct exo_err *e)
{
	memset(c, 0, sizeof *c);
	c->notes = json_array();
	for (size_t i = 0; i < n; i++) {
		const char *k = json_string_value(json_object_get(recs[i], "kind"));
		if (k && strcmp(k, "node") == 0 && add_node(c, recs[i], fraction, recs, n, e) < 0) {
			plan_cluster_free(c);
			return -1;
		}
	}
	if (c->n == 0) {
		plan_cluster_free(c);
		return exo_error(e, EXO_DATAERR, "no node records in the input: pipe exo-detect's "
				 "output in, or name files of node records");
	}
	if (c->n > PLAN_MAX_UNITS) {
		plan_cluster_free(c);
		return exo_error(e, EXO_DATAERR, "%zu devices: at most %d can be planned", c->n,
				 PLAN_MAX_UNITS);
	}
	return 0;
}

void plan_cluster_free(struct plan_cluster *c)
{
	free(c->units);
	json_decref(c->notes);
	c->units = NULL;
	c->notes = NULL;
	c->n = 0;
}
