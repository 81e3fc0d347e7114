/* Prometheus metrics of the API: requests by route and status, tokens,
 * the speed of the last generation, and latency histograms (prefill,
 * decode per token, and per stage when the head reports stage times). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "api/api_int.h"
#include "util/err.h"
#include "util/strbuf.h"

static const double bounds[API_HIST_BUCKETS] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
						0.1,   0.25,   0.5,   1,    2.5,   10};

void metrics_init(struct api_metrics *m, int n_stages)
{
	memset(m, 0, sizeof *m);
	pthread_mutex_init(&m->mu, NULL);
	m->n_stages = n_stages;
	m->stage = n_stages > 0 ? xcalloc((size_t)n_stages, sizeof *m->stage) : NULL;
}

void metrics_free(struct api_metrics *m)
{
	free(m->stage);
	pthread_mutex_destroy(&m->mu);
}

static void hist_observe(struct api_hist *h, double v)
{
	int i = 0;

	while (i < API_HIST_BUCKETS && v > bounds[i])
		i++;
	h->count[i]++;
	h->sum += v;
	h->n++;
}

void metrics_request(struct api_metrics *m, const char *route, int status)
{
	int i;

	pthread_mutex_lock(&m->mu);
	for (i = 0; i < m->n_req; i++)
		if (m->req[i].status == status && strcmp(m->req[i].route, route) == 0)
			break;
	if (i == m->n_req && i < API_MAX_SERIES) {
		m->req[i].route = route;
		m->req[i].status = status;
		m->n_req++;
	}
	if (i < API_MAX_SERIES)
		m->req[i].n++;
	pthread_mutex_unlock(&m->mu);
}

void metrics_generation(struct api_metrics *m, const struct head_result *r, bool cancelled)
{
	pthread_mutex_lock(&m->mu);
	m->prompt_tokens += r->n_prompt;
	m->completion_tokens += r->n_generated;
	m->cancelled += cancelled;
	/* the first token comes with the prefill; decode_s times the others */
	if (r->decode_s > 0 && r->n_generated > 1) {
		m->tokens_per_second = (double)(r->n_generated - 1) / r->decode_s;
		hist_observe(&m->decode_token, r->decode_s / (double)(r->n_generated - 1));
	}
	hist_observe(&m->prefill, r->prefill_s);
	pthread_mutex_unlock(&m->mu);
}

void metrics_stage(struct api_metrics *m, int stage, double seconds)
{
	pthread_mutex_lock(&m->mu);
	if (stage >= 0 && stage < m->n_stages)
		hist_observe(&m->stage[stage], seconds);
	pthread_mutex_unlock(&m->mu);
}

static void hist_text(struct strbuf *b, const char *name, const char *label,
		      const struct api_hist *h)
{
	unsigned long long cum = 0;
	const char *sep = label[0] ? "," : "";

	for (int i = 0; i < API_HIST_BUCKETS; i++) {
		cum += h->count[i];
		strbuf_addf(b, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, label, sep, bounds[i], cum);
	}
	strbuf_addf(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, label, sep, h->n);
	if (label[0])
		strbuf_addf(b, "%s_sum{%s} %.9g\n%s_count{%s} %llu\n", name, label, h->sum, name, label,
			h->n);
	else
		strbuf_addf(b, "%s_sum %.9g\n%s_count %llu\n", name, h->sum, name, h->n);
}

char *metrics_text(struct api_metrics *m)
{
	struct strbuf b = {0};
	char label[64];

	pthread_mutex_lock(&m->mu);
	strbuf_addf(&b, "# HELP exo_requests_total HTTP requests answered, by route and status.\n"
		    "# TYPE exo_requests_total counter\n");
	for (int i = 0; i < m->n_req; i++)
		strbuf_addf(&b, "exo_requests_total{route=\"%s\",status=\"%d\"} %llu\n", m->req[i].route,
			m->req[i].status, m->req[i].n);
	strbuf_addf(&b, "# HELP exo_tokens_total Tokens processed, by kind.\n"
		    "# TYPE exo_tokens_total counter\n"
		    "exo_tokens_total{kind=\"prompt\"} %llu\nexo_tokens_total{kind=\"completion\"} %llu\n",
		m->prompt_tokens, m->completion_tokens);
	strbuf_addf(&b, "# HELP exo_tokens_per_second Decode speed of the last generation of 2 tokens or more.\n"
		    "# TYPE exo_tokens_per_second gauge\nexo_tokens_per_second %.6g\n",
		m->tokens_per_second);
	strbuf_addf(&b, "# HELP exo_generations_cancelled_total Generations stopped because the client went away.\n"
		    "# TYPE exo_generations_cancelled_total counter\nexo_generations_cancelled_total %llu\n",
		m->cancelled);
	strbuf_addf(&b, "# HELP exo_prefill_seconds Time to process a prompt and draw the first token.\n"
		    "# TYPE exo_prefill_seconds histogram\n");
	hist_text(&b, "exo_prefill_seconds", "", &m->prefill);
	strbuf_addf(&b, "# HELP exo_decode_token_seconds Mean time per generated token, by generation.\n"
		    "# TYPE exo_decode_token_seconds histogram\n");
	hist_text(&b, "exo_decode_token_seconds", "", &m->decode_token);
	/* stage 0 is the whole chain: the head reports no per-stage times */
	if (m->n_stages > 0)
		strbuf_addf(&b, "# HELP exo_stage_latency_seconds Round trip of a one-token /healthz probe "
			    "from the stage through every stage after it.\n"
			    "# TYPE exo_stage_latency_seconds histogram\n");
	for (int i = 0; i < m->n_stages; i++) {
		snprintf(label, sizeof label, "stage=\"%d\"", i);
		hist_text(&b, "exo_stage_latency_seconds", label, &m->stage[i]);
	}
	pthread_mutex_unlock(&m->mu);
	return b.s;
}
