/* The one msgpack reader of the tree: a bounded cursor over bytes already in
 * memory.  Every size a header announces is checked against the bytes that
 * are actually there before anything is read behind it (a container's count
 * against the bytes left, as each item takes at least one), so nothing is
 * ever allocated or read from a length a peer or a file merely claims.
 * The shard protocol (net/proto.c) and the record reader
 * (records/reader_msgpack.c, records/msgpack.c) both read through it.
 *
 * This file parses untrusted bytes: it stays free of everything else so
 * that the fuzzers link it alone. */
#ifndef EXO_RECORDS_MPCURSOR_H
#define EXO_RECORDS_MPCURSOR_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mp_cursor {
	const uint8_t *p, *end;
};

enum mp_type { MP_NIL, MP_BOOL, MP_UINT, MP_INT, MP_FLOAT, MP_STR, MP_BIN, MP_ARRAY, MP_MAP,
	       MP_EXT };

/* One value's header.  uint: u (also for a signed form holding a value
 * >= 0); int: i (< 0); float: f (float32 widened); bool: u; str, bin, ext:
 * ptr and len, the bytes (ext: after its type byte), all present; array:
 * len items, map: len pairs, their count checked against the bytes left
 * but the items not read yet. */
struct mp_value {
	enum mp_type type;
	uint64_t u;
	int64_t i;
	double f;
	const uint8_t *ptr;
	size_t len;
};

/* The header at p, of which avail bytes are there: returns its size (the
 * type byte included), 0 if more than avail bytes are needed, -1 for the
 * byte msgpack never uses (0xc1).  *payload: the bytes that follow it (str,
 * bin, ext data); *items: the values a container holds (a map's keys and
 * values both counted).  For readers that frame a stream as it arrives. */
int mp_header(const uint8_t *p, size_t avail, uint64_t *payload, uint64_t *items);

/* Read the next value's header (and a str, bin or ext's bytes).  -1 when
 * malformed or when it announces more than the bytes left. */
int mp_next(struct mp_cursor *c, struct mp_value *v);

/* Skip one whole value nested at most depth levels deep (a scalar is one
 * level, an array of scalars two). */
int mp_skip(struct mp_cursor *c, int depth);

/* Whether v is the string s. */
bool mp_str_is(const struct mp_value *v, const char *s);
#endif
