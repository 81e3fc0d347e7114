/* The bounded msgpack cursor (records/mpcursor.h). */
#include "records/mpcursor.h"

#include <string.h>

static uint64_t be(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int k = 0; k < n; k++)
		v = v << 8 | p[k];
	return v;
}

int mp_header(const uint8_t *p, size_t avail, uint64_t *payload, uint64_t *items)
{
	static const uint8_t fixed[0x20] = {   /* 0xc0..0xdf: header bytes (0: 0xc1) */
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
	if (b <= 0xbf) {   /* fixstr */
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

static enum mp_type type_of(unsigned b)
{
	if (b <= 0x7f || (b >= 0xcc && b <= 0xcf))
		return MP_UINT;
	if (b >= 0xe0 || (b >= 0xd0 && b <= 0xd3))
		return MP_INT;   /* a value >= 0 becomes MP_UINT in scalar() */
	if (b <= 0x8f || b >= 0xde)
		return MP_MAP;
	if (b <= 0x9f || b == 0xdc || b == 0xdd)
		return MP_ARRAY;
	if (b <= 0xbf || (b >= 0xd9 && b <= 0xdb))
		return MP_STR;
	if (b >= 0xc4 && b <= 0xc6)
		return MP_BIN;
	if (b == 0xca || b == 0xcb)
		return MP_FLOAT;
	if (b == 0xc0)
		return MP_NIL;
	return b == 0xc2 || b == 0xc3 ? MP_BOOL : MP_EXT;
}

/* The value of a scalar (v->type set) from its header h of hs bytes. */
static void scalar(const uint8_t *h, int hs, struct mp_value *v)
{
	unsigned b = h[0];
	uint64_t x = be(h + 1, hs - 1);
	int bits = 8 * (hs - 1);
	if (b <= 0x7f)
		v->u = b;
	else if (b >= 0xe0)
		v->i = (int8_t)b;
	else if (v->type == MP_UINT)
		v->u = x;
	else if (v->type == MP_INT) {   /* int 8..64: sign-extend */
		int64_t s = bits == 64 ? (int64_t)x : (int64_t)(x << (64 - bits)) >> (64 - bits);
		if (s >= 0)
			v->type = MP_UINT, v->u = (uint64_t)s;
		else
			v->i = s;
	} else if (v->type == MP_FLOAT && bits == 32) {
		uint32_t w = (uint32_t)x;
		float f;
		memcpy(&f, &w, 4);
		v->f = f;
	} else if (v->type == MP_FLOAT) {
		memcpy(&v->f, &x, 8);
	} else if (v->type == MP_BOOL) {
		v->u = b & 1;
	}
}

int mp_next(struct mp_cursor *c, struct mp_value *v)
{
	size_t left = (size_t)(c->end - c->p);
	uint64_t payload, items;
	int hs = left ? mp_header(c->p, left, &payload, &items) : 0;
	if (hs <= 0)
		return -1;
	const uint8_t *h = c->p;
	c->p += hs, left -= (size_t)hs;
	memset(v, 0, sizeof *v);
	v->type = type_of(h[0]);
	switch (v->type) {
	case MP_ARRAY: case MP_MAP: /* each item takes at least one byte */
		if (items > left)
			return -1;
		v->len = (size_t)(v->type == MP_MAP ? items / 2 : items);
		return 0;
	case MP_STR: case MP_BIN: case MP_EXT:
		if (payload > left)
			return -1;
		v->ptr = c->p, v->len = (size_t)payload;
		c->p += payload;
		return 0;
	default:
		scalar(h, hs, v);
		return 0;
	}
}

int mp_skip(struct mp_cursor *c, int depth)
{
	struct mp_value v;
	if (depth <= 0 || mp_next(c, &v) < 0)
		return -1;
	if (v.type == MP_ARRAY || v.type == MP_MAP)
		for (size_t i = 0; i < v.len * (v.type == MP_MAP ? 2 : 1); i++)
			if (mp_skip(c, depth - 1) < 0)
				return -1;
	return 0;
}

bool mp_str_is(const struct mp_value *v, const char *s)
{
	return v->type == MP_STR && v->len == strlen(s) && memcmp(v->ptr, s, v->len) == 0;
}
