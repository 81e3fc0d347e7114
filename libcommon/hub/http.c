/* HTTP for the hub client on libcurl: metadata requests with retries, and
 * resumable content downloads run several at once on a multi handle. */
#include "hub/http.h"
#include "util/file.h"
#include "util/log.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct hub_http {
	const struct hub_opts *o;
	CURL *easy;                  /* metadata requests, one connection kept */
	struct curl_slist *auth;     /* Authorization (and Accept-Encoding) */
	struct curl_slist *plain;    /* Accept-Encoding only */
	int64_t rate_each;           /* --limit-rate shared by the transfers at once */
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

struct hub_http *http_new(const struct hub_opts *o)
{
	static int inited;
	if (!inited++)
		curl_global_init(CURL_GLOBAL_DEFAULT);
	struct hub_http *h = xcalloc(1, sizeof *h);
	h->o = o;
	h->easy = curl_easy_init();
	if (!h->easy)
		exo_errx(EXO_SOFTWARE, "curl_easy_init failed");
	/* identity: otherwise text files come gzip'd with a compressed Content-Length */
	h->plain = curl_slist_append(NULL, "Accept-Encoding: identity");
	h->auth = curl_slist_append(NULL, "Accept-Encoding: identity");
	if (o->token) {
		char line[4200];
		snprintf(line, sizeof line, "Authorization: Bearer %s", o->token);
		h->auth = curl_slist_append(h->auth, line);
	}
	return h;
}

void http_free(struct hub_http *h)
{
	if (!h)
		return;
	curl_easy_cleanup(h->easy);
	curl_slist_free_all(h->auth);
	curl_slist_free_all(h->plain);
	free(h);
}

/* ---- response headers ---- */

static void resp_reset(struct http_resp *r)
{
	char *body = r->body;
	size_t len = r->body_len;
	memset(r, 0, sizeof *r);
	r->linked_size = r->content_length = r->range_start = -1;
	r->body = body;
	r->body_len = len;
}

static void copy_value(char *dst, size_t cap, const char *v, size_t n)
{
	while (n > 0 && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' '))
		n--;
	if (n >= cap)
		n = cap - 1;
	memcpy(dst, v, n);
	dst[n] = '\0';
}

static size_t on_header(char *p, size_t sz, size_t nm, void *arg)
{
	struct http_resp *r = arg;
	size_t n = sz * nm;
	if (n >= 5 && strncmp(p, "HTTP/", 5) == 0) {
		resp_reset(r);   /* a new response (after a redirect or 100) */
		const char *sp = memchr(p, ' ', n);
		r->status = sp ? strtol(sp + 1, NULL, 10) : 0;
		return n;
	}
	const char *colon = memchr(p, ':', n);
	if (!colon)
		return n;
	size_t klen = (size_t)(colon - p);
	const char *v = colon + 1;
	while (v < p + n && *v == ' ')
		v++;
	size_t vlen = (size_t)(p + n - v);
	char tmp[64];
#define IS(k) (klen == strlen(k) && strncasecmp(p, k, klen) == 0)
	if (IS("X-Repo-Commit"))
		copy_value(r->commit, sizeof r->commit, v, vlen);
	else if (IS("X-Linked-Etag"))
		copy_value(r->linked_etag, sizeof r->linked_etag, v, vlen);
	else if (IS("ETag"))
		copy_value(r->etag, sizeof r->etag, v, vlen);
	else if (IS("Location"))
		copy_value(r->location, sizeof r->location, v, vlen);
	else if (IS("X-Error-Code"))
		copy_value(r->error_code, sizeof r->error_code, v, vlen);
	else if (IS("X-Error-Message"))
		copy_value(r->error_message, sizeof r->error_message, v, vlen);
	else if (IS("X-Linked-Size") || IS("Content-Length") || IS("Retry-After") ||
		 IS("Content-Range")) {
		copy_value(tmp, sizeof tmp, v, vlen);
		if (IS("X-Linked-Size"))
			r->linked_size = strtoll(tmp, NULL, 10);
		else if (IS("Content-Length"))
			r->content_length = strtoll(tmp, NULL, 10);
		else if (IS("Retry-After"))
			r->retry_after = strtol(tmp, NULL, 10);
		else if (strncmp(tmp, "bytes ", 6) == 0)
			r->range_start = strtoll(tmp + 6, NULL, 10);
	}
#undef IS
	return n;
}

static size_t on_body_mem(char *p, size_t sz, size_t nm, void *arg)
{
	struct http_resp *r = arg;
	size_t n = sz * nm;
	if (r->body_len + n > (64u << 20))
		return 0;   /* no API answer is this large */
	r->body = xrealloc(r->body, r->body_len + n + 1);
	memcpy(r->body + r->body_len, p, n);
	r->body_len += n;
	r->body[r->body_len] = '\0';
	return n;
}

/* ---- status mapping ---- */

static bool status_retryable(long s)
{
	return s == 408 || s == 429 || s >= 500;
}

static bool curl_retryable(CURLcode c)
{
	switch (c) {
	case CURLE_COULDNT_CONNECT: case CURLE_OPERATION_TIMEDOUT: case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR: case CURLE_PARTIAL_FILE: case CURLE_GOT_NOTHING:
	case CURLE_COULDNT_RESOLVE_HOST: case CURLE_HTTP2: case CURLE_HTTP2_STREAM:
		return true;
	default:
		return false;
	}
}

static int status_error(const struct hub_http *h, long s, const struct http_resp *r, const char *url,
			struct exo_err *e)
{
	int code = s == 401 || s == 403 ? EXO_NOPERM : s == 404 ? EXO_NOINPUT : EXO_UNAVAILABLE;
	const char *hint = s == 401 && !h->o->token ? " (no token: set HF_TOKEN)" : "";
	if (r->error_code[0])
		return exo_error(e, code, "%s: HTTP %ld %s%s%s%s", url, s, r->error_code,
				 r->error_message[0] ? ": " : "", r->error_message, hint);
	return exo_error(e, code, "%s: HTTP %ld%s", url, s, hint);
}

static long backoff_ms(const struct hub_opts *o, int attempt, long retry_after)
{
	if (retry_after > 0)
		return retry_after * 1000;
	long ms = (long)o->backoff_ms << (attempt < 10 ? attempt : 10);
	return ms > 30000 ? 30000 : ms;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* HF_HUB_DOWNLOAD_TIMEOUT: seconds to connect, and of a stall. */
static long timeout_s(void)
{
	const char *t = getenv("HF_HUB_DOWNLOAD_TIMEOUT");
	long secs = t && atol(t) > 0 ? atol(t) : 10;
	return secs > 86400 ? 86400 : secs;
}

static void set_timeouts(CURL *c)
{
	long secs = timeout_s();
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, secs);
	/* a hub that redirects forever is not a hub */
	curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
	/* a stalled transfer (under 1 byte/s for the timeout) is a timeout */
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, secs);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "exo-fetch/" EXO_VERSION);
}

/* One metadata request with retries; head: no body, no absolute redirects. */
static int request(struct hub_http *h, const char *url, bool head, struct http_resp *r,
		   struct exo_err *e)
{
	char cur[4096];
	snprintf(cur, sizeof cur, "%s", url);
	for (int attempt = 0, hops = 0;; attempt++) {
		CURL *c = h->easy;
		curl_easy_reset(c);
		set_timeouts(c);
		free(r->body);
		r->body = NULL;
		r->body_len = 0;
		resp_reset(r);
		curl_easy_setopt(c, CURLOPT_URL, cur);
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, h->auth);
		curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
		curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body_mem);
		curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
		curl_easy_setopt(c, CURLOPT_NOBODY, head ? 1L : 0L);
		curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, head ? 0L : 1L);
		/* an answer that trickles in above the stall limit still ends */
		curl_easy_setopt(c, CURLOPT_TIMEOUT, 6 * timeout_s());
		CURLcode cc = curl_easy_perform(c);
		bool again = cc == CURLE_OK ? status_retryable(r->status) : curl_retryable(cc);
		if (cc == CURLE_OK && head && r->status >= 300 && r->status < 400 &&
		    r->location[0] == '/' && hops++ < 5) {
			/* relative: a renamed repository; absolute: the CDN, left to the caller */
			char *base = strstr(cur, "://");
			char *path = base ? strchr(base + 3, '/') : NULL;
			if (path)
				snprintf(path, sizeof cur - (size_t)(path - cur), "%s", r->location);
			attempt--;
			continue;
		}
		if (!again || attempt >= h->o->retries) {
			if (cc != CURLE_OK)
				return exo_error(e, EXO_UNAVAILABLE, "%s: %s", cur, curl_easy_strerror(cc));
			if (r->status >= 400)
				return status_error(h, r->status, r, cur, e);
			return 0;
		}
		long ms = backoff_ms(h->o, attempt, r->retry_after);
		log_info("%s: %s, retrying in %ld ms", cur,
			 cc != CURLE_OK ? curl_easy_strerror(cc) : "server error", ms);
		sleep_ms(ms);
	}
}

int http_get(struct hub_http *h, const char *url, struct http_resp *r, struct exo_err *e)
{
	return request(h, url, false, r, e);
}

int http_head(struct hub_http *h, const char *url, struct http_resp *r, struct exo_err *e)
{
	return request(h, url, true, r, e);
}

/* ---- downloads ---- */

struct xfer {
	struct http_xfer *x;
	CURL *easy;
	struct curl_slist *hdr;
	struct http_resp resp;
	int fd;
	int64_t offset;              /* bytes in the file */
	struct hub_hash *hash;
	bool checked;                /* status looked at for this response */
	bool discard;                /* an error body: not written */
	int werr;                    /* errno of a failed write; -1 bad range, -2 too long */
	int attempt;                 /* retries so far */
	int64_t best;                /* furthest offset reached: only new ground resets attempt */
	double started;              /* first request: the deadline counts from here */
	double not_before;           /* retry time */
	enum { X_WAIT, X_RUN, X_END } state;
};

static size_t on_body_file(char *p, size_t sz, size_t nm, void *arg)
{
	struct xfer *t = arg;
	size_t n = sz * nm;
	if (!t->checked) {
		t->checked = true;
		long s = t->resp.status;
		if (s == 200 && t->offset > 0) {
			/* the server ignored Range: start the file again */
			log_info("%s: server ignored Range, restarting", t->x->name);
			if (ftruncate(t->fd, 0) < 0 || lseek(t->fd, 0, SEEK_SET) < 0) {
				t->werr = errno;
				return 0;
			}
			t->offset = 0;
			if (t->hash)
				hub_hash_reset(t->hash);
		} else if (s == 206 && t->resp.range_start != t->offset) {
			t->werr = -1;   /* a range we did not ask for */
			return 0;
		}
		t->discard = s != 200 && s != 206;
		int64_t announced = t->resp.content_length;
		if (!t->discard && t->x->expect >= 0 && announced >= 0 &&
		    (s == 206 ? t->offset : 0) + announced > t->x->expect) {
			t->werr = -2;   /* more than the file holds: not a byte of it */
			return 0;
		}
	}
	if (t->discard)
		return n;
	if (t->x->expect >= 0 && t->offset + (int64_t)n > t->x->expect) {
		t->werr = -2;   /* the announced size and nothing more */
		return 0;
	}
	if (write_all(t->fd, p, n) < 0) {
		t->werr = errno;
		return 0;
	}
	if (t->hash)
		hub_hash_update(t->hash, p, n);
	t->offset += (int64_t)n;
	t->x->fetched += (int64_t)n;
	return n;
}

/* Open the .incomplete file and hash what it already holds. */
static int xfer_open(struct xfer *t, struct exo_err *e)
{
	struct http_xfer *x = t->x;
	t->fd = hub_file_open(x->dir_fd, x->dir_path, x->file, O_RDWR | O_CREAT, e);
	if (t->fd < 0)
		return -1;
	t->offset = lseek(t->fd, 0, SEEK_END);
	if (x->expect >= 0 && t->offset > x->expect) {
		if (ftruncate(t->fd, 0) < 0)
			return exo_error(e, EXO_IOERR, "%s: truncate: %s", x->path, strerror(errno));
		t->offset = lseek(t->fd, 0, SEEK_SET);
	}
	if (x->sha256) {
		t->hash = hub_hash_new(false, 0);
		static __thread char buf[1 << 20];
		lseek(t->fd, 0, SEEK_SET);
		ssize_t r;
		while ((r = read(t->fd, buf, sizeof buf)) > 0)
			hub_hash_update(t->hash, buf, (size_t)r);
		if (r < 0)
			return exo_error(e, EXO_IOERR, "%s: read: %s", x->path, strerror(errno));
	}
	if (t->offset > 0)
		log_info("%s: resuming at byte %" PRId64, x->name, t->offset);
	t->best = t->offset;
	t->started = now_s();
	return 0;
}

static void xfer_setup(struct hub_http *h, struct xfer *t)
{
	struct http_xfer *x = t->x;
	CURL *c = t->easy ? t->easy : (t->easy = curl_easy_init());
	curl_easy_reset(c);
	set_timeouts(c);
	curl_slist_free_all(t->hdr);
	t->hdr = NULL;
	for (struct curl_slist *s = x->send_auth ? h->auth : h->plain; s; s = s->next)
		t->hdr = curl_slist_append(t->hdr, s->data);
	if (t->offset > 0) {
		char range[64];
		snprintf(range, sizeof range, "Range: bytes=%" PRId64 "-", t->offset);
		t->hdr = curl_slist_append(t->hdr, range);
	}
	resp_reset(&t->resp);
	t->checked = t->discard = false;
	t->werr = 0;
	curl_easy_setopt(c, CURLOPT_URL, x->url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, t->hdr);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &t->resp);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body_file);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, t);
	curl_easy_setopt(c, CURLOPT_PRIVATE, t);
	if (h->rate_each > 0)
		curl_easy_setopt(c, CURLOPT_MAX_RECV_SPEED_LARGE, (curl_off_t)h->rate_each);
}

enum { RETRY_RESET_BYTES = 1 << 20 };

/* After a transfer ends: 0 complete, 1 retry later, -1 failed (x->err). */
static int xfer_outcome(struct hub_http *h, struct xfer *t, CURLcode cc)
{
	struct http_xfer *x = t->x;
	long s = t->resp.status;
	if (t->werr > 0)
		return exo_error(&x->err, EXO_IOERR, "%s: write: %s", x->path,
				 t->werr == ENOSPC ? "disk full" : strerror(t->werr));
	if (t->werr == -2) {
		unlinkat(x->dir_fd, x->file, 0);   /* not a prefix of the file: nothing to resume */
		return exo_error(&x->err, EXO_DATAERR, "%s: the server sends more than the %" PRId64
				 " bytes announced (X-Linked-Size, Content-Length)", x->url, x->expect);
	}
	if (t->werr < 0) {
		/* a Content-Range that is not where we are: start over */
		if (ftruncate(t->fd, 0) == 0 && lseek(t->fd, 0, SEEK_SET) == 0) {
			t->offset = 0;
			if (t->hash)
				hub_hash_reset(t->hash);
		}
	} else if (cc == CURLE_OK && s == 416) {
		if (ftruncate(t->fd, 0) < 0)
			return exo_error(&x->err, EXO_IOERR, "%s: %s", x->path, strerror(errno));
		t->offset = 0;
		if (t->hash)
			hub_hash_reset(t->hash);
	} else if (cc == CURLE_OK && s >= 400 && !status_retryable(s)) {
		return status_error(h, s, &t->resp, x->url, &x->err);
	} else if (cc == CURLE_OK && (s == 200 || s == 206)) {
		if (x->expect < 0 || t->offset == x->expect)
			return 0;
		if (t->offset > x->expect) {
			unlinkat(x->dir_fd, x->file, 0);
			return exo_error(&x->err, EXO_DATAERR, "%s: %" PRId64 " bytes, expected %" PRId64,
					 x->url, t->offset, x->expect);
		}
	} else if (cc != CURLE_OK && !curl_retryable(cc)) {
		return exo_error(&x->err, EXO_UNAVAILABLE, "%s: %s", x->url, curl_easy_strerror(cc));
	}
	/* progress resets the retry count, but only RETRY_RESET_BYTES of new
	 * ground since the last reset: a server that sends a byte and closes,
	 * or restarts the file each time, runs out of retries */
	if (t->offset >= t->best + RETRY_RESET_BYTES) {
		t->attempt = 0;
		t->best = t->offset;
	}
	if (++t->attempt > h->o->retries) {
		if (cc != CURLE_OK)
			return exo_error(&x->err, EXO_UNAVAILABLE, "%s: %s", x->url,
					 curl_easy_strerror(cc));
		if (s >= 400)
			return status_error(h, s, &t->resp, x->url, &x->err);
		return exo_error(&x->err, EXO_UNAVAILABLE, "%s: transfer ended at byte %" PRId64
				 " of %" PRId64, x->url, t->offset, x->expect);
	}
	long ms = backoff_ms(h->o, t->attempt - 1, t->resp.retry_after);
	char why[64];
	if (cc != CURLE_OK)
		snprintf(why, sizeof why, "%s", curl_easy_strerror(cc));
	else if (s >= 400)
		snprintf(why, sizeof why, "HTTP %ld", s);
	else
		snprintf(why, sizeof why, "ended at byte %" PRId64, t->offset);
	log_info("%s: %s, retry %d in %ld ms", x->name, why, t->attempt, ms);
	t->not_before = now_s() + ms / 1000.0;
	return 1;
}

static void xfer_close(struct xfer *t)
{
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
	if (t->hash) {
		if (t->x->sha256)
			hub_hash_final(t->hash, t->x->hash);
		else
			hub_hash_free(t->hash);
		t->hash = NULL;
	}
}

/* ---- progress ---- */

struct progress {
	double start, last;
	int64_t total;
};

static void progress_report(const struct hub_opts *o, const struct progress *p, const struct xfer *t, size_t n,
			    bool end)
{
	int64_t got = 0, fetched = 0;
	for (size_t i = 0; i < n; i++) {
		got += t[i].offset;
		fetched += t[i].x->fetched;
	}
	double dt = now_s() - p->start;
	o->progress(o->progress_arg, got, p->total, dt > 0 ? fetched / dt : 0, end);
}

/* ---- the multi loop ---- */

static void finish(struct xfer *t, const struct http_hooks *hk)
{
	xfer_close(t);
	t->state = X_END;
	if (hk->finish)
		hk->finish(t->x, hk->arg);
}

/* Start t: hooks, open the file, add it to m.  Returns false if it ended. */
static bool xfer_start(struct hub_http *h, CURLM *m, struct xfer *t, const struct http_hooks *hk)
{
	int r = hk->start ? hk->start(t->x, hk->arg) : 0;
	if (r != 0) {
		t->x->rc = r > 0 ? 1 : -1;
		finish(t, hk);
		return false;
	}
	if (xfer_open(t, &t->x->err) < 0) {
		t->x->rc = -1;
		finish(t, hk);
		return false;
	}
	if (t->x->expect >= 0 && t->offset == t->x->expect) {
		/* complete from an earlier run, not yet verified */
		xfer_close(t);
		t->x->rc = hk->done ? hk->done(t->x, hk->arg) : 0;
		finish(t, hk);
		return false;
	}
	xfer_setup(h, t);
	curl_multi_add_handle(m, t->easy);
	t->state = X_RUN;
	return true;
}

/* Past the file's deadline: 6 x HF_HUB_DOWNLOAD_TIMEOUT plus its size (or,
 * size unknown, what arrived so far) at --min-rate.  A trickle or a server
 * that keeps a transfer alive without progress ends here. */
static bool past_deadline(const struct hub_http *h, const struct xfer *t, double now)
{
	if (h->o->min_rate <= 0)
		return false;
	int64_t size = t->x->expect >= 0 ? t->x->expect : t->offset;
	double rate = (double)h->o->min_rate;
	if (h->rate_each > 0 && h->rate_each / 2.0 < rate)
		rate = h->rate_each / 2.0;   /* --limit-rate holds it below that on purpose */
	return now > t->started + 6.0 * timeout_s() + (double)size / rate;
}

static void xfer_expire(struct hub_http *h, CURLM *m, struct xfer *t, const struct http_hooks *hk)
{
	if (t->state == X_RUN)
		curl_multi_remove_handle(m, t->easy);
	exo_error(&t->x->err, EXO_UNAVAILABLE, "%s: not complete after %.0f s (at byte %" PRId64
		  " of %" PRId64 "; the deadline is 6 x HF_HUB_DOWNLOAD_TIMEOUT + size at --min-rate "
		  "%" PRId64 " B/s)", t->x->url, now_s() - t->started, t->offset, t->x->expect,
		  h->o->min_rate);
	xfer_close(t);   /* what arrived is a prefix: the next run resumes it */
	t->x->rc = -1;
	finish(t, hk);
}

static void xfer_ended(struct hub_http *h, CURLM *m, struct xfer *t, CURLcode cc,
		       const struct http_hooks *hk)
{
	curl_multi_remove_handle(m, t->easy);
	int r = xfer_outcome(h, t, cc);
	if (r == 1) {
		t->state = X_WAIT;   /* keeps its file open and its lock */
		return;
	}
	if (r < 0 && t->x->err.code == EXO_IOERR)
		unlinkat(t->x->dir_fd, t->x->file, 0);   /* disk full: free the space */
	xfer_close(t);
	t->x->rc = r < 0 ? -1 : hk->done ? hk->done(t->x, hk->arg) : 0;
	finish(t, hk);
}

int http_download(struct hub_http *h, struct http_xfer *xs, size_t n, const struct http_hooks *hk,
		  struct exo_err *e)
{
	CURLM *m = curl_multi_init();
	struct xfer *t = xcalloc(n ? n : 1, sizeof *t);
	struct progress p = { .start = now_s() };
	for (size_t i = 0; i < n; i++) {
		t[i].x = &xs[i];
		t[i].fd = -1;
		t[i].state = X_WAIT;
		xs[i].rc = 0;
		xs[i].fetched = 0;
		p.total += xs[i].expect > 0 ? xs[i].expect : 0;
	}
	size_t next = 0;          /* first transfer never started */
	int jobs = h->o->jobs > 0 ? h->o->jobs : 1;
	size_t at_once = n < (size_t)jobs ? n : (size_t)jobs;
	h->rate_each = h->o->limit_rate > 0 ? h->o->limit_rate / (int64_t)(at_once ? at_once : 1) : 0;
	if (h->o->limit_rate > 0 && h->rate_each < 1)
		h->rate_each = 1;
	for (;;) {
		int active = 0, waiting = 0;
		double t_now = now_s();
		for (size_t i = 0; i < next; i++) {
			if (t[i].state != X_END && past_deadline(h, &t[i], t_now))
				xfer_expire(h, m, &t[i], hk);
			active += t[i].state == X_RUN;
			if (t[i].state == X_WAIT && t[i].not_before <= t_now) {
				xfer_setup(h, &t[i]);
				curl_multi_add_handle(m, t[i].easy);
				t[i].state = X_RUN;
				active++;
			}
			waiting += t[i].state == X_WAIT;
		}
		while (active < jobs && next < n)
			active += xfer_start(h, m, &t[next++], hk);
		if (!active && !waiting && next >= n)
			break;
		int running;
		curl_multi_perform(m, &running);
		CURLMsg *msg;
		int left;
		while ((msg = curl_multi_info_read(m, &left))) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			struct xfer *done;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&done);
			xfer_ended(h, m, done, msg->data.result, hk);
		}
		curl_multi_poll(m, NULL, 0, 100, NULL);
		if (h->o->progress && now_s() - p.last > 0.2) {
			p.last = now_s();
			progress_report(h->o, &p, t, next, false);
		}
	}
	if (h->o->progress)
		progress_report(h->o, &p, t, n, true);
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		if (xs[i].rc < 0 && rc == 0) {
			*e = xs[i].err;
			rc = -1;
		}
		curl_easy_cleanup(t[i].easy);
		curl_slist_free_all(t[i].hdr);
		free(t[i].resp.body);
	}
	free(t);
	curl_multi_cleanup(m);
	return rc;
}
