/* The handshake of a keyed link, as a state machine over fixed-size
 * messages (man/exo-wire.5, LINKS, has it byte by byte).
 *
 * Each side sends a hello: magic, version, role, an ephemeral X25519 public
 * key and a random nonce.  The X25519 session keys (crypto_kx) give forward
 * secrecy; hashing them with the cluster key K and the transcript (both
 * hellos) binds the stream keys to K and to this exchange.  Each side then
 * proves it holds K with a MAC over the transcript under a key only a holder
 * of K can derive, with a different label per role so a proof cannot be
 * reflected, and sends the header of its secretstream.  A peer's frames are
 * read only after its proof checks out. */
#include "net/link.h"

#include <string.h>

#define LABEL_BYTES 16
static const char label_c2s[LABEL_BYTES] = "exo-link v1 c2s";
static const char label_s2c[LABEL_BYTES] = "exo-link v1 s2c";
static const char label_auth[LABEL_BYTES] = "exo-link v1 auth";
static const char label_proof_c[LABEL_BYTES] = "exo-link v1 clnt";
static const char label_proof_s[LABEL_BYTES] = "exo-link v1 srvr";

/* out = BLAKE2b-256 keyed with key over label || a || b || transcript. */
static void derive(uint8_t out[32], const uint8_t *key, const char label[LABEL_BYTES],
		   const uint8_t *a, const uint8_t *b, const uint8_t transcript[32])
{
	crypto_generichash_state st;
	crypto_generichash_init(&st, key, 32, 32);
	crypto_generichash_update(&st, (const uint8_t *)label, LABEL_BYTES);
	if (a)
		crypto_generichash_update(&st, a, 32);
	if (b)
		crypto_generichash_update(&st, b, 32);
	crypto_generichash_update(&st, transcript, 32);
	crypto_generichash_final(&st, out, 32);
	sodium_memzero(&st, sizeof st);
}

int net_hs_init(struct net_hs *h, int role, const uint8_t key[NET_KEY_BYTES], const uint8_t *seed,
		struct exo_err *e)
{
	memset(h, 0, sizeof *h);
	h->role = role;
	memcpy(h->key, key, NET_KEY_BYTES);
	if (seed)
		crypto_kx_seed_keypair(h->pk, h->sk, seed);
	else
		crypto_kx_keypair(h->pk, h->sk);
	uint8_t *p = h->hello;
	memcpy(p, NET_HS_MAGIC, NET_HS_MAGIC_BYTES);
	p[NET_HS_MAGIC_BYTES] = NET_HS_VERSION;
	p[NET_HS_MAGIC_BYTES + 1] = (uint8_t)role;
	memcpy(p + 8, h->pk, sizeof h->pk);
	if (seed)
		crypto_generichash(p + 8 + 32, 32, seed, 32, h->pk, 32);
	else
		randombytes_buf(p + 8 + 32, 32);
	(void)e;
	return 0;
}

int net_hs_check_start(const struct net_hs *h, const uint8_t *p, size_t n, struct exo_err *e)
{
	(void)h;   /* the magic is the same for both roles; the role is checked in the hello */
	size_t m = n < NET_HS_MAGIC_BYTES ? n : NET_HS_MAGIC_BYTES;
	if (memcmp(p, NET_HS_MAGIC, m) != 0)
		return exo_error(e, EXO_NOPERM,
				 "the peer does not start a keyed link (it has no cluster key and sends "
				 "plaintext frames, or is not an exo stage)");
	return 0;
}

int net_hs_read_hello(struct net_hs *h, const uint8_t msg[NET_HS_HELLO_BYTES], struct exo_err *e)
{
	int peer_role = h->role == NET_HS_CLIENT ? NET_HS_SERVER : NET_HS_CLIENT;
	if (h->have_hello)
		return exo_error(e, EXO_SOFTWARE, "handshake: a second hello");
	if (net_hs_check_start(h, msg, NET_HS_HELLO_BYTES, e) < 0)
		return -1;
	if (msg[NET_HS_MAGIC_BYTES] != NET_HS_VERSION)
		return exo_error(e, EXO_DATAERR, "the peer speaks link version %u, this side %u",
				 msg[NET_HS_MAGIC_BYTES], NET_HS_VERSION);
	if (msg[NET_HS_MAGIC_BYTES + 1] != peer_role)
		return exo_error(e, EXO_NOPERM, "the peer's hello is for the %s role, not the %s",
				 msg[NET_HS_MAGIC_BYTES + 1] == NET_HS_CLIENT ? "client"
				 : msg[NET_HS_MAGIC_BYTES + 1] == NET_HS_SERVER ? "server" : "unknown",
				 peer_role == NET_HS_CLIENT ? "client" : "server");
	memcpy(h->peer_hello, msg, NET_HS_HELLO_BYTES);
	const uint8_t *peer_pk = msg + 8;
	uint8_t kx_c2s[crypto_kx_SESSIONKEYBYTES], kx_s2c[crypto_kx_SESSIONKEYBYTES];
	int bad = h->role == NET_HS_CLIENT
		? crypto_kx_client_session_keys(kx_s2c, kx_c2s, h->pk, h->sk, peer_pk)
		: crypto_kx_server_session_keys(kx_c2s, kx_s2c, h->pk, h->sk, peer_pk);
	sodium_memzero(h->sk, sizeof h->sk);
	if (bad)
		return exo_error(e, EXO_NOPERM, "the peer's key-exchange public key is invalid");
	const uint8_t *hc = h->role == NET_HS_CLIENT ? h->hello : msg;
	const uint8_t *hs = h->role == NET_HS_CLIENT ? msg : h->hello;
	crypto_generichash_state st;
	crypto_generichash_init(&st, NULL, 0, 32);
	crypto_generichash_update(&st, hc, NET_HS_HELLO_BYTES);
	crypto_generichash_update(&st, hs, NET_HS_HELLO_BYTES);
	crypto_generichash_final(&st, h->transcript, 32);
	derive(h->c2s, h->key, label_c2s, kx_c2s, NULL, h->transcript);
	derive(h->s2c, h->key, label_s2c, kx_s2c, NULL, h->transcript);
	derive(h->auth, h->key, label_auth, kx_c2s, kx_s2c, h->transcript);
	sodium_memzero(kx_c2s, sizeof kx_c2s);
	sodium_memzero(kx_s2c, sizeof kx_s2c);
	derive(h->finish, h->auth, h->role == NET_HS_CLIENT ? label_proof_c : label_proof_s, NULL,
	       NULL, h->transcript);
	crypto_secretstream_xchacha20poly1305_init_push(&h->tx, h->finish + 32,
							h->role == NET_HS_CLIENT ? h->c2s : h->s2c);
	h->have_hello = 1;
	return 0;
}

int net_hs_read_finish(struct net_hs *h, const uint8_t msg[NET_HS_FINISH_BYTES], struct exo_err *e)
{
	uint8_t want[32];
	if (!h->have_hello)
		return exo_error(e, EXO_SOFTWARE, "handshake: finish read before the hello");
	derive(want, h->auth, h->role == NET_HS_CLIENT ? label_proof_s : label_proof_c, NULL, NULL,
	       h->transcript);
	int bad = sodium_memcmp(want, msg, sizeof want);
	sodium_memzero(want, sizeof want);
	if (bad)
		return exo_error(e, EXO_NOPERM, "the peer holds a different cluster key");
	crypto_secretstream_xchacha20poly1305_init_pull(&h->rx, msg + 32,
							h->role == NET_HS_CLIENT ? h->s2c : h->c2s);
	return 0;
}

void net_hs_wipe(struct net_hs *h)
{
	sodium_memzero(h, sizeof *h);
}
