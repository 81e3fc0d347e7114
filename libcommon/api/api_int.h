/* Private parts of the API server shared by its files: the server, one
 * generation (worker thread, text with stop sequences applied, the state a
 * streaming reader consumes) and the Prometheus metrics. */
#ifndef EXO_API_INT_H
#define EXO_API_INT_H
#include <pthread.h>
#include <sys/types.h>
#include <stdbool.h>
#include <time.h>
#include "api/api.h"
#include "api/request.h"

#define API_MAX_SERIES 64   /* (route, status) pairs counted */
#define API_HIST_BUCKETS 12

struct api_hist {
	unsigned long long count[API_HIST_BUCKETS + 1];   /* the last is +Inf */
	double sum;
	unsigned long long n;
};

struct api_metrics {
	pthread_mutex_t mu;
	struct { const char *route; int status; unsigned long long n; } req[API_MAX_SERIES];
	int n_req;
	unsigned long long prompt_tokens, completion_tokens, cancelled;
	int running;
	double tokens_per_second;
	struct api_hist prefill, decode_token;
	int n_stages;
	struct api_hist *stage;      /* per stage, when the head reports them */
};

struct api_server {
	struct MHD_Daemon *daemon;
	struct head *head;
	const struct tok *tok;
	struct tmpl *tmpl;           /* NULL: the model has no usable chat template */
	char tmpl_error[sizeof ((struct exo_err *)0)->msg];        /* why the model's template is not usable */
	char *model_id;
	int quant_bits, quant_group;
	char *auth;                  /* "Bearer KEY", or NULL */
	size_t max_body;
	int max_tokens_cap, port;
	time_t created;
	pthread_mutex_t mu;
	pthread_cond_t idle;         /* signalled when a generation ends */
	int generations;
	struct api_metrics m;
	/* deadlines of the requests being read (api.c) */
	pthread_mutex_t guard_mu;
	pthread_cond_t guard_cv;
	struct api_client *clients;  /* every open connection */
	pthread_t guard;
	bool guard_running, guard_stop;
	double header_s;             /* the request line and headers must arrive within this */
	double body_rate;            /* bytes per second a body must at least arrive at */
};

/* One generation, shared by its worker thread and its connection (the
 * reader of a stream); freed by whoever drops the last reference. */
struct api_gen {
	struct api_server *s;
	struct api_request req;
	int client_fd;               /* to notice a client that went away */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int refs;
	bool started, done, stop_matched, abandoned;
	char *text;                  /* generated text, stops applied */
	size_t len, cap, released, sent;
	struct tok_stream *ts;
	struct head_result res;
	struct api_fault fault;      /* fault.status != 0: the generation failed */
	size_t n_prompt;
	int max_stop;
	char id[48];
	time_t created;
	/* streaming output */
	int phase;
	char *out;
	size_t out_len, out_off;
};

/* Starts the worker thread; the caller holds one reference. */
struct api_gen *gen_start(struct api_server *s, struct api_request *req, int client_fd);
void gen_unref(struct api_gen *g);
/* Blocks until the generation has produced its first token or ended
 * (streaming), or until it ended (until_done). */
void gen_wait(struct api_gen *g, bool until_done);
const char *gen_finish_reason(const struct api_gen *g);
json_t *gen_usage(const struct api_gen *g);
/* The MHD content reader of a stream. */
ssize_t gen_sse_read(void *cls, uint64_t pos, char *buf, size_t max);
void gen_sse_free(void *cls);

void metrics_init(struct api_metrics *m, int n_stages);
void metrics_free(struct api_metrics *m);
void metrics_request(struct api_metrics *m, const char *route, int status);
void metrics_generation(struct api_metrics *m, const struct head_result *r, bool cancelled);
void metrics_stage(struct api_metrics *m, int stage, double seconds);
/* Prometheus text exposition; malloc'd. */
char *metrics_text(struct api_metrics *m);
#endif
