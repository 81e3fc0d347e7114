/* The planner: turns a model's profile and the devices of a cluster into a
 * chain of stages, each a contiguous range of layers on one device, with its
 * memory need and its predicted time per token.  exo-partition(1) is its
 * command; the strategies, the cost model and the estimate table are
 * documented there.
 *
 * Units: sizes in bytes (uint64_t), bandwidths in bytes/s, times in seconds.
 * Layer ranges are half-open: [layer_start, layer_end). */
#ifndef EXO_PLANNER_PLANNER_H
#define EXO_PLANNER_PLANNER_H
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include "util/err.h"

#define PLAN_MAX_UNITS 256
#define PLAN_PORT_BASE 52416

/* One weight tensor of the checkpoint, by role, so that its size can be
 * computed for any --dtype.  rows x cols for a matrix; cols == 0 for a
 * vector (rows elements), which stays f32. */
enum plan_role { PR_LAYER, PR_EMBED, PR_HEAD, PR_NORM };
struct plan_tensor {
	enum plan_role role;
	int layer;             /* PR_LAYER: the layer index */
	uint64_t rows, cols;
	int stored;            /* enum kern_dtype as stored */
	bool expert;           /* one expert's matrix of a sparse layer */
};

/* The model's profile: what the planner needs to know of it. */
struct plan_model {
	char id[512];          /* ORG/NAME, or the directory's name */
	char path[4096];       /* the directory ("" for a profile read from a record) */
	char revision[128];
	char architecture[64];
	int layers, hidden, ffn, heads, kv_heads, head_dim, vocab, max_pos;
	bool tied;
	int dtype;             /* enum kern_dtype the stages will hold */
	uint64_t *layer_bytes; /* [layers] at dtype */
	uint64_t embed_bytes;  /* the embedding matrix (first stage) */
	uint64_t head_bytes;   /* LM head + final norm (last stage); the embedding when tied */
	uint64_t kv_bytes_token_layer; /* K and V of one position in one layer (f32 cache) */
	/* Mixture of experts: a stage holds every expert of its layers (in
	 * layer_bytes) but a token reads only experts_used of the experts. */
	int experts, experts_used;     /* 0: dense */
	uint64_t expert_bytes;         /* all experts of one sparse layer, at dtype */
	const bool *layer_sparse;      /* [layers], NULL when dense; shared (read-only) by a struct copy */
	/* the allocation behind layer_sparse, freed by plan_model_free of the owner only */
	bool *layer_sparse_owned;
	struct plan_tensor *tensors;   /* NULL for a profile read from a record */
	size_t n_tensors;
};

/* Profile of a checkpoint directory or ORG/NAME[@REV] in the HF cache, from
 * config.json and the safetensors headers; dtype -1 keeps the stored type. */
int plan_model_load(struct plan_model *m, const char *model, int dtype, struct exo_err *e);
/* The same from a `model` record (as --profile prints it). */
int plan_model_from_record(struct plan_model *m, const json_t *rec, struct exo_err *e);
/* Recompute the sizes for another dtype; -1 if a matrix does not fit its blocks. */
int plan_model_set_dtype(struct plan_model *m, int dtype, struct exo_err *e);
void plan_model_free(struct plan_model *m);
json_t *plan_model_record(const struct plan_model *m);
uint64_t plan_model_total(const struct plan_model *m);
/* Bytes of layer i one decoded token reads: the layer less the experts the
 * router does not pick (on average all but experts_used of them). */
double plan_layer_read_bytes(const struct plan_model *m, int layer);
/* "f32", "f16", "bf16", "q8_0", "q4_0"; -1 when unknown. */
/* A model whose matrices keep the types its file mixes (GGUF): "stored". */
#define PLAN_DTYPE_STORED (-1)
int plan_dtype_parse(const char *name);
const char *plan_dtype_name(int dtype);
/* Bytes per weight of a matrix in the type. */
double plan_bytes_per_weight(int dtype);

/* Where a figure came from (estimated: no source gives it today; kept in
 * the wire format for a GPU backend's spec-sheet figures). */
enum plan_source { PS_MEASURED, PS_DETECTED, PS_ESTIMATED, PS_DEFAULT };
const char *plan_source_name(enum plan_source s);

/* A device a stage can run on: a node's CPU with its RAM (this build has
 * no GPU backend: a node's GPUs are noted, not planned). */
struct plan_unit {
	char node[128];
	char device[32];       /* "cpu" */
	char host[256];        /* where the node is reached, without port */
	int port;              /* the node's advertised port, 0 if none */
	bool no_address;       /* the record names no routable address: host is 127.0.0.1 */
	uint64_t mem_total;    /* weight for ring-memory, as exo uses */
	uint64_t mem_budget;   /* available x memory fraction: what a stage may use */
	double bandwidth;      /* bytes/s read from memory */
	enum plan_source bw_source;
	double rtt;            /* seconds, to reach this node */
	enum plan_source rtt_source;
	double net_bandwidth;  /* bytes/s into this node */
	enum plan_source net_source;
};

struct plan_cluster {
	struct plan_unit *units;
	size_t n;
	json_t *notes;         /* array of strings: what was ignored and why */
};

/* Cluster from node and bench records (bench records may come in any order;
 * they are matched to nodes by name).  fraction <= 0: the node's
 * memory_fraction, else 0.9.  Errors: no node record (EXO_DATAERR). */
int plan_cluster_build(struct plan_cluster *c, json_t *const *records, size_t n,
		       double fraction, struct exo_err *e);
void plan_cluster_free(struct plan_cluster *c);

/* Round as Python's round(x, 5) does (see ring.c). */
double plan_round5(double x);

enum plan_strategy { PLAN_LATENCY, PLAN_THROUGHPUT, PLAN_RING_MEMORY };
int plan_strategy_parse(const char *name);
const char *plan_strategy_name(enum plan_strategy s);

struct plan_request {
	enum plan_strategy strategy;
	int ctx;               /* tokens of KV cache per session */
	int sessions;
	int port_base;         /* PLAN_PORT_BASE by default */
};

struct plan_stage {
	size_t unit;           /* index into the cluster's units */
	int layer_start, layer_end;
	uint64_t weight_bytes, kv_bytes, act_bytes;
	double seconds;        /* predicted compute time per token */
};

struct plan_result {
	struct plan_stage *stages;
	size_t n;
	double seconds_per_token;  /* stages plus network hops */
	double hop_seconds;
	double aggregate_tokens_per_s;  /* with the request's sessions pipelined */
	json_t *notes;
};

/* Memory one stage needs for layers [a, b) (first and last stage roles
 * follow from the range). */
uint64_t plan_stage_weights(const struct plan_model *m, int a, int b);
uint64_t plan_stage_kv(const struct plan_model *m, int a, int b, const struct plan_request *r);
uint64_t plan_stage_act(const struct plan_model *m, int a, int b, const struct plan_request *r);
/* Bytes a stage reads per decoded token, and its time on unit u. */
double plan_stage_seconds(const struct plan_model *m, int a, int b, const struct plan_request *r,
			  const struct plan_unit *u);

/* Plan.  Returns 0, or -1 with EXO_FAIL when no assignment fits memory; the
 * message then says what is needed, what is available and what would fit. */
int plan_make(const struct plan_model *m, const struct plan_cluster *c,
	      const struct plan_request *r, struct plan_result *out, struct exo_err *e);
void plan_result_free(struct plan_result *p);

/* The strategies themselves (plan_make adds costs and checks): fill out->stages. */
int plan_ring_memory(const struct plan_model *m, const struct plan_cluster *c,
		     const struct plan_request *r, struct plan_result *out);
int plan_fastest(const struct plan_model *m, const struct plan_cluster *c,
		 const struct plan_request *r, struct plan_result *out);
/* Finish a result: stage sizes and times, hops, totals. */
void plan_cost(const struct plan_model *m, const struct plan_cluster *c,
	       const struct plan_request *r, struct plan_result *p);

/* ---- The plan record (man/exo-wire.5): its one codec ----
 * exo-partition encodes it here and every reader of a plan (exo-fetch,
 * exo-shard-serve, exo-validate plan and its --live checks) decodes it here.
 * The schema (records/schema.c) is checked once, by the record reader that
 * hands the record over; the decoder then only converts.  Integers are kept
 * as the record gives them (64-bit): each reader judges their range.
 * Strings are NULL and numbers 0 where the record leaves them out. */
struct plan_rec_stage {
	int64_t index;
	int64_t layer_start, layer_end;        /* layers [layer_start, layer_end) */
	char *node, *device, *address;
	int64_t bytes, kv_bytes, activation_bytes;
	int64_t memory;                        /* the budget of the stage's device */
	double bandwidth;
	char *bandwidth_source, *rtt_source;
	double seconds_per_token;
};
struct plan_rec {
	char *model, *revision, *path, *strategy, *dtype;
	int64_t layers, context, sessions;
	struct plan_rec_stage *stages;         /* in the record's order */
	size_t n_stages;
	double seconds_per_token, tokens_per_s, aggregate_tokens_per_s, hop_seconds;
	char **notes;
	size_t n_notes;
};
/* A plan record (kind "plan", already validated) decoded; EXO_DATAERR when
 * rec is no plan record.  plan_rec_free it either way. */
int plan_rec_decode(const json_t *rec, struct plan_rec *p, struct exo_err *e);
/* The first plan record of a stream in msgpack, JSON or YAML (told apart
 * by its first byte), records of other kinds skipped: the reader's error,
 * or "SOURCE: no plan record" (EXO_DATAERR). */
int plan_rec_read(int fd, const char *source, struct plan_rec *p, struct exo_err *e);
/* The record: every field the struct holds, optional ones (revision, path,
 * notes) only when set.  The caller owns it. */
json_t *plan_rec_encode(const struct plan_rec *p);
void plan_rec_free(struct plan_rec *p);

/* The plan record of a planner's result, and its table for a terminal (a
 * NUL-terminated string the caller frees). */
json_t *plan_record(const struct plan_model *m, const struct plan_cluster *c,
		    const struct plan_request *r, const struct plan_result *p);
char *plan_table(const json_t *plan);
#endif
