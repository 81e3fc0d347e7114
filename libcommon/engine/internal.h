/* The engine's private structures, shared by its files. */
#ifndef EXO_ENGINE_INTERNAL_H
#define EXO_ENGINE_INTERNAL_H
#include "engine/engine.h"
#include "kernels/kern.h"
#include "model/checkpoint.h"

/* A weight matrix [rows, cols] in some kern_dtype; data is in the mapping or
 * in owned (converted at load). */
struct eng_mat {
	int dtype;
	const void *data;
	size_t rows, cols, row_bytes;
	void *owned;
};

struct eng_layer {
	float *attn_norm, *ffn_norm;     /* [hidden], f32 copies */
	float *bq, *bk, *bv;             /* qkv biases or NULL */
	struct eng_mat wq, wk, wv, wo, gate, up, down;
};

/* Per-forward scratch, grown to the largest n seen, never shrunk. */
struct eng_scratch {
	size_t cap_tokens;
	float *x, *xb, *q, *k, *v, *att, *gate, *up;
	float *scores;                   /* threads x ctx */
};

struct eng_stage {
	struct ckpt *ckpt;
	struct model_config cfg;
	const struct kern_ops *ops;
	int first, last, threads, ctx;
	int q_dim, kv_dim;
	struct eng_mat embed, head;      /* embed: first stage; head: last stage */
	float *final_norm;
	struct eng_layer *layers;        /* last - first */
	float *rope_cos, *rope_sin;      /* [ctx, head_dim/2] */
	struct eng_scratch sc;
	eng_layer_hook hook;
	void *hook_arg;
	size_t weight_bytes;
};

struct eng_kv {
	int len, ctx, n_layers;
	size_t kv_dim;
	float *k, *v;                    /* [n_layers, ctx, kv_dim] */
};

int eng_load_weights(struct eng_stage *s, int dtype, struct exo_err *e);
void eng_free_weights(struct eng_stage *s);
/* out[n, rows] = in[n, cols] . W^T, threaded. */
void eng_matmul(struct eng_stage *s, const struct eng_mat *w, const float *in, float *out, size_t n);
#endif
