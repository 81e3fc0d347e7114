/* The msgpack decoder: concatenated maps from any chunking of the input.
 * It frames first: a resumable header-only scan (frame_scan, on the
 * cursor's mp_header) finds where each message ends, refusing early what is
 * malformed, nested too deep or over REC_MAX_BYTES; only a complete message
 * is converted (rec_from_msgpack, through the bounded cursor), so nothing is
 * allocated from a count a header announces.  (msgpack-c's streaming
 * unpacker allocates for the announced count: 5 bytes announcing 2^32
 * entries cost it 64 GiB, which the fuzzer found at once.) */
#include "records/rec_int.h"
#include "records/mpcursor.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Resumable scan of one message: items still expected at each level. */
struct frame {
	size_t pos;                        /* bytes of the message scanned */
	int depth;
	uint64_t left[REC_MAX_DEPTH + 1];
};

struct mp {
	char *buf;
	size_t cap, off, len;   /* the message being framed starts at off */
	size_t consumed;        /* stream offset of buf[off] */
	struct frame fr;
	int eof;
};

#define READ_CHUNK 65536
enum { SCAN_MORE, SCAN_DONE, SCAN_BAD, SCAN_DEEP, SCAN_BIG };

/* Advance the scan over the bytes at p (len of them, from the message start). */
static int frame_scan(struct frame *fr, const unsigned char *p, size_t len)
{
	for (;;) {
		while (fr->depth >= 0 && fr->left[fr->depth] == 0)
			fr->depth--;
		if (fr->depth < 0)
			return SCAN_DONE;
		if (fr->pos >= len)
			return SCAN_MORE;
		uint64_t payload, items;
		int hs = mp_header(p + fr->pos, len - fr->pos, &payload, &items);
		if (hs < 0)
			return SCAN_BAD;
		if (hs == 0)
			return SCAN_MORE;
		if (payload > REC_MAX_BYTES || fr->pos + hs + payload > REC_MAX_BYTES ||
		    items > REC_MAX_BYTES)
			return SCAN_BIG;
		if (fr->pos + hs + payload > len)
			return SCAN_MORE;
		fr->left[fr->depth]--;
		fr->pos += hs + payload;
		if (items && fr->depth + 1 > REC_MAX_DEPTH)
			return SCAN_DEEP;
		if (items)
			fr->left[++fr->depth] = items;
	}
}

static void frame_reset(struct frame *fr)
{
	fr->pos = 0;
	fr->depth = 0;
	fr->left[0] = 1;
}

/* Read more input into the buffer, moving the pending message to its start. */
static int fill(struct rec_reader *r, struct mp *m, struct exo_err *e)
{
	if (m->off) {
		memmove(m->buf, m->buf + m->off, m->len - m->off);
		m->len -= m->off;
		m->off = 0;
	}
	if (m->cap - m->len < READ_CHUNK) {
		char *nb = realloc(m->buf, m->cap + READ_CHUNK);
		if (!nb)
			return rec_fail(r, e, "out of memory");
		m->buf = nb;
		m->cap += READ_CHUNK;
	}
	ssize_t n = rec_input_read(r, m->buf + m->len, READ_CHUNK);
	if (n < 0)
		return exo_error(e, EXO_IOERR, "%s: read: %s", r->source, strerror(errno));
	m->eof = n == 0;
	m->len += (size_t)n;
	return 0;
}

/* Convert the complete message of size bytes at the buffer's offset. */
static int decode(struct rec_reader *r, struct mp *m, size_t size, json_t **out, struct exo_err *e)
{
	struct exo_err ce;
	*out = rec_from_msgpack(m->buf + m->off, size, &ce);
	m->off += size;
	m->consumed += size;
	frame_reset(&m->fr);
	return *out ? 1 : rec_fail(r, e, "%s", ce.msg);
}

static int reader_next(struct rec_reader *r, json_t **out, struct exo_err *e)
{
	struct mp *m = r->state;
	for (;;) {
		int scan = SCAN_MORE;
		if (m->len > m->off)
			scan = frame_scan(&m->fr, (const unsigned char *)m->buf + m->off, m->len - m->off);
		switch (scan) {
		case SCAN_DONE: return decode(r, m, m->fr.pos, out, e);
		case SCAN_BAD:
			return rec_fail(r, e, "malformed msgpack at byte %zu", m->consumed + m->fr.pos);
		case SCAN_DEEP: return rec_fail(r, e, "nested deeper than %d levels", REC_MAX_DEPTH);
		case SCAN_BIG: return rec_fail(r, e, "larger than %zu MiB", REC_MAX_BYTES >> 20);
		}
		if (m->eof)
			return m->len > m->off ? rec_fail(r, e, "truncated") : 0;
		if (fill(r, m, e) < 0)
			return -1;
	}
}

static void reader_free(struct rec_reader *r)
{
	struct mp *m = r->state;
	if (m)
		free(m->buf);
	free(m);
}

int rec_msgpack_init(struct rec_reader *r)
{
	struct mp *m = calloc(1, sizeof *m);
	if (!m)
		return -1;
	frame_reset(&m->fr);
	r->state = m;
	r->next = reader_next;
	r->free = reader_free;
	return 0;
}
