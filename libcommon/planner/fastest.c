/* latency and throughput: both order the devices by memory bandwidth
 * (fastest first; ties: larger memory budget, then node and device name)
 * and try the chains made of the k fastest, k = 1 .. min(devices, layers).
 * A chain runs from the slowest of its k to the fastest, so the fastest
 * device is the last stage and reads the LM head for every token; each of
 * the k in turn is also tried as the first stage, which holds the
 * embedding (the slowest first is tried first).
 *
 *   latency     fills the chain from its end: each device takes as many of
 *               the remaining top layers as fit its memory (leaving one for
 *               each earlier stage); the first stage takes the rest.  The
 *               chain with the smallest predicted time per token wins.
 *   throughput  balances the stages: the smallest bound T (found by
 *               bisection) such that filling from the end with stages of
 *               time <= T and within memory covers every layer.  The chain
 *               with the most aggregate tokens/s for --sessions wins, then
 *               the lower time per token.
 * Ties keep the chain with fewer stages. */
#include "planner/planner.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct chain {
	const struct plan_model *m;
	const struct plan_cluster *c;
	const struct plan_request *r;
	const size_t *units;   /* chain order */
	size_t k;
	int *start;            /* [k]: first layer of each stage; stage j ends at start[j+1] */
};

static int fits(const struct chain *ch, size_t j, int a, int b)
{
	const struct plan_unit *u = &ch->c->units[ch->units[j]];
	uint64_t need = plan_stage_weights(ch->m, a, b) + plan_stage_kv(ch->m, a, b, ch->r) +
			plan_stage_act(ch->m, a, b, ch->r);
	return need <= u->mem_budget;
}

/* Fill from the end; stage j's time must stay within limit.  1 if every
 * layer is placed. */
static int fill(struct chain *ch, double limit)
{
	int end = ch->m->layers;
	for (size_t j = ch->k; j-- > 1;) {
		const struct plan_unit *u = &ch->c->units[ch->units[j]];
		int a = end;
		while (a - 1 >= (int)j && fits(ch, j, a - 1, end) &&
		       plan_stage_seconds(ch->m, a - 1, end, ch->r, u) <= limit)
			a--;
		if (a == end)
			return 0;
		ch->start[j] = end = a;
	}
	ch->start[0] = 0;
	return fits(ch, 0, 0, end) &&
	       plan_stage_seconds(ch->m, 0, end, ch->r, &ch->c->units[ch->units[0]]) <= limit;
}

static int balance(struct chain *ch)
{
	if (!fill(ch, INFINITY))
		return 0;
	double lo = 0, hi = 0;
	for (size_t j = 0; j < ch->k; j++)
		hi = fmax(hi, plan_stage_seconds(ch->m, 0, ch->m->layers, ch->r,
						 &ch->c->units[ch->units[j]]));
	for (int i = 0; i < 60 && lo < hi; i++) {
		double mid = lo + (hi - lo) / 2;
		if (mid <= lo || mid >= hi)
			break;
		if (fill(ch, mid))
			hi = mid;
		else
			lo = mid;
	}
	return fill(ch, hi);
}

static void to_result(const struct chain *ch, struct plan_result *p)
{
	p->stages = xcalloc(ch->k, sizeof *p->stages);
	p->n = ch->k;
	for (size_t j = 0; j < ch->k; j++) {
		p->stages[j].unit = ch->units[j];
		p->stages[j].layer_start = ch->start[j];
		p->stages[j].layer_end = j + 1 < ch->k ? ch->start[j + 1] : ch->m->layers;
	}
}

static int by_speed(const void *a, const void *b, void *cluster)
{
	const struct plan_cluster *cl = cluster;
	const struct plan_unit *x = &cl->units[*(const size_t *)a];
	const struct plan_unit *y = &cl->units[*(const size_t *)b];
	if (x->bandwidth != y->bandwidth)
		return x->bandwidth > y->bandwidth ? -1 : 1;
	if (x->mem_budget != y->mem_budget)
		return x->mem_budget > y->mem_budget ? -1 : 1;
	int c = strcmp(x->node, y->node);
	return c ? c : strcmp(x->device, y->device);
}

static int better(const struct plan_request *r, const struct plan_result *cand,
		  const struct plan_result *best)
{
	if (!best->n)
		return 1;
	if (r->strategy == PLAN_THROUGHPUT && cand->aggregate_tokens_per_s != best->aggregate_tokens_per_s)
		return cand->aggregate_tokens_per_s > best->aggregate_tokens_per_s;
	return cand->seconds_per_token < best->seconds_per_token;
}

/* The k fastest, slowest first and fastest last, except that the lead-th
 * slowest is moved to the front: the first stage also holds the
 * embedding, and a small slow device may not hold it. */
static void lead_chain(size_t *chain, const size_t *order, size_t k, size_t lead)
{
	size_t n = 0;
	chain[n++] = order[k - 1 - lead];
	for (size_t j = 0; j < k; j++)
		if (j != lead)
			chain[n++] = order[k - 1 - j];
}

static void keep_better(const struct chain *ch, struct plan_result *best)
{
	struct plan_result cand = { .n = 0 };
	to_result(ch, &cand);
	plan_cost(ch->m, ch->c, ch->r, &cand);
	if (better(ch->r, &cand, best)) {
		free(best->stages);
		*best = cand;
	} else {
		free(cand.stages);
	}
}

int plan_fastest(const struct plan_model *m, const struct plan_cluster *c,
		 const struct plan_request *r, struct plan_result *out)
{
	size_t *order = xcalloc(c->n, sizeof *order), *chain_units = xcalloc(c->n, sizeof *order);
	int *start = xcalloc(c->n, sizeof *start);
	for (size_t i = 0; i < c->n; i++)
		order[i] = i;
	qsort_r(order, c->n, sizeof *order, by_speed, (void *)c);
	struct plan_result best = { .n = 0 };
	size_t kmax = c->n < (size_t)m->layers ? c->n : (size_t)m->layers;
	for (size_t k = 1; k <= kmax; k++)
		for (size_t lead = 0; lead < k; lead++) {
			lead_chain(chain_units, order, k, lead);
			struct chain ch = { m, c, r, chain_units, k, start };
			int ok = r->strategy == PLAN_THROUGHPUT ? balance(&ch) : fill(&ch, INFINITY);
			if (ok)
				keep_better(&ch, &best);
		}
	free(order), free(chain_units), free(start);
	if (!best.n)
		return -1;
	out->stages = best.stages;
	out->n = best.n;
	return 0;
}
