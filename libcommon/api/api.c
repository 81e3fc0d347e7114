/* The HTTP side of the API: a libmicrohttpd daemon with a thread per
 * connection (so a streaming reader may block on its generation), a
 * connection limit (half of it per client address) and an idle timeout
 * (idle connections cost a thread each until they time out), request
 * bodies capped before they are read whole, routing, the API key, and the
 * JSON answers. */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include "api/api_int.h"
#include "util/err.h"
#include "util/file.h"
#include "util/log.h"

#ifndef API_IDLE_TIMEOUT_S
#define API_IDLE_TIMEOUT_S 30
#endif
#define STACK_BYTES (1u << 20)

/* One HTTP request: its body as it arrives. */
struct conn {
	const char *route;          /* metrics label */
	char *body;
	size_t len, cap;
	bool too_big;
	size_t dropped;             /* bytes of a too big body thrown away */
	bool generating;            /* the idle timeout is off meanwhile */
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

static enum MHD_Result queue(struct api_server *s, struct conn *k, struct MHD_Connection *c,
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

static enum MHD_Result queue_json(struct api_server *s, struct conn *k, struct MHD_Connection *c,
				  int status, json_t *j)
{
	char *body = json_dumps(j, JSON_COMPACT);

	json_decref(j);
	return queue(s, k, c, status, body, "application/json");
}

static enum MHD_Result queue_fault(struct api_server *s, struct conn *k, struct MHD_Connection *c,
				   const struct api_fault *f)
{
	return queue_json(s, k, c, f->status, api_fault_json(f));
}

/* Compares without an early exit, so the time taken says nothing about
 * how much of the key matched. */
static bool same_secret(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char d = la != lb;

	for (size_t i = 0; i < la; i++)
		d |= (unsigned char)a[i] ^ (unsigned char)b[i % (lb ? lb : 1)];
	return d == 0;
}

static bool authorized(struct api_server *s, struct MHD_Connection *c)
{
	const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						    MHD_HTTP_HEADER_AUTHORIZATION);

	return !s->auth || (h && same_secret(h, s->auth));
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

static enum MHD_Result do_models(struct api_server *s, struct conn *k, struct MHD_Connection *c,
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
static enum MHD_Result do_health(struct api_server *s, struct conn *k, struct MHD_Connection *c)
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

static json_t *answer_json(struct gen *g)
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

static enum MHD_Result answer(struct api_server *s, struct conn *k, struct MHD_Connection *c,
			      struct gen *g)
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

static enum MHD_Result do_generate(struct api_server *s, struct conn *k, struct MHD_Connection *c,
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

static enum MHD_Result route(struct api_server *s, struct conn *k, struct MHD_Connection *c,
			     const char *url, const char *method)
{
	bool get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
	struct api_fault f;
	const char *r = k->route;

	if (strcmp(r, "other") == 0) {
		api_fault_set(&f, 404, "invalid_request_error", "not_found", NULL,
			      "no route %.16s %.200s", method, url);
		return queue_fault(s, k, c, &f);
	}
	if (strncmp(r, "/v1/", 4) == 0 && !authorized(s, c)) {
		api_fault_set(&f, 401, "authentication_error", "invalid_api_key", NULL,
			      "a valid API key is required (Authorization: Bearer KEY)");
		return queue_fault(s, k, c, &f);
	}
	if (((strcmp(r, "/v1/chat/completions") == 0 || strcmp(r, "/v1/completions") == 0) && !post) ||
	    (r[1] != 'v' && !get) || (strcmp(r, "/v1/models") == 0 && !get)) {
		api_fault_set(&f, 405, "invalid_request_error", "method_not_allowed", NULL,
			      "%.16s is not allowed on %s", method, r);
		return queue_fault(s, k, c, &f);
	}
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

static enum MHD_Result too_big(struct api_server *s, struct conn *k, struct MHD_Connection *c)
{
	struct api_fault f;

	api_fault_set(&f, 413, "invalid_request_error", "request_too_large", NULL,
		      "the request body is over %zu bytes", s->max_body);
	return queue_fault(s, k, c, &f);
}

/* Bodies over max_body are refused from Content-Length before a byte of
 * them is read; a chunked one is dropped as it arrives, then refused. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	struct api_server *s = cls;
	struct conn *k = *con_cls;

	if (!k) {
		const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
							     MHD_HTTP_HEADER_CONTENT_LENGTH);
		k = *con_cls = xcalloc(1, sizeof *k);
		k->route = route_label(url);
		if (cl && strtoull(cl, NULL, 10) > s->max_body)
			return too_big(s, k, c);
		return MHD_YES;
	}
	if (*upload_size) {
		if (!k->too_big && k->len + *upload_size > s->max_body) {
			k->too_big = true;
			free(k->body);
			k->body = NULL;
			k->len = 0;
		}
		if (k->too_big) {
			/* a sender that goes on and on is cut off */
			k->dropped += *upload_size;
			if (k->dropped > 4 * s->max_body)
				return MHD_NO;
		} else {
			if (k->len + *upload_size + 1 > k->cap) {
				k->cap = 2 * (k->len + *upload_size + 1);
				k->body = xrealloc(k->body, k->cap);
			}
			memcpy(k->body + k->len, upload, *upload_size);
			k->len += *upload_size;
		}
		*upload_size = 0;
		return MHD_YES;
	}
	if (k->too_big)
		return too_big(s, k, c);
	return route(s, k, c, url, method);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode code)
{
	struct conn *k = *con_cls;

	if (k && k->generating && code == MHD_REQUEST_TERMINATED_COMPLETED_OK)
		MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT,
					  (unsigned)API_IDLE_TIMEOUT_S);
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
	int fd = -1, conns = o->max_connections > 0 ? o->max_connections : 1024;

	s->head = h;
	s->tok = t;
	s->model_id = xstrdup(o->model_id ? o->model_id : "exo");
	s->quant_bits = o->quant_bits, s->quant_group = o->quant_group;
	s->max_body = o->max_body ? o->max_body : 4u << 20;
	s->max_tokens_cap = o->max_tokens_cap;
	s->created = time(NULL);
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->idle, NULL);
	metrics_init(&s->m, 1);
	if (o->api_key) {
		s->auth = xmalloc(strlen(o->api_key) + 8);
		sprintf(s->auth, "Bearer %s", o->api_key);
	}
	if (load_template(s, o->chat_template, e) ||
	    listen_socket(o->listen ? o->listen : "127.0.0.1:52415", &fd, &s->port, e))
		goto fail;
	raise_fd_limit(conns);
	s->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
					     MHD_USE_POLL | MHD_USE_ITC,
				     0, NULL, NULL, on_request, s, MHD_OPTION_LISTEN_SOCKET, fd,
				     MHD_OPTION_CONNECTION_LIMIT, (unsigned)conns,
				     /* one address cannot hold every slot */
				     MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)(conns > 1 ? conns / 2 : 1),
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
	const char *cache = strstr(model, "/models--"), *at = strchr(model, '@');
	size_t n;

	if (cache) {            /* .../models--ORG--NAME/snapshots/REV */
		cache += 9;
		n = strcspn(cache, "/");
		snprintf(out, len, "%.*s", (int)n, cache);
		char *sep = strstr(out, "--");
		if (sep)
			memmove(sep + 1, sep + 2, strlen(sep + 2) + 1), *sep = '/';
		return;
	}
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
