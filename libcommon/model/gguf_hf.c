/* A GGUF file seen as a Hugging Face checkpoint: its metadata written as the
 * config.json transformers would have, its tensors under transformers' names
 * and shapes.  The key names and the Q/K permutation follow llama.cpp's
 * convert_hf_to_gguf.py (the writer) and src/llama-model.cpp (the reader). */
#include "model/gguf.h"
#include "kernels/kern.h"
#include "model/config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* GGUF architectures and the transformers class each stands for.  permute:
 * llama.cpp's converter interleaved Q/K rows for its "normal" RoPE (llama);
 * the NEOX-RoPE families kept transformers' order. */
static const struct gguf_arch {
	const char *gguf, *hf_class, *model_type;
	bool permute;
} archs[] = {
	{"llama", "LlamaForCausalLM", "llama", true},
	{"mistral", "MistralForCausalLM", "mistral", true},
	{"qwen2", "Qwen2ForCausalLM", "qwen2", false},
	{"qwen3", "Qwen3ForCausalLM", "qwen3", false},
	{"qwen2moe", "Qwen2MoeForCausalLM", "qwen2_moe", false},
	{"qwen3moe", "Qwen3MoeForCausalLM", "qwen3_moe", false},
};

static const struct gguf_arch *find_arch(const struct gguf_file *f)
{
	for (size_t i = 0; i < sizeof archs / sizeof *archs; i++)
		if (!strcmp(f->arch, archs[i].gguf))
			return &archs[i];
	return NULL;
}

/* blk.N.<gguf> <-> model.layers.N.<hf> */
static const struct { const char *gguf, *hf; } layer_names[] = {
	{"attn_norm.weight", "input_layernorm.weight"},
	{"ffn_norm.weight", "post_attention_layernorm.weight"},
	{"attn_q.weight", "self_attn.q_proj.weight"},
	{"attn_k.weight", "self_attn.k_proj.weight"},
	{"attn_v.weight", "self_attn.v_proj.weight"},
	{"attn_output.weight", "self_attn.o_proj.weight"},
	{"attn_q.bias", "self_attn.q_proj.bias"},
	{"attn_k.bias", "self_attn.k_proj.bias"},
	{"attn_v.bias", "self_attn.v_proj.bias"},
	{"attn_q_norm.weight", "self_attn.q_norm.weight"},
	{"attn_k_norm.weight", "self_attn.k_norm.weight"},
	{"ffn_gate.weight", "mlp.gate_proj.weight"},
	{"ffn_up.weight", "mlp.up_proj.weight"},
	{"ffn_down.weight", "mlp.down_proj.weight"},
	{"ffn_gate_inp.weight", "mlp.gate.weight"},
	{"ffn_gate_inp.weight", "block_sparse_moe.gate.weight"},       /* Mixtral's router */
	/* llama.cpp stacks a layer's experts [experts, rows, cols]; the planner
	 * counts them under these names, the engine asks for each expert
	 * (expert_slice) */
	{"ffn_gate_exps.weight", "mlp.experts.gate_proj.weight"},
	{"ffn_up_exps.weight", "mlp.experts.up_proj.weight"},
	{"ffn_down_exps.weight", "mlp.experts.down_proj.weight"},
};
static const struct { const char *gguf, *hf; } global_names[] = {
	{"token_embd.weight", "model.embed_tokens.weight"},
	{"output_norm.weight", "model.norm.weight"},
	{"output.weight", "lm_head.weight"},
};

/* The GGUF name of a transformers name into out; false when none. */
static bool gguf_name_of(const char *hf, char *out, size_t len)
{
	for (size_t i = 0; i < sizeof global_names / sizeof *global_names; i++)
		if (!strcmp(hf, global_names[i].hf)) {
			snprintf(out, len, "%s", global_names[i].gguf);
			return true;
		}
	int layer, used = 0;
	if (sscanf(hf, "model.layers.%d.%n", &layer, &used) != 1 || !used || layer < 0)
		return false;
	for (size_t i = 0; i < sizeof layer_names / sizeof *layer_names; i++)
		if (!strcmp(hf + used, layer_names[i].hf)) {
			snprintf(out, len, "blk.%d.%s", layer, layer_names[i].gguf);
			return true;
		}
	return false;
}

/* The transformers name of a GGUF name into out; false when none. */
static bool hf_name_of(const char *name, char *out, size_t len)
{
	for (size_t i = 0; i < sizeof global_names / sizeof *global_names; i++)
		if (!strcmp(name, global_names[i].gguf)) {
			snprintf(out, len, "%s", global_names[i].hf);
			return true;
		}
	int layer, used = 0;
	if (sscanf(name, "blk.%d.%n", &layer, &used) != 1 || !used || layer < 0)
		return false;
	for (size_t i = 0; i < sizeof layer_names / sizeof *layer_names; i++)
		if (!strcmp(name + used, layer_names[i].gguf)) {
			snprintf(out, len, "model.layers.%d.%s", layer, layer_names[i].hf);
			return true;
		}
	return false;
}

bool gguf_hf_info(const struct gguf_file *f, size_t i, char *name, size_t len, struct st_tensor *out)
{
	const struct gguf_tensor *t = &f->tensors[i];
	if (!hf_name_of(t->name, name, len))
		return false;
	*out = (struct st_tensor){.name = name, .dtype = gguf_kd_of(t->ggml_type), .n_dims = t->n_dims,
				  .offset = t->offset, .bytes = t->bytes};
	for (int d = 0; d < t->n_dims; d++)
		out->shape[d] = (int64_t)t->ne[t->n_dims - 1 - d];
	return true;
}

/* Whether a GGUF tensor name is one exo knows (for gguf_check_tensors). */
static bool known_name(const char *name)
{
	for (size_t i = 0; i < sizeof global_names / sizeof *global_names; i++)
		if (!strcmp(name, global_names[i].gguf))
			return true;
	if (!strcmp(name, "rope_freqs.weight"))
		return true;
	int layer, used = 0;
	if (sscanf(name, "blk.%d.%n", &layer, &used) != 1 || !used)
		return false;
	for (size_t i = 0; i < sizeof layer_names / sizeof *layer_names; i++)
		if (!strcmp(name + used, layer_names[i].gguf))
			return true;
	return false;
}

/* --- config.json --- */

static int set_int(json_t *cfg, const char *hf_key, const struct gguf_file *f, const char *suffix,
		   bool required, struct exo_err *e)
{
	const struct gguf_kv *kv = gguf_get_arch(f, suffix);
	int64_t v;
	if (!kv) {
		if (required)
			return exo_error(e, EXO_DATAERR, "%s: key %s.%s is missing", f->path, f->arch, suffix);
		return 0;
	}
	if (!gguf_kv_int(kv, &v) || v < 0 || v > (1 << 30))
		return exo_error(e, EXO_DATAERR, "%s: key %s: expected a non-negative integer "
				 "(a per-layer array is not supported)", f->path, kv->key);
	json_object_set_new(cfg, hf_key, json_integer(v));
	return 0;
}

static int set_num(json_t *cfg, const char *hf_key, const struct gguf_file *f, const char *suffix,
		   struct exo_err *e)
{
	const struct gguf_kv *kv = gguf_get_arch(f, suffix);
	double v;
	if (!kv)
		return 0;
	if (!gguf_kv_num(kv, &v))
		return exo_error(e, EXO_DATAERR, "%s: key %s: expected a number", f->path, kv->key);
	json_object_set_new(cfg, hf_key, json_real(v));
	return 0;
}

static int set_token(json_t *cfg, const char *hf_key, const struct gguf_file *f, const char *key)
{
	int64_t v;
	if (gguf_kv_int(gguf_get(f, key), &v) && v >= 0)
		json_object_set_new(cfg, hf_key, json_integer(v));
	return 0;
}

/* llama.cpp's factor for one frequency under Llama 3 scaling (convert_hf_to_gguf.py). */
static double llama3_factor(double freq, double factor, double low, double high, double orig)
{
	double wavelen = 2 * M_PI / freq;
	if (wavelen < orig / high)
		return 1;
	if (wavelen > orig / low)
		return factor;
	double smooth = (orig / wavelen - low) / (high - low);
	return 1 / ((1 - smooth) / factor + smooth);
}

/* rope_freqs.weight: the per-frequency divisors llama.cpp's converter
 * computed from Llama 3's rope_scaling, which GGUF does not keep.  Found
 * again by trying the original context lengths and frequency factors that
 * Llama 3 uses (and powers of two for the rest), accepted only when every
 * divisor matches; anything else is refused. */
static int llama3_from_factors(json_t *cfg, const struct gguf_file *f, const struct gguf_tensor *t,
			       struct exo_err *e)
{
	int64_t heads = 0, hidden = 0, dim = 0;
	double base = 10000;
	gguf_kv_int(gguf_get_arch(f, "attention.head_count"), &heads);
	gguf_kv_int(gguf_get_arch(f, "embedding_length"), &hidden);
	if (!gguf_kv_int(gguf_get_arch(f, "attention.key_length"), &dim) && heads > 0)
		dim = hidden / heads;
	gguf_kv_num(gguf_get_arch(f, "rope.freq_base"), &base);
	if (t->ggml_type != 0 || t->n_dims != 1 || dim <= 0 || t->ne[0] != (uint64_t)dim / 2)
		return exo_error(e, EXO_DATAERR, "%s: tensor rope_freqs.weight: expected %lld F32 values",
				 f->path, (long long)dim / 2);
	const float *fac = t->data;
	size_t n = (size_t)dim / 2;
	double factor = 1;
	for (size_t i = 0; i < n; i++)
		factor = fac[i] > factor ? fac[i] : factor;
	if (factor == 1)
		return 0;
	static const double lows[] = {1, 1, 2, 1}, highs[] = {4, 2, 4, 8};
	for (int k = 4; k <= 20; k++)
		for (size_t p = 0; p < sizeof lows / sizeof *lows; p++) {
			double orig = (double)(1 << k);
			bool same = true;
			for (size_t i = 0; i < n && same; i++) {
				double freq = 1.0 / pow(base, (double)(2 * i) / (double)dim);
				double want = llama3_factor(freq, factor, lows[p], highs[p], orig);
				same = fabs(want - fac[i]) <= 1e-4 * fabs(want);
			}
			if (!same)
				continue;
			json_object_set_new(cfg, "rope_scaling", json_pack("{s:s, s:f, s:f, s:f, s:i}",
				"rope_type", "llama3", "factor", factor, "low_freq_factor", lows[p],
				"high_freq_factor", highs[p], "original_max_position_embeddings", 1 << k));
			return 0;
		}
	return exo_error(e, EXO_DATAERR, "%s: tensor rope_freqs.weight: per-frequency RoPE factors "
			 "that are not Llama 3's scaling are not supported", f->path);
}

static int set_rope_scaling(json_t *cfg, const struct gguf_file *f, struct exo_err *e)
{
	const struct gguf_kv *type = gguf_get_arch(f, "rope.scaling.type");
	double factor = 1;
	gguf_kv_num(gguf_get_arch(f, "rope.scaling.factor"), &factor);
	const struct gguf_tensor *freqs = gguf_find(f, "rope_freqs.weight");
	if (freqs)
		return llama3_from_factors(cfg, f, freqs, e);
	if (!type || (type->type == GGUF_STRING && type->v.s.len == 4 && !memcmp(type->v.s.p, "none", 4)))
		return 0;
	if (type->type != GGUF_STRING)
		return exo_error(e, EXO_DATAERR, "%s: key %s: expected a string", f->path, type->key);
	json_t *rs = json_object();
	json_object_set_new(rs, "rope_type", json_stringn(type->v.s.p, type->v.s.len));
	json_object_set_new(rs, "factor", json_real(factor));
	json_object_set_new(cfg, "rope_scaling", rs);
	return 0;
}

/* Vocabulary size: the key, else the token list, else the embedding's rows. */
static int64_t vocab_size(const struct gguf_file *f)
{
	int64_t v;
	if (gguf_kv_int(gguf_get_arch(f, "vocab_size"), &v))
		return v;
	const struct gguf_kv *toks = gguf_get(f, "tokenizer.ggml.tokens");
	if (toks && toks->type == GGUF_ARRAY)
		return (int64_t)toks->n;
	const struct gguf_tensor *t = gguf_find(f, "token_embd.weight");
	return t && t->n_dims == 2 ? (int64_t)t->ne[1] : 0;
}

/* Experts: llama.cpp's qwen3moe graph always renormalises the chosen
 * experts' weights (build_moe_ffn with norm_w), so transformers'
 * norm_topk_prob is true unless the file says otherwise; a layer without a
 * router (blk.N.ffn_gate_inp) is a dense one, transformers' mlp_only_layers. */
static void set_moe_layers(json_t *cfg, const struct gguf_file *f)
{
	const struct gguf_kv *norm = gguf_get_arch(f, "expert_weights_norm");
	bool renormalise = !norm || norm->type != GGUF_BOOL || norm->v.u;
	json_object_set_new(cfg, "norm_topk_prob", json_boolean(renormalise));
	int64_t layers = 0;
	gguf_kv_int(gguf_get_arch(f, "block_count"), &layers);
	json_t *dense = json_array();
	for (int64_t l = 0; l < layers && l < (1 << 20); l++) {
		char name[64];
		snprintf(name, sizeof name, "blk.%lld.ffn_gate_inp.weight", (long long)l);
		if (!gguf_find(f, name))
			json_array_append_new(dense, json_integer(l));
	}
	json_object_set_new(cfg, "mlp_only_layers", dense);
}

json_t *gguf_hf_config(const struct gguf_file *f, struct exo_err *e)
{
	const struct gguf_arch *a = find_arch(f);
	if (!a) {
		exo_error(e, EXO_DATAERR, "%s: GGUF architecture '%s' is not supported (llama, mistral, "
			  "qwen2, qwen3 and qwen3moe are)", f->path, f->arch[0] ? f->arch : "(general.architecture missing)");
		return NULL;
	}
	json_t *cfg = json_object();
	int64_t experts = 0;
	gguf_kv_int(gguf_get_arch(f, "expert_count"), &experts);
	const char *cls = a->hf_class;
	if (experts > 0 && !strcmp(a->gguf, "llama"))
		cls = "MixtralForCausalLM";
	json_object_set_new(cfg, "architectures", json_pack("[s]", cls));
	json_object_set_new(cfg, "model_type", json_string(experts > 0 && !strcmp(a->gguf, "llama")
							   ? "mixtral" : a->model_type));
	if (set_int(cfg, "num_hidden_layers", f, "block_count", true, e) < 0 ||
	    set_int(cfg, "hidden_size", f, "embedding_length", true, e) < 0 ||
	    set_int(cfg, "num_attention_heads", f, "attention.head_count", true, e) < 0 ||
	    set_int(cfg, "num_key_value_heads", f, "attention.head_count_kv", false, e) < 0 ||
	    set_int(cfg, "head_dim", f, "attention.key_length", false, e) < 0 ||
	    set_int(cfg, "intermediate_size", f, "feed_forward_length", experts == 0, e) < 0 ||
	    set_int(cfg, "moe_intermediate_size", f, "expert_feed_forward_length", false, e) < 0 ||
	    set_int(cfg, "num_experts", f, "expert_count", false, e) < 0 ||
	    set_int(cfg, "num_experts_per_tok", f, "expert_used_count", false, e) < 0 ||
	    set_int(cfg, "max_position_embeddings", f, "context_length", false, e) < 0 ||
	    set_num(cfg, "rms_norm_eps", f, "attention.layer_norm_rms_epsilon", e) < 0 ||
	    set_num(cfg, "rope_theta", f, "rope.freq_base", e) < 0 || set_rope_scaling(cfg, f, e) < 0)
		goto fail;
	int64_t key_len = 0, rot = 0, heads = 0, hidden = 0;
	gguf_kv_int(gguf_get_arch(f, "attention.head_count"), &heads);
	gguf_kv_int(gguf_get_arch(f, "embedding_length"), &hidden);
	if (!gguf_kv_int(gguf_get_arch(f, "attention.key_length"), &key_len) && heads > 0)
		key_len = hidden / heads;
	if (gguf_kv_int(gguf_get_arch(f, "rope.dimension_count"), &rot) && rot != key_len) {
		exo_error(e, EXO_DATAERR, "%s: key %s.rope.dimension_count %lld: RoPE on part of a head "
			  "(head size %lld) is not supported", f->path, f->arch, (long long)rot,
			  (long long)key_len);
		goto fail;
	}
	json_object_set_new(cfg, "vocab_size", json_integer(vocab_size(f)));
	json_object_set_new(cfg, "tie_word_embeddings", json_boolean(!gguf_find(f, "output.weight")));
	if (gguf_find(f, "blk.0.attn_q.bias"))
		json_object_set_new(cfg, "attention_bias", json_true());
	set_token(cfg, "bos_token_id", f, "tokenizer.ggml.bos_token_id");
	set_token(cfg, "eos_token_id", f, "tokenizer.ggml.eos_token_id");
	if (experts > 0)
		set_moe_layers(cfg, f);
	return cfg;
fail:
	json_decref(cfg);
	return NULL;
}

/* --- tensors --- */

int gguf_check_tensors(const struct gguf_file *f, struct exo_err *e)
{
	for (size_t i = 0; i < f->n_tensors; i++) {
		const struct gguf_tensor *t = &f->tensors[i];
		if (!known_name(t->name))
			return exo_error(e, EXO_DATAERR, "%s: tensor %s: not a tensor of the %s architecture "
					 "that exo knows", f->path, t->name, f->arch);
		if (gguf_kd_of(t->ggml_type) < 0)
			return exo_error(e, EXO_DATAERR, "%s: tensor %s: type %s is not supported yet "
					 "(F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K are)", f->path, t->name,
					 gguf_type_name(t->ggml_type));
	}
	return 0;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && !strcmp(s + n - m, suffix);
}

/* Heads of a Q (or K) projection, for undoing the permutation. */
static int64_t heads_of(const struct gguf_file *f, bool is_k)
{
	int64_t h = 0, kv = 0;
	gguf_kv_int(gguf_get_arch(f, "attention.head_count"), &h);
	if (is_k && gguf_kv_int(gguf_get_arch(f, "attention.head_count_kv"), &kv) && kv > 0)
		return kv;
	return h;
}

/* convert_hf_to_gguf.py's LlamaModel.permute wrote row h*D + 2i + j of the
 * file from transformers' row h*D + j*D/2 + i (D the head size): read it
 * back.  Rows are whole blocks, so quantised rows move as bytes. */
static const void *unpermute(struct gguf_file *f, const struct gguf_tensor *t, int64_t heads,
			     struct exo_err *e)
{
	size_t rows = t->n_dims == 1 ? t->ne[0] : t->ne[1];
	size_t rb = rows ? t->bytes / rows : 0;
	if (heads <= 0 || rows % (size_t)heads || (rows / (size_t)heads) % 2) {
		exo_error(e, EXO_DATAERR, "%s: tensor %s: %zu rows are not %lld heads of an even size",
			  f->path, t->name, rows, (long long)heads);
		return NULL;
	}
	void *grown = realloc(f->copies, (f->n_copies + 1) * sizeof *f->copies);
	if (!grown) {
		exo_error(e, EXO_SOFTWARE, "out of memory");
		return NULL;
	}
	f->copies = grown;
	char *dst = mmap(NULL, t->bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (dst == MAP_FAILED) {
		exo_error(e, EXO_SOFTWARE, "out of memory for %s", t->name);
		return NULL;
	}
	f->copies[f->n_copies].p = dst;
	f->copies[f->n_copies++].len = t->bytes;
	size_t d = rows / (size_t)heads, half = d / 2;
	const char *src = t->data;
	for (size_t h = 0; h < (size_t)heads; h++)
		for (size_t i = 0; i < half; i++)
			for (size_t j = 0; j < 2; j++)
				memcpy(dst + (h * d + j * half + i) * rb, src + (h * d + 2 * i + j) * rb, rb);
	return dst;
}

/* Each view allocated on its own: pointers handed out stay valid until gguf_close. */
static const struct st_tensor *add_view(struct gguf_file *f, const char *hf_name,
					const struct gguf_tensor *t, int n_dims, const int64_t *shape,
					size_t bytes, const void *data, struct exo_err *e)
{
	struct st_tensor **grown = realloc(f->hf, (f->n_hf + 1) * sizeof *grown);
	struct st_tensor *s = grown ? calloc(1, sizeof *s) : NULL;
	if (grown)
		f->hf = grown;
	if (!s || !(s->name = strdup(hf_name))) {
		free(s);
		exo_error(e, EXO_SOFTWARE, "out of memory");
		return NULL;
	}
	s->dtype = gguf_kd_of(t->ggml_type), s->n_dims = n_dims;
	s->offset = t->offset + (size_t)((const char *)data - (const char *)t->data);
	s->bytes = bytes, s->data = data;
	memcpy(s->shape, shape, (size_t)n_dims * sizeof *shape);
	f->hf[f->n_hf++] = s;
	return s;
}

static const struct st_tensor *add_hf(struct gguf_file *f, const char *hf_name,
				      const struct gguf_tensor *t, const void *data, struct exo_err *e)
{
	int64_t shape[ST_MAX_DIMS];
	for (int i = 0; i < t->n_dims; i++)      /* ggml's ne is innermost first */
		shape[i] = (int64_t)t->ne[t->n_dims - 1 - i];
	return add_view(f, hf_name, t, t->n_dims, shape, t->bytes, data, e);
}

/* model.layers.N.PREFIX.experts.X.PART.weight (Qwen's gate_proj, up_proj,
 * down_proj; Mixtral's w1, w3, w2) names expert X's rows of the stacked
 * blk.N.ffn_PART_exps.weight: a view of that slice, no copy.  0 when the
 * name is not an expert's, 1 with *out set, -1 on error. */
static int expert_slice(struct gguf_file *f, const char *hf_name, const struct st_tensor **out,
			struct exo_err *e)
{
	static const char *const parts[][3] = {{"gate_proj", "w1", "gate"}, {"up_proj", "w3", "up"},
					       {"down_proj", "w2", "down"}};
	int layer, x, end = 0;
	char prefix[32], part[32], name[96];
	if (sscanf(hf_name, "model.layers.%d.%31[a-z_].experts.%d.%31[a-z_0-9].weight%n", &layer, prefix,
		   &x, part, &end) != 4 || !end || hf_name[end] || layer < 0 || x < 0)
		return 0;
	const char *ggml_part = NULL;
	for (size_t i = 0; i < sizeof parts / sizeof *parts; i++)
		if (!strcmp(part, parts[i][0]) || !strcmp(part, parts[i][1]))
			ggml_part = parts[i][2];
	if (!ggml_part)
		return 0;
	snprintf(name, sizeof name, "blk.%d.ffn_%s_exps.weight", layer, ggml_part);
	const struct gguf_tensor *t = gguf_find(f, name);
	if (!t)
		return exo_error(e, EXO_DATAERR, "%s: tensor %s (the experts of %s) is missing", f->path,
				 name, hf_name);
	if (t->n_dims != 3)
		return exo_error(e, EXO_DATAERR, "%s: tensor %s: %d dimension(s), expected 3 (experts, "
				 "rows, columns)", f->path, name, t->n_dims);
	if ((uint64_t)x >= t->ne[2])
		return exo_error(e, EXO_DATAERR, "%s: tensor %s: no expert %d (it stacks %llu)", f->path,
				 name, x, (unsigned long long)t->ne[2]);
	size_t bytes = t->bytes / t->ne[2];
	int64_t shape[2] = {(int64_t)t->ne[1], (int64_t)t->ne[0]};
	*out = add_view(f, hf_name, t, 2, shape, bytes, (const char *)t->data + (size_t)x * bytes, e);
	return *out ? 1 : -1;
}

const struct st_tensor *gguf_hf_tensor(struct gguf_file *f, const char *hf_name, struct exo_err *e)
{
	char name[256];
	const struct st_tensor *expert = NULL;
	int slice = expert_slice(f, hf_name, &expert, e);
	if (slice)
		return slice > 0 ? expert : NULL;
	if (!gguf_name_of(hf_name, name, sizeof name)) {
		exo_error(e, EXO_DATAERR, "%s: tensor %s has no GGUF name that exo knows", f->path, hf_name);
		return NULL;
	}
	const struct gguf_tensor *t = gguf_find(f, name);
	if (!t) {
		exo_error(e, EXO_DATAERR, "%s: tensor %s (%s) is missing", f->path, name, hf_name);
		return NULL;
	}
	if (gguf_kd_of(t->ggml_type) < 0) {
		exo_error(e, EXO_DATAERR, "%s: tensor %s: type %s is not supported yet", f->path, name,
			  gguf_type_name(t->ggml_type));
		return NULL;
	}
	const struct gguf_arch *a = find_arch(f);
	const void *data = t->data;
	bool is_q = ends_with(name, ".attn_q.weight") || ends_with(name, ".attn_q.bias");
	bool is_k = ends_with(name, ".attn_k.weight") || ends_with(name, ".attn_k.bias");
	if (a && a->permute && (is_q || is_k) && !(data = unpermute(f, t, heads_of(f, is_k), e)))
		return NULL;
	return add_hf(f, hf_name, t, data, e);
}

int gguf_model_config(struct model_config *c, const char *path, struct exo_err *e)
{
	struct gguf_file *f = gguf_open(path, e);
	if (!f)
		return -1;
	json_t *cfg = gguf_hf_config(f, e);
	char *text = cfg ? json_dumps(cfg, JSON_COMPACT) : NULL;
	int rc = text ? model_config_parse(c, text, path, e) : -1;
	if (cfg && !text)
		exo_error(e, EXO_SOFTWARE, "out of memory");
	free(text);
	json_decref(cfg);
	gguf_close(f);
	return rc;
}
