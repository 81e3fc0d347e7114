/* Sampling a token from logits: repetition penalty, temperature, top-k,
 * top-p, min-p, then a draw from a seeded generator (the same seed gives the
 * same tokens).  Temperature 0 is greedy. */
#include "engine/engine.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The parameters as the sampler computes with them: rounded to float once. */
struct params {
	float temperature, top_p, min_p, repeat_penalty;
	int top_k, repeat_last_n;
};

struct eng_sampler {
	struct params p;
	uint64_t rng;
	size_t vocab;
	int32_t *idx;      /* candidates, sorted by logit */
	float *prob;
};

struct eng_sampler *eng_sampler_new(const struct eng_sampling *p, size_t vocab)
{
	struct eng_sampler *sm = calloc(1, sizeof *sm);
	if (!sm)
		return NULL;
	eng_sampler_reset(sm, p);
	sm->vocab = vocab;
	sm->idx = malloc(vocab * sizeof *sm->idx);
	sm->prob = malloc(vocab * sizeof *sm->prob);
	if (!sm->idx || !sm->prob) {
		eng_sampler_free(sm);
		return NULL;
	}
	return sm;
}

void eng_sampler_reset(struct eng_sampler *sm, const struct eng_sampling *p)
{
	sm->p = (struct params){.temperature = (float)p->temperature, .top_p = (float)p->top_p,
				.min_p = (float)p->min_p, .repeat_penalty = (float)p->repeat_penalty,
				.top_k = p->top_k, .repeat_last_n = p->repeat_last_n};
	sm->rng = p->seed;
}

void eng_sampler_free(struct eng_sampler *sm)
{
	if (!sm)
		return;
	free(sm->idx);
	free(sm->prob);
	free(sm);
}

/* splitmix64: small, fast, and the same sequence on every platform. */
static double next_uniform(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	z ^= z >> 31;
	return (double)(z >> 11) * 0x1p-53;
}

/* transformers' RepetitionPenaltyLogitsProcessor: divide positive logits, multiply negative. */
static void penalise(const struct params *p, float *logits, size_t vocab,
		     const int32_t *hist, size_t n)
{
	if (p->repeat_penalty == 1 || !hist)
		return;
	size_t from = p->repeat_last_n > 0 && n > (size_t)p->repeat_last_n ? n - (size_t)p->repeat_last_n : 0;
	for (size_t i = from; i < n; i++) {
		if (hist[i] < 0 || (size_t)hist[i] >= vocab)
			continue;
		float *l = &logits[hist[i]];
		/* a token repeated in the history is penalised once, as in transformers */
		int seen = 0;
		for (size_t j = from; j < i && !seen; j++)
			seen = hist[j] == hist[i];
		if (!seen)
			*l = *l > 0 ? *l / p->repeat_penalty : *l * p->repeat_penalty;
	}
}

static int32_t argmax(const float *x, size_t n)
{
	size_t best = 0;
	for (size_t i = 1; i < n; i++)
		if (x[i] > x[best])
			best = i;
	return (int32_t)best;
}

static int by_logit_desc(const void *a, const void *b, void *logits)
{
	const float *l = logits;
	float x = l[*(const int32_t *)a], y = l[*(const int32_t *)b];
	if (x != y)
		return x > y ? -1 : 1;
	return *(const int32_t *)a - *(const int32_t *)b;
}

static float log_softmax_at(const float *logits, size_t n, int32_t tok)
{
	float max = logits[argmax(logits, n)];
	double sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += exp((double)(logits[i] - max));
	return (float)((double)(logits[tok] - max) - log(sum));
}

/* Which tokens can survive the filters, found without sorting the whole
 * vocabulary (128k tokens for Llama 3, every token): tokens are counted in
 * buckets by how far their logit lies below the best, a quarter nat each, and
 * only the buckets that settle top-k, top-p and min-p are gathered.  The
 * buckets follow the logit order, so the gathered set is a prefix of the
 * sorted vocabulary and the filters below give what a full sort would. */
enum { N_BUCKETS = 256 };
#define BUCKETS_PER_NAT 4.0

static size_t bucket_of(float max, float logit)
{
	double d = ((double)max - logit) * BUCKETS_PER_NAT;
	return d >= 0 && d < N_BUCKETS - 1 ? (size_t)d : N_BUCKETS - 1; /* NaN: last */
}

/* The last bucket the filters can reach; *total gets the mass of every token. */
static size_t last_bucket(const struct eng_sampler *sm, const float *logits, float max,
			  double *total)
{
	const struct params *p = &sm->p;
	size_t count[N_BUCKETS] = {0};
	double mass[N_BUCKETS] = {0};
	*total = 0;
	for (size_t i = 0; i < sm->vocab; i++) {
		double m = exp((double)logits[i] - max);
		size_t b = bucket_of(max, logits[i]);
		count[b]++, mass[b] += m, *total += m;
	}
	size_t last = N_BUCKETS - 1;
	if (p->min_p >= 1)
		last = 0;
	else if (p->min_p > 0 && (p->top_p >= 1 || p->top_k <= 0)) /* min-p acts last: safe to cut */
		last = bucket_of(max, max + logf(p->min_p));
	size_t n = 0, b = 0;
	double cum = 0;
	for (; b < last; b++) {
		n += count[b], cum += mass[b];
		if (p->top_k > 0 ? n >= (size_t)p->top_k : p->top_p < 1 && cum >= p->top_p * *total)
			break;
	}
	/* one bucket more: the float sums below may need a token past the boundary */
	return b + 1 < N_BUCKETS ? b + 1 : b;
}

static int filtered(const struct params *p)
{
	return p->top_k > 0 || p->top_p < 1 || p->min_p > 0;
}

/* Keep the candidates that survive top-k, top-p and min-p, in order of
 * logit; sm->prob gets their weights.  Returns how many. */
static size_t filter(struct eng_sampler *sm, const float *logits)
{
	const struct params *p = &sm->p;
	float max = logits[argmax(logits, sm->vocab)];
	double total;
	size_t last = last_bucket(sm, logits, max, &total), n = 0;
	for (size_t i = 0; i < sm->vocab; i++)
		if (bucket_of(max, logits[i]) <= last)
			sm->idx[n++] = (int32_t)i;
	qsort_r(sm->idx, n, sizeof *sm->idx, by_logit_desc, (void *)logits);
	if (p->top_k > 0 && (size_t)p->top_k < n)
		n = (size_t)p->top_k;
	double sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += sm->prob[i] = (float)exp((double)logits[sm->idx[i]] - max);
	if (p->top_k <= 0)
		sum = total; /* top-p over the whole vocabulary */
	size_t keep = n;
	if (p->top_p < 1) {
		double cum = 0;
		for (keep = 0; keep < n && cum < p->top_p * sum; keep++)
			cum += sm->prob[keep];
	}
	if (p->min_p > 0)
		while (keep > 1 && sm->prob[keep - 1] < p->min_p * sm->prob[0])
			keep--;
	return keep ? keep : 1;
}

/* No filter: every token is a candidate, in id order; no sort needed. */
static size_t all_tokens(struct eng_sampler *sm, const float *logits)
{
	float max = logits[argmax(logits, sm->vocab)];
	for (size_t i = 0; i < sm->vocab; i++) {
		sm->idx[i] = (int32_t)i;
		sm->prob[i] = (float)exp((double)logits[i] - max);
	}
	return sm->vocab;
}

int32_t eng_sample(struct eng_sampler *sm, float *logits, const int32_t *history,
		   size_t n_history, float *logprob)
{
	penalise(&sm->p, logits, sm->vocab, history, n_history);
	if (sm->p.temperature <= 0) {
		int32_t t = argmax(logits, sm->vocab);
		if (logprob)
			*logprob = log_softmax_at(logits, sm->vocab, t);
		return t;
	}
	for (size_t i = 0; i < sm->vocab; i++)
		logits[i] /= sm->p.temperature;
	size_t keep = filtered(&sm->p) ? filter(sm, logits) : all_tokens(sm, logits);
	double total = 0;
	for (size_t i = 0; i < keep; i++)
		total += sm->prob[i];
	double r = next_uniform(&sm->rng) * total, cum = 0;
	size_t pick = keep - 1;
	for (size_t i = 0; i < keep; i++) {
		cum += sm->prob[i];
		if (r < cum) {
			pick = i;
			break;
		}
	}
	if (logprob)
		*logprob = (float)log(sm->prob[pick] / total);
	return sm->idx[pick];
}
