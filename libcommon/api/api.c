/* The HTTP side of the API: a libmicrohttpd daemon with a thread per
 * connection (so a streaming reader may block on its generation), a
 * connection limit (half of it per client address), an idle timeout
 * and deadlines for the request header and body (a connection costs a
 * thread until it ends), the route, key, method and body size checked
 * when the headers are complete (before a byte of the body is read),
 * routing, and the JSON answers. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "api/api_int.h"
#include "hub/cache.h"
#include "util/err.h"
#include "util/file.h"
#include "util/log.h"

#ifndef API_IDLE_TIMEOUT_S
#define API_IDLE_TIMEOUT_S 30
#endif
#define STACK_BYTES (1u << 20)

/* One HTTP request: its body as it arrives. */
struct api_conn {
	const char *route;          /* metrics label */
	char *body;
	size_t len, cap;
	bool too_big;
	size_t dropped;             /* bytes of a too big body thrown away */
	bool generating;            /* the idle timeout is off meanwhile */
	bool takes_body;            /* a generation route: the body is kept */
};

static const char *const routes[] = {"/v1/chat/completions", "/v1/completions", "/v1/models",
				     "/healthz", "/metrics"};

static const char *route_label(const char *url)
{
	for (size_t i = 0; i < sizeof routes / sizeof *routes; i++)
		if (strcmp(url, routes[i]) == 0)
			return routes[i];
	return strncmp(url, "/v1/models/", 11) == 0 ? "/v1/models" : "other";
}

static enum MHD_Result queue(struct api_server *s, struct api_conn *k, struct MHD_Connection *c,
			     int status, char *body, const char *type)
{
	struct MHD_Response *r =
		MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
	enum MHD_Result ret;

	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (status == 405)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW,
					strcmp(k->route, "/v1/chat/completions") == 0 ||
							strcmp(k->route, "/v1/completions") == 0
						? "POST"
						: "GET");
	ret = MHD_queue_response(c, (unsigned)status, r);
	MHD_destroy_response(r);
	metrics_request(&s->m, k->route, status);
	return ret;
}

static enum MHD_Result queue_json(struct api_server *s, struct api_conn *k, struct MHD_Connection *c,
				  int status, json_t *j)
{
	char *body = json_dumps(j, JSON_COMPACT);

	json_decref(j);
	return queue(s, k, c, status, body, "application/json");
}

static enum MHD_Result queue_fault(struct api_server *s, struct api_conn *k, struct MHD_Connection *c,
				   const struct api_fault *f)
{
	return queue_json(s, k, c, f->status, api_fault_json(f));
}

static enum MHD_Result count_auth(void *cls, enum MHD_ValueKind kind, const char *key,
				  const char *value)
{
	(void)kind, (void)value;
	if (strcasecmp(key, MHD_HTTP_HEADER_AUTHORIZATION) == 0)
		(*(int *)cls)++;
	return MHD_YES;
}

static int authorize(struct api_server *s, struct MHD_Connection *c, struct api_fault *f)
{
	const char *value = NULL;
	size_t len = 0;
	int n = 0;

	if (!s->auth)
		return 0;
	MHD_get_connection_values(c, MHD_HEADER_KIND, count_auth, &n);
	if (MHD_lookup_connection_value_n(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION,
					  strlen(MHD_HTTP_HEADER_AUTHORIZATION), &value,
					  &len) != MHD_YES)
		value = NULL, len = 0;
	/* libmicrohttpd ends a value at a NUL byte and drops the rest of the
	 * line: it wrote NULs over the line's CR LF, so a value followed by
	 * anything else had a NUL inside ("Bearer KEY\0x") */
	if (value && value[len + 1] != '\0')
		return api_fault_set(f, 401, "authentication_error", "invalid_api_key", NULL,
				     "the Authorization header holds a NUL byte");
	return api_check_auth(s->auth, value, len, n, f);
}

static json_t *model_json(struct api_server *s)
{
	json_t *m = json_pack("{s:s, s:s, s:I, s:s}", "id", s->model_id, "object", "model", "created",
			      (json_int_t)s->created, "owned_by", "exo");
	if (s->quant_bits)
		json_object_set_new(m, "quantization",
				    json_pack("{s:s, s:i, s:i, s:f}", "mode", "affine", "bits", s->quant_bits,
					      "group_size", s->quant_group,
					      "bits_per_weight", s->quant_bits + 32.0 / s->quant_group));
	return m;
}

static enum MHD_Result do_models(struct api_server *s, struct api_conn *k, struct MHD_Connection *c,
				 const char *url)
{
	struct api_fault f;

	if (strcmp(url, "/v1/models") == 0)
		return queue_json(s, k, c, 200,
				  json_pack("{s:s, s:[o]}", "object", "list", "data", model_json(s)));
	if (strcmp(url + 11, s->model_id) == 0)
		return queue_json(s, k, c, 200, model_json(s));
	api_fault_set(&f, 404, "invalid_request_error", "model_not_found", "model",
		      "the model '%.200s' does not exist (this server serves '%.200s')", url + 11,
		      s->model_id);
	return queue_fault(s, k, c, &f);
}

/* Every stage answers: a one-token forward through the whole chain, timed. */
static enum MHD_Result do_health(struct api_server *s, struct api_conn *k, struct MHD_Connection *c)
{
	const struct model_config *mc = head_config(s->head);
	struct exo_err e = {0};
	struct timespec t0, t1;
	float *logits = xmalloc((size_t)mc->vocab * sizeof *logits);
	int32_t probe = tok_bos(s->tok) >= 0 ? tok_bos(s->tok) : 0;
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = head_logits(s->head, &probe, 1, logits, &e);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	free(logits);
	if (rc) {
		struct api_fault f;
		api_fault_set(&f, 503, "service_unavailable", "stage_unavailable", NULL, "%s", e.msg);
		return queue_fault(s, k, c, &f);
	}
	metrics_stage(&s->m, 0, (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	return queue_json(s, k, c, 200, json_pack("{s:s, s:s}", "status", "ok", "model", s->model_id));
}

static json_t *answer_json(struct api_gen *g)
{
	bool chat = g->req.kind == API_CHAT;
	json_t *text = json_stringn(g->text ? g->text : "", g->len);
	json_t *choice = chat ? json_pack("{s:i, s:{s:s, s:o}, s:n, s:s}", "index", 0, "message",
					  "role", "assistant", "content", text, "logprobs",
					  "finish_reason", gen_finish_reason(g))
			      : json_pack("{s:i, s:o, s:n, s:s}", "index", 0, "text", text,
					  "logprobs", "finish_reason", gen_finish_reason(g));
	json_t *a = json_pack("{s:s, s:s, s:I, s:s, s:[o], s:o}", "id", g->id, "object",
			      chat ? "chat.completion" : "text_completion", "created",
			      (json_int_t)g->created, "model", g->s->model_id, "choices", choice,
			      "usage", gen_usage(g));

	if (chat)
		json_object_set_new(a, "system_fingerprint", json_string("exo-" EXO_VERSION));
	return a;
}

static enum MHD_Result answer(struct api_server *s, struct api_conn *k, struct MHD_Connection *c,
			      struct api_gen *g)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	if (!g->req.stream) {
		gen_wait(g, true);
		ret = g->fault.status ? queue_fault(s, k, c, &g->fault)
				      : queue_json(s, k, c, 200, answer_json(g));
		gen_unref(g);
		return ret;
	}
	/* the status line waits for the first token, so a stage that is down
	 * is still a 503 and not a stream that fails */
	gen_wait(g, false);
	if (g->done && g->fault.status) {
		ret = queue_fault(s, k, c, &g->fault);
		gen_unref(g);
		return ret;
	}
	r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, gen_sse_read, g, gen_sse_free);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
	ret = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	metrics_request(&s->m, k->route, 200);
	return ret;
}

static enum MHD_Result do_generate(struct api_server *s, struct api_conn *k, struct MHD_Connection *c,
				   enum api_kind kind)
{
	struct api_request req;
	struct api_fault f;
	const union MHD_ConnectionInfo *ci;

	if (api_request_parse(kind, k->body ? k->body : "", k->len, &req, &f))
		return queue_fault(s, k, c, &f);
	if (strcmp(req.model, s->model_id) != 0) {
		api_fault_set(&f, 404, "invalid_request_error", "model_not_found", "model",
			      "the model '%.200s' does not exist (this server serves '%.200s')",
			      req.model, s->model_id);
		api_request_free(&req);
		return queue_fault(s, k, c, &f);
	}
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	/* the idle timeout is for idle clients, not for one waiting on a slow
	 * prefill or token: off until this request completes */
	MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, 0u);
	k->generating = true;
	return answer(s, k, c, gen_start(s, &req, ci ? ci->connect_fd : -1));
}

/* What can be refused from the request line and headers alone, before a
 * byte of the body is read: an unknown route (404), a missing or wrong key
 * (401), a wrong method (405), an announced body over the limit (413).
 * Returns 0, or -1 with f filled. */
static int refuse_early(struct api_server *s, struct api_conn *k, struct MHD_Connection *c,
			const char *url, const char *method, struct api_fault *f)
{
	bool get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
	const char *r = k->route,
		   *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);

	if (strcmp(r, "other") == 0)
		return api_fault_set(f, 404, "invalid_request_error", "not_found", NULL,
				     "no route %.16s %.200s", method, url);
	if (strncmp(r, "/v1/", 4) == 0 && authorize(s, c, f))
		return -1;
	if ((k->takes_body && !post) || (!k->takes_body && !get))
		return api_fault_set(f, 405, "invalid_request_error", "method_not_allowed", NULL,
				     "%.16s is not allowed on %s", method, r);
	if (cl && strtoull(cl, NULL, 10) > s->max_body)
		return api_fault_set(f, 413, "invalid_request_error", "request_too_large", NULL,
				     "the request body is over %zu bytes", s->max_body);
	return 0;
}

static enum MHD_Result route(struct api_server *s, struct api_conn *k, struct MHD_Connection *c,
			     const char *url)
{
	const char *r = k->route;

	if (strcmp(r, "/v1/chat/completions") == 0)
		return do_generate(s, k, c, API_CHAT);
	if (strcmp(r, "/v1/completions") == 0)
		return do_generate(s, k, c, API_COMPLETION);
	if (strcmp(r, "/v1/models") == 0)
		return do_models(s, k, c, url);
	if (strcmp(r, "/healthz") == 0)
		return do_health(s, k, c);
	return queue(s, k, c, 200, metrics_text(&s->m), "text/plain; version=0.0.4");
}

static enum MHD_Result too_big(struct api_server *s, struct api_conn *k, struct MHD_Connection *c)
{
	struct api_fault f;

	api_fault_set(&f, 413, "invalid_request_error", "request_too_large", NULL,
		      "the request body is over %zu bytes", s->max_body);
	return queue_fault(s, k, c, &f);
}

/* Keeps the body of a generation request; other routes take none, so what
 * a client sends them is thrown away as it arrives, as is a body that
 * grew over max_body.  Returns false to cut off a sender that goes on. */
static bool take_body(struct api_server *s, struct api_conn *k, const char *upload, size_t n)
{
	if (!k->too_big && k->takes_body && k->len + n > s->max_body) {
		k->too_big = true;
		free(k->body);
		k->body = NULL;
		k->len = 0;
	}
	if (k->too_big || !k->takes_body) {
		k->dropped += n;
		return k->dropped <= 4 * s->max_body;
	}
	if (k->len + n + 1 > k->cap) {
		k->cap = 2 * (k->len + n + 1);
		k->body = xrealloc(k->body, k->cap);
	}
	memcpy(k->body + k->len, upload, n);
	k->len += n;
	return true;
}

/* ---- deadlines ----
 * The idle timeout only counts silence, so a client sending a byte now
 * and then would hold its connection (and thread) for ever.  Each
 * connection therefore has a deadline for its request header, then one for
 * its body in proportion to its size; a guard thread cuts off whoever
 * misses one (shutdown() on a duplicate of its socket, which wakes its
 * thread at once).  While the request is answered there is none. */
struct api_client {
	struct api_client *prev, *next;
	int ctl;                     /* a duplicate of the socket, owned here */
	double deadline;             /* monotonic seconds; 0: none */
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void set_deadline(struct api_server *s, struct api_client *cl, double in_s)
{
	if (!cl)
		return;
	pthread_mutex_lock(&s->guard_mu);
	cl->deadline = in_s > 0 ? now_s() + in_s : 0;
	pthread_mutex_unlock(&s->guard_mu);
}

static void guard_body(struct api_server *s, struct api_client *cl, unsigned long long bytes)
{
	if (bytes > s->max_body)
		bytes = s->max_body;
	set_deadline(s, cl, s->header_s + (double)bytes / s->body_rate);
}

static void guard_off(struct api_server *s, struct api_client *cl)
{
	set_deadline(s, cl, 0);
}

static void guard_next_request(struct api_server *s, struct api_client *cl)
{
	set_deadline(s, cl, API_IDLE_TIMEOUT_S + s->header_s);
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	struct api_server *s = cls;
	struct api_client *cl = *socket_context;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
		cl = xcalloc(1, sizeof *cl);
		cl->ctl = ci ? fcntl(ci->connect_fd, F_DUPFD_CLOEXEC, 0) : -1;
		cl->deadline = now_s() + s->header_s;
		pthread_mutex_lock(&s->guard_mu);
		cl->next = s->clients;
		if (s->clients)
			s->clients->prev = cl;
		s->clients = cl;
		pthread_mutex_unlock(&s->guard_mu);
		*socket_context = cl;
		return;
	}
	if (!cl)
		return;
	pthread_mutex_lock(&s->guard_mu);
	if (cl->prev)
		cl->prev->next = cl->next;
	else
		s->clients = cl->next;
	if (cl->next)
		cl->next->prev = cl->prev;
	pthread_mutex_unlock(&s->guard_mu);
	if (cl->ctl >= 0)
		close(cl->ctl);
	free(cl);
	*socket_context = NULL;
}

static void *guard_main(void *arg)
{
	struct api_server *s = arg;
	/* checks a few times per header deadline, at most 4 times a second */
	double tick = s->header_s / 4 < 0.25 ? s->header_s / 4 : 0.25;

	pthread_mutex_lock(&s->guard_mu);
	while (!s->guard_stop) {
		struct timespec ts;
		double now = now_s();

		for (struct api_client *cl = s->clients; cl; cl = cl->next)
			if (cl->deadline > 0 && now > cl->deadline) {
				cl->deadline = 0;
				if (cl->ctl >= 0)
					shutdown(cl->ctl, SHUT_RDWR);
			}
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += (long)(tick * 1e9);
		ts.tv_sec += ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&s->guard_cv, &s->guard_mu, &ts);
	}
	pthread_mutex_unlock(&s->guard_mu);
	return NULL;
}

/* EXO_API_HEADER_TIMEOUT (seconds, default 10) and EXO_API_BODY_RATE
 * (bytes per second, default 65536): exo-shard-serve(1), ENVIRONMENT. */
static double env_number(const char *name, double fallback)
{
	const char *v = getenv(name);
	char *end;
	double d;

	if (!v || !*v)
		return fallback;
	d = strtod(v, &end);
	if (*end || !(d > 0) || d > 1e9) {
		log_warn("api: %s=%s is not a positive number; using %g", name, v, fallback);
		return fallback;
	}
	return d;
}

static struct api_client *client_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci ? ci->socket_context : NULL;
}

/* The first call comes when the headers are complete: everything that can
 * be refused then is, and the body gets its deadline.  A response queued
 * now makes libmicrohttpd close the connection without reading the body. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	struct api_server *s = cls;
	struct api_conn *k = *con_cls;

	if (!k) {
		const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
							     MHD_HTTP_HEADER_CONTENT_LENGTH);
		struct api_fault f;

		k = *con_cls = xcalloc(1, sizeof *k);
		k->route = route_label(url);
		k->takes_body = strcmp(k->route, "/v1/chat/completions") == 0 ||
				strcmp(k->route, "/v1/completions") == 0;
		if (refuse_early(s, k, c, url, method, &f))
			return queue_fault(s, k, c, &f);
		guard_body(s, client_of(c), cl ? strtoull(cl, NULL, 10) : s->max_body);
		return MHD_YES;
	}
	if (*upload_size) {
		if (!take_body(s, k, upload, *upload_size))
			return MHD_NO;
		*upload_size = 0;
		return MHD_YES;
	}
	guard_off(s, client_of(c));
	if (k->too_big)
		return too_big(s, k, c);
	return route(s, k, c, url);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode code)
{
	struct api_server *s = cls;
	struct api_conn *k = *con_cls;

	if (k && k->generating && code == MHD_REQUEST_TERMINATED_COMPLETED_OK)
		MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT,
					  (unsigned)API_IDLE_TIMEOUT_S);
	/* a kept-alive connection may wait idle, then has the header deadline
	 * for its next request */
	guard_next_request(s, client_of(c));
	if (k) {
		free(k->body);
		free(k);
		*con_cls = NULL;
	}
}

/* "HOST:PORT", "[V6]:PORT", ":PORT" or "HOST" (port 52415). */
static int listen_socket(const char *addr, int *fd, int *port, struct exo_err *e)
{
	char host[256], portstr[16];
	const char *colon = strrchr(addr, ':'), *h = addr;
	size_t hl;
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_PASSIVE}, *ai;
	int rc, one = 1;

	if (addr[0] == '[') {
		const char *end = strchr(addr, ']');
		if (!end)
			return exo_error(e, EXO_USAGE, "api address %s: missing ]", addr);
		h = addr + 1;
		hl = (size_t)(end - h);
		colon = end[1] == ':' ? end + 1 : NULL;
	} else {
		hl = colon ? (size_t)(colon - addr) : strlen(addr);
	}
	if (hl >= sizeof host)
		return exo_error(e, EXO_USAGE, "api address %s: host too long", addr);
	memcpy(host, h, hl);
	host[hl] = 0;
	snprintf(portstr, sizeof portstr, "%s", colon ? colon + 1 : "52415");
	if ((rc = getaddrinfo(hl ? host : NULL, portstr, &hints, &ai)) != 0)
		return exo_error(e, EXO_USAGE, "api address %s: %s", addr, gai_strerror(rc));
	*fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
	if (*fd < 0 || setsockopt(*fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
	    bind(*fd, ai->ai_addr, ai->ai_addrlen) || listen(*fd, 128)) {
		rc = errno;
		freeaddrinfo(ai);
		if (*fd >= 0)
			close(*fd);
		return exo_error(e, EXO_IOERR, "api address %s: %s", addr, strerror(rc));
	}
	freeaddrinfo(ai);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	getsockname(*fd, (struct sockaddr *)&ss, &sl);
	*port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
					       : ((struct sockaddr_in *)&ss)->sin_port);
	return 0;
}

/* Each connection holds a descriptor: make room for the limit. */
static void raise_fd_limit(int connections)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)connections + 256;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < want) {
		rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* A template given with --chat-template must work; the model's own one
 * may not (a construct the interpreter lacks): then completions still work
 * and chat requests are told why they cannot. */
static int load_template(struct api_server *s, const char *file, struct exo_err *e)
{
	char *src = NULL;
	size_t len;
	const char *text = tok_chat_template(s->tok);
	struct exo_err te = {0};

	if (file) {
		if (!(src = file_read_all(file, &len, e)))
			return -1;
		s->tmpl = tmpl_parse(src, file, e);
		free(src);
		return s->tmpl ? 0 : -1;
	}
	if (text && !(s->tmpl = tmpl_parse(text, "chat_template", &te))) {
		snprintf(s->tmpl_error, sizeof s->tmpl_error, "%s", te.msg);
		log_warn("api: the model's chat template cannot be used: %s", te.msg);
	}
	return 0;
}

struct api_server *api_start(struct head *h, const struct tok *t, const struct api_opts *o,
			     struct exo_err *e)
{
	struct api_server *s = xcalloc(1, sizeof *s);
	int fd = -1, conns = o->max_connections > 0 ? o->max_connections
				: (int)env_number("EXO_API_MAX_CONNECTIONS", 1024);

	s->head = h;
	s->tok = t;
	s->model_id = xstrdup(o->model_id ? o->model_id : "exo");
	s->quant_bits = o->quant_bits, s->quant_group = o->quant_group;
	s->max_body = o->max_body ? o->max_body : 4u << 20;
	s->max_tokens_cap = o->max_tokens_cap;
	s->created = time(NULL);
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->idle, NULL);
	pthread_mutex_init(&s->guard_mu, NULL);
	pthread_cond_init(&s->guard_cv, NULL);
	s->header_s = env_number("EXO_API_HEADER_TIMEOUT", 10);
	s->body_rate = env_number("EXO_API_BODY_RATE", 65536);
	metrics_init(&s->m, 1);
	if (o->api_key)
		s->auth = xstrdup(o->api_key);
	if (load_template(s, o->chat_template, e) ||
	    listen_socket(o->listen ? o->listen : "127.0.0.1:52415", &fd, &s->port, e))
		goto fail;
	raise_fd_limit(2 * conns);   /* a socket and its duplicate for the guard */
	if (pthread_create(&s->guard, NULL, guard_main, s) != 0) {
		close(fd);
		exo_error(e, EXO_UNAVAILABLE, "api: cannot start a thread");
		goto fail;
	}
	s->guard_running = true;
	s->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
					     MHD_USE_POLL | MHD_USE_ITC,
				     0, NULL, NULL, on_request, s, MHD_OPTION_LISTEN_SOCKET, fd,
				     MHD_OPTION_CONNECTION_LIMIT, (unsigned)conns,
				     /* one address cannot hold every slot */
				     MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)(conns > 1 ? conns / 2 : 1),
				     MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
				     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)API_IDLE_TIMEOUT_S,
				     MHD_OPTION_THREAD_STACK_SIZE, (size_t)STACK_BYTES,
				     MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_END);
	if (!s->daemon) {
		close(fd);
		exo_error(e, EXO_UNAVAILABLE, "api %s: cannot start the HTTP server",
			  o->listen ? o->listen : "127.0.0.1:52415");
		goto fail;
	}
	log_info("api: listening on port %d, model %s", s->port, s->model_id);
	return s;
fail:
	api_stop(s);
	return NULL;
}

void api_model_name(const char *model, char *out, size_t len)
{
	const char *at = strchr(model, '@');
	size_t n;

	if (hub_snapshot_parse(model, out, len, NULL, 0))   /* .../models--ORG--NAME/snapshots/REV */
		return;
	if (access(model, F_OK) == 0) {  /* a directory: its basename */
		n = strlen(model);
		while (n > 1 && model[n - 1] == '/')
			n--;
		const char *b = model + n;
		while (b > model && b[-1] != '/')
			b--;
		snprintf(out, len, "%.*s", (int)(model + n - b), b);
		return;
	}
	snprintf(out, len, "%.*s", (int)(at ? (size_t)(at - model) : strlen(model)), model);
}

int api_port(const struct api_server *s)
{
	return s->port;
}

void api_stop(struct api_server *s)
{
	if (!s)
		return;
	if (s->daemon)
		MHD_stop_daemon(s->daemon);
	if (s->guard_running) {
		pthread_mutex_lock(&s->guard_mu);
		s->guard_stop = true;
		pthread_cond_signal(&s->guard_cv);
		pthread_mutex_unlock(&s->guard_mu);
		pthread_join(s->guard, NULL);
	}
	pthread_mutex_destroy(&s->guard_mu);
	pthread_cond_destroy(&s->guard_cv);
	pthread_mutex_lock(&s->mu);
	while (s->generations > 0)
		pthread_cond_wait(&s->idle, &s->mu);
	pthread_mutex_unlock(&s->mu);
	tmpl_free(s->tmpl);
	metrics_free(&s->m);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->idle);
	free(s->model_id);
	free(s->auth);
	free(s);
}
