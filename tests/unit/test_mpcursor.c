/* The bounded msgpack cursor (records/mpcursor.h): every value kind msgpack-c
 * packs reads back with its value, and no announced size is believed beyond
 * the bytes there (the property both the shard protocol and the record
 * reader rely on). */
#include "records/mpcursor.h"
#include "tests/tap.h"

#include <msgpack.h>

static msgpack_sbuffer sb;
static msgpack_packer pk;

static void reset(void)
{
	msgpack_sbuffer_clear(&sb);
}

static int read_one(struct mp_value *v)
{
	struct mp_cursor c = {(const uint8_t *)sb.data, (const uint8_t *)sb.data + sb.size};
	int rc = mp_next(&c, v);
	return rc < 0 ? -1 : (int)(c.end - c.p); /* the bytes left after it */
}

static void scalars(void)
{
	struct mp_value v;
	static const int64_t ints[] = {0, 1, 127, 128, 255, 65535, 65536, 4294967295LL,
				       4294967296LL, INT64_MAX, -1, -32, -33, -128, -129, -32768,
				       -32769, -2147483648LL, -2147483649LL, INT64_MIN};
	for (size_t i = 0; i < sizeof ints / sizeof *ints; i++) {
		reset(), msgpack_pack_int64(&pk, ints[i]);
		int left = read_one(&v);
		if (ints[i] >= 0)
			ok(left == 0 && v.type == MP_UINT && v.u == (uint64_t)ints[i], "int %lld reads as uint",
			   (long long)ints[i]);
		else
			ok(left == 0 && v.type == MP_INT && v.i == ints[i], "int %lld reads as int",
			   (long long)ints[i]);
	}
	/* a signed form holding a value >= 0 is an unsigned value */
	static const uint8_t int8_5[] = {0xd0, 5};
	struct mp_cursor c = {int8_5, int8_5 + 2};
	ok(mp_next(&c, &v) == 0 && v.type == MP_UINT && v.u == 5, "int8 5 reads as uint 5");
	reset(), msgpack_pack_uint64(&pk, UINT64_MAX);
	ok(read_one(&v) == 0 && v.type == MP_UINT && v.u == UINT64_MAX, "uint64 max");
	reset(), msgpack_pack_float(&pk, 1.5f);
	ok(read_one(&v) == 0 && v.type == MP_FLOAT && v.f == 1.5, "float32 widened");
	reset(), msgpack_pack_double(&pk, -0.1);
	ok(read_one(&v) == 0 && v.type == MP_FLOAT && v.f == -0.1, "float64");
	reset(), msgpack_pack_nil(&pk), msgpack_pack_true(&pk);
	ok(read_one(&v) == 1 && v.type == MP_NIL, "nil, one byte");
	reset(), msgpack_pack_true(&pk);
	ok(read_one(&v) == 0 && v.type == MP_BOOL && v.u == 1, "true");
}

static void strings(void)
{
	struct mp_value v;
	static char big[70000];
	memset(big, 'x', sizeof big);
	static const size_t lens[] = {0, 31, 32, 255, 256, 65535, 65536};
	for (size_t i = 0; i < sizeof lens / sizeof *lens; i++) {
		reset(), msgpack_pack_str_with_body(&pk, big, lens[i]);
		ok(read_one(&v) == 0 && v.type == MP_STR && v.len == lens[i] &&
		   (const char *)v.ptr + v.len == sb.data + sb.size, "str of %zu bytes", lens[i]);
		reset(), msgpack_pack_bin_with_body(&pk, big, lens[i]);
		ok(read_one(&v) == 0 && v.type == MP_BIN && v.len == lens[i], "bin of %zu bytes", lens[i]);
	}
	reset(), msgpack_pack_str_with_body(&pk, "op", 2);
	ok(read_one(&v) == 0 && mp_str_is(&v, "op") && !mp_str_is(&v, "o") && !mp_str_is(&v, "opx"),
	   "mp_str_is compares the whole string");
	static const size_t exts[] = {1, 2, 4, 8, 16, 3, 300, 70000};
	for (size_t i = 0; i < sizeof exts / sizeof *exts; i++) {
		reset(), msgpack_pack_ext_with_body(&pk, big, exts[i], 7);
		ok(read_one(&v) == 0 && v.type == MP_EXT && v.len == exts[i], "ext of %zu bytes", exts[i]);
	}
}

static void containers(void)
{
	struct mp_value v;
	reset(), msgpack_pack_map(&pk, 2);
	msgpack_pack_int(&pk, 1), msgpack_pack_int(&pk, 2), msgpack_pack_int(&pk, 3), msgpack_pack_nil(&pk);
	ok(read_one(&v) == 4 && v.type == MP_MAP && v.len == 2, "map: the header only, 2 pairs");
	reset(), msgpack_pack_array(&pk, 20);
	for (int i = 0; i < 20; i++)
		msgpack_pack_int(&pk, i);
	ok(read_one(&v) == 20 && v.type == MP_ARRAY && v.len == 20, "array16 of 20");
	struct mp_cursor c = {(const uint8_t *)sb.data, (const uint8_t *)sb.data + sb.size};
	ok(mp_skip(&c, 1) < 0, "skip at depth 1 takes no array of values");
	c = (struct mp_cursor){(const uint8_t *)sb.data, (const uint8_t *)sb.data + sb.size};
	ok(mp_skip(&c, 2) == 0 && c.p == c.end, "skip at depth 2 passes a whole array of values");
	reset();
	for (int i = 0; i < 5; i++)
		msgpack_pack_array(&pk, 1);
	msgpack_pack_nil(&pk);
	c = (struct mp_cursor){(const uint8_t *)sb.data, (const uint8_t *)sb.data + sb.size};
	ok(mp_skip(&c, 5) < 0, "skip refuses nesting deeper than its depth");
	c = (struct mp_cursor){(const uint8_t *)sb.data, (const uint8_t *)sb.data + sb.size};
	ok(mp_skip(&c, 6) == 0 && c.p == c.end, "skip takes nesting up to its depth");
}

/* Announced sizes beyond the bytes there, and every strict prefix. */
static void lies(void)
{
	struct mp_value v;
	static const struct { const char *what; uint8_t b[8]; size_t n; } cases[] = {
		{"array32 announcing 2^32-1 items", {0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0}, 6},
		{"map32 announcing 2^32-1 pairs", {0xdf, 0xff, 0xff, 0xff, 0xff, 0xc0, 0xc0}, 7},
		{"map of 3 pairs in 5 bytes", {0x83, 1, 2, 3, 4, 5}, 6},
		{"str32 announcing 4 GiB", {0xdb, 0xff, 0xff, 0xff, 0xff, 'a'}, 6},
		{"bin8 announcing 3 bytes, 2 there", {0xc4, 3, 'a', 'b'}, 4},
		{"ext8 announcing 5 bytes, 4 there", {0xc7, 5, 1, 'a', 'b', 'c', 'd'}, 7},
		{"fixext16 with 8 bytes", {0xd8, 1, 1, 2, 3, 4, 5, 6}, 8},
		{"uint64 cut", {0xcf, 1, 2, 3}, 4},
		{"0xc1, never used", {0xc1}, 1},
		{"nothing at all", {0}, 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		struct mp_cursor c = {cases[i].b, cases[i].b + cases[i].n};
		ok(mp_next(&c, &v) < 0, "refused: %s", cases[i].what);
	}
	uint64_t payload, items;
	static const uint8_t str32[] = {0xdb, 0, 1};
	ok(mp_header(str32, 3, &payload, &items) == 0, "mp_header: a cut header asks for more bytes");
	static const uint8_t map32[] = {0xdf, 0, 0, 1, 0};
	ok(mp_header(map32, 5, &payload, &items) == 5 && items == 512 && payload == 0,
	   "mp_header: map32 of 256 pairs counts 512 items, nothing read behind");
	static const uint8_t ext16[] = {0xc8, 1, 0, 9};
	ok(mp_header(ext16, 4, &payload, &items) == 4 && payload == 256, "mp_header: ext16 payload");
	static const uint8_t c1[] = {0xc1};
	ok(mp_header(c1, 1, &payload, &items) < 0, "mp_header: 0xc1 refused");

	/* every strict prefix of a nested value fails to skip, the whole passes */
	reset(), msgpack_pack_map(&pk, 2);
	msgpack_pack_str_with_body(&pk, "a", 1), msgpack_pack_array(&pk, 2);
	msgpack_pack_double(&pk, 2.5), msgpack_pack_bin_with_body(&pk, "xyz", 3);
	msgpack_pack_str_with_body(&pk, "b", 1), msgpack_pack_int64(&pk, -70000);
	int prefixes_refused = 1;
	for (size_t cut = 0; cut < sb.size; cut++) {
		uint8_t *part = malloc(cut + 1); /* exactly cut bytes readable (ASan) */
		memcpy(part, sb.data, cut);
		struct mp_cursor c = {part, part + cut};
		if (mp_skip(&c, 4) == 0)
			prefixes_refused = 0, diag("a prefix of %zu bytes skipped", cut);
		free(part);
	}
	ok(prefixes_refused, "every strict prefix of a %zu-byte map is refused", sb.size);
	struct mp_cursor c = {(const uint8_t *)sb.data, (const uint8_t *)sb.data + sb.size};
	ok(mp_skip(&c, 4) == 0 && c.p == c.end, "the whole map skips");
}

int main(void)
{
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	scalars();
	strings();
	containers();
	lies();
	msgpack_sbuffer_destroy(&sb);
	return done_testing();
}
