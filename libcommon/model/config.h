/* A model's config.json: the hyperparameters the engine needs, checked, and
 * the verdict on its architecture.  Unsupported architectures are refused
 * with their name and the reason. */
#ifndef EXO_MODEL_CONFIG_H
#define EXO_MODEL_CONFIG_H
#include <stdbool.h>
#include <stddef.h>
#include "util/err.h"

enum model_arch { ARCH_LLAMA, ARCH_MISTRAL, ARCH_QWEN2, ARCH_QWEN3, ARCH_QWEN3_MOE, ARCH_MIXTRAL };
enum rope_kind { ROPE_DEFAULT, ROPE_LINEAR, ROPE_LLAMA3 };

/* How an architecture builds its decoder layer: which parts it has and the
 * names it stores them under.  The engine composes a layer from these parts;
 * a new architecture is a new row of the table in config.c (and a new part
 * only when it brings one: MLA attention, shared experts, sinks...). */
struct model_recipe {
	const char *architecture;   /* "Qwen3MoeForCausalLM" */
	enum model_arch arch;
	bool qkv_bias;              /* q/k/v biases whatever attention_bias says (Qwen2) */
	bool qk_norm;               /* RMSNorm of each q and k head before RoPE (Qwen3) */
	bool sliding_flag;          /* sliding_window applies only with use_sliding_window */
	/* Sparse MLP (NULL: every layer dense): the router is PREFIX.gate.weight
	 * [experts, hidden], expert e's SwiGLU PREFIX.experts.e.{GATE,UP,DOWN}.weight. */
	const char *moe_prefix;
	const char *expert_gate, *expert_up, *expert_down;
	bool always_renormalise;    /* top-k weights renormalised whatever norm_topk_prob says */
};

#define MODEL_MAX_EOS 16
#define MODEL_MAX_LAYERS 4096   /* for the dense-layer map of sparse models */

struct model_config {
	enum model_arch arch;
	char architecture[64];  /* as written, e.g. "LlamaForCausalLM" */
	char model_type[32];
	int n_layers;
	int hidden;
	int n_heads;
	int n_kv_heads;
	int head_dim;
	int ffn;                /* intermediate_size */
	int vocab;
	int max_pos;            /* max_position_embeddings */
	float rms_eps;
	double rope_theta;
	enum rope_kind rope;
	double rope_factor, rope_low_freq, rope_high_freq;
	int rope_orig_max_pos;
	bool tied_embeddings;
	bool qkv_bias;
	char torch_dtype[16];   /* "float32", "bfloat16", "float16" or "" (torch_dtype or dtype) */
	int bos_token, eos_token;  /* -1 when absent; eos_token: the first of eos_tokens */
	int eos_tokens[MODEL_MAX_EOS];  /* eos_token_id as a number or a list: each one stops */
	int n_eos;
	const struct model_recipe *recipe;
	bool qk_norm;           /* recipe->qk_norm */
	/* Mixture of experts (n_experts 0: dense) */
	int n_experts;          /* num_experts (Qwen) or num_local_experts (Mixtral) */
	int n_experts_used;     /* num_experts_per_tok */
	int moe_ffn;            /* moe_intermediate_size, else intermediate_size */
	bool norm_topk_prob;
	int sparse_step;        /* decoder_sparse_step */
	unsigned char dense_layer[MODEL_MAX_LAYERS / 8];  /* mlp_only_layers, a bit per layer */
};

/* Parse dir/config.json.  Errors (code EXO_DATAERR) name the file and field;
 * an unsupported architecture names it and says why. */
int model_config_load(struct model_config *c, const char *dir, struct exo_err *e);
/* The same from JSON text; source names it in errors. */
int model_config_parse(struct model_config *c, const char *json, const char *source,
		       struct exo_err *e);
/* Does layer i (0-based) have a sparse (mixture of experts) MLP? */
bool model_layer_is_sparse(const struct model_config *c, int layer);
/* Parameters of the whole model, and the active ones as model cards count
 * them: all but the experts a token does not use (30.5 B and 3.3 B for
 * Qwen3-30B-A3B). */
void model_param_counts(const struct model_config *c, double *total, double *active);
/* Parameters of layer i: all its weights, and those one token reads
 * (attention, norms, the router and k experts of a sparse layer). */
void model_layer_params(const struct model_config *c, int layer, double *total, double *active);
/* inv_freq[head_dim/2] as transformers computes it, scaling included. */
void model_rope_inv_freq(const struct model_config *c, float *inv_freq);
#endif
