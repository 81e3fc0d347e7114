/* Mixtures of experts outside the forward pass (which t0400 checks against
 * transformers): exo-fetch --layers picks the shards holding a range's
 * experts, and the parameter counts the planner and validator report. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "../tap.h"
#include "hub/hub.h"
#include "model/config.h"

static void test_fetch_selects_expert_shards(void)
{
	/* Layers 0-1 (router and experts) in the first file, 2 in the second, as
	 * a Qwen3-MoE index spreads them; the head in the third. */
	const char *idx = "{\"weight_map\": {"
		"\"model.embed_tokens.weight\": \"s1\", \"model.layers.0.mlp.gate.weight\": \"s1\","
		"\"model.layers.0.mlp.experts.0.up_proj.weight\": \"s1\","
		"\"model.layers.1.mlp.experts.127.down_proj.weight\": \"s1\","
		"\"model.layers.2.mlp.gate.weight\": \"s2\","
		"\"model.layers.2.mlp.experts.5.gate_proj.weight\": \"s2\","
		"\"model.layers.2.mlp.experts.99.gate_proj.weight\": \"s3\","
		"\"model.norm.weight\": \"s4\", \"lm_head.weight\": \"s4\"}}";
	char **v;
	struct exo_err e;
	ok(hub_select_layers(idx, "i", 2, 3, 3, false, &v, &e) == 0 && v[0] && v[1] && v[2] && !v[3] &&
	   !strcmp(v[0], "s2") && !strcmp(v[1], "s3") && !strcmp(v[2], "s4"),
	   "layer 2 of 3: both shards holding its experts, and the head's");
	for (size_t i = 0; v[i]; i++)
		free(v[i]);
	free(v);
	ok(hub_select_layers(idx, "i", 1, 2, 3, false, &v, &e) == 0 && v[0] && !v[1] && !strcmp(v[0], "s1"),
	   "layer 1: only the shard of its experts");
	for (size_t i = 0; v[i]; i++)
		free(v[i]);
	free(v);
}

static void test_param_counts(void)
{
	struct model_config c;
	struct exo_err e = {0};
	const char *q30 = "{\"architectures\":[\"Qwen3MoeForCausalLM\"],\"hidden_size\":2048,"
		"\"num_hidden_layers\":48,\"num_attention_heads\":32,\"num_key_value_heads\":4,"
		"\"head_dim\":128,\"intermediate_size\":6144,\"moe_intermediate_size\":768,"
		"\"num_experts\":128,\"num_experts_per_tok\":8,\"vocab_size\":151936,"
		"\"mlp_only_layers\":[],\"decoder_sparse_step\":1,\"norm_topk_prob\":true}";
	double total, active;
	ok(model_config_parse(&c, q30, "q30", &e) == 0, "Qwen3-30B-A3B's dimensions parse: %s", e.msg);
	model_param_counts(&c, &total, &active);
	ok(fabs(total / 1e9 - 30.53) < 0.01, "total %.4g B: 30.5 B as the model card says", total / 1e9);
	ok(fabs(active / 1e9 - 3.35) < 0.01, "active %.4g B: 3.3 B as the model card says", active / 1e9);
	double lt, la;
	model_layer_params(&c, 0, &lt, &la);
	ok(lt - la == 120.0 * 3 * 2048 * 768, "a layer's inactive part is 120 experts of 3 matrices");
	const char *dense = "{\"architectures\":[\"Qwen3MoeForCausalLM\"],\"hidden_size\":64,"
		"\"num_hidden_layers\":3,\"num_attention_heads\":4,\"intermediate_size\":160,"
		"\"moe_intermediate_size\":48,\"num_experts\":8,\"num_experts_per_tok\":2,"
		"\"vocab_size\":512,\"mlp_only_layers\":[1]}";
	ok(model_config_parse(&c, dense, "d", &e) == 0, "mlp_only_layers parse");
	model_layer_params(&c, 1, &lt, &la);
	ok(lt == la && lt > 3 * 64 * 160, "a dense layer of a sparse model: all active, FFN 160");
}

int main(void)
{
	test_fetch_selects_expert_shards();
	test_param_counts();
	return done_testing();
}
