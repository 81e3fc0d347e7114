/* A model's config.json: the hyperparameters the engine needs, checked, and
 * the verdict on its architecture.  Unsupported architectures are refused
 * with their name and the reason. */
#ifndef EXO_MODEL_CONFIG_H
#define EXO_MODEL_CONFIG_H
#include <stdbool.h>
#include <stddef.h>
#include "util/err.h"

enum model_arch { ARCH_LLAMA, ARCH_MISTRAL, ARCH_QWEN2 };
enum rope_kind { ROPE_DEFAULT, ROPE_LINEAR, ROPE_LLAMA3 };

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
	char torch_dtype[16];   /* "float32", "bfloat16", "float16" or "" */
	int bos_token, eos_token;  /* -1 when absent */
};

/* Parse dir/config.json.  Errors (code EXO_DATAERR) name the file and field;
 * an unsupported architecture names it and says why. */
int model_config_load(struct model_config *c, const char *dir, struct exo_err *e);
/* The same from JSON text; source names it in errors. */
int model_config_parse(struct model_config *c, const char *json, const char *source,
		       struct exo_err *e);
/* inv_freq[head_dim/2] as transformers computes it, scaling included. */
void model_rope_inv_freq(const struct model_config *c, float *inv_freq);
#endif
