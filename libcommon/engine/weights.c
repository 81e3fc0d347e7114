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

static int load_matrix(struct eng_stage *s, struct eng_mat *m, const char *name, int64_t rows,
		       int64_t cols, int dtype, struct exo_err *e)
{
	const struct st_tensor *t = tensor(s, name, rows, cols, e);
	if (!t)
		return -1;
	m->dtype = t->dtype;
	m->data = t->data;
	m->rows = (size_t)rows;
	m->cols = (size_t)cols;
	m->row_bytes = kern_row_bytes(t->dtype, m->cols);
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

static int load_layer(struct eng_stage *s, int i, int dtype, struct exo_err *e)
{
	const struct model_config *c = &s->cfg;
	struct eng_layer *l = &s->layers[i - s->first];
	char n[160];
#define NAME(suffix) (snprintf(n, sizeof n, "model.layers.%d.%s", i, suffix), n)
	if (!(l->attn_norm = load_vector(s, NAME("input_layernorm.weight"), c->hidden, e)) ||
	    !(l->ffn_norm = load_vector(s, NAME("post_attention_layernorm.weight"), c->hidden, e)) ||
	    load_matrix(s, &l->wq, NAME("self_attn.q_proj.weight"), s->q_dim, c->hidden, dtype, e) ||
	    load_matrix(s, &l->wk, NAME("self_attn.k_proj.weight"), s->kv_dim, c->hidden, dtype, e) ||
	    load_matrix(s, &l->wv, NAME("self_attn.v_proj.weight"), s->kv_dim, c->hidden, dtype, e) ||
	    load_matrix(s, &l->wo, NAME("self_attn.o_proj.weight"), c->hidden, s->q_dim, dtype, e) ||
	    load_matrix(s, &l->gate, NAME("mlp.gate_proj.weight"), c->ffn, c->hidden, dtype, e) ||
	    load_matrix(s, &l->up, NAME("mlp.up_proj.weight"), c->ffn, c->hidden, dtype, e) ||
	    load_matrix(s, &l->down, NAME("mlp.down_proj.weight"), c->hidden, c->ffn, dtype, e))
		return -1;
	if (c->qkv_bias &&
	    (!(l->bq = load_vector(s, NAME("self_attn.q_proj.bias"), s->q_dim, e)) ||
	     !(l->bk = load_vector(s, NAME("self_attn.k_proj.bias"), s->kv_dim, e)) ||
	     !(l->bv = load_vector(s, NAME("self_attn.v_proj.bias"), s->kv_dim, e))))
		return -1;
#undef NAME
	return 0;
}

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
	}
	free(s->layers);
	eng_arena_free(&s->arena);
	free(s->panel_sum);
	free(s->final_norm);
}
