/* `exo-validate plan [FILE] [--nodes FILE]`: a plan record (exo-wire(5))
 * checked for what would break a pipeline before it starts: every layer
 * covered exactly once in chain order, each stage within its node's memory,
 * every node named present among the node records given (in the same
 * stream, or in --nodes FILE). */
#include "model/config.h"
#include "model/checkpoint.h"
#include "util/file.h"
#include "config/config.h"
#include "net/net.h"
#include "planner/planner.h"
#include "validate/plan_live.h"
#include "validate/facts.h"
#include "cmd/validate/subcommand.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct plan_check {
	struct vcheck_out *out;
	const char *subject;
	const struct plan_rec *plan;
	json_t *nodes;     /* name -> node record */
};

#define pc_emit(c, ...) vcheck_emitf((c)->out, (c)->subject, __VA_ARGS__)

static json_int_t geti(const json_t *o, const char *k)
{
	return json_integer_value(json_object_get(o, k));
}

/* Stages in chain order, each range non-empty, ranges meeting end to start
 * from layer 0 to the last: any gap or overlap is named with its layers. */
static void check_coverage(struct plan_check *c)
{
	int64_t layers = c->plan->layers, expect = 0;
	size_t faults = 0;
	for (size_t i = 0; i < c->plan->n_stages; i++) {
		const struct plan_rec_stage *s = &c->plan->stages[i];
		int64_t a = s->layer_start, b = s->layer_end;
		if (s->index != (int64_t)i) {
			pc_emit(c, "plan.order", "fail", "stages[%zu] has index %lld: stages must be listed in chain order 0, 1, ...",
				i, (long long)s->index);
			faults++;
		}
		if (b <= a) {
			pc_emit(c, "plan.coverage", "fail", "stage %zu: empty or reversed range %lld..%lld", i,
				(long long)a, (long long)b);
			faults++;
		} else if (a > expect) {
			pc_emit(c, "plan.coverage", "fail", "gap: layers %lld..%lld are held by no stage (stage %zu starts at %lld)",
				(long long)expect, (long long)a - 1, i, (long long)a);
			faults++;
		} else if (a < expect) {
			pc_emit(c, "plan.coverage", "fail", "overlap: layers %lld..%lld are held by stage %zu and the stage before it",
				(long long)a, (long long)(expect < b ? expect : b) - 1, i);
			faults++;
		}
		if (b > expect)
			expect = b;
	}
	if (expect != layers) {
		pc_emit(c, "plan.coverage", "fail", expect < layers ? "layers %lld..%lld are held by no stage (the model has %lld)"
			: "the stages hold layers up to %lld but the model has %lld", expect < layers ? (long long)expect : (long long)expect - 1,
			(long long)layers - 1, (long long)layers);
		faults++;
	}
	if (!faults)
		pc_emit(c, "plan.coverage", "ok", "%zu stage(s) hold layers 0..%lld, each exactly once, in chain order",
			c->plan->n_stages, (long long)layers - 1);
}

/* Memory a stage may use: the node's available RAM (total when not given)
 * times 0.9, as exo-partition.  Every stage runs on the CPU in this build,
 * whatever device the plan names (check_devices warns of the others). */
static double device_memory(const json_t *node, char *what, size_t n)
{
	json_int_t avail = geti(node, "mem_available");
	snprintf(what, n, "%s RAM", avail ? "available" : "total");
	return 0.9 * (double)(avail ? avail : geti(node, "mem_total"));
}

static void check_stage_fit(struct plan_check *c, size_t i, const struct plan_rec_stage *s)
{
	const char *name = s->node;
	const json_t *node = name ? json_object_get(c->nodes, name) : NULL;
	if (!node) {
		pc_emit(c, "plan.nodes", json_object_size(c->nodes) ? "fail" : "warn",
			json_object_size(c->nodes) ? "stage %zu: node '%s' is not among the node records given"
			: "stage %zu: no node records given: node '%s' and its memory not checked", i, name ? name : "");
		return;
	}
	double need = (double)s->bytes + (double)s->kv_bytes;
	if (need <= 0) {
		pc_emit(c, "plan.fit", "warn", "stage %zu: the plan gives no bytes for it: fit not checked", i);
		return;
	}
	char what[64], a[32], b[32];
	double have = device_memory(node, what, sizeof what);
	pc_emit(c, "plan.fit", need <= have ? "ok" : "fail", "stage %zu on %s: needs %s (weights + KV), %s: %s",
		i, name, fmt_bytes(a, sizeof a, need), what, fmt_bytes(b, sizeof b, have));
}

/* Devices this build can run: CPUs only (there is no GPU backend yet; a
 * stage asked for another device would run on the CPU with its RAM). */
static void check_devices(struct plan_check *c)
{
	size_t odd = 0;
	for (size_t i = 0; i < c->plan->n_stages; i++) {
		const char *device = c->plan->stages[i].device;
		if (device && strcmp(device, "cpu") != 0) {
			pc_emit(c, "plan.device", "warn", "stage %zu asks for device '%s': this build runs "
				"stages on CPUs only (no GPU backend), so it would run on the CPU", i, device);
			odd++;
		}
	}
	if (!odd)
		pc_emit(c, "plan.device", "ok", "every stage runs on a CPU, which this build can run");
}

/* The model the plan names, when it can be opened here, has its layer count. */
static void check_model(struct plan_check *c)
{
	const char *model = c->plan->path ? c->plan->path : c->plan->model;
	char dir[4096];
	struct exo_err e;
	struct model_config mc;
	if (!model || ckpt_resolve(model, dir, sizeof dir, &e) < 0 || model_config_load(&mc, dir, &e) < 0) {
		pc_emit(c, "plan.model", "warn", "model %s not readable here: its layer count not checked",
			model ? model : "(none)");
		return;
	}
	int64_t layers = c->plan->layers;
	pc_emit(c, "plan.model", mc.n_layers == layers ? "ok" : "fail", "%s has %d layers; the plan says %lld",
		model, mc.n_layers, (long long)layers);
}

static void read_records(const char *path, json_t **plan, json_t *nodes)
{
	json_t *all = vread_records(path), *rec;
	size_t i;
	json_array_foreach(all, i, rec) {
		const char *kind = rec_kind(rec);
		if (!strcmp(kind, "plan") && !*plan)
			*plan = json_incref(rec);
		else if (!strcmp(kind, "node"))
			json_object_set(nodes, json_string_value(json_object_get(rec, "name")), rec);
	}
	json_decref(all);
}

static const char usage_text[] =
	"usage: exo-validate plan [FILE] [--nodes FILE] [--live [--key FILE]] [-o FORMAT] [-q]\n";

/* networking.peers of the configuration: a stage placed on a node that is
 * a peer should be reached where the peer is (exo-partition places it
 * there); another address is a warning naming both.  Nothing is said when
 * no stage is on a peer. */
static void check_peers(struct plan_check *c, const struct exo_config *conf)
{
	size_t on_peers = 0, odd = 0;
	for (size_t i = 0; i < c->plan->n_stages; i++) {
		const char *node = c->plan->stages[i].node, *addr = c->plan->stages[i].address;
		for (size_t k = 0; node && k < conf->networking.n_peers; k++) {
			const struct conf_peer *p = &conf->networking.peers[k];
			if (strcmp(p->name, node) != 0)
				continue;
			on_peers++;
			if (!addr || strcmp(addr, p->address) != 0) {
				pc_emit(c, "plan.peers", "warn", "stage %zu on peer '%s' is at %s, but "
					"networking.peers puts '%s' at %s", i, node, addr ? addr : "(no address)",
					node, p->address);
				odd++;
			}
		}
	}
	if (on_peers && !odd)
		pc_emit(c, "plan.peers", "ok", "%zu stage(s) on peers, each at its peer's address", on_peers);
}

/* The cluster key: --key FILE, else networking.clusterKey of the
 * configuration; NULL when neither names one. */
static const uint8_t *cluster_key(const char *path, const struct exo_config *conf,
				  uint8_t key[NET_KEY_BYTES])
{
	struct exo_err e = {0};
	if (!path && conf->networking.cluster_key[0])
		path = conf->networking.cluster_key;
	if (!path)
		return NULL;
	if (net_key_load(path, key, &e) < 0)
		exo_die(&e);
	return key;
}

int validate_plan(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"nodes", required_argument, NULL, 'n'}, {"output", required_argument, NULL, 'o'},
		{"live", no_argument, NULL, 'L'}, {"key", required_argument, NULL, 'k'},
		{"quiet", no_argument, NULL, 'q'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
	const char *nodes_file = NULL, *key_file = NULL;
	int live = 0;
	enum rec_format format = REC_AUTO;
	int ch;
	while ((ch = getopt_long(argc, argv, "o:qh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'n': nodes_file = optarg; break;
		case 'L': live = 1; break;
		case 'k': key_file = optarg; break;
		case 'o': format = rec_format_option(optarg); break;
		case 'q': break;
		case 'h': fputs(usage_text, stdout); exit(0);
		default: fputs(usage_text, stderr); exit(EXO_USAGE);
		}
	}
	if (argc - optind > 1) {
		fputs(usage_text, stderr);
		exit(EXO_USAGE);
	}
	const char *path = optind < argc ? argv[optind] : NULL;
	json_t *plan = NULL, *nodes = json_object();
	read_records(path, &plan, nodes);
	if (nodes_file) {
		json_t *ignored = NULL;
		read_records(nodes_file, &ignored, nodes);
		json_decref(ignored);
	}
	if (!plan)
		exo_errx(EXO_DATAERR, "%s: no plan record in the stream", path ? path : "stdin");
	struct exo_config conf;
	struct exo_err e = {0};
	struct plan_rec rec;
	if (plan_rec_decode(plan, &rec, &e) < 0)
		exo_die(&e);
	json_decref(plan);
	conf_init(&conf);
	if (conf_load(&conf, NULL, &e) < 0)
		exo_die(&e);
	struct vcheck_out out;
	vcheck_open(&out, format);
	struct plan_check c = {.out = &out, .subject = path ? path : "plan", .plan = &rec, .nodes = nodes};
	check_coverage(&c);
	for (size_t i = 0; i < rec.n_stages; i++)
		check_stage_fit(&c, i, &rec.stages[i]);
	check_devices(&c);
	check_model(&c);
	check_peers(&c, &conf);
	uint8_t key[NET_KEY_BYTES];
	if (live)
		plan_live_checks(&rec, cluster_key(key_file, &conf, key), &out);
	conf_free(&conf);
	plan_rec_free(&rec);
	json_decref(nodes);
	return vcheck_close(&out, vcheck_status(&out));
}
