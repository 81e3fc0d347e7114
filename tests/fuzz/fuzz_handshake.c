/* libFuzzer target for keyed links: the handshake state machine and the
 * frame decoder, driven over buffers (no sockets).  The first byte picks:
 *   0  the server side, fed the rest as what a client sends: its hello, its
 *      finish, then sealed frames;
 *   1  the client side, fed what a server sends;
 *   2  a genuine handshake between both sides in memory, then frames the
 *      input describes are sealed by the client, one byte of the wire is
 *      flipped, and the server must read back exactly the frames before the
 *      flipped one and refuse that one (no forgery, no desync);
 *   3  plaintext length prefixes.
 * The ephemeral keys come from fixed seeds, so an input holding a valid
 * hello and finish (the seed corpus, made by building this file with
 * -DFUZZ_GEN_CORPUS and a main) gets past the proof into the frames.
 * Refusals must be one-line errors of the documented kinds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "net/link.h"

#define MAX_FRAME (1u << 20)

static const uint8_t fuzz_key[NET_KEY_BYTES] = "exo fuzz cluster key, 32 bytes";
static const uint8_t seed_c[32] = "client ephemeral seed for fuzz";
static const uint8_t seed_s[32] = "server ephemeral seed for fuzz";

static void check_refusal(const struct exo_err *e, int allowed_codes_mask)
{
	int known = e->code == EXO_NOPERM || e->code == EXO_DATAERR;
	if (!known || !(allowed_codes_mask & (1 << (e->code == EXO_NOPERM))) || strchr(e->msg, '\n') ||
	    !e->msg[0])
		abort();
}

/* Sealed frames from the peer until the bytes run out or one is refused;
 * how many were read (the end mark counts). */
static int read_frames(crypto_secretstream_xchacha20poly1305_state *rx, const uint8_t *p, size_t n)
{
	struct exo_err e;
	int frames = 0;
	for (;; frames++) {
		if (n < NET_FRAME_HEADER)
			return frames;
		size_t len;
		if (net_frame_check(p, 1, MAX_FRAME, "fuzz", &len, &e) < 0) {
			check_refusal(&e, 1);
			return frames;
		}
		if (len > n - NET_FRAME_HEADER)
			return frames;   /* on a socket: a wait, then a timeout or a cut */
		uint8_t *c = malloc(len ? len : 1);   /* exact size: overreads are caught */
		memcpy(c, p + NET_FRAME_HEADER, len);
		size_t blen;
		int rc = net_frame_open(rx, p, c, len, &blen, "fuzz", &e);
		free(c);
		if (rc < 0)
			check_refusal(&e, 1);
		if (rc != 0)
			return rc < 0 ? frames : frames + 1;
		p += NET_FRAME_HEADER + len;
		n -= NET_FRAME_HEADER + len;
	}
}

/* One side of the handshake fed the peer's bytes, then its frames: -1 when
 * the handshake does not complete, else the frames read. */
static int one_side(int role, const uint8_t *p, size_t n)
{
	struct net_hs h;
	struct exo_err e;
	net_hs_init(&h, role, fuzz_key, role == NET_HS_CLIENT ? seed_c : seed_s, &e);
	if (net_hs_check_start(&h, p, n < NET_FRAME_HEADER ? n : NET_FRAME_HEADER, &e) < 0) {
		check_refusal(&e, 2);
		return -1;
	}
	if (n < NET_HS_HELLO_BYTES)
		return -1;
	if (net_hs_read_hello(&h, p, &e) < 0) {
		check_refusal(&e, 3);
		return -1;
	}
	p += NET_HS_HELLO_BYTES;
	n -= NET_HS_HELLO_BYTES;
	if (n < NET_HS_FINISH_BYTES)
		return -1;
	if (net_hs_read_finish(&h, p, &e) < 0) {
		check_refusal(&e, 2);
		return -1;
	}
	int frames = read_frames(&h.rx, p + NET_HS_FINISH_BYTES, n - NET_HS_FINISH_BYTES);
	net_hs_wipe(&h);
	return frames;
}

static void genuine_handshake(struct net_hs *c, struct net_hs *s)
{
	struct exo_err e;
	net_hs_init(c, NET_HS_CLIENT, fuzz_key, seed_c, &e);
	net_hs_init(s, NET_HS_SERVER, fuzz_key, seed_s, &e);
	if (net_hs_read_hello(s, c->hello, &e) < 0 || net_hs_read_hello(c, s->hello, &e) < 0 ||
	    net_hs_read_finish(s, c->finish, &e) < 0 || net_hs_read_finish(c, s->finish, &e) < 0)
		abort();
}

struct frames {
	int n;
	const uint8_t *body[64];
	size_t len[64];
	size_t end[64];   /* where each sealed frame ends on the wire */
};

/* Frames described by the input: a length byte, then up to that many bytes. */
static void split_frames(const uint8_t *p, size_t n, struct frames *f)
{
	f->n = 0;
	while (n > 0 && f->n < 64) {
		size_t len = p[0] < n - 1 ? p[0] : n - 1;
		f->body[f->n] = p + 1;
		f->len[f->n++] = len;
		p += 1 + len;
		n -= 1 + len;
	}
}

static void tamper_property(const uint8_t *p, size_t n)
{
	if (n < 3)
		return;
	size_t pos = (size_t)p[0] << 8 | p[1];
	uint8_t flip = p[2];
	struct frames f;
	split_frames(p + 3, n - 3, &f);
	struct net_hs c, s;
	genuine_handshake(&c, &s);
	size_t wire_len = 0;
	for (int i = 0; i < f.n; i++)
		wire_len += NET_FRAME_HEADER + NET_SEAL_BYTES + f.len[i];
	uint8_t *wire = malloc(wire_len ? wire_len : 1), *w = wire;
	for (int i = 0; i < f.n; i++) {
		net_frame_seal(&c.tx, f.body[i], f.len[i], 0, w);
		w += NET_FRAME_HEADER + NET_SEAL_BYTES + f.len[i];
		f.end[i] = (size_t)(w - wire);
	}
	int tampered = -1;   /* the frame holding the flipped byte */
	if (flip && pos < wire_len) {
		wire[pos] ^= flip;
		for (tampered = 0; f.end[tampered] <= pos; tampered++)
			;
	}
	size_t off = 0;
	struct exo_err e;
	for (int i = 0; i < f.n; i++) {
		size_t len, blen;
		if (net_frame_check(wire + off, 1, MAX_FRAME, "fuzz", &len, &e) < 0 ||
		    len > wire_len - off - NET_FRAME_HEADER) {
			if (i != tampered)
				abort();   /* an untouched frame refused: the streams lost step */
			break;
		}
		uint8_t *cbuf = malloc(len ? len : 1);
		memcpy(cbuf, wire + off + NET_FRAME_HEADER, len);
		int rc = net_frame_open(&s.rx, wire + off, cbuf, len, &blen, "fuzz", &e);
		int same = rc == 0 && blen == f.len[i] && memcmp(cbuf, f.body[i], blen) == 0;
		free(cbuf);
		if (i == tampered && rc == 0)
			abort();   /* a forgery got through */
		if (i != tampered && !same)
			abort();
		if (rc != 0)
			break;
		off += NET_FRAME_HEADER + len;
	}
	free(wire);
	net_hs_wipe(&c);
	net_hs_wipe(&s);
}

static void plaintext_prefixes(const uint8_t *p, size_t n)
{
	struct exo_err e;
	for (; n >= NET_FRAME_HEADER; p += NET_FRAME_HEADER, n -= NET_FRAME_HEADER) {
		size_t len;
		if (net_frame_check(p, 0, MAX_FRAME, "fuzz", &len, &e) < 0)
			check_refusal(&e, 3);
		else if (len > MAX_FRAME)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (sodium_init() < 0)
		abort();
	if (size < 1)
		return 0;
	switch (data[0] & 3) {
	case 0: one_side(NET_HS_SERVER, data + 1, size - 1); break;
	case 1: one_side(NET_HS_CLIENT, data + 1, size - 1); break;
	case 2: tamper_property(data + 1, size - 1); break;
	default: plaintext_prefixes(data + 1, size - 1); break;
	}
	return 0;
}

#ifdef FUZZ_GEN_CORPUS
/* The seed corpus: cc -DFUZZ_GEN_CORPUS ... && ./a.out DIR */
static void put(const char *dir, const char *name, const uint8_t *b, size_t n)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(b, 1, n, f) != n || fclose(f) != 0)
		exit(1);
}

/* What one side sends in a good exchange: mode, hello, finish, frames. */
static size_t good_stream(int role, const uint8_t *key, uint8_t *out)
{
	struct net_hs c, s;
	struct exo_err e;
	net_hs_init(&c, NET_HS_CLIENT, key, seed_c, &e);
	net_hs_init(&s, NET_HS_SERVER, fuzz_key, seed_s, &e);
	struct net_hs *me = role == NET_HS_CLIENT ? &c : &s, *them = me == &c ? &s : &c;
	net_hs_read_hello(them, me->hello, &e);
	net_hs_read_hello(me, them->hello, &e);
	size_t n = 0;
	out[n++] = role == NET_HS_CLIENT ? 0 : 1;
	memcpy(out + n, me->hello, NET_HS_HELLO_BYTES);
	n += NET_HS_HELLO_BYTES;
	memcpy(out + n, me->finish, NET_HS_FINISH_BYTES);
	n += NET_HS_FINISH_BYTES;
	const char *msgs[] = { "\x81\xa2op\xa5hello", "", "\x82\xa2op\xa7" "forward\xa6tokens\x93\x01\x02\x03" };
	for (int i = 0; i < 3; i++) {
		net_frame_seal(&me->tx, msgs[i], strlen(msgs[i]), 0, out + n);
		n += NET_FRAME_HEADER + NET_SEAL_BYTES + strlen(msgs[i]);
	}
	net_frame_seal(&me->tx, NULL, 0, 1, out + n);
	return n + NET_FRAME_HEADER + NET_SEAL_BYTES;
}

int main(int argc, char **argv)
{
	if (argc != 2 || sodium_init() < 0)
		return 64;
	uint8_t b[1024];
	size_t n = good_stream(NET_HS_CLIENT, fuzz_key, b);
	put(argv[1], "server-good", b, n);
	if (one_side(NET_HS_SERVER, b + 1, n - 1) != 4)
		return 1;   /* three frames and the end mark */
	b[n - 30] ^= 4;
	put(argv[1], "server-tampered-frame", b, n);
	if (one_side(NET_HS_SERVER, b + 1, n - 1) != 2)
		return 1;
	n = good_stream(NET_HS_SERVER, fuzz_key, b);
	put(argv[1], "client-good", b, n);
	if (one_side(NET_HS_CLIENT, b + 1, n - 1) != 4)
		return 1;
	static const uint8_t other_key[NET_KEY_BYTES] = "another cluster key, 32 bytes..";
	n = good_stream(NET_HS_CLIENT, other_key, b);
	put(argv[1], "server-wrong-key", b, n);
	if (one_side(NET_HS_SERVER, b + 1, n - 1) != -1)
		return 1;
	b[8] = 's';
	put(argv[1], "server-wrong-role", b, 1 + NET_HS_HELLO_BYTES);
	b[8] = 'c';
	memset(b + 9, 0, 32);
	put(argv[1], "server-zero-public-key", b, 1 + NET_HS_HELLO_BYTES + NET_HS_FINISH_BYTES);
	b[7] = 9;
	put(argv[1], "server-version-9", b, 1 + NET_HS_HELLO_BYTES);
	static const uint8_t plain[] = "\0\0\0\x0a\x81\xa2op\xa5hello";
	memcpy(b + 1, plain, sizeof plain - 1);
	put(argv[1], "server-plaintext-peer", b, sizeof plain);
	static const uint8_t prop[] = "\x02\x00\x30\x01\x05hello\x00\x0aforward 12\x03" "end";
	put(argv[1], "tamper-one-bit", prop, sizeof prop - 1);
	static const uint8_t prefixes[] = "\x03\0\0\0\x0a\xff\xff\xff\xff" "exol\x00\x10\x00\x01";
	put(argv[1], "plaintext-prefixes", prefixes, sizeof prefixes - 1);
	return 0;
}
#endif
