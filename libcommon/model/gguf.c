/* GGUF reader: the header, key/values and tensor infos, read through a
 * bounded cursor over the mapping (every length checked against what is
 * left, so a truncated or hostile file is an error, never a read past it). */
#include "model/gguf.h"
#include "kernels/kern.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define GGUF_MAGIC 0x46554747u          /* "GGUF" little-endian */
#define GGUF_MAX_ITEMS (1u << 24)       /* keys, tensors, array elements */
#define GGUF_MAX_NAME 4096

/* ggml's tensor types: name, values per block, bytes per block, and the
 * kernel type exo computes it in (-1: none yet).  Sizes of 0 are types
 * whose blocks exo does not know: such files open, their tensors are refused. */
static const struct ggml_type {
	const char *name;
	uint32_t block, size;
	int kd;
} ggml_types[] = {
	[0] = {"F32", 1, 4, KD_F32},        [1] = {"F16", 1, 2, KD_F16},
	[2] = {"Q4_0", 32, 18, KD_Q4_0},    [3] = {"Q4_1", 32, 20, KD_Q4_1},
	[6] = {"Q5_0", 32, 22, KD_Q5_0},    [7] = {"Q5_1", 32, 24, KD_Q5_1},
	[8] = {"Q8_0", 32, 34, KD_Q8_0},    [9] = {"Q8_1", 32, 36, -1},
	[10] = {"Q2_K", 256, 84, -1},       [11] = {"Q3_K", 256, 110, -1},
	[12] = {"Q4_K", 256, 144, KD_Q4_K}, [13] = {"Q5_K", 256, 176, KD_Q5_K},
	[14] = {"Q6_K", 256, 210, KD_Q6_K}, [15] = {"Q8_K", 256, 292, -1},
	[16] = {"IQ2_XXS", 256, 66, -1},    [17] = {"IQ2_XS", 256, 74, -1},
	[18] = {"IQ3_XXS", 256, 98, -1},    [19] = {"IQ1_S", 256, 50, -1},
	[20] = {"IQ4_NL", 32, 18, -1},      [21] = {"IQ3_S", 256, 110, -1},
	[22] = {"IQ2_S", 256, 82, -1},      [23] = {"IQ4_XS", 256, 136, -1},
	[24] = {"I8", 1, 1, -1},            [25] = {"I16", 1, 2, -1},
	[26] = {"I32", 1, 4, -1},           [27] = {"I64", 1, 8, -1},
	[28] = {"F64", 1, 8, -1},           [29] = {"IQ1_M", 256, 56, -1},
	[30] = {"BF16", 1, 2, KD_BF16},     [34] = {"TQ1_0", 256, 54, -1},
	[35] = {"TQ2_0", 256, 66, -1},      [39] = {"MXFP4", 32, 17, -1},
};
#define N_GGML_TYPES (sizeof ggml_types / sizeof *ggml_types)

const char *gguf_type_name(uint32_t t)
{
	return t < N_GGML_TYPES ? ggml_types[t].name : NULL;
}

/* --- the bounded cursor --- */

struct cur {
	const unsigned char *p, *end;
	const char *path;
	struct exo_err *e;
};

static int truncated(struct cur *c, const char *what)
{
	return exo_error(c->e, EXO_DATAERR, "%s: truncated GGUF file (reading %s at byte %zu)",
			 c->path, what, (size_t)(c->end - c->p));
}

static int take(struct cur *c, void *out, size_t n, const char *what)
{
	if ((size_t)(c->end - c->p) < n)
		return truncated(c, what);
	memcpy(out, c->p, n);
	c->p += n;
	return 0;
}

static int take_u32(struct cur *c, uint32_t *v, const char *what) { return take(c, v, 4, what); }
static int take_u64(struct cur *c, uint64_t *v, const char *what) { return take(c, v, 8, what); }

static int take_str(struct cur *c, struct gguf_str *s, const char *what)
{
	uint64_t n = 0;
	if (take_u64(c, &n, what) < 0)
		return -1;
	if (n > (uint64_t)(c->end - c->p))
		return truncated(c, what);
	s->p = (const char *)c->p;
	s->len = (size_t)n;
	c->p += n;
	return 0;
}

static char *str_dup(struct gguf_str s)
{
	char *d = malloc(s.len + 1);
	if (d) {
		memcpy(d, s.p, s.len);
		d[s.len] = '\0';
	}
	return d;
}

static size_t scalar_size(enum gguf_vtype t)
{
	static const size_t sizes[GGUF_VTYPE_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
	return (unsigned)t < GGUF_VTYPE_COUNT ? sizes[t] : 0;
}

/* A scalar of type t into kv's union. */
static int take_scalar(struct cur *c, enum gguf_vtype t, struct gguf_kv *kv)
{
	unsigned char b[8] = {0};
	if (take(c, b, scalar_size(t), kv->key) < 0)
		return -1;
	uint8_t u8 = b[0];
	uint16_t u16;
	uint32_t u32;
	uint64_t u64;
	float f32;
	memcpy(&u16, b, 2), memcpy(&u32, b, 4), memcpy(&u64, b, 8), memcpy(&f32, b, 4);
	switch (t) {
	case GGUF_U8: kv->v.u = u8; break;
	case GGUF_BOOL: kv->v.u = u8 != 0; break;
	case GGUF_I8: kv->v.i = (int8_t)u8; break;
	case GGUF_U16: kv->v.u = u16; break;
	case GGUF_I16: kv->v.i = (int16_t)u16; break;
	case GGUF_U32: kv->v.u = u32; break;
	case GGUF_I32: kv->v.i = (int32_t)u32; break;
	case GGUF_U64: kv->v.u = u64; break;
	case GGUF_I64: kv->v.i = (int64_t)u64; break;
	case GGUF_F32: kv->v.f = f32; break;
	default: memcpy(&kv->v.f, b, 8); break;    /* F64 */
	}
	return 0;
}

static int take_array(struct cur *c, struct gguf_kv *kv)
{
	uint32_t et;
	if (take_u32(c, &et, kv->key) < 0 || take_u64(c, &kv->n, kv->key) < 0)
		return -1;
	kv->elem_type = et;
	if (et >= GGUF_VTYPE_COUNT || et == GGUF_ARRAY)
		return exo_error(c->e, EXO_DATAERR, "%s: key %s: array of value type %u (GGUF has "
				 "none such; nested arrays are not read)", c->path, kv->key, et);
	if (kv->n > GGUF_MAX_ITEMS)
		return exo_error(c->e, EXO_DATAERR, "%s: key %s: %llu array elements is more than "
				 "%u", c->path, kv->key, (unsigned long long)kv->n, GGUF_MAX_ITEMS);
	kv->data = c->p;
	if (et != GGUF_STRING) {
		size_t bytes = (size_t)kv->n * scalar_size(et);
		if (bytes > (size_t)(c->end - c->p))
			return truncated(c, kv->key);
		c->p += bytes;
		return 0;
	}
	kv->strs = malloc((size_t)(kv->n ? kv->n : 1) * sizeof *kv->strs);
	if (!kv->strs)
		return exo_error(c->e, EXO_SOFTWARE, "out of memory");
	for (uint64_t i = 0; i < kv->n; i++)
		if (take_str(c, &kv->strs[i], kv->key) < 0)
			return -1;
	return 0;
}

static int take_kv(struct cur *c, struct gguf_kv *kv)
{
	struct gguf_str key;
	uint32_t type;
	if (take_str(c, &key, "a key") < 0)
		return -1;
	if (!key.len || key.len > GGUF_MAX_NAME || memchr(key.p, '\0', key.len))
		return exo_error(c->e, EXO_DATAERR, "%s: a key name is empty, too long or holds a NUL",
				 c->path);
	if (!(kv->key = str_dup(key)))
		return exo_error(c->e, EXO_SOFTWARE, "out of memory");
	if (take_u32(c, &type, kv->key) < 0)
		return -1;
	kv->type = type;
	if (type >= GGUF_VTYPE_COUNT)
		return exo_error(c->e, EXO_DATAERR, "%s: key %s: value type %u is not a GGUF type",
				 c->path, kv->key, type);
	if (type == GGUF_STRING)
		return take_str(c, &kv->v.s, kv->key);
	if (type == GGUF_ARRAY)
		return take_array(c, kv);
	return take_scalar(c, type, kv);
}

/* --- tensor infos --- */

static int take_tensor(struct cur *c, struct gguf_tensor *t)
{
	struct gguf_str name;
	uint32_t nd;
	if (take_str(c, &name, "a tensor name") < 0)
		return -1;
	if (!name.len || name.len > GGUF_MAX_NAME || memchr(name.p, '\0', name.len))
		return exo_error(c->e, EXO_DATAERR, "%s: a tensor name is empty, too long or holds "
				 "a NUL", c->path);
	if (!(t->name = str_dup(name)))
		return exo_error(c->e, EXO_SOFTWARE, "out of memory");
	if (take_u32(c, &nd, t->name) < 0)
		return -1;
	if (nd < 1 || nd > 4)
		return exo_error(c->e, EXO_DATAERR, "%s: tensor %s: %u dimensions (1 to 4 are allowed)",
				 c->path, t->name, nd);
	t->n_dims = (int)nd;
	for (uint32_t i = 0; i < 4; i++)
		t->ne[i] = 1;
	for (uint32_t i = 0; i < nd; i++)
		if (take_u64(c, &t->ne[i], t->name) < 0)
			return -1;
	return take_u32(c, &t->ggml_type, t->name) < 0 ? -1 : take_u64(c, &t->offset, t->name);
}

/* The tensor's byte count from its type and shape, checked to fit the data. */
static int size_tensor(struct gguf_file *f, struct gguf_tensor *t, size_t data_size,
		       struct exo_err *e)
{
	if (t->ggml_type >= N_GGML_TYPES || !ggml_types[t->ggml_type].name)
		return exo_error(e, EXO_DATAERR, "%s: tensor %s: tensor type %u is not a ggml type",
				 f->path, t->name, t->ggml_type);
	const struct ggml_type *gt = &ggml_types[t->ggml_type];
	if (t->ne[0] % gt->block)
		return exo_error(e, EXO_DATAERR, "%s: tensor %s: %llu columns are not whole %s blocks "
				 "of %u", f->path, t->name, (unsigned long long)t->ne[0], gt->name, gt->block);
	size_t n = t->ne[0] / gt->block;
	for (int i = 1; i < 4; i++)
		n = size_mul(n, t->ne[i] > SIZE_MAX ? SIZE_MAX : (size_t)t->ne[i]);
	t->bytes = size_mul(n, gt->size);
	if (t->offset % f->alignment)
		return exo_error(e, EXO_DATAERR, "%s: tensor %s: offset %llu is not a multiple of the "
				 "alignment %zu", f->path, t->name, (unsigned long long)t->offset, f->alignment);
	if (t->bytes == SIZE_MAX || t->offset > data_size || t->bytes > data_size - t->offset)
		return exo_error(e, EXO_DATAERR, "%s: tensor %s: bytes [%llu, +%zu) are past the end of "
				 "the data section (%zu bytes; truncated?)", f->path, t->name,
				 (unsigned long long)t->offset, t->bytes, data_size);
	t->data = f->map + f->data_start + t->offset;
	return 0;
}

static int read_alignment(struct gguf_file *f, struct exo_err *e)
{
	f->alignment = 32;
	const struct gguf_kv *kv = gguf_get(f, "general.alignment");
	int64_t a;
	if (!kv)
		return 0;
	if (!gguf_kv_int(kv, &a) || a <= 0 || a > (1 << 20) || (a & (a - 1)))
		return exo_error(e, EXO_DATAERR, "%s: general.alignment: expected a power of two up "
				 "to 1 MiB", f->path);
	f->alignment = (size_t)a;
	return 0;
}

static int parse(struct gguf_file *f, struct exo_err *e)
{
	struct cur c = {f->map, f->map + f->map_size, f->path, e};
	uint32_t magic;
	uint64_t nt, nkv;
	if (take_u32(&c, &magic, "the magic") < 0)
		return -1;
	if (magic != GGUF_MAGIC)
		return exo_error(e, EXO_DATAERR, "%s: not a GGUF file (no GGUF magic)", f->path);
	if (take_u32(&c, &f->version, "the version") < 0)
		return -1;
	if (f->version != 2 && f->version != 3)
		return exo_error(e, EXO_DATAERR, "%s: GGUF version %u is not supported (2 and 3 are)",
				 f->path, f->version);
	if (take_u64(&c, &nt, "the tensor count") < 0 || take_u64(&c, &nkv, "the key count") < 0)
		return -1;
	if (nt > GGUF_MAX_ITEMS || nkv > GGUF_MAX_ITEMS)
		return exo_error(e, EXO_DATAERR, "%s: %llu tensors and %llu keys: more than this reader "
				 "takes", f->path, (unsigned long long)nt, (unsigned long long)nkv);
	f->kvs = calloc(nkv + 1, sizeof *f->kvs);
	f->tensors = calloc(nt + 1, sizeof *f->tensors);
	if (!f->kvs || !f->tensors)
		return exo_error(e, EXO_SOFTWARE, "out of memory");
	for (; f->n_kvs < nkv; f->n_kvs++)
		if (take_kv(&c, &f->kvs[f->n_kvs]) < 0) {
			f->n_kvs++;
			return -1;
		}
	for (; f->n_tensors < nt; f->n_tensors++)
		if (take_tensor(&c, &f->tensors[f->n_tensors]) < 0) {
			f->n_tensors++;
			return -1;
		}
	if (read_alignment(f, e) < 0)
		return -1;
	size_t head = (size_t)(c.p - f->map);
	f->data_start = (head + f->alignment - 1) / f->alignment * f->alignment;
	if (f->data_start > f->map_size && nt)
		return truncated(&c, "the data section");
	size_t data_size = f->data_start <= f->map_size ? f->map_size - f->data_start : 0;
	for (size_t i = 0; i < f->n_tensors; i++) {
		if (size_tensor(f, &f->tensors[i], data_size, e) < 0)
			return -1;
		for (size_t j = 0; j < i; j++)
			if (!strcmp(f->tensors[i].name, f->tensors[j].name))
				return exo_error(e, EXO_DATAERR, "%s: tensor %s appears twice", f->path,
						 f->tensors[i].name);
	}
	const struct gguf_kv *arch = gguf_get(f, "general.architecture");
	if (arch && arch->type == GGUF_STRING)
		snprintf(f->arch, sizeof f->arch, "%.*s", (int)(arch->v.s.len < 31 ? arch->v.s.len : 31),
			 arch->v.s.p);
	return 0;
}

struct gguf_file *gguf_parse(const void *buf, size_t len, const char *name, struct exo_err *e)
{
	struct gguf_file *f = calloc(1, sizeof *f);
	if (!f || !(f->path = strdup(name))) {
		free(f);
		exo_error(e, EXO_SOFTWARE, "out of memory");
		return NULL;
	}
	f->map = buf;
	f->map_size = len;
	if (parse(f, e) < 0) {
		gguf_close(f);
		return NULL;
	}
	return f;
}

struct gguf_file *gguf_open(const char *path, struct exo_err *e)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		exo_error(e, errno == EACCES ? EXO_NOPERM : EXO_NOINPUT, "%s: %s", path, strerror(errno));
		return NULL;
	}
	struct stat st;
	void *map = MAP_FAILED;
	if (fstat(fd, &st) == 0 && st.st_size > 0)
		map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED) {
		exo_error(e, EXO_DATAERR, "%s: empty or unreadable file", path);
		return NULL;
	}
	struct gguf_file *f = gguf_parse(map, (size_t)st.st_size, path, e);
	if (!f)
		munmap(map, (size_t)st.st_size);
	else
		f->owns_map = true;
	return f;
}

void gguf_close(struct gguf_file *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->n_kvs; i++) {
		free(f->kvs[i].key);
		free(f->kvs[i].strs);
	}
	for (size_t i = 0; i < f->n_tensors; i++)
		free(f->tensors[i].name);
	for (size_t i = 0; i < f->n_hf; i++) {
		free(f->hf[i]->name);
		free(f->hf[i]);
	}
	for (size_t i = 0; i < f->n_copies; i++)
		munmap(f->copies[i].p, f->copies[i].len);
	free(f->copies);
	free(f->hf);
	free(f->kvs);
	free(f->tensors);
	if (f->owns_map)
		munmap((void *)f->map, f->map_size);
	free(f->path);
	free(f);
}

bool gguf_is_file(const char *path)
{
	struct stat st;
	size_t n = strlen(path);
	return n > 5 && strcasecmp(path + n - 5, ".gguf") == 0 && stat(path, &st) == 0 &&
	       S_ISREG(st.st_mode);
}

/* --- look-ups --- */

const struct gguf_kv *gguf_get(const struct gguf_file *f, const char *key)
{
	for (size_t i = 0; i < f->n_kvs; i++)
		if (!strcmp(f->kvs[i].key, key))
			return &f->kvs[i];
	return NULL;
}

const struct gguf_kv *gguf_get_arch(const struct gguf_file *f, const char *suffix)
{
	char key[128];
	snprintf(key, sizeof key, "%s.%s", f->arch, suffix);
	return gguf_get(f, key);
}

bool gguf_kv_int(const struct gguf_kv *kv, int64_t *out)
{
	if (!kv)
		return false;
	switch (kv->type) {
	case GGUF_U8: case GGUF_U16: case GGUF_U32: case GGUF_BOOL:
		*out = (int64_t)kv->v.u;
		return true;
	case GGUF_U64:
		*out = kv->v.u > INT64_MAX ? INT64_MAX : (int64_t)kv->v.u;
		return true;
	case GGUF_I8: case GGUF_I16: case GGUF_I32: case GGUF_I64:
		*out = kv->v.i;
		return true;
	default:
		return false;
	}
}

bool gguf_kv_num(const struct gguf_kv *kv, double *out)
{
	int64_t i;
	if (kv && (kv->type == GGUF_F32 || kv->type == GGUF_F64)) {
		*out = kv->v.f;
		return true;
	}
	if (!gguf_kv_int(kv, &i))
		return false;
	*out = (double)i;
	return true;
}

char *gguf_get_string(const struct gguf_file *f, const char *key)
{
	const struct gguf_kv *kv = gguf_get(f, key);
	return kv && kv->type == GGUF_STRING ? str_dup(kv->v.s) : NULL;
}

const struct gguf_tensor *gguf_find(const struct gguf_file *f, const char *name)
{
	for (size_t i = 0; i < f->n_tensors; i++)
		if (!strcmp(f->tensors[i].name, name))
			return &f->tensors[i];
	return NULL;
}

int gguf_kd_of(uint32_t ggml_type)
{
	return ggml_type < N_GGML_TYPES && ggml_types[ggml_type].name ? ggml_types[ggml_type].kd : -1;
}
