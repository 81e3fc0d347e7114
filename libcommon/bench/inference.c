/* Inference suite: llama-bench's figures through the engine on the whole
 * model in one stage.  ppN: a prompt of N random tokens fed into an empty
 * KV cache, `batch` tokens per eng_forward (all N by default), N / seconds.
 * tgN: N random tokens fed one at a time into an empty cache, each giving
 * the last position's logits, N / seconds.  Each figure runs once as a
 * warm-up (llama-bench does too) and then as many times as its share of
 * the duration allows; the value is the median.
 *
 * With --connect the same figures go through a running pipeline, as its
 * head (serve/head.h) with no layers of its own: ppN is the logits of a
 * fresh N-token prompt, tgN is N tokens generated greedily after a one-token
 * prompt (sampled by the last stage, one round trip down the chain each). */
#include "bench/internal.h"
#include "engine/engine.h"
#include "kernels/kern.h"
#include "serve/head.h"

#include <stdio.h>
#include <stdlib.h>

#define DEFAULT_PP 512
#define DEFAULT_TG 128

struct run {
	struct head *head;          /* --connect: the pipeline; else the engine: */
	uint8_t key[NET_KEY_BYTES];
	struct eng_stage *s;
	struct eng_kv *kv;
	int32_t *tokens;
	float *logits;
	struct exo_err err;
};

/* One sample through the pipeline; seconds, or -1. */
static double remote(struct run *r, int n, bool gen)
{
	double t0 = bench_now();
	if (!gen)
		return head_logits(r->head, r->tokens, (size_t)n, r->logits, &r->err) < 0 ? -1
			: bench_now() - t0;
	struct head_request q = { .prompt = r->tokens, .n_prompt = 1, .max_tokens = n };
	struct head_result res;
	eng_sampling_defaults(&q.sampling);
	q.sampling.temperature = 0;
	if (head_generate(r->head, &q, NULL, NULL, &res, &r->err) < 0)
		return -1;
	if (res.n_generated != (size_t)n)
		return exo_error(&r->err, EXO_SOFTWARE, "the pipeline generated %zu of %d tokens",
				 res.n_generated, n);
	return res.decode_s;
}

/* One sample: n tokens in chunks of batch (1 for tg); seconds, or -1. */
static double feed(struct run *r, int n, int batch, bool gen)
{
	if (r->head)
		return remote(r, n, gen);
	eng_kv_truncate(r->kv, 0);
	double t0 = bench_now();
	for (int off = 0; off < n; off += batch) {
		int k = n - off < batch ? n - off : batch;
		if (eng_forward(r->s, r->kv, r->tokens + off, NULL, (size_t)k, ENG_OUT_LAST_LOGITS,
				r->logits, &r->err) < 0)
			return -1;
	}
	return bench_now() - t0;
}

/* A short run that warms threads and caches and predicts a whole one:
 * PROBE tokens (one for tg) scaled to n, which overestimates ppN, as
 * longer prompts go faster per token.  Seconds predicted, or -1. */
#define PROBE 16
static double probe(struct run *r, int n, int batch, bool gen)
{
	int k = gen ? 1 : n < PROBE ? n : PROBE;
	double t0 = bench_now();
	if (feed(r, k, batch < k ? batch : k, gen && k > 1) < 0)
		return -1;
	return (bench_now() - t0) * n / k;
}

static int figure(struct bench_ctx *c, struct run *r, int n, int batch, bool gen)
{
	char name[64], what[96];
	snprintf(name, sizeof name, "%s%d_tokens_per_s", gen ? "tg" : "pp", n);
	snprintf(what, sizeof what, "%s%d", gen ? "tg" : "pp", n);
	if (!gen && batch != n)
		snprintf(what, sizeof what, "pp%d, batch %d", n, batch);
	if (bench_out_of_time(c, what))
		return 0;
	bench_progress(c, what);
	double until = bench_figure_end(c), rate[BENCH_MAX_SAMPLES], total = 0;
	double last = probe(r, n, batch, gen);
	int samples = 0;
	if (last > c->end - bench_now()) {   /* one run would pass the end of the whole run */
		bench_warn(c, "inference: %s skipped: one run would take about %.1f s, %.1f s are left "
			   "(raise --duration)", what, last, c->end - bench_now());
		return 0;
	}
	if (last >= 0 && 2 * last <= until - bench_now())
		last = feed(r, n, batch, gen);   /* a whole warm-up run, as llama-bench does */
	while (last >= 0 && samples < BENCH_MAX_SAMPLES && (samples == 0 || bench_fits(until, last))) {
		if ((last = feed(r, n, batch, gen)) < 0)
			break;
		rate[samples++] = n / last;
		total += last;
	}
	if (last < 0) {
		bench_warn(c, "inference: %s: %s", what, r->err.msg);
		c->failed = 1;
		return 0;
	}
	struct bench_figure f = { .name = name, .samples = rate, .n = samples, .seconds = total,
				  .threads = r->head ? 0 : c->threads };
	json_t *x = json_pack("{s:s,s:i}", "model", c->o->model, "tokens", n);
	if (!gen)
		json_object_set_new(x, "batch", json_integer(batch));
	if (c->o->dtype >= 0)
		json_object_set_new(x, "dtype", json_string(kern_dtype_name(c->o->dtype)));
	if (r->head)
		json_object_set_new(x, "peer", json_string(c->o->connect));
	return bench_emit_figure(c, &f, x);
}

static int longest(const int *v, int n, int dflt)
{
	int m = n ? 0 : dflt;
	for (int i = 0; i < n; i++)
		m = v[i] > m ? v[i] : m;
	return m;
}

/* The model as one local stage, or the pipeline behind --connect. */
static int open_model(struct bench_ctx *c, struct run *r, int ctx)
{
	struct eng_opts eo = { .dtype = c->o->dtype, .threads = c->threads, .ctx = ctx > 4096 ? ctx : 0 };
	if (c->o->connect) {
		uint8_t *key = c->o->key && *c->o->key ? r->key : NULL;
		if (key && net_key_load(c->o->key, key, &r->err) < 0)
			return -1;
		struct head_opts ho = { .model = c->o->model, .next = c->o->connect, .eng = eo,
					.net = { .key = key }, .retry_ms = 2000 };
		r->head = head_open(&ho, &r->err);
		return r->head ? 0 : -1;
	}
	r->s = eng_stage_open(c->o->model, 0, -1, &eo, &r->err);
	r->kv = r->s ? eng_kv_new(r->s, &r->err) : NULL;
	return r->kv ? 0 : -1;
}

static int open_run(struct bench_ctx *c, struct run *r, int ctx)
{
	if (open_model(c, r, ctx) < 0)
		return -1;
	int vocab = r->head ? head_config(r->head)->vocab : eng_config(r->s)->vocab;
	r->tokens = malloc((size_t)ctx * sizeof *r->tokens);
	r->logits = malloc((size_t)vocab * sizeof *r->logits);
	if (!r->tokens || !r->logits)
		return exo_error(&r->err, EXO_SOFTWARE, "out of memory");
	uint64_t x = 0x9e3779b97f4a7c15u;   /* random prompt tokens, as llama-bench uses */
	for (int i = 0; i < ctx; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		r->tokens[i] = (int32_t)(x % (uint64_t)vocab);
	}
	/* One token touches every weight: a model not yet in memory is read now,
	 * not inside the first figure's prediction. */
	return feed(r, 1, 1, false) < 0 ? -1 : 0;
}

int bench_inference(struct bench_ctx *c)
{
	const struct bench_opts *o = c->o;
	int dpp = DEFAULT_PP, dtg = DEFAULT_TG;
	const int *pp = o->n_prompt ? o->prompt : &dpp, *tg = o->n_gen ? o->gen : &dtg;
	int n_pp = o->n_prompt ? o->n_prompt : 1, n_tg = o->n_gen ? o->n_gen : 1;
	int n_batch = o->n_batch && !o->connect ? o->n_batch : 1;   /* a head sends whole prompts */
	int ctx = longest(pp, n_pp, 0), g = longest(tg, n_tg, 0);
	struct run r = { 0 };
	int rc = 0;
	c->figures_left = n_pp * n_batch + n_tg;
	if (bench_out_of_time(c, "opening the model"))
		return 0;
	if (open_run(c, &r, g > ctx ? g : ctx) < 0) {
		bench_warn(c, "inference: %s", r.err.msg);
		c->failed = 1;
		goto out;
	}
	for (int i = 0; i < n_pp && rc == 0; i++)
		for (int b = 0; b < n_batch && rc == 0; b++)
			rc = figure(c, &r, pp[i], o->n_batch && !o->connect ? o->batch[b] : pp[i], false);
	for (int i = 0; i < n_tg && rc == 0; i++)
		rc = figure(c, &r, tg[i], 1, true);
out:
	free(r.tokens), free(r.logits);
	head_close(r.head);
	eng_kv_free(r.kv);
	eng_stage_close(r.s);
	return rc;
}
