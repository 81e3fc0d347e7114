/* The engine's private structures, shared by its files. */
#ifndef EXO_ENGINE_INTERNAL_H
#define EXO_ENGINE_INTERNAL_H
#include "engine/engine.h"
#include <stdbool.h>
#include "kernels/kern.h"
#include "model/checkpoint.h"

/* Matrices wider than this are stored as panels of this many columns
 * (engine/matrix.c); a panel's slice of x is 8 KB of f32.  EXO_PANEL_COLS
 * overrides it (tests run the small fixture models through many panels). */
#define ENG_PANEL_COLS 2048

/* A weight matrix [rows, cols] in some kern_dtype, in the stage's arena. */
struct eng_mat {
	int dtype;
	const void *data;                /* panels one after another */
	size_t rows, cols, row_bytes;    /* row_bytes: of a whole row of cols */
	size_t panel_cols;               /* cols of every panel but the last */
	bool packed;                     /* panels in the kernels' packed layout */
};

/* Huge-page chunks the stage's matrices are carved from (engine/matrix.c),
 * unmapped with the stage. */
struct eng_arena_chunk { char *base; size_t len, used; };
struct eng_arena { struct eng_arena_chunk *chunks; size_t n; bool small_pages; };

/* One expert of a sparse MLP: a SwiGLU of moe_intermediate_size. */
struct eng_expert { struct eng_mat gate, up, down; };

/* A decoder layer, its parts as the config's recipe names them. */
struct eng_layer {
	float *attn_norm, *ffn_norm;     /* [hidden], f32 copies */
	float *bq, *bk, *bv;             /* qkv biases or NULL */
	float *q_norm, *k_norm;          /* [head_dim] per-head norms (Qwen3) or NULL */
	struct eng_mat wq, wk, wv, wo;
	struct eng_mat gate, up, down;   /* dense MLP (experts NULL) */
	struct eng_mat router;           /* sparse MLP: [experts, hidden], kept as stored */
	struct eng_expert *experts;      /* cfg.n_experts of them, or NULL: dense */
};

/* Per-forward scratch, grown to the largest n seen, never shrunk. */
struct eng_scratch {
	size_t cap_tokens;
	float *x, *xb, *q, *k, *v, *att, *gate, *up;
	float *scores;                   /* threads x ctx */
	float *panel_x, *panel_y;        /* prefill through panelled matrices */
	/* sparse MLP: router logits [n, experts]; the rows routed to one expert
	 * gathered [n, hidden] and its output; the weighted sum [n, hidden] */
	float *router, *moe_x, *moe_y, *moe_sum;
	int32_t *choice;                 /* [n, k] experts chosen per position */
	float *choice_w;                 /* [n, k] their weights */
	int32_t *routed;                 /* [n * k] positions grouped by expert */
	float *routed_w;
	/* decode: the k chosen experts' SwiGLU at once, [k, moe_ffn] and [k, hidden] */
	float *expert_g, *expert_u, *expert_y;
	/* prefill, experts shared out among threads: where each expert's
	 * positions start in routed [experts + 1], its outputs per (position,
	 * choice) [n * k, hidden], and each thread's gathered input, SwiGLU and
	 * output for up to moe_rows positions */
	size_t *expert_start;
	float *moe_out;
	float *moe_tx, *moe_tg, *moe_tu, *moe_ty;
	size_t moe_rows;
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
	eng_router_hook router_hook;
	void *router_hook_arg;
	size_t weight_bytes;
	size_t expert_bytes;             /* of weight_bytes, in experts */
	float *panel_sum;                /* panel_sum_rows: the tallest panelled matrix */
	size_t panel_sum_rows;
	size_t panel_cols;               /* ENG_PANEL_COLS unless EXO_PANEL_COLS says */
	struct eng_arena arena;
	struct eng_runner *runner;       /* opts.compute_thread: runs every region */
	bool rounds_x;                   /* a matrix whose packed kernels round x (kern.h) */
};

struct eng_kv {
	int len, ctx, n_layers;
	size_t kv_dim;
	float *k, *v;                    /* [n_layers, ctx, kv_dim] */
};

/* Copy (and convert to type to) a matrix that points into the checkpoint
 * into the stage's arena in panels; the source pages are released. */
int eng_mat_place(struct eng_stage *s, struct eng_mat *m, int to, const char *name, struct exo_err *e);
void eng_arena_free(struct eng_arena *a);
size_t eng_mat_panels(const struct eng_mat *m);
/* Panel p and its width in columns. */
const void *eng_mat_panel(const struct eng_mat *m, size_t p, size_t *width);
/* Row r widened to f32 (cols values). */
void eng_mat_row_f32(const struct eng_stage *s, const struct eng_mat *m, size_t r, float *out);

int eng_load_weights(struct eng_stage *s, int dtype, struct exo_err *e);
void eng_free_weights(struct eng_stage *s);

/* runner.c: a thread that runs jobs one at a time, for callers on any thread. */
struct eng_runner;
struct eng_runner *eng_runner_new(void);
void eng_runner_call(struct eng_runner *r, void (*job)(void *), void *arg);
void eng_runner_free(struct eng_runner *r);
/* out[n, rows] = in[n, cols] . W^T, threaded. */
void eng_matmul(struct eng_stage *s, const struct eng_mat *w, const float *in, float *out, size_t n);
#endif
