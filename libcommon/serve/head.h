/* The head of a pipeline: what turns a prompt into generated tokens.  It
 * holds each session's token history, runs the first stage's layers in
 * process when it has them, forwards hidden states down the chain of
 * stages, and receives the sampled token from the last stage.  When a stage
 * answers "session unknown" (it restarted, or evicted the session) the head
 * re-sends the history; when a stage is unreachable it retries for
 * retry_ms, then fails with an error naming the stage.
 *
 * Thread-safe: several generations run at once, each on its own chain of
 * links (taken from a pool), so that while stage k+1 computes one session
 * stage k computes another. */
#ifndef EXO_SERVE_HEAD_H
#define EXO_SERVE_HEAD_H
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "engine/engine.h"
#include "net/net.h"

struct head_opts {
	const char *model;          /* checkpoint dir or ORG/NAME[@REV] */
	int local_layers;           /* layers [0, local_layers) computed in process; 0: none */
	const char *next;           /* address of the stage after them; NULL when local holds all */
	struct eng_opts eng;
	struct net_opts net;
	int handover;               /* PROTO_F32/F16/BF16: the local layers' hidden states on the
	                             * wire, as a stage's --handover */
	int retry_ms;               /* how long to keep retrying an unreachable stage; 0: 10000 */
	int max_sessions;           /* local KV caches kept (LRU); 0: 16 */
	int chunk;                  /* positions one forward carries at most (long prompts
	                             * go in pieces: bounded frames and compute); 0: 256 */
	/* A stage already open in this process holding layers [0, local_layers)
	 * (stage 0's frame server), and the lock that guards it: the head then
	 * shares its weights instead of loading them again.  NULL: head_open
	 * loads them itself. */
	struct eng_stage *stage;
	pthread_mutex_t *stage_lock;
};

struct head;
struct head *head_open(const struct head_opts *o, struct exo_err *e);
void head_close(struct head *h);
const struct model_config *head_config(const struct head *h);
int head_context(const struct head *h);   /* the smallest context of the chain */

enum head_finish { HEAD_LENGTH, HEAD_STOP, HEAD_CANCELLED };

struct head_request {
	uint64_t session;           /* 0: a new one, dropped at the end; else kept (LRU,
	                             * max_sessions) and continued when the next prompt
	                             * extends it; one request at a time per session */
	/* With session 0: nonzero continues the kept session of this scope whose
	 * history the prompt continues (the next turn of a chat: only the new
	 * positions are computed), or starts one; either is kept afterwards,
	 * as a numbered session is.  Scopes keep callers apart (an API key). */
	uint64_t reuse_scope;
	const int32_t *prompt;      /* the whole conversation so far, as ids */
	size_t n_prompt;
	struct eng_sampling sampling;   /* sent as it is to the stage that draws
	                                 * (serve_draw): repeat_penalty is not applied
	                                 * (the last stage holds no history), and the
	                                 * generation ends after a token of sampling.eos */
	int max_tokens;
	bool want_logits;           /* with on_logits: give the prompt's last logits and stop */
	/* When set, each step brings back the logits [vocab] of the position
	 * that picks the next token (on_logits sees them), and the head draws
	 * the token itself with the same rule as the last stage: same tokens. */
	void (*on_logits)(void *arg, const float *logits, size_t vocab);
	void *logits_arg;
};

struct head_result {
	size_t n_prompt, n_generated;
	size_t n_reused;            /* prompt positions the chain already held */
	enum head_finish finish;
	double prefill_s, decode_s;
	int resends;                /* histories re-sent to restarted stages */
};

/* Called with each generated token, eos telling that it is one of
 * sampling.eos (the last token then: finish becomes HEAD_STOP); returns
 * nonzero to stop (the client went away, or a stop sequence matched):
 * finish becomes HEAD_CANCELLED / the caller's own reason. */
typedef int (*head_token_cb)(void *arg, int32_t token, float logprob, bool eos);

/* Errors: EXO_DATAERR a prompt over the context or an id out of the
 * vocabulary (HTTP 400), EXO_UNAVAILABLE a stage down beyond retry_ms (503),
 * naming the stage ("stage 1 (10.0.0.2:52416): connection refused"). */
int head_generate(struct head *h, const struct head_request *r, head_token_cb cb, void *arg,
		  struct head_result *res, struct exo_err *e);
/* The logits [vocab] of the last position of tokens (a fresh session). */
int head_logits(struct head *h, const int32_t *tokens, size_t n, float *logits,
		struct exo_err *e);
/* The logits [n, vocab] of every position of tokens (a fresh session). */
int head_logits_all(struct head *h, const int32_t *tokens, size_t n, float *logits,
		    struct exo_err *e);
#endif
