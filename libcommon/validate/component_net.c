/* --test-component network: a link over loopback with the cluster key's
 * handshake and encryption, carrying frames of several sizes that must come
 * back byte for byte; a peer with another key must be refused. */
#include "net/net.h"
#include "validate/component.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct echo_server {
	int listen_fd;
	const uint8_t *key;
	int frames;          /* frames echoed */
};

/* Accepts one link and echoes frames until the peer closes. */
static void *echo_serve(void *arg)
{
	struct echo_server *s = arg;
	struct net_opts o = {.key = s->key, .io_timeout_ms = 5000, .connect_timeout_ms = 5000};
	struct net_link *l;
	struct exo_err e;
	int fd = accept(s->listen_fd, NULL, NULL);
	if (fd < 0 || net_accept(fd, &o, &l, &e) < 0)
		return NULL;
	char *body;
	size_t len;
	while (net_recv(l, &body, &len, -1, &e) == 0) {
		if (net_send(l, body, len, &e) == 0)
			s->frames++;
		free(body);
	}
	net_close(l);
	return NULL;
}

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

/* Round trips of frames of 1 B to 4 MiB; returns the frames that came back
 * identical, and the mean round-trip time of the small ones in *rtt. */
static int round_trips(struct net_link *l, double *rtt, struct exo_err *e)
{
	static const size_t sizes[] = {1, 64, 4096, 65536, 1 << 20, 4 << 20};
	int good = 0;
	for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
		unsigned char *out = malloc(sizes[i]);
		randombytes_buf(out, sizes[i]);
		double t0 = now();
		char *back = NULL;
		size_t len = 0;
		if (net_send(l, out, sizes[i], e) == 0 && net_recv(l, &back, &len, -1, e) == 0)
			good += len == sizes[i] && memcmp(back, out, len) == 0;
		if (i == 0)
			*rtt = now() - t0;
		free(back);
		free(out);
	}
	return good;
}

static int run_link(const char *addr, int lfd, const uint8_t *server_key, const uint8_t *client_key,
		    int *good, double *rtt, struct exo_err *e)
{
	struct echo_server s = {.listen_fd = lfd, .key = server_key};
	pthread_t th;
	pthread_create(&th, NULL, echo_serve, &s);
	struct net_opts o = {.key = client_key, .io_timeout_ms = 5000, .connect_timeout_ms = 5000};
	struct net_link *l;
	int rc = net_connect(addr, &o, &l, e);
	if (rc == 0) {
		*good = round_trips(l, rtt, e);
		net_close(l);
	}
	pthread_join(th, NULL);
	return rc;
}

void component_network(struct vcheck_out *out)
{
	uint8_t key[NET_KEY_BYTES], other[NET_KEY_BYTES];
	struct exo_err e = {0};
	int lfd;
	if (sodium_init() < 0 || net_listen("127.0.0.1:0", &lfd, &e) < 0) {
		vcheck_emit(out, vcheck_new("network", "component.network", "fail", e.msg));
		return;
	}
	struct sockaddr_storage sa;
	socklen_t sl = sizeof sa;
	getsockname(lfd, (struct sockaddr *)&sa, &sl);
	char addr[64];
	snprintf(addr, sizeof addr, "127.0.0.1:%u", ntohs(((struct sockaddr_in *)&sa)->sin_port));
	randombytes_buf(key, sizeof key);
	randombytes_buf(other, sizeof other);
	int good = 0, refused_good = 0;
	double rtt = 0, unused;
	char msg[1200];
	if (run_link(addr, lfd, key, key, &good, &rtt, &e) < 0) {
		snprintf(msg, sizeof msg, "encrypted loopback link failed: %s", e.msg);
		vcheck_emit(out, vcheck_new("network", "component.network", "fail", msg));
	} else {
		snprintf(msg, sizeof msg, "encrypted loopback link: %d of 6 frames (1 B to 4 MiB) came back identical; "
			 "round trip of a 1-byte frame %.0f us", good, rtt * 1e6);
		vcheck_emit(out, vcheck_new("network", "component.network", good == 6 ? "ok" : "fail", msg));
	}
	struct exo_err e2 = {0};
	int refused = run_link(addr, lfd, key, other, &refused_good, &unused, &e2) < 0;
	snprintf(msg, sizeof msg, "a peer holding another cluster key %s%s", refused ? "is refused: " : "WAS ACCEPTED",
		 refused ? e2.msg : "");
	vcheck_emit(out, vcheck_new("network", "component.network.auth", refused ? "ok" : "fail", msg));
	close(lfd);
}
