/* The record writer: each record is encoded whole into a buffer and written
 * with one write_all, so records from several writers on one pipe never
 * interleave mid-record.  JSON is one compact object per line; reals keep a
 * '.' or an exponent (JSON_REAL_PRECISION(17)) so they read back as reals. */
#include "records/rec_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "util/file.h"

struct rec_writer {
	int fd;
	enum rec_format f;
	int failed;
	struct exo_err err;
	char *buf;
	size_t len;
};

static int to_json(const json_t *rec, char **buf, size_t *len, struct exo_err *e)
{
	size_t flags = JSON_COMPACT | JSON_REAL_PRECISION(17);
	char *s = json_dumps(rec, flags);
	if (!s)
		return exo_error(e, EXO_SOFTWARE, "json: cannot encode record");
	size_t n = strlen(s);
	char *nb = realloc(*buf, *len + n + 2);
	if (!nb) {
		free(s);
		return exo_error(e, EXO_SOFTWARE, "json: out of memory");
	}
	memcpy(nb + *len, s, n);
	nb[*len + n] = '\n';
	nb[*len + n + 1] = '\0';
	*buf = nb;
	*len += n + 1;
	free(s);
	return 0;
}

int rec_encode(const json_t *rec, enum rec_format f, char **buf, size_t *len, struct exo_err *e)
{
	if (!json_is_object(rec))
		return exo_error(e, EXO_SOFTWARE, "record is not an object");
	switch (f) {
	case REC_JSON: return to_json(rec, buf, len, e);
	case REC_YAML: return rec_to_yaml(rec, buf, len, e);
	case REC_TEXT: return rec_to_text(rec, buf, len, e);
	default: return rec_to_msgpack(rec, buf, len, e);
	}
}

struct rec_writer *rec_writer_open(int fd, enum rec_format f)
{
	struct rec_writer *w = calloc(1, sizeof *w);
	if (!w)
		return NULL;
	w->fd = fd;
	w->f = rec_format_resolve(f, fd);
	return w;
}

int rec_write(struct rec_writer *w, const json_t *rec, struct exo_err *e)
{
	if (w->failed) {
		if (e)
			*e = w->err;
		return -1;
	}
	w->len = 0;
	if (rec_encode(rec, w->f, &w->buf, &w->len, e) < 0)
		return -1;
	if (write_all(w->fd, w->buf, w->len) < 0) {
		w->failed = 1;
		exo_error(&w->err, EXO_IOERR, "write error on output: %s", strerror(errno));
		if (e)
			*e = w->err;
		return -1;
	}
	return 0;
}

int rec_writer_close(struct rec_writer *w, struct exo_err *e)
{
	if (!w)
		return 0;
	int failed = w->failed;
	if (failed && e)
		*e = w->err;
	free(w->buf);
	free(w);
	return failed ? -1 : 0;
}

int rec_write_stdout(const json_t *rec, enum rec_format f, struct exo_err *e)
{
	struct rec_writer *w = rec_writer_open(STDOUT_FILENO, f);
	int rc = w ? rec_write(w, rec, e) : exo_error(e, EXO_IOERR, "stdout: cannot open writer");
	if (w && rec_writer_close(w, e) < 0)
		rc = -1;
	return rc;
}
