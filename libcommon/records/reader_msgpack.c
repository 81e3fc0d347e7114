/* The msgpack decoder: concatenated maps from any chunking of the input, the
 * way REFERENCE.md section 3 describes (reserve, read, consumed, next).  The
 * unpacker has no size limit of its own, so the message size is checked
 * before every read; a peer announcing a 4 GiB string is refused at 64 MiB
 * instead of growing the buffer forever. */
#include "records/rec_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct mp {
	msgpack_unpacker u;
	msgpack_unpacked res;
	size_t start;   /* stream offset of the record being read */
	int eof;
};

/* Bytes per read: small enough that the size check bites early. */
#define READ_CHUNK 65536

static int decode(struct rec_reader *r, struct mp *m, json_t **out, struct exo_err *e)
{
	struct exo_err ce;
	*out = rec_from_msgpack(&m->res.data, &ce);
	if (!*out)
		return rec_fail(r, e, "%s", ce.msg);
	return 1;
}

/* Feed one more chunk to the unpacker; -1 on a read error or an oversize message. */
static int fill(struct rec_reader *r, struct mp *m, struct exo_err *e)
{
	size_t pending = msgpack_unpacker_message_size(&m->u);
	if (pending > REC_MAX_BYTES)
		return rec_fail(r, e, "larger than %zu MiB", REC_MAX_BYTES >> 20);
	if (!msgpack_unpacker_reserve_buffer(&m->u, READ_CHUNK))
		return rec_fail(r, e, "out of memory");
	ssize_t n = rec_input_read(r, msgpack_unpacker_buffer(&m->u), READ_CHUNK);
	if (n < 0) {
		exo_error(e, EXO_IOERR, "%s: read: %s", r->source, strerror(errno));
		return -1;
	}
	if (n == 0)
		m->eof = 1;
	else
		msgpack_unpacker_buffer_consumed(&m->u, (size_t)n);
	return 0;
}

static int mp_next(struct rec_reader *r, json_t **out, struct exo_err *e)
{
	struct mp *m = r->state;
	for (;;) {
		size_t size = 0;
		int ret = msgpack_unpacker_next_with_size(&m->u, &m->res, &size);
		if (ret == MSGPACK_UNPACK_SUCCESS) {
			m->start += size;
			return decode(r, m, out, e);
		}
		if (ret == MSGPACK_UNPACK_PARSE_ERROR)
			return rec_fail(r, e, "malformed msgpack at byte %zu",
					m->start + msgpack_unpacker_parsed_size(&m->u));
		if (ret == MSGPACK_UNPACK_NOMEM_ERROR)
			return rec_fail(r, e, "nested deeper than %d levels (or out of memory)",
					REC_MAX_DEPTH);
		if (m->eof)
			return msgpack_unpacker_message_size(&m->u) ? rec_fail(r, e, "truncated") : 0;
		if (fill(r, m, e) < 0)
			return -1;
	}
}

static void mp_free(struct rec_reader *r)
{
	struct mp *m = r->state;
	if (!m)
		return;
	msgpack_unpacked_destroy(&m->res);
	msgpack_unpacker_destroy(&m->u);
	free(m);
}

int rec_msgpack_init(struct rec_reader *r)
{
	struct mp *m = calloc(1, sizeof *m);
	if (!m || !msgpack_unpacker_init(&m->u, READ_CHUNK)) {
		free(m);
		return -1;
	}
	msgpack_unpacked_init(&m->res);
	r->state = m;
	r->next = mp_next;
	r->free = mp_free;
	return 0;
}
