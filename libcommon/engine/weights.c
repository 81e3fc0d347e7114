/* Loading a stage's weights: only the tensors of its layers (plus the
 * embedding for the first stage and norm + head for the last), each checked
 * against the config's shape, used in place or converted to --dtype. */
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

/* Drop the mapped pages wholly inside [p, p+len) from this process once a
 * converted copy exists, so a Q8_0/Q4_0 stage's resident memory is its
 * converted share, not that plus the source pages it read. */
static void release_mapped(const void *p, size_t len)
{
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t a = ((uintptr_t)p + page - 1) & ~(page - 1), b = ((uintptr_t)p + len) & ~(page - 1);
	if (b > a)
		madvise((void *)a, b - a, MADV_DONTNEED);
}

/* Convert a stored matrix row by row to another type (Q types quantise). */
static int convert(struct eng_stage *s, struct eng_mat *m, int to, const char *name,
		   struct exo_err *e)
{
	size_t rb = kern_row_bytes(to, m->cols);
	float *row = malloc(m->cols * sizeof *row);
	char *dst = malloc(size_mul(rb, m->rows));
	if (!row || !dst) {
		free(row);
		free(dst);
		return exo_error(e, EXO_SOFTWARE, "out of memory converting %s to %s", name,
				 kern_dtype_name(to));
	}
	for (size_t r = 0; r < m->rows; r++) {
		s->ops->to_f32[m->dtype]((const char *)m->data + r * m->row_bytes, row, m->cols);
		s->ops->from_f32[to](row, dst + r * rb, m->cols);
	}
	free(row);
	release_mapped(m->data, m->rows * m->row_bytes);
	m->owned = dst;
	m->data = dst;
	m->dtype = to;
	m->row_bytes = rb;
	return 0;
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
	if (dtype >= 0 && dtype != m->dtype) {
		if (!kern_row_bytes(dtype, m->cols))
			log_info("%s: %lld columns are not whole %s blocks; kept as %s", name,
				 (long long)cols, kern_dtype_name(dtype), kern_dtype_name(m->dtype));
		else if (convert(s, m, dtype, name, e) < 0)
			return -1;
	}
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
	if (!head)
		return 0;
	if (!(s->final_norm = load_vector(s, "model.norm.weight", c->hidden, e)))
		return -1;
	if (c->tied_embeddings) {
		s->head = s->embed;
		s->head.owned = NULL; /* owned by embed */
		return 0;
	}
	return load_matrix(s, &s->head, "lm_head.weight", c->vocab, c->hidden, dtype, e);
}

void eng_free_weights(struct eng_stage *s)
{
	for (int i = 0; s->layers && i < s->last - s->first; i++) {
		struct eng_layer *l = &s->layers[i];
		free(l->attn_norm), free(l->ffn_norm), free(l->bq), free(l->bk), free(l->bv);
		struct eng_mat *m[] = {&l->wq, &l->wk, &l->wv, &l->wo, &l->gate, &l->up, &l->down};
		for (size_t j = 0; j < sizeof m / sizeof *m; j++)
			free(m[j]->owned);
	}
	free(s->layers);
	free(s->embed.owned);
	free(s->head.owned);
	free(s->final_norm);
}
