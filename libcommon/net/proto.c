/* Shard protocol frames: encoding with msgpack-c's packer, decoding with the
 * bounded cursor (records/mpcursor.h), so that no count a peer announces is
 * ever used to allocate before the bytes behind it have been seen. */
#include "net/proto.h"
#include "records/mpcursor.h"

#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

static const char *op_names[] = {"", "hello", "forward", "result", "error", "end", "ping", "echo"};
static const char *want_names[] = {"token", "logits", "all_logits"};
static const char *dtype_names[] = {"f32", "f16", "bf16"};

const char *proto_op_name(enum proto_op op)
{
	return op >= PROTO_HELLO && op <= PROTO_ECHO ? op_names[op] : "unknown";
}

void proto_msg_init(struct proto_msg *m, enum proto_op op)
{
	memset(m, 0, sizeof *m);
	m->op = op;
	m->version = PROTO_VERSION;
	m->stage = -1;
	eng_sampling_defaults(&m->sampling);
}

void proto_msg_free(struct proto_msg *m)
{
	free(m->owned_tokens);
	m->owned_tokens = NULL;
	m->tokens = NULL;
}

/* ---- encoding ---- */

static void put_str(msgpack_packer *pk, const char *s)
{
	msgpack_pack_str_with_body(pk, s, strlen(s));
}

static void put_kstr(msgpack_packer *pk, const char *k, const char *v)
{
	put_str(pk, k), put_str(pk, v);
}

static void put_kint(msgpack_packer *pk, const char *k, int64_t v)
{
	put_str(pk, k), msgpack_pack_int64(pk, v);
}

static void put_kuint(msgpack_packer *pk, const char *k, uint64_t v)
{
	put_str(pk, k), msgpack_pack_uint64(pk, v);
}

static void put_shape(msgpack_packer *pk, size_t a, size_t b)
{
	put_str(pk, "shape"), msgpack_pack_array(pk, 2);
	msgpack_pack_uint64(pk, a), msgpack_pack_uint64(pk, b);
}

/* eos only when there are some: a frame without them is the one of before. */
static void put_sampling(msgpack_packer *pk, const struct eng_sampling *s)
{
	put_str(pk, "sampling"), msgpack_pack_map(pk, s->n_eos > 0 ? 6 : 5);
	put_str(pk, "temperature"), msgpack_pack_double(pk, s->temperature);
	put_str(pk, "top_p"), msgpack_pack_double(pk, s->top_p);
	put_str(pk, "min_p"), msgpack_pack_double(pk, s->min_p);
	put_kint(pk, "top_k", s->top_k);
	put_kuint(pk, "seed", s->seed);
	if (s->n_eos > 0) {
		put_str(pk, "eos"), msgpack_pack_array(pk, (uint32_t)s->n_eos);
		for (int i = 0; i < s->n_eos; i++)
			msgpack_pack_int32(pk, s->eos[i]);
	}
}

static void encode_hello(msgpack_packer *pk, const struct proto_msg *m)
{
	msgpack_pack_map(pk, 10);
	put_kstr(pk, "op", "hello");
	put_kint(pk, "version", m->version);
	put_kstr(pk, "model", m->model), put_kstr(pk, "revision", m->revision);
	put_kint(pk, "layer_start", m->layer_start), put_kint(pk, "layer_end", m->layer_end);
	put_kstr(pk, "role", m->role[0] ? m->role : "stage");
	put_kint(pk, "context", m->context), put_kint(pk, "vocab", m->vocab);
	put_kint(pk, "stage", m->stage);
}

static void encode_forward(msgpack_packer *pk, const struct proto_msg *m)
{
	msgpack_pack_map(pk, m->tokens ? 6 : 8);
	put_kstr(pk, "op", "forward");
	put_kuint(pk, "session", m->session), put_kint(pk, "pos", m->pos);
	if (m->tokens) {
		put_str(pk, "tokens"), msgpack_pack_array(pk, (uint32_t)m->n);
		for (size_t i = 0; i < m->n; i++)
			msgpack_pack_int32(pk, m->tokens[i]);
	} else {
		put_kstr(pk, "dtype", dtype_names[m->dtype]);
		put_shape(pk, m->n, m->hidden);
		put_str(pk, "data"), msgpack_pack_bin_with_body(pk, m->data, m->data_len);
	}
	put_sampling(pk, &m->sampling);
	put_kstr(pk, "want", want_names[m->want]);
}

static void encode_result(msgpack_packer *pk, const struct proto_msg *m)
{
	msgpack_pack_map(pk, m->logits || !m->eos ? 4 : 5);
	put_kstr(pk, "op", "result");
	put_kuint(pk, "session", m->session);
	if (m->logits) {
		put_shape(pk, m->rows, m->cols);
		put_str(pk, "logits"), msgpack_pack_bin_with_body(pk, m->logits, m->rows * m->cols * 4);
	} else {
		put_kint(pk, "token", m->token);
		put_str(pk, "logprob"), msgpack_pack_double(pk, m->logprob);
		if (m->eos)
			put_str(pk, "eos"), msgpack_pack_true(pk);
	}
}

static void encode_misc(msgpack_packer *pk, const struct proto_msg *m)
{
	switch (m->op) {
	case PROTO_ERROR:
		msgpack_pack_map(pk, 4);
		put_kstr(pk, "op", "error");
		put_kstr(pk, "code", m->code), put_kstr(pk, "message", m->message);
		put_kint(pk, "stage", m->stage);
		break;
	case PROTO_END:
		msgpack_pack_map(pk, 2);
		put_kstr(pk, "op", "end"), put_kuint(pk, "session", m->session);
		break;
	default: /* ping, echo */
		msgpack_pack_map(pk, 3);
		put_kstr(pk, "op", proto_op_name(m->op)), put_kuint(pk, "seq", m->seq);
		put_str(pk, "payload"), msgpack_pack_bin_with_body(pk, m->payload, m->payload_len);
	}
}

int proto_encode(const struct proto_msg *m, char **buf, size_t *len, struct exo_err *e)
{
	if (m->op < PROTO_HELLO || m->op > PROTO_ECHO)
		return exo_error(e, EXO_SOFTWARE, "proto_encode: unknown op %d", (int)m->op);
	if (m->op == PROTO_FORWARD && (m->n == 0 || m->n > UINT32_MAX ||
				       (!m->tokens && (m->dtype < 0 || m->dtype > PROTO_BF16))))
		return exo_error(e, EXO_SOFTWARE, "proto_encode: forward frame without inputs");
	msgpack_sbuffer sb;
	msgpack_sbuffer_init(&sb);
	msgpack_packer pk;
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	switch (m->op) {
	case PROTO_HELLO: encode_hello(&pk, m); break;
	case PROTO_FORWARD: encode_forward(&pk, m); break;
	case PROTO_RESULT: encode_result(&pk, m); break;
	default: encode_misc(&pk, m);
	}
	if (!sb.data) {
		msgpack_sbuffer_destroy(&sb);
		return exo_error(e, EXO_SOFTWARE, "out of memory encoding a %s frame", proto_op_name(m->op));
	}
	*len = sb.size;
	*buf = msgpack_sbuffer_release(&sb);
	return 0;
}

int proto_encode_error(const char *code, int stage, const char *message, char **buf, size_t *len)
{
	struct proto_msg m;
	proto_msg_init(&m, PROTO_ERROR);
	snprintf(m.code, sizeof m.code, "%s", code);
	snprintf(m.message, sizeof m.message, "%s", message);
	m.stage = stage;
	return proto_encode(&m, buf, len, NULL);
}

int proto_error_status(const char *code)
{
	static const struct { const char *code; int status; } map[] = {
		{"session_unknown", EXO_TEMPFAIL}, {"busy", EXO_TEMPFAIL},
		{"context_exceeded", EXO_DATAERR}, {"bad_frame", EXO_DATAERR},
		{"bad_request", EXO_DATAERR}, {"unavailable", EXO_UNAVAILABLE},
		{"mismatch", EXO_CONFIG}};
	for (size_t i = 0; i < sizeof map / sizeof *map; i++)
		if (strcmp(code, map[i].code) == 0)
			return map[i].status;
	return EXO_SOFTWARE;
}

/* ---- decoding (records/mpcursor.h) ---- */

static const char *keys[] = {
	"op", "version", "model", "revision", "layer_start", "layer_end", "role", "context",
	"vocab", "stage", "session", "pos", "tokens", "dtype", "shape", "data", "sampling", "want",
	"token", "logprob", "eos", "logits", "code", "message", "seq", "payload"};
enum { K_OP, K_VERSION, K_MODEL, K_REVISION, K_LSTART, K_LEND, K_ROLE, K_CONTEXT, K_VOCAB,
       K_STAGE, K_SESSION, K_POS, K_TOKENS, K_DTYPE, K_SHAPE, K_DATA, K_SAMPLING, K_WANT,
       K_TOKEN, K_LOGPROB, K_EOS, K_LOGITS, K_CODE, K_MESSAGE, K_SEQ, K_PAYLOAD, K_COUNT };

struct frame {
	const char *op;                    /* for messages */
	const uint8_t *at[K_COUNT];        /* where each key's value starts, or NULL */
	const uint8_t *end;                /* of the frame: values are read only within it */
	struct exo_err *e;
};

static int bad(struct frame *f, const char *key, const char *what)
{
	return exo_error(f->e, EXO_DATAERR, "%s frame: field '%s': expected %s", f->op, key, what);
}

static int key_index(const struct mp_value *k)
{
	for (int i = 0; i < K_COUNT; i++)
		if (mp_str_is(k, keys[i]))
			return i;
	return -1;
}

static int get(struct frame *f, int k, struct mp_value *v)
{
	if (!f->at[k])
		return 0;
	struct mp_cursor c = {f->at[k], f->end};
	return mp_next(&c, v) < 0 ? -1 : 1;
}

/* Integer field in [lo, hi]; required unless def is given (have_def). */
static int get_int(struct frame *f, int k, int64_t lo, int64_t hi, bool required, int64_t *out)
{
	struct mp_value v;
	char what[96];
	int r = get(f, k, &v);
	snprintf(what, sizeof what, "an integer %lld..%lld", (long long)lo, (long long)hi);
	if (r == 0)
		return required ? bad(f, keys[k], what) : 0;
	int64_t x;
	if (v.type == MP_UINT && v.u <= INT64_MAX)
		x = (int64_t)v.u;
	else if (v.type == MP_INT)
		x = v.i;
	else
		return bad(f, keys[k], what);
	if (x < lo || x > hi)
		return bad(f, keys[k], what);
	*out = x;
	return 0;
}

static int get_u64(struct frame *f, int k, uint64_t *out)
{
	struct mp_value v;
	if (get(f, k, &v) != 1 || v.type != MP_UINT)
		return bad(f, keys[k], "an unsigned integer");
	*out = v.u;
	return 0;
}

/* A string of printable bytes into out (at most cap-1 of them); with clean,
 * control bytes become '?' and a longer string is cut instead of refused. */
static int get_str(struct frame *f, int k, char *out, size_t cap, bool clean)
{
	struct mp_value v;
	char what[64];
	snprintf(what, sizeof what, "a string of at most %zu bytes", cap - 1);
	if (get(f, k, &v) != 1 || v.type != MP_STR || (!clean && v.len >= cap))
		return bad(f, keys[k], what);
	size_t n = v.len < cap - 1 ? v.len : cap - 1;
	for (size_t i = 0; i < n; i++) {
		uint8_t ch = v.ptr[i];
		if (ch < 0x20 || ch == 0x7f) {
			if (!clean)
				return bad(f, keys[k], "a string without control characters");
			ch = '?';
		}
		out[i] = (char)ch;
	}
	out[n] = '\0';
	return 0;
}

static int get_shape(struct frame *f, size_t *a, size_t *b)
{
	struct mp_value v, x, y;
	const char *what = "[rows, columns] of positive integers";
	if (get(f, K_SHAPE, &v) != 1 || v.type != MP_ARRAY || v.len != 2)
		return bad(f, "shape", what);
	struct mp_cursor c = {f->at[K_SHAPE], f->end};
	if (mp_next(&c, &v) < 0 || mp_next(&c, &x) < 0 || mp_next(&c, &y) < 0 || x.type != MP_UINT ||
	    y.type != MP_UINT || x.u == 0 || y.u == 0 || x.u > PROTO_MAX_POS || y.u > PROTO_MAX_POS)
		return bad(f, "shape", what);
	*a = (size_t)x.u, *b = (size_t)y.u;
	return 0;
}

static int name_index(const struct mp_value *v, const char **names, int n)
{
	for (int i = 0; i < n; i++)
		if (mp_str_is(v, names[i]))
			return i;
	return -1;
}

static int decode_hello(struct frame *f, struct proto_msg *m)
{
	int64_t version, ls, le, ctx = 0, vocab = 0, stage = -1;
	if (get_int(f, K_VERSION, 1, INT32_MAX, true, &version) < 0 ||
	    get_str(f, K_MODEL, m->model, sizeof m->model, false) < 0 ||
	    get_str(f, K_REVISION, m->revision, sizeof m->revision, false) < 0 ||
	    get_int(f, K_LSTART, 0, 1 << 20, true, &ls) < 0 ||
	    get_int(f, K_LEND, 0, 1 << 20, true, &le) < 0 ||
	    get_str(f, K_ROLE, m->role, sizeof m->role, false) < 0 ||
	    get_int(f, K_CONTEXT, 0, PROTO_MAX_POS, false, &ctx) < 0 ||
	    get_int(f, K_VOCAB, 0, INT32_MAX, false, &vocab) < 0 ||
	    get_int(f, K_STAGE, -1, 1 << 20, false, &stage) < 0)
		return -1;
	if (ls > le)
		return bad(f, "layer_end", "at least layer_start");
	if (strcmp(m->role, "stage") && strcmp(m->role, "head") && strcmp(m->role, "client"))
		return bad(f, "role", "stage, head or client");
	m->version = (int)version, m->layer_start = (int)ls, m->layer_end = (int)le;
	m->context = (int)ctx, m->vocab = (int)vocab, m->stage = (int)stage;
	return 0;
}

static int get_number(struct frame *f, struct mp_cursor *c, const char *key, double lo, double hi,
		      double *out)
{
	struct mp_value v;
	if (mp_next(c, &v) < 0)
		return bad(f, key, "a number");
	double x = v.type == MP_FLOAT ? v.f : v.type == MP_UINT ? (double)v.u : v.type == MP_INT ? (double)v.i : -1e300;
	if (!(x >= lo && x <= hi)) /* NaN refused too */
		return bad(f, key, v.type == MP_FLOAT || v.type == MP_UINT || v.type == MP_INT ?
			   "a number in range" : "a number");
	*out = x;
	return 0;
}

/* sampling.eos: at most ENG_MAX_EOS token ids, into the struct's own array. */
static int decode_eos(struct frame *f, struct mp_cursor *c, struct eng_sampling *s)
{
	struct mp_value v, t;
	const char *what = "an array of at most 64 token ids";
	if (mp_next(c, &v) < 0 || v.type != MP_ARRAY || v.len > ENG_MAX_EOS)
		return bad(f, "sampling.eos", what);
	for (size_t i = 0; i < v.len; i++) {
		if (mp_next(c, &t) < 0 || t.type != MP_UINT || t.u > INT32_MAX)
			return bad(f, "sampling.eos", what);
		s->eos[i] = (int32_t)t.u;
	}
	s->n_eos = (int)v.len;
	return 0;
}

static int decode_sampling(struct frame *f, struct eng_sampling *s)
{
	struct mp_value v, k;
	if (!f->at[K_SAMPLING])
		return 0;
	struct mp_cursor c = {f->at[K_SAMPLING], f->end};
	if (mp_next(&c, &v) < 0 || v.type != MP_MAP)
		return bad(f, "sampling", "a map");
	for (size_t i = 0; i < v.len; i++) {
		if (mp_next(&c, &k) < 0 || k.type != MP_STR)
			return bad(f, "sampling", "a map with string keys");
		double x;
		const char *names[] = {"temperature", "top_p", "min_p", "top_k", "seed", "eos"};
		int idx = name_index(&k, names, 6);
		if (idx == 5) {
			if (decode_eos(f, &c, s) < 0)
				return -1;
			continue;
		}
		if (idx == 4) {
			struct mp_value sv;
			if (mp_next(&c, &sv) < 0 || sv.type != MP_UINT)
				return bad(f, "sampling.seed", "an unsigned integer");
			s->seed = sv.u;
			continue;
		}
		if (idx < 0) {
			if (mp_skip(&c, 16) < 0)
				return bad(f, "sampling", "a map");
			continue;
		}
		static const double hi[] = {1e4, 1, 1, 1 << 30};
		char key[32];
		snprintf(key, sizeof key, "sampling.%s", names[idx]);
		if (get_number(f, &c, key, 0, hi[idx], &x) < 0)
			return -1;
		if (idx == 0) s->temperature = x;
		else if (idx == 1) s->top_p = x;
		else if (idx == 2) s->min_p = x;
		else if (x != (int)x) return bad(f, key, "an integer");
		else s->top_k = (int)x;
	}
	return 0;
}

static int decode_tokens(struct frame *f, struct proto_msg *m)
{
	struct mp_value v, t;
	struct mp_cursor c = {f->at[K_TOKENS], f->end};
	if (mp_next(&c, &v) < 0 || v.type != MP_ARRAY || v.len == 0 || v.len > PROTO_MAX_POS)
		return bad(f, "tokens", "a non-empty array of token ids");
	if (!(m->owned_tokens = malloc(v.len * sizeof *m->owned_tokens)))
		return exo_error(f->e, EXO_SOFTWARE, "out of memory decoding %zu token ids", v.len);
	for (size_t i = 0; i < v.len; i++) {
		if (mp_next(&c, &t) < 0 || t.type != MP_UINT || t.u > INT32_MAX)
			return bad(f, "tokens", "an array of token ids (integers 0..2147483647)");
		m->owned_tokens[i] = (int32_t)t.u;
	}
	m->tokens = m->owned_tokens, m->n = v.len;
	return 0;
}

static int decode_hidden(struct frame *f, struct proto_msg *m)
{
	struct mp_value v;
	if (get(f, K_DTYPE, &v) != 1 || (m->dtype = name_index(&v, dtype_names, 3)) < 0)
		return bad(f, "dtype", "f32, f16 or bf16");
	if (get_shape(f, &m->n, &m->hidden) < 0)
		return -1;
	uint64_t want = (uint64_t)m->n * m->hidden * (m->dtype == PROTO_F32 ? 4 : 2);
	char what[96];
	snprintf(what, sizeof what, "bin of %llu bytes (shape and dtype)", (unsigned long long)want);
	if (get(f, K_DATA, &v) != 1 || v.type != MP_BIN || v.len != want)
		return bad(f, "data", what);
	m->data = v.ptr, m->data_len = v.len;
	return 0;
}

static int decode_forward(struct frame *f, struct proto_msg *m)
{
	int64_t pos;
	struct mp_value v;
	if (get_u64(f, K_SESSION, &m->session) < 0 ||
	    get_int(f, K_POS, 0, PROTO_MAX_POS, true, &pos) < 0)
		return -1;
	m->pos = (int)pos;
	if (f->at[K_TOKENS] && f->at[K_DATA])
		return bad(f, "tokens", "either tokens or a hidden block, not both");
	if ((f->at[K_TOKENS] ? decode_tokens(f, m) : decode_hidden(f, m)) < 0)
		return -1;
	if ((uint64_t)m->pos + m->n > PROTO_MAX_POS)
		return bad(f, "pos", "pos + n within 16777216");
	if (decode_sampling(f, &m->sampling) < 0)
		return -1;
	if (get(f, K_WANT, &v) == 1 && (int)(m->want = name_index(&v, want_names, 3)) < 0)
		return bad(f, "want", "token, logits or all_logits");
	return 0;
}

static int decode_result(struct frame *f, struct proto_msg *m)
{
	struct mp_value v;
	if (get_u64(f, K_SESSION, &m->session) < 0)
		return -1;
	if (f->at[K_LOGITS]) {
		if (get_shape(f, &m->rows, &m->cols) < 0)
			return -1;
		if (get(f, K_LOGITS, &v) != 1 || v.type != MP_BIN ||
		    v.len != (uint64_t)m->rows * m->cols * 4)
			return bad(f, "logits", "bin of rows * columns f32 values");
		m->logits = v.ptr;
		return 0;
	}
	int64_t tok;
	if (get_int(f, K_TOKEN, 0, INT32_MAX, true, &tok) < 0)
		return -1;
	m->token = (int32_t)tok;
	struct mp_cursor c = {f->at[K_LOGPROB], f->end};
	if (f->at[K_LOGPROB] && get_number(f, &c, "logprob", -1e30, 0, &m->logprob) < 0)
		return -1;
	int has_eos = get(f, K_EOS, &v);
	if (has_eos < 0 || (has_eos == 1 && v.type != MP_BOOL))
		return bad(f, "eos", "a boolean");
	m->eos = has_eos == 1 && v.u;
	return 0;
}

static int decode_other(struct frame *f, struct proto_msg *m)
{
	struct mp_value v;
	int64_t stage = -1;
	switch (m->op) {
	case PROTO_ERROR:
		if (get_str(f, K_CODE, m->code, sizeof m->code, false) < 0 ||
		    get_str(f, K_MESSAGE, m->message, sizeof m->message, true) < 0 ||
		    get_int(f, K_STAGE, -1, 1 << 20, false, &stage) < 0)
			return -1;
		m->stage = (int)stage;
		return 0;
	case PROTO_END:
		return get_u64(f, K_SESSION, &m->session);
	default: /* ping, echo */
		if (get_u64(f, K_SEQ, &m->seq) < 0)
			return -1;
		if (get(f, K_PAYLOAD, &v) == 1) {
			if (v.type != MP_BIN)
				return bad(f, "payload", "bin");
			m->payload = v.ptr, m->payload_len = v.len;
		}
		return 0;
	}
}

/* The top-level map: where each known key's value starts (each value
 * skipped once, so every byte is checked before a field is read). */
static int scan(struct mp_cursor *c, struct frame *f, size_t len)
{
	struct mp_value map, k;
	if (mp_next(c, &map) < 0 || map.type != MP_MAP)
		return exo_error(f->e, EXO_DATAERR, "frame of %zu bytes: not a msgpack map", len);
	for (size_t i = 0; i < map.len; i++) {
		if (mp_next(c, &k) < 0 || k.type != MP_STR)
			return exo_error(f->e, EXO_DATAERR, "frame: map key %zu: expected a string", i);
		int idx = key_index(&k);
		if (idx >= 0 && f->at[idx])
			return exo_error(f->e, EXO_DATAERR, "frame: key '%s' appears twice", keys[idx]);
		if (idx >= 0)
			f->at[idx] = c->p;
		if (mp_skip(c, 16) < 0)
			return exo_error(f->e, EXO_DATAERR, "frame: value %zu truncated, malformed or nested "
					 "too deep", i);
	}
	if (c->p != c->end)
		return exo_error(f->e, EXO_DATAERR, "frame: %zu bytes after the map", (size_t)(c->end - c->p));
	return 0;
}

int proto_decode(const char *buf, size_t len, struct proto_msg *m, struct exo_err *e)
{
	struct frame f = {.op = "shard", .e = e, .end = (const uint8_t *)buf + len};
	struct mp_cursor c = {(const uint8_t *)buf, (const uint8_t *)buf + len};
	struct mp_value v;
	proto_msg_init(m, PROTO_HELLO);
	if (scan(&c, &f, len) < 0)
		return -1;
	if (get(&f, K_OP, &v) != 1 || v.type != MP_STR)
		return exo_error(e, EXO_DATAERR, "frame: field 'op': expected a string");
	int op = name_index(&v, op_names + 1, PROTO_ECHO) + 1;
	if (op < PROTO_HELLO)
		return exo_error(e, EXO_DATAERR, "frame: field 'op': expected hello, forward, result, "
				 "error, end, ping or echo");
	m->op = (enum proto_op)op;
	f.op = op_names[op];
	int rc;
	switch (m->op) {
	case PROTO_HELLO: rc = decode_hello(&f, m); break;
	case PROTO_FORWARD: rc = decode_forward(&f, m); break;
	case PROTO_RESULT: rc = decode_result(&f, m); break;
	default: rc = decode_other(&f, m);
	}
	if (rc < 0)
		proto_msg_free(m);
	return rc;
}
