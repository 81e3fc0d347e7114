/* Links over real TCP on loopback: plaintext and keyed round trips, the
 * max-frame refusal, slow and vanishing peers, unreachable addresses, wrong
 * keys, plaintext peers meeting keyed ones, tampered, replayed, reordered
 * and cut frames, and the cluster key file.  The peer runs in a thread; the
 * misbehaving peers write raw bytes on a plain socket. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include "net/link.h"
#include "net/net.h"
#include "tests/tap.h"

static char tmp[64];

/* --- a peer in a thread: a link echoing frames, or a raw socket --- */

struct peer {
	int lfd;
	struct net_opts o;
	const uint8_t *raw;      /* raw peer: bytes written on the accepted socket */
	size_t raw_len;
	int frames;              /* link peer: frames echoed */
	int rc;
	struct exo_err e;        /* the error that ended it */
	pthread_t th;
};

static int accept_one(int lfd)
{
	int fd;
	while ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) < 0 && errno == EINTR)
		;
	return fd;
}

static void *echo_main(void *arg)
{
	struct peer *p = arg;
	struct net_link *l;
	if ((p->rc = net_accept(accept_one(p->lfd), &p->o, &l, &p->e)) < 0)
		return NULL;
	char *body;
	size_t len;
	while ((p->rc = net_recv(l, &body, &len, 0, &p->e)) == 0) {
		int s = net_send(l, body, len, &p->e);
		free(body);
		if (s < 0) {
			p->rc = -1;
			break;
		}
		p->frames++;
	}
	net_close(l);
	return NULL;
}

static void drain(int fd)
{
	char buf[4096];
	while (recv(fd, buf, sizeof buf, 0) > 0)
		;
}

static void *raw_main(void *arg)
{
	struct peer *p = arg;
	int fd = accept_one(p->lfd);
	send(fd, p->raw, p->raw_len, MSG_NOSIGNAL);
	drain(fd);
	close(fd);
	return NULL;
}

static int listen_local(char addr[64])
{
	int fd;
	struct exo_err e;
	if (net_listen("127.0.0.1:0", &fd, &e) < 0) {
		printf("Bail out! %s\n", e.msg);
		exit(1);
	}
	snprintf(addr, 64, "127.0.0.1:%d", net_local_port(fd));
	return fd;
}

static void peer_start(struct peer *p, void *(*fn)(void *), char addr[64])
{
	p->lfd = listen_local(addr);
	p->rc = 0;
	memset(&p->e, 0, sizeof p->e);
	pthread_create(&p->th, NULL, fn, p);
}

static void peer_join(struct peer *p)
{
	pthread_join(p->th, NULL);
	close(p->lfd);
}

/* A plain socket to addr, for writing raw bytes. */
static int raw_connect(const char *addr)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(strchr(addr, ':') + 1)) };
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		printf("Bail out! raw connect %s: %s\n", addr, strerror(errno));
		exit(1);
	}
	return fd;
}

static uint8_t *pattern(size_t n, unsigned seed)
{
	uint8_t *b = malloc(n ? n : 1);
	uint32_t x = seed * 2654435761u + 1;
	for (size_t i = 0; i < n; i++) {
		x = x * 1664525u + 1013904223u;
		b[i] = (uint8_t)(x >> 24);
	}
	return b;
}

static int contains(const char *s, const char *sub)
{
	return s && strstr(s, sub) != NULL;
}

/* Send frames of these sizes and expect each back intact. */
static void round_trips(const char *what, struct net_link *l, const size_t *sizes, int n)
{
	for (int i = 0; i < n; i++) {
		struct exo_err e = { 0 };
		uint8_t *b = pattern(sizes[i], (unsigned)i);
		char *back = NULL;
		size_t len = 0;
		int rc = net_send(l, b, sizes[i], &e);
		if (rc == 0)
			rc = net_recv(l, &back, &len, -1, &e);
		ok(rc == 0 && len == sizes[i] && memcmp(back, b, len) == 0, "%s: %zu-byte frame comes back intact",
		   what, sizes[i]);
		if (rc < 0)
			diag("%s", e.msg);
		free(b);
		free(back);
	}
}

/* --- plaintext --- */

static void test_plain_round_trips(void)
{
	char addr[64];
	struct peer p = { .o = { .io_timeout_ms = 20000 } };
	peer_start(&p, echo_main, addr);
	struct net_link *l;
	struct exo_err e;
	struct net_opts o = { .io_timeout_ms = 20000 };
	if (!ok(net_connect(addr, &o, &l, &e) == 0, "plain: connect to %s", addr)) {
		diag("%s", e.msg);
		exit(1);
	}
	ok(contains(net_peer(l), "127.0.0.1:"), "plain: the peer is named by address (%s)", net_peer(l));
	size_t sizes[] = { 0, 1, 100, 4096, 1 << 20, 64u << 20 };
	round_trips("plain", l, sizes, 6);
	uint64_t sent, received, body = 0;
	for (int i = 0; i < 6; i++)
		body += sizes[i];
	net_counters(l, &sent, &received);
	is_int(sent, body + 6 * 4, "plain: bytes sent on the wire are the bodies plus 4 each");
	is_int(received, sent, "plain: as many bytes received");
	net_close(l);
	peer_join(&p);
	is_int(p.e.code, EXO_NOINPUT, "plain: the peer sees a clean close between frames");
	is_int(p.frames, 6, "plain: the peer echoed every frame");
}

static void test_max_frame(void)
{
	char addr[64];
	struct peer p = { .o = { .max_frame = 1000 } };
	peer_start(&p, echo_main, addr);
	struct net_link *l;
	struct exo_err e;
	struct net_opts o = { .max_frame = 1000 };
	net_connect(addr, &o, &l, &e);
	uint8_t *b = pattern(2000, 1);
	ok(net_send(l, b, 2000, &e) < 0 && e.code == EXO_DATAERR && contains(e.msg, "2000") &&
	   contains(e.msg, "1000"), "max frame: sending 2000 bytes with a 1000 maximum is refused");
	diag("%s", e.msg);
	net_set_timeout(l, 10000);
	net_close(l);
	peer_join(&p);

	/* A sender with a larger limit: the receiver refuses it from the prefix. */
	peer_start(&p, echo_main, addr);
	o.max_frame = 0;
	net_connect(addr, &o, &l, &e);
	net_send(l, b, 2000, &e);
	peer_join(&p);
	ok(p.rc < 0 && p.e.code == EXO_DATAERR && contains(p.e.msg, "127.0.0.1:") && contains(p.e.msg, "2000") &&
	   contains(p.e.msg, "1000"), "max frame: the receiver refuses a 2000-byte frame, naming the peer and sizes");
	diag("%s", p.e.msg);
	net_close(l);
	free(b);

	/* An announced 4 GiB is refused from the prefix alone, before any body. */
	peer_start(&p, echo_main, addr);
	int fd = raw_connect(addr);
	send(fd, "\xff\xff\xff\xf0", 4, MSG_NOSIGNAL);
	peer_join(&p);
	ok(p.e.code == EXO_DATAERR && contains(p.e.msg, "4294967280"), "max frame: a 4 GiB announcement is refused");
	close(fd);
}

static void test_slow_sender(void)
{
	char addr[64];
	struct peer p = { .o = { .io_timeout_ms = 300 } };
	peer_start(&p, echo_main, addr);
	int fd = raw_connect(addr);
	const uint8_t frame[] = { 0, 0, 0, 20, 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j',
				  'k', 'l', 'm', 'n', 'o', 'p', 'q', 'r', 's', 't' };
	for (size_t i = 0; i < sizeof frame; i++) {   /* one byte each 50 ms: 1.2 s in all */
		if (send(fd, frame + i, 1, MSG_NOSIGNAL) < 0)
			break;
		usleep(50000);
	}
	peer_join(&p);
	ok(p.e.code == EXO_TEMPFAIL && contains(p.e.msg, "timed out") && contains(p.e.msg, "300 ms"),
	   "slow sender: a frame trickling in past the deadline times out");
	diag("%s", p.e.msg);
	close(fd);
}

static void test_cut_mid_frame(void)
{
	char addr[64];
	struct peer p = { 0 };
	peer_start(&p, echo_main, addr);
	int fd = raw_connect(addr);
	send(fd, "\0\0\0\x64" "0123456789", 14, MSG_NOSIGNAL);
	close(fd);
	peer_join(&p);
	ok(p.e.code == EXO_IOERR && contains(p.e.msg, "middle of a frame") && contains(p.e.msg, "10 of 100"),
	   "cut: a peer closing mid-frame is an I/O error saying how much came");
	diag("%s", p.e.msg);

	peer_start(&p, echo_main, addr);
	fd = raw_connect(addr);
	send(fd, "\0\0", 2, MSG_NOSIGNAL);
	close(fd);
	peer_join(&p);
	ok(p.e.code == EXO_IOERR, "cut: a peer closing inside the length prefix is an I/O error");
}

static void test_idle_timeout(void)
{
	char addr[64];
	uint8_t junk[1] = { 0 };
	struct peer p = { .raw = junk, .raw_len = 0 };
	peer_start(&p, raw_main, addr);
	struct net_link *l;
	struct exo_err e;
	net_connect(addr, NULL, &l, &e);
	char *body;
	size_t len;
	ok(net_recv(l, &body, &len, 200, &e) < 0 && e.code == EXO_TEMPFAIL,
	   "timeout: nothing within 200 ms is EXO_TEMPFAIL");
	diag("%s", e.msg);
	ok(net_send(l, "x", 1, &e) == 0, "timeout: the link stays usable after a timeout between frames");
	net_close(l);
	peer_join(&p);
}

static void test_sigpipe(void)
{
	char addr[64];
	struct peer p = { .o = { .max_frame = 10 } };
	peer_start(&p, echo_main, addr);
	struct net_link *l;
	struct exo_err e;
	net_connect(addr, NULL, &l, &e);
	uint8_t *b = pattern(100000, 3);
	int rc = 0;
	for (int i = 0; i < 200 && rc == 0; i++)   /* the peer refuses and closes */
		rc = net_send(l, b, 100000, &e);
	ok(rc < 0 && e.code == EXO_IOERR, "sigpipe: sending to a closed peer is an error, not a signal");
	diag("%s", e.msg);
	ok(net_send(l, b, 1, &e) < 0, "sigpipe: a broken link stays refused");
	free(b);
	net_close(l);
	peer_join(&p);
}

static void test_unreachable(void)
{
	/* A port nobody listens on: bound, then closed. */
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET };
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	bind(s, (struct sockaddr *)&sa, sizeof sa);
	char addr[64];
	snprintf(addr, sizeof addr, "127.0.0.1:%d", net_local_port(s));
	close(s);
	struct net_link *l = NULL;
	struct exo_err e;
	ok(net_connect(addr, NULL, &l, &e) < 0 && e.code == EXO_UNAVAILABLE && contains(e.msg, addr) &&
	   l == NULL, "unreachable: connecting to a closed port is EXO_UNAVAILABLE naming %s", addr);
	diag("%s", e.msg);

	ok(net_connect("nocolon", NULL, &l, &e) < 0 && e.code == EXO_USAGE && contains(e.msg, "nocolon"),
	   "address: no port is a usage error");
	ok(net_connect("1.2.3.4:99999", NULL, &l, &e) < 0 && e.code == EXO_USAGE,
	   "address: port out of range is a usage error");
	ok(net_connect("::1:80", NULL, &l, &e) < 0 && e.code == EXO_USAGE && contains(e.msg, "[ADDR]"),
	   "address: a bare IPv6 address asks for brackets");
	ok(net_connect("no-such-host.invalid:80", NULL, &l, &e) < 0 && e.code == EXO_UNAVAILABLE,
	   "address: an unknown host is unavailable");
}

/* A listener whose accept queue is full drops new SYNs: a connect to it
 * gets no answer, which is what a vanished host looks like. */
static void test_connect_timeout(void)
{
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET };
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	bind(lfd, (struct sockaddr *)&sa, sizeof sa);
	listen(lfd, 0);
	char addr[64];
	snprintf(addr, sizeof addr, "127.0.0.1:%d", net_local_port(lfd));
	int fill[4];
	for (int i = 0; i < 4; i++) {
		fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		struct sockaddr_in to = sa;
		to.sin_port = htons((uint16_t)net_local_port(lfd));
		connect(fill[i], (struct sockaddr *)&to, sizeof to);
	}
	usleep(100000);
	struct net_link *l = NULL;
	struct exo_err e;
	struct net_opts o = { .connect_timeout_ms = 300 };
	int rc = net_connect(addr, &o, &l, &e);
	if (rc < 0 && contains(e.msg, "no answer"))
		ok(e.code == EXO_UNAVAILABLE && contains(e.msg, addr) && contains(e.msg, "300 ms"),
		   "connect timeout: no answer within connect_timeout_ms is EXO_UNAVAILABLE");
	else
		skip("a full accept queue still answers here: no blackhole to time out on");
	diag("%s", rc < 0 ? e.msg : "connected");
	net_close(l);
	for (int i = 0; i < 4; i++)
		close(fill[i]);
	close(lfd);
}

static void test_addresses(void)
{
	ok(net_addr_is_loopback("127.0.0.1:5000"), "loopback: 127.0.0.1");
	ok(net_addr_is_loopback("127.3.2.1:5000"), "loopback: 127.3.2.1");
	ok(net_addr_is_loopback("localhost:5000"), "loopback: localhost");
	ok(net_addr_is_loopback("[::1]:5000"), "loopback: [::1]");
	ok(!net_addr_is_loopback(":5000"), "loopback: not :PORT (every address)");
	ok(!net_addr_is_loopback("0.0.0.0:5000"), "loopback: not 0.0.0.0");
	ok(!net_addr_is_loopback("[::]:5000"), "loopback: not [::]");
	ok(!net_addr_is_loopback("10.1.2.3:5000"), "loopback: not 10.1.2.3");
	ok(!net_addr_is_loopback("garbage"), "loopback: not garbage");
	int fd;
	struct exo_err e;
	if (net_listen(":0", &fd, &e) == 0) {
		char a[64];
		net_local_addr(fd, a, sizeof a);
		ok(net_local_port(fd) > 0 && (fcntl(fd, F_GETFD) & FD_CLOEXEC), "listen :0: port %d, close-on-exec (%s)",
		   net_local_port(fd), a);
		char to[64];
		snprintf(to, sizeof to, "127.0.0.1:%d", net_local_port(fd));
		struct net_link *l;
		ok(net_connect(to, NULL, &l, &e) == 0, "listen :0: reachable on 127.0.0.1");
		net_close(l);
		close(fd);
	} else {
		ok(0, "listen :0: %s", e.msg);
	}
	if (net_listen("[::1]:0", &fd, &e) == 0) {
		char a[64];
		net_local_addr(fd, a, sizeof a);
		ok(strncmp(a, "[::1]:", 6) == 0 && net_local_port(fd) > 0, "listen [::1]:0 gives %s", a);
		close(fd);
	} else {
		skip("no IPv6 loopback here");
	}
	int fd2;
	net_listen("127.0.0.1:0", &fd, &e);
	char busy[64];
	snprintf(busy, sizeof busy, "127.0.0.1:%d", net_local_port(fd));
	ok(net_listen(busy, &fd2, &e) < 0 && e.code == EXO_UNAVAILABLE && contains(e.msg, busy),
	   "listen: a port in use is EXO_UNAVAILABLE naming it");
	close(fd);
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(p);
}

int main(void)
{
	snprintf(tmp, sizeof tmp, "/tmp/exo-test-net-XXXXXX");
	if (!mkdtemp(tmp))
		return 1;
	test_plain_round_trips();
	test_max_frame();
	test_slow_sender();
	test_cut_mid_frame();
	test_idle_timeout();
	test_sigpipe();
	test_unreachable();
	test_connect_timeout();
	test_addresses();
	nftw(tmp, rm_one, 8, FTW_DEPTH | FTW_PHYS);
	return done_testing();
}
