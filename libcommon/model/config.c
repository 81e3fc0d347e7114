/* config.json: parsing with jansson, the architecture verdict, RoPE frequencies. */
#include "model/config.h"
#include "model/gguf.h"
#include "util/file.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Architectures we run, as layer recipes (model/config.h). */
static const struct model_recipe recipes[] = {
	{.architecture = "LlamaForCausalLM", .arch = ARCH_LLAMA},
	{.architecture = "MistralForCausalLM", .arch = ARCH_MISTRAL},
	{.architecture = "Qwen2ForCausalLM", .arch = ARCH_QWEN2, .qkv_bias = true, .sliding_flag = true},
	{.architecture = "Qwen3ForCausalLM", .arch = ARCH_QWEN3, .qk_norm = true, .sliding_flag = true},
	{.architecture = "Qwen3MoeForCausalLM", .arch = ARCH_QWEN3_MOE, .qk_norm = true,
	 .sliding_flag = true, .moe_prefix = "mlp", .expert_gate = "gate_proj",
	 .expert_up = "up_proj", .expert_down = "down_proj"},
	{.architecture = "MixtralForCausalLM", .arch = ARCH_MIXTRAL, .moe_prefix = "block_sparse_moe",
	 .expert_gate = "w1", .expert_up = "w3", .expert_down = "w2", .always_renormalise = true},
};
/* Those we refuse, with the reason an operator needs. */
static const struct { const char *name, *why; } refused[] = {
	{"NemotronHForCausalLM", "hybrid Mamba / mixture-of-experts layers"},
	{"Qwen2MoeForCausalLM", "mixture-of-experts layers with a shared expert"},
	{"DeepseekV3ForCausalLM", "mixture-of-experts layers with multi-head latent attention"},
	{"MambaForCausalLM", "state-space (Mamba) layers"},
	{"Mamba2ForCausalLM", "state-space (Mamba) layers"},
	{"JambaForCausalLM", "hybrid Mamba / mixture-of-experts layers"},
	{"Gemma2ForCausalLM", "logit soft-capping and alternating sliding-window attention"},
	{"Phi3ForCausalLM", "fused qkv and gate_up projections"},
	{"LlavaForConditionalGeneration", "vision encoder"},
	{"BertModel", "encoder-only model"},
	{"T5ForConditionalGeneration", "encoder-decoder model"},
};

static int get_int(json_t *root, const char *key, int *out, int required, const char *src,
		   struct exo_err *e)
{
	json_t *v = json_object_get(root, key);
	if (!v || json_is_null(v)) {
		if (required)
			return exo_error(e, EXO_DATAERR, "%s: field '%s' is missing", src, key);
		return 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 1 << 30)
		return exo_error(e, EXO_DATAERR, "%s: field '%s': expected a non-negative integer",
				 src, key);
	*out = (int)json_integer_value(v);
	return 0;
}

static int get_num(json_t *root, const char *key, double *out, const char *src,
		   struct exo_err *e)
{
	json_t *v = json_object_get(root, key);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_number(v))
		return exo_error(e, EXO_DATAERR, "%s: field '%s': expected a number", src, key);
	*out = json_number_value(v);
	return 0;
}

static int check_architecture(struct model_config *c, json_t *root, const char *src,
			      struct exo_err *e)
{
	json_t *archs = json_object_get(root, "architectures");
	const char *name = json_string_value(json_array_get(archs, 0));
	if (!name)
		return exo_error(e, EXO_DATAERR, "%s: field 'architectures': expected a list of names",
				 src);
	snprintf(c->architecture, sizeof c->architecture, "%s", name);
	for (size_t i = 0; i < sizeof recipes / sizeof *recipes; i++)
		if (strcmp(name, recipes[i].architecture) == 0) {
			c->recipe = &recipes[i];
			c->arch = recipes[i].arch;
			c->qk_norm = recipes[i].qk_norm;
			return 0;
		}
	for (size_t i = 0; i < sizeof refused / sizeof *refused; i++)
		if (strcmp(name, refused[i].name) == 0)
			return exo_error(e, EXO_DATAERR, "%s: architecture %s is not supported: %s", src,
					 name, refused[i].why);
	return exo_error(e, EXO_DATAERR,
			 "%s: architecture %s is not supported: only LlamaForCausalLM, "
			 "MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM, Qwen3MoeForCausalLM "
			 "and MixtralForCausalLM are",
			 src, name);
}

/* RoPE: transformers 4.x writes rope_theta and rope_scaling (null or an
 * object), 5.x one rope_parameters object holding rope_theta and the scaling. */
static int parse_rope(struct model_config *c, json_t *root, const char *src, struct exo_err *e)
{
	const char *key = "rope_scaling";
	json_t *rs = json_object_get(root, key);
	json_t *rp = json_object_get(root, "rope_parameters");
	double theta = 10000;
	if (get_num(root, "rope_theta", &theta, src, e) < 0)
		return -1;
	if (rp && !json_is_null(rp)) {
		if (!json_is_object(rp))
			return exo_error(e, EXO_DATAERR, "%s: field 'rope_parameters': expected an object", src);
		key = "rope_parameters";
		rs = rp;
		if (get_num(rp, "rope_theta", &theta, src, e) < 0)
			return -1;
	}
	c->rope_theta = theta;
	c->rope = ROPE_DEFAULT;
	if (!rs || json_is_null(rs))
		return 0;
	if (!json_is_object(rs))
		return exo_error(e, EXO_DATAERR, "%s: field '%s': expected an object or null", src, key);
	const char *type = json_string_value(json_object_get(rs, "rope_type"));
	if (!type)
		type = json_string_value(json_object_get(rs, "type"));
	if (!type && rs == rp)
		type = "default";
	if (!type)
		return exo_error(e, EXO_DATAERR, "%s: field '%s.rope_type' is missing", src, key);
	c->rope_factor = 1;
	if (get_num(rs, "factor", &c->rope_factor, src, e) < 0)
		return -1;
	if (strcmp(type, "default") == 0)
		return 0;
	if (!(c->rope_factor > 0))
		return exo_error(e, EXO_DATAERR, "%s: field '%s.factor': expected > 0", src, key);
	if (strcmp(type, "linear") == 0) {
		c->rope = ROPE_LINEAR;
		return 0;
	}
	if (strcmp(type, "llama3") != 0)
		return exo_error(e, EXO_DATAERR, "%s: %s type '%s' is not supported "
				 "(default, linear and llama3 are)", src, key, type);
	c->rope = ROPE_LLAMA3;
	c->rope_low_freq = 1, c->rope_high_freq = 4;
	if (get_num(rs, "low_freq_factor", &c->rope_low_freq, src, e) < 0 ||
	    get_num(rs, "high_freq_factor", &c->rope_high_freq, src, e) < 0 ||
	    get_int(rs, "original_max_position_embeddings", &c->rope_orig_max_pos, 1, src, e) < 0)
		return -1;
	if (!(c->rope_high_freq > c->rope_low_freq) || c->rope_orig_max_pos <= 0)
		return exo_error(e, EXO_DATAERR, "%s: %s: need high_freq_factor > "
				 "low_freq_factor and original_max_position_embeddings > 0", src, key);
	return 0;
}

/* eos_token_id: a number, a list of numbers (Llama 3.x Instruct), or null. */
static int parse_eos(struct model_config *c, json_t *root, const char *src, struct exo_err *e)
{
	json_t *v = json_object_get(root, "eos_token_id"), *it;
	if (!v || json_is_null(v))
		return 0;
	if (json_is_integer(v))
		return get_int(root, "eos_token_id", &c->eos_token, 0, src, e) < 0 ? -1
		       : (c->eos_tokens[c->n_eos++] = c->eos_token, 0);
	if (!json_is_array(v))
		return exo_error(e, EXO_DATAERR, "%s: field 'eos_token_id': expected a token id, a "
				 "list of them or null", src);
	size_t i;
	json_array_foreach(v, i, it) {
		if (!json_is_integer(it) || json_integer_value(it) < 0 || json_integer_value(it) > 1 << 30)
			return exo_error(e, EXO_DATAERR, "%s: field 'eos_token_id[%zu]': expected a "
					 "non-negative integer", src, i);
		if (c->n_eos == MODEL_MAX_EOS)
			return exo_error(e, EXO_DATAERR, "%s: field 'eos_token_id': more than %d ids", src,
					 MODEL_MAX_EOS);
		c->eos_tokens[c->n_eos++] = (int)json_integer_value(it);
	}
	c->eos_token = c->n_eos ? c->eos_tokens[0] : -1;
	return 0;
}

/* Weights quantised by a method the engine does not read (awq, gptq,
 * bitsandbytes, fp8, compressed-tensors...) would load as garbage, or not at
 * all: refuse them by name.  mlx-lm writes its {group_size, bits, mode}
 * block twice, as "quantization" and as a "quantization_config" without a
 * quant_method: that one is the MLX weight reader's business. */
static int check_quantization(json_t *root, const char *src, struct exo_err *e)
{
	json_t *q = json_object_get(root, "quantization_config");
	const char *method = json_string_value(json_object_get(q, "quant_method"));
	/* mlx-lm's copy of its "quantization" block: model/quant.c reads it */
	bool mlx = json_is_object(json_object_get(root, "quantization")) ||
		   json_object_get(q, "bits") || json_object_get(q, "group_size");
	if (!method && mlx)
		return 0;
	if (!method)
		return 0;
	return exo_error(e, EXO_DATAERR, "%s: quantization_config.quant_method '%s' is not "
			 "supported", src, method);
}

/* num_experts (Qwen) or num_local_experts (Mixtral), top-k, the expert FFN
 * width and which layers stay dense (mlp_only_layers, decoder_sparse_step). */
static int parse_experts(struct model_config *c, json_t *root, const char *src, struct exo_err *e)
{
	c->sparse_step = 1;
	c->norm_topk_prob = c->recipe->always_renormalise;
	if (!c->recipe->moe_prefix)
		return 0;
	const char *count = json_object_get(root, "num_local_experts") ? "num_local_experts"
									   : "num_experts";
	c->moe_ffn = c->ffn;
	if (get_int(root, count, &c->n_experts, 1, src, e) < 0 ||
	    get_int(root, "num_experts_per_tok", &c->n_experts_used, 1, src, e) < 0 ||
	    get_int(root, "moe_intermediate_size", &c->moe_ffn, 0, src, e) < 0 ||
	    get_int(root, "decoder_sparse_step", &c->sparse_step, 0, src, e) < 0)
		return -1;
	if (!c->recipe->always_renormalise)
		c->norm_topk_prob = json_is_true(json_object_get(root, "norm_topk_prob"));
	if (c->n_experts <= 0 || c->n_experts_used <= 0 || c->n_experts_used > c->n_experts ||
	    c->moe_ffn <= 0 || c->sparse_step <= 0)
		return exo_error(e, EXO_DATAERR, "%s: %s %d, num_experts_per_tok %d, "
				 "moe_intermediate_size %d and decoder_sparse_step %d: need 0 < k <= "
				 "experts and sizes > 0", src, count, c->n_experts, c->n_experts_used,
				 c->moe_ffn, c->sparse_step);
	if (c->n_layers > MODEL_MAX_LAYERS)
		return exo_error(e, EXO_DATAERR, "%s: %d layers: at most %d with experts", src,
				 c->n_layers, MODEL_MAX_LAYERS);
	json_t *dense = json_object_get(root, "mlp_only_layers"), *it;
	size_t i;
	if (dense && !json_is_null(dense) && !json_is_array(dense))
		return exo_error(e, EXO_DATAERR, "%s: field 'mlp_only_layers': expected a list", src);
	json_array_foreach(dense, i, it) {
		json_int_t l = json_integer_value(it);
		if (!json_is_integer(it) || l < 0 || l >= c->n_layers)
			return exo_error(e, EXO_DATAERR, "%s: field 'mlp_only_layers[%zu]': expected a "
					 "layer below %d", src, i, c->n_layers);
		c->dense_layer[l / 8] |= (unsigned char)(1u << (l % 8));
	}
	return 0;
}

static void parse_strings(struct model_config *c, json_t *root)
{
	c->tied_embeddings = json_is_true(json_object_get(root, "tie_word_embeddings"));
	c->qkv_bias = c->recipe->qkv_bias || json_is_true(json_object_get(root, "attention_bias"));
	const char *mt = json_string_value(json_object_get(root, "model_type"));
	snprintf(c->model_type, sizeof c->model_type, "%s", mt ? mt : "");
	/* transformers 5.x writes dtype, 4.x torch_dtype */
	const char *dt = json_string_value(json_object_get(root, "torch_dtype"));
	if (!dt)
		dt = json_string_value(json_object_get(root, "dtype"));
	snprintf(c->torch_dtype, sizeof c->torch_dtype, "%s", dt ? dt : "");
}

static int check_shapes(const struct model_config *c, const char *src, struct exo_err *e)
{
	if (c->n_layers <= 0 || c->hidden <= 0 || c->n_heads <= 0 || c->ffn <= 0 || c->vocab <= 0)
		return exo_error(e, EXO_DATAERR, "%s: num_hidden_layers, hidden_size, "
				 "num_attention_heads, intermediate_size and vocab_size must be > 0", src);
	if (c->n_kv_heads <= 0 || c->n_heads % c->n_kv_heads)
		return exo_error(e, EXO_DATAERR, "%s: num_attention_heads %d is not a multiple of "
				 "num_key_value_heads %d", src, c->n_heads, c->n_kv_heads);
	if (c->head_dim <= 0 || c->head_dim % 2)
		return exo_error(e, EXO_DATAERR, "%s: head_dim %d must be even and > 0", src, c->head_dim);
	if (!(c->rms_eps > 0) || !(c->rope_theta > 0))
		return exo_error(e, EXO_DATAERR, "%s: rms_norm_eps and rope_theta must be > 0", src);
	return 0;
}

static int parse_fields(struct model_config *c, json_t *root, const char *src, struct exo_err *e)
{
	c->head_dim = 0;
	c->max_pos = 4096;
	c->n_kv_heads = 0;
	if (get_int(root, "num_hidden_layers", &c->n_layers, 1, src, e) < 0 ||
	    get_int(root, "hidden_size", &c->hidden, 1, src, e) < 0 ||
	    get_int(root, "num_attention_heads", &c->n_heads, 1, src, e) < 0 ||
	    get_int(root, "num_key_value_heads", &c->n_kv_heads, 0, src, e) < 0 ||
	    get_int(root, "head_dim", &c->head_dim, 0, src, e) < 0 ||
	    get_int(root, "intermediate_size", &c->ffn, 1, src, e) < 0 ||
	    get_int(root, "vocab_size", &c->vocab, 1, src, e) < 0 ||
	    get_int(root, "max_position_embeddings", &c->max_pos, 0, src, e) < 0 ||
	    get_int(root, "bos_token_id", &c->bos_token, 0, src, e) < 0 ||
	    parse_eos(c, root, src, e) < 0 || check_quantization(root, src, e) < 0)
		return -1;
	if (!c->n_kv_heads)
		c->n_kv_heads = c->n_heads;
	if (!c->head_dim && c->n_heads)
		c->head_dim = c->hidden / c->n_heads;
	double eps = 1e-6;
	if (get_num(root, "rms_norm_eps", &eps, src, e) < 0)
		return -1;
	c->rms_eps = (float)eps;
	parse_strings(c, root);
	json_t *sw = json_object_get(root, "sliding_window");
	bool uses_sw = c->recipe->sliding_flag
			       ? json_is_true(json_object_get(root, "use_sliding_window"))
			       : sw && !json_is_null(sw);
	if (uses_sw && json_integer_value(sw) < c->max_pos)
		return exo_error(e, EXO_DATAERR, "%s: sliding_window attention (window %lld) is not "
				 "supported", src, (long long)json_integer_value(sw));
	if (parse_rope(c, root, src, e) < 0 || parse_experts(c, root, src, e) < 0)
		return -1;
	return check_shapes(c, src, e);
}

int model_config_parse(struct model_config *c, const char *text, const char *src,
		       struct exo_err *e)
{
	memset(c, 0, sizeof *c);
	c->bos_token = c->eos_token = -1;
	json_error_t je;
	json_t *root = json_loads(text, 0, &je);
	if (!root)
		return exo_error(e, EXO_DATAERR, "%s:%d:%d: %s", src, je.line, je.column, je.text);
	int rc = -1;
	if (!json_is_object(root))
		exo_error(e, EXO_DATAERR, "%s: expected a JSON object", src);
	else if (check_architecture(c, root, src, e) == 0)
		rc = parse_fields(c, root, src, e);
	json_decref(root);
	return rc;
}

bool model_layer_is_sparse(const struct model_config *c, int layer)
{
	if (c->n_experts <= 0 || layer < 0 || layer >= c->n_layers)
		return false;
	if (c->dense_layer[layer / 8] & (1u << (layer % 8)))
		return false;
	return (layer + 1) % c->sparse_step == 0;
}

void model_layer_params(const struct model_config *c, int layer, double *total, double *active)
{
	double H = c->hidden, q = (double)c->n_heads * c->head_dim;
	double kv = (double)c->n_kv_heads * c->head_dim;
	double attn = H * q * 2 + H * kv * 2 + 2 * H;   /* q, o, k, v, the two norms */
	if (c->qkv_bias)
		attn += q + 2 * kv;
	if (c->qk_norm)
		attn += 2.0 * c->head_dim;
	if (!model_layer_is_sparse(c, layer)) {
		*total = *active = attn + 3 * H * c->ffn;
		return;
	}
	double expert = 3 * H * c->moe_ffn, router = H * c->n_experts;
	*total = attn + router + expert * c->n_experts;
	*active = attn + router + expert * c->n_experts_used;
}

void model_param_counts(const struct model_config *c, double *total, double *active)
{
	double embed = (double)c->vocab * c->hidden;
	double head = c->tied_embeddings ? 0 : embed;
	/* "active" as model cards count it: every weight but the experts not chosen */
	*total = *active = embed + head + c->hidden;
	for (int i = 0; i < c->n_layers; i++) {
		double t, a;
		model_layer_params(c, i, &t, &a);
		*total += t;
		*active += a;
	}
}

int model_config_load(struct model_config *c, const char *dir, struct exo_err *e)
{
	if (gguf_is_file(dir))       /* a GGUF checkpoint is one file, config included */
		return gguf_model_config(c, dir, e);
	char path[4096];
	snprintf(path, sizeof path, "%s/config.json", dir);
	char *text = file_read_all(path, NULL, e);
	if (!text)
		return -1;
	int rc = model_config_parse(c, text, path, e);
	free(text);
	return rc;
}

/* transformers: inv_freq = 1 / theta^(2i/d) in float32, then the scaling of
 * rope_type (_compute_llama3_parameters for llama3, /factor for linear). */
void model_rope_inv_freq(const struct model_config *c, float *inv_freq)
{
	int half = c->head_dim / 2;
	for (int i = 0; i < half; i++) {
		float exponent = (float)(2 * i) / (float)c->head_dim;
		float f = (float)(1.0 / pow(c->rope_theta, exponent));
		if (c->rope == ROPE_LINEAR)
			f = (float)(f / c->rope_factor);
		if (c->rope == ROPE_LLAMA3) {
			double orig = c->rope_orig_max_pos, wavelen = 2 * M_PI / f;
			double low_wl = orig / c->rope_low_freq, high_wl = orig / c->rope_high_freq;
			if (wavelen > low_wl) {
				f = (float)(f / c->rope_factor);
			} else if (wavelen >= high_wl) {
				double s = (orig / wavelen - c->rope_low_freq) /
					   (c->rope_high_freq - c->rope_low_freq);
				f = (float)((1 - s) * f / c->rope_factor + s * f);
			}
		}
		inv_freq[i] = f;
	}
}
