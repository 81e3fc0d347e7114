/* A stage server: one thread per upstream connection, each with its own
 * link to the next stage (opened at hello, reopened on the next request
 * after a failure), so that requests on different connections pipeline:
 * while the next stage computes one session this one computes another.
 * One lock guards the engine and the session table; it is held only while
 * computing, never across a network wait.  The engine computes on a thread
 * of its own (eng_opts.compute_thread): connection threads hand it work. */
#include "serve/serve.h"
#include "kernels/kern.h"
#include "util/log.h"

#include <errno.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Connections still in their handshake (the key exchange, then the hello)
 * have a budget of their own, apart from --max-connections, so that peers
 * that never finish one cannot keep the key holders out: when it is full,
 * a new connection cuts off the oldest handshake of the address holding
 * the most, and no address holds more than half of it (a head opening
 * several links at once is one address). */
#define STAGE_HANDSHAKES 16
#define STAGE_HANDSHAKES_PER_ADDRESS (STAGE_HANDSHAKES / 2)

struct pending {
	struct stage_conn *c;
	int ctl;                         /* a duplicate of its socket, to shut it down */
	double since;
};

struct stage_server {
	struct stage_opts o;
	struct eng_stage *eng;
	pthread_mutex_t lock;            /* the engine and the sessions */
	struct sess_table *sessions;
	struct serve_ident me;
	char name[48];                   /* "stage N", or "layers A..B" without an index */
	int listen_fd, hidden, vocab;
	pthread_mutex_t conn_lock;
	pthread_cond_t conn_done;
	int threads;                     /* connection threads running */
	int active;                      /* links past their hello */
	struct pending pending[STAGE_HANDSHAKES];
	int n_pending;
	long cut_off;                    /* handshakes cut off since the last report */
	double cut_reported;             /* when that was */
	volatile sig_atomic_t *stop;
};

struct stage_conn {
	struct stage_server *srv;
	int fd;
	struct net_link *up, *down;
	int down_context;
	float *x, *y;                    /* inputs and outputs of eng_forward */
	struct eng_sampler *sampler;     /* last stage: made once, reseeded per draw */
	size_t xcap, ycap;
	void *wire;                      /* the hidden block as it travels */
	size_t wcap;
	char peer[128];
	char host[64];                   /* the peer's address without its port */
};

static void kv_free(void *kv)
{
	eng_kv_free(kv);
}

struct stage_server *stage_open(const struct stage_opts *o, struct exo_err *e)
{
	struct stage_server *s = calloc(1, sizeof *s);
	if (!s) {
		exo_error(e, EXO_SOFTWARE, "out of memory");
		return NULL;
	}
	s->o = *o;
	s->listen_fd = -1;
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->conn_lock, NULL);
	pthread_cond_init(&s->conn_done, NULL);
	struct eng_opts eo = o->eng;
	eo.compute_thread = true;  /* forwards come from many connection threads */
	if (serve_model_identity(o->model, s->me.model, sizeof s->me.model, s->me.revision,
				 sizeof s->me.revision, e) < 0 ||
	    !(s->eng = eng_stage_open(o->model, o->first, o->last, &eo, e)))
		goto fail;
	s->sessions = sess_table_new(o->max_sessions > 0 ? (size_t)o->max_sessions : 64, kv_free);
	s->me.first = eng_first_layer(s->eng), s->me.last = eng_last_layer(s->eng);
	s->me.stage = o->index, s->me.role = "stage";
	s->me.context = eng_context(s->eng);
	s->me.vocab = s->vocab = eng_config(s->eng)->vocab;
	s->hidden = eng_config(s->eng)->hidden;
	if (o->index >= 0)
		snprintf(s->name, sizeof s->name, "stage %d", o->index);
	else
		snprintf(s->name, sizeof s->name, "layers %d..%d", s->me.first, s->me.last - 1);
	if (!eng_has_head(s->eng) && !o->next) {
		exo_error(e, EXO_USAGE, "layers %d..%d do not end the model (%d layers): the stage needs "
			  "a next stage (--next)", s->me.first, s->me.last - 1, eng_config(s->eng)->n_layers);
		goto fail;
	}
	if (net_listen(o->listen, &s->listen_fd, e) < 0)
		goto fail;
	return s;
fail:
	stage_close(s);
	return NULL;
}

struct eng_stage *stage_engine(struct stage_server *s)
{
	return s->eng;
}

pthread_mutex_t *stage_engine_lock(struct stage_server *s)
{
	return &s->lock;
}

void stage_close(struct stage_server *s)
{
	if (!s)
		return;
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	sess_table_free(s->sessions);
	eng_stage_close(s->eng);
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->conn_lock);
	pthread_cond_destroy(&s->conn_done);
	free(s);
}

/* ---- answering ---- */

static int reply_error(struct stage_conn *c, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int reply_error(struct stage_conn *c, const char *code, const char *fmt, ...)
{
	char msg[PROTO_MSG_MAX], *buf;
	size_t len;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	log_debug("%s: to %s: %s: %s", c->srv->name, c->peer, code, msg);
	if (proto_encode_error(code, c->srv->o.index, msg, &buf, &len) < 0)
		return -1;
	struct exo_err e;
	int rc = net_send(c->up, buf, len, &e);
	free(buf);
	return rc;
}

static bool grow(void **p, size_t *cap, size_t want)
{
	if (*cap >= want)
		return true;
	void *n = realloc(*p, want);
	if (!n)
		return false;
	*p = n, *cap = want;
	return true;
}

/* The inputs of a forward as the engine takes them. */
static int read_inputs(struct stage_conn *c, const struct proto_msg *m)
{
	struct stage_server *s = c->srv;
	if (s->me.first == 0) {
		if (!m->tokens)
			return reply_error(c, "bad_request", "%s holds layer 0: it takes token ids, not "
					   "a hidden block", s->name), 1;
		return 0;
	}
	if (m->tokens || m->hidden != (size_t)s->hidden)
		return reply_error(c, "bad_request", "%s takes a hidden block of rows of %d values",
				   s->name, s->hidden), 1;
	size_t count = m->n * m->hidden;
	if (!grow((void **)&c->x, &c->xcap, count * sizeof(float)) || !grow(&c->wire, &c->wcap, m->data_len))
		return reply_error(c, "busy", "%s: out of memory", s->name), 1;
	memcpy(c->wire, m->data, m->data_len); /* the bin sits at any offset: align it */
	kern_select()->to_f32[m->dtype](c->wire, c->x, count);
	return 0;
}

/* Compute under the lock: session lookup, position checks, eng_forward.
 * Returns 0, or 1 when an error frame was sent instead. */
static int compute(struct stage_conn *c, const struct proto_msg *m, enum eng_output what, size_t out_count)
{
	struct stage_server *s = c->srv;
	struct exo_err e = {0};
	if (eng_check_context(s->eng, m->pos, m->n, &e) < 0) /* before sizing anything by n */
		return reply_error(c, "context_exceeded", "%s: %s", s->name, e.msg), 1;
	if (!grow((void **)&c->y, &c->ycap, out_count * sizeof(float)))
		return reply_error(c, "busy", "%s: out of memory", s->name), 1;
	pthread_mutex_lock(&s->lock);
	struct eng_kv *kv = sess_get(s->sessions, m->session);
	int have = kv ? eng_kv_len(kv) : 0;
	if (have < m->pos) {
		pthread_mutex_unlock(&s->lock);
		return reply_error(c, "session_unknown", "%s holds %d positions of session %016llx, "
				   "not %d: send the history from position 0", s->name, have,
				   (unsigned long long)m->session, m->pos), 1;
	}
	uint64_t evicted = 0;
	if (!kv && ((kv = eng_kv_new(s->eng, &e)) == NULL ||
		    sess_put(s->sessions, m->session, kv, &evicted) < 0)) {
		pthread_mutex_unlock(&s->lock);
		return reply_error(c, "busy", "%s: %s", s->name, e.msg[0] ? e.msg : "no session"), 1;
	}
	if (evicted)
		log_info("%s: evicted session %016llx (--max-sessions %d)", s->name,
			 (unsigned long long)evicted, s->o.max_sessions);
	eng_kv_truncate(kv, m->pos);
	int rc = eng_forward(s->eng, kv, m->tokens, c->x, m->n, what, c->y, &e);
	if (rc < 0)
		eng_kv_truncate(kv, m->pos);
	pthread_mutex_unlock(&s->lock);
	if (rc < 0)
		return reply_error(c, e.code == EXO_DATAERR ? "bad_request" : "internal", "%s: %s",
				   s->name, e.msg), 1;
	return 0;
}

static int answer_last(struct stage_conn *c, const struct proto_msg *m)
{
	struct stage_server *s = c->srv;
	size_t V = (size_t)s->vocab;
	bool all = m->want == PROTO_WANT_ALL_LOGITS;
	if (compute(c, m, all ? ENG_OUT_LOGITS : ENG_OUT_LAST_LOGITS, all ? m->n * V : V))
		return 0;
	struct proto_msg r;
	proto_msg_init(&r, PROTO_RESULT);
	r.session = m->session;
	if (m->want == PROTO_WANT_TOKEN) {
		float lp = 0;
		r.token = serve_draw(&c->sampler, &m->sampling, m->pos + (int)m->n, c->y, V, &lp, &r.eos);
		if (r.token < 0)
			return reply_error(c, "busy", "%s: out of memory", s->name);
		r.logprob = lp;
	} else {
		r.logits = c->y, r.rows = all ? m->n : 1, r.cols = V;
	}
	struct exo_err e;
	return serve_send(c->up, &r, &e);
}

static int open_down(struct stage_conn *c, struct exo_err *e)
{
	struct stage_server *s = c->srv;
	struct proto_msg answer;
	if (c->down)
		return 0;
	if (serve_connect(s->o.next, s->o.index >= 0 ? s->o.index + 1 : -1, &s->o.net, &s->me, &c->down,
			  &answer, e) < 0)
		return -1;
	c->down_context = answer.context;
	return 0;
}

static void close_down(struct stage_conn *c)
{
	net_close(c->down);
	c->down = NULL;
}

/* Hand the hidden block on and relay the answer, whatever it is. */
static int pass_on(struct stage_conn *c, const struct proto_msg *m)
{
	struct stage_server *s = c->srv;
	size_t count = m->n * (size_t)s->hidden;
	if (compute(c, m, ENG_OUT_HIDDEN, count))
		return 0;
	int dt = s->o.handover;
	size_t width = dt == PROTO_F32 ? 4 : 2;
	if (!grow(&c->wire, &c->wcap, count * width))
		return reply_error(c, "busy", "%s: out of memory", s->name);
	kern_select()->from_f32[dt](c->y, c->wire, count);
	struct proto_msg f = *m;
	f.tokens = NULL, f.owned_tokens = NULL;
	f.dtype = dt, f.hidden = (size_t)s->hidden, f.data = c->wire, f.data_len = count * width;
	struct exo_err e = {0};
	char *reply = NULL;
	size_t len;
	if (open_down(c, &e) < 0 || serve_send(c->down, &f, &e) < 0 ||
	    serve_recv_answer(c->down, &reply, &len, &e) < 0) {
		if (c->down) {
			char name[300];
			serve_stage_name(name, sizeof name, s->o.index >= 0 ? s->o.index + 1 : -1, s->o.next);
			exo_error_prefix(&e, "%s", name);
		}
		close_down(c);
		log_warn("%s: %s", s->name, e.msg);
		return reply_error(c, e.code == EXO_CONFIG ? "mismatch" : "unavailable", "%s", e.msg);
	}
	int rc = net_send(c->up, reply, len, &e);
	free(reply);
	return rc;
}

static void forward_end(struct stage_conn *c, const char *raw, size_t len, uint64_t session)
{
	struct stage_server *s = c->srv;
	struct exo_err e;
	pthread_mutex_lock(&s->lock);
	sess_drop(s->sessions, session);
	pthread_mutex_unlock(&s->lock);
	if (c->down && net_send(c->down, raw, len, &e) < 0)
		close_down(c);
}

static int echo(struct stage_conn *c, const struct proto_msg *m)
{
	struct proto_msg r = *m;
	struct exo_err e;
	r.op = PROTO_ECHO;
	return serve_send(c->up, &r, &e);
}

static int handle(struct stage_conn *c, const char *buf, size_t len)
{
	struct proto_msg m;
	struct exo_err e = {0};
	if (proto_decode(buf, len, &m, &e) < 0) {
		log_warn("%s: refused a frame from %s: %s", c->srv->name, c->peer, e.msg);
		reply_error(c, "bad_frame", "%s", e.msg);
		return -1;
	}
	int rc = 0;
	switch (m.op) {
	case PROTO_FORWARD:
		rc = read_inputs(c, &m);
		if (rc == 0)
			rc = eng_has_head(c->srv->eng) ? answer_last(c, &m) : pass_on(c, &m);
		else
			rc = rc > 0 ? 0 : rc;
		break;
	case PROTO_END: forward_end(c, buf, len, m.session); break;
	case PROTO_PING: rc = echo(c, &m); break;
	default:
		log_warn("%s: refused a %s frame from %s", c->srv->name, proto_op_name(m.op), c->peer);
		reply_error(c, "bad_frame", "unexpected %s frame", proto_op_name(m.op));
		rc = -1;
	}
	proto_msg_free(&m);
	return rc;
}

/* ---- connections ---- */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int handshake_ms(const struct stage_server *s)
{
	return s->o.net.connect_timeout_ms > 0 ? s->o.net.connect_timeout_ms : 5000;
}

/* The peer's hello, within the handshake deadline.  Returns 0 with *m
 * filled, or -1 with why (a bad frame is answered). */
static int read_hello(struct stage_conn *c, struct proto_msg *m, char *why, size_t size)
{
	struct stage_server *s = c->srv;
	struct exo_err e = {0};
	char *buf = NULL;
	size_t len;
	if (net_recv(c->up, &buf, &len, handshake_ms(s), &e) < 0) {
		snprintf(why, size, "%s", e.msg);
		return -1;
	}
	int rc = proto_decode(buf, len, m, &e);
	free(buf);
	if (rc == 0 && m->op != PROTO_HELLO)
		rc = exo_error(&e, EXO_DATAERR, "expected a hello frame, got %s", proto_op_name(m->op));
	if (rc < 0) {
		snprintf(why, size, "%s", e.msg);
		reply_error(c, "bad_frame", "%s", e.msg);
		return -1;
	}
	if (serve_check_hello(&s->me, m, true, why, size) < 0) {
		reply_error(c, "mismatch", "%s", why);
		return -1;
	}
	return 0;
}

static int answer_hello(struct stage_conn *c, const struct proto_msg *m)
{
	struct stage_server *s = c->srv;
	struct exo_err e = {0};
	struct serve_ident me = s->me;
	if (s->o.next && open_down(c, &e) < 0)
		log_info("%s: %s (retried on the first request)", s->name, e.msg);
	if (c->down && c->down_context > 0 && c->down_context < me.context)
		me.context = c->down_context;
	struct proto_msg h;
	proto_msg_init(&h, PROTO_HELLO);
	snprintf(h.model, sizeof h.model, "%s", me.model);
	snprintf(h.revision, sizeof h.revision, "%s", me.revision);
	snprintf(h.role, sizeof h.role, "stage");
	h.layer_start = me.first, h.layer_end = me.last, h.stage = me.stage;
	h.context = me.context, h.vocab = me.vocab;
	log_info("%s: %s (%s) connected", s->name, c->peer, m->role);
	return serve_send(c->up, &h, &e);
}

/* Wait for the next frame, waking to notice a stop.  1: readable, 0: stop,
 * -1: idle longer than the idle timeout. */
static int wait_frame(struct stage_conn *c)
{
	struct stage_server *s = c->srv;
	struct pollfd p = {.fd = net_fd(c->up), .events = POLLIN};
	double idle = (s->o.idle_timeout_ms > 0 ? s->o.idle_timeout_ms : STAGE_IDLE_TIMEOUT_MS) / 1000.0;
	double deadline = now_s() + idle;
	while (!*s->stop) {
		int r = poll(&p, 1, 200);
		if (r > 0)
			return 1;
		if (r < 0 && errno != EINTR)
			return 1; /* net_recv reports it */
		if (now_s() > deadline)
			return -1;
	}
	return 0;
}

/* Frames until the peer goes, idles too long, or the stage stops. */
static void serve_frames(struct stage_conn *c)
{
	struct stage_server *s = c->srv;
	struct exo_err e = {0};
	char *buf;
	size_t len;
	uint64_t frames = 0, in, out;
	int w;
	while ((w = wait_frame(c)) > 0) {
		if (net_recv(c->up, &buf, &len, 0, &e) < 0) {
			if (e.code != EXO_NOINPUT)
				log_warn("%s: dropped %s: %s", s->name, c->peer, e.msg);
			break;
		}
		int rc = handle(c, buf, len);
		free(buf);
		frames++;
		if (rc < 0)
			break;
	}
	if (w < 0)
		log_info("%s: closed %s: idle for %d s (--idle-timeout)", s->name, c->peer,
			 (s->o.idle_timeout_ms > 0 ? s->o.idle_timeout_ms : STAGE_IDLE_TIMEOUT_MS) / 1000);
	net_counters(c->up, &out, &in);
	log_info("%s: %s closed after %llu frames: %llu bytes in, %llu bytes out", s->name,
		 c->peer, (unsigned long long)frames, (unsigned long long)in, (unsigned long long)out);
}

/* ---- the handshake budget (conn_lock held) ---- */

static int pending_of(const struct stage_server *s, const char *host)
{
	int n = 0;
	for (int i = 0; i < s->n_pending; i++)
		n += strcmp(s->pending[i].c->host, host) == 0;
	return n;
}

/* Cuts off the oldest handshake of host (NULL: of the address holding the
 * most); its thread sees the link close and ends. */
static void evict(struct stage_server *s, const char *host)
{
	int victim = -1, most = 0;
	for (int i = 0; i < s->n_pending; i++) {
		const struct pending *p = &s->pending[i];
		int n = host ? strcmp(p->c->host, host) == 0 : pending_of(s, p->c->host);
		if (n > most || (n == most && n > 0 && p->since < s->pending[victim].since))
			victim = i, most = n;
	}
	if (victim < 0)
		return;
	s->cut_off++;
	struct pending *p = &s->pending[victim];
	if (p->ctl >= 0) {
		shutdown(p->ctl, SHUT_RDWR);
		close(p->ctl);
	}
	*p = s->pending[--s->n_pending];
}

static void pend(struct stage_server *s, struct stage_conn *c)
{
	if (pending_of(s, c->host) >= STAGE_HANDSHAKES_PER_ADDRESS)
		evict(s, c->host);
	else if (s->n_pending == STAGE_HANDSHAKES)
		evict(s, NULL);
	s->pending[s->n_pending++] = (struct pending){
		.c = c, .ctl = fcntl(c->fd, F_DUPFD_CLOEXEC, 0), .since = now_s()};
}

/* Ends the handshake of c: false when it had been cut off. */
static bool unpend(struct stage_server *s, struct stage_conn *c)
{
	bool found = false;
	pthread_mutex_lock(&s->conn_lock);
	for (int i = 0; i < s->n_pending; i++)
		if (s->pending[i].c == c) {
			if (s->pending[i].ctl >= 0)
				close(s->pending[i].ctl);
			s->pending[i] = s->pending[--s->n_pending];
			found = true;
			break;
		}
	pthread_mutex_unlock(&s->conn_lock);
	return found;
}

static bool take_slot(struct stage_server *s)
{
	int limit = s->o.max_connections > 0 ? s->o.max_connections : 64;
	pthread_mutex_lock(&s->conn_lock);
	bool ok = s->active < limit;
	s->active += ok;
	pthread_mutex_unlock(&s->conn_lock);
	return ok;
}

static void *conn_main(void *arg)
{
	struct stage_conn *c = arg;
	struct stage_server *s = c->srv;
	struct exo_err e = {0};
	struct proto_msg hello;
	char why[sizeof e.msg] = "";
	int rc = net_accept(c->fd, &s->o.net, &c->up, &e);
	if (rc < 0)
		snprintf(why, sizeof why, "%s", e.msg);
	else
		rc = read_hello(c, &hello, why, sizeof why);
	if (!unpend(s, c)) {
		log_debug("%s: cut off %s: its handshake made way for a newer one", s->name, c->peer);
	} else if (rc < 0) {
		log_warn("%s: refused %s: %s", s->name, c->peer, why);
	} else if (!take_slot(s)) {
		log_warn("%s: refused %s: too many connections (--max-connections)", s->name, c->peer);
		reply_error(c, "busy", "%s: too many connections", s->name);
	} else {
		if (answer_hello(c, &hello) == 0)
			serve_frames(c);
		pthread_mutex_lock(&s->conn_lock);
		s->active--;
		pthread_mutex_unlock(&s->conn_lock);
	}
	net_close(c->up);
	close_down(c);
	free(c->x), free(c->y), free(c->wire);
	eng_sampler_free(c->sampler);
	free(c);
	pthread_mutex_lock(&s->conn_lock);
	s->threads--;
	pthread_cond_broadcast(&s->conn_done);
	pthread_mutex_unlock(&s->conn_lock);
	return NULL;
}

static void peer_name(int fd, struct stage_conn *c)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	int port = 0;
	snprintf(c->host, sizeof c->host, "?");
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0) {
		if (ss.ss_family == AF_INET) {
			struct sockaddr_in *a = (struct sockaddr_in *)&ss;
			inet_ntop(AF_INET, &a->sin_addr, c->host, sizeof c->host);
			port = ntohs(a->sin_port);
		} else if (ss.ss_family == AF_INET6) {
			struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
			inet_ntop(AF_INET6, &a->sin6_addr, c->host, sizeof c->host);
			port = ntohs(a->sin6_port);
		}
	}
	snprintf(c->peer, sizeof c->peer, ss.ss_family == AF_INET6 ? "[%s]:%d" : "%s:%d", c->host, port);
}

static void accept_one(struct stage_server *s)
{
	int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	struct stage_conn *c = calloc(1, sizeof *c);
	if (!c) {
		close(fd);
		return;
	}
	c->srv = s, c->fd = fd;
	peer_name(fd, c);
	pthread_mutex_lock(&s->conn_lock);
	s->threads++;
	pend(s, c);
	/* one line per 10 s, not one per peer: a flood must not fill the log */
	double now = now_s();
	if (s->cut_off && now - s->cut_reported >= 10) {
		log_warn("%s: cut off %ld handshakes that had not finished, for newer connections "
			 "(the latest from %s)", s->name, s->cut_off, c->host);
		s->cut_off = 0, s->cut_reported = now;
	}
	pthread_mutex_unlock(&s->conn_lock);
	pthread_t t;
	pthread_attr_t at;
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &at, conn_main, c) != 0) {
		log_warn("%s: refused %s: cannot start a thread", s->name, c->peer);
		unpend(s, c);
		close(fd);
		free(c);
		pthread_mutex_lock(&s->conn_lock);
		s->threads--;
		pthread_mutex_unlock(&s->conn_lock);
	}
	pthread_attr_destroy(&at);
}

int stage_run(struct stage_server *s, volatile sig_atomic_t *stop, struct exo_err *e)
{
	s->stop = stop;
	log_info("%s: layers %d..%d of %s@%s on %s", s->name, s->me.first, s->me.last - 1,
		 s->me.model, s->me.revision, s->o.listen);
	struct pollfd p = {.fd = s->listen_fd, .events = POLLIN};
	while (!*stop) {
		int r = poll(&p, 1, 200);
		if (r > 0)
			accept_one(s);
		else if (r < 0 && errno != EINTR)
			return exo_error(e, EXO_IOERR, "%s: poll: %s", s->o.listen, strerror(errno));
	}
	close(s->listen_fd);
	s->listen_fd = -1;
	pthread_mutex_lock(&s->conn_lock); /* frames in flight finish; idle links notice the stop */
	while (s->threads > 0)
		pthread_cond_wait(&s->conn_done, &s->conn_lock);
	pthread_mutex_unlock(&s->conn_lock);
	log_info("%s: stopped", s->name);
	return 0;
}
