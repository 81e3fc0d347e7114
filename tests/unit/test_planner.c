/* Planner: ring-memory ranges worked out by hand from exo's definition,
 * Python's round(x, 5), latency against ring-memory on a mixed cluster,
 * throughput, one node, a one-layer model, more nodes than layers, equal
 * memory, infeasible requests and their messages, the profile of the tiny
 * checkpoints. */
#include "kernels/kern.h"
#include "planner/planner.h"
#include "records/record.h"
#include "tests/tap.h"
/* The planner's, the stages' and the API's headers in one file: their type
 * names do not collide (struct plan_stage is the planner's, serve_stage a
 * stage's view of the plan record, api_gen the API's generation). */
#include "api/api_int.h"
#include "serve/serve.h"
#include "validate/plan_live.h"

#include <unistd.h>

#define GiB (1ull << 30)

/* A cluster from "name:mem_GiB:bandwidth_GBps" items: CPU nodes whose
 * mem_total and mem_available are mem GiB (budget 0.9 of it). */
static void cluster(struct plan_cluster *c, const char *spec)
{
	json_t *recs[32];
	size_t n = 0;
	char buf[512], *save = NULL;
	snprintf(buf, sizeof buf, "%s", spec);
	for (char *t = strtok_r(buf, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
		char name[64];
		double mem, bw;
		if (sscanf(t, "%63[^:]:%lf:%lf", name, &mem, &bw) != 3)
			abort();
		recs[n++] = json_pack("{s:s, s:i, s:s, s:s, s:I, s:I, s:f}", "kind", "node", "v", 1,
				      "name", name, "arch", "x86_64", "mem_total", (json_int_t)(mem * GiB),
				      "mem_available", (json_int_t)(mem * GiB), "mem_bandwidth", bw * 1e9);
	}
	struct exo_err e;
	if (plan_cluster_build(c, recs, n, 0, &e) < 0)
		diag("cluster: %s", e.msg);
	for (size_t i = 0; i < n; i++)
		json_decref(recs[i]);
}

/* A model of L layers of layer_gib each; embedding and head of 1/4 GiB. */
static void model(struct plan_model *m, int layers, double layer_gib, uint64_t kv_token)
{
	json_t *r = json_pack("{s:s, s:i, s:s, s:s, s:i, s:i, s:I, s:I, s:I, s:I, s:i, s:i, s:i, s:s}",
			      "kind", "model", "v", 1, "id", "test/m", "architecture", "LlamaForCausalLM",
			      "layers", layers, "hidden", 4096,
			      "bytes_per_layer", (json_int_t)(layer_gib * GiB), "embed_bytes",
			      (json_int_t)(GiB / 4), "head_bytes", (json_int_t)(GiB / 4),
			      "kv_bytes_per_token", (json_int_t)kv_token * layers, "vocab", 32000,
			      "context", 8192, "head_dim", 128, "dtype", "bf16");
	struct exo_err e;
	if (plan_model_from_record(m, r, &e) < 0)
		diag("model: %s", e.msg);
	json_decref(r);
}

static struct plan_request req(enum plan_strategy s)
{
	return (struct plan_request){ .strategy = s, .ctx = 1024, .sessions = 1,
				      .port_base = PLAN_PORT_BASE };
}

/* "node:start-end node:start-end" (end exclusive) of a result. */
static const char *ranges(const struct plan_cluster *c, const struct plan_result *p)
{
	static char buf[1024];
	size_t n = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < p->n && n < sizeof buf; i++)
		n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%s:%d-%d", i ? " " : "",
				      c->units[p->stages[i].unit].node, p->stages[i].layer_start,
				      p->stages[i].layer_end);
	return buf;
}

static void ring_case(const char *nodes, int layers, const char *want, const char *why)
{
	struct plan_cluster c;
	struct plan_model m;
	struct plan_result p;
	struct plan_request r = req(PLAN_RING_MEMORY);
	struct exo_err e;
	cluster(&c, nodes);
	model(&m, layers, 0.001, 0);
	if (plan_make(&m, &c, &r, &p, &e) < 0) {
		ok(0, "ring-memory %s: %s", why, e.msg);
	} else {
		is_str(ranges(&c, &p), want, "ring-memory %s: %s", why, want);
		plan_result_free(&p);
	}
	plan_model_free(&m);
	plan_cluster_free(&c);
}

static void test_round5(void)
{
	/* The values Python 3 prints for round(x, 5). */
	ok(plan_round5(0.015625) == 0.01562, "round5(1/64) = 0.01562: an exact tie goes to even");
	ok(plan_round5(0.046875) == 0.04688, "round5(3/64) = 0.04688: an exact tie goes to even");
	ok(plan_round5(0.984375) == 0.98438, "round5(63/64) = 0.98438");
	ok(plan_round5(0.123455) == 0.12345, "round5(0.123455) = 0.12345: the double is below the tie");
	ok(plan_round5(0.33333 + 1.0 / 3) == 0.66666, "round5(0.33333 + 1/3) = 0.66666");
	ok(plan_round5(1.000005) == 1.00001, "round5(1.000005) = 1.00001");
}

/* Each case worked out by hand from exo's code (see ring.c):
 *   sort by (memory, name) descending; end = round(start + mem/total, 5);
 *   layers int(start*L) .. int(end*L)-1 inclusive, the last to L-1. */
static void test_ring(void)
{
	/* a 16, c 8, b 8 (tie: name descending puts c first); total 32.
	 * a: end 0.5 -> 0..15; c: end 0.75 -> 16..23; b: end 1.0 -> 24..31. */
	ring_case("a:16:50 b:8:50 c:8:50", 32, "a:0-16 c:16-24 b:24-32", "16/8/8 GiB, 32 layers");
	/* z, y, x equal: ends 0.33333, round(0.33333+1/3)=0.66666, 0.99999.
	 * z: int(0)..int(1.33332)-1 = 0..0; y: 1..int(2.66664)-1 = 1..1; x: 2..3. */
	ring_case("x:8:50 y:8:50 z:8:50", 4, "z:0-1 y:1-2 x:2-4", "three equal nodes, 4 layers");
	/* 5, 3, 2, 1 GiB over 7 layers: ends 0.45455, round(0.45455+3/11)=0.72728,
	 * round(0.72728+2/11)=0.9091, 1.00001.  a: 0..int(3.18185)-1=2;
	 * b: 3..int(5.09096)-1=4; c: 5..int(6.3637)-1=5; d: 6..6. */
	ring_case("d:1:50 c:2:50 b:3:50 a:5:50", 7, "a:0-3 b:3-5 c:5-6 d:6-7", "5/3/2/1 GiB, 7 layers");
	/* 63 and 1 GiB over 64 layers: 63/64 = 0.984375 is a tie at the 6th
	 * decimal; Python rounds it to 0.98438, so int(0.98438*64)-1 = 62 and
	 * big gets 63 layers (0.98437 would give it 62). */
	ring_case("big:63:50 small:1:50", 64, "big:0-63 small:63-64", "63/1 GiB: round half even");
	/* One layer, three equal nodes: c: 0..int(0.33333)-1 = -1, empty; b:
	 * int(0.33333)=0..int(0.66666)-1 = -1, empty; a (last): 0..0.  c and b are
	 * left out of the chain instead of breaking it. */
	ring_case("a:8:50 b:8:50 c:8:50", 1, "a:0-1", "one layer, three nodes (more nodes than layers)");
	ring_case("solo:8:50", 5, "solo:0-5", "one node");
}

static void test_ring_notes(void)
{
	struct plan_cluster c;
	struct plan_model m;
	struct plan_result p;
	struct plan_request r = req(PLAN_RING_MEMORY);
	struct exo_err e;
	cluster(&c, "a:8:50 b:8:50 c:8:50");
	model(&m, 1, 0.001, 0);
	if (plan_make(&m, &c, &r, &p, &e) == 0) {
		is_int(json_array_size(p.notes), 2, "ring-memory: a note for each node left out");
		ok(strstr(json_string_value(json_array_get(p.notes, 0)), "'c' (cpu) left out") != NULL,
		   "the note names the node: %s", json_string_value(json_array_get(p.notes, 0)));
		plan_result_free(&p);
	} else {
		ok(0, "one-layer ring: %s", e.msg);
		ok(0, "no notes");
	}
	plan_model_free(&m);
	plan_cluster_free(&c);
}

/* fast: 24 GiB at 100 GB/s; slow: 64 GiB at 20 GB/s; 32 layers of 1 GiB. */
static void test_latency_vs_ring(void)
{
	struct plan_cluster c;
	struct plan_model m;
	struct plan_result lat, ring;
	struct plan_request rl = req(PLAN_LATENCY), rr = req(PLAN_RING_MEMORY);
	struct exo_err e;
	cluster(&c, "fast:24:100 slow:64:20");
	model(&m, 32, 1.0, 4096);
	int a = plan_make(&m, &c, &rl, &lat, &e), b = plan_make(&m, &c, &rr, &ring, &e);
	ok(a == 0 && b == 0, "both strategies fit");
	if (a || b)
		return;
	/* ring-memory: slow 64/88 -> end 0.72727 -> layers 0..22; fast 23..31. */
	is_str(ranges(&c, &ring), "slow:0-23 fast:23-32", "ring-memory weights by memory");
	/* latency: fast is the last stage and takes what fits in 21.6 GiB:
	 * head 0.25 + 4 MiB KV per layer + activations -> 21 layers (11..31). */
	is_str(ranges(&c, &lat), "slow:0-11 fast:11-32", "latency fills the faster node first");
	ok(lat.stages[1].layer_end - lat.stages[1].layer_start >
	   ring.stages[1].layer_end - ring.stages[1].layer_start,
	   "latency puts more layers on the fast node than ring-memory");
	ok(lat.seconds_per_token < ring.seconds_per_token,
	   "latency predicts less time per token: %.3f s < %.3f s", lat.seconds_per_token,
	   ring.seconds_per_token);
	struct plan_result thr;
	struct plan_request rt = req(PLAN_THROUGHPUT);
	rt.sessions = 8;
	if (plan_make(&m, &c, &rt, &thr, &e) == 0) {
		ok(thr.aggregate_tokens_per_s >= lat.aggregate_tokens_per_s,
		   "throughput: aggregate %.2f t/s >= latency's %.2f", thr.aggregate_tokens_per_s,
		   lat.aggregate_tokens_per_s);
		plan_result_free(&thr);
	} else {
		ok(0, "throughput: %s", e.msg);
	}
	plan_result_free(&lat);
	plan_result_free(&ring);
	plan_model_free(&m);
	plan_cluster_free(&c);
}

static void test_throughput_balances(void)
{
	/* Two equal nodes with room for everything: latency keeps one stage,
	 * throughput with 2 sessions splits 16/16 to halve the bottleneck. */
	struct plan_cluster c;
	struct plan_model m;
	struct plan_result p;
	struct plan_request r = req(PLAN_THROUGHPUT);
	struct exo_err e;
	r.sessions = 2;
	cluster(&c, "p:64:50 q:64:50");
	model(&m, 32, 1.0, 0);
	if (plan_make(&m, &c, &r, &p, &e) == 0) {
		is_str(ranges(&c, &p), "q:0-16 p:16-32", "throughput balances two equal nodes");
		plan_result_free(&p);
	} else {
		ok(0, "throughput: %s", e.msg);
	}
	r = req(PLAN_LATENCY);
	if (plan_make(&m, &c, &r, &p, &e) == 0) {
		is_str(ranges(&c, &p), "p:0-32", "latency keeps one stage when it fits (no hop)");
		plan_result_free(&p);
	} else {
		ok(0, "latency: %s", e.msg);
	}
	plan_model_free(&m);
	plan_cluster_free(&c);
}

static void test_small_cases(void)
{
	struct plan_cluster c;
	struct plan_model m;
	struct plan_result p;
	struct exo_err e;
	for (int s = PLAN_LATENCY; s <= PLAN_RING_MEMORY; s++) {
		struct plan_request r = req((enum plan_strategy)s);
		cluster(&c, "a:8:50 b:8:60 c:8:70");
		model(&m, 1, 0.5, 0);
		if (plan_make(&m, &c, &r, &p, &e) == 0) {
			ok(p.n == 1 && p.stages[0].layer_start == 0 && p.stages[0].layer_end == 1,
			   "%s: a one-layer model on three nodes is one stage (%s)",
			   plan_strategy_name(r.strategy), ranges(&c, &p));
			plan_result_free(&p);
		} else {
			ok(0, "%s: %s", plan_strategy_name(r.strategy), e.msg);
		}
		plan_model_free(&m);
		plan_cluster_free(&c);
	}
	/* The slowest device holds one layer but not the embedding as well:
	 * latency moves mid (1.35 GiB budget) to the front.  4 x 1 GiB layers. */
	{
		struct plan_request rl = req(PLAN_LATENCY);
		cluster(&c, "fast:3:100 mid:1.5:80 tiny:1.2:20");
		model(&m, 4, 1.0, 0);
		if (plan_make(&m, &c, &rl, &p, &e) == 0) {
			is_str(ranges(&c, &p), "mid:0-1 tiny:1-2 fast:2-4",
			       "latency: another device leads when the slowest cannot hold the embedding");
			plan_result_free(&p);
		} else {
			ok(0, "lead: %s", e.msg);
		}
		plan_model_free(&m);
		plan_cluster_free(&c);
	}
	/* Equal memory and bandwidth: the name decides, every time. */
	struct plan_request r = req(PLAN_LATENCY);
	cluster(&c, "m2:8:50 m1:8:50");
	model(&m, 10, 0.5, 0);
	if (plan_make(&m, &c, &r, &p, &e) == 0) {
		is_str(ranges(&c, &p), "m1:0-10", "latency tie-break: the first name wins");
		plan_result_free(&p);
	}
	plan_model_free(&m);
	plan_cluster_free(&c);
}

static void infeasible(const char *nodes, int layers, double gib, uint64_t kv, int ctx,
		       enum plan_strategy s, const char *const *want)
{
	struct plan_cluster c;
	struct plan_model m;
	struct plan_result p;
	struct plan_request r = req(s);
	struct exo_err e;
	r.ctx = ctx;
	cluster(&c, nodes);
	model(&m, layers, gib, kv);
	int rc = plan_make(&m, &c, &r, &p, &e);
	is_int(rc, -1, "%s: %d x %.1f GiB on %s does not fit", plan_strategy_name(s), layers, gib, nodes);
	is_int(e.code, EXO_FAIL, "status 1");
	ok(!strchr(e.msg, '\n'), "one line: %s", e.msg);
	for (; *want; want++)
		ok(strstr(e.msg, *want) != NULL, "the message says '%s'", *want);
	plan_model_free(&m);
	plan_cluster_free(&c);
}

static void test_infeasible(void)
{
	/* 80 x 1 GiB on 2 x 14.4 GiB: q4_0 (80 x 0.28 GiB) fits; the context
	 * does not help; 4 more 16 GiB nodes would. */
	static const char *const w1[] = { "needs 80.5 GiB", "offer 28.8 GiB", "--dtype q4_0",
					  "4 more devices like 'a' (cpu)", NULL };
	infeasible("a:16:50 b:16:50", 80, 1.0, 0, 1024, PLAN_LATENCY, w1);
	/* 16.5 GiB of weights fit in 21.6 GiB, but not with 64 KiB of KV per
	 * token and layer at 4096 positions (8 GiB): 2 MiB a position leaves
	 * room for 2611 positions, so --ctx 2560; q8_0 halves the weights. */
	static const char *const w2[] = { "KV 8.0 GiB", "--ctx 2560", "--dtype q8_0",
					  "device offers 21.6 GiB", NULL };
	infeasible("a:24:50", 32, 0.5, 64u << 10, 4096, PLAN_LATENCY, w2);
	/* ring-memory overflows one node although the total would do. */
	static const char *const w3[] = { "ring-memory gives 'small' (cpu) layers", NULL };
	infeasible("big:40:50 small:2:50", 32, 1.0, 0, 1024, PLAN_RING_MEMORY, w3);
}

static void test_profile(void)
{
	char dir[4096];
	struct plan_model m;
	struct exo_err e;
	snprintf(dir, sizeof dir, "%s/fixtures/models/llama3-tiny", tap_shared());
	if (plan_model_load(&m, dir, -1, &e) < 0) {
		ok(0, "llama3-tiny: %s", e.msg);
		return;
	}
	/* q, k, v, o: 64x64, 32x64, 32x64, 64x64; gate, up, down: 160x64 each;
	 * 43008 weights + two norms of 64 f32. */
	is_int(m.dtype, KD_F32, "llama3-tiny is stored f32");
	is_int(m.layer_bytes[0], 43008 * 4 + 512, "f32 layer: 172544 bytes");
	is_int(m.embed_bytes, 512 * 64 * 4, "embedding 512 x 64 f32");
	is_int(m.head_bytes, 512 * 64 * 4 + 256, "head: lm_head + final norm");
	is_int(m.kv_bytes_token_layer, 2 * 2 * 16 * 4, "KV per token and layer: K and V, 2 heads of 16, f32");
	is_int(plan_model_total(&m), 952576, "total: the checkpoint's tensor bytes");
	plan_model_set_dtype(&m, KD_Q4_0, &e);
	is_int(m.layer_bytes[0], 43008 / 32 * 18 + 512, "q4_0 layer: 18 bytes per 32 weights, norms f32");
	plan_model_set_dtype(&m, KD_Q8_0, &e);
	is_int(m.layer_bytes[0], 43008 / 32 * 34 + 512, "q8_0 layer: 34 bytes per 32 weights");
	plan_model_free(&m);
	snprintf(dir, sizeof dir, "%s/fixtures/models/qwen2-tiny", tap_shared());
	if (plan_model_load(&m, dir, KD_BF16, &e) < 0) {
		ok(0, "qwen2-tiny: %s", e.msg);
		return;
	}
	ok(m.tied, "qwen2-tiny ties its embeddings");
	is_int(m.head_bytes, 512 * 64 * 2 + 256, "tied: the head stage holds the embedding (bf16) + norm");
	is_int(plan_stage_weights(&m, 0, m.layers), plan_model_total(&m),
	       "one stage holds a tied embedding once");
	plan_model_free(&m);
	snprintf(dir, sizeof dir, "%s/fixtures/models/llama3-tiny-sharded", tap_shared());
	if (plan_model_load(&m, dir, -1, &e) == 0) {
		is_int(plan_model_total(&m), 952576, "sharded checkpoint: the same sizes");
		plan_model_free(&m);
	} else {
		ok(0, "sharded: %s", e.msg);
	}
}

/* Devices and addresses from node records as exo-detect writes them. */
static void test_cluster(void)
{
	const char *text =
		"[{\"kind\":\"node\",\"v\":1,\"name\":\"g\",\"arch\":\"x86_64\",\"mem_total\":68719476736,"
		"\"advertise\":\"[fd00::5]:7000\",\"memory_fraction\":0.8,\"gpus\":["
		"{\"name\":\"NVIDIA GeForce RTX 4090\",\"backend\":\"cuda\",\"used\":true,\"device_ordinal\":1,"
		"\"memory_total\":25757220864,\"memory_free\":25000000000},"
		"{\"name\":\"NVIDIA T400\",\"backend\":\"cuda\",\"used\":false,\"memory_total\":2147483648}]},"
		"{\"kind\":\"node\",\"v\":1,\"name\":\"r\",\"arch\":\"x86_64\",\"mem_total\":34359738368,"
		"\"mem_available\":30000000000,\"gpus\":[{\"name\":\"Radeon RX 7900 XTX\",\"backend\":\"rocm\","
		"\"used\":true,\"memory_total\":25769803776}],\"net\":[{\"name\":\"lo2\",\"state\":\"up\","
		"\"addresses\":[\"fe80::1/64\",\"192.168.1.7/24\"],\"speed\":1250000000}]},"
		"{\"kind\":\"bench\",\"v\":1,\"node\":\"r\",\"suite\":\"memory\",\"name\":\"triad\",\"value\":4.5e10},"
		"{\"kind\":\"bench\",\"v\":1,\"node\":\"g\",\"suite\":\"network\",\"name\":\"rtt\",\"value\":0.002}]";
	json_t *arr = json_loads(text, 0, NULL);
	json_t *recs[4];
	for (size_t i = 0; i < 4; i++)
		recs[i] = json_array_get(arr, i);
	struct plan_cluster c;
	struct exo_err e;
	if (plan_cluster_build(&c, recs, 4, 0, &e) < 0) {
		ok(0, "cluster: %s", e.msg);
		json_decref(arr);
		return;
	}
	is_int(c.n, 2, "two devices: the CPUs of g and r (no GPU backend in this build)");
	is_str(c.units[0].device, "cpu", "g's used CUDA GPU is not planned: its stage is on the CPU");
	is_int(c.units[0].mem_budget, 54975581388, "g's budget: its RAM x the node's fraction 0.8");
	ok(c.units[0].bandwidth == 20e9 && c.units[0].bw_source == PS_DEFAULT,
	   "g's CPU: the default bandwidth, not the GPU's");
	ok(c.units[0].rtt == 0.002 && c.units[0].rtt_source == PS_MEASURED, "rtt from the bench record");
	is_str(c.units[0].host, "fd00::5", "advertised IPv6 host");
	is_int(c.units[0].port, 7000, "advertised port");
	is_str(c.units[1].device, "cpu", "a node whose only GPU is ROCm plans on its CPU");
	is_int(c.units[1].mem_budget, 27000000000, "CPU budget: mem_available x 0.9");
	ok(c.units[1].bandwidth == 4.5e10 && c.units[1].bw_source == PS_MEASURED, "triad measured");
	is_str(c.units[1].host, "192.168.1.7", "the first routable address, link-local skipped");
	ok(c.units[1].net_bandwidth == 1.25e9 && c.units[1].net_source == PS_DETECTED,
	   "network bandwidth: the interface speed");
	const char *n0 = json_string_value(json_array_get(c.notes, 0));
	const char *n1 = json_string_value(json_array_get(c.notes, 1));
	ok(json_array_size(c.notes) == 2 && n0 && strstr(n0, "node 'g'") && strstr(n0, "RTX 4090") &&
	   !strstr(n0, "T400") && strstr(n0, "no GPU backend"),
	   "a note says g's used GPU is not planned, and why: %s", n0 ? n0 : "(none)");
	ok(n1 && strstr(n1, "node 'r'") && strstr(n1, "rocm"), "and one for r's ROCm GPU: %s",
	   n1 ? n1 : "(none)");
	/* Addresses in a plan: g has one stage and its advertised address; r
	 * has no port, so base + index. */
	struct plan_model m;
	struct plan_result p;
	struct plan_request r = req(PLAN_RING_MEMORY);
	model(&m, 8, 0.5, 0);
	if (plan_make(&m, &c, &r, &p, &e) == 0) {
		json_t *plan = plan_record(&m, &c, &r, &p);
		json_t *st = json_object_get(plan, "stages");
		is_str(json_string_value(json_object_get(json_array_get(st, 0), "address")),
		       "[fd00::5]:7000", "stage 0 (g, 64 GiB first): its advertised address");
		is_str(json_string_value(json_object_get(json_array_get(st, 1), "address")),
		       "192.168.1.7:52417", "stage 1 (r): host:52416 + 1");
		json_t *notes = json_object_get(plan, "notes");
		int gpu_note = 0;
		for (size_t i = 0; i < json_array_size(notes); i++)
			gpu_note |= strstr(json_string_value(json_array_get(notes, i)), "no GPU backend") != NULL;
		ok(gpu_note, "the plan's notes say the GPUs are not planned");
		json_decref(plan);
		plan_result_free(&p);
	} else {
		ok(0, "plan: %s", e.msg);
		ok(0, "no plan");
	}
	plan_model_free(&m);
	plan_cluster_free(&c);
	json_decref(arr);
}

/* Records claiming figures no machine has are refused, naming record and
 * field; more node records than a plan holds are refused before any is
 * looked at; the ring's sum cannot overflow into shares above 1. */
static void test_hostile_records(void)
{
	json_t *recs[3];
	struct plan_cluster c;
	struct exo_err e;
	for (int i = 0; i < 3; i++)
		recs[i] = json_pack("{s:s, s:i, s:s, s:s, s:I}", "kind", "node", "v", 1, "name",
				    i == 0 ? "a" : i == 1 ? "b" : "c", "arch", "x86_64", "mem_total",
				    (json_int_t)INT64_MAX);
	is_int(plan_cluster_build(&c, recs, 3, 0, &e), -1, "three nodes of 2^63-1 bytes: refused");
	is_int(e.code, EXO_DATAERR, "status 65");
	ok(strstr(e.msg, "record 0 (node 'a')") && strstr(e.msg, "'mem_total'"),
	   "the message names the record and the field: %s", e.msg);
	json_object_set_new(recs[0], "mem_total", json_integer(1ll << 50));
	json_object_set_new(recs[0], "mem_bandwidth", json_real(1e300));
	is_int(plan_cluster_build(&c, recs, 1, 0, &e), -1, "a bandwidth of 1e300 B/s: refused");
	ok(strstr(e.msg, "'mem_bandwidth'") != NULL, "named: %s", e.msg);
	for (int i = 0; i < 3; i++)
		json_decref(recs[i]);

	json_t *many[PLAN_MAX_UNITS + 1];
	for (int i = 0; i <= PLAN_MAX_UNITS; i++)
		many[i] = json_pack("{s:s, s:i, s:s, s:s, s:I}", "kind", "node", "v", 1, "name",
				    "same", "arch", "x86_64", "mem_total", (json_int_t)GiB);
	is_int(plan_cluster_build(&c, many, PLAN_MAX_UNITS + 1, 0, &e), -1, "257 node records: refused");
	ok(strstr(e.msg, "257 node records: at most 256") != NULL,
	   "the count is said before anything else (not a duplicate name): %s", e.msg);
	for (int i = 0; i <= PLAN_MAX_UNITS; i++)
		json_decref(many[i]);

	/* Units built by hand, past the records' checks: the sum overflows. */
	struct plan_unit u[3] = { { .node = "a", .device = "cpu", .mem_total = UINT64_MAX / 2,
				    .mem_budget = UINT64_MAX / 4, .bandwidth = 1e10 } };
	u[1] = u[0], u[2] = u[0];
	snprintf(u[1].node, sizeof u[1].node, "b");
	snprintf(u[2].node, sizeof u[2].node, "c");
	struct plan_cluster hand = { .units = u, .n = 3, .notes = json_array() };
	struct plan_model m;
	struct plan_result p;
	struct plan_request r = req(PLAN_RING_MEMORY);
	model(&m, 4, 0.001, 0);
	int rc = plan_make(&m, &hand, &r, &p, &e);
	ok(rc < 0, "ring-memory over a sum that overflows 64 bits: no plan");
	if (rc == 0) {
		diag("%s", ranges(&hand, &p));
		plan_result_free(&p);
	}
	/* Many equal units: rounded shares sum past 1, ranges stay in the model. */
	struct plan_cluster eq;
	char spec[4096] = "";
	for (int i = 0; i < 30; i++)
		snprintf(spec + strlen(spec), sizeof spec - strlen(spec), "n%02d:7:50 ", i);
	cluster(&eq, spec);
	plan_model_free(&m);
	model(&m, 997, 0.0001, 0);
	if (plan_make(&m, &eq, &r, &p, &e) == 0) {
		int inside = 1;
		for (size_t i = 0; i < p.n; i++)
			inside &= p.stages[i].layer_end <= 997 && p.stages[i].layer_start < p.stages[i].layer_end;
		ok(inside && p.stages[p.n - 1].layer_end == 997, "30 equal nodes, 997 layers: %s", ranges(&eq, &p));
		plan_result_free(&p);
	} else {
		ok(0, "30 equal nodes: %s", e.msg);
	}
	plan_model_free(&m);
	plan_cluster_free(&eq);
	json_decref(hand.notes);
}

/* The plan record's codec: what exo-partition writes decodes to the same
 * figures and encodes back to the same record; a plan that leaves out the
 * optional fields decodes to NULL and 0 and encodes back without them. */
static void test_plan_codec(void)
{
	ok(sizeof(struct plan_stage) && sizeof(struct serve_stage) && sizeof(struct api_gen),
	   "planner.h, serve.h and api_int.h in one file: plan_stage, serve_stage, api_gen");
	struct plan_cluster c;
	struct plan_model m;
	struct plan_result p;
	struct plan_request r = req(PLAN_RING_MEMORY);
	struct exo_err e;
	cluster(&c, "a:16:50 b:8:20");
	model(&m, 10, 0.5, 1024);
	if (plan_make(&m, &c, &r, &p, &e) < 0) {
		ok(0, "plan: %s", e.msg);
		plan_model_free(&m);
		plan_cluster_free(&c);
		return;
	}
	json_t *rec = plan_record(&m, &c, &r, &p), *again;
	struct plan_rec d;
	ok(plan_rec_decode(rec, &d, &e) == 0, "the planner's record decodes");
	ok(d.n_stages == p.n && d.layers == 10 && !strcmp(d.model, "test/m") &&
	   !strcmp(d.strategy, "ring-memory") && d.context == 1024 && d.sessions == 1 && !d.path,
	   "model, strategy, layers, context and sessions decoded; no path");
	int same = d.n_stages == p.n;
	for (size_t i = 0; same && i < p.n; i++)
		same = d.stages[i].index == (int64_t)i && d.stages[i].layer_start == p.stages[i].layer_start &&
		       d.stages[i].layer_end == p.stages[i].layer_end &&
		       d.stages[i].bytes == (int64_t)p.stages[i].weight_bytes &&
		       !strcmp(d.stages[i].node, c.units[p.stages[i].unit].node) &&
		       !strcmp(d.stages[i].address, "127.0.0.1:52416") == (i == 0);
	ok(same, "every stage's index, layers, bytes, node and address decoded");
	again = plan_rec_encode(&d);
	ok(json_equal(rec, again), "encoding the decoded plan gives the planner's record back");
	json_decref(again);
	plan_rec_free(&d);
	json_decref(rec);
	plan_result_free(&p);
	plan_model_free(&m);
	plan_cluster_free(&c);

	json_t *bare = json_loads("{\"kind\":\"plan\",\"v\":1,\"model\":\"o/m\",\"strategy\":\"latency\","
				  "\"layers\":2,\"stages\":[{\"index\":0,\"node\":\"a\",\"layer_start\":0,"
				  "\"layer_end\":2}]}", 0, NULL);
	ok(plan_rec_decode(bare, &d, &e) == 0 && d.n_stages == 1 && !d.revision && !d.dtype &&
	   !d.stages[0].address && !d.stages[0].device && d.stages[0].bytes == 0 && d.context == 0,
	   "a plan without its optional fields: strings NULL, numbers 0");
	again = plan_rec_encode(&d);
	ok(!json_object_get(again, "revision") && !json_object_get(json_array_get(
	   json_object_get(again, "stages"), 0), "address") && rec_validate(again, "t", 0, &e) == 0,
	   "encoded back, it leaves them out and passes the schema");
	json_decref(again);
	plan_rec_free(&d);
	json_decref(bare);
	json_t *node = json_pack("{s:s, s:i, s:s}", "kind", "node", "v", 1, "name", "a");
	ok(plan_rec_decode(node, &d, &e) < 0 && e.code == EXO_DATAERR && strstr(e.msg, "not a plan"),
	   "a node record is not decoded as a plan: %s", e.msg);
	plan_rec_free(&d);
	json_decref(node);
}

/* plan_rec_read over a pipe of msgpack records (given as JSON lines): the
 * first plan of the stream, after records of other kinds; a stream without
 * one, and a plan the schema refuses, are named. */
static void read_case(const char *lines, const char *want, const char *why)
{
	char *buf = NULL, *copy = strdup(lines), *save = NULL;
	size_t len = 0;
	struct exo_err e = {0};
	for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		json_t *j = json_loads(l, 0, NULL);
		if (!j || rec_to_msgpack(j, &buf, &len, &e) < 0)
			diag("bad line: %s", l);
		json_decref(j);
	}
	free(copy);
	int fds[2];
	struct plan_rec d;
	if (pipe(fds) < 0 || write(fds[1], buf, len) != (ssize_t)len) {
		ok(0, "pipe: %s", why);
		free(buf);
		return;
	}
	close(fds[1]);
	free(buf);
	int rc = plan_rec_read(fds[0], "in", &d, &e);
	close(fds[0]);
	if (want)
		ok(rc < 0 && e.code == EXO_DATAERR && strstr(e.msg, want), "%s: %s", why, rc < 0 ? e.msg : "read");
	else
		ok(rc == 0 && d.n_stages == 1 && !strcmp(d.model, "o/m"), "%s", why);
	plan_rec_free(&d);
}

#define NODE_LINE "{\"kind\":\"node\",\"v\":1,\"name\":\"a\",\"arch\":\"x86_64\",\"mem_total\":1}\n"
#define PLAN_LINE(end) "{\"kind\":\"plan\",\"v\":1,\"model\":\"o/m\",\"strategy\":\"latency\"," \
	"\"layers\":2,\"stages\":[{\"index\":0,\"node\":\"a\",\"layer_start\":0,\"layer_end\":" end "}]}\n"

static void test_plan_read(void)
{
	read_case(NODE_LINE PLAN_LINE("2") NODE_LINE, NULL, "a plan after a node record is read");
	read_case(NODE_LINE, "in: no plan record", "a stream of nodes has no plan");
	read_case(PLAN_LINE("\"2\""), "in: record 0 (plan): field 'stages[0].layer_end': expected integer",
		  "a plan the schema refuses");
}

int main(void)
{
	test_hostile_records();
	test_cluster();
	test_round5();
	test_ring();
	test_ring_notes();
	test_latency_vs_ring();
	test_throughput_balances();
	test_small_cases();
	test_infeasible();
	test_profile();
	test_plan_codec();
	test_plan_read();
	return done_testing();
}
