/* The HTTP side of the hub client, on libcurl: metadata requests (the API's
 * JSON, HEAD of resolve URLs) one at a time with retries, and content
 * downloads on a curl multi handle, several at once, each resumable with
 * Range into its .incomplete file.  Private to libcommon/hub. */
#ifndef EXO_HUB_HTTP_H
#define EXO_HUB_HTTP_H
#include <stdbool.h>
#include <stdint.h>
#include "hub/hub.h"

struct http_resp {
	long status;
	char commit[64];            /* X-Repo-Commit */
	char linked_etag[128];      /* X-Linked-Etag */
	char etag[128];             /* ETag */
	int64_t linked_size;        /* X-Linked-Size, -1 absent */
	int64_t content_length;     /* -1 absent */
	int64_t range_start;        /* Content-Range start, -1 absent */
	char location[4096];
	char error_code[64];        /* X-Error-Code */
	char error_message[256];    /* X-Error-Message */
	long retry_after;           /* seconds, 0 absent */
	char *body;                 /* GET only, NUL-terminated; caller frees */
	size_t body_len;
};

struct hub_http;
struct hub_http *http_new(const struct hub_opts *o);
void http_free(struct hub_http *h);

/* GET url into r->body (following redirects).  HEAD url without following
 * absolute redirects (the CDN's; a relative one is a renamed repository and
 * is followed).  Both retry on timeouts, resets, 408, 429 and 5xx; a final
 * status >= 400 is an error: 401/403 EXO_NOPERM, 404 EXO_NOINPUT, others
 * EXO_UNAVAILABLE.  Messages name the URL. */
int http_get(struct hub_http *h, const char *url, struct http_resp *r, struct exo_err *e);
int http_head(struct hub_http *h, const char *url, struct http_resp *r, struct exo_err *e);

/* One content download. */
struct http_xfer {
	const char *name;           /* for messages */
	const char *url;
	const char *path;           /* the .incomplete file (for messages) ... */
	int dir_fd;                 /* ... opened as file in dir_fd (dir_path), */
	const char *dir_path;       /* never through a link; resumed if present */
	const char *file;
	int64_t expect;             /* size, -1 unknown */
	bool sha256;                /* hash while downloading (LFS files) */
	bool send_auth;             /* the URL is on the endpoint's host */
	/* results */
	char hash[HUB_ETAG_MAX];    /* sha256 of the whole file when sha256 */
	int64_t fetched;            /* bytes received by this run */
	int rc;                     /* 0 done, -1 failed (err), 1 skipped */
	struct exo_err err;
};

/* Hooks around each transfer: start (take the lock; 1 skips the transfer,
 * -1 fails it with x->err) and done (verify and place it; only called when
 * the bytes arrived). */
struct http_hooks {
	int (*start)(struct http_xfer *x, void *arg);
	int (*done)(struct http_xfer *x, void *arg);
	void (*finish)(struct http_xfer *x, void *arg);   /* always, last (unlock) */
	void *arg;
};

/* Run every transfer, o->jobs at a time.  Returns 0 when all succeeded, else
 * -1 with e set from the first failure (each x->err has its own). */
int http_download(struct hub_http *h, struct http_xfer *x, size_t n, const struct http_hooks *hk,
		  struct exo_err *e);
#endif
