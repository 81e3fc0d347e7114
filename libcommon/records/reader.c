/* The record reader: input from an fd or memory, one decoder per format, and
 * the checks every record passes whatever its format (a map at the top, the
 * nesting limit, kind, version, schema).  After an error the reader stays
 * failed: a byte stream cannot be resynchronised reliably. */
#include "records/rec_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

ssize_t rec_input_read(struct rec_reader *r, void *buf, size_t cap)
{
	if (r->max_read && cap > r->max_read)
		cap = r->max_read;
	if (r->fd < 0) {
		size_t n = r->mem_len - r->mem_off;
		n = n < cap ? n : cap;
		if (n)
			memcpy(buf, r->mem + r->mem_off, n);
		r->mem_off += n;
		return (ssize_t)n;
	}
	for (;;) {
		ssize_t n = read(r->fd, buf, cap);
		if (n >= 0 || errno != EINTR)
			return n;
	}
}

int rec_input_slurp(struct rec_reader *r, char **buf, size_t *len, struct exo_err *e)
{
	size_t cap = 65536, n = 0, max = REC_MAX_BYTES * 16;
	char *b = malloc(cap + 1);
	for (ssize_t got = 1; b && got > 0;) {
		if (n == cap) {
			char *nb = cap < max ? realloc(b, cap * 2 + 1) : NULL;
			if (!nb) {
				free(b);
				return exo_error(e, EXO_DATAERR, "%s: input larger than %zu MiB",
						 r->source, max >> 20);
			}
			b = nb;
			cap *= 2;
		}
		got = rec_input_read(r, b + n, cap - n);
		if (got < 0) {
			free(b);
			return exo_error(e, EXO_IOERR, "%s: read: %s", r->source, strerror(errno));
		}
		n += (size_t)got;
	}
	if (!b)
		return exo_error(e, EXO_SOFTWARE, "%s: out of memory", r->source);
	b[n] = '\0';
	*buf = b;
	*len = n;
	return 0;
}

int rec_fail(const struct rec_reader *r, struct exo_err *e, const char *fmt, ...)
{
	char msg[sizeof e->msg];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return exo_error(e, EXO_DATAERR, "%s: record %zu: %s", r->source, r->index, msg);
}

static struct rec_reader *reader_new(int fd, const void *mem, size_t len, const char *source,
				     enum rec_format f)
{
	struct rec_reader *r = calloc(1, sizeof *r);
	if (!r)
		return NULL;
	r->fd = fd;
	r->mem = mem;
	r->mem_len = len;
	r->source = strdup(source ? source : "input");
	int rc = !r->source ? -1
		: f == REC_JSON ? rec_json_init(r)
		: f == REC_YAML ? rec_yaml_init(r)
		: rec_msgpack_init(r);
	if (rc < 0) {
		rec_reader_close(r);
		return NULL;
	}
	return r;
}

struct rec_reader *rec_reader_open(int fd, const char *source)
{
	return reader_new(fd, NULL, 0, source, REC_MSGPACK);
}

struct rec_reader *rec_reader_open_format(int fd, const char *source, enum rec_format f)
{
	return reader_new(fd, NULL, 0, source, f);
}

struct rec_reader *rec_reader_open_mem(const void *buf, size_t len, const char *source,
				       enum rec_format f)
{
	return reader_new(-1, buf, len, source, f);
}

/* The checks after decoding, the same for every format. */
static int check(struct rec_reader *r, const json_t *rec, struct exo_err *e)
{
	if (!json_is_object(rec))
		return rec_fail(r, e, "expected a map at the top, got %s", rec_type_name(rec));
	struct exo_err de;
	if (rec_depth_check(rec, REC_MAX_DEPTH, &de) < 0)
		return rec_fail(r, e, "%s", de.msg);
	return rec_validate(rec, r->source, r->index, e);
}

int rec_reader_next(struct rec_reader *r, json_t **out, struct exo_err *e)
{
	*out = NULL;
	if (r->failed) {
		if (e)
			*e = r->err;
		return -1;
	}
	json_t *rec = NULL;
	int rc = r->next(r, &rec, &r->err);
	if (rc == 1 && r->lenient && json_is_object(rec) &&
	    rec_depth_check(rec, REC_MAX_DEPTH, e ? e : &r->err) == 0 &&
	    rec_validate(rec, r->source, r->index, e ? e : &r->err) < 0) {
		/* A schema fault leaves the stream in step: hand the record over. */
		if (e)
			rec_msg_clean(e->msg);
		r->index++;
		*out = rec;
		return 2;
	}
	if (rc == 1 && check(r, rec, &r->err) < 0) {
		json_decref(rec);
		rc = -1;
	}
	if (rc < 0) {
		r->failed = 1;
		rec_msg_clean(r->err.msg);
		if (e)
			*e = r->err;
		return -1;
	}
	if (rc == 1) {
		r->index++;
		*out = rec;
	}
	return rc;
}

enum rec_format rec_sniff_format(const void *buf, size_t len)
{
	const unsigned char *p = buf;
	size_t i = 0;
	while (i < len && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
		i++;
	if (i == len)
		return REC_MSGPACK;
	if (p[i] == '{' || p[i] == '[')
		return REC_JSON;
	return p[i] >= 0x80 || p[i] < 0x20 ? REC_MSGPACK : REC_YAML;
}

enum rec_format rec_sniff_fd(int fd)
{
	unsigned char head[256];
	ssize_t n = pread(fd, head, sizeof head, 0);
	return rec_sniff_format(head, n > 0 ? (size_t)n : 0);
}

void rec_reader_set_lenient(struct rec_reader *r, int lenient)
{
	r->lenient = lenient;
}

void rec_reader_set_max_read(struct rec_reader *r, size_t n)
{
	r->max_read = n;
}

size_t rec_reader_index(const struct rec_reader *r)
{
	return r->index;
}

void rec_reader_close(struct rec_reader *r)
{
	if (!r)
		return;
	if (r->free)
		r->free(r);
	free(r->source);
	free(r);
}
