/* Socket I/O under deadlines: every wait is a poll bounded by the time the
 * whole exchange is allowed, so a peer that trickles bytes (or none) gets a
 * timeout, never a hang.  Sends use MSG_NOSIGNAL: a peer that vanished is an
 * error to report, not a SIGPIPE. */
#include "net/link.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

/* Poll fd for events until the deadline: 1 ready, 0 timed out, -1 error. */
static int wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		int left = -1;
		if (deadline >= 0) {
			int64_t ms = deadline - net_now_ms();
			if (ms <= 0)
				return 0;
			left = ms > 1 << 30 ? 1 << 30 : (int)ms;
		}
		struct pollfd p = { .fd = fd, .events = events };
		int n = poll(&p, 1, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n != 0)
			return n < 0 ? -1 : 1;
	}
}

static int timed_out(struct net_link *l, const struct net_wait *w, const char *dir, size_t got,
		     size_t n, struct exo_err *e)
{
	return exo_error(e, EXO_TEMPFAIL, "%s: timed out %s %s: %zu of %zu bytes within %d ms",
			 l->peer, dir, w->what, got, n, w->ms);
}

int net_wait_readable(struct net_link *l, struct exo_err *e)
{
	if (wait_fd(l->fd, POLLIN, -1) < 0)
		return exo_error(e, EXO_IOERR, "%s: poll: %s", l->peer, strerror(errno));
	return 0;
}

int net_read_full(struct net_link *l, void *buf, size_t n, const struct net_wait *w,
		  struct exo_err *e)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = recv(l->fd, (char *)buf + got, n - got, 0);
		if (r > 0) {
			got += (size_t)r;
			l->received += (uint64_t)r;
			continue;
		}
		if (r == 0 && got == 0)
			return exo_error(e, EXO_NOINPUT, "%s: closed the link", l->peer);
		if (r == 0)
			return exo_error(e, EXO_IOERR, "%s: closed the link in the middle of %s (%zu of %zu bytes)",
					 l->peer, w->what, got, n);
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return exo_error(e, EXO_IOERR, "%s: reading %s: %s", l->peer, w->what, strerror(errno));
		int rc = wait_fd(l->fd, POLLIN, w->deadline);
		if (rc == 0)
			return timed_out(l, w, "reading", got, n, e);
		if (rc < 0)
			return exo_error(e, EXO_IOERR, "%s: poll: %s", l->peer, strerror(errno));
	}
	return 0;
}

/* Two pieces in one sendmsg, so a small frame leaves in one segment. */
int net_write_full(struct net_link *l, const void *a, size_t alen, const void *b, size_t blen,
		   const struct net_wait *w, struct exo_err *e)
{
	struct iovec iov[2] = { { (void *)a, alen }, { (void *)b, blen } };
	size_t total = alen + blen, done = 0;
	while (done < total) {
		struct iovec cur[2];
		int cnt = 0;
		size_t skip = done;
		for (int i = 0; i < 2; i++) {
			if (skip >= iov[i].iov_len) {
				skip -= iov[i].iov_len;
				continue;
			}
			cur[cnt].iov_base = (char *)iov[i].iov_base + skip;
			cur[cnt].iov_len = iov[i].iov_len - skip;
			cnt++;
			skip = 0;
		}
		struct msghdr mh = { .msg_iov = cur, .msg_iovlen = (size_t)cnt };
		ssize_t r = sendmsg(l->fd, &mh, MSG_NOSIGNAL);
		if (r >= 0) {
			done += (size_t)r;
			l->sent += (uint64_t)r;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return exo_error(e, EXO_IOERR, "%s: sending %s: %s", l->peer, w->what, strerror(errno));
		int rc = wait_fd(l->fd, POLLOUT, w->deadline);
		if (rc == 0)
			return timed_out(l, w, "sending", done, total, e);
		if (rc < 0)
			return exo_error(e, EXO_IOERR, "%s: poll: %s", l->peer, strerror(errno));
	}
	return 0;
}
