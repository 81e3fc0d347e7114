/* Addresses and sockets: "HOST:PORT" parsing, listening, connecting within
 * a deadline, and the options every link socket gets. */
#include "net/link.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define HOST_MAX 256

int64_t net_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t net_deadline(int ms)
{
	return ms < 0 ? -1 : net_now_ms() + ms;
}

/* Split "HOST:PORT", "[V6]:PORT" or ":PORT"; host is "" for all addresses. */
static int split_addr(const char *addr, char host[HOST_MAX], char port[16], struct exo_err *e)
{
	const char *colon;
	size_t hlen;
	if (addr[0] == '[') {
		const char *end = strchr(addr, ']');
		if (!end || end[1] != ':')
			return exo_error(e, EXO_USAGE, "%s: bad address: want [IPV6]:PORT", addr);
		hlen = (size_t)(end - addr - 1);
		memcpy(host, addr + 1, hlen < HOST_MAX ? hlen : 0);
		colon = end + 1;
	} else {
		colon = strrchr(addr, ':');
		if (!colon)
			return exo_error(e, EXO_USAGE, "%s: bad address: want HOST:PORT", addr);
		hlen = (size_t)(colon - addr);
		if (hlen < HOST_MAX)
			memcpy(host, addr, hlen);
		if (memchr(addr, ':', hlen))
			return exo_error(e, EXO_USAGE, "%s: bad address: write IPv6 as [ADDR]:PORT", addr);
	}
	if (hlen >= HOST_MAX)
		return exo_error(e, EXO_USAGE, "%s: bad address: host name too long", addr);
	host[hlen] = '\0';
	const char *p = colon + 1;
	char *end;
	long n = strtol(p, &end, 10);
	if (!*p || *end || n < 0 || n > 65535)
		return exo_error(e, EXO_USAGE, "%s: bad address: port '%s' is not 0..65535", addr, p);
	snprintf(port, 16, "%ld", n);
	return 0;
}

static int resolve(const char *addr, int passive, struct addrinfo **res, struct exo_err *e)
{
	char host[HOST_MAX], port[16];
	if (split_addr(addr, host, port, e) < 0)
		return -1;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = passive ? AI_PASSIVE : 0 };
	int rc = getaddrinfo(host[0] ? host : NULL, port, &hints, res);
	if (rc == EAI_SYSTEM)
		return exo_error(e, EXO_UNAVAILABLE, "%s: resolve: %s", addr, strerror(errno));
	if (rc)
		return exo_error(e, EXO_UNAVAILABLE, "%s: resolve: %s", addr, gai_strerror(rc));
	return 0;
}

void net_sock_name(const struct sockaddr *sa, char *buf, size_t size)
{
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof host);
		port = ntohs(s4->sin_port);
		snprintf(buf, size, "%s:%u", host, port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof host);
		port = ntohs(s6->sin6_port);
		snprintf(buf, size, "[%s]:%u", host, port);
	} else {
		snprintf(buf, size, "?");
	}
}

int net_local_addr(int fd, char *buf, size_t size)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return -1;
	net_sock_name((struct sockaddr *)&ss, buf, size);
	return 0;
}

int net_local_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return -1;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return -1;
}

/* Non-blocking (every wait is a poll with a deadline), close-on-exec, no
 * Nagle delay for small frames, and keepalive probes so an idle link to a
 * vanished host is noticed in about 40 s rather than hours. */
int net_sock_setup(int fd, struct exo_err *e)
{
	int one = 1, idle = 20, intvl = 5, cnt = 4;
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		return exo_error(e, EXO_IOERR, "socket: fcntl: %s", strerror(errno));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
	return 0;
}

static int listen_one(const struct addrinfo *ai)
{
	int one = 1, zero = 0;
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	/* ":PORT" on "::" should take IPv4 too. */
	if (ai->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, SOMAXCONN) < 0) {
		int saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

int net_listen(const char *addr, int *fd, struct exo_err *e)
{
	struct addrinfo *res;
	if (resolve(addr, 1, &res, e) < 0)
		return -1;
	/* With no host, prefer the dual-stack "::"; with a name that has both
	 * (localhost), IPv4, which plans and peers name most; then whatever binds. */
	int prefer = addr[0] == ':' ? AF_INET6 : AF_INET;
	int s = -1, err = 0;
	for (int pass = 0; pass < 2 && s < 0; pass++)
		for (struct addrinfo *ai = res; ai && s < 0; ai = ai->ai_next) {
			if ((pass == 0) != (ai->ai_family == prefer))
				continue;
			s = listen_one(ai);
			if (s < 0 && !err)
				err = errno;
		}
	freeaddrinfo(res);
	if (s < 0)
		return exo_error(e, err == EACCES ? EXO_NOPERM
				 : err == EADDRINUSE || err == EADDRNOTAVAIL ? EXO_UNAVAILABLE : EXO_IOERR,
				 "%s: listen: %s", addr, strerror(err));
	*fd = s;
	return 0;
}

static int is_loopback_sa(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a))
			return a->s6_addr[12] == 127;
		return IN6_IS_ADDR_LOOPBACK(a);
	}
	return 0;
}

int net_addr_is_loopback(const char *addr)
{
	char host[HOST_MAX], port[16];
	if (split_addr(addr, host, port, NULL) < 0 || !host[0])
		return 0;
	struct addrinfo *res;
	if (resolve(addr, 1, &res, NULL) < 0)
		return 0;
	int all = 1;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next)
		all &= is_loopback_sa(ai->ai_addr);
	freeaddrinfo(res);
	return all;
}

/* Wait for a non-blocking connect; 0, or -1 with errno (ETIMEDOUT). */
static int connect_wait(int fd, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - net_now_ms();
		if (left <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		int n = poll(&p, 1, (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			continue;
		int err = 0;
		socklen_t len = sizeof err;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			return -1;
		if (err) {
			errno = err;
			return -1;
		}
		return 0;
	}
}

static int connect_one(const struct addrinfo *ai, int64_t deadline)
{
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
	if (fd < 0)
		return -1;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 &&
	    (errno != EINPROGRESS || connect_wait(fd, deadline) < 0)) {
		int saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

/* A connected socket to addr, set up as net_sock_setup says. */
int net_sock_connect(const char *addr, int timeout_ms, int *fd, struct exo_err *e)
{
	struct addrinfo *res;
	if (resolve(addr, 0, &res, e) < 0)
		return -1;
	int64_t deadline = net_deadline(timeout_ms);
	int s = -1, err = 0;
	for (struct addrinfo *ai = res; ai && s < 0; ai = ai->ai_next) {
		s = connect_one(ai, deadline);
		if (s < 0)
			err = errno;
		if (err == ETIMEDOUT)
			break;
	}
	freeaddrinfo(res);
	if (s < 0 && err == ETIMEDOUT)
		return exo_error(e, EXO_UNAVAILABLE, "%s: connect: no answer within %d ms", addr,
				 timeout_ms);
	if (s < 0)
		return exo_error(e, EXO_UNAVAILABLE, "%s: connect: %s", addr, strerror(err));
	if (net_sock_setup(s, e) < 0) {
		close(s);
		return -1;
	}
	*fd = s;
	return 0;
}
