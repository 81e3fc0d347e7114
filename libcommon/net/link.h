/* Internals of libcommon/net shared between its files (not for callers):
 * the link, deadline-bound socket I/O, and the pure frame and handshake
 * steps that work on buffers (so the fuzzer can drive them without
 * sockets). */
#ifndef EXO_NET_LINK_H
#define EXO_NET_LINK_H
#include <stddef.h>
#include <stdint.h>
#include <sodium.h>
#include <sys/socket.h>
#include "net/net.h"

#define NET_PEER_MAX 300
#define NET_FRAME_HEADER 4
#define NET_SEAL_BYTES crypto_secretstream_xchacha20poly1305_ABYTES   /* 17 */

struct net_link {
	int fd;
	char peer[NET_PEER_MAX];
	int io_timeout_ms;
	size_t max_frame;
	int keyed;
	/* A frame went out or came in part way, or failed to decrypt: that
	 * direction is out of step.  One flag per direction, each touched only
	 * by its own side, so one thread may send while another receives. */
	int tx_broken, rx_broken;
	crypto_secretstream_xchacha20poly1305_state tx, rx;
	uint64_t sent, received;
};

/* Monotonic milliseconds, and a deadline ms from now (ms < 0: none). */
int64_t net_now_ms(void);
int64_t net_deadline(int ms);

/* sock.c: socket setup shared by connect and accept. */
int net_sock_setup(int fd, struct exo_err *e);
void net_sock_name(const struct sockaddr *sa, char *buf, size_t size);

int net_sock_connect(const char *addr, int timeout_ms, int *fd, struct exo_err *e);

/* io.c: move exactly n bytes before the deadline (-1: none); what names the
 * exchange and ms the time allowed, for the messages.  Errors name l->peer;
 * what is moved is counted.  A read that sees the peer close before its
 * first byte fails with EXO_NOINPUT (a clean close), later with EXO_IOERR. */
struct net_wait {
	int64_t deadline;
	int ms;
	const char *what;
};
int net_read_full(struct net_link *l, void *buf, size_t n, const struct net_wait *w,
		  struct exo_err *e);
int net_write_full(struct net_link *l, const void *a, size_t alen, const void *b, size_t blen,
		   const struct net_wait *w, struct exo_err *e);
/* Wait with no deadline until the link has something to read (or is closed). */
int net_wait_readable(struct net_link *l, struct exo_err *e);

/* frame.c: the pure steps of framing. */
/* What the 4-byte prefix announces, checked against max_frame: the number of
 * bytes that follow on the wire. */
int net_frame_check(const uint8_t hdr[NET_FRAME_HEADER], int keyed, size_t max_frame,
		    const char *peer, size_t *wire_len, struct exo_err *e);
/* Seal body into out (NET_FRAME_HEADER + NET_SEAL_BYTES + len bytes): the
 * prefix, then the secretstream message authenticating the prefix. */
void net_frame_seal(crypto_secretstream_xchacha20poly1305_state *tx, const void *body, size_t len,
		    int final, uint8_t *out);
/* Open a sealed frame in place: c (clen bytes after the prefix hdr) becomes
 * the body at c, *len bytes.  Returns 0, 1 for the end-of-stream mark, or
 * -1 (EXO_DATAERR). */
int net_frame_open(crypto_secretstream_xchacha20poly1305_state *rx,
		   const uint8_t hdr[NET_FRAME_HEADER], uint8_t *c, size_t clen, size_t *len,
		   const char *peer, struct exo_err *e);
/* On a keyed link, the end-of-stream mark, sent without waiting. */
void net_send_final(struct net_link *l);

/* handshake.c: the key exchange as a state machine over fixed-size
 * messages.  Each side sends its hello, reads the peer's, sends its finish
 * (proof + stream header), reads the peer's finish. */
#define NET_HS_MAGIC "exolnk"
#define NET_HS_MAGIC_BYTES 6
#define NET_HS_VERSION 1
#define NET_HS_HELLO_BYTES (NET_HS_MAGIC_BYTES + 2 + crypto_kx_PUBLICKEYBYTES + 32)   /* 72 */
#define NET_HS_FINISH_BYTES (32 + crypto_secretstream_xchacha20poly1305_HEADERBYTES) /* 56 */

enum net_hs_role { NET_HS_CLIENT = 'c', NET_HS_SERVER = 's' };

struct net_hs {
	int role;
	int have_hello;                           /* the peer's hello was read */
	uint8_t key[NET_KEY_BYTES];
	uint8_t pk[crypto_kx_PUBLICKEYBYTES], sk[crypto_kx_SECRETKEYBYTES];
	uint8_t hello[NET_HS_HELLO_BYTES];       /* ours */
	uint8_t peer_hello[NET_HS_HELLO_BYTES];
	uint8_t transcript[32];                  /* hash of both hellos, client first */
	uint8_t c2s[32], s2c[32], auth[32];      /* stream keys, proof key */
	uint8_t finish[NET_HS_FINISH_BYTES];     /* ours */
	crypto_secretstream_xchacha20poly1305_state tx, rx;
};

/* Fresh ephemeral keys (seed: NULL for random, or 32 bytes for tests and
 * the fuzzer) and our hello in h->hello. */
int net_hs_init(struct net_hs *h, int role, const uint8_t key[NET_KEY_BYTES], const uint8_t *seed,
		struct exo_err *e);
/* Whether the first n bytes from the peer can start a hello of the other
 * role (checked on the first bytes, so a plaintext peer is told at once). */
int net_hs_check_start(const struct net_hs *h, const uint8_t *p, size_t n, struct exo_err *e);
/* The peer's hello: derive the keys and fill h->finish. */
int net_hs_read_hello(struct net_hs *h, const uint8_t msg[NET_HS_HELLO_BYTES], struct exo_err *e);
/* The peer's finish: check its proof (EXO_NOPERM on a different key) and
 * start the receiving stream. */
int net_hs_read_finish(struct net_hs *h, const uint8_t msg[NET_HS_FINISH_BYTES], struct exo_err *e);
void net_hs_wipe(struct net_hs *h);
#endif
