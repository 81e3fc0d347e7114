/* The msgpack decoder: concatenated maps from any chunking of the input.
 * msgpack-c's streaming unpacker allocates an array or map for the count its
 * header announces before the items arrive, so 5 bytes announcing 2^32
 * entries cost it 64 GiB (the fuzzer found this at once).  This reader
 * therefore frames first: a header-only scan (frame_scan) finds where each
 * message ends, refusing early what is malformed, nested too deep or over
 * REC_MAX_BYTES; only a complete message goes to msgpack_unpack_next, so
 * what msgpack-c allocates is bounded by bytes actually received. */
#include "records/rec_int.h"

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

static uint64_t be(const unsigned char *p, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* Size of the header at p (avail bytes there), its payload, and the items a
 * container holds; 0 if more bytes are needed for the header, -1 for 0xc1. */
static int header(const unsigned char *p, size_t avail, uint64_t *payload, uint64_t *items)
{
	static const unsigned char fixed[0x20] = {   /* 0xc0..0xdf: header bytes (0: 0xc1) */
		1, 0, 1, 1, 2, 3, 5, 3, 4, 6, 5, 9, 2, 3, 5, 9,
		2, 3, 5, 9, 2, 2, 2, 2, 2, 2, 3, 5, 3, 5, 3, 5,
	};
	unsigned b = p[0];
	*payload = *items = 0;
	if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3)
		return 1;
	if (b <= 0x9f) {   /* fixmap, fixarray */
		*items = b <= 0x8f ? (b & 15) * 2u : b & 15u;
		return 1;
	}
	if (b <= 0xbf) {
		*payload = b & 31;
		return 1;
	}
	int hs = fixed[b - 0xc0];
	if (hs == 0)
		return -1;
	if (avail < (size_t)hs)
		return 0;
	if (b >= 0xca && b <= 0xd3)   /* float, uint, int: all in the header */
		return hs;
	if (b >= 0xd4 && b <= 0xd8)   /* fixext: type byte then 1..16 bytes */
		*payload = 1u << (b - 0xd4);
	else if (b >= 0xdc)           /* array16/32, map16/32 */
		*items = be(p + 1, hs - 1) * (b >= 0xde ? 2 : 1);
	else                          /* bin, ext (type byte after length), str */
		*payload = be(p + 1, b >= 0xc7 && b <= 0xc9 ? hs - 2 : hs - 1);
	return hs;
}

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
		int hs = header(p + fr->pos, len - fr->pos, &payload, &items);
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

/* Decode the complete message of size bytes at the buffer's offset. */
static int decode(struct rec_reader *r, struct mp *m, size_t size, json_t **out, struct exo_err *e)
{
	msgpack_unpacked res;
	size_t used = 0;
	struct exo_err ce;
	msgpack_unpacked_init(&res);
	int ret = msgpack_unpack_next(&res, m->buf + m->off, size, &used);
	*out = ret == MSGPACK_UNPACK_SUCCESS ? rec_from_msgpack(&res.data, &ce) : NULL;
	msgpack_unpacked_destroy(&res);
	if (ret != MSGPACK_UNPACK_SUCCESS)
		return rec_fail(r, e, "malformed msgpack at byte %zu", m->consumed);
	m->off += size;
	m->consumed += size;
	frame_reset(&m->fr);
	return *out ? 1 : rec_fail(r, e, "%s", ce.msg);
}

static int mp_next(struct rec_reader *r, json_t **out, struct exo_err *e)
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

static void mp_free(struct rec_reader *r)
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
	r->next = mp_next;
	r->free = mp_free;
	return 0;
}
