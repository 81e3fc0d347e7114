/* The OpenAI-compatible HTTP API of the head stage (libmicrohttpd):
 * POST /v1/chat/completions, POST /v1/completions, GET /v1/models,
 * GET /healthz, GET /metrics.  Requests become head_generate calls; text
 * goes through the model's tokenizer and chat template.  Routes,
 * parameters, errors and metrics: the API section of exo-shard-serve(1). */
#ifndef EXO_API_API_H
#define EXO_API_API_H
#include <stddef.h>
#include "serve/head.h"
#include "template/template.h"
#include "tokenizer/tokenizer.h"

#define API_DEFAULT_PORT 52415

struct api_opts {
	const char *listen;          /* "HOST:PORT"; default 127.0.0.1:52415 */
	const char *model_id;        /* the name clients use in "model" */
	const char *api_key;         /* NULL: no Authorization required */
	const char *chat_template;   /* file overriding the model's template, or NULL */
	int quant_bits, quant_group; /* MLX quantization as stored (/v1/models shows it); 0: none */
	size_t max_body;             /* request bodies over this get 413; 0: 4 MiB */
	int max_connections;         /* 0: 1024 */
	int max_tokens_cap;          /* max_tokens above this is clamped; 0: what the context
	                              * has left after the prompt (always a bound) */
};

struct api_server;
struct api_server *api_start(struct head *h, const struct tok *t, const struct api_opts *o,
			     struct exo_err *e);
/* The name clients use for a model given as a directory (its basename), a
 * snapshot in the Hugging Face cache (ORG/NAME) or ORG/NAME[@REV] (ORG/NAME). */
void api_model_name(const char *model, char *out, size_t len);
/* The port it listens on (useful when the address asked for port 0). */
int api_port(const struct api_server *s);
/* Stops accepting, lets running generations finish, frees everything. */
void api_stop(struct api_server *s);

/* The server's metrics on a listener of their own (monitoring.prometheus):
 * GET path at listen answers what GET /metrics does; stop it before the
 * server it reads. */
struct api_metrics_server;
struct api_metrics_server *api_metrics_start(struct api_server *s, const char *listen,
					     const char *path, struct exo_err *e);
void api_metrics_stop(struct api_metrics_server *m);
#endif
