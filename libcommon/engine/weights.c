/* Loading a stage's weights: only the tensors of its layers (plus the
 * embedding for the first stage and norm + head for the last), each checked
 * against the config's shape, copied (converted to --dtype) into panels. */
#include "engine/internal.h"
#include "util/log.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static const struct st_tensor *tensor(struct eng_stage *s, const char *name, int64_t rows,
				      int64_t cols, struct exo_err *e)
{
	int64_t shape[2] = {rows, cols};
	return ckpt_tensor(s->ckpt, name, cols ? 2 : 1, shape, e);
}

/* A 1-D tensor widened to an owned f32 copy (norms and biases are small). */
static float *load_vector(struct eng_stage *s, const char *name, int64_t n, struct exo_err *e)
{
	const struct st_tensor *t = tensor(s, name, n, 0, e);
	if (!t)
		return NULL;
	float *v = malloc((size_t)n * sizeof *v);
	if (!v) {
		exo_error(e, EXO_SOFTWARE, "out of memory loading %s", name);
		return NULL;
	}
	s->ops->to_f32[t->dtype](t->data, v, (size_t)n);
	s->weight_bytes += t->bytes;
	return v;
}

/* A matrix [rows, cols] at data (a tensor, or one expert's slice of a
 * stacked one), converted to dtype when asked and its columns allow. */
static int place_matrix(struct eng_stage *s, struct eng_mat *m, const char *name, int stored,
			const void *data, int64_t rows, int64_t cols, int dtype, struct exo_err *e)
{
	m->dtype = stored;
	m->data = data;
	m->rows = (size_t)rows;
	m->cols = (size_t)cols;
	m->row_bytes = kern_row_bytes(stored, m->cols);
	int to = m->dtype;
	if (dtype >= 0 && dtype != m->dtype) {
		if (!kern_row_bytes(dtype, m->cols))
			log_info("%s: %lld columns are not whole %s blocks; kept as %s", name,
				 (long long)cols, kern_dtype_name(dtype), kern_dtype_name(m->dtype));
		else
			to = dtype;
	}
	if (eng_mat_place(s, m, to, name, e) < 0)
		return -1;
	if (m->cols > m->panel_cols && m->rows > s->panel_sum_rows)
		s->panel_sum_rows = m->rows;
	s->weight_bytes += m->rows * m->row_bytes;
	return 0;
}

static int load_matrix(struct eng_stage *s, struct eng_mat *m, const char *name, int64_t rows,
		       int64_t cols, int dtype, struct exo_err *e)
{
	const struct st_tensor *t = tensor(s, name, rows, cols, e);
	if (!t)
		return -1;
	return place_matrix(s, m, name, t->dtype, t->data, rows, cols, dtype, e);
}

#define NAME(fmt, ...) (snprintf(n, sizeof n, "model.layers.%d." fmt, i, __VA_ARGS__), n)

/* The sparse MLP of the recipe: the router, kept as stored (it picks the
 * experts, which must be the reference's), and every expert's SwiGLU (one
 * tensor each as the checkpoint reader names them, however they are stored:
 * model/checkpoint.c unstacks mlx-lm's switch_mlp). */
static int load_experts(struct eng_stage *s, struct eng_layer *l, int i, int dtype,
			struct exo_err *e)
{
	const struct model_config *c = &s->cfg;
	const struct model_recipe *r = c->recipe;
	char n[200];
	if (load_matrix(s, &l->router, NAME("%s.gate.weight", r->moe_prefix), c->n_experts, c->hidden,
			-1, e) < 0)
		return -1;
	if (!(l->experts = calloc((size_t)c->n_experts, sizeof *l->experts)))
		return exo_error(e, EXO_SOFTWARE, "out of memory");
	size_t before = s->weight_bytes;
	for (int x = 0; x < c->n_experts; x++) {
		struct eng_expert *ex = &l->experts[x];
#define EXPERT(part) NAME("%s.experts.%d.%s.weight", r->moe_prefix, x, r->part)
		if (load_matrix(s, &ex->gate, EXPERT(expert_gate), c->moe_ffn, c->hidden, dtype, e) ||
		    load_matrix(s, &ex->up, EXPERT(expert_up), c->moe_ffn, c->hidden, dtype, e) ||
		    load_matrix(s, &ex->down, EXPERT(expert_down), c->hidden, c->moe_ffn, dtype, e))
			return -1;
#undef EXPERT
	}
	s->expert_bytes += s->weight_bytes - before;
	return 0;
}

static int load_mlp(struct eng_stage *s, struct eng_layer *l, int i, int dtype, struct exo_err *e)
{
	const struct model_config *c = &s->cfg;
	char n[200];
	if (model_layer_is_sparse(c, i))
		return load_experts(s, l, i, dtype, e);
	if (load_matrix(s, &l->gate, NAME("%s", "mlp.gate_proj.weight"), c->ffn, c->hidden, dtype, e) ||
	    load_matrix(s, &l->up, NAME("%s", "mlp.up_proj.weight"), c->ffn, c->hidden, dtype, e) ||
	    load_matrix(s, &l->down, NAME("%s", "mlp.down_proj.weight"), c->hidden, c->ffn, dtype, e))
		return -1;
	return 0;
}

static int load_attention(struct eng_stage *s, struct eng_layer *l, int i, int dtype,
			  struct exo_err *e)
{
	const struct model_config *c = &s->cfg;
	char n[200];
#define ATTN(part) NAME("self_attn.%s", part)
	if (load_matrix(s, &l->wq, ATTN("q_proj.weight"), s->q_dim, c->hidden, dtype, e) ||
	    load_matrix(s, &l->wk, ATTN("k_proj.weight"), s->kv_dim, c->hidden, dtype, e) ||
	    load_matrix(s, &l->wv, ATTN("v_proj.weight"), s->kv_dim, c->hidden, dtype, e) ||
	    load_matrix(s, &l->wo, ATTN("o_proj.weight"), c->hidden, s->q_dim, dtype, e))
		return -1;
	if (c->qkv_bias &&
	    (!(l->bq = load_vector(s, ATTN("q_proj.bias"), s->q_dim, e)) ||
	     !(l->bk = load_vector(s, ATTN("k_proj.bias"), s->kv_dim, e)) ||
	     !(l->bv = load_vector(s, ATTN("v_proj.bias"), s->kv_dim, e))))
		return -1;
	if (c->qk_norm &&
	    (!(l->q_norm = load_vector(s, ATTN("q_norm.weight"), c->head_dim, e)) ||
	     !(l->k_norm = load_vector(s, ATTN("k_norm.weight"), c->head_dim, e))))
		return -1;
#undef ATTN
	return 0;
}

static int load_layer(struct eng_stage *s, int i, int dtype, struct exo_err *e)
{
	const struct model_config *c = &s->cfg;
	struct eng_layer *l = &s->layers[i - s->first];
	char n[200];
	if (!(l->attn_norm = load_vector(s, NAME("%s", "input_layernorm.weight"), c->hidden, e)) ||
	    !(l->ffn_norm = load_vector(s, NAME("%s", "post_attention_layernorm.weight"), c->hidden, e)))
		return -1;
	return load_attention(s, l, i, dtype, e) < 0 ? -1 : load_mlp(s, l, i, dtype, e);
}
#undef NAME

static int load_head(struct eng_stage *s, int dtype, struct exo_err *e)
{
	const struct model_config *c = &s->cfg;
	if (!c->tied_embeddings)
		return load_matrix(s, &s->head, "lm_head.weight", c->vocab, c->hidden, dtype, e);
	s->head = s->embed;   /* one copy, in the arena */
	return 0;
}

int eng_load_weights(struct eng_stage *s, int dtype, struct exo_err *e)
{
	const struct model_config *c = &s->cfg;
	s->layers = calloc((size_t)(s->last - s->first) + 1, sizeof *s->layers);
	if (!s->layers)
		return exo_error(e, EXO_SOFTWARE, "out of memory");
	bool head = s->last == c->n_layers;
	if ((s->first == 0 || (head && c->tied_embeddings)) &&
	    load_matrix(s, &s->embed, "model.embed_tokens.weight", c->vocab, c->hidden, dtype, e) < 0)
		return -1;
	for (int i = s->first; i < s->last; i++)
		if (load_layer(s, i, dtype, e) < 0)
			return -1;
	if (head && (!(s->final_norm = load_vector(s, "model.norm.weight", c->hidden, e)) ||
		     load_head(s, dtype, e) < 0))
		return -1;
	/* the per-panel partial sums of decode's gemv (engine/forward.c) */
	if (s->panel_sum_rows && !(s->panel_sum = malloc(s->panel_sum_rows * sizeof(float))))
		return exo_error(e, EXO_SOFTWARE, "out of memory");
	return 0;
}

void eng_free_weights(struct eng_stage *s)
{
	for (int i = 0; s->layers && i < s->last - s->first; i++) {
		struct eng_layer *l = &s->layers[i];
		free(l->attn_norm), free(l->ffn_norm), free(l->bq), free(l->bk), free(l->bv);
		free(l->q_norm), free(l->k_norm), free(l->experts);
	}
	free(s->layers);
	eng_arena_free(&s->arena);
	free(s->panel_sum);
	free(s->final_norm);
}
