/* Network suite: round trips to running stages (--nodes HOST:PORT,...).
 *
 * Each node is checked on its own: an address that does not parse, a host
 * that does not resolve or a port that refuses is a warning naming the
 * node, and the other nodes and suites still report.  The measurement
 * itself (round-trip latency and bandwidth through the stage protocol's
 * ping / echo frames over an authenticated link) needs the link and frame
 * code of exo-shard-serve; until this build has it, a node that answers
 * is reported as reachable but not measured. */
#include "bench/internal.h"
#include "config/config.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CONNECT_TIMEOUT_MS 3000

/* TCP connect with a deadline; 0, or -1 with why filled. */
static int reach(const char *host, int port, char *why, size_t n)
{
	char service[16];
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res;
	snprintf(service, sizeof service, "%d", port);
	int rc = getaddrinfo(host, service, &hints, &res);
	if (rc != 0) {
		snprintf(why, n, "cannot resolve %s: %s", host, gai_strerror(rc));
		return -1;
	}
	int ok = -1;
	snprintf(why, n, "no address");
	for (struct addrinfo *a = res; a && ok < 0; a = a->ai_next) {
		int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			continue;
		if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
			ok = 0;
		} else if (errno == EINPROGRESS) {
			struct pollfd p = { .fd = fd, .events = POLLOUT };
			int err = 0;
			socklen_t len = sizeof err;
			int r = poll(&p, 1, CONNECT_TIMEOUT_MS);
			if (r == 0)
				snprintf(why, n, "connect: timed out after %d ms", CONNECT_TIMEOUT_MS);
			else if (r > 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0)
				ok = 0;
			else
				snprintf(why, n, "connect: %s", strerror(err ? err : errno));
		} else {
			snprintf(why, n, "connect: %s", strerror(errno));
		}
		close(fd);
	}
	freeaddrinfo(res);
	return ok;
}

static void one_node(struct bench_ctx *c, const char *node)
{
	char host[256], why[300];
	int port;
	if (conf_parse_addr(node, 1, host, sizeof host, &port) < 0) {
		bench_warn(c, "network: %s: bad address (expected HOST:PORT)", node);
	} else if (reach(host, port, why, sizeof why) < 0) {
		bench_warn(c, "network: %s: %s", node, why);
	} else {
		bench_warn(c, "network: %s: reachable, but this build has no stage protocol "
			   "(ping/echo) to measure it with", node);
	}
	c->failed = 1;
}

int bench_network(struct bench_ctx *c)
{
	char list[4096];
	if (snprintf(list, sizeof list, "%s", c->o->nodes) >= (int)sizeof list)
		return exo_error(c->e, EXO_USAGE, "--nodes: list too long");
	for (char *save, *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		bench_progress(c, t);
		one_node(c, t);
	}
	return 0;
}
