/* The stage side of the shard protocol (exo-shard-serve(1)) and what the
 * stages and the head share: model identity, the session table, the
 * client side of the hello exchange and the sampling seed rule. */
#ifndef EXO_SERVE_SERVE_H
#define EXO_SERVE_SERVE_H
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "engine/engine.h"
#include "net/net.h"
#include "net/proto.h"

/* Model identity as the hello frame carries it: for ORG/NAME[@REV] the id
 * and the snapshot commit; for a directory its basename and a short hash of
 * config.json and the safetensors headers (two different checkpoints in
 * directories of the same name do not pass for one another). */
int serve_model_identity(const char *model, char *id, size_t id_len, char *rev, size_t rev_len,
			 struct exo_err *e);

/* The seed of the draw that picks the token at position pos: a restarted
 * stage, or a re-sent history, draws the same token. */
uint64_t serve_sample_seed(uint64_t seed, int pos);
/* The one draw of a pipeline, wherever the logits are (the last stage, or
 * the head when it holds them): the token for position pos from logits
 * [vocab] (modified), with p and the seed serve_sample_seed(p->seed, pos).
 * *sm is made at the first draw and reseeded at each.  *logprob gets the
 * token's log probability, *eos whether it is one of p->eos (the end of the
 * generation, reported with the token).  -1 when out of memory. */
int32_t serve_draw(struct eng_sampler **sm, const struct eng_sampling *p, int pos, float *logits,
		   size_t vocab, float *logprob, bool *eos);

/* Sessions: values keyed by a 64-bit id, at most max of them; adding one
 * more evicts the least recently used (free_value is called on it).  Not
 * locked: callers hold their own lock. */
struct sess_table;
struct sess_table *sess_table_new(size_t max, void (*free_value)(void *));
void sess_table_free(struct sess_table *t);
void *sess_get(struct sess_table *t, uint64_t id);                /* marks it used; NULL if absent */
/* Add id (absent) with value; *evicted (may be NULL) gets the id evicted, 0 if none. */
int sess_put(struct sess_table *t, uint64_t id, void *value, uint64_t *evicted);
bool sess_drop(struct sess_table *t, uint64_t id);                /* frees the value */
void *sess_take(struct sess_table *t, uint64_t id);               /* removes it, not freed */
/* Removes and returns the value with the highest nonzero score (its id in
 * *id), NULL when every score is 0. */
void *sess_take_best(struct sess_table *t, size_t (*score)(const void *value, void *arg),
		     void *arg, uint64_t *id);
size_t sess_count(const struct sess_table *t);

/* Who one end of a link is, for the hello exchange. */
struct serve_ident {
	char model[PROTO_ID_MAX], revision[PROTO_ID_MAX];
	int first, last;            /* layers [first, last); 0, 0 for a head or client without layers */
	int stage;                  /* index, -1 unknown */
	const char *role;           /* "stage", "head", "client" */
	int context, vocab;         /* sent in a server's answer */
};
/* Whether peer (a hello) may be our upstream (server side: its range must
 * end where ours starts) or downstream (client side: its range must start
 * where ours ends).  0, or -1 with the reason in msg naming both. */
int serve_check_hello(const struct serve_ident *me, const struct proto_msg *peer, bool upstream,
		      char *msg, size_t msg_len);
/* "stage 2 (10.0.0.3:52416)" or "the next stage (ADDR)" when the index is unknown. */
void serve_stage_name(char *buf, size_t len, int index, const char *addr);
/* Connect to addr, say hello as me, check the answer; answer (may be NULL)
 * receives the server's hello.  Errors name the stage (index, address). */
int serve_connect(const char *addr, int index, const struct net_opts *no,
		  const struct serve_ident *me, struct net_link **l, struct proto_msg *answer,
		  struct exo_err *e);
/* The answer to a forward: its first byte may take as long as the
 * computing down the chain (SERVE_ANSWER_MS), the rest of the frame the
 * link's io timeout. */
#define SERVE_ANSWER_MS 120000
int serve_recv_answer(struct net_link *l, char **buf, size_t *len, struct exo_err *e);
/* Encode m and send it. */
int serve_send(struct net_link *l, const struct proto_msg *m, struct exo_err *e);

/* A stage: one range of layers served on a listening address. */
struct stage_opts {
	const char *model;
	int first, last;            /* layers [first, last); last -1: to the end */
	int index;                  /* this stage's index in the plan, for messages; -1 unknown */
	const char *listen;
	const char *next;           /* the next stage's address; NULL for the last */
	struct eng_opts eng;
	struct net_opts net;
	int handover;               /* PROTO_F32/F16/BF16: hidden states sent to the next stage */
	int max_connections;        /* links past their hello; 0: 64 */
	int max_sessions;           /* 0: 64 */
	int idle_timeout_ms;        /* a link silent this long between frames is closed;
	                             * 0: STAGE_IDLE_TIMEOUT_MS */
};
#define STAGE_IDLE_TIMEOUT_MS 600000
struct stage_server;
/* Load the layers and bind the address. */
struct stage_server *stage_open(const struct stage_opts *o, struct exo_err *e);
/* The engine and the lock that guards it, for a head in the same process. */
struct eng_stage *stage_engine(struct stage_server *s);
pthread_mutex_t *stage_engine_lock(struct stage_server *s);
/* Serve until *stop becomes nonzero; then stop accepting, let the frames in
 * flight finish and return 0. */
int stage_run(struct stage_server *s, volatile sig_atomic_t *stop, struct exo_err *e);
void stage_close(struct stage_server *s);

/* The plan record (man/exo-wire.5) as a stage uses it: decoded by the
 * planner's codec (planner.h), its stages sorted and checked to chain. */
struct serve_stage {
	int index, first, last;     /* layers [first, last) */
	char node[256], address[256], device[64];
};
struct serve_plan {
	char model[4096];           /* what to open: the plan's path when given, else model[@revision] */
	char dtype[16];             /* "" when the plan names none */
	int context;                /* 0 when the plan names none */
	int sessions;               /* sessions planned for; 0 when the plan names none */
	struct serve_stage *stages; /* sorted by index */
	size_t n_stages;
};
/* Read the first plan record of a file in msgpack, JSON or YAML. */
int serve_plan_load(const char *path, struct serve_plan *p, struct exo_err *e);
void serve_plan_free(struct serve_plan *p);
/* The stage with that index, or NULL. */
const struct serve_stage *serve_plan_stage(const struct serve_plan *p, int index);
#endif
