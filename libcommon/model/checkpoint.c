/* Checkpoint directories and the Hugging Face cache; sharded checkpoints via
 * model.safetensors.index.json's weight_map. */
#include "model/checkpoint.h"
#include "kernels/mlx.h"
#include "util/file.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* An MLX quantized weight joined from its three tensors into the kernels'
 * standard layout (kernels/mlx.h), in anonymous memory of its own. */
struct ckpt_qtensor {
	struct st_tensor t;
	void *map;
	size_t len;
	struct ckpt_qtensor *next;
};

struct ckpt {
	char dir[4096];
	struct model_config cfg;
	json_t *weight_map;          /* sharded: tensor name -> file; NULL when single */
	char **file_names;
	struct st_file **files;      /* opened on demand */
	size_t n_files;
	struct model_quant quant;    /* config.json's MLX quantization block */
	struct ckpt_qtensor *qtensors;
};

static int is_dir(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static void hub_cache_dir(char *out, size_t len)
{
	const char *hub = getenv("HF_HUB_CACHE"), *home = getenv("HF_HOME");
	if (hub && *hub)
		snprintf(out, len, "%s", hub);
	else if (home && *home)
		snprintf(out, len, "%s/hub", home);
	else
		snprintf(out, len, "%s/.cache/huggingface/hub", getenv("HOME") ? getenv("HOME") : "");
}

int ckpt_resolve(const char *model, char *dir, size_t dir_len, struct exo_err *e)
{
	if (is_dir(model)) {
		snprintf(dir, dir_len, "%s", model);
		return 0;
	}
	char id[512], rev[256] = "main", cache[2048], ref_path[4096];
	snprintf(id, sizeof id, "%s", model);
	char *at = strchr(id, '@');
	if (at) {
		snprintf(rev, sizeof rev, "%s", at + 1);
		*at = '\0';
	}
	if (!strchr(id, '/') || strstr(id, ".."))
		return exo_error(e, EXO_NOINPUT, "%s: no such directory, and not an ORG/NAME model id",
				 model);
	hub_cache_dir(cache, sizeof cache);
	char repo[3072];
	size_t n = (size_t)snprintf(repo, sizeof repo, "%s/models--", cache);
	for (const char *p = id; *p && n + 3 < sizeof repo; p++) /* org/name -> org--name */
		n += (size_t)snprintf(repo + n, sizeof repo - n, *p == '/' ? "--" : "%c", *p);
	snprintf(ref_path, sizeof ref_path, "%s/refs/%s", repo, rev);
	char *commit = file_read_all(ref_path, NULL, NULL);
	if (commit)
		commit[strcspn(commit, "\r\n")] = '\0';
	snprintf(dir, dir_len, "%s/snapshots/%s", repo, commit ? commit : rev);
	free(commit);
	if (!is_dir(dir))
		return exo_error(e, EXO_NOINPUT, "%s: not in the Hugging Face cache (%s); fetch it with "
				 "exo-fetch %s", model, dir, id);
	return 0;
}

static int load_index(struct ckpt *c, struct exo_err *e)
{
	char path[4200];
	snprintf(path, sizeof path, "%s/model.safetensors.index.json", c->dir);
	if (access(path, F_OK) != 0) {
		c->file_names = calloc(1, sizeof *c->file_names);
		c->files = calloc(1, sizeof *c->files);
		if (!c->file_names || !c->files || !(c->file_names[0] = strdup("model.safetensors")))
			return exo_error(e, EXO_SOFTWARE, "out of memory");
		c->n_files = 1;
		return 0;
	}
	json_error_t je;
	json_t *root = json_load_file(path, 0, &je);
	if (!root)
		return exo_error(e, EXO_DATAERR, "%s:%d:%d: %s", path, je.line, je.column, je.text);
	c->weight_map = json_incref(json_object_get(root, "weight_map"));
	json_decref(root);
	if (!json_is_object(c->weight_map))
		return exo_error(e, EXO_DATAERR, "%s: field 'weight_map' is missing or not an object", path);
	c->file_names = calloc(json_object_size(c->weight_map) + 1, sizeof *c->file_names);
	c->files = calloc(json_object_size(c->weight_map) + 1, sizeof *c->files);
	if (!c->file_names || !c->files)
		return exo_error(e, EXO_SOFTWARE, "out of memory");
	const char *name;
	json_t *v;
	json_object_foreach(c->weight_map, name, v) {
		const char *file = json_string_value(v);
		if (!file || strchr(file, '/'))
			return exo_error(e, EXO_DATAERR, "%s: weight_map.%s: expected a file name", path, name);
		size_t i = 0;
		while (i < c->n_files && strcmp(c->file_names[i], file) != 0)
			i++;
		if (i == c->n_files && !(c->file_names[c->n_files++] = strdup(file)))
			return exo_error(e, EXO_SOFTWARE, "out of memory");
	}
	return 0;
}

struct ckpt *ckpt_open(const char *model, struct exo_err *e)
{
	struct ckpt *c = calloc(1, sizeof *c);
	if (!c) {
		exo_error(e, EXO_SOFTWARE, "out of memory");
		return NULL;
	}
	if (ckpt_resolve(model, c->dir, sizeof c->dir, e) < 0 ||
	    model_config_load(&c->cfg, c->dir, e) < 0 || model_quant_load(&c->quant, c->dir, e) < 0 ||
	    load_index(c, e) < 0) {
		ckpt_close(c);
		return NULL;
	}
	return c;
}

const struct model_config *ckpt_config(const struct ckpt *c) { return &c->cfg; }
const char *ckpt_dir(const struct ckpt *c) { return c->dir; }
const struct model_quant *ckpt_quant(const struct ckpt *c) { return &c->quant; }

const char *ckpt_file_of(const struct ckpt *c, const char *name)
{
	if (!c->weight_map)
		return c->file_names[0];
	const char *f = json_string_value(json_object_get(c->weight_map, name));
	return f ? f : "";
}

static struct st_file *file_for(struct ckpt *c, const char *name, struct exo_err *e)
{
	const char *file = ckpt_file_of(c, name);
	for (size_t i = 0; i < c->n_files; i++) {
		if (strcmp(c->file_names[i], file) != 0)
			continue;
		if (!c->files[i]) {
			char path[4200];
			snprintf(path, sizeof path, "%s/%s", c->dir, file);
			c->files[i] = st_open(path, e);
		}
		return c->files[i];
	}
	exo_error(e, EXO_DATAERR, "%s/model.safetensors.index.json: tensor %s is missing from the "
		  "weight_map", c->dir, name);
	return NULL;
}

static void format_shape(char *buf, size_t len, int n, const int64_t *shape)
{
	size_t used = 0;
	buf[0] = '\0';
	for (int i = 0; i < n && used < len; i++)
		used += (size_t)snprintf(buf + used, len - used, i ? "x%lld" : "%lld", (long long)shape[i]);
}

static const struct st_tensor *join(struct ckpt *c, const struct st_tensor *packed,
				    const struct st_tensor *sc, const struct st_tensor *bi, int n_dims,
				    const int64_t *shape, int type, struct exo_err *e);

/* The module's scales or biases: [leading..., cols / group] in F16, BF16 or F32. */
static const struct st_tensor *group_tensor(struct ckpt *c, const char *module, const char *what,
					    int n_dims, const int64_t *shape, struct exo_err *e)
{
	char name[600];
	snprintf(name, sizeof name, "%s.%s", module, what);
	struct st_file *f = file_for(c, name, e);
	const struct st_tensor *t = f ? st_find(f, name) : NULL;
	if (f && !t)
		exo_error(e, EXO_DATAERR, "%s: tensor %s is missing (the quantized %s.weight needs it)",
			  f->path, name, module);
	if (!t)
		return NULL;
	if (t->dtype != KD_F16 && t->dtype != KD_BF16 && t->dtype != KD_F32) {
		exo_error(e, EXO_DATAERR, "%s: tensor %s: dtype U32, expected F16, BF16 or F32", f->path, name);
		return NULL;
	}
	if (t->n_dims != n_dims || memcmp(t->shape, shape, sizeof *shape * (size_t)n_dims) != 0) {
		char got[96], want[96];
		format_shape(got, sizeof got, t->n_dims, t->shape);
		format_shape(want, sizeof want, n_dims, shape);
		exo_error(e, EXO_DATAERR, "%s: tensor %s: shape %s, expected %s (one per group of the "
			  "weight's columns)", f->path, name, got, want);
		return NULL;
	}
	return t;
}

/* Check the packed tensor and its scales and biases against the config and
 * the shape the caller expects ([..., cols] unpacked), and join them. */
static const struct st_tensor *quantized(struct ckpt *c, const char *path, const struct st_tensor *t,
					 int n_dims, const int64_t *shape, struct exo_err *e)
{
	for (struct ckpt_qtensor *q = c->qtensors; q; q = q->next)
		if (strcmp(q->t.name, t->name) == 0 && q->t.n_dims == n_dims &&
		    memcmp(q->t.shape, shape, sizeof *shape * (size_t)n_dims) == 0)
			return &q->t;   /* joined before (a tied head is the embedding) */
	char module[512];
	size_t len = strlen(t->name);
	if (len < 8 || len - 7 >= sizeof module || strcmp(t->name + len - 7, ".weight") != 0) {
		exo_error(e, EXO_DATAERR, "%s: tensor %s: dtype U32 is only supported for MLX's "
			  "quantized .weight tensors", path, t->name);
		return NULL;
	}
	snprintf(module, sizeof module, "%.*s", (int)(len - 7), t->name);
	struct model_qspec spec = model_quant_of(&c->quant, module);
	if (!spec.quantized) {
		exo_error(e, EXO_DATAERR, "%s: tensor %s is packed U32 but %s/config.json %s", path,
			  t->name, c->dir, c->quant.present ? "leaves this module unquantized (false)"
							    : "has no quantization block");
		return NULL;
	}
	int64_t cols = shape[n_dims - 1], want[ST_MAX_DIMS], groups[ST_MAX_DIMS];
	memcpy(want, shape, sizeof *shape * (size_t)n_dims);
	memcpy(groups, shape, sizeof *shape * (size_t)n_dims);
	want[n_dims - 1] = cols * spec.bits / 32;
	groups[n_dims - 1] = cols / spec.group;
	if (cols % spec.group || cols * spec.bits % 32) {
		exo_error(e, EXO_DATAERR, "%s: tensor %s: %lld columns do not divide into groups of %d",
			  path, t->name, (long long)cols, spec.group);
		return NULL;
	}
	if (t->n_dims != n_dims || memcmp(t->shape, want, sizeof *want * (size_t)n_dims) != 0) {
		char got[96], exp[96];
		format_shape(got, sizeof got, t->n_dims, t->shape);
		format_shape(exp, sizeof exp, n_dims, want);
		exo_error(e, EXO_DATAERR, "%s: tensor %s: shape %s, expected %s (%lld columns at %d bits "
			  "packed in U32)", path, t->name, got, exp, (long long)cols, spec.bits);
		return NULL;
	}
	const struct st_tensor *sc = group_tensor(c, module, "scales", n_dims, groups, e);
	const struct st_tensor *bi = sc ? group_tensor(c, module, "biases", n_dims, groups, e) : NULL;
	if (!bi)
		return NULL;
	if (bi->dtype != sc->dtype) {
		exo_error(e, EXO_DATAERR, "%s: tensors %s.scales and %s.biases differ in dtype (%s, %s)",
			  path, module, module, kern_dtype_name(sc->dtype), kern_dtype_name(bi->dtype));
		return NULL;
	}
	return join(c, t, sc, bi, n_dims, shape, kern_mlx_type(spec.bits, spec.group, sc->dtype), e);
}

static const struct st_tensor *join(struct ckpt *c, const struct st_tensor *packed,
				    const struct st_tensor *sc, const struct st_tensor *bi, int n_dims,
				    const int64_t *shape, int type, struct exo_err *e)
{
	size_t cols = (size_t)shape[n_dims - 1], rows = 1;
	for (int i = 0; i + 1 < n_dims; i++)
		rows *= (size_t)shape[i];
	size_t rb = kern_row_bytes(type, cols), len = rb * rows;
	struct ckpt_qtensor *q = calloc(1, sizeof *q);
	void *map = len ? mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
			: NULL;
	if (!q || map == MAP_FAILED || !(q->t.name = strdup(packed->name))) {
		if (map && map != MAP_FAILED)
			munmap(map, len);
		free(q);
		exo_error(e, EXO_SOFTWARE, "out of memory joining %s", packed->name);
		return NULL;
	}
	size_t pb = packed->bytes / (rows ? rows : 1), gb = sc->bytes / (rows ? rows : 1);
	for (size_t r = 0; r < rows; r++)
		kern_mlx_assemble_row(type, (const char *)packed->data + r * pb, (const char *)sc->data + r * gb,
				      (const char *)bi->data + r * gb, (char *)map + r * rb, cols);
	q->map = map, q->len = len;
	q->t.dtype = type;
	q->t.n_dims = n_dims;
	memcpy(q->t.shape, shape, sizeof *shape * (size_t)n_dims);
	q->t.bytes = len;
	q->t.data = map;
	q->next = c->qtensors;
	c->qtensors = q;
	return &q->t;
}

const struct st_tensor *ckpt_tensor(struct ckpt *c, const char *name, int n_dims,
				    const int64_t *shape, struct exo_err *e)
{
	struct st_file *f = file_for(c, name, e);
	if (!f)
		return NULL;
	const struct st_tensor *t = st_find(f, name);
	if (!t) {
		exo_error(e, EXO_DATAERR, "%s: tensor %s is missing", f->path, name);
		return NULL;
	}
	if (t->dtype == ST_U32)
		return quantized(c, f->path, t, n_dims, shape, e);
	if (t->n_dims != n_dims || memcmp(t->shape, shape, sizeof *shape * (size_t)n_dims) != 0) {
		char got[96], want[96];
		format_shape(got, sizeof got, t->n_dims, t->shape);
		format_shape(want, sizeof want, n_dims, shape);
		exo_error(e, EXO_DATAERR, "%s: tensor %s: shape %s, config says %s", f->path, name, got, want);
		return NULL;
	}
	return t;
}

void ckpt_close(struct ckpt *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n_files; i++) {
		if (c->files)
			st_close(c->files[i]);
		if (c->file_names)
			free(c->file_names[i]);
	}
	free(c->files);
	free(c->file_names);
	json_decref(c->weight_map);
	model_quant_free(&c->quant);
	while (c->qtensors) {
		struct ckpt_qtensor *q = c->qtensors;
		c->qtensors = q->next;
		if (q->map)
			munmap(q->map, q->len);
		free(q->t.name);
		free(q);
	}
	free(c);
}
