/* config.json: parsing with jansson, the architecture verdict, RoPE frequencies. */
#include "model/config.h"
#include "model/gguf.h"
#include "util/file.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Architectures we run, and those we refuse with the reason an operator needs. */
static const struct { const char *name; enum model_arch arch; } supported[] = {
	{"LlamaForCausalLM", ARCH_LLAMA},
	{"MistralForCausalLM", ARCH_MISTRAL},
	{"Qwen2ForCausalLM", ARCH_QWEN2},
};
static const struct { const char *name, *why; } refused[] = {
	{"NemotronHForCausalLM", "hybrid Mamba / mixture-of-experts layers"},
	{"MixtralForCausalLM", "mixture-of-experts layers"},
	{"Qwen2MoeForCausalLM", "mixture-of-experts layers"},
	{"Qwen3MoeForCausalLM", "mixture-of-experts layers"},
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
	for (size_t i = 0; i < sizeof supported / sizeof *supported; i++)
		if (strcmp(name, supported[i].name) == 0) {
			c->arch = supported[i].arch;
			return 0;
		}
	for (size_t i = 0; i < sizeof refused / sizeof *refused; i++)
		if (strcmp(name, refused[i].name) == 0)
			return exo_error(e, EXO_DATAERR, "%s: architecture %s is not supported: %s", src,
					 name, refused[i].why);
	return exo_error(e, EXO_DATAERR,
			 "%s: architecture %s is not supported: only LlamaForCausalLM, "
			 "MistralForCausalLM and Qwen2ForCausalLM are",
			 src, name);
}

static int parse_rope_scaling(struct model_config *c, json_t *root, const char *src,
			      struct exo_err *e)
{
	json_t *rs = json_object_get(root, "rope_scaling");
	c->rope = ROPE_DEFAULT;
	if (!rs || json_is_null(rs))
		return 0;
	const char *type = json_string_value(json_object_get(rs, "rope_type"));
	if (!type)
		type = json_string_value(json_object_get(rs, "type"));
	if (!type)
		return exo_error(e, EXO_DATAERR, "%s: field 'rope_scaling.rope_type' is missing", src);
	c->rope_factor = 1;
	if (get_num(rs, "factor", &c->rope_factor, src, e) < 0)
		return -1;
	if (strcmp(type, "default") == 0)
		return 0;
	if (!(c->rope_factor > 0))
		return exo_error(e, EXO_DATAERR, "%s: field 'rope_scaling.factor': expected > 0", src);
	if (strcmp(type, "linear") == 0) {
		c->rope = ROPE_LINEAR;
		return 0;
	}
	if (strcmp(type, "llama3") != 0)
		return exo_error(e, EXO_DATAERR, "%s: rope_scaling type '%s' is not supported "
				 "(default, linear and llama3 are)", src, type);
	c->rope = ROPE_LLAMA3;
	c->rope_low_freq = 1, c->rope_high_freq = 4;
	if (get_num(rs, "low_freq_factor", &c->rope_low_freq, src, e) < 0 ||
	    get_num(rs, "high_freq_factor", &c->rope_high_freq, src, e) < 0 ||
	    get_int(rs, "original_max_position_embeddings", &c->rope_orig_max_pos, 1, src, e) < 0)
		return -1;
	if (!(c->rope_high_freq > c->rope_low_freq) || c->rope_orig_max_pos <= 0)
		return exo_error(e, EXO_DATAERR, "%s: rope_scaling: need high_freq_factor > "
				 "low_freq_factor and original_max_position_embeddings > 0", src);
	return 0;
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
	    get_int(root, "eos_token_id", &c->eos_token, 0, src, e) < 0)
		return -1;
	if (!c->n_kv_heads)
		c->n_kv_heads = c->n_heads;
	if (!c->head_dim && c->n_heads)
		c->head_dim = c->hidden / c->n_heads;
	double eps = 1e-6, theta = 10000;
	if (get_num(root, "rms_norm_eps", &eps, src, e) < 0 ||
	    get_num(root, "rope_theta", &theta, src, e) < 0)
		return -1;
	c->rms_eps = (float)eps;
	c->rope_theta = theta;
	c->tied_embeddings = json_is_true(json_object_get(root, "tie_word_embeddings"));
	c->qkv_bias = c->arch == ARCH_QWEN2 || json_is_true(json_object_get(root, "attention_bias"));
	const char *mt = json_string_value(json_object_get(root, "model_type"));
	snprintf(c->model_type, sizeof c->model_type, "%s", mt ? mt : "");
	const char *dt = json_string_value(json_object_get(root, "torch_dtype"));
	snprintf(c->torch_dtype, sizeof c->torch_dtype, "%s", dt ? dt : "");
	json_t *sw = json_object_get(root, "sliding_window");
	bool uses_sw = c->arch == ARCH_QWEN2 ? json_is_true(json_object_get(root, "use_sliding_window"))
					      : sw && !json_is_null(sw);
	if (uses_sw && json_integer_value(sw) < c->max_pos)
		return exo_error(e, EXO_DATAERR, "%s: sliding_window attention (window %lld) is not "
				 "supported", src, (long long)json_integer_value(sw));
	return parse_rope_scaling(c, root, src, e) < 0 ? -1 : check_shapes(c, src, e);
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
