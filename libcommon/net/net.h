/* Links between stages: TCP connections carrying frames (a 4-byte
 * big-endian length, then the body: one msgpack map, see man/exo-wire.5),
 * optionally authenticated and encrypted with the cluster key.
 *
 * With a key, the two ends first run a handshake bound to the key (libsodium
 * key exchange; each side proves it holds the key, so both are
 * authenticated before any model data flows), then every frame travels as a
 * secretstream message: a tampered, replayed, reordered or truncated frame
 * is refused.  Without a key, frames travel in the clear.
 *
 * Every wait has a deadline: a peer that sends too slowly, or nothing, gets
 * a timeout error, never a hang.  A frame announcing more than max_frame
 * bytes is refused before anything is allocated.  A link is used by one
 * thread at a time, except that one thread may send while another
 * receives. */
#ifndef EXO_NET_NET_H
#define EXO_NET_NET_H
#include <stddef.h>
#include <stdint.h>
#include "util/err.h"

#define NET_KEY_BYTES 32
#define NET_DEFAULT_MAX_FRAME (256u << 20)

struct net_opts {
	const uint8_t *key;        /* NET_KEY_BYTES, or NULL: no encryption */
	int connect_timeout_ms;    /* 0: 5000 */
	int io_timeout_ms;         /* a whole frame must arrive within this; 0: 30000 */
	size_t max_frame;          /* 0: NET_DEFAULT_MAX_FRAME */
};

struct net_link;

/* "HOST:PORT", "[V6]:PORT" or ":PORT" (all addresses).  Returns a listening
 * socket (SO_REUSEADDR, close-on-exec). */
int net_listen(const char *addr, int *fd, struct exo_err *e);
/* The local "ADDR:PORT" and port of a socket (after listening on port 0);
 * -1 when it has none. */
int net_local_addr(int fd, char *buf, size_t size);
int net_local_port(int fd);
/* True when addr binds only loopback (127.0.0.0/8, ::1, localhost). */
int net_addr_is_loopback(const char *addr);
/* Connect and, with a key, run the client side of the handshake.  Errors
 * name the address (EXO_UNAVAILABLE when it cannot be reached, does not
 * answer within connect_timeout_ms or hangs up during the handshake,
 * EXO_NOPERM when the handshake proves a different key or a peer without
 * one, EXO_TEMPFAIL when the handshake does not finish within
 * connect_timeout_ms, EXO_USAGE for a malformed address). */
int net_connect(const char *addr, const struct net_opts *o, struct net_link **l,
		struct exo_err *e);
/* Wrap an accepted socket (takes ownership of fd) and run the server side
 * of the handshake, within connect_timeout_ms. */
int net_accept(int fd, const struct net_opts *o, struct net_link **l, struct exo_err *e);

/* One frame.  net_recv: *body is malloc'd; timeout_ms < 0 uses io_timeout_ms
 * for the whole frame, 0 waits forever for its first byte (an idle link) and
 * then io_timeout_ms for the rest.  Returns 0, or -1 with e->code
 * EXO_TEMPFAIL (timeout), EXO_IOERR (reset, closed mid-frame), EXO_DATAERR
 * (oversized, undecryptable, tampered), EXO_NOINPUT (closed cleanly between
 * frames), EXO_NOPERM (a keyed peer on a plaintext link).  After a timeout
 * with nothing read the link is still usable; after any other error, or a
 * frame read in part, it refuses further frames: close it. */
int net_send(struct net_link *l, const void *body, size_t len, struct exo_err *e);
int net_recv(struct net_link *l, char **body, size_t *len, int timeout_ms, struct exo_err *e);
/* The io_timeout_ms of one link from now on (0: 30000). */
void net_set_timeout(struct net_link *l, int io_timeout_ms);
/* The link's socket: non-blocking; poll it, but read and write only
 * through net_recv and net_send. */
int net_fd(const struct net_link *l);
const char *net_peer(const struct net_link *l);   /* "ADDR:PORT" of the other end */
/* Bytes sent and received on the wire, framing, handshake and encryption
 * included. */
void net_counters(const struct net_link *l, uint64_t *sent, uint64_t *received);
/* With a key, first sends the end-of-stream mark if it can without waiting
 * (the peer's net_recv then fails with EXO_NOINPUT as for a plain close).
 * Accepts NULL. */
void net_close(struct net_link *l);

/* The cluster key file: exactly NET_KEY_BYTES bytes, mode 0600 or stricter
 * (a file group or others can read is refused, naming the file and mode). */
int net_key_load(const char *path, uint8_t key[NET_KEY_BYTES], struct exo_err *e);
/* A new random key, written atomically with mode 0600; refuses to overwrite. */
int net_key_generate(const char *path, struct exo_err *e);
#endif
