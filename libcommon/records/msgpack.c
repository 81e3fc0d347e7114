/* msgpack <-> json_t.  Records carry maps with string keys, strings, integers
 * that fit int64, reals, bools, nil and arrays: bin and ext are refused (no
 * binaries in records), as are non-string keys, duplicate keys, invalid UTF-8
 * and integers above INT64_MAX, each with the path of the field.  Reading
 * goes through the bounded cursor (records/mpcursor.h), writing through
 * msgpack-c's packer. */
#include "records/rec_int.h"
#include "records/mpcursor.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

/* The path of the value being converted, for messages: "gpus[1].name". */
struct path {
	char buf[256];
	size_t len;
};

static size_t path_push_key(struct path *p, const char *k, size_t n)
{
	size_t old = p->len;
	int w = snprintf(p->buf + old, sizeof p->buf - old, "%s%.*s", old ? "." : "", (int)n, k);
	p->len = w < 0 ? old : old + (size_t)w < sizeof p->buf ? old + (size_t)w : sizeof p->buf - 1;
	return old;
}

static size_t path_push_index(struct path *p, size_t i)
{
	size_t old = p->len;
	int w = snprintf(p->buf + old, sizeof p->buf - old, "[%zu]", i);
	p->len = w < 0 ? old : old + (size_t)w < sizeof p->buf ? old + (size_t)w : sizeof p->buf - 1;
	return old;
}

static void path_pop(struct path *p, size_t old)
{
	p->len = old;
	p->buf[old] = '\0';
}

static json_t *bad(struct path *p, struct exo_err *e, const char *what)
{
	exo_error(e, EXO_DATAERR, "field '%s': %s", p->len ? p->buf : "(record)", what);
	return NULL;
}

static json_t *from_value(struct mp_cursor *c, struct path *p, int depth, struct exo_err *e);

static json_t *from_map(struct mp_cursor *c, size_t pairs, struct path *p, int depth,
			struct exo_err *e)
{
	json_t *obj = json_object();
	for (size_t i = 0; obj && i < pairs; i++) {
		struct mp_value k;
		const char *refused = mp_next(c, &k) < 0 ? "malformed msgpack" :
				      k.type != MP_STR ? "map key is not a string" : NULL;
		if (refused) {
			json_decref(obj);
			return bad(p, e, refused);
		}
		/* An empty str may point at the end of the buffer. */
		const char *kp = k.len ? (const char *)k.ptr : "";
		char *key = strndup(kp, k.len);
		size_t old = path_push_key(p, kp, k.len);
		json_t *v = NULL;
		if (!key || strlen(key) != k.len)
			bad(p, e, "key contains a NUL byte");
		else if (json_object_get(obj, key))
			bad(p, e, "duplicate key");
		else
			v = from_value(c, p, depth + 1, e);
		if (v && json_object_set_new(obj, key, v) < 0)
			bad(p, e, "key is not valid UTF-8");
		free(key);
		if (!v || json_object_size(obj) != i + 1) {
			json_decref(obj);
			return NULL;
		}
		path_pop(p, old);
	}
	return obj;
}

static json_t *from_array(struct mp_cursor *c, size_t n, struct path *p, int depth,
			  struct exo_err *e)
{
	json_t *arr = json_array();
	for (size_t i = 0; arr && i < n; i++) {
		size_t old = path_push_index(p, i);
		json_t *v = from_value(c, p, depth + 1, e);
		if (!v) {
			json_decref(arr);
			return NULL;
		}
		json_array_append_new(arr, v);
		path_pop(p, old);
	}
	return arr;
}

static json_t *from_value(struct mp_cursor *c, struct path *p, int depth, struct exo_err *e)
{
	struct mp_value o;
	json_t *v;
	if (mp_next(c, &o) < 0)
		return bad(p, e, "malformed msgpack");
	if (depth > REC_MAX_DEPTH && (o.type == MP_MAP || o.type == MP_ARRAY))
		return bad(p, e, "nested deeper than 32 levels");
	switch (o.type) {
	case MP_NIL: return json_null();
	case MP_BOOL: return json_boolean(o.u);
	case MP_UINT:
		if (o.u > INT64_MAX)
			return bad(p, e, "integer above 9223372036854775807");
		return json_integer((json_int_t)o.u);
	case MP_INT: return json_integer(o.i);
	case MP_FLOAT:
		if (!isfinite(o.f))
			return bad(p, e, "real is not a finite number");
		return json_real(o.f);
	case MP_STR:
		v = o.len ? json_stringn((const char *)o.ptr, o.len) : json_string("");
		return v ? v : bad(p, e, "string is not valid UTF-8");
	case MP_ARRAY: return from_array(c, o.len, p, depth, e);
	case MP_MAP: return from_map(c, o.len, p, depth, e);
	case MP_BIN: return bad(p, e, "binary data is not allowed in records");
	default: return bad(p, e, "msgpack ext type is not allowed in records");
	}
}

json_t *rec_from_msgpack(const char *buf, size_t len, struct exo_err *e)
{
	struct path p = { .len = 0 };
	struct mp_cursor c = {(const uint8_t *)buf, (const uint8_t *)buf + len};
	p.buf[0] = '\0';
	return from_value(&c, &p, 1, e);
}

/* Encoding: the smallest integer forms, reals always as float64, keys in the
 * object's order, so that a decoded record re-encodes to the same bytes. */
static int pack(msgpack_packer *pk, const json_t *v, int depth);

static int pack_str(msgpack_packer *pk, const char *s, size_t n)
{
	return msgpack_pack_str_with_body(pk, s, n);
}

static int pack_container(msgpack_packer *pk, const json_t *v, int depth)
{
	if (depth > REC_MAX_DEPTH)
		return -1;
	if (json_is_array(v)) {
		size_t i;
		json_t *x;
		if (msgpack_pack_array(pk, json_array_size(v)) < 0)
			return -1;
		json_array_foreach(v, i, x)
			if (pack(pk, x, depth + 1) < 0)
				return -1;
		return 0;
	}
	const char *k;
	json_t *x;
	if (msgpack_pack_map(pk, json_object_size(v)) < 0)
		return -1;
	json_object_foreach((json_t *)v, k, x)
		if (pack_str(pk, k, strlen(k)) < 0 || pack(pk, x, depth + 1) < 0)
			return -1;
	return 0;
}

static int pack(msgpack_packer *pk, const json_t *v, int depth)
{
	switch (json_typeof(v)) {
	case JSON_STRING: return pack_str(pk, json_string_value(v), json_string_length(v));
	case JSON_INTEGER: return msgpack_pack_int64(pk, json_integer_value(v));
	case JSON_REAL: return msgpack_pack_double(pk, json_real_value(v));
	case JSON_TRUE: return msgpack_pack_true(pk);
	case JSON_FALSE: return msgpack_pack_false(pk);
	case JSON_NULL: return msgpack_pack_nil(pk);
	default: return pack_container(pk, v, depth);
	}
}

int rec_to_msgpack(const json_t *rec, char **buf, size_t *len, struct exo_err *e)
{
	if (!json_is_object(rec))
		return exo_error(e, EXO_SOFTWARE, "record is not an object");
	/* msgpack_sbuffer grows with realloc, so it can append to the caller's buffer. */
	msgpack_sbuffer sb = { .size = *len, .data = *buf, .alloc = *len };
	msgpack_packer pk;
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	int rc = pack(&pk, rec, 1);
	*buf = sb.data;
	if (rc < 0)
		return exo_error(e, EXO_DATAERR, "record nested deeper than %d levels or out of memory",
				 REC_MAX_DEPTH);
	*len = sb.size;
	return 0;
}
