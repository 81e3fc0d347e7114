/* ring-memory: exo's RingMemoryWeightedPartitioningStrategy and its
 * map_partitions_to_shards, reproduced to the bit:
 *
 *   nodes.sort(key=lambda x: (x[1].memory, x[0]), reverse=True)
 *   end = round(start + node.memory / total_memory, 5); start = end
 *   start_layer = int(start * L); end_layer = int(end * L) - 1   (inclusive)
 *   the last partition's end_layer = L - 1; empty shards dropped; the last
 *   shard kept extended to L - 1.
 *
 * Unlike exo, a unit whose range comes out empty is left out of the chain
 * with a note (exo drops the shard but keeps the node in the ring and later
 * indexes past the end of the shard list). */
#include "planner/planner.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Python's round(x, 5) for a float: the double's exact binary value rounded
 * to 5 decimals, ties (only possible when the exact value ends in 5 at the
 * 6th decimal, e.g. 0.015625 = 1/64) to the even last digit, then read back
 * as the nearest double.  CPython does this with _Py_dg_dtoa(x, 3, 5) and
 * _Py_dg_strtod; glibc's printf("%.5f") also rounds the exact value, ties to
 * even in the default rounding mode, and strtod is correctly rounded, so the
 * two agree for every double.  (x * 1e5 then rint would not: the product is
 * itself rounded, and 0.123455 would go the wrong way.) */
double plan_round5(double x)
{
	char buf[512];
	snprintf(buf, sizeof buf, "%.5f", x);
	return strtod(buf, NULL);
}

/* (memory, node name) descending, as exo; the device breaks ties on a node. */
static int by_memory_desc(const void *a, const void *b, void *cluster)
{
	const struct plan_cluster *cl = cluster;
	const struct plan_unit *x = &cl->units[*(const size_t *)a];
	const struct plan_unit *y = &cl->units[*(const size_t *)b];
	if (x->mem_total != y->mem_total)
		return x->mem_total > y->mem_total ? -1 : 1;
	int c = strcmp(y->node, x->node);
	return c ? c : strcmp(y->device, x->device);
}

static void add_stage(struct plan_result *out, size_t unit, int start, int end_incl)
{
	out->stages = xrealloc(out->stages, (out->n + 1) * sizeof *out->stages);
	out->stages[out->n++] = (struct plan_stage){ .unit = unit, .layer_start = start,
						     .layer_end = end_incl + 1 };
}

int plan_ring_memory(const struct plan_model *m, const struct plan_cluster *c,
		     const struct plan_request *r, struct plan_result *out)
{
	size_t *order = xcalloc(c->n, sizeof *order);
	uint64_t total = 0;
	bool overflow = false;
	for (size_t i = 0; i < c->n; i++) {
		order[i] = i;
		overflow |= __builtin_add_overflow(total, c->units[i].mem_total, &total);
	}
	if (overflow) {   /* plan_cluster_build refuses such figures: this is a guard */
		json_array_append_new(out->notes, json_string("ring-memory: the devices' memory "
							      "does not sum in 64 bits"));
		free(order);
		return -1;
	}
	qsort_r(order, c->n, sizeof *order, by_memory_desc, (void *)c);
	const int L = m->layers;
	double start = 0;
	for (size_t i = 0; i < c->n; i++) {
		const struct plan_unit *u = &c->units[order[i]];
		double share = total ? (double)u->mem_total / (double)total : 1.0 / (double)c->n;
		double end = plan_round5(start + share);
		int first = (int)(start * L), last = (int)(end * L) - 1;
		if (i == c->n - 1 || last > L - 1)   /* shares rounded up past 1 stay in the model */
			last = L - 1;
		if (first <= last)
			add_stage(out, order[i], first, last);
		else
			json_array_append_new(out->notes, json_sprintf(
				"ring-memory: '%s' (%s) left out: its share [%.5f, %.5f) of %d layers "
				"holds no whole layer", u->node, u->device, start, end, L));
		start = end;
	}
	if (out->n && out->stages[out->n - 1].layer_end < L)
		out->stages[out->n - 1].layer_end = L;
	free(order);
	(void)r;
	return out->n ? 0 : -1;
}
