/* monitoring.prometheus: the API's metrics (what GET /metrics answers) on
 * a port and path of their own, so that a scraper needs neither the API key
 * nor a route to the API.  GET of the path only: everything else is 404 or
 * 405.  One thread serves it (a scrape is small and rare). */
#include "api/api_int.h"
#include "net/net.h"

#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct api_metrics_server {
	struct MHD_Daemon *daemon;
	struct api_server *api;
	char path[256];
};

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, char *body, const char *type)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET");
	enum MHD_Result ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result on_scrape(void *cls, struct MHD_Connection *c, const char *url,
				 const char *method, const char *version, const char *upload,
				 size_t *upload_size, void **con_cls)
{
	struct api_metrics_server *m = cls;
	(void)version, (void)upload, (void)con_cls;
	if (*upload_size) {   /* a body is not read */
		*upload_size = 0;
		return MHD_YES;
	}
	if (strcmp(url, m->path) != 0)
		return reply(c, MHD_HTTP_NOT_FOUND, xstrdup("not found\n"), "text/plain");
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, xstrdup("method not allowed\n"), "text/plain");
	return reply(c, MHD_HTTP_OK, metrics_text(&m->api->m), "text/plain; version=0.0.4");
}

struct api_metrics_server *api_metrics_start(struct api_server *api, const char *listen,
					     const char *path, struct exo_err *e)
{
	int fd;
	if (net_listen(listen, &fd, e) < 0)
		return NULL;
	struct api_metrics_server *m = xcalloc(1, sizeof *m);
	m->api = api;
	snprintf(m->path, sizeof m->path, "%s", path);
	m->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC, 0,
				     NULL, NULL, on_scrape, m, MHD_OPTION_LISTEN_SOCKET, fd,
				     MHD_OPTION_CONNECTION_LIMIT, 64u, MHD_OPTION_CONNECTION_TIMEOUT, 10u,
				     MHD_OPTION_END);
	if (!m->daemon) {
		close(fd);
		free(m);
		exo_error(e, EXO_UNAVAILABLE, "%s: cannot serve the metrics", listen);
		return NULL;
	}
	return m;
}

void api_metrics_stop(struct api_metrics_server *m)
{
	if (!m)
		return;
	MHD_stop_daemon(m->daemon);
	free(m);
}
