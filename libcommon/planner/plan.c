/* plan_make: runs the strategy, checks memory, and when nothing fits says
 * what is needed, what is available and what would fit (a smaller dtype, a
 * smaller context, more devices like the largest). */
#include "planner/planner.h"
#include "kernels/kern.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const strategy_names[] = { "latency", "throughput", "ring-memory" };

int plan_strategy_parse(const char *name)
{
	for (int i = 0; i < 3; i++)
		if (strcmp(name, strategy_names[i]) == 0)
			return i;
	return -1;
}

const char *plan_strategy_name(enum plan_strategy s) { return strategy_names[s]; }

/* "1.5 GiB", "120.0 MiB", "512 B". */
static const char *size_str(char *buf, size_t len, uint64_t n)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB" };
	double v = (double)n;
	int u = -1;
	while (v >= 1024 && u < 4)
		v /= 1024, u++;
	if (u < 0)
		snprintf(buf, len, "%llu B", (unsigned long long)n);
	else
		snprintf(buf, len, "%.1f %s", v, units[u]);
	return buf;
}

/* The first stage that does not fit its device, or -1. */
static long overflow(const struct plan_model *m, const struct plan_cluster *c,
		     const struct plan_result *p)
{
	for (size_t i = 0; i < p->n; i++) {
		const struct plan_stage *s = &p->stages[i];
		if (s->weight_bytes + s->kv_bytes + s->act_bytes > c->units[s->unit].mem_budget)
			return (long)i;
	}
	(void)m;
	return -1;
}

/* The planner's own output checked before anything reads it: each stage
 * on a device of the cluster, the ranges inside [0, layers), non-empty,
 * contiguous from 0 and covering every layer.  0, or -1 with what is wrong. */
static int check_ranges(const struct plan_model *m, const struct plan_cluster *c,
			const struct plan_result *p, char *why, size_t len)
{
	int expect = 0;
	if (p->n == 0)
		return snprintf(why, len, "no stage"), -1;
	for (size_t i = 0; i < p->n; i++) {
		const struct plan_stage *s = &p->stages[i];
		if (s->unit >= c->n)
			return snprintf(why, len, "stage %zu on device %zu of %zu", i, s->unit, c->n), -1;
		if (s->layer_start != expect || s->layer_end <= s->layer_start || s->layer_end > m->layers)
			return snprintf(why, len, "stage %zu holds layers [%d, %d) where [%d, ...) of %d was due",
					i, s->layer_start, s->layer_end, expect, m->layers), -1;
		expect = s->layer_end;
	}
	if (expect != m->layers)
		return snprintf(why, len, "the stages end at layer %d of %d", expect, m->layers), -1;
	return 0;
}

/* Run the strategy and check memory: 0 when the plan fits, -1 when it does
 * not, -2 (why filled) when the strategy's ranges are wrong. */
static int attempt(const struct plan_model *m, const struct plan_cluster *c,
		   const struct plan_request *r, struct plan_result *p, char *why, size_t len)
{
	memset(p, 0, sizeof *p);
	p->notes = json_array();
	int rc = r->strategy == PLAN_RING_MEMORY ? plan_ring_memory(m, c, r, p) : plan_fastest(m, c, r, p);
	if (rc < 0)
		return -1;
	if (check_ranges(m, c, p, why, len) < 0)
		return -2;
	plan_cost(m, c, r, p);
	return overflow(m, c, p) < 0 ? 0 : -1;
}

static int fits(const struct plan_model *m, const struct plan_cluster *c,
		const struct plan_request *r)
{
	struct plan_result p;
	char why[256];
	int rc = attempt(m, c, r, &p, why, sizeof why);
	plan_result_free(&p);
	return rc == 0;
}

/* The largest dtype smaller than the model's that fits, or -1. */
static int smaller_dtype(const struct plan_model *m, const struct plan_cluster *c,
			 const struct plan_request *r)
{
	static const int by_size[] = { KD_F32, KD_BF16, KD_Q8_0, KD_Q4_0 };
	if (m->dtype < 0)       /* mixed types as stored: no single size to compare */
		return -1;
	for (size_t i = 0; i < sizeof by_size / sizeof *by_size; i++) {
		int d = by_size[i];
		if (plan_bytes_per_weight(d) >= plan_bytes_per_weight(m->dtype))
			continue;
		struct plan_model t = *m;
		t.layer_bytes = xcalloc((size_t)m->layers, sizeof *t.layer_bytes);
		memcpy(t.layer_bytes, m->layer_bytes, (size_t)m->layers * sizeof *t.layer_bytes);
		int ok = plan_model_set_dtype(&t, d, NULL) == 0 && fits(&t, c, r);
		free(t.layer_bytes);
		if (ok)
			return d;
	}
	return -1;
}

/* The largest context that fits (a multiple of 256 when above 256), or 0. */
static int smaller_ctx(const struct plan_model *m, const struct plan_cluster *c,
		       const struct plan_request *r)
{
	struct plan_request t = *r;
	int lo = 0, hi = r->ctx;  /* lo fits (or is 0), hi does not */
	while (hi - lo > 1) {
		t.ctx = lo + (hi - lo) / 2;
		if (fits(m, c, &t))
			lo = t.ctx;
		else
			hi = t.ctx;
	}
	return lo > 256 ? lo / 256 * 256 : lo;
}

static int fits_with(const struct plan_model *m, const struct plan_cluster *c,
		     const struct plan_request *r, size_t like, int extra)
{
	struct plan_cluster t = { .n = c->n + (size_t)extra, .notes = NULL };
	t.units = xcalloc(t.n, sizeof *t.units);
	memcpy(t.units, c->units, c->n * sizeof *t.units);
	for (int k = 0; k < extra; k++) {
		struct plan_unit *u = &t.units[c->n + (size_t)k];
		*u = c->units[like];
		snprintf(u->node, sizeof u->node, "%.100s~%d", c->units[like].node, k + 1);
	}
	int ok = fits(m, &t, r);
	free(t.units);
	return ok;
}

/* How many more devices like the one with the largest budget would make it
 * fit (up to 64, by bisection: taking feasibility to grow with devices), or 0. */
static int more_units(const struct plan_model *m, const struct plan_cluster *c,
		      const struct plan_request *r, size_t *like)
{
	*like = 0;
	for (size_t i = 1; i < c->n; i++)
		if (c->units[i].mem_budget > c->units[*like].mem_budget)
			*like = i;
	int hi = 64;
	if (c->n + (size_t)hi > PLAN_MAX_UNITS)
		hi = (int)(PLAN_MAX_UNITS - c->n);
	if (hi < 1 || !fits_with(m, c, r, *like, hi))
		return 0;
	int lo = 0;  /* lo does not fit, hi does */
	while (hi - lo > 1) {
		int mid = lo + (hi - lo) / 2;
		if (fits_with(m, c, r, *like, mid))
			hi = mid;
		else
			lo = mid;
	}
	return hi;
}

/* What would make it fit, as ", it would fit with A, B or C". */
static void remedies(char *buf, size_t len, const struct plan_model *m,
		     const struct plan_cluster *c, const struct plan_request *r)
{
	char opt[3][320];
	int n = 0;
	int d = smaller_dtype(m, c, r);
	if (d >= 0)
		snprintf(opt[n++], sizeof *opt, "--dtype %s", plan_dtype_name(d));
	int ctx = smaller_ctx(m, c, r);
	if (ctx > 0)
		snprintf(opt[n++], sizeof *opt, "--ctx %d", ctx);
	size_t like;
	int extra = more_units(m, c, r, &like);
	if (extra > 0)
		snprintf(opt[n++], sizeof *opt, "%d more device%s like '%s' (%s)", extra,
			 extra > 1 ? "s" : "", c->units[like].node, c->units[like].device);
	if (n == 0) {
		snprintf(buf, len, "; no smaller --dtype, smaller --ctx or up to 64 more devices would fit it");
		return;
	}
	size_t at = (size_t)snprintf(buf, len, "; it would fit with");
	for (int i = 0; i < n && at < len; i++)
		at += (size_t)snprintf(buf + at, len - at, "%s%s", i == 0 ? " " : i + 1 < n ? ", " : " or ",
				       opt[i]);
}

/* "needs X (weights, KV, activations) but the devices offer Y"; for a
 * strategy that placed layers, the stage that overflows. */
static int infeasible(const struct plan_model *m, const struct plan_cluster *c,
		      const struct plan_request *r, const struct plan_result *p,
		      struct exo_err *e)
{
	char w[32], kv[32], act[32], need[32], have[32], stage[400] = "", fix[600];
	uint64_t wb = plan_stage_weights(m, 0, m->layers), kb = plan_stage_kv(m, 0, m->layers, r);
	uint64_t ab = plan_stage_act(m, 0, m->layers, r), avail = 0;
	for (size_t i = 0; i < c->n; i++)
		avail += c->units[i].mem_budget;
	long bad = p->n ? overflow(m, c, p) : -1;
	if (bad >= 0) {
		const struct plan_stage *s = &p->stages[bad];
		const struct plan_unit *u = &c->units[s->unit];
		char sn[32], sh[32];
		snprintf(stage, sizeof stage, "; %s gives '%s' (%s) layers %d-%d, which need %s of its %s",
			 plan_strategy_name(r->strategy), u->node, u->device, s->layer_start,
			 s->layer_end - 1, size_str(sn, sizeof sn, s->weight_bytes + s->kv_bytes + s->act_bytes),
			 size_str(sh, sizeof sh, u->mem_budget));
	} else if (wb + kb + ab <= avail) {
		snprintf(stage, sizeof stage, "; no chain of whole layers fits the devices one by one");
	}
	remedies(fix, sizeof fix, m, c, r);
	return exo_error(e, EXO_FAIL, "%s at %s, --ctx %d x %d session%s: needs %s (weights %s, KV %s, "
			 "activations %s) but the %zu %s %s within the memory fraction%s%s", m->id,
			 plan_dtype_name(m->dtype), r->ctx, r->sessions, r->sessions > 1 ? "s" : "",
			 size_str(need, sizeof need, wb + kb + ab), size_str(w, sizeof w, wb),
			 size_str(kv, sizeof kv, kb), size_str(act, sizeof act, ab), c->n,
			 c->n > 1 ? "devices offer" : "device offers", size_str(have, sizeof have, avail), stage, fix);
}

int plan_make(const struct plan_model *m, const struct plan_cluster *c,
	      const struct plan_request *r, struct plan_result *out, struct exo_err *e)
{
	char why[256];
	int rc = attempt(m, c, r, out, why, sizeof why);
	if (rc == 0)
		return 0;
	if (rc == -2)
		exo_error(e, EXO_SOFTWARE, "%s: the %s strategy made an invalid plan (%s): not written",
			  m->id, plan_strategy_name(r->strategy), why);
	else
		infeasible(m, c, r, out, e);
	plan_result_free(out);
	return -1;
}

void plan_result_free(struct plan_result *p)
{
	free(p->stages);
	json_decref(p->notes);
	p->stages = NULL;
	p->notes = NULL;
	p->n = 0;
}
