/* The shard protocol's frames (man/exo-wire.5, SHARD PROTOCOL): one msgpack
 * map per frame with a string "op".  proto_encode writes one; proto_decode
 * reads one from bytes off the network, checking every field and type and
 * every size against the bytes actually there (nothing is allocated from a
 * length the peer announced).  A decoded message points into the frame
 * buffer for its bulk data (hidden block, logits, ping payload), so the
 * buffer must outlive it; token ids are copied out (proto_msg_free).
 *
 * This file parses untrusted bytes: it stays free of the engine's code and
 * the kernels so that the fuzzer links it alone (it takes only the engine's
 * sampling struct, which the forward frame carries). */
#ifndef EXO_NET_PROTO_H
#define EXO_NET_PROTO_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "engine/engine.h"
#include "util/err.h"

#define PROTO_VERSION 2   /* 2: the end of a sequence is drawn and reported by the last stage */
#define PROTO_ID_MAX 256          /* model id, revision */
#define PROTO_MSG_MAX 512         /* error messages */
#define PROTO_MAX_POS (1 << 24)   /* positions and counts beyond this are refused */

enum proto_op { PROTO_HELLO = 1, PROTO_FORWARD, PROTO_RESULT, PROTO_ERROR, PROTO_END,
		PROTO_PING, PROTO_ECHO };

/* What a forward asks the last stage to give back. */
enum proto_want { PROTO_WANT_TOKEN, PROTO_WANT_LOGITS, PROTO_WANT_ALL_LOGITS };

/* Hidden-state types on the wire: the values of enum kern_dtype. */
enum { PROTO_F32 = 0, PROTO_F16 = 1, PROTO_BF16 = 2 };

struct proto_msg {
	enum proto_op op;
	/* hello: who speaks and what it serves; the server answers with its own. */
	int version;
	char model[PROTO_ID_MAX], revision[PROTO_ID_MAX];
	int layer_start, layer_end;         /* [start, end); a head or client with none: 0, 0 */
	char role[16];                      /* "stage", "head", "client" */
	int context;                        /* hello answer: smallest context down the chain; 0 unknown */
	int vocab;                          /* hello answer; 0 unknown */
	int stage;                          /* hello: the stage index; error: the stage concerned; -1 none */
	/* forward, result, end */
	uint64_t session;
	int pos;                            /* forward: position of the first input */
	size_t n;                           /* forward: positions fed (token ids or hidden rows) */
	const int32_t *tokens;              /* forward to the first stage, else NULL */
	int dtype;                          /* forward with a hidden block: PROTO_F32/F16/BF16 */
	size_t hidden;                      /* its row length */
	const void *data;                   /* n * hidden values, little-endian, unaligned */
	size_t data_len;
	struct eng_sampling sampling;       /* forward: what the last stage draws with
	                                     * (repeat_penalty stays at its default) */
	enum proto_want want;
	/* result: a token, or logits [rows, vocab] f32 little-endian (unaligned) */
	int32_t token;
	double logprob;
	bool eos;                           /* result: token is one of sampling.eos */
	const void *logits;
	size_t rows, cols;
	/* error */
	char code[32], message[PROTO_MSG_MAX];
	/* ping and echo */
	uint64_t seq;
	const void *payload;
	size_t payload_len;

	int32_t *owned_tokens;              /* decode's copy of the token ids */
};

/* A message with every field at its default (stage -1, eng_sampling_defaults). */
void proto_msg_init(struct proto_msg *m, enum proto_op op);
void proto_msg_free(struct proto_msg *m);
const char *proto_op_name(enum proto_op op);

/* The frame body of m in a malloc'd buffer. */
int proto_encode(const struct proto_msg *m, char **buf, size_t *len, struct exo_err *e);
/* Decode one frame body (exactly len bytes, one map).  Errors (EXO_DATAERR)
 * name the op and field: "forward frame: field 'pos': expected an integer
 * 0..16777216".  Unknown keys are ignored; a repeated key is refused. */
int proto_decode(const char *buf, size_t len, struct proto_msg *m, struct exo_err *e);

/* An error frame body {op: error, code, message, stage}. */
int proto_encode_error(const char *code, int stage, const char *message, char **buf, size_t *len);
/* The exit status that goes with an error code (session_unknown:
 * EXO_TEMPFAIL, context_exceeded and bad_*: EXO_DATAERR, unavailable:
 * EXO_UNAVAILABLE, mismatch: EXO_CONFIG, busy: EXO_TEMPFAIL, else EXO_SOFTWARE). */
int proto_error_status(const char *code);
#endif
