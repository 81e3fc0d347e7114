/* Packing and unpacking the hidden-state block of a forward frame (msgpack-c). */
#include "wire/hidden.h"
#include "kernels/kern.h"

#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

static const char *hidden_dtype_name(int dtype)
{
	return dtype == KD_F16 ? "f16" : dtype == KD_BF16 ? "bf16" : "f32";
}

static void pack_str(msgpack_packer *pk, const char *k)
{
	msgpack_pack_str_with_body(pk, k, strlen(k));
}

int wire_hidden_pack(const struct wire_hidden *h, const float *x, char **buf, size_t *len,
		     struct exo_err *e)
{
	const struct kern_ops *ops = kern_select();
	size_t count = size_mul(h->n, h->hidden), width = h->dtype == KD_F32 ? 4 : 2;
	void *data = malloc(size_mul(count, width));
	if (!data)
		return exo_error(e, EXO_SOFTWARE, "out of memory packing %zu values", count);
	ops->from_f32[h->dtype](x, data, count);
	msgpack_sbuffer sb;
	msgpack_sbuffer_init(&sb);
	msgpack_packer pk;
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 6);
	pack_str(&pk, "op"), pack_str(&pk, "forward");
	pack_str(&pk, "session"), msgpack_pack_uint64(&pk, h->session);
	pack_str(&pk, "pos"), msgpack_pack_int(&pk, h->pos);
	pack_str(&pk, "dtype"), pack_str(&pk, hidden_dtype_name(h->dtype));
	pack_str(&pk, "shape"), msgpack_pack_array(&pk, 2);
	msgpack_pack_uint64(&pk, h->n), msgpack_pack_uint64(&pk, h->hidden);
	pack_str(&pk, "data"), msgpack_pack_bin_with_body(&pk, data, count * width);
	free(data);
	*len = sb.size;
	*buf = msgpack_sbuffer_release(&sb);
	msgpack_sbuffer_destroy(&sb);
	return 0;
}

static const msgpack_object *field(const msgpack_object *map, const char *key)
{
	for (uint32_t i = 0; i < map->via.map.size; i++) {
		const msgpack_object *k = &map->via.map.ptr[i].key;
		if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == strlen(key) &&
		    memcmp(k->via.str.ptr, key, k->via.str.size) == 0)
			return &map->via.map.ptr[i].val;
	}
	return NULL;
}

static int parse_dtype(const msgpack_object *o)
{
	static const char *names[] = {"f32", "f16", "bf16"};
	static const int types[] = {KD_F32, KD_F16, KD_BF16};
	for (int i = 0; o && o->type == MSGPACK_OBJECT_STR && i < 3; i++)
		if (o->via.str.size == strlen(names[i]) && memcmp(o->via.str.ptr, names[i], o->via.str.size) == 0)
			return types[i];
	return -1;
}

static int decode(const msgpack_object *m, struct wire_hidden *h, float *x, size_t cap,
		  struct exo_err *e)
{
	const msgpack_object *session = field(m, "session"), *pos = field(m, "pos");
	const msgpack_object *shape = field(m, "shape"), *data = field(m, "data");
	h->dtype = parse_dtype(field(m, "dtype"));
	if (!session || session->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return exo_error(e, EXO_DATAERR, "forward frame: field 'session': expected an unsigned integer");
	if (!pos || pos->type != MSGPACK_OBJECT_POSITIVE_INTEGER || pos->via.u64 > INT32_MAX)
		return exo_error(e, EXO_DATAERR, "forward frame: field 'pos': expected a position");
	if (h->dtype < 0)
		return exo_error(e, EXO_DATAERR, "forward frame: field 'dtype': expected f32, f16 or bf16");
	if (!shape || shape->type != MSGPACK_OBJECT_ARRAY || shape->via.array.size != 2 ||
	    shape->via.array.ptr[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
	    shape->via.array.ptr[1].type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return exo_error(e, EXO_DATAERR, "forward frame: field 'shape': expected [n, hidden]");
	h->session = session->via.u64;
	h->pos = (int)pos->via.u64;
	h->n = shape->via.array.ptr[0].via.u64;
	h->hidden = shape->via.array.ptr[1].via.u64;
	size_t count = size_mul(h->n, h->hidden);
	if (count > cap)
		return exo_error(e, EXO_DATAERR, "forward frame: shape %zux%zu is larger than %zu values",
				 h->n, h->hidden, cap);
	if (!data || data->type != MSGPACK_OBJECT_BIN ||
	    data->via.bin.size != count * (h->dtype == KD_F32 ? 4 : 2))
		return exo_error(e, EXO_DATAERR, "forward frame: field 'data': expected %zu bytes of %s",
				 count * (h->dtype == KD_F32 ? 4 : 2), hidden_dtype_name(h->dtype));
	/* The bin payload sits at any byte offset: copy it out before reading 16-bit values. */
	void *aligned = malloc(data->via.bin.size + 1);
	if (!aligned)
		return exo_error(e, EXO_SOFTWARE, "out of memory unpacking %zu values", count);
	memcpy(aligned, data->via.bin.ptr, data->via.bin.size);
	kern_select()->to_f32[h->dtype](aligned, x, count);
	free(aligned);
	return 0;
}

int wire_hidden_unpack(const char *buf, size_t len, struct wire_hidden *h, float *x, size_t cap,
		       struct exo_err *e)
{
	msgpack_unpacked u;
	msgpack_unpacked_init(&u);
	size_t off = 0;
	int rc;
	if (msgpack_unpack_next(&u, buf, len, &off) != MSGPACK_UNPACK_SUCCESS || off != len ||
	    u.data.type != MSGPACK_OBJECT_MAP)
		rc = exo_error(e, EXO_DATAERR, "forward frame: not one msgpack map of %zu bytes", len);
	else
		rc = decode(&u.data, h, x, cap, e);
	msgpack_unpacked_destroy(&u);
	return rc;
}
