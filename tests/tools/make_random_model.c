/* make_random_model: writes a randomly initialised LlamaForCausalLM checkpoint
 * in the Hugging Face layout (config.json and a single model.safetensors) for
 * benchmarks and smoke tests, so that no real model has to be downloaded or
 * committed.  The defaults are the shape of Llama-3.2-1B (hidden 2048, 16
 * layers, 32 heads, 8 KV heads, head_dim 64, intermediate 8192, vocab 128256,
 * tied embeddings, llama3 RoPE scaling); every dimension has a flag.
 *
 * Weights are deterministic for a given --seed: each tensor draws from its own
 * xoshiro256** stream seeded from (seed, tensor index), matrices roughly
 * normal with std 0.02 (a sum of four uniforms), norm weights 1, as
 * transformers initialises a new model.  The data is generated and written a
 * chunk at a time, so memory stays small whatever the model's size; both
 * files are written to a temporary name and renamed into place.
 *
 * With --from-config FILE, the model is a published config.json (any of the
 * architectures below) shrunk to tiny dimensions: every other field kept as
 * published (eos lists, rope_scaling, dtype spellings...), the tensors named
 * as that architecture names them (q/k norms of Qwen3, biases of Qwen2,
 * experts of Qwen3-MoE and Mixtral); --full-size keeps its dimensions.
 * --header-only writes the safetensors header and leaves the data a hole (a
 * sparse file of the full size): real shapes for the planner at no cost.
 *
 *   make_random_model --out DIR [--dtype bf16|f32] [--seed N] [--hidden N]
 *       [--layers N] [--heads N] [--kv-heads N] [--head-dim N]
 *       [--intermediate N] [--vocab N] [--max-pos N] [--rope-theta X]
 *       [--rms-eps X] [--no-rope-scaling] [--untied] [--from-config FILE [--full-size]]
 *       [--header-only] [-q] */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "kernels/kern.h"
#include "util/err.h"
#include "util/file.h"

struct dims {
	long hidden, layers, heads, kv_heads, head_dim, ffn, vocab, max_pos;
	double rope_theta, rms_eps;
	bool rope_scaling, tied;
	int dtype;                  /* KD_BF16 or KD_F32 */
	uint64_t seed;
	/* --from-config: the shrunk published config and what it implies */
	json_t *config;
	bool qk_norm, qkv_bias;
	const char *moe_prefix, *expert_gate, *expert_up, *expert_down;
	long experts, moe_ffn, sparse_step;
	json_t *dense_layers;       /* mlp_only_layers */
	bool full_size;             /* --full-size: keep the config's dimensions */
	bool header_only;           /* --header-only: no data, a sparse file of the right size */
};

/* One tensor to write: name, shape, and how to fill it. */
struct tensor {
	char name[128];
	long rows, cols;            /* cols 0: a vector of rows values */
	bool ones;                  /* norm weight */
	size_t begin, end;          /* data offsets */
};

struct rng { uint64_t s[4]; };

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void rng_seed(struct rng *r, uint64_t seed, uint64_t stream)
{
	uint64_t x = seed ^ (stream * 0xd1b54a32d192ed03ULL);
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static inline uint64_t rng_next(struct rng *r)
{
	uint64_t *s = r->s, out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
	s[2] ^= s[0], s[3] ^= s[1], s[1] ^= s[2], s[0] ^= s[3], s[2] ^= t, s[3] = rotl(s[3], 45);
	return out;
}

/* Roughly N(0, std^2): four 16-bit uniforms summed (Irwin-Hall, variance 1/3
 * of a unit uniform's 4/12), centred and scaled. */
static inline float rng_normalish(struct rng *r, float std)
{
	uint64_t u = rng_next(r);
	float sum = (float)(u & 0xffff) + (float)((u >> 16) & 0xffff) +
		    (float)((u >> 32) & 0xffff) + (float)(u >> 48);
	const float scale = 1.7320508f / 65536.0f; /* sqrt(3) / 2^16 */
	return (sum - 2.0f * 65535.0f) * scale * std;
}

static size_t elem_bytes(const struct dims *d) { return d->dtype == KD_F32 ? 4 : 2; }

static size_t tensor_count(const struct tensor *t) { return (size_t)t->rows * (size_t)(t->cols ? t->cols : 1); }

static void add_tensor(struct tensor *ts, size_t *n, const char *name, long rows, long cols, bool ones)
{
	struct tensor *t = &ts[(*n)++];
	snprintf(t->name, sizeof t->name, "%s", name);
	t->rows = rows, t->cols = cols, t->ones = ones;
}

static bool layer_is_sparse(const struct dims *d, long i)
{
	size_t k;
	json_t *v;
	if (!d->moe_prefix)
		return false;
	json_array_foreach(d->dense_layers, k, v)
		if (json_integer_value(v) == i)
			return false;
	return (i + 1) % d->sparse_step == 0;
}

/* The checkpoint's tensors in the order they are written; returns how many. */
static size_t list_tensors(const struct dims *d, struct tensor *ts)
{
	size_t n = 0;
	long q = d->heads * d->head_dim, kv = d->kv_heads * d->head_dim;
	char name[128];
	add_tensor(ts, &n, "model.embed_tokens.weight", d->vocab, d->hidden, false);
	for (long i = 0; i < d->layers; i++) {
#define L(r, c, one, ...) \
	(snprintf(name, sizeof name, "model.layers.%ld." __VA_ARGS__), add_tensor(ts, &n, name, r, c, one))
		L(d->hidden, 0, true, "input_layernorm.weight", i);
		L(q, d->hidden, false, "self_attn.q_proj.weight", i);
		L(kv, d->hidden, false, "self_attn.k_proj.weight", i);
		L(kv, d->hidden, false, "self_attn.v_proj.weight", i);
		L(d->hidden, q, false, "self_attn.o_proj.weight", i);
		if (d->qkv_bias) {
			L(q, 0, false, "self_attn.q_proj.bias", i);
			L(kv, 0, false, "self_attn.k_proj.bias", i);
			L(kv, 0, false, "self_attn.v_proj.bias", i);
		}
		if (d->qk_norm) {
			L(d->head_dim, 0, true, "self_attn.q_norm.weight", i);
			L(d->head_dim, 0, true, "self_attn.k_norm.weight", i);
		}
		L(d->hidden, 0, true, "post_attention_layernorm.weight", i);
		if (layer_is_sparse(d, i)) {
			L(d->experts, d->hidden, false, "%s.gate.weight", i, d->moe_prefix);
			for (long x = 0; x < d->experts; x++) {
				L(d->moe_ffn, d->hidden, false, "%s.experts.%ld.%s.weight", i, d->moe_prefix, x,
				  d->expert_gate);
				L(d->moe_ffn, d->hidden, false, "%s.experts.%ld.%s.weight", i, d->moe_prefix, x,
				  d->expert_up);
				L(d->hidden, d->moe_ffn, false, "%s.experts.%ld.%s.weight", i, d->moe_prefix, x,
				  d->expert_down);
			}
			continue;
		}
		L(d->ffn, d->hidden, false, "mlp.gate_proj.weight", i);
		L(d->ffn, d->hidden, false, "mlp.up_proj.weight", i);
		L(d->hidden, d->ffn, false, "mlp.down_proj.weight", i);
#undef L
	}
	add_tensor(ts, &n, "model.norm.weight", d->hidden, 0, true);
	if (!d->tied)
		add_tensor(ts, &n, "lm_head.weight", d->vocab, d->hidden, false);
	size_t off = 0;
	for (size_t i = 0; i < n; i++) {
		ts[i].begin = off;
		off += tensor_count(&ts[i]) * elem_bytes(d);
		ts[i].end = off;
	}
	return n;
}

/* The safetensors header: JSON padded with spaces to a multiple of 8. */
static char *header_json(const struct dims *d, const struct tensor *ts, size_t n, size_t *len)
{
	json_t *root = json_object();
	json_object_set_new(root, "__metadata__", json_pack("{s:s}", "format", "pt"));
	for (size_t i = 0; i < n; i++) {
		json_t *shape = ts[i].cols ? json_pack("[I,I]", (json_int_t)ts[i].rows, (json_int_t)ts[i].cols)
					   : json_pack("[I]", (json_int_t)ts[i].rows);
		json_object_set_new(root, ts[i].name,
				    json_pack("{s:s,s:o,s:[I,I]}", "dtype", d->dtype == KD_F32 ? "F32" : "BF16",
					      "shape", shape, "data_offsets", (json_int_t)ts[i].begin,
					      (json_int_t)ts[i].end));
	}
	char *s = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(root);
	if (!s)
		exo_errx(EXO_SOFTWARE, "out of memory for the safetensors header");
	size_t l = strlen(s), padded = (l + 7) & ~(size_t)7;
	s = xrealloc(s, padded + 1);
	memset(s + l, ' ', padded - l);
	s[padded] = '\0';
	*len = padded;
	return s;
}

/* Fill and write one tensor a chunk at a time through buf (chunk elements). */
static int write_tensor(int fd, const struct dims *d, const struct tensor *t, size_t index,
			void *buf, size_t chunk)
{
	struct rng r;
	rng_seed(&r, d->seed, index + 1);
	size_t total = tensor_count(t);
	for (size_t done = 0; done < total; done += chunk) {
		size_t m = total - done < chunk ? total - done : chunk;
		for (size_t j = 0; j < m; j++) {
			float v = t->ones ? 1.0f : rng_normalish(&r, 0.02f);
			if (d->dtype == KD_F32)
				((float *)buf)[j] = v;
			else
				((uint16_t *)buf)[j] = kern_f32_to_bf16(v);
		}
		if (write_all(fd, buf, m * elem_bytes(d)) < 0)
			return -1;
	}
	return 0;
}

static void write_safetensors(const char *dir, const struct dims *d, bool quiet)
{
	size_t cap = 16 + (16 + 3 * (size_t)d->experts) * (size_t)d->layers, n, hlen;
	struct tensor *ts = xcalloc(cap, sizeof *ts);
	n = list_tensors(d, ts);
	char *header = header_json(d, ts, n, &hlen);
	char path[4096], tmp[4200];
	snprintf(path, sizeof path, "%s/model.safetensors", dir);
	snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		exo_errx(EXO_IOERR, "can't create %s: %s", tmp, strerror(errno));
	uint8_t lenle[8];
	for (int i = 0; i < 8; i++)
		lenle[i] = (uint8_t)((uint64_t)hlen >> (8 * i));
	enum { CHUNK = 1 << 20 };
	void *buf = xmalloc(CHUNK * sizeof(float));
	int rc = write_all(fd, lenle, 8) < 0 || write_all(fd, header, hlen) < 0 ? -1 : 0;
	if (rc == 0 && d->header_only)  /* sparse: the size of the data, none of its blocks */
		rc = ftruncate(fd, (off_t)(8 + hlen + ts[n - 1].end));
	for (size_t i = 0; rc == 0 && !d->header_only && i < n; i++) {
		if (!quiet && isatty(STDERR_FILENO))
			fprintf(stderr, "\r%s: %zu/%zu tensors", path, i + 1, n);
		rc = write_tensor(fd, d, &ts[i], i, buf, CHUNK);
	}
	if (!quiet && isatty(STDERR_FILENO))
		fputc('\n', stderr);
	if (rc < 0 || fsync(fd) < 0 || close(fd) < 0) {
		int saved = errno;
		unlink(tmp);
		exo_errx(EXO_IOERR, "can't write %s: %s", tmp, strerror(saved));
	}
	if (rename(tmp, path) < 0) {
		int saved = errno;
		unlink(tmp);
		exo_errx(EXO_IOERR, "can't rename %s to %s: %s", tmp, path, strerror(saved));
	}
	free(buf);
	free(header);
	free(ts);
}

static void write_config(const char *dir, const struct dims *d)
{
	json_t *c = d->config ? json_incref(d->config) : json_pack("{s:[s],s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:f,s:f,s:b,s:s,s:s,"
			      "s:I,s:I,s:b,s:f,s:b,s:f,s:b}",
			      "architectures", "LlamaForCausalLM", "model_type", "llama",
			      "hidden_size", (json_int_t)d->hidden, "num_hidden_layers", (json_int_t)d->layers,
			      "num_attention_heads", (json_int_t)d->heads,
			      "num_key_value_heads", (json_int_t)d->kv_heads,
			      "head_dim", (json_int_t)d->head_dim, "intermediate_size", (json_int_t)d->ffn,
			      "vocab_size", (json_int_t)d->vocab,
			      "max_position_embeddings", (json_int_t)d->max_pos,
			      "rms_norm_eps", d->rms_eps, "rope_theta", d->rope_theta,
			      "tie_word_embeddings", d->tied, "hidden_act", "silu",
			      "torch_dtype", d->dtype == KD_F32 ? "float32" : "bfloat16",
			      "bos_token_id", (json_int_t)(d->vocab > 128000 ? 128000 : 1),
			      "eos_token_id", (json_int_t)(d->vocab > 128001 ? 128001 : 2),
			      "attention_bias", 0, "attention_dropout", 0.0, "mlp_bias", 0,
			      "initializer_range", 0.02, "use_cache", 1);
	if (d->config)
		;
	else if (d->rope_scaling)
		json_object_set_new(c, "rope_scaling",
				    json_pack("{s:s,s:f,s:f,s:f,s:I}", "rope_type", "llama3", "factor", 32.0,
					      "low_freq_factor", 1.0, "high_freq_factor", 4.0,
					      "original_max_position_embeddings", (json_int_t)8192));
	else
		json_object_set_new(c, "rope_scaling", json_null());
	char *s = json_dumps(c, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
	json_decref(c);
	if (!s)
		exo_errx(EXO_SOFTWARE, "out of memory for config.json");
	size_t l = strlen(s);
	s = xrealloc(s, l + 2);
	s[l] = '\n', s[l + 1] = '\0';
	char path[4096];
	snprintf(path, sizeof path, "%s/config.json", dir);
	struct exo_err e = {0};
	if (file_write_atomic(path, s, l + 1, &e) < 0)
		exo_die(&e);
	free(s);
}

/* How the architectures --from-config knows name their tensors; any other
 * gets Llama's names (for refusal tests). */
static const struct arch_names {
	const char *arch;
	bool qk_norm, qkv_bias;
	const char *moe_prefix, *gate, *up, *down;
} arch_names[] = {
	{"Qwen2ForCausalLM", false, true, NULL, NULL, NULL, NULL},
	{"Qwen3ForCausalLM", true, false, NULL, NULL, NULL, NULL},
	{"Qwen3MoeForCausalLM", true, false, "mlp", "gate_proj", "up_proj", "down_proj"},
	{"MixtralForCausalLM", false, false, "block_sparse_moe", "w1", "w3", "w2"},
};

static long cfg_long(json_t *c, const char *key, long dflt)
{
	json_t *v = json_object_get(c, key);
	return json_is_integer(v) ? (long)json_integer_value(v) : dflt;
}

static void cfg_set(json_t *c, const char *key, long v)
{
	json_object_set_new(c, key, json_integer(v));
}

/* Experts: 4 of them (top-k at most 2), expert FFN 32; mlp_only_layers kept
 * where they fall in the shrunk model. */
static void shrink_experts(struct dims *d, json_t *c, const struct arch_names *a)
{
	const char *count = json_object_get(c, "num_local_experts") ? "num_local_experts" : "num_experts";
	d->moe_prefix = a->moe_prefix, d->expert_gate = a->gate;
	d->expert_up = a->up, d->expert_down = a->down;
	d->sparse_step = cfg_long(c, "decoder_sparse_step", 1);
	if (d->full_size) {
		d->experts = cfg_long(c, count, 0);
		d->moe_ffn = cfg_long(c, "moe_intermediate_size", d->ffn);
		d->dense_layers = json_incref(json_object_get(c, "mlp_only_layers"));
		return;
	}
	d->experts = 4;
	d->moe_ffn = json_object_get(c, "moe_intermediate_size") ? 32 : d->ffn;
	cfg_set(c, count, d->experts);
	if (json_object_get(c, "moe_intermediate_size"))
		cfg_set(c, "moe_intermediate_size", d->moe_ffn);
	long k = cfg_long(c, "num_experts_per_tok", 2);
	cfg_set(c, "num_experts_per_tok", k < 2 ? k : 2);
	json_t *dense = json_object_get(c, "mlp_only_layers"), *kept = json_array(), *v;
	size_t i;
	json_array_foreach(dense, i, v)
		if (json_integer_value(v) < d->layers)
			json_array_append(kept, v);
	if (dense)
		json_object_set(c, "mlp_only_layers", kept);
	d->dense_layers = kept;
}

/* The architecture's tensor names; the config becomes the one written. */
static void name_tensors(struct dims *d, json_t *c, const char *arch)
{
	for (size_t i = 0; i < sizeof arch_names / sizeof *arch_names; i++)
		if (strcmp(arch, arch_names[i].arch) == 0) {
			d->qk_norm = arch_names[i].qk_norm;
			d->qkv_bias = arch_names[i].qkv_bias;
			if (arch_names[i].moe_prefix)
				shrink_experts(d, c, &arch_names[i]);
		}
	d->config = c;
}

/* A published config.json shrunk (unless --full-size): hidden 64, 4 heads (KV heads 4, 2 or 1 as
 * the original groups them), head_dim 16, or 32 where the original's is
 * independent of hidden/heads, 2 layers, FFN 96, vocabulary 512. */
static void shrink_config(struct dims *d, const char *file)
{
	json_error_t je;
	json_t *c = json_load_file(file, 0, &je);
	if (!json_is_object(c))
		exo_errx(EXO_DATAERR, "%s:%d: %s", file, je.line, je.text);
	const char *arch = json_string_value(json_array_get(json_object_get(c, "architectures"), 0));
	long hidden0 = cfg_long(c, "hidden_size", 0), heads0 = cfg_long(c, "num_attention_heads", 0);
	long kv0 = cfg_long(c, "num_key_value_heads", heads0);
	long hd0 = cfg_long(c, "head_dim", heads0 ? hidden0 / heads0 : 0);
	if (!arch || hidden0 <= 0 || heads0 <= 0)
		exo_errx(EXO_DATAERR, "%s: no architectures, hidden_size or num_attention_heads", file);
	d->tied = json_is_true(json_object_get(c, "tie_word_embeddings"));
	if (d->full_size) {
		d->hidden = hidden0, d->heads = heads0, d->kv_heads = kv0, d->head_dim = hd0;
		d->layers = cfg_long(c, "num_hidden_layers", 1), d->ffn = cfg_long(c, "intermediate_size", 1);
		d->vocab = cfg_long(c, "vocab_size", 1);
		name_tensors(d, c, arch);
		return;
	}
	d->hidden = 64, d->heads = 4, d->layers = 2, d->ffn = 96, d->vocab = 512;
	d->kv_heads = kv0 == heads0 ? 4 : kv0 == 1 ? 1 : 2;
	d->head_dim = hd0 * heads0 == hidden0 ? 16 : 32;
	cfg_set(c, "hidden_size", d->hidden);
	cfg_set(c, "num_attention_heads", d->heads);
	if (json_object_get(c, "num_key_value_heads"))
		cfg_set(c, "num_key_value_heads", d->kv_heads);
	if (json_is_integer(json_object_get(c, "head_dim")))
		cfg_set(c, "head_dim", d->head_dim);
	cfg_set(c, "num_hidden_layers", d->layers);
	cfg_set(c, "intermediate_size", d->ffn);
	cfg_set(c, "vocab_size", d->vocab);
	name_tensors(d, c, arch);
}

static const char usage_text[] =
	"usage: make_random_model --out DIR [--dtype bf16|f32] [--seed N] [--hidden N] [--layers N]\n"
	"       [--heads N] [--kv-heads N] [--head-dim N] [--intermediate N] [--vocab N]\n"
	"       [--max-pos N] [--rope-theta X] [--rms-eps X] [--no-rope-scaling] [--untied]\n"
	"       [--from-config CONFIG.JSON [--full-size]] [--header-only] [-q]\n";

static long num_arg(const char *opt, const char *s, long min)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *end || end == s || v < min)
		exo_errx(EXO_USAGE, "--%s %s: not an integer >= %ld", opt, s, min);
	return v;
}

static double real_arg(const char *opt, const char *s)
{
	char *end;
	double v = strtod(s, &end);
	if (*end || end == s || !(v > 0))
		exo_errx(EXO_USAGE, "--%s %s: not a positive number", opt, s);
	return v;
}

static void parse(int argc, char **argv, struct dims *d, const char **out, bool *quiet)
{
	static const struct option opts[] = {
		{"out", 1, 0, 'o'}, {"dtype", 1, 0, 'd'}, {"seed", 1, 0, 's'}, {"hidden", 1, 0, 'H'},
		{"layers", 1, 0, 'L'}, {"heads", 1, 0, 'A'}, {"kv-heads", 1, 0, 'K'},
		{"head-dim", 1, 0, 'D'}, {"intermediate", 1, 0, 'F'}, {"vocab", 1, 0, 'V'},
		{"max-pos", 1, 0, 'P'}, {"rope-theta", 1, 0, 'T'}, {"rms-eps", 1, 0, 'E'},
		{"no-rope-scaling", 0, 0, 'N'}, {"untied", 0, 0, 'U'}, {"quiet", 0, 0, 'q'},
		{"from-config", 1, 0, 'C'}, {"full-size", 0, 0, 'S'}, {"header-only", 0, 0, 'O'},
		{"help", 0, 0, 'h'}, {0, 0, 0, 0}};
	int c, li = 0;
	const char *config = NULL;
	while ((c = getopt_long(argc, argv, "o:d:s:qh", opts, &li)) != -1) {
		const char *name = opts[li].name;
		switch (c) {
		case 'o': *out = optarg; break;
		case 'd':
			if (strcmp(optarg, "bf16") == 0)
				d->dtype = KD_BF16;
			else if (strcmp(optarg, "f32") == 0)
				d->dtype = KD_F32;
			else
				exo_errx(EXO_USAGE, "--dtype %s: not bf16 or f32", optarg);
			break;
		case 's': d->seed = (uint64_t)num_arg("seed", optarg, 0); break;
		case 'H': d->hidden = num_arg(name, optarg, 1); break;
		case 'L': d->layers = num_arg(name, optarg, 1); break;
		case 'A': d->heads = num_arg(name, optarg, 1); break;
		case 'K': d->kv_heads = num_arg(name, optarg, 1); break;
		case 'D': d->head_dim = num_arg(name, optarg, 2); break;
		case 'F': d->ffn = num_arg(name, optarg, 1); break;
		case 'V': d->vocab = num_arg(name, optarg, 1); break;
		case 'P': d->max_pos = num_arg(name, optarg, 1); break;
		case 'T': d->rope_theta = real_arg(name, optarg); break;
		case 'E': d->rms_eps = real_arg(name, optarg); break;
		case 'N': d->rope_scaling = false; break;
		case 'U': d->tied = false; break;
		case 'C': config = optarg; break;
		case 'S': d->full_size = true; break;
		case 'O': d->header_only = true; break;
		case 'q': *quiet = true; break;
		case 'h': fputs(usage_text, stdout); exit(0);
		default: fputs(usage_text, stderr); exit(EXO_USAGE);
		}
	}
	if (config)
		shrink_config(d, config);
	if (!*out || optind != argc) {
		fputs(usage_text, stderr);
		exit(EXO_USAGE);
	}
	if (d->heads % d->kv_heads || d->head_dim % 2)
		exo_errx(EXO_USAGE, "--heads %ld must be a multiple of --kv-heads %ld, --head-dim even",
			 d->heads, d->kv_heads);
}

int main(int argc, char **argv)
{
	exo_progname = "make_random_model";
	struct dims d = {.hidden = 2048, .layers = 16, .heads = 32, .kv_heads = 8, .head_dim = 64,
			 .ffn = 8192, .vocab = 128256, .max_pos = 131072, .rope_theta = 500000.0,
			 .rms_eps = 1e-5, .rope_scaling = true, .tied = true, .dtype = KD_BF16,
			 .seed = 42};
	const char *out = NULL;
	bool quiet = false;
	parse(argc, argv, &d, &out, &quiet);
	if (mkdir(out, 0755) < 0 && errno != EEXIST)
		exo_errx(EXO_IOERR, "can't create %s: %s", out, strerror(errno));
	write_safetensors(out, &d, quiet);
	write_config(out, &d);
	json_decref(d.dense_layers);
	json_decref(d.config);
	if (!quiet)
		fprintf(stderr, "make_random_model: wrote %s (seed %" PRIu64 ")\n", out, d.seed);
	return 0;
}
