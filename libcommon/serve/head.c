/* The head: token histories, the local layers, a pool of links to the next
 * stage (one per generation in flight), re-sending a history to a stage
 * that lost it and retrying an unreachable one. */
#include "serve/head.h"
#include "kernels/kern.h"
#include "model/checkpoint.h"
#include "serve/serve.h"
#include "util/log.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define POOL_MAX 64
#define MAX_RESENDS 8

enum { STEP_OK = 0, STEP_FAIL = -1, STEP_LOST = -2, STEP_RETRY = -3 };

struct hsess {
	int32_t *hist;
	size_t n, cap;
	size_t sent;                /* positions the chain holds */
	uint64_t scope;             /* reuse_scope of the requests that made it; 0: none */
	struct eng_kv *kv;          /* the local layers' cache */
};

struct head {
	struct head_opts o;
	struct eng_stage *eng;
	bool own_eng;
	pthread_mutex_t own_lock, *lock;
	struct model_config cfg;
	struct serve_ident me;
	int next_index;             /* the stage after the local layers */
	pthread_mutex_t mu;         /* the pool, the sessions, the context */
	int context;
	struct net_link *idle[POOL_MAX];
	int n_idle;
	struct sess_table *sessions;
	uint64_t salt;              /* session ids on the wire: the caller's, salted */
	uint64_t next_reuse_id;     /* ids of reused sessions: top bit set, counting */
};

/* A token as the draw gives it (serve_draw), here or at the last stage. */
struct drawn {
	int32_t token;
	float logprob;
	bool eos;                   /* one of the request's sampling.eos */
};

/* What one generation works with. */
struct head_gen {
	struct head *h;
	struct net_link *link;
	struct hsess *s;
	uint64_t wire_id;
	size_t end;                 /* the step feeds history[sent, end) */
	float *hidden, *out;        /* [n, hidden] and [n, vocab] */
	size_t hidden_cap, out_cap;
	void *wire;                 /* the hidden block in the hand-over type (not f32) */
	size_t wire_cap;
	struct eng_sampler *sampler; /* made at the first draw, reseeded at each */
};

static void hsess_free(void *p)
{
	struct hsess *s = p;
	if (!s)
		return;
	eng_kv_free(s->kv);
	free(s->hist);
	free(s);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int take_link(struct head *h, struct net_link **l, struct exo_err *e)
{
	pthread_mutex_lock(&h->mu);
	*l = h->n_idle ? h->idle[--h->n_idle] : NULL;
	pthread_mutex_unlock(&h->mu);
	if (*l)
		return 0;
	struct proto_msg answer;
	if (serve_connect(h->o.next, h->next_index, &h->o.net, &h->me, l, &answer, e) < 0)
		return -1;
	pthread_mutex_lock(&h->mu);
	if (answer.context > 0 && answer.context < h->context)
		h->context = answer.context;
	pthread_mutex_unlock(&h->mu);
	return 0;
}

static void give_link(struct head *h, struct net_link *l)
{
	if (!l)
		return;
	pthread_mutex_lock(&h->mu);
	if (h->n_idle < POOL_MAX)
		h->idle[h->n_idle++] = l, l = NULL;
	pthread_mutex_unlock(&h->mu);
	net_close(l);
}

struct head *head_open(const struct head_opts *o, struct exo_err *e)
{
	struct head *h = calloc(1, sizeof *h);
	if (!h) {
		exo_error(e, EXO_SOFTWARE, "out of memory");
		return NULL;
	}
	h->o = *o;
	if (h->o.retry_ms <= 0)
		h->o.retry_ms = 10000;
	pthread_mutex_init(&h->mu, NULL);
	pthread_mutex_init(&h->own_lock, NULL);
	h->lock = o->stage_lock ? o->stage_lock : &h->own_lock;
	char dir[4096];
	if (serve_model_identity(o->model, h->me.model, sizeof h->me.model, h->me.revision,
				 sizeof h->me.revision, e) < 0 ||
	    ckpt_resolve(o->model, dir, sizeof dir, e) < 0 || model_config_load(&h->cfg, dir, e) < 0)
		goto fail;
	if (o->local_layers > 0) {
		h->eng = o->stage;
		if (!h->eng) {
			h->eng = eng_stage_open(o->model, 0, o->local_layers, &o->eng, e);
			h->own_eng = true;
		}
		if (!h->eng)
			goto fail;
		if (eng_first_layer(h->eng) != 0 || eng_last_layer(h->eng) != o->local_layers) {
			exo_error(e, EXO_SOFTWARE, "head: the stage given holds layers %d..%d, not 0..%d",
				  eng_first_layer(h->eng), eng_last_layer(h->eng) - 1, o->local_layers - 1);
			goto fail;
		}
		h->context = eng_context(h->eng);
	} else {
		h->context = o->eng.ctx > 0 ? o->eng.ctx : h->cfg.max_pos < 4096 ? h->cfg.max_pos : 4096;
	}
	if (!o->next && (o->local_layers < h->cfg.n_layers)) {
		exo_error(e, EXO_USAGE, "the head holds layers 0..%d of %d and no next stage is given",
			  o->local_layers - 1, h->cfg.n_layers);
		goto fail;
	}
	h->me.first = 0, h->me.last = o->local_layers > 0 ? o->local_layers : 0;
	h->me.stage = o->local_layers > 0 ? 0 : -1, h->me.role = "head";
	h->next_index = o->local_layers > 0 ? 1 : 0;
	h->sessions = sess_table_new(o->max_sessions > 0 ? (size_t)o->max_sessions : 16, hsess_free);
	randombytes_buf(&h->salt, sizeof h->salt);
	struct net_link *l;
	struct exo_err ce;
	if (o->next && take_link(h, &l, &ce) == 0) /* learn the chain's context early */
		give_link(h, l);
	else if (o->next)
		log_info("head: %s (retried on the first request)", ce.msg);
	return h;
fail:
	head_close(h);
	return NULL;
}

void head_close(struct head *h)
{
	if (!h)
		return;
	for (int i = 0; i < h->n_idle; i++)
		net_close(h->idle[i]);
	sess_table_free(h->sessions);
	if (h->own_eng)
		eng_stage_close(h->eng);
	pthread_mutex_destroy(&h->mu);
	pthread_mutex_destroy(&h->own_lock);
	free(h);
}

const struct model_config *head_config(const struct head *h)
{
	return &h->cfg;
}

int head_context(const struct head *h)
{
	pthread_mutex_t *mu = (pthread_mutex_t *)&h->mu;
	pthread_mutex_lock(mu);
	int c = h->context;
	pthread_mutex_unlock(mu);
	return c;
}

static bool grow(float **p, size_t *cap, size_t count)
{
	if (*cap >= count)
		return true;
	float *n = realloc(*p, count * sizeof *n);
	if (!n)
		return false;
	*p = n, *cap = count;
	return true;
}

/* The local layers over history[from, g->end); the last stage's outputs
 * when they are all the model's layers. */
static int local_forward(struct head_gen *g, size_t from, enum eng_output what, struct exo_err *e)
{
	struct head *h = g->h;
	struct hsess *s = g->s;
	size_t n = g->end - from, width = what == ENG_OUT_HIDDEN ? (size_t)h->cfg.hidden : (size_t)h->cfg.vocab;
	size_t rows = what == ENG_OUT_LAST_LOGITS ? 1 : n;
	float **dst = what == ENG_OUT_HIDDEN ? &g->hidden : &g->out;
	size_t *cap = what == ENG_OUT_HIDDEN ? &g->hidden_cap : &g->out_cap;
	if (!grow(dst, cap, rows * width))
		return exo_error(e, EXO_SOFTWARE, "out of memory");
	pthread_mutex_lock(h->lock);
	int rc = 0;
	if (!s->kv && !(s->kv = eng_kv_new(h->eng, e)))
		rc = -1;
	if (rc == 0) {
		eng_kv_truncate(s->kv, (int)from);
		rc = eng_forward(h->eng, s->kv, s->hist + from, NULL, n, what, *dst, e);
		if (rc < 0)
			eng_kv_truncate(s->kv, (int)from);
	}
	pthread_mutex_unlock(h->lock);
	return rc;
}

/* The token at pos from the logits in g->out, as the last stage draws it. */
static void draw(struct head_gen *g, const struct eng_sampling *sp, int pos, struct drawn *d)
{
	d->token = serve_draw(&g->sampler, sp, pos, g->out, (size_t)g->h->cfg.vocab, &d->logprob,
			      &d->eos);
}

static int remote_answer(struct head_gen *g, enum proto_want want, struct drawn *d, struct exo_err *e)
{
	char *buf = NULL;
	size_t len;
	struct proto_msg m;
	if (serve_recv_answer(g->link, &buf, &len, e) < 0) {
		char name[300];
		serve_stage_name(name, sizeof name, g->h->next_index, g->h->o.next);
		exo_error_prefix(e, "%s", name);
		return STEP_RETRY;
	}
	if (proto_decode(buf, len, &m, e) < 0) {
		free(buf);
		return STEP_RETRY;
	}
	int rc = STEP_OK;
	size_t V = (size_t)g->h->cfg.vocab, rows = want == PROTO_WANT_ALL_LOGITS ? g->end - g->s->sent : 1;
	if (m.op == PROTO_ERROR) {
		exo_error(e, proto_error_status(m.code), "%s", m.message);
		rc = strcmp(m.code, "session_unknown") == 0 ? STEP_LOST :
		     strcmp(m.code, "unavailable") == 0 || strcmp(m.code, "busy") == 0 ? STEP_RETRY : STEP_FAIL;
	} else if (m.op != PROTO_RESULT || m.session != g->wire_id) {
		exo_error(e, EXO_DATAERR, "answered a forward with a %s frame", proto_op_name(m.op));
		rc = STEP_RETRY;
	} else if (want == PROTO_WANT_TOKEN) {
		if (m.logits || m.token >= (int32_t)V) {
			exo_error(e, EXO_DATAERR, "answered with no token of the vocabulary");
			rc = STEP_FAIL;
		}
		d->token = m.token, d->logprob = (float)m.logprob, d->eos = m.eos;
	} else if (!m.logits || m.rows != rows || m.cols != V || !grow(&g->out, &g->out_cap, rows * V)) {
		exo_error(e, EXO_DATAERR, "answered without logits [%zu, %zu]", rows, V);
		rc = STEP_FAIL;
	} else {
		memcpy(g->out, m.logits, rows * V * sizeof(float));
	}
	proto_msg_free(&m);
	free(buf);
	return rc;
}

/* The local layers' hidden block of n positions as the forward's data, in
 * the hand-over type (a stage's --handover: f16/bf16 halve the bytes). */
static int handover(struct head_gen *g, size_t n, struct proto_msg *m)
{
	int dt = g->h->o.handover;
	size_t count = n * (size_t)g->h->cfg.hidden;
	m->dtype = dt, m->hidden = (size_t)g->h->cfg.hidden;
	m->data = g->hidden, m->data_len = count * sizeof(float);
	if (dt == PROTO_F32)
		return 0;
	if (count * 2 > g->wire_cap) {
		void *w = realloc(g->wire, count * 2);
		if (!w)
			return -1;
		g->wire = w, g->wire_cap = count * 2;
	}
	kern_select()->from_f32[dt](g->hidden, g->wire, count);
	m->data = g->wire, m->data_len = count * 2;
	return 0;
}

/* Feed history[sent, n) through the chain, at most opts.chunk positions (all of
 * them for all_logits); the token that follows, or the logits (in g->out)
 * when want asks for them. */
static int step(struct head_gen *g, enum proto_want want, const struct eng_sampling *sp, struct drawn *d,
		struct exo_err *e)
{
	struct head *h = g->h;
	struct hsess *s = g->s;
	size_t from = s->sent;
	size_t chunk = h->o.chunk > 0 ? (size_t)h->o.chunk : 256;
	g->end = want == PROTO_WANT_ALL_LOGITS || s->n - from <= chunk ? s->n : from + chunk;
	size_t n = g->end - from;
	if (!h->o.next) { /* every layer here */
		enum eng_output what = want == PROTO_WANT_ALL_LOGITS ? ENG_OUT_LOGITS : ENG_OUT_LAST_LOGITS;
		if (local_forward(g, from, what, e) < 0)
			return STEP_FAIL;
		if (want == PROTO_WANT_TOKEN)
			draw(g, sp, (int)g->end, d);
		return STEP_OK;
	}
	if (h->eng && local_forward(g, from, ENG_OUT_HIDDEN, e) < 0)
		return STEP_FAIL;
	if (!g->link && take_link(h, &g->link, e) < 0) /* a refusal is final; an absence is not */
		return e->code == EXO_CONFIG || e->code == EXO_NOPERM ? STEP_FAIL : STEP_RETRY;
	struct proto_msg m;
	proto_msg_init(&m, PROTO_FORWARD);
	m.session = g->wire_id, m.pos = (int)from, m.n = n, m.want = want;
	m.sampling = *sp;
	if (h->eng) {
		if (handover(g, n, &m) < 0) {
			exo_error(e, EXO_SOFTWARE, "out of memory");
			return STEP_FAIL;
		}
	} else {
		m.tokens = s->hist + from;
	}
	int sent = serve_send(g->link, &m, e);
	int rc = sent < 0 ? STEP_RETRY : remote_answer(g, want, d, e);
	if (rc == STEP_RETRY && g->link) {
		net_close(g->link);
		g->link = NULL;
	}
	return rc;
}

/* step() until it works: re-send the history to a stage that lost it,
 * retry an unreachable one for retry_ms. */
static int step_retrying(struct head_gen *g, enum proto_want want, const struct eng_sampling *sp,
			 struct drawn *d, int *resends, struct exo_err *e)
{
	double deadline = now_s() + g->h->o.retry_ms / 1000.0;
	int backoff_ms = 50, lost = 0;
	for (;;) {
		int rc = step(g, want, sp, d, e);
		if (rc == STEP_OK) {
			g->s->sent = g->end;
			if (g->end < g->s->n) /* a chunk of a long prompt: its token is not wanted */
				continue;
			return 0;
		}
		if (rc == STEP_FAIL)
			return -1;
		if (rc == STEP_LOST) {
			log_info("head: %s", e->msg);
			if (++lost > MAX_RESENDS)
				return exo_error(e, EXO_UNAVAILABLE, "%s (after %d re-sends)", e->msg, lost - 1);
			g->s->sent = 0;
			(*resends)++;
			continue;
		}
		if (now_s() >= deadline) {
			e->code = EXO_UNAVAILABLE;
			return -1;
		}
		log_info("head: %s; retrying in %d ms", e->msg, backoff_ms);
		struct timespec ts = {backoff_ms / 1000, (long)(backoff_ms % 1000) * 1000000};
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
		backoff_ms = backoff_ms * 2 > 1000 ? 1000 : backoff_ms * 2;
	}
}

/* The context and the vocabulary are checked where the positions arrive,
 * by the stage that holds them (eng_check_context, the embedding), and
 * their refusal comes back once, as the stage worded it. */
static int check_prompt(size_t n, struct exo_err *e)
{
	return n == 0 ? exo_error(e, EXO_DATAERR, "the prompt is empty") : 0;
}

static int push(struct hsess *s, int32_t t)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		int32_t *n = realloc(s->hist, cap * sizeof *n);
		if (!n)
			return -1;
		s->hist = n, s->cap = cap;
	}
	s->hist[s->n++] = t;
	return 0;
}

static size_t common_prefix(const int32_t *a, size_t na, const int32_t *b, size_t nb)
{
	size_t i = 0;
	while (i < na && i < nb && a[i] == b[i])
		i++;
	return i;
}

struct reuse_query {
	uint64_t scope;
	const int32_t *prompt;
	size_t n;
};

/* How much of a kept session a prompt would reuse: the shared prefix, when
 * the prompt continues that conversation (shares at least half of it; a
 * prompt that only shares a system prompt starts its own, so that two
 * conversations do not keep truncating one cache). */
static size_t reuse_score(const void *value, void *arg)
{
	const struct hsess *s = value;
	const struct reuse_query *q = arg;
	if (s->scope != q->scope)
		return 0;
	size_t common = common_prefix(s->hist, s->n, q->prompt, q->n);
	return common * 2 >= s->n ? common : 0;
}

/* The id of a request's session: its own, the reused one of its scope, or
 * a new reusable one.  *s is the kept session taken from the table, if any. */
static uint64_t take_session(struct head *h, const struct head_request *r, struct hsess **s)
{
	uint64_t id = r->session;
	*s = NULL;
	pthread_mutex_lock(&h->mu);
	if (id) {
		*s = sess_take(h->sessions, id);
	} else if (r->reuse_scope) {
		struct reuse_query q = {r->reuse_scope, r->prompt, r->n_prompt};
		if (!(*s = sess_take_best(h->sessions, reuse_score, &q, &id)))
			id = (UINT64_C(1) << 63) | ++h->next_reuse_id;
	}
	pthread_mutex_unlock(&h->mu);
	return id;
}

/* The session for a request: the kept one (its positions past what the new
 * prompt shares with it forgotten), or a fresh one. */
static struct hsess *open_session(struct head_gen *g, uint64_t id, struct hsess *s, uint64_t scope,
				  const int32_t *p, size_t n)
{
	if (!s && !(s = calloc(1, sizeof *s)))
		return NULL;
	s->scope = scope;
	size_t common = common_prefix(s->hist, s->n, p, n);
	if (s->sent > common)
		s->sent = common;
	if (s->sent == n && n > 0)
		s->sent = n - 1; /* the last prompt position is fed again to get its token */
	s->n = 0;
	for (size_t i = 0; i < n; i++)
		if (push(s, p[i]) < 0) {
			hsess_free(s);
			return NULL;
		}
	g->wire_id = id ? id ^ g->h->salt : 0;
	if (!g->wire_id)
		randombytes_buf(&g->wire_id, sizeof g->wire_id);
	return s;
}

static void close_session(struct head_gen *g, uint64_t id)
{
	struct head *h = g->h;
	if (g->link && !id) { /* a one-off session: the stages drop it now */
		struct proto_msg m;
		struct exo_err e;
		proto_msg_init(&m, PROTO_END);
		m.session = g->wire_id;
		if (serve_send(g->link, &m, &e) < 0) {
			net_close(g->link);
			g->link = NULL;
		}
	}
	give_link(h, g->link);
	if (id) {
		pthread_mutex_lock(&h->mu);
		if (sess_put(h->sessions, id, g->s, NULL) < 0)
			hsess_free(g->s);
		pthread_mutex_unlock(&h->mu);
	} else {
		hsess_free(g->s);
	}
	free(g->hidden), free(g->out), free(g->wire);
	eng_sampler_free(g->sampler);
}

static int generate(struct head_gen *g, const struct head_request *r, head_token_cb cb, void *arg,
		    struct head_result *res, struct exo_err *e)
{
	struct head *h = g->h;
	int ctx = head_context(h);
	enum proto_want want = r->on_logits ? PROTO_WANT_LOGITS : PROTO_WANT_TOKEN;
	double t0 = now_s();
	res->finish = HEAD_LENGTH;
	for (int k = 0; r->want_logits ? k < 1 : k < r->max_tokens; k++) {
		struct drawn d = {0};
		if (step_retrying(g, want, &r->sampling, &d, &res->resends, e) < 0)
			return -1;
		if (k == 0)
			res->prefill_s = now_s() - t0;
		if (r->on_logits) {
			r->on_logits(r->logits_arg, g->out, (size_t)h->cfg.vocab);
			if (r->want_logits)
				break;
			draw(g, &r->sampling, (int)g->s->n, &d);
		}
		if (d.token < 0 || push(g->s, d.token) < 0)
			return exo_error(e, EXO_SOFTWARE, "out of memory");
		res->n_generated++;
		if (cb && cb(arg, d.token, d.logprob, d.eos)) {
			res->finish = HEAD_CANCELLED;
			break;
		}
		if (d.eos) {
			res->finish = HEAD_STOP;
			break;
		}
		if (g->s->n >= (size_t)ctx)
			break;
	}
	res->decode_s = now_s() - t0 - res->prefill_s;
	return 0;
}

int head_generate(struct head *h, const struct head_request *r, head_token_cb cb, void *arg,
		  struct head_result *res, struct exo_err *e)
{
	struct head_result tmp;
	res = res ? res : &tmp;
	memset(res, 0, sizeof *res);
	res->n_prompt = r->n_prompt;
	if (check_prompt(r->n_prompt, e) < 0)
		return -1;
	struct head_gen g = {.h = h};
	struct hsess *kept;
	uint64_t id = take_session(h, r, &kept);
	if (!(g.s = open_session(&g, id, kept, r->session ? 0 : r->reuse_scope, r->prompt,
				 r->n_prompt)))
		return exo_error(e, EXO_SOFTWARE, "out of memory");
	res->n_reused = g.s->sent;
	int rc = generate(&g, r, cb, arg, res, e);
	close_session(&g, id);
	return rc;
}

static int logits_of(struct head *h, const int32_t *tokens, size_t n, bool all, float *logits,
		     struct exo_err *e)
{
	if (check_prompt(n, e) < 0)
		return -1;
	struct head_gen g = {.h = h};
	if (!(g.s = open_session(&g, 0, NULL, 0, tokens, n)))
		return exo_error(e, EXO_SOFTWARE, "out of memory");
	struct eng_sampling sp;
	eng_sampling_defaults(&sp);
	struct drawn d;
	int resends = 0;
	int rc = step_retrying(&g, all ? PROTO_WANT_ALL_LOGITS : PROTO_WANT_LOGITS, &sp, &d, &resends,
			       e);
	if (rc == 0)
		memcpy(logits, g.out, (all ? n : 1) * (size_t)h->cfg.vocab * sizeof(float));
	close_session(&g, 0);
	return rc;
}

int head_logits(struct head *h, const int32_t *tokens, size_t n, float *logits, struct exo_err *e)
{
	return logits_of(h, tokens, n, false, logits, e);
}

int head_logits_all(struct head *h, const int32_t *tokens, size_t n, float *logits,
		    struct exo_err *e)
{
	return logits_of(h, tokens, n, true, logits, e);
}
