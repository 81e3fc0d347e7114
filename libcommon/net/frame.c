/* Frames: a 4-byte big-endian length, then the body.  On a keyed link the
 * length counts the sealed body (a secretstream message, 17 bytes more than
 * the body) and is the message's additional data, so it is authenticated
 * too.  The length is checked against max_frame before anything is
 * allocated, and the whole frame must arrive within the deadline. */
#include "net/link.h"

#include <stdlib.h>
#include <string.h>

typedef crypto_secretstream_xchacha20poly1305_state sstate;

static uint32_t get_be32(const uint8_t p[4])
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(uint8_t p[4], uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

int net_frame_check(const uint8_t hdr[NET_FRAME_HEADER], int keyed, size_t max_frame,
		    const char *peer, size_t *wire_len, struct exo_err *e)
{
	uint32_t n = get_be32(hdr);
	/* A keyed peer's hello read as a length: say what is wrong, not "4 GiB frame". */
	if (!keyed && memcmp(hdr, NET_HS_MAGIC, NET_FRAME_HEADER) == 0)
		return exo_error(e, EXO_NOPERM,
				 "%s: the peer starts an encrypted link (it holds a cluster key, this side has none)",
				 peer);
	if (keyed && n < NET_SEAL_BYTES)
		return exo_error(e, EXO_DATAERR, "%s: sealed frame of %u bytes, shorter than its %d-byte seal",
				 peer, n, (int)NET_SEAL_BYTES);
	size_t body = keyed ? n - NET_SEAL_BYTES : n;
	if (body > max_frame)
		return exo_error(e, EXO_DATAERR, "%s: frame of %zu bytes, more than the maximum of %zu",
				 peer, body, max_frame);
	*wire_len = n;
	return 0;
}

void net_frame_seal(sstate *tx, const void *body, size_t len, int final, uint8_t *out)
{
	put_be32(out, (uint32_t)(len + NET_SEAL_BYTES));
	crypto_secretstream_xchacha20poly1305_push(
		tx, out + NET_FRAME_HEADER, NULL, body, len, out, NET_FRAME_HEADER,
		final ? crypto_secretstream_xchacha20poly1305_TAG_FINAL : 0);
}

int net_frame_open(sstate *rx, const uint8_t hdr[NET_FRAME_HEADER], uint8_t *c, size_t clen,
		   size_t *len, const char *peer, struct exo_err *e)
{
	unsigned long long mlen = 0;
	unsigned char tag = 0;
	/* In place: the body lands one byte on (after the sealed tag byte);
	 * libsodium authenticates the whole message before decrypting it. */
	if (clen < NET_SEAL_BYTES ||
	    crypto_secretstream_xchacha20poly1305_pull(rx, c + 1, &mlen, &tag, c, clen, hdr,
						       NET_FRAME_HEADER) != 0)
		return exo_error(e, EXO_DATAERR,
				 "%s: frame fails authentication (tampered, replayed, reordered or cut)", peer);
	memmove(c, c + 1, (size_t)mlen);
	*len = (size_t)mlen;
	if (tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL)
		return 1;
	if (tag != 0)
		return exo_error(e, EXO_DATAERR, "%s: frame carries unknown stream tag %u", peer, tag);
	return 0;
}

static int send_sealed(struct net_link *l, const void *body, size_t len, int final,
		       const struct net_wait *w, struct exo_err *e)
{
	size_t n = NET_FRAME_HEADER + NET_SEAL_BYTES + len;
	uint8_t *out = malloc(n);
	if (!out)
		return exo_error(e, EXO_SOFTWARE, "%s: out of memory sealing a frame of %zu bytes",
				 l->peer, len);
	net_frame_seal(&l->tx, body, len, final, out);
	int rc = net_write_full(l, out, n, NULL, 0, w, e);
	free(out);
	return rc;
}

int net_send(struct net_link *l, const void *body, size_t len, struct exo_err *e)
{
	if (l->tx_broken)
		return exo_error(e, EXO_IOERR, "%s: link unusable after an earlier error", l->peer);
	if (len > l->max_frame || len > UINT32_MAX - NET_SEAL_BYTES)
		return exo_error(e, EXO_DATAERR, "%s: frame of %zu bytes, more than the maximum of %zu",
				 l->peer, len, l->max_frame);
	struct net_wait w = { net_deadline(l->io_timeout_ms), l->io_timeout_ms, "a frame" };
	uint64_t before = l->sent;
	int rc;
	if (l->keyed) {
		rc = send_sealed(l, body, len, 0, &w, e);
	} else {
		uint8_t hdr[NET_FRAME_HEADER];
		put_be32(hdr, (uint32_t)len);
		rc = net_write_full(l, hdr, sizeof hdr, body, len, &w, e);
	}
	if (rc < 0 && l->sent != before)
		l->tx_broken = 1;   /* the peer holds part of a frame */
	return rc;
}

/* Best effort, never waiting: tells a keyed peer the link ends here. */
void net_send_final(struct net_link *l)
{
	if (!l->keyed || l->tx_broken)
		return;
	struct net_wait w = { net_deadline(0), 0, "the end mark" };
	send_sealed(l, NULL, 0, 1, &w, NULL);
}

static int recv_frame(struct net_link *l, char **body, size_t *len, const struct net_wait *w,
		      struct exo_err *e)
{
	uint8_t hdr[NET_FRAME_HEADER];
	size_t n;
	if (net_read_full(l, hdr, sizeof hdr, w, e) < 0)
		return -1;
	if (net_frame_check(hdr, l->keyed, l->max_frame, l->peer, &n, e) < 0)
		return -1;
	uint8_t *buf = malloc(n ? n : 1);
	if (!buf)
		return exo_error(e, EXO_SOFTWARE, "%s: out of memory for a frame of %zu bytes", l->peer, n);
	if (net_read_full(l, buf, n, w, e) < 0) {
		if (e && e->code == EXO_NOINPUT)
			exo_error(e, EXO_IOERR, "%s: closed the link in the middle of a frame (0 of %zu bytes)",
				  l->peer, n);
		free(buf);
		return -1;
	}
	if (l->keyed) {
		int rc = net_frame_open(&l->rx, hdr, buf, n, &n, l->peer, e);
		if (rc != 0) {
			free(buf);
			return rc < 0 ? -1 : exo_error(e, EXO_NOINPUT, "%s: closed the link", l->peer);
		}
	}
	*body = (char *)buf;
	*len = n;
	return 0;
}

int net_recv(struct net_link *l, char **body, size_t *len, int timeout_ms, struct exo_err *e)
{
	*body = NULL;
	*len = 0;
	if (l->rx_broken)
		return exo_error(e, EXO_IOERR, "%s: link unusable after an earlier error", l->peer);
	if (timeout_ms == 0 && net_wait_readable(l, e) < 0)
		return -1;
	int ms = timeout_ms > 0 ? timeout_ms : l->io_timeout_ms;
	struct net_wait w = { net_deadline(ms), ms, "a frame" };
	uint64_t before = l->received;
	if (recv_frame(l, body, len, &w, e) == 0)
		return 0;
	/* Part of a frame was consumed, or the streams are out of step:
	 * whatever follows cannot be read as frames. */
	if (l->received != before)
		l->rx_broken = 1;
	return -1;
}
