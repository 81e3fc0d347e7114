/* The shard protocol codec: every frame round-trips, and every malformed
 * field, truncation, wrong type and lying size is refused with a message
 * naming the field. */
#include "net/proto.h"
#include "tests/tap.h"

#include <msgpack.h>

static struct proto_msg decoded;
static struct exo_err err;
static char *held; /* the buffer decoded points into */

static int decode(const char *buf, size_t len)
{
	proto_msg_free(&decoded);
	memset(&err, 0, sizeof err);
	return proto_decode(buf, len, &decoded, &err);
}

static int roundtrip(const struct proto_msg *m)
{
	char *buf;
	size_t len;
	if (proto_encode(m, &buf, &len, NULL) < 0)
		return -1;
	int rc = decode(buf, len);
	/* every strict prefix is refused, and nothing is read past the end */
	for (size_t cut = 0; rc == 0 && cut < len; cut++) {
		char *part = malloc(cut + 1);
		memcpy(part, buf, cut);
		struct proto_msg m2;
		if (proto_decode(part, cut, &m2, NULL) == 0) {
			diag("a prefix of %zu of %zu bytes decoded", cut, len);
			rc = -1;
		}
		free(part);
	}
	if (rc == 0)
		rc = decode(buf, len); /* decoded points into buf: keep it until the next */
	free(held);
	held = buf;
	return rc;
}

static void test_roundtrips(void)
{
	struct proto_msg m;
	proto_msg_init(&m, PROTO_HELLO);
	strcpy(m.model, "llama3-tiny"), strcpy(m.revision, "a957a7d88feb"), strcpy(m.role, "stage");
	m.layer_start = 2, m.layer_end = 4, m.context = 256, m.vocab = 512, m.stage = 1;
	ok(roundtrip(&m) == 0 && decoded.op == PROTO_HELLO, "hello round-trips");
	ok(!strcmp(decoded.model, "llama3-tiny") && !strcmp(decoded.revision, "a957a7d88feb") &&
	   decoded.layer_start == 2 && decoded.layer_end == 4 && decoded.context == 256 &&
	   decoded.vocab == 512 && decoded.stage == 1 && !strcmp(decoded.role, "stage") &&
	   decoded.version == PROTO_VERSION, "hello: every field");

	int32_t toks[] = {0, 7, 2147483647};
	proto_msg_init(&m, PROTO_FORWARD);
	m.session = UINT64_MAX, m.pos = 5, m.tokens = toks, m.n = 3, m.want = PROTO_WANT_ALL_LOGITS;
	m.sampling = (struct eng_sampling){.temperature = 0.7, .top_p = 0.9, .min_p = 0.05, .top_k = 40, .seed = 1ull << 63};
	ok(roundtrip(&m) == 0 && decoded.op == PROTO_FORWARD && decoded.n == 3 && decoded.tokens &&
	   decoded.tokens[2] == 2147483647 && decoded.session == UINT64_MAX && decoded.pos == 5,
	   "forward with token ids round-trips");
	ok(decoded.want == PROTO_WANT_ALL_LOGITS && decoded.sampling.top_k == 40 &&
	   decoded.sampling.seed == 1ull << 63 && fabs(decoded.sampling.temperature - 0.7) < 1e-12 &&
	   fabs(decoded.sampling.min_p - 0.05) < 1e-12, "forward: sampling and want");

	uint16_t half[6] = {1, 2, 3, 4, 5, 6};
	proto_msg_init(&m, PROTO_FORWARD);
	m.session = 9, m.pos = 0, m.n = 2, m.hidden = 3, m.dtype = PROTO_BF16, m.data = half, m.data_len = 12;
	ok(roundtrip(&m) == 0 && !decoded.tokens && decoded.dtype == PROTO_BF16 && decoded.n == 2 &&
	   decoded.hidden == 3 && decoded.data_len == 12 && !memcmp(decoded.data, half, 12) &&
	   decoded.want == PROTO_WANT_TOKEN && decoded.sampling.top_p == 1,
	   "forward with a bf16 hidden block round-trips");

	float lg[4] = {1, -2, 3.5f, 0};
	proto_msg_init(&m, PROTO_RESULT);
	m.session = 3, m.logits = lg, m.rows = 2, m.cols = 2;
	ok(roundtrip(&m) == 0 && decoded.logits && decoded.rows == 2 && decoded.cols == 2 &&
	   !memcmp(decoded.logits, lg, 16), "result with logits round-trips");
	proto_msg_init(&m, PROTO_RESULT);
	m.session = 3, m.token = 42, m.logprob = -0.25;
	ok(roundtrip(&m) == 0 && !decoded.logits && decoded.token == 42 && decoded.logprob == -0.25,
	   "result with a token round-trips");

	proto_msg_init(&m, PROTO_ERROR);
	strcpy(m.code, "session_unknown"), strcpy(m.message, "stage 2 lost it"), m.stage = 2;
	ok(roundtrip(&m) == 0 && !strcmp(decoded.code, "session_unknown") &&
	   !strcmp(decoded.message, "stage 2 lost it") && decoded.stage == 2, "error round-trips");
	is_int(proto_error_status("session_unknown"), EXO_TEMPFAIL, "session_unknown: temporary");
	is_int(proto_error_status("unavailable"), EXO_UNAVAILABLE, "unavailable: 69");
	is_int(proto_error_status("mismatch"), EXO_CONFIG, "mismatch: 78");

	proto_msg_init(&m, PROTO_END);
	m.session = 77;
	ok(roundtrip(&m) == 0 && decoded.op == PROTO_END && decoded.session == 77, "end round-trips");
	proto_msg_init(&m, PROTO_PING);
	m.seq = 5, m.payload = "abc", m.payload_len = 3;
	ok(roundtrip(&m) == 0 && decoded.op == PROTO_PING && decoded.seq == 5 &&
	   decoded.payload_len == 3 && !memcmp(decoded.payload, "abc", 3), "ping round-trips");
	m.op = PROTO_ECHO;
	ok(roundtrip(&m) == 0 && decoded.op == PROTO_ECHO, "echo round-trips");
}

/* A forward frame built field by field; one field may be replaced. */
typedef void (*packer)(msgpack_packer *pk);
static void s(msgpack_packer *pk, const char *v) { msgpack_pack_str_with_body(pk, v, strlen(v)); }
static void v_forward(msgpack_packer *pk) { s(pk, "forward"); }
static void v_session(msgpack_packer *pk) { msgpack_pack_uint64(pk, 1); }
static void v_pos(msgpack_packer *pk) { msgpack_pack_int(pk, 0); }
static void v_tokens(msgpack_packer *pk) { msgpack_pack_array(pk, 2), msgpack_pack_int(pk, 1), msgpack_pack_int(pk, 2); }
static void v_want(msgpack_packer *pk) { s(pk, "token"); }
static void v_sampling(msgpack_packer *pk)
{
	msgpack_pack_map(pk, 2);
	s(pk, "temperature"), msgpack_pack_double(pk, 0.5);
	s(pk, "seed"), msgpack_pack_uint64(pk, 3);
}

static const char *fkeys[] = {"op", "session", "pos", "tokens", "want", "sampling"};
static packer fvals[] = {v_forward, v_session, v_pos, v_tokens, v_want, v_sampling};

static int forward_with(const char *key, packer val, const char *extra_key, packer extra)
{
	msgpack_sbuffer sb;
	msgpack_sbuffer_init(&sb);
	msgpack_packer pk;
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	int n = 6, drop = key && !val;
	msgpack_pack_map(&pk, (uint32_t)(n - drop + (extra_key ? 1 : 0)));
	for (int i = 0; i < n; i++) {
		if (key && !strcmp(key, fkeys[i]) && !val)
			continue;
		s(&pk, fkeys[i]);
		(key && !strcmp(key, fkeys[i]) ? val : fvals[i])(&pk);
	}
	if (extra_key)
		s(&pk, extra_key), extra(&pk);
	int rc = decode(sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
	return rc;
}

static void v_neg(msgpack_packer *pk) { msgpack_pack_int(pk, -1); }
static void v_big(msgpack_packer *pk) { msgpack_pack_uint64(pk, (uint64_t)PROTO_MAX_POS + 1); }
static void v_str(msgpack_packer *pk) { s(pk, "x"); }
static void v_float(msgpack_packer *pk) { msgpack_pack_double(pk, 1.5); }
static void v_nil(msgpack_packer *pk) { msgpack_pack_nil(pk); }
static void v_empty(msgpack_packer *pk) { msgpack_pack_array(pk, 0); }
static void v_negtok(msgpack_packer *pk) { msgpack_pack_array(pk, 1), msgpack_pack_int(pk, -5); }
static void v_bigtok(msgpack_packer *pk) { msgpack_pack_array(pk, 1), msgpack_pack_uint64(pk, 1ull << 31); }
static void v_strtok(msgpack_packer *pk) { msgpack_pack_array(pk, 1), s(pk, "1"); }
static void v_bin(msgpack_packer *pk) { msgpack_pack_bin_with_body(pk, "abcd", 4); }
static void v_want_bad(msgpack_packer *pk) { s(pk, "everything"); }
static void v_op_bad(msgpack_packer *pk) { s(pk, "launch"); }
static void v_samp_str(msgpack_packer *pk) { msgpack_pack_map(pk, 1), s(pk, "temperature"), s(pk, "hot"); }
static void v_samp_nan(msgpack_packer *pk) { msgpack_pack_map(pk, 1), s(pk, "top_p"), msgpack_pack_double(pk, NAN); }
static void v_samp_range(msgpack_packer *pk) { msgpack_pack_map(pk, 1), s(pk, "top_p"), msgpack_pack_double(pk, 1.5); }
static void v_samp_topk(msgpack_packer *pk) { msgpack_pack_map(pk, 1), s(pk, "top_k"), msgpack_pack_double(pk, 2.5); }
static void v_samp_seed(msgpack_packer *pk) { msgpack_pack_map(pk, 1), s(pk, "seed"), msgpack_pack_int(pk, -1); }
static void v_samp_list(msgpack_packer *pk) { msgpack_pack_array(pk, 0); }
static void v_deep(msgpack_packer *pk)
{
	for (int i = 0; i < 40; i++)
		msgpack_pack_array(pk, 1);
	msgpack_pack_nil(pk);
}
static void v_unknown_ok(msgpack_packer *pk) { msgpack_pack_map(pk, 1), s(pk, "a"), msgpack_pack_array(pk, 1), msgpack_pack_nil(pk); }
static void v_dtype(msgpack_packer *pk) { s(pk, "f32"); }
static void v_shape(msgpack_packer *pk) { msgpack_pack_array(pk, 2), msgpack_pack_int(pk, 1), msgpack_pack_int(pk, 2); }

static void refused(int rc, const char *field, const char *what)
{
	if (!ok(rc < 0 && err.code == EXO_DATAERR && strstr(err.msg, field), "%s: refused naming %s", what, field))
		diag("rc %d, message: %s", rc, err.msg);
}

static void test_forward_fields(void)
{
	ok(forward_with(NULL, NULL, NULL, NULL) == 0 && decoded.n == 2 && decoded.sampling.seed == 3 &&
	   decoded.sampling.temperature == 0.5, "the base forward frame decodes");
	ok(forward_with(NULL, NULL, "future_field", v_unknown_ok) == 0, "an unknown key is ignored");
	refused(forward_with("op", NULL, NULL, NULL), "'op'", "no op");
	refused(forward_with("op", v_op_bad, NULL, NULL), "'op'", "an unknown op");
	refused(forward_with("op", v_tokens, NULL, NULL), "'op'", "op not a string");
	refused(forward_with("session", NULL, NULL, NULL), "'session'", "no session");
	refused(forward_with("session", v_neg, NULL, NULL), "'session'", "a negative session");
	refused(forward_with("session", v_str, NULL, NULL), "'session'", "a string session");
	refused(forward_with("pos", v_neg, NULL, NULL), "'pos'", "a negative position");
	refused(forward_with("pos", v_big, NULL, NULL), "'pos'", "a position past the limit");
	refused(forward_with("pos", v_float, NULL, NULL), "'pos'", "a real position");
	refused(forward_with("pos", NULL, NULL, NULL), "'pos'", "no position");
	refused(forward_with("tokens", v_empty, NULL, NULL), "'tokens'", "no token ids");
	refused(forward_with("tokens", v_negtok, NULL, NULL), "'tokens'", "a negative token id");
	refused(forward_with("tokens", v_bigtok, NULL, NULL), "'tokens'", "a token id past int32");
	refused(forward_with("tokens", v_strtok, NULL, NULL), "'tokens'", "a string token id");
	refused(forward_with("tokens", v_nil, NULL, NULL), "'tokens'", "tokens nil");
	refused(forward_with("tokens", NULL, NULL, NULL), "'dtype'", "neither tokens nor a hidden block");
	refused(forward_with(NULL, NULL, "data", v_bin), "'tokens'", "tokens and a hidden block");
	refused(forward_with("want", v_want_bad, NULL, NULL), "'want'", "an unknown want");
	refused(forward_with("sampling", v_samp_str, NULL, NULL), "sampling.temperature", "a string temperature");
	refused(forward_with("sampling", v_samp_nan, NULL, NULL), "sampling.top_p", "a NaN top_p");
	refused(forward_with("sampling", v_samp_range, NULL, NULL), "sampling.top_p", "top_p above 1");
	refused(forward_with("sampling", v_samp_topk, NULL, NULL), "sampling.top_k", "a real top_k");
	refused(forward_with("sampling", v_samp_seed, NULL, NULL), "sampling.seed", "a negative seed");
	refused(forward_with("sampling", v_samp_list, NULL, NULL), "'sampling'", "sampling not a map");
	refused(forward_with(NULL, NULL, "deep", v_deep), "nested", "a value nested 40 deep");
	refused(forward_with(NULL, NULL, "pos", v_pos), "twice", "a repeated key");
	(void)v_dtype, (void)v_shape;
}

/* Hidden blocks: dtype, shape and data must agree. */
static int hidden_frame(const char *dtype, int shape_len, uint64_t rows, uint64_t cols, size_t bytes)
{
	msgpack_sbuffer sb;
	msgpack_sbuffer_init(&sb);
	msgpack_packer pk;
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 6);
	s(&pk, "op"), s(&pk, "forward"), s(&pk, "session"), msgpack_pack_int(&pk, 1);
	s(&pk, "pos"), msgpack_pack_int(&pk, 0), s(&pk, "dtype"), s(&pk, dtype);
	s(&pk, "shape"), msgpack_pack_array(&pk, (uint32_t)shape_len);
	for (int i = 0; i < shape_len; i++)
		msgpack_pack_uint64(&pk, i ? cols : rows);
	char *data = calloc(1, bytes + 1);
	s(&pk, "data"), msgpack_pack_bin_with_body(&pk, data, bytes);
	free(data);
	int rc = decode(sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
	return rc;
}

static void test_hidden(void)
{
	ok(hidden_frame("f16", 2, 2, 3, 12) == 0 && decoded.dtype == PROTO_F16, "an f16 block decodes");
	refused(hidden_frame("f8", 2, 2, 3, 12), "'dtype'", "an unknown dtype");
	refused(hidden_frame("f32", 2, 2, 3, 12), "'data'", "data shorter than the shape");
	refused(hidden_frame("f16", 2, 2, 3, 13), "'data'", "data longer than the shape");
	refused(hidden_frame("f16", 3, 2, 3, 12), "'shape'", "a shape of three");
	refused(hidden_frame("f16", 2, 0, 3, 0), "'shape'", "a zero row count");
	refused(hidden_frame("f32", 2, 1ull << 40, 1ull << 40, 4), "'shape'", "a shape of 2^80 values");
	refused(hidden_frame("f32", 2, PROTO_MAX_POS, PROTO_MAX_POS, 4), "'data'", "a shape the bytes do not hold");
}

static void test_raw(void)
{
	static const struct { const char *bytes; size_t len; const char *what; } cases[] = {
		{"", 0, "an empty frame"},
		{"\x92\x01\x02", 3, "an array, not a map"},
		{"\x81\xa2op\xa4ping\x00", 10, "a byte after the map"},
		{"\x81\x01\x02", 3, "an integer key"},
		{"\xdf\xff\xff\xff\xff", 5, "a map claiming 2^32 entries"},
		{"\x81\xa2op\xdb\xff\xff\xff\xff", 9, "a string claiming 4 GiB"},
		{"\x82\xa2op\xa4ping\xa3seq\xdd\xff\xff\xff\xff", 17, "an array claiming 2^32 entries"},
		{"\x82\xa2op\xa4ping\xa3seq\xc1", 13, "the reserved byte 0xc1"},
		{"\x82\xa2op\xa4ping\xa3seq\xc9\xff\xff\xff\xff\x01", 18, "an ext claiming 4 GiB"},
		{"\x81\xa2op\xa5hello", 10, "a hello without fields"},
		{"\x82\xa2op\xa5" "error\xa4" "code\xa1x", 17, "an error without a message"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
		ok(decode(cases[i].bytes, cases[i].len) < 0 && err.code == EXO_DATAERR && err.msg[0],
		   "%s is refused (%s)", cases[i].what, err.msg);
}

static void test_hello_fields(void)
{
	struct proto_msg m;
	char *buf;
	size_t len;
	proto_msg_init(&m, PROTO_HELLO);
	strcpy(m.model, "bad\x01id"), strcpy(m.revision, "r"), strcpy(m.role, "stage");
	proto_encode(&m, &buf, &len, NULL);
	refused(decode(buf, len), "'model'", "a model id with a control character");
	free(buf);
	strcpy(m.model, "ok"), strcpy(m.role, "boss");
	proto_encode(&m, &buf, &len, NULL);
	refused(decode(buf, len), "'role'", "an unknown role");
	free(buf);
	strcpy(m.role, "head"), m.layer_start = 3, m.layer_end = 1;
	proto_encode(&m, &buf, &len, NULL);
	refused(decode(buf, len), "'layer_end'", "a range ending before it starts");
	free(buf);
	m.layer_start = 0, m.version = 0;
	proto_encode(&m, &buf, &len, NULL);
	refused(decode(buf, len), "'version'", "version 0");
	free(buf);

	proto_msg_init(&m, PROTO_ERROR);
	strcpy(m.code, "x"), strcpy(m.message, "line\nbreak");
	proto_encode(&m, &buf, &len, NULL);
	ok(decode(buf, len) == 0 && !strcmp(decoded.message, "line?break"),
	   "an error message's control characters become '?'");
	free(buf);
	msgpack_sbuffer sb;
	msgpack_sbuffer_init(&sb);
	msgpack_packer pk;
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 4);
	s(&pk, "op"), s(&pk, "result"), s(&pk, "session"), msgpack_pack_int(&pk, 1);
	s(&pk, "shape"), msgpack_pack_array(&pk, 2), msgpack_pack_int(&pk, 1), msgpack_pack_int(&pk, 3);
	s(&pk, "logits"), msgpack_pack_bin_with_body(&pk, "12345678", 8);
	refused(decode(sb.data, sb.size), "'logits'", "logits shorter than their shape");
	msgpack_sbuffer_destroy(&sb);
}

int main(void)
{
	test_roundtrips();
	test_forward_fields();
	test_hidden();
	test_raw();
	test_hello_fields();
	proto_msg_free(&decoded);
	free(held);
	return done_testing();
}
