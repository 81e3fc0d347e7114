/* Engine unit tests: RoPE frequencies against transformers', config refusals,
 * forward-pass error paths, KV-cache truncation, and sampling. */
#include "engine/engine.h"
#include "kernels/kern.h"
#include "model/checkpoint.h"
#include "tests/tap.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <string.h>

static char dir[4096];

static const char *fixture(const char *name)
{
	snprintf(dir, sizeof dir, "%s/fixtures/models/%s", tap_shared(), name);
	return dir;
}

static void test_rope_frequencies(void)
{
	struct model_config c;
	struct exo_err e = {0};
	ok(model_config_load(&c, fixture("llama3-tiny"), &e) == 0, "llama3-tiny config loads: %s", e.msg);
	char meta[4200];
	snprintf(meta, sizeof meta, "%s/reference/meta.json", dir);
	json_t *root = json_load_file(meta, 0, NULL);
	json_t *want = json_object_get(json_object_get(root, "config_summary"),
				       "rope_inv_freq_used_by_transformers");
	float got[8];
	model_rope_inv_freq(&c, got);
	double worst = 0;
	for (size_t i = 0; i < 8; i++) {
		double w = json_real_value(json_array_get(want, i));
		worst = fmax(worst, fabs(got[i] - w) / w);
	}
	ok(json_array_size(want) == 8 && worst < 1e-6,
	   "llama3 inv_freq matches transformers' to 1e-6 relative (worst %.2g)", worst);
	json_decref(root);
}

static void test_config_refusals(void)
{
	struct model_config c;
	struct exo_err e = {0};
	ok(model_config_parse(&c, "{\"architectures\":[\"DeepseekV3ForCausalLM\"]}", "cfg", &e) < 0 &&
	   strstr(e.msg, "DeepseekV3ForCausalLM is not supported: mixture-of-experts") != NULL,
	   "DeepSeek-V3 refused with the reason: %s", e.msg);
	ok(model_config_parse(&c, "{\"architectures\":[\"FooForCausalLM\"]}", "cfg", &e) < 0 &&
	   strstr(e.msg, "FooForCausalLM is not supported") != NULL, "unknown architecture named");
	ok(model_config_parse(&c, "{\"architectures\":[\"LlamaForCausalLM\"],\"num_hidden_layers\":\"2\"}",
			      "cfg", &e) < 0 && strstr(e.msg, "'num_hidden_layers'") != NULL,
	   "wrong type names the field: %s", e.msg);
	const char *gqa = "{\"architectures\":[\"LlamaForCausalLM\"],\"num_hidden_layers\":2,"
			  "\"hidden_size\":64,\"num_attention_heads\":4,\"num_key_value_heads\":3,"
			  "\"intermediate_size\":128,\"vocab_size\":10}";
	ok(model_config_parse(&c, gqa, "cfg", &e) < 0 && strstr(e.msg, "not a multiple") != NULL,
	   "heads not a multiple of KV heads refused");
}

#define BASE "\"num_hidden_layers\":2,\"hidden_size\":64,\"num_attention_heads\":4," \
	     "\"intermediate_size\":128,\"vocab_size\":10"

/* config.json as transformers 4.x and 5.x write it (issue 17). */
static void test_config_spellings(void)
{
	struct model_config c;
	struct exo_err e = {0};
	ok(model_config_parse(&c, "{\"architectures\":[\"LlamaForCausalLM\"]," BASE ",\"eos_token_id\":"
			      "[128001,128008,128009],\"bos_token_id\":null,\"pad_token_id\":null,"
			      "\"head_dim\":null}", "cfg", &e) == 0 &&
	   c.n_eos == 3 && c.eos_tokens[2] == 128009 && c.eos_token == 128001 && c.bos_token == -1 &&
	   c.head_dim == 16 && c.max_pos == 4096, "eos_token_id list, null bos and head_dim, no "
	   "max_position_embeddings: %s", e.msg);
	ok(model_config_parse(&c, "{\"architectures\":[\"LlamaForCausalLM\"]," BASE ",\"eos_token_id\":null}",
			      "cfg", &e) == 0 && c.n_eos == 0 && c.eos_token == -1, "eos_token_id null");
	ok(model_config_parse(&c, "{\"architectures\":[\"LlamaForCausalLM\"]," BASE ",\"eos_token_id\":\"x\"}",
			      "cfg", &e) < 0 && strstr(e.msg, "'eos_token_id'"), "eos_token_id of another type named");
	ok(model_config_parse(&c, "{\"architectures\":[\"Qwen3ForCausalLM\"]," BASE ",\"dtype\":\"bfloat16\","
			      "\"rope_parameters\":{\"rope_theta\":1000000.0,\"rope_type\":\"default\"}}",
			      "cfg", &e) == 0 && strcmp(c.torch_dtype, "bfloat16") == 0 &&
	   c.rope_theta == 1e6 && c.rope == ROPE_DEFAULT && c.qk_norm, "5.x: dtype and rope_parameters");
	ok(model_config_parse(&c, "{\"architectures\":[\"LlamaForCausalLM\"]," BASE ",\"rope_parameters\":"
			      "{\"rope_theta\":500000.0,\"rope_type\":\"llama3\",\"factor\":32.0,"
			      "\"low_freq_factor\":1.0,\"high_freq_factor\":4.0,"
			      "\"original_max_position_embeddings\":8192}}", "cfg", &e) == 0 &&
	   c.rope == ROPE_LLAMA3 && c.rope_factor == 32 && c.rope_theta == 5e5,
	   "5.x: llama3 scaling inside rope_parameters: %s", e.msg);
	ok(model_config_parse(&c, "{\"architectures\":[\"MixtralForCausalLM\"]," BASE ",\"num_local_experts\":8,"
			      "\"num_experts_per_tok\":2}", "cfg", &e) == 0 && c.n_experts == 8 &&
	   c.moe_ffn == 128 && c.norm_topk_prob && model_layer_is_sparse(&c, 1), "Mixtral: num_local_experts");
	ok(model_config_parse(&c, "{\"architectures\":[\"Qwen3MoeForCausalLM\"]," BASE ",\"num_experts\":4,"
			      "\"num_experts_per_tok\":2,\"moe_intermediate_size\":32,\"mlp_only_layers\":[0],"
			      "\"norm_topk_prob\":false}", "cfg", &e) == 0 && c.n_experts == 4 && c.moe_ffn == 32 &&
	   !c.norm_topk_prob && !model_layer_is_sparse(&c, 0) && model_layer_is_sparse(&c, 1),
	   "Qwen3-MoE: num_experts, mlp_only_layers: %s", e.msg);
	ok(model_config_parse(&c, "{\"architectures\":[\"Qwen3MoeForCausalLM\"]," BASE ",\"num_experts\":4,"
			      "\"num_experts_per_tok\":2,\"decoder_sparse_step\":2}", "cfg", &e) == 0 &&
	   !model_layer_is_sparse(&c, 0) && model_layer_is_sparse(&c, 1), "decoder_sparse_step 2: odd layers sparse");
	ok(model_config_parse(&c, "{\"architectures\":[\"Qwen3MoeForCausalLM\"]," BASE ",\"num_experts\":4,"
			      "\"num_experts_per_tok\":5}", "cfg", &e) < 0 && strstr(e.msg, "num_experts_per_tok 5"),
	   "top-k above the expert count refused: %s", e.msg);
	ok(model_config_parse(&c, "{\"architectures\":[\"LlamaForCausalLM\"]," BASE ",\"quantization_config\":"
			      "{\"quant_method\":\"awq\",\"bits\":4}}", "cfg", &e) < 0 &&
	   strstr(e.msg, "quantization_config.quant_method 'awq' is not supported") && e.code == EXO_DATAERR,
	   "an AWQ checkpoint refused by method: %s", e.msg);
	ok(model_config_parse(&c, "{\"architectures\":[\"LlamaForCausalLM\"]," BASE ",\"quantization_config\":"
			      "{\"group_size\":64,\"bits\":4,\"mode\":\"affine\"},\"quantization\":"
			      "{\"group_size\":64,\"bits\":4,\"mode\":\"affine\"}}", "cfg", &e) == 0,
	   "mlx-lm's quantization_config (no quant_method) is left to the MLX reader: %s", e.msg);
}

static void test_forward_errors(void)
{
	struct exo_err e = {0};
	struct eng_opts o = {.dtype = -1, .threads = 1, .ctx = 8};
	ok(eng_stage_open(fixture("llama3-tiny"), 2, 5, &o, &e) == NULL && e.code == EXO_USAGE,
	   "a range past the last layer is refused: %s", e.msg);
	struct eng_stage *first = eng_stage_open(fixture("llama3-tiny"), 0, 2, &o, &e);
	struct eng_kv *kv = first ? eng_kv_new(first, &e) : NULL;
	ok(first && kv, "stage 0:2 opens");
	if (!first || !kv)
		return;
	/* llama3-tiny: an untied f32 embedding of 512 x 64, which a token reads one row of */
	is_int((long long)(eng_weight_bytes(first) - eng_token_weight_bytes(first)), 511 * 64 * 4,
	       "a token reads one row of an embedding that is not the head");
	float out[64 * 9];
	int32_t toks[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
	ok(eng_forward(first, kv, toks, NULL, 2, ENG_OUT_LAST_LOGITS, out, &e) < 0 &&
	   strstr(e.msg, "no LM head"), "a stage without the head refuses to give logits");
	int32_t bad = 512;
	ok(eng_forward(first, kv, &bad, NULL, 1, ENG_OUT_HIDDEN, out, &e) < 0 &&
	   strstr(e.msg, "outside the vocabulary"), "a token id outside the vocabulary is refused");
	ok(eng_forward(first, kv, toks, NULL, 9, ENG_OUT_HIDDEN, out, &e) < 0 &&
	   strstr(e.msg, "context limit"), "the context limit is enforced: %s", e.msg);
	is_int(eng_kv_len(kv), 0, "a refused forward leaves the cache as it was");
	eng_kv_free(kv);
	eng_stage_close(first);
}

/* Re-feeding after truncation gives the same logits: what session recovery relies on. */
static void test_truncate(void)
{
	struct exo_err e = {0};
	struct eng_opts o = {.dtype = -1, .threads = 2, .ctx = 32};
	struct eng_stage *s = eng_stage_open(fixture("qwen2-tiny"), 0, -1, &o, &e);
	struct eng_kv *kv = s ? eng_kv_new(s, &e) : NULL;
	if (!ok(s && kv, "qwen2-tiny opens whole"))
		return;
	int32_t toks[6] = {5, 17, 300, 42, 7, 9};
	float a[512], b[512];
	eng_forward(s, kv, toks, NULL, 6, ENG_OUT_LAST_LOGITS, a, &e);
	eng_kv_truncate(kv, 4);
	is_int(eng_kv_len(kv), 4, "truncate forgets the last positions");
	eng_forward(s, kv, toks + 4, NULL, 2, ENG_OUT_LAST_LOGITS, b, &e);
	ok(memcmp(a, b, sizeof a) == 0 || fabsf(a[0] - b[0]) < 1e-5f,
	   "logits after truncate and re-feed match the first run");
	eng_kv_free(kv);
	eng_stage_close(s);
}

/* A MoE prompt longer than the engine's chunk of prefill positions (512)
 * gives every position the hidden state that shorter prompts give it: the
 * chunks each route, run and sum their own positions. */
static void test_moe_long_prefill(void)
{
	enum { N = 1100, PIECE = 300 };
	struct exo_err e = {0};
	struct eng_opts o = {.dtype = -1, .threads = 2, .ctx = N};
	struct eng_stage *s = eng_stage_open(fixture("qwen3-moe-tiny"), 0, 2, &o, &e);
	struct eng_kv *kv = s ? eng_kv_new(s, &e) : NULL;
	if (!ok(s && kv, "qwen3-moe-tiny layers 0:2 open with a context of %d: %s", N, e.msg))
		return;
	size_t H = (size_t)eng_config(s)->hidden;
	int32_t *toks = malloc(N * sizeof *toks);
	float *whole = malloc(N * H * sizeof *whole), *pieces = malloc(N * H * sizeof *pieces);
	for (int i = 0; i < N; i++)
		toks[i] = (i * 7919 + 13) % 512;
	int rc = eng_forward(s, kv, toks, NULL, N, ENG_OUT_HIDDEN, whole, &e);
	eng_kv_truncate(kv, 0);
	for (int i = 0; i < N && rc == 0; i += PIECE)
		rc = eng_forward(s, kv, toks + i, NULL, N - i < PIECE ? N - i : PIECE, ENG_OUT_HIDDEN,
				 pieces + (size_t)i * H, &e);
	float worst = 0;
	for (size_t i = 0; i < N * H; i++)
		worst = fmaxf(worst, fabsf(whole[i] - pieces[i]) / (1e-3f + fabsf(pieces[i])));
	ok(rc == 0 && worst < 1e-3f, "%d positions at once as in pieces of %d (worst relative %g): %s", N,
	   PIECE, worst, e.msg);
	free(toks), free(whole), free(pieces);
	eng_kv_free(kv);
	eng_stage_close(s);
}

/* A stage that computes on its own thread (what a server opens) gives the
 * same bits as one that computes on the caller's, whichever thread calls,
 * and its errors come back to the caller. */
struct caller {
	struct eng_stage *s;
	struct eng_kv *kv;
	const int32_t *toks;
	size_t n;
	float *out;
	int rc;
};

static void *call_forward(void *arg)
{
	struct caller *c = arg;
	struct exo_err e = {0};
	c->rc = eng_forward(c->s, c->kv, c->toks, NULL, c->n, ENG_OUT_LAST_LOGITS, c->out, &e);
	return NULL;
}

static void test_compute_thread(void)
{
	struct exo_err e = {0};
	struct eng_opts o = {.dtype = KD_Q4_0, .threads = 2, .ctx = 32};
	struct eng_opts ot = o;
	ot.compute_thread = true;
	struct eng_stage *here = eng_stage_open(fixture("qwen2-tiny"), 0, -1, &o, &e);
	struct eng_stage *own = eng_stage_open(fixture("qwen2-tiny"), 0, -1, &ot, &e);
	struct eng_kv *kh = here ? eng_kv_new(here, &e) : NULL, *ko = own ? eng_kv_new(own, &e) : NULL;
	if (!ok(here && own && kh && ko, "qwen2-tiny opens with and without a compute thread: %s", e.msg))
		return;
	int32_t toks[6] = {5, 17, 300, 42, 7, 9};
	float a[512], b[512], c[512];
	eng_forward(here, kh, toks, NULL, 4, ENG_OUT_LAST_LOGITS, a, &e);
	eng_forward(here, kh, toks + 4, NULL, 2, ENG_OUT_LAST_LOGITS, a, &e);
	struct caller one = {own, ko, toks, 4, c, -1}, two = {own, ko, toks + 4, 2, b, -1};
	pthread_t t;
	pthread_create(&t, NULL, call_forward, &one), pthread_join(t, NULL);
	pthread_create(&t, NULL, call_forward, &two), pthread_join(t, NULL);
	ok(one.rc == 0 && two.rc == 0 && eng_kv_len(ko) == 6, "forwards from two threads run on the stage's");
	ok(memcmp(a, b, sizeof a) == 0, "the same logits, bit for bit, as computing on the caller's thread");
	int32_t bad = 1 << 20;
	ok(eng_forward(own, ko, &bad, NULL, 1, ENG_OUT_HIDDEN, b, &e) < 0 &&
	   strstr(e.msg, "outside the vocabulary"), "its errors reach the caller: %s", e.msg);
	eng_kv_free(kh), eng_kv_free(ko);
	eng_stage_close(here), eng_stage_close(own);
}

static void test_sampling(void)
{
	float logits[8] = {0.1f, 2.0f, -1.0f, 1.9f, 0.0f, 0.5f, 1.0f, -3.0f}, l[8];
	struct eng_sampling p;
	eng_sampling_defaults(&p);
	struct eng_sampler *sm = eng_sampler_new(&p, 8);
	memcpy(l, logits, sizeof l);
	float lp;
	is_int(eng_sample(sm, l, NULL, 0, &lp), 1, "greedy picks the argmax");
	ok(lp < 0 && lp > -1.5f, "its log probability is reported (%.3f)", lp);
	eng_sampler_free(sm);

	p.temperature = 1.0f;
	p.seed = 42;
	int32_t run1[64], run2[64];
	for (int pass = 0; pass < 2; pass++) {
		sm = eng_sampler_new(&p, 8);
		for (int i = 0; i < 64; i++) {
			memcpy(l, logits, sizeof l);
			(pass ? run2 : run1)[i] = eng_sample(sm, l, NULL, 0, NULL);
		}
		eng_sampler_free(sm);
	}
	ok(memcmp(run1, run2, sizeof run1) == 0, "the same seed gives the same tokens");
	int distinct = 0, seen[8] = {0};
	for (int i = 0; i < 64; i++)
		distinct += !seen[run1[i]]++;
	ok(distinct >= 3, "temperature 1 draws several tokens (%d distinct)", distinct);

	p.top_k = 2;
	sm = eng_sampler_new(&p, 8);
	int only_top2 = 1;
	for (int i = 0; i < 200; i++) {
		memcpy(l, logits, sizeof l);
		int32_t t = eng_sample(sm, l, NULL, 0, NULL);
		only_top2 &= t == 1 || t == 3;
	}
	ok(only_top2, "top-k 2 keeps only the two best");
	eng_sampler_free(sm);

	p.top_k = 0;
	p.min_p = 0.5f;
	sm = eng_sampler_new(&p, 8);
	int only_close = 1;
	for (int i = 0; i < 200; i++) {
		memcpy(l, logits, sizeof l);
		int32_t t = eng_sample(sm, l, NULL, 0, NULL);
		only_close &= t == 1 || t == 3; /* e^-0.1 > 0.5; e^-1 < 0.5 */
	}
	ok(only_close, "min-p 0.5 drops tokens under half the best probability");
	eng_sampler_free(sm);

	eng_sampling_defaults(&p);
	p.repeat_penalty = 2.0f;
	sm = eng_sampler_new(&p, 8);
	int32_t hist[2] = {1, 1};
	memcpy(l, logits, sizeof l);
	is_int(eng_sample(sm, l, hist, 2, NULL), 3, "repetition penalty turns greedy from a repeated token");
	ok(l[1] == 1.0f, "a positive logit is divided once by the penalty, however often repeated");
	eng_sampler_free(sm);
}

/* The sampler gathers candidates without sorting the vocabulary: every draw
 * must still come from the nucleus a full sort gives. */
static int by_desc(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;
	return x < y ? 1 : x > y ? -1 : 0;
}

static void test_sampling_large_vocab(void)
{
	enum { V = 5000 };
	static float logits[V], sorted[V], l[V];
	uint64_t z = 7;
	for (int i = 0; i < V; i++) { /* a spread like a real model's: a few nats wide */
		z = z * 6364136223846793005ULL + 1442695040888963407ULL;
		logits[i] = (float)((double)(z >> 11) * 0x1p-53 * 12.0 - 6.0);
	}
	memcpy(sorted, logits, sizeof sorted);
	qsort(sorted, V, sizeof *sorted, by_desc);
	double total = 0, cum = 0;
	for (int i = 0; i < V; i++)
		total += exp((double)sorted[i] - sorted[0]);
	int nucleus = 0;
	while (cum < 0.5 * total)
		cum += exp((double)sorted[nucleus++] - sorted[0]);
	float cutoff = sorted[nucleus - 1];
	struct eng_sampling p;
	eng_sampling_defaults(&p);
	p.temperature = 1, p.top_p = 0.5f, p.seed = 3;
	struct eng_sampler *sm = eng_sampler_new(&p, V);
	int inside = 1, best_seen = 0;
	for (int i = 0; i < 3000; i++) {
		memcpy(l, logits, sizeof l);
		int32_t t = eng_sample(sm, l, NULL, 0, NULL);
		inside &= logits[t] >= cutoff;
		best_seen |= logits[t] == sorted[0];
	}
	ok(inside && best_seen, "top-p 0.5 over %d tokens draws only from the %d-token nucleus", V, nucleus);
	eng_sampler_free(sm);
	p.top_p = 1, p.top_k = 40;
	sm = eng_sampler_new(&p, V);
	inside = 1;
	for (int i = 0; i < 3000; i++) {
		memcpy(l, logits, sizeof l);
		inside &= logits[eng_sample(sm, l, NULL, 0, NULL)] >= sorted[39];
	}
	ok(inside, "top-k 40 over %d tokens draws only from the 40 best", V);
	eng_sampler_free(sm);
}

int main(void)
{
	test_rope_frequencies();
	test_config_refusals();
	test_config_spellings();
	test_forward_errors();
	test_truncate();
	test_compute_thread();
	test_moe_long_prefill();
	test_sampling();
	test_sampling_large_vocab();
	return done_testing();
}
