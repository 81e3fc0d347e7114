/* The inference engine: one stage runs a contiguous range of decoder layers
 * [first, last) of a Llama / Mistral / Qwen2 / Qwen3 checkpoint, or of a
 * Qwen3-MoE / Mixtral mixture of experts, on the CPU.
 *
 * The stage holding layer 0 also embeds tokens; the stage holding the last
 * layer also applies the final norm and the LM head.  Activations between
 * stages are the residual stream, [n, hidden] f32.  A stage maps the
 * checkpoint and touches only its own tensors; weights stay in the mapping
 * unless --dtype asks for another type, when they are converted at load.
 *
 * Each session has its own KV cache (struct eng_kv) holding the positions
 * fed so far; eng_forward appends n positions to it. */
#ifndef EXO_ENGINE_ENGINE_H
#define EXO_ENGINE_ENGINE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "model/config.h"
#include "util/err.h"

struct eng_opts {
	int dtype;       /* enum kern_dtype for the big matrices; -1 keeps what is stored */
	int threads;     /* 0: the online cores */
	int ctx;         /* context limit of a KV cache; 0: min(max_position_embeddings, 4096) */
	bool small_pages; /* weights' arena on base pages (MADV_NOHUGEPAGE), not huge ones */
	/* Load and run every forward on one thread the stage owns, whatever
	 * thread calls: a server's short-lived connection threads would each
	 * start an OpenMP pool, and more pools than cores make every pool's
	 * workers sleep between regions (see runner.c). */
	bool compute_thread;
};

struct eng_stage;
struct eng_kv;

struct eng_stage *eng_stage_open(const char *model, int first, int last,
				 const struct eng_opts *opts, struct exo_err *e);
void eng_stage_close(struct eng_stage *s);
const struct model_config *eng_config(const struct eng_stage *s);
int eng_first_layer(const struct eng_stage *s);
int eng_last_layer(const struct eng_stage *s);       /* exclusive */
bool eng_has_head(const struct eng_stage *s);        /* holds the last layer */
int eng_context(const struct eng_stage *s);
/* The context limit, the one rule and message: positions [pos, pos + n)
 * must fit in the stage's context.  eng_forward applies it; a server
 * applies it where a request arrives too, before sizing anything by n.
 * 0, or -1 with EXO_DATAERR ("context limit: the prompt of 9 tokens
 * exceeds the context of 8"). */
int eng_check_context(const struct eng_stage *s, int pos, size_t n, struct exo_err *e);
/* Bytes of weights this stage holds resident (mapped tensors and converted ones). */
size_t eng_weight_bytes(const struct eng_stage *s);
/* Of those, the bytes of the experts of sparse layers, all of them; a
 * decoded token reads only n_experts_used / n_experts of these. */
size_t eng_expert_bytes(const struct eng_stage *s);
/* Whether some matrix of the stage is multiplied by kernels that round the
 * activations to int8 where the reference kernels do not (the AVX-512 VNNI
 * path of MLX's types, kern.h's packed_rounds_x): its results then differ
 * from the reference kernels' by more than the order of summation. */
bool eng_rounds_x(const struct eng_stage *s);
/* Weight bytes a decoded token reads, as the stage holds them (the GGUF
 * file's own types when kept as stored): every matrix once, of an
 * embedding that is not also the head one row, of the experts the used
 * share. */
size_t eng_token_weight_bytes(const struct eng_stage *s);
/* Bytes of one KV cache of ctx positions. */
size_t eng_kv_bytes(const struct eng_stage *s, int ctx);

struct eng_kv *eng_kv_new(const struct eng_stage *s, struct exo_err *e);
void eng_kv_free(struct eng_kv *kv);
int eng_kv_len(const struct eng_kv *kv);             /* positions cached */
void eng_kv_truncate(struct eng_kv *kv, int len);    /* forget positions >= len */

enum eng_output {
	ENG_OUT_HIDDEN,      /* residual stream after the last layer of the stage: [n, hidden] */
	ENG_OUT_NORMED,      /* head stage: after the final norm: [n, hidden] */
	ENG_OUT_LOGITS,      /* head stage: logits of every position: [n, vocab] */
	ENG_OUT_LAST_LOGITS, /* head stage: logits of the last position only: [vocab] */
};

/* Called after each layer with the residual stream [n, hidden] (for checks). */
typedef void (*eng_layer_hook)(void *arg, int layer, const float *x, size_t n, size_t hidden);

/* Feed n positions: token ids when the stage holds layer 0, else hidden
 * [n, hidden].  out receives what `what` asks for.  Errors: a token id out
 * of the vocabulary, the context limit, an output the stage cannot give. */
int eng_forward(struct eng_stage *s, struct eng_kv *kv, const int32_t *tokens,
		const float *hidden_in, size_t n, enum eng_output what, float *out,
		struct exo_err *e);
void eng_set_layer_hook(struct eng_stage *s, eng_layer_hook hook, void *arg);
/* Called after the router of each sparse layer with the experts every
 * position chose: experts[n, k], most probable first (for checks). */
typedef void (*eng_router_hook)(void *arg, int layer, const int32_t *experts, size_t n, size_t k);
void eng_set_router_hook(struct eng_stage *s, eng_router_hook hook, void *arg);

/* Sampling: one struct from the API request to the stage that draws the
 * token (the forward frame's sampling map carries it, man/exo-wire.5), each
 * field of one type all the way.  temperature 0 is greedy (argmax, lowest id
 * on ties).  The sampler computes in float: it rounds the real fields once,
 * when it takes them (eng_sampler_new, eng_sampler_reset). */
#define ENG_MAX_EOS 64
struct eng_sampling {
	double temperature;    /* 0: greedy */
	int top_k;             /* 0: off */
	double top_p;          /* 1: off */
	double min_p;          /* 0: off */
	double repeat_penalty; /* 1: off; applied to tokens of the history (HF rule);
	                        * not on the wire: the last stage holds no history */
	int repeat_last_n;     /* history window for the penalty; 0: all */
	uint64_t seed;         /* a pipeline draws the token at position p with
	                        * serve_sample_seed(seed, p) */
	int32_t eos[ENG_MAX_EOS]; /* ids that end a generation: the draw says when
	                           * it picked one (serve_draw) */
	int n_eos;
};
/* Pure, so that the frame decoder and the request parser (fuzzed alone) set
 * the same defaults without linking the engine. */
static inline void eng_sampling_defaults(struct eng_sampling *p)
{
	*p = (struct eng_sampling){.top_p = 1, .repeat_penalty = 1};
}
struct eng_sampler;
struct eng_sampler *eng_sampler_new(const struct eng_sampling *p, size_t vocab);
void eng_sampler_free(struct eng_sampler *sm);
/* New parameters and seed for the next draws, keeping the buffers: a stage
 * that reseeds per position (the same token after a restart) allocates once. */
void eng_sampler_reset(struct eng_sampler *sm, const struct eng_sampling *p);
/* Pick a token from logits (modified in place); *logprob gets its log
 * probability under the final distribution (may be NULL). */
int32_t eng_sample(struct eng_sampler *sm, float *logits, const int32_t *history,
		   size_t n_history, float *logprob);
#endif
