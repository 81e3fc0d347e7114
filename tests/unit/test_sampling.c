/* Sampling end to end (issue 22): struct eng_sampling crosses the wire
 * whole (its eos ids too, bounded), the result frame says eos, the one draw
 * (serve_draw) seeds with the one rule and reports eos, and the context
 * rule has one wording wherever it refuses. */
#include "engine/engine.h"
#include "net/proto.h"
#include "serve/serve.h"
#include "tests/tap.h"

#include <msgpack.h>

static int encode_decode(const struct proto_msg *m, struct proto_msg *out, char **buf,
			 struct exo_err *e)
{
	size_t len;
	if (proto_encode(m, buf, &len, e) < 0)
		return -1;
	return proto_decode(*buf, len, out, e);
}

static void test_wire(void)
{
	struct proto_msg m, d;
	struct exo_err e = {0};
	char *buf = NULL;
	int32_t toks[] = {3, 4};
	proto_msg_init(&m, PROTO_FORWARD);
	ok(m.sampling.top_p == 1 && m.sampling.repeat_penalty == 1 && m.sampling.n_eos == 0,
	   "a new message has eng_sampling_defaults");
	m.session = 9, m.tokens = toks, m.n = 2;
	m.sampling.temperature = 0.8, m.sampling.top_p = 0.95, m.sampling.top_k = 7, m.sampling.seed = 11;
	m.sampling.eos[0] = 2, m.sampling.eos[1] = 128009, m.sampling.n_eos = 2;
	ok(encode_decode(&m, &d, &buf, &e) == 0 && d.sampling.temperature == 0.8 &&
	   d.sampling.top_p == 0.95 && d.sampling.top_k == 7 && d.sampling.seed == 11 &&
	   d.sampling.n_eos == 2 && d.sampling.eos[0] == 2 && d.sampling.eos[1] == 128009,
	   "the sampling struct crosses the wire whole, eos ids included: %s", e.msg);
	proto_msg_free(&d), free(buf);

	m.sampling.n_eos = ENG_MAX_EOS;
	ok(encode_decode(&m, &d, &buf, &e) == 0 && d.sampling.n_eos == ENG_MAX_EOS,
	   "%d eos ids are taken", ENG_MAX_EOS);
	proto_msg_free(&d), free(buf);

	/* one more than the struct holds: refused, naming the field */
	msgpack_sbuffer sb;
	msgpack_sbuffer_init(&sb);
	msgpack_packer pk;
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 5);
	msgpack_pack_str_with_body(&pk, "op", 2), msgpack_pack_str_with_body(&pk, "forward", 7);
	msgpack_pack_str_with_body(&pk, "session", 7), msgpack_pack_uint64(&pk, 1);
	msgpack_pack_str_with_body(&pk, "pos", 3), msgpack_pack_int(&pk, 0);
	msgpack_pack_str_with_body(&pk, "tokens", 6), msgpack_pack_array(&pk, 1), msgpack_pack_int(&pk, 1);
	msgpack_pack_str_with_body(&pk, "sampling", 8), msgpack_pack_map(&pk, 2);
	msgpack_pack_str_with_body(&pk, "temperature", 11), msgpack_pack_float(&pk, 0.5f);
	msgpack_pack_str_with_body(&pk, "eos", 3), msgpack_pack_array(&pk, ENG_MAX_EOS + 1);
	for (int i = 0; i <= ENG_MAX_EOS; i++)
		msgpack_pack_int(&pk, i);
	ok(proto_decode(sb.data, sb.size, &d, &e) < 0 && strstr(e.msg, "sampling.eos"),
	   "more eos ids than the struct holds are refused: %s", e.msg);
	proto_msg_free(&d);

	/* float32 is accepted as well as float64 */
	memset(&e, 0, sizeof e);
	msgpack_sbuffer_clear(&sb);
	msgpack_pack_map(&pk, 5);
	msgpack_pack_str_with_body(&pk, "op", 2), msgpack_pack_str_with_body(&pk, "forward", 7);
	msgpack_pack_str_with_body(&pk, "session", 7), msgpack_pack_uint64(&pk, 1);
	msgpack_pack_str_with_body(&pk, "pos", 3), msgpack_pack_int(&pk, 0);
	msgpack_pack_str_with_body(&pk, "tokens", 6), msgpack_pack_array(&pk, 1), msgpack_pack_int(&pk, 1);
	msgpack_pack_str_with_body(&pk, "sampling", 8), msgpack_pack_map(&pk, 1);
	msgpack_pack_str_with_body(&pk, "temperature", 11), msgpack_pack_float(&pk, 0.7f);
	ok(proto_decode(sb.data, sb.size, &d, &e) == 0 && d.sampling.temperature == (double)0.7f &&
	   d.sampling.n_eos == 0 && d.sampling.top_p == 1, "a float32 temperature is read as sent: %s",
	   e.msg);
	proto_msg_free(&d);
	msgpack_sbuffer_destroy(&sb);

	proto_msg_init(&m, PROTO_RESULT);
	m.session = 9, m.token = 5, m.logprob = -0.25, m.eos = true;
	ok(encode_decode(&m, &d, &buf, &e) == 0 && d.token == 5 && d.eos, "a result says eos");
	free(buf);
	m.eos = false;
	ok(encode_decode(&m, &d, &buf, &e) == 0 && d.token == 5 && !d.eos, "and says nothing else");
	free(buf);
}

static void test_draw(void)
{
	float logits[6] = {0.5f, 1.0f, 0.2f, 0.9f, -1.0f, 0.0f}, l[6];
	struct eng_sampling p;
	eng_sampling_defaults(&p);
	p.temperature = 0.9, p.seed = 7;
	struct eng_sampler *sm = NULL, *ref;
	bool eos = true, same = true;
	float lp, lp_ref;
	for (int pos = 0; pos < 40; pos++) {
		memcpy(l, logits, sizeof l);
		int32_t t = serve_draw(&sm, &p, pos, l, 6, &lp, &eos);
		struct eng_sampling at = p;
		at.seed = serve_sample_seed(p.seed, pos);
		ref = eng_sampler_new(&at, 6);
		memcpy(l, logits, sizeof l);
		same &= t == eng_sample(ref, l, NULL, 0, &lp_ref) && lp == lp_ref && !eos;
		eng_sampler_free(ref);
	}
	ok(same, "the draw at a position is the sampler seeded by serve_sample_seed(seed, pos)");
	memcpy(l, logits, sizeof l);
	p.temperature = 0;
	p.eos[0] = 4, p.eos[1] = 1, p.n_eos = 2;
	ok(serve_draw(&sm, &p, 3, l, 6, &lp, &eos) == 1 && eos, "a token of eos says so");
	p.n_eos = 1;
	memcpy(l, logits, sizeof l);
	ok(serve_draw(&sm, &p, 3, l, 6, &lp, &eos) == 1 && !eos, "another does not");
	eng_sampler_free(sm);
}

static void test_context_rule(void)
{
	char dir[4096];
	snprintf(dir, sizeof dir, "%s/fixtures/models/llama3-tiny", tap_shared());
	struct eng_opts o = {.dtype = -1, .threads = 1, .ctx = 8};
	struct exo_err e = {0};
	struct eng_stage *s = eng_stage_open(dir, 0, 1, &o, &e);
	if (!ok(s != NULL, "llama3-tiny opens: %s", e.msg))
		return;
	ok(eng_check_context(s, 0, 8, &e) == 0 && eng_check_context(s, 7, 1, &e) == 0,
	   "positions up to the context pass");
	ok(eng_check_context(s, 0, 9, &e) < 0 && e.code == EXO_DATAERR &&
	   strstr(e.msg, "the prompt of 9 tokens exceeds the context of 8"), "a prompt over it: %s", e.msg);
	ok(eng_check_context(s, 6, 3, &e) < 0 && strstr(e.msg, "positions 6..8 exceed the context of 8"),
	   "positions over it: %s", e.msg);
	eng_stage_close(s);
}

int main(void)
{
	test_wire();
	test_draw();
	test_context_rule();
	return done_testing();
}
