/* safetensors reader: an 8-byte little-endian header length, a JSON header
 * (jansson), then raw little-endian row-major data, mapped with mmap. */
#include "model/safetensors.h"
#include "kernels/kern.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define ST_MAX_HEADER (100u << 20)  /* the format's own limit is 100 MB */

static int parse_dtype(const char *s)
{
	if (!s)
		return -1;
	if (strcmp(s, "F32") == 0)
		return KD_F32;
	if (strcmp(s, "F16") == 0)
		return KD_F16;
	if (strcmp(s, "BF16") == 0)
		return KD_BF16;
	if (strcmp(s, "U32") == 0)
		return ST_U32;
	return -1;
}

static int parse_tensor(struct st_tensor *t, const char *name, json_t *v, size_t data_size,
			const char *path, struct exo_err *e)
{
	t->name = strdup(name);
	if (!t->name)
		return exo_error(e, EXO_SOFTWARE, "%s: out of memory", path);
	const char *dt = json_string_value(json_object_get(v, "dtype"));
	t->dtype = parse_dtype(dt);
	if (t->dtype < 0)
		return exo_error(e, EXO_DATAERR, "%s: tensor %s: dtype %s is not supported "
				 "(F32, F16, BF16 and MLX's packed U32 are)", path, name, dt ? dt : "(missing)");
	json_t *shape = json_object_get(v, "shape"), *offs = json_object_get(v, "data_offsets");
	if (!json_is_array(shape) || json_array_size(shape) > ST_MAX_DIMS)
		return exo_error(e, EXO_DATAERR, "%s: tensor %s: bad shape", path, name);
	size_t count = 1;
	t->n_dims = (int)json_array_size(shape);
	for (int i = 0; i < t->n_dims; i++) {
		json_t *d = json_array_get(shape, (size_t)i);
		if (!json_is_integer(d) || json_integer_value(d) < 0)
			return exo_error(e, EXO_DATAERR, "%s: tensor %s: bad shape", path, name);
		t->shape[i] = json_integer_value(d);
		count = size_mul(count, (size_t)t->shape[i]);
	}
	json_t *b = json_array_get(offs, 0), *end = json_array_get(offs, 1);
	if (!json_is_array(offs) || json_array_size(offs) != 2 || !json_is_integer(b) ||
	    !json_is_integer(end) || json_integer_value(b) < 0 ||
	    json_integer_value(end) < json_integer_value(b))
		return exo_error(e, EXO_DATAERR, "%s: tensor %s: bad data_offsets", path, name);
	t->offset = (size_t)json_integer_value(b);
	t->bytes = (size_t)json_integer_value(end) - t->offset;
	size_t elem = t->dtype == KD_F32 || t->dtype == ST_U32 ? 4 : 2;
	if (size_mul(count, elem) != t->bytes)
		return exo_error(e, EXO_DATAERR, "%s: tensor %s: data_offsets [%zu, %zu) hold %zu bytes, "
				 "dtype and shape say %zu", path, name, t->offset, t->offset + t->bytes,
				 t->bytes, size_mul(count, elem));
	if ((size_t)json_integer_value(end) > data_size)
		return exo_error(e, EXO_DATAERR, "%s: tensor %s: data_offsets end %zu is past the end "
				 "of the file (truncated? data section is %zu bytes)", path, name,
				 t->offset + t->bytes, data_size);
	return 0;
}

static int by_offset(const void *a, const void *b)
{
	const struct st_tensor *x = a, *y = b;
	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static int check_overlaps(struct st_file *f, const char *path, struct exo_err *e)
{
	struct st_tensor *sorted = malloc(f->n_tensors * sizeof *sorted + 1);
	if (!sorted)
		return exo_error(e, EXO_SOFTWARE, "%s: out of memory", path);
	memcpy(sorted, f->tensors, f->n_tensors * sizeof *sorted);
	qsort(sorted, f->n_tensors, sizeof *sorted, by_offset);
	int rc = 0;
	for (size_t i = 1; i < f->n_tensors && rc == 0; i++)
		if (sorted[i].offset < sorted[i - 1].offset + sorted[i - 1].bytes)
			rc = exo_error(e, EXO_DATAERR, "%s: tensors %s and %s overlap at offset %zu", path,
				       sorted[i - 1].name, sorted[i].name, sorted[i].offset);
	free(sorted);
	return rc;
}

int st_parse_header(struct st_file *f, const char *text, size_t len, size_t data_size,
		    struct exo_err *e)
{
	const char *path = f->path ? f->path : "safetensors";
	json_error_t je;
	json_t *root = json_loadb(text, len, 0, &je);
	if (!root)
		return exo_error(e, EXO_DATAERR, "%s: header JSON at byte %d: %s", path,
				 8 + je.position, je.text);
	int rc = -1;
	if (!json_is_object(root)) {
		exo_error(e, EXO_DATAERR, "%s: header is not a JSON object", path);
		goto out;
	}
	f->tensors = calloc(json_object_size(root) + 1, sizeof *f->tensors);
	if (!f->tensors) {
		exo_error(e, EXO_SOFTWARE, "%s: out of memory", path);
		goto out;
	}
	const char *name;
	json_t *v;
	json_object_foreach(root, name, v) {
		if (strcmp(name, "__metadata__") == 0)
			continue;
		if (!json_is_object(v)) {
			exo_error(e, EXO_DATAERR, "%s: tensor %s: expected an object", path, name);
			goto out;
		}
		if (parse_tensor(&f->tensors[f->n_tensors++], name, v, data_size, path, e) < 0)
			goto out;
	}
	rc = check_overlaps(f, path, e);
out:
	json_decref(root);
	return rc;
}

static int map_file(struct st_file *f, struct exo_err *e)
{
	f->fd = open(f->path, O_RDONLY | O_CLOEXEC);
	if (f->fd < 0)
		return exo_error(e, errno == EACCES ? EXO_NOPERM : EXO_NOINPUT, "%s: %s", f->path,
				 strerror(errno));
	struct stat st;
	if (fstat(f->fd, &st) < 0)
		return exo_error(e, EXO_IOERR, "%s: stat: %s", f->path, strerror(errno));
	if (st.st_size < 8)
		return exo_error(e, EXO_DATAERR, "%s: truncated: %lld bytes, the header length alone "
				 "is 8", f->path, (long long)st.st_size);
	f->map_size = (size_t)st.st_size;
	void *m = mmap(NULL, f->map_size, PROT_READ, MAP_PRIVATE, f->fd, 0);
	if (m == MAP_FAILED)
		return exo_error(e, EXO_IOERR, "%s: mmap: %s", f->path, strerror(errno));
	f->map = m;
	return 0;
}

struct st_file *st_open(const char *path, struct exo_err *e)
{
	struct st_file *f = calloc(1, sizeof *f);
	if (!f || !(f->path = strdup(path))) {
		free(f);
		exo_error(e, EXO_SOFTWARE, "%s: out of memory", path);
		return NULL;
	}
	f->fd = -1;
	if (map_file(f, e) < 0)
		goto fail;
	uint64_t n = 0;
	for (int i = 7; i >= 0; i--)
		n = n << 8 | f->map[i];
	if (n > ST_MAX_HEADER || n > f->map_size - 8) {
		exo_error(e, EXO_DATAERR, "%s: header length %llu at offset 0 runs past the end of the "
			  "file (%zu bytes)", path, (unsigned long long)n, f->map_size);
		goto fail;
	}
	f->data_start = 8 + (size_t)n;
	if (st_parse_header(f, (const char *)f->map + 8, (size_t)n, f->map_size - f->data_start, e) < 0)
		goto fail;
	for (size_t i = 0; i < f->n_tensors; i++)
		f->tensors[i].data = f->map + f->data_start + f->tensors[i].offset;
	return f;
fail:
	st_close(f);
	return NULL;
}

const struct st_tensor *st_find(const struct st_file *f, const char *name)
{
	for (size_t i = 0; i < f->n_tensors; i++)
		if (strcmp(f->tensors[i].name, name) == 0)
			return &f->tensors[i];
	return NULL;
}

void st_close(struct st_file *f)
{
	if (!f)
		return;
	if (f->map)
		munmap((void *)f->map, f->map_size);
	if (f->fd >= 0)
		close(f->fd);
	if (f->tensors)
		for (size_t i = 0; i < f->n_tensors; i++)
			free(f->tensors[i].name);
	free(f->tensors);
	free(f->path);
	free(f);
}
