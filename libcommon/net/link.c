/* Links: a connected socket, its peer's name, its limits, and with a key
 * the two secretstream states the handshake set up. */
#include "net/link.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static struct net_link *link_new(int fd, const struct net_opts *o)
{
	struct net_link *l = xcalloc(1, sizeof *l);
	l->fd = fd;
	l->io_timeout_ms = o && o->io_timeout_ms > 0 ? o->io_timeout_ms : 30000;
	l->max_frame = o && o->max_frame ? o->max_frame : NET_DEFAULT_MAX_FRAME;
	strcpy(l->peer, "?");
	return l;
}

static int connect_timeout(const struct net_opts *o)
{
	return o && o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 5000;
}

/* Both sides send their hello at once, then their finish: one round trip. */
static int handshake(struct net_link *l, int role, const uint8_t *key, int ms, struct exo_err *e)
{
	if (sodium_init() < 0)
		return exo_error(e, EXO_SOFTWARE, "libsodium: cannot initialise");
	struct net_hs hs, *h = &hs;
	struct net_wait w = { net_deadline(ms), ms, "the handshake" };
	uint8_t in[NET_HS_HELLO_BYTES];
	int rc = -1;
	if (net_hs_init(h, role, key, NULL, e) < 0 ||
	    net_write_full(l, h->hello, sizeof h->hello, NULL, 0, &w, e) < 0)
		goto out;
	/* The first 4 bytes decide whether the peer speaks this at all: a
	 * plaintext peer's first frame may be no longer than its prefix. */
	if (net_read_full(l, in, NET_FRAME_HEADER, &w, e) < 0 ||
	    net_hs_check_start(h, in, NET_FRAME_HEADER, e) < 0 ||
	    net_read_full(l, in + NET_FRAME_HEADER, sizeof in - NET_FRAME_HEADER, &w, e) < 0 ||
	    net_hs_read_hello(h, in, e) < 0 ||
	    net_write_full(l, h->finish, sizeof h->finish, NULL, 0, &w, e) < 0 ||
	    net_read_full(l, in, NET_HS_FINISH_BYTES, &w, e) < 0 ||
	    net_hs_read_finish(h, in, e) < 0)
		goto out;
	l->tx = h->tx;
	l->rx = h->rx;
	l->keyed = 1;
	rc = 0;
out:
	if (rc < 0 && e) {
		if (e->code == EXO_NOINPUT || e->code == EXO_IOERR)
			exo_error(e, EXO_UNAVAILABLE,
				  "%s: handshake failed: the peer closed the link (it refused our key, "
				  "or runs without a cluster key)", l->peer);
		else if (strncmp(e->msg, l->peer, strlen(l->peer)) != 0)
			exo_error_prefix(e, "%s: handshake failed", l->peer);
	}
	sodium_memzero(in, sizeof in);
	net_hs_wipe(h);
	return rc;
}

static void name_peer(struct net_link *l)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	if (getpeername(l->fd, (struct sockaddr *)&ss, &len) == 0)
		net_sock_name((struct sockaddr *)&ss, l->peer, sizeof l->peer);
}

int net_connect(const char *addr, const struct net_opts *o, struct net_link **out,
		struct exo_err *e)
{
	int fd;
	*out = NULL;
	if (net_sock_connect(addr, connect_timeout(o), &fd, e) < 0)
		return -1;
	struct net_link *l = link_new(fd, o);
	snprintf(l->peer, sizeof l->peer, "%s", addr);
	if (o && o->key && handshake(l, NET_HS_CLIENT, o->key, connect_timeout(o), e) < 0) {
		net_close(l);
		return -1;
	}
	*out = l;
	return 0;
}

int net_accept(int fd, const struct net_opts *o, struct net_link **out, struct exo_err *e)
{
	*out = NULL;
	struct net_link *l = link_new(fd, o);
	name_peer(l);
	if (net_sock_setup(fd, e) < 0 ||
	    (o && o->key && handshake(l, NET_HS_SERVER, o->key, connect_timeout(o), e) < 0)) {
		if (e && strncmp(e->msg, l->peer, strlen(l->peer)) != 0)
			exo_error_prefix(e, "%s", l->peer);
		net_close(l);
		return -1;
	}
	*out = l;
	return 0;
}

void net_set_timeout(struct net_link *l, int io_timeout_ms)
{
	l->io_timeout_ms = io_timeout_ms > 0 ? io_timeout_ms : 30000;
}

int net_fd(const struct net_link *l)
{
	return l->fd;
}

const char *net_peer(const struct net_link *l)
{
	return l->peer;
}

void net_counters(const struct net_link *l, uint64_t *sent, uint64_t *received)
{
	if (sent)
		*sent = l->sent;
	if (received)
		*received = l->received;
}

void net_close(struct net_link *l)
{
	if (!l)
		return;
	net_send_final(l);
	if (l->fd >= 0)
		close(l->fd);
	sodium_memzero(&l->tx, sizeof l->tx);
	sodium_memzero(&l->rx, sizeof l->rx);
	free(l);
}
