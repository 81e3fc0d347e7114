/* The cluster as the planner sees it: one unit per node, its CPU and RAM
 * (this build has no GPU backend: GPUs a node would use get a note), with
 * its memory budget, memory bandwidth and network figures, each marked
 * measured (a bench record), detected (the node record) or default.  Records
 * whose figures no real machine reaches are refused, and so is a cluster of
 * more nodes than a plan may hold, before any node is looked at. */
#include "planner/planner.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEFAULT_CPU_BW 20e9      /* dual-channel DDR4, conservatively */
#define DEFAULT_RTT 0.5e-3       /* a LAN round trip */
#define DEFAULT_NET_BW 125e6     /* 1 Gb/s */
#define DEFAULT_FRACTION 0.9

const char *plan_source_name(enum plan_source s)
{
	static const char *const names[] = { "measured", "detected", "estimated", "default" };
	return names[s];
}

/* The value of the bench record (suite, name) for node, or 0. */
/* The best figure among the node's bench records of suite whose name is
 * one of names (NULL-terminated): the largest rate, or with lowest set the
 * smallest time.  exo-bench writes one record per thread count, so the best
 * is what the node can do. */
static double bench_best(json_t *const *recs, size_t n, const char *node, const char *suite,
			 const char *const *names, int lowest)
{
	double best = 0;
	for (size_t i = 0; i < n; i++) {
		const json_t *r = recs[i];
		const char *k = json_string_value(json_object_get(r, "kind"));
		const char *nd = json_string_value(json_object_get(r, "node"));
		const char *su = json_string_value(json_object_get(r, "suite"));
		const char *nm = json_string_value(json_object_get(r, "name"));
		double v = json_number_value(json_object_get(r, "value"));
		if (!k || strcmp(k, "bench") || !nd || strcmp(nd, node) || !su || strcmp(su, suite) || !nm || v <= 0)
			continue;
		for (const char *const *w = names; *w; w++)
			if (!strcmp(nm, *w) && (best == 0 || (lowest ? v < best : v > best)))
				best = v;
	}
	return best;
}

/* exo-bench's names first, then the short ones exo-partition(1) also reads. */
static const char *const triad_names[] = {"triad_bytes_per_s", "triad", NULL};
static const char *const rtt_names[] = {"rtt_seconds", "rtt", NULL};
static const char *const net_bw_names[] = {"echo_bytes_per_s", "bandwidth", NULL};

static double bench(json_t *const *recs, size_t n, const char *node, const char *suite,
		    const char *name)
{
	const char *const one[] = {name, NULL};
	const char *const *names = !strcmp(name, "triad") ? triad_names : !strcmp(name, "rtt") ? rtt_names
		: !strcmp(name, "bandwidth") ? net_bw_names : one;
	return bench_best(recs, n, node, suite, names, names == rtt_names);
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

static void set_bw(struct plan_unit *u, double measured, double detected, double fallback)
{
	if (measured > 0)
		u->bandwidth = measured, u->bw_source = PS_MEASURED;
	else if (detected > 0)
		u->bandwidth = detected, u->bw_source = PS_DETECTED;
	else
		u->bandwidth = fallback, u->bw_source = PS_DEFAULT;
}

static struct plan_unit *new_unit(struct plan_cluster *c, const struct plan_unit *proto)
{
	c->units = xrealloc(c->units, (c->n + 1) * sizeof *c->units);
	c->units[c->n] = *proto;
	return &c->units[c->n++];
}

/* GPUs stay in the node record (detection and compatibility are real) but
 * this build computes on CPUs only: a node's GPUs that it would use get a
 * note, and its stage is planned on its CPU and RAM. */
static void gpu_notes(struct plan_cluster *c, const char *node_name, const json_t *node)
{
	size_t i, n = 0;
	json_t *g;
	char list[512] = "";
	json_array_foreach(json_object_get(node, "gpus"), i, g) {
		const char *name = json_string_value(json_object_get(g, "name"));
		const char *be = json_string_value(json_object_get(g, "backend"));
		if (json_is_false(json_object_get(g, "used")))
			continue;
		size_t at = strlen(list);
		snprintf(list + at, sizeof list - at, "%s%s (%s)", n ? ", " : "", name ? name : "?",
			 be ? be : "?");
		n++;
	}
	if (n)
		json_array_append_new(c->notes, json_sprintf(
			"node '%s': %s not planned: this build has no GPU backend, so its stage runs on the "
			"CPU with the node's RAM", node_name, list));
}

/* A figure no real machine reaches: a record that claims one is refused
 * rather than planned (sums and shares of such figures overflow). */
#define PLAN_MAX_FIGURE ((double)(1ull << 50))

static int check_figure(const json_t *rec, size_t index, const char *name, const char *field,
			struct exo_err *e)
{
	const json_t *v = json_object_get(rec, field);
	double x = json_number_value(v);
	if (!v || x <= PLAN_MAX_FIGURE)
		return 0;
	char text[32];
	if (json_is_integer(v))
		snprintf(text, sizeof text, "%lld", (long long)json_integer_value(v));
	else
		snprintf(text, sizeof text, "%.6g", x);
	return exo_error(e, EXO_DATAERR, "record %zu (node '%s'): field '%s': %s is beyond any real "
			 "machine (at most 2^50)", index, name, field, text);
}

/* The node's own figures, and those of the bench records it is named in. */
static int check_figures(const json_t *node, size_t index, const char *name, json_t *const *recs,
			 size_t n, struct exo_err *e)
{
	static const char *const fields[] = { "mem_total", "mem_available", "mem_bandwidth" };
	for (size_t i = 0; i < sizeof fields / sizeof *fields; i++)
		if (check_figure(node, index, name, fields[i], e) < 0)
			return -1;
	for (size_t i = 0; i < n; i++) {
		const json_t *r = recs[i];
		const char *k = json_string_value(json_object_get(r, "kind"));
		const char *nd = json_string_value(json_object_get(r, "node"));
		const char *nm = json_string_value(json_object_get(r, "name"));
		double v = json_number_value(json_object_get(r, "value"));
		if (k && !strcmp(k, "bench") && nd && !strcmp(nd, name) && v > PLAN_MAX_FIGURE)
			return exo_error(e, EXO_DATAERR, "record %zu (bench '%s' of node '%s'): field "
					 "'value': %.6g is beyond any real machine (at most 2^50)", i,
					 nm ? nm : "?", name, v);
	}
	return 0;
}

static int add_node(struct plan_cluster *c, const json_t *node, size_t index, double fraction,
		    json_t *const *recs, size_t n, struct exo_err *e)
{
	struct plan_unit proto = { .port = 0 };
	const char *name = json_string_value(json_object_get(node, "name"));
	if (strlen(name) >= sizeof proto.node || !name[0])
		return exo_error(e, EXO_DATAERR, "record %zu (node '%.40s'): name empty or longer than %zu "
				 "bytes", index, name, sizeof proto.node - 1);
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->units[i].node, name) == 0)
			return exo_error(e, EXO_DATAERR, "node '%s': two node records with this name", name);
	if (check_figures(node, index, name, recs, n, e) < 0)
		return -1;
	snprintf(proto.node, sizeof proto.node, "%s", name);
	const char *adv = json_string_value(json_object_get(node, "advertise"));
	if (adv)
		split_advertise(adv, proto.host, sizeof proto.host, &proto.port);
	else
		proto.no_address = node_host(node, proto.host, sizeof proto.host);
	double nf = json_number_value(json_object_get(node, "memory_fraction"));
	double f = fraction > 0 ? fraction : nf > 0 && nf <= 1 ? nf : DEFAULT_FRACTION;
	net_figures(&proto, node, recs, n);
	gpu_notes(c, name, node);
	struct plan_unit *u = new_unit(c, &proto);
	snprintf(u->device, sizeof u->device, "cpu");
	u->mem_total = uint_field(node, "mem_total");
	uint64_t avail = uint_field(node, "mem_available");
	u->mem_budget = (uint64_t)floor((double)(avail ? avail : u->mem_total) * f);
	set_bw(u, bench(recs, n, name, "memory", "triad"),
	       json_number_value(json_object_get(node, "mem_bandwidth")), DEFAULT_CPU_BW);
	return 0;
}

static size_t count_nodes(json_t *const *recs, size_t n)
{
	size_t nodes = 0;
	for (size_t i = 0; i < n; i++) {
		const char *k = json_string_value(json_object_get(recs[i], "kind"));
		nodes += k && strcmp(k, "node") == 0;
	}
	return nodes;
}

int plan_cluster_build(struct plan_cluster *c, json_t *const *recs, size_t n, double fraction,
		       struct exo_err *e)
{
	memset(c, 0, sizeof *c);
	size_t nodes = count_nodes(recs, n);
	if (nodes == 0)
		return exo_error(e, EXO_DATAERR, "no node records in the input: pipe exo-detect's "
				 "output in, or name files of node records");
	if (nodes > PLAN_MAX_UNITS)
		return exo_error(e, EXO_DATAERR, "%zu node records: at most %d can be planned", nodes,
				 PLAN_MAX_UNITS);
	c->notes = json_array();
	for (size_t i = 0; i < n; i++) {
		const char *k = json_string_value(json_object_get(recs[i], "kind"));
		if (k && strcmp(k, "node") == 0 && add_node(c, recs[i], i, fraction, recs, n, e) < 0) {
			plan_cluster_free(c);
			return -1;
		}
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
