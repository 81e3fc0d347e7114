/* The cost model: what a stage holds in memory, what it reads per decoded
 * token and how long that takes, and the network hops between stages.
 *
 *   weights     its layers, plus the embedding on the first stage and the
 *               LM head and final norm on the last (the embedding again when
 *               tied, counted once when one stage holds everything)
 *   kv          K and V in f32 for ctx positions x sessions, per layer
 *   activations RoPE tables, attention scores and a 64-position prefill
 *               chunk in f32, plus the logits on the last stage
 *   read/token  its layers (of a sparse layer, attention, router and the
 *               experts_used experts a token picks, not all it holds) and
 *               head, plus its KV cache half full (the mean over a context
 *               being filled)
 *   hop         into stage k: rtt/2 of stage k's node + 4 x hidden bytes over
 *               its network bandwidth; and when k > 1 stages, the sampled
 *               token back to stage 0: rtt/2 of stage 0's node.  Stages on
 *               the same node pay a loopback rtt/2 only. */
#include "planner/planner.h"

#include <math.h>
#include <string.h>

#define PREFILL_CHUNK 64
#define SCORE_THREADS 64
#define LOOPBACK_RTT 50e-6

static uint64_t layer_sum(const struct plan_model *m, int a, int b)
{
	uint64_t s = 0;
	for (int i = a; i < b; i++)
		s += m->layer_bytes[i];
	return s;
}

uint64_t plan_stage_weights(const struct plan_model *m, int a, int b)
{
	uint64_t w = layer_sum(m, a, b);
	if (b == m->layers)
		w += m->head_bytes;
	if (a == 0 && !(m->tied && b == m->layers))
		w += m->embed_bytes;
	return w;
}

uint64_t plan_stage_kv(const struct plan_model *m, int a, int b, const struct plan_request *r)
{
	return m->kv_bytes_token_layer * (uint64_t)(b - a) * (uint64_t)r->ctx * (uint64_t)r->sessions;
}

uint64_t plan_stage_act(const struct plan_model *m, int a, int b, const struct plan_request *r)
{
	uint64_t ctx = (uint64_t)r->ctx, kv_dim = (uint64_t)m->kv_heads * (uint64_t)m->head_dim;
	uint64_t f32s = ctx * (uint64_t)m->head_dim + SCORE_THREADS * ctx +
			PREFILL_CHUNK * (4 * (uint64_t)m->hidden + 2 * (uint64_t)m->ffn + 2 * kv_dim);
	if (b == m->layers)
		f32s += (uint64_t)m->vocab;
	(void)a;
	return 4 * f32s;
}

double plan_stage_seconds(const struct plan_model *m, int a, int b, const struct plan_request *r,
			  const struct plan_unit *u)
{
	double read = 0;
	for (int i = a; i < b; i++)
		read += plan_layer_read_bytes(m, i);
	double bytes = read + (b == m->layers ? (double)m->head_bytes : 0) +
		       (double)m->kv_bytes_token_layer * (b - a) * (r->ctx / 2.0);
	return bytes / u->bandwidth;
}

static double hop_in(const struct plan_model *m, const struct plan_unit *from,
		     const struct plan_unit *to)
{
	if (strcmp(from->node, to->node) == 0)
		return LOOPBACK_RTT / 2;
	return to->rtt / 2 + 4.0 * m->hidden / to->net_bandwidth;
}

void plan_cost(const struct plan_model *m, const struct plan_cluster *c,
	       const struct plan_request *r, struct plan_result *p)
{
	double total = 0, hops = 0, slowest = 0;
	for (size_t i = 0; i < p->n; i++) {
		struct plan_stage *s = &p->stages[i];
		const struct plan_unit *u = &c->units[s->unit];
		s->weight_bytes = plan_stage_weights(m, s->layer_start, s->layer_end);
		s->kv_bytes = plan_stage_kv(m, s->layer_start, s->layer_end, r);
		s->act_bytes = plan_stage_act(m, s->layer_start, s->layer_end, r);
		s->seconds = plan_stage_seconds(m, s->layer_start, s->layer_end, r, u);
		total += s->seconds;
		slowest = fmax(slowest, s->seconds);
		if (i > 0)
			hops += hop_in(m, &c->units[p->stages[i - 1].unit], u);
	}
	if (p->n > 1) {
		const struct plan_unit *head = &c->units[p->stages[0].unit];
		const struct plan_unit *tail = &c->units[p->stages[p->n - 1].unit];
		hops += strcmp(head->node, tail->node) == 0 ? LOOPBACK_RTT / 2 : head->rtt / 2;
	}
	p->hop_seconds = hops;
	p->seconds_per_token = total + hops;
	/* Sessions pipeline through the stages: no faster than the slowest stage. */
	p->aggregate_tokens_per_s = fmin(r->sessions / p->seconds_per_token, 1 / slowest);
}
