/* Opening and closing a stage: checkpoint, layer range, kernels, threads,
 * RoPE tables; KV caches of sessions. */
#include "engine/internal.h"
#include "util/log.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int check_range(const struct model_config *c, int first, int last, struct exo_err *e)
{
	if (first < 0 || last > c->n_layers || first >= last)
		return exo_error(e, EXO_USAGE, "layers %d:%d: not a non-empty range within the model's "
				 "%d layers", first, last, c->n_layers);
	return 0;
}

/* cos and sin of pos * inv_freq[i], the angle rounded to f32 as transformers does. */
static int build_rope(struct eng_stage *s, struct exo_err *e)
{
	size_t half = (size_t)s->cfg.head_dim / 2;
	float inv_freq[half];
	model_rope_inv_freq(&s->cfg, inv_freq);
	s->rope_cos = malloc(size_mul((size_t)s->ctx, half * sizeof(float)));
	s->rope_sin = malloc(size_mul((size_t)s->ctx, half * sizeof(float)));
	if (!s->rope_cos || !s->rope_sin)
		return exo_error(e, EXO_SOFTWARE, "out of memory for RoPE tables");
	for (size_t p = 0; p < (size_t)s->ctx; p++)
		for (size_t i = 0; i < half; i++) {
			float angle = (float)p * inv_freq[i];
			s->rope_cos[p * half + i] = (float)cos((double)angle);
			s->rope_sin[p * half + i] = (float)sin((double)angle);
		}
	return 0;
}

/* ENG_PANEL_COLS, or EXO_PANEL_COLS (a multiple of 32) so that tests can
 * run small models through many panels. */
static size_t panel_cols(void)
{
	const char *v = getenv("EXO_PANEL_COLS");
	long n = v ? strtol(v, NULL, 10) : 0;
	if (n >= 32 && n % 32 == 0)
		return (size_t)n;
	if (v)
		log_warn("EXO_PANEL_COLS=%s: not a positive multiple of 32; using %d", v, ENG_PANEL_COLS);
	return ENG_PANEL_COLS;
}

static int setup(struct eng_stage *s, const struct eng_opts *o, struct exo_err *e)
{
	const struct model_config *c = &s->cfg;
	s->threads = o && o->threads > 0 ? o->threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (s->threads < 1)
		s->threads = 1;
	s->ctx = o && o->ctx > 0 ? o->ctx : (c->max_pos < 4096 ? c->max_pos : 4096);
	s->arena.small_pages = o && o->small_pages;
	s->q_dim = c->n_heads * c->head_dim;
	s->kv_dim = c->n_kv_heads * c->head_dim;
	s->ops = kern_select();
	s->panel_cols = panel_cols();
	s->sc.scores = malloc(size_mul((size_t)s->threads, (size_t)s->ctx * sizeof(float)));
	if (!s->sc.scores)
		return exo_error(e, EXO_SOFTWARE, "out of memory");
	return build_rope(s, e);
}

static struct eng_stage *open_here(const char *model, int first, int last,
				   const struct eng_opts *o, struct exo_err *e)
{
	struct eng_stage *s = calloc(1, sizeof *s);
	if (!s) {
		exo_error(e, EXO_SOFTWARE, "out of memory");
		return NULL;
	}
	s->ckpt = ckpt_open(model, e);
	if (!s->ckpt)
		goto fail;
	s->cfg = *ckpt_config(s->ckpt);
	if (last < 0)
		last = s->cfg.n_layers;
	s->first = first, s->last = last;
	if (check_range(&s->cfg, first, last, e) < 0 || setup(s, o, e) < 0 ||
	    eng_load_weights(s, o ? o->dtype : -1, e) < 0)
		goto fail;
	log_info("stage %d:%d of %s: %zu weight bytes, %d threads, context %d, kernels %s", first,
		 last, model, s->weight_bytes, s->threads, s->ctx, s->ops->name);
	return s;
fail:
	eng_stage_close(s);
	return NULL;
}

struct open_job {
	const char *model;
	int first, last;
	const struct eng_opts *o;
	struct exo_err *e;
	struct eng_stage *s;
};

static void open_job_run(void *arg)
{
	struct open_job *j = arg;
	j->s = open_here(j->model, j->first, j->last, j->o, j->e);
}

struct eng_stage *eng_stage_open(const char *model, int first, int last,
				 const struct eng_opts *o, struct exo_err *e)
{
	if (!o || !o->compute_thread)
		return open_here(model, first, last, o, e);
	struct eng_runner *r = eng_runner_new();
	if (!r) {
		exo_error(e, EXO_SOFTWARE, "cannot start the compute thread");
		return NULL;
	}
	struct open_job j = {model, first, last, o, e, NULL};
	eng_runner_call(r, open_job_run, &j);  /* the load's regions start the one pool */
	if (!j.s) {
		eng_runner_free(r);
		return NULL;
	}
	j.s->runner = r;
	return j.s;
}

void eng_stage_close(struct eng_stage *s)
{
	if (!s)
		return;
	eng_runner_free(s->runner);
	eng_free_weights(s);
	struct eng_scratch *sc = &s->sc;
	free(sc->x), free(sc->xb), free(sc->q), free(sc->k), free(sc->v), free(sc->att);
	free(sc->gate), free(sc->up), free(sc->scores), free(sc->panel_x), free(sc->panel_y);
	free(sc->router), free(sc->moe_x), free(sc->moe_y), free(sc->moe_sum);
	free(sc->choice), free(sc->choice_w), free(sc->routed), free(sc->routed_w);
	free(sc->expert_g), free(sc->expert_u), free(sc->expert_y);
	free(sc->expert_start), free(sc->moe_out);
	free(sc->moe_tx), free(sc->moe_tg), free(sc->moe_tu), free(sc->moe_ty);
	free(s->rope_cos), free(s->rope_sin);
	ckpt_close(s->ckpt);
	free(s);
}

const struct model_config *eng_config(const struct eng_stage *s) { return &s->cfg; }
int eng_first_layer(const struct eng_stage *s) { return s->first; }
int eng_last_layer(const struct eng_stage *s) { return s->last; }
bool eng_has_head(const struct eng_stage *s) { return s->last == s->cfg.n_layers; }
int eng_context(const struct eng_stage *s) { return s->ctx; }

int eng_check_context(const struct eng_stage *s, int pos, size_t n, struct exo_err *e)
{
	if (pos >= 0 && (size_t)pos + n <= (size_t)s->ctx)
		return 0;
	if (pos == 0)
		return exo_error(e, EXO_DATAERR, "context limit: the prompt of %zu tokens exceeds the "
				 "context of %d", n, s->ctx);
	return exo_error(e, EXO_DATAERR, "context limit: positions %d..%zu exceed the context of %d",
			 pos, (size_t)pos + n - 1, s->ctx);
}
size_t eng_weight_bytes(const struct eng_stage *s) { return s->weight_bytes; }
size_t eng_expert_bytes(const struct eng_stage *s) { return s->expert_bytes; }
bool eng_rounds_x(const struct eng_stage *s) { return s->rounds_x; }

size_t eng_token_weight_bytes(const struct eng_stage *s)
{
	size_t w = s->weight_bytes;
	const struct model_config *c = &s->cfg;
	if (c->n_experts)
		w -= (size_t)((double)s->expert_bytes * (c->n_experts - c->n_experts_used) / c->n_experts);
	/* an embedding that is not also the head: a lookup reads one row */
	if (s->embed.data && !(eng_has_head(s) && c->tied_embeddings))
		w -= (s->embed.rows - 1) * s->embed.row_bytes;
	return w;
}

void eng_set_layer_hook(struct eng_stage *s, eng_layer_hook hook, void *arg)
{
	s->hook = hook;
	s->hook_arg = arg;
}

void eng_set_router_hook(struct eng_stage *s, eng_router_hook hook, void *arg)
{
	s->router_hook = hook;
	s->router_hook_arg = arg;
}

size_t eng_kv_bytes(const struct eng_stage *s, int ctx)
{
	return size_mul(size_mul((size_t)(s->last - s->first) * 2, (size_t)ctx),
			(size_t)s->kv_dim * sizeof(float));
}

struct eng_kv *eng_kv_new(const struct eng_stage *s, struct exo_err *e)
{
	struct eng_kv *kv = calloc(1, sizeof *kv);
	size_t n = size_mul(size_mul((size_t)(s->last - s->first), (size_t)s->ctx), (size_t)s->kv_dim);
	if (kv) {
		kv->ctx = s->ctx;
		kv->n_layers = s->last - s->first;
		kv->kv_dim = (size_t)s->kv_dim;
		kv->k = malloc(size_mul(n, sizeof(float)));
		kv->v = malloc(size_mul(n, sizeof(float)));
	}
	if (!kv || !kv->k || !kv->v) {
		eng_kv_free(kv);
		exo_error(e, EXO_SOFTWARE, "out of memory for a KV cache of %d positions", s->ctx);
		return NULL;
	}
	return kv;
}

void eng_kv_free(struct eng_kv *kv)
{
	if (!kv)
		return;
	free(kv->k);
	free(kv->v);
	free(kv);
}

int eng_kv_len(const struct eng_kv *kv) { return kv->len; }

void eng_kv_truncate(struct eng_kv *kv, int len)
{
	if (len >= 0 && len < kv->len)
		kv->len = len;
}
