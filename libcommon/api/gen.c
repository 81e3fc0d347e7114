/* One generation of the API: a worker thread turns the request into prompt
 * ids (chat template, tokenizer), runs head_generate, and appends the
 * decoded text to a buffer with stop sequences applied; the connection
 * either waits for the end (a JSON answer) or streams the released text as
 * server-sent events from MHD's content reader, which may block because
 * each connection has its own thread. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "api/api_int.h"
#include "template/template.h"
#include "util/err.h"

enum { PH_ROLE, PH_TEXT, PH_END };

static uint64_t random_seed(void)
{
	static uint64_t counter;
	struct timespec ts;
	uint64_t x;

	clock_gettime(CLOCK_REALTIME, &ts);
	x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^
	    (__atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED) * 0x9e3779b97f4a7c15ULL);
	x ^= x >> 31;
	x *= 0xbf58476d1ce4e5b9ULL;
	return x ^ (x >> 29);
}

/* The client closed its end (recv sees EOF or a reset). */
static bool client_gone(int fd)
{
	char c;
	ssize_t n;

	if (fd < 0)
		return false;
	n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
	return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

static void append_text(struct api_gen *g, const char *p, size_t n)
{
	if (g->len + n + 1 > g->cap) {
		g->cap = 2 * (g->len + n + 1);
		g->text = xrealloc(g->text, g->cap);
	}
	memcpy(g->text + g->len, p, n);
	g->len += n;
	g->text[g->len] = 0;
}

/* Appends decoded text and moves `released` as far as stop sequences
 * allow; true when a stop sequence ended the text.  Called with g->mu. */
static bool take_text(struct api_gen *g, const char *p, size_t n, bool final)
{
	long at;

	append_text(g, p, n);
	at = api_stop_find(g->text, g->len, g->released, g->req.stop, g->req.n_stop);
	if (at >= 0) {
		g->len = (size_t)at;
		g->text[g->len] = 0;
		g->released = g->len;
		g->stop_matched = true;
		return true;
	}
	if (final) {
		g->released = g->len;
	} else {
		size_t hold = api_stop_holdback(g->text, g->len, g->req.stop, g->req.n_stop);
		if (g->len - hold > g->released)
			g->released = g->len - hold;
	}
	return false;
}

/* The ids that end a generation: the tokenizer's (tokenizer_config.json,
 * generation_config.json) and config.json's eos_token_id, a number or a list
 * (Llama 3.x Instruct: 128001, 128008, 128009), as transformers takes them.
 * They travel with the sampling parameters: the stage that draws a token
 * says whether it is one of them. */
static int eos_ids(const struct api_gen *g, int32_t out[ENG_MAX_EOS])
{
	const int32_t *eos;
	size_t n = tok_eos_ids(g->s->tok, &eos);
	int m = 0;
	const struct model_config *mc = head_config(g->s->head);
	for (size_t i = 0; i < n && m < ENG_MAX_EOS; i++)
		out[m++] = eos[i];
	for (int i = 0; mc && i < mc->n_eos && m < ENG_MAX_EOS; i++) {
		int j = 0;
		while (j < m && out[j] != mc->eos_tokens[i])
			j++;
		if (j == m)
			out[m++] = mc->eos_tokens[i];
	}
	return m;
}

static int on_token(void *arg, int32_t id, float logprob, bool eos)
{
	struct api_gen *g = arg;
	const char *p = NULL;
	size_t n = 0;
	bool stop;

	if (__atomic_load_n(&g->abandoned, __ATOMIC_RELAXED) || client_gone(g->client_fd)) {
		__atomic_store_n(&g->abandoned, true, __ATOMIC_RELAXED);
		return 1;
	}
	if (!eos)
		tok_stream_push(g->ts, id, &p, &n);
	pthread_mutex_lock(&g->mu);
	stop = take_text(g, p ? p : "", n, false);
	g->started = true;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
	return stop;
}

static int render_chat(struct api_gen *g, char **text)
{
	struct exo_err e = {0};

	if (!g->s->tmpl)
		return api_fault_set(&g->fault, 400, "invalid_request_error", "no_chat_template",
				     "messages",
				     "the model has no usable chat template%s%s (start the server "
				     "with --chat-template FILE, or use /v1/completions)",
				     g->s->tmpl_error[0] ? ": " : "", g->s->tmpl_error);
	if (chat_render(g->s->tmpl, tok_config(g->s->tok), g->req.messages, NULL, true, NULL,
			text, &e))
		return api_fault_set(&g->fault, 400, "invalid_request_error", "invalid_value",
				     "messages", "messages: the chat template refused them: %s",
				     e.msg);
	return 0;
}

/* The prompt as ids: given, or the text (a chat rendered by the template,
 * which writes its own BOS) through the tokenizer. */
static int prompt_ids(struct api_gen *g, int32_t **ids, size_t *n)
{
	struct exo_err e = {0};
	char *chat = NULL;
	const char *text = g->req.prompt;
	int rc;

	if (g->req.prompt_ids) {
		*n = g->req.n_prompt_ids;
		*ids = xmalloc(*n * sizeof **ids);
		memcpy(*ids, g->req.prompt_ids, *n * sizeof **ids);
		return 0;
	}
	if (g->req.kind == API_CHAT) {
		if (render_chat(g, &chat))
			return -1;
		text = chat;
	}
	rc = tok_encode(g->s->tok, text, strlen(text), g->req.kind != API_CHAT, ids, n, &e);
	free(chat);
	if (rc)
		return api_fault_set(&g->fault, 400, "invalid_request_error", "invalid_value",
				     g->req.kind == API_CHAT ? "messages" : "prompt",
				     "the prompt cannot be tokenized: %s", e.msg);
	return 0;
}

/* OpenAI's rule: the prompt leaves room for a completion (the chain itself
 * takes a prompt of the whole context).  The context is the chain's, as its
 * stages reported it; the stages refuse what does not fit, and the head ends
 * a generation where the context does (so max_tokens is not clamped here). */
static int check_context(struct api_gen *g, size_t n, int *max_tokens)
{
	const char *param = g->req.kind == API_CHAT ? "messages" : "prompt";
	int ctx = head_context(g->s->head);
	long long mt = g->req.max_tokens;

	if (n == 0)
		return api_fault_set(&g->fault, 400, "invalid_request_error", "invalid_value",
				     param, "%s: the prompt is empty", param);
	if ((long long)n >= ctx)
		return api_fault_set(&g->fault, 400, "invalid_request_error",
				     "context_length_exceeded", param,
				     "%s: the prompt is %zu tokens, the context holds %d", param, n,
				     ctx);
	if (mt < 0 || mt > INT_MAX)
		mt = INT_MAX;
	if (g->s->max_tokens_cap > 0 && mt > g->s->max_tokens_cap)
		mt = g->s->max_tokens_cap;
	*max_tokens = (int)mt;
	return 0;
}

static void head_fault(struct api_gen *g, const struct exo_err *e)
{
	if (e->code == EXO_DATAERR)
		api_fault_set(&g->fault, 400, "invalid_request_error", "invalid_value",
			      g->req.kind == API_CHAT ? "messages" : "prompt", "%s", e->msg);
	else if (e->code == EXO_UNAVAILABLE || e->code == EXO_TEMPFAIL || e->code == EXO_IOERR)
		api_fault_set(&g->fault, 503, "service_unavailable", "stage_unavailable", NULL,
			      "%s", e->msg);
	else
		api_fault_set(&g->fault, 500, "server_error", NULL, NULL, "%s", e->msg);
}

static void generate(struct api_gen *g)
{
	struct head_request hr = {0};
	struct exo_err e = {0};
	int32_t *ids = NULL;
	size_t n = 0, tail_len = 0;
	const char *tail = NULL;

	if (prompt_ids(g, &ids, &n) || check_context(g, n, &hr.max_tokens))
		goto out;
	g->n_prompt = n;
	hr.prompt = ids;
	hr.n_prompt = n;
	hr.sampling = g->req.sampling;
	if (!g->req.has_seed)
		hr.sampling.seed = random_seed();
	hr.sampling.n_eos = eos_ids(g, hr.sampling.eos);
	/* Every client holds the one API key: one scope.  A chat's next turn
	 * continues the session its history left in the chain. */
	hr.reuse_scope = 1;
	if (head_generate(g->s->head, &hr, on_token, g, &g->res, &e)) {
		head_fault(g, &e);
		goto out;
	}
	tok_stream_flush(g->ts, &tail, &tail_len);
	pthread_mutex_lock(&g->mu);
	if (!g->stop_matched)
		take_text(g, tail ? tail : "", tail_len, true);
	pthread_mutex_unlock(&g->mu);
out:
	free(ids);
}

static void *gen_main(void *arg)
{
	struct api_gen *g = arg;
	struct api_server *s = g->s;

	generate(g);
	if (!g->fault.status)
		metrics_generation(&s->m, &g->res, __atomic_load_n(&g->abandoned, __ATOMIC_RELAXED));
	pthread_mutex_lock(&g->mu);
	g->done = true;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
	pthread_mutex_lock(&s->mu);
	s->generations--;
	pthread_cond_broadcast(&s->idle);
	pthread_mutex_unlock(&s->mu);
	gen_unref(g);
	return NULL;
}

struct api_gen *gen_start(struct api_server *s, struct api_request *req, int client_fd)
{
	struct api_gen *g = xcalloc(1, sizeof *g);
	pthread_t th;
	pthread_attr_t attr;
	static unsigned counter;

	g->s = s;
	g->req = *req;
	memset(req, 0, sizeof *req);
	/* our own descriptor: MHD may close and reuse its number before we look */
	g->client_fd = client_fd >= 0 ? fcntl(client_fd, F_DUPFD_CLOEXEC, 0) : -1;
	g->refs = 2;
	g->ts = tok_stream_new(s->tok, true);
	g->created = time(NULL);
	g->phase = g->req.kind == API_CHAT ? PH_ROLE : PH_TEXT;
	snprintf(g->id, sizeof g->id, "%s-%016llx%08x", g->req.kind == API_CHAT ? "chatcmpl" : "cmpl",
		 (unsigned long long)random_seed(), __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED));
	pthread_mutex_init(&g->mu, NULL);
	pthread_cond_init(&g->cv, NULL);
	pthread_mutex_lock(&s->mu);
	s->generations++;
	pthread_mutex_unlock(&s->mu);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&th, &attr, gen_main, g) != 0) {
		api_fault_set(&g->fault, 503, "service_unavailable", NULL, NULL,
			      "cannot start a generation thread: %s", strerror(errno));
		g->done = true;
		g->refs = 1;
		pthread_mutex_lock(&s->mu);
		s->generations--;
		pthread_mutex_unlock(&s->mu);
	}
	pthread_attr_destroy(&attr);
	return g;
}

void gen_unref(struct api_gen *g)
{
	int left;

	if (!g)
		return;
	pthread_mutex_lock(&g->mu);
	left = --g->refs;
	pthread_mutex_unlock(&g->mu);
	if (left > 0)
		return;
	api_request_free(&g->req);
	if (g->client_fd >= 0)
		close(g->client_fd);
	tok_stream_free(g->ts);
	free(g->text);
	free(g->out);
	pthread_mutex_destroy(&g->mu);
	pthread_cond_destroy(&g->cv);
	free(g);
}

void gen_wait(struct api_gen *g, bool until_done)
{
	pthread_mutex_lock(&g->mu);
	while (!g->done && (until_done || !g->started))
		pthread_cond_wait(&g->cv, &g->mu);
	pthread_mutex_unlock(&g->mu);
}

const char *gen_finish_reason(const struct api_gen *g)
{
	return g->res.finish == HEAD_LENGTH && !g->stop_matched ? "length" : "stop";
}

json_t *gen_usage(const struct api_gen *g)
{
	return json_pack("{s:I, s:I, s:I, s:{s:I}}", "prompt_tokens", (json_int_t)g->n_prompt,
			 "completion_tokens", (json_int_t)g->res.n_generated, "total_tokens",
			 (json_int_t)(g->n_prompt + g->res.n_generated), "prompt_tokens_details",
			 "cached_tokens", (json_int_t)g->res.n_reused);
}

/* Text from the decoder is whole characters; anything else would make
 * jansson refuse it, so it becomes U+FFFD rather than a dropped chunk. */
static json_t *text_json(const char *p, size_t n)
{
	json_t *j = json_stringn(p, n);

	return j ? j : json_string("\xef\xbf\xbd");
}

static json_t *chunk_new(const struct api_gen *g)
{
	bool chat = g->req.kind == API_CHAT;
	json_t *c = json_pack("{s:s, s:s, s:I, s:s}", "id", g->id, "object",
			      chat ? "chat.completion.chunk" : "text_completion", "created",
			      (json_int_t)g->created, "model", g->s->model_id);

	if (chat)
		json_object_set_new(c, "system_fingerprint", json_string("exo-" EXO_VERSION));
	json_object_set_new(c, "choices", json_array());
	return c;
}

/* A chunk with one choice: text (NULL: none) and finish (NULL: null). */
static json_t *chunk_choice(const struct api_gen *g, json_t *text, bool role, const char *finish)
{
	json_t *c = chunk_new(g), *choice = json_pack("{s:i}", "index", 0);

	if (g->req.kind == API_CHAT) {
		json_t *delta = json_object();
		if (role)
			json_object_set_new(delta, "role", json_string("assistant"));
		if (text)
			json_object_set_new(delta, "content", text);
		json_object_set_new(choice, "delta", delta);
	} else {
		json_object_set_new(choice, "text", text ? text : json_string(""));
	}
	json_object_set_new(choice, "logprobs", json_null());
	json_object_set_new(choice, "finish_reason", finish ? json_string(finish) : json_null());
	json_array_append_new(json_object_get(c, "choices"), choice);
	return c;
}

static void out_append(struct api_gen *g, const char *p, size_t n)
{
	g->out = xrealloc(g->out, g->out_len + n);
	memcpy(g->out + g->out_len, p, n);
	g->out_len += n;
}

/* "data: JSON\n\n"; takes the reference. */
static void out_event(struct api_gen *g, json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT);

	out_append(g, "data: ", 6);
	out_append(g, s, strlen(s));
	out_append(g, "\n\n", 2);
	free(s);
	json_decref(j);
}

static void out_end(struct api_gen *g)
{
	if (g->fault.status) {
		out_event(g, api_fault_json(&g->fault));
	} else {
		out_event(g, chunk_choice(g, NULL, false, gen_finish_reason(g)));
		if (g->req.include_usage) {
			json_t *u = chunk_new(g);
			json_object_set_new(u, "usage", gen_usage(g));
			out_event(g, u);
		}
	}
	out_append(g, "data: [DONE]\n\n", 14);
	g->phase = PH_END;
}

/* Fills g->out with the next events, waiting for text when there is none. */
static void next_events(struct api_gen *g)
{
	size_t from, to;

	g->out_len = g->out_off = 0;
	if (g->phase == PH_ROLE) {
		out_event(g, chunk_choice(g, json_string(""), true, NULL));
		g->phase = PH_TEXT;
		return;
	}
	pthread_mutex_lock(&g->mu);
	while (g->sent == g->released && !g->done)
		pthread_cond_wait(&g->cv, &g->mu);
	from = g->sent;
	to = g->released;
	g->sent = to;
	json_t *text = to > from ? text_json(g->text + from, to - from) : NULL;
	pthread_mutex_unlock(&g->mu);
	if (text)
		out_event(g, chunk_choice(g, text, false, NULL));
	else
		out_end(g);
}

ssize_t gen_sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct api_gen *g = cls;
	size_t n;

	while (g->out_off == g->out_len) {
		if (g->phase == PH_END)
			return MHD_CONTENT_READER_END_OF_STREAM;
		next_events(g);
	}
	n = g->out_len - g->out_off < max ? g->out_len - g->out_off : max;
	memcpy(buf, g->out + g->out_off, n);
	g->out_off += n;
	return (ssize_t)n;
}

/* MHD drops the response: finished, or the client went away mid-stream. */
void gen_sse_free(void *cls)
{
	struct api_gen *g = cls;

	pthread_mutex_lock(&g->mu);
	if (!g->done)
		__atomic_store_n(&g->abandoned, true, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&g->mu);
	gen_unref(g);
}
