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
#include <poll.h>
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
	if (net_listen("localhost:0", &fd, &e) == 0) {
		char a[64], to[64];
		net_local_addr(fd, a, sizeof a);
		snprintf(to, sizeof to, "127.0.0.1:%d", net_local_port(fd));
		struct net_link *l;
		ok(net_connect(to, NULL, &l, &e) == 0, "listen localhost:0 (%s): reachable on 127.0.0.1", a);
		net_close(l);
		close(fd);
	} else {
		ok(0, "listen localhost:0: %s", e.msg);
	}
	int fd2;
	net_listen("127.0.0.1:0", &fd, &e);
	char busy[64];
	snprintf(busy, sizeof busy, "127.0.0.1:%d", net_local_port(fd));
	ok(net_listen(busy, &fd2, &e) < 0 && e.code == EXO_UNAVAILABLE && contains(e.msg, busy),
	   "listen: a port in use is EXO_UNAVAILABLE naming it");
	close(fd);
}

/* --- keyed --- */

static const uint8_t key_a[NET_KEY_BYTES] = "0123456789abcdef0123456789abcde";
static const uint8_t key_b[NET_KEY_BYTES] = "0123456789abcdef0123456789abcdX";

static struct net_link *keyed_pair(struct peer *p, char addr[64])
{
	p->o = (struct net_opts){ .key = key_a, .connect_timeout_ms = 5000, .io_timeout_ms = 20000 };
	peer_start(p, echo_main, addr);
	struct net_link *l;
	struct exo_err e;
	struct net_opts o = { .key = key_a, .io_timeout_ms = 20000 };
	if (net_connect(addr, &o, &l, &e) < 0) {
		printf("Bail out! keyed connect: %s\n", e.msg);
		exit(1);
	}
	return l;
}

static void test_keyed_round_trips(void)
{
	char addr[64];
	struct peer p = { 0 };
	struct net_link *l = keyed_pair(&p, addr);
	size_t sizes[] = { 0, 1, 4096, 16384, 1 << 20, 16u << 20 };
	round_trips("keyed", l, sizes, 6);
	uint64_t sent, received, body = 0;
	for (int i = 0; i < 6; i++)
		body += sizes[i];
	net_counters(l, &sent, &received);
	is_int(sent, NET_HS_HELLO_BYTES + NET_HS_FINISH_BYTES + body + 6 * (4 + 17),
	       "keyed: bytes sent are the handshake (128) plus each body and 21");
	is_int(received, sent, "keyed: as many bytes received");
	net_close(l);
	peer_join(&p);
	ok(p.e.code == EXO_NOINPUT && p.frames == 6, "keyed: the peer echoed every frame, then saw a clean close");
	diag("%s", p.e.msg);
}

static void test_wrong_key(void)
{
	char addr[64];
	struct peer p = { .o = { .key = key_a } };
	peer_start(&p, echo_main, addr);
	struct net_link *l = NULL;
	struct exo_err e;
	struct net_opts o = { .key = key_b };
	ok(net_connect(addr, &o, &l, &e) < 0 && e.code == EXO_NOPERM && contains(e.msg, addr) &&
	   contains(e.msg, "handshake failed: the peer holds a different cluster key") && !l,
	   "wrong key: the client refuses the server");
	diag("%s", e.msg);
	peer_join(&p);
	ok(p.rc < 0 && p.e.code == EXO_NOPERM && contains(p.e.msg, "127.0.0.1:") &&
	   contains(p.e.msg, "different cluster key"), "wrong key: the server refuses the client");
	diag("%s", p.e.msg);
}

static void test_plain_meets_keyed(void)
{
	char addr[64];
	struct peer p = { .o = { .key = key_a } };
	peer_start(&p, echo_main, addr);
	struct net_link *l;
	struct exo_err e;
	net_connect(addr, NULL, &l, &e);
	net_send(l, "\x81\xa2op\xa5hello", 10, &e);
	char *body = NULL;
	size_t len;
	ok(net_recv(l, &body, &len, 2000, &e) < 0 && !body, "plain client, keyed server: the client gets no frame");
	diag("%s", e.msg);
	net_close(l);
	peer_join(&p);
	ok(p.e.code == EXO_NOPERM && contains(p.e.msg, "does not start a keyed link"),
	   "plain client, keyed server: the server refuses it");
	diag("%s", p.e.msg);

	p.o.key = NULL;
	peer_start(&p, echo_main, addr);
	struct net_opts o = { .key = key_a };
	ok(net_connect(addr, &o, &l, &e) < 0 && contains(e.msg, "handshake failed"),
	   "keyed client, plain server: the client's handshake fails");
	diag("%s", e.msg);
	peer_join(&p);
	ok(p.e.code == EXO_NOPERM && contains(p.e.msg, "starts an encrypted link"),
	   "keyed client, plain server: the server says the peer holds a key");
	diag("%s", p.e.msg);
}

static void test_garbage_to_keyed(void)
{
	char addr[64];
	struct peer p = { .o = { .key = key_a, .connect_timeout_ms = 500 } };
	peer_start(&p, echo_main, addr);
	int fd = raw_connect(addr);
	uint8_t *junk = pattern(200, 9);
	send(fd, junk, 200, MSG_NOSIGNAL);
	peer_join(&p);
	ok(p.e.code == EXO_NOPERM && contains(p.e.msg, "handshake failed"), "garbage: refused at the handshake");
	diag("%s", p.e.msg);
	close(fd);

	/* The right magic, version and role, then junk: the proof fails. */
	peer_start(&p, echo_main, addr);
	fd = raw_connect(addr);
	memcpy(junk, "exolnk\x01" "c", 8);
	send(fd, junk, 200, MSG_NOSIGNAL);
	peer_join(&p);
	ok(p.e.code == EXO_NOPERM && contains(p.e.msg, "different cluster key"), "garbage: a forged hello fails the proof");
	diag("%s", p.e.msg);
	close(fd);

	/* A low-order public key (all zeros) gives no shared secret. */
	memset(junk + 8, 0, 32);
	peer_start(&p, echo_main, addr);
	fd = raw_connect(addr);
	send(fd, junk, 200, MSG_NOSIGNAL);
	peer_join(&p);
	ok(p.e.code == EXO_NOPERM && contains(p.e.msg, "public key is invalid"), "garbage: a zero public key is refused");
	diag("%s", p.e.msg);
	close(fd);

	memcpy(junk, "exolnk\x01" "s", 8);   /* a server's hello sent to a server */
	peer_start(&p, echo_main, addr);
	fd = raw_connect(addr);
	send(fd, junk, 200, MSG_NOSIGNAL);
	peer_join(&p);
	ok(p.e.code == EXO_NOPERM && contains(p.e.msg, "server role"), "garbage: a hello for the wrong role is refused");
	diag("%s", p.e.msg);
	close(fd);

	memcpy(junk, "exolnk\x09" "c", 8);
	peer_start(&p, echo_main, addr);
	fd = raw_connect(addr);
	send(fd, junk, 200, MSG_NOSIGNAL);
	peer_join(&p);
	ok(p.e.code == EXO_DATAERR && contains(p.e.msg, "version 9"), "garbage: another link version is named");
	close(fd);

	/* A plaintext peer's empty frame, then nothing: told at once, not timed out. */
	peer_start(&p, echo_main, addr);
	fd = raw_connect(addr);
	send(fd, "\0\0\0\0", 4, MSG_NOSIGNAL);
	peer_join(&p);
	ok(p.e.code == EXO_NOPERM && contains(p.e.msg, "does not start a keyed link"),
	   "garbage: a plaintext empty frame is refused from its 4 bytes");
	close(fd);

	/* Silence: the handshake has its own deadline. */
	peer_start(&p, echo_main, addr);
	fd = raw_connect(addr);
	peer_join(&p);
	ok(p.e.code == EXO_TEMPFAIL && contains(p.e.msg, "handshake"), "silence: the handshake times out");
	diag("%s", p.e.msg);
	close(fd);
	free(junk);
}

struct sender {
	struct net_link *l;
	int sent;
};

static void *send_main(void *arg)
{
	struct sender *s = arg;
	struct exo_err e;
	for (int i = 0; i < 200; i++) {
		uint8_t *b = pattern(10000, (unsigned)i);
		int rc = net_send(s->l, b, 10000, &e);
		free(b);
		if (rc < 0)
			break;
		s->sent++;
	}
	return NULL;
}

/* One thread sends while another receives, as a pipelined stage does. */
static void test_full_duplex(void)
{
	char addr[64];
	struct peer p = { 0 };
	struct net_link *l = keyed_pair(&p, addr);
	struct sender s = { .l = l };
	pthread_t th;
	pthread_create(&th, NULL, send_main, &s);
	int good = 0;
	struct exo_err e;
	for (int i = 0; i < 200; i++) {
		char *body;
		size_t len;
		if (net_recv(l, &body, &len, -1, &e) < 0)
			break;
		uint8_t *want = pattern(10000, (unsigned)i);
		good += len == 10000 && memcmp(body, want, len) == 0;
		free(want);
		free(body);
	}
	pthread_join(th, NULL);
	ok(s.sent == 200 && good == 200, "duplex: 200 frames sent by one thread, echoed, received intact by another");
	net_close(l);
	peer_join(&p);
}

/* Frames sealed on the client's stream but written raw, as an attacker on
 * the wire would rewrite them. */
static size_t seal(struct net_link *l, const char *text, uint8_t *out)
{
	net_frame_seal(&l->tx, text, strlen(text), 0, out);
	return 4 + 17 + strlen(text);
}

static void expect_refused(const char *what, struct peer *p, int code, const char *sub)
{
	peer_join(p);
	ok(p->rc < 0 && p->e.code == code && contains(p->e.msg, sub), "%s", what);
	diag("%s", p->e.msg);
}

static void test_tampering(void)
{
	char addr[64];
	struct peer p = { 0 };
	uint8_t a[64], b[64];
	struct net_link *l = keyed_pair(&p, addr);
	size_t n = seal(l, "forward layer 3", a);
	a[12] ^= 1;
	send(net_fd(l), a, n, MSG_NOSIGNAL);
	expect_refused("tamper: a flipped ciphertext bit is refused", &p, EXO_DATAERR, "fails authentication");
	net_close(l);

	l = keyed_pair(&p, addr);
	n = seal(l, "forward layer 3", a);
	a[3] -= 1;   /* the length prefix is authenticated too */
	send(net_fd(l), a, n - 1, MSG_NOSIGNAL);
	expect_refused("tamper: a shortened length prefix is refused", &p, EXO_DATAERR, "fails authentication");
	net_close(l);

	l = keyed_pair(&p, addr);
	n = seal(l, "token 42", a);
	send(net_fd(l), a, n, MSG_NOSIGNAL);
	char *body = NULL;
	size_t len;
	struct exo_err e;
	ok(net_recv(l, &body, &len, -1, &e) == 0 && len == 8 && !memcmp(body, "token 42", 8),
	   "replay: the first copy is accepted");
	free(body);
	send(net_fd(l), a, n, MSG_NOSIGNAL);
	expect_refused("replay: the second copy is refused", &p, EXO_DATAERR, "replayed");
	net_close(l);

	l = keyed_pair(&p, addr);
	size_t na = seal(l, "first", a), nb = seal(l, "second", b);
	send(net_fd(l), b, nb, MSG_NOSIGNAL);
	send(net_fd(l), a, na, MSG_NOSIGNAL);
	expect_refused("reorder: frames out of order are refused", &p, EXO_DATAERR, "reordered");
	net_close(l);

	l = keyed_pair(&p, addr);
	n = seal(l, "forward layer 3", a);
	send(net_fd(l), a, n - 5, MSG_NOSIGNAL);
	shutdown(net_fd(l), SHUT_WR);
	expect_refused("cut: a sealed frame cut short is refused", &p, EXO_IOERR, "middle of a frame");
	net_close(l);

	/* The server's frames to the client are checked the same way. */
	l = keyed_pair(&p, addr);
	net_send(l, "ping", 4, &e);
	uint8_t *raw = malloc(64);
	ssize_t got = 0;
	while (got < 4 + 17 + 4) {   /* read the sealed echo raw (the socket does not block) */
		struct pollfd pf = { .fd = net_fd(l), .events = POLLIN };
		if (poll(&pf, 1, 10000) <= 0)
			break;
		ssize_t r = recv(net_fd(l), raw + got, (size_t)(25 - got), 0);
		if (r <= 0)
			break;
		got += r;
	}
	ok(got == 25 && memcmp(raw + 4, "ping", 4) != 0, "keyed: the echo is 25 bytes on the wire, not in the clear");
	free(raw);
	net_close(l);
	peer_join(&p);
}

/* --- the key file --- */

static void put_key(const char *path, size_t n, mode_t mode)
{
	uint8_t *b = pattern(n, 5);
	unlink(path);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, b, n) != (ssize_t)n || fchmod(fd, mode) < 0) {
		printf("Bail out! %s: %s\n", path, strerror(errno));
		exit(1);
	}
	close(fd);
	free(b);
}

static void test_key_file(void)
{
	char path[128], gen[128];
	uint8_t key[NET_KEY_BYTES];
	struct exo_err e;
	snprintf(path, sizeof path, "%s/cluster.key", tmp);
	put_key(path, 32, 0644);
	ok(net_key_load(path, key, &e) < 0 && e.code == EXO_NOPERM && contains(e.msg, path) &&
	   contains(e.msg, "0644") && contains(e.msg, "chmod 600"), "key file: mode 0644 is refused");
	diag("%s", e.msg);
	put_key(path, 32, 0640);
	ok(net_key_load(path, key, &e) < 0 && e.code == EXO_NOPERM && contains(e.msg, "0640"),
	   "key file: mode 0640 is refused");
	put_key(path, 32, 0600);
	uint8_t *want = pattern(32, 5);
	ok(net_key_load(path, key, &e) == 0 && memcmp(key, want, 32) == 0, "key file: mode 0600 is read");
	put_key(path, 32, 0400);
	ok(net_key_load(path, key, &e) == 0, "key file: mode 0400 is read");
	free(want);
	put_key(path, 31, 0600);
	ok(net_key_load(path, key, &e) < 0 && e.code == EXO_DATAERR && contains(e.msg, "31 bytes") &&
	   contains(e.msg, "32"), "key file: 31 bytes is refused");
	diag("%s", e.msg);
	put_key(path, 33, 0600);
	ok(net_key_load(path, key, &e) < 0 && e.code == EXO_DATAERR, "key file: 33 bytes is refused");
	unlink(path);
	ok(net_key_load(path, key, &e) < 0 && e.code == EXO_NOINPUT && contains(e.msg, "--gen-key"),
	   "key file: a missing file is EXO_NOINPUT and says how to make one");
	ok(net_key_load(tmp, key, &e) < 0 && e.code == EXO_DATAERR, "key file: a directory is refused");

	snprintf(gen, sizeof gen, "%s/new.key", tmp);
	struct stat st;
	ok(net_key_generate(gen, &e) == 0 && stat(gen, &st) == 0 && (st.st_mode & 0777) == 0600 &&
	   st.st_size == 32, "key generate: 32 bytes, mode 0600");
	uint8_t k1[NET_KEY_BYTES], k2[NET_KEY_BYTES];
	ok(net_key_load(gen, k1, &e) == 0, "key generate: the new key loads");
	ok(net_key_generate(gen, &e) < 0 && contains(e.msg, gen) && contains(e.msg, "exists"),
	   "key generate: refuses to overwrite");
	diag("%s", e.msg);
	ok(net_key_load(gen, k2, &e) == 0 && memcmp(k1, k2, 32) == 0, "key generate: the old key is untouched");
	char gen2[160];
	snprintf(gen2, sizeof gen2, "%s/other.key", tmp);
	net_key_generate(gen2, &e);
	ok(net_key_load(gen2, k2, &e) == 0 && memcmp(k1, k2, 32) != 0, "key generate: two keys differ");
	char bad[160];
	snprintf(bad, sizeof bad, "%s/no/such/dir.key", tmp);
	ok(net_key_generate(bad, &e) < 0 && contains(e.msg, "no/such"), "key generate: an unwritable path names it");
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
	test_keyed_round_trips();
	test_wrong_key();
	test_plain_meets_keyed();
	test_garbage_to_keyed();
	test_full_duplex();
	test_tampering();
	test_key_file();
	nftw(tmp, rm_one, 8, FTW_DEPTH | FTW_PHYS);
	return done_testing();
}
