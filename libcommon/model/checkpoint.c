/* Checkpoint directories and the Hugging Face cache; sharded checkpoints via
 * model.safetensors.index.json's weight_map. */
#include "model/checkpoint.h"
#include "hub/cache.h"
#include "kernels/mlx.h"
#include "model/gguf.h"
#include "util/file.h"

#include <dirent.h>
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
	struct gguf_file *gguf;      /* a GGUF file instead of the above */
};

static int is_dir(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* A directory without config.json that holds one .gguf file (a GGUF repo
 * fetched with --include '*Q4_K_M.gguf') stands for that file. */
static void single_gguf(char *dir, size_t dir_len)
{
	char cfg[4200], found[4200] = "";
	snprintf(cfg, sizeof cfg, "%s/config.json", dir);
	if (access(cfg, F_OK) == 0)
		return;
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;
	while (d && (de = readdir(d))) {
		snprintf(cfg, sizeof cfg, "%s/%s", dir, de->d_name);
		if (gguf_is_file(cfg) && n++ == 0)
			snprintf(found, sizeof found, "%s", cfg);
	}
	if (d)
		closedir(d);
	if (n == 1 && strlen(found) < dir_len)
		snprintf(dir, dir_len, "%s", found);
}

int ckpt_resolve(const char *model, char *dir, size_t dir_len, struct exo_err *e)
{
	if (is_dir(model) || gguf_is_file(model)) {
		snprintf(dir, dir_len, "%s", model);
		if (is_dir(model))
			single_gguf(dir, dir_len);
		return 0;
	}
	char id[512], rev[256] = "main", cache[4096];
	snprintf(id, sizeof id, "%s", model);
	char *at = strchr(id, '@');
	if (at) {
		snprintf(rev, sizeof rev, "%s", at + 1);
		*at = '\0';
	}
	if (!hub_repo_id_ok(id))
		return exo_error(e, EXO_NOINPUT, "%s: no such directory, and not an ORG/NAME model id",
				 model);
	if (hub_cache_location(cache, sizeof cache, e) < 0 ||
	    hub_snapshot_dir(cache, id, rev, dir, dir_len, e) < 0)
		return -1;
	single_gguf(dir, dir_len);
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
	    model_config_load(&c->cfg, c->dir, e) < 0 ||
	    (gguf_is_file(c->dir) ? !(c->gguf = gguf_open(c->dir, e)) || gguf_check_tensors(c->gguf, e) < 0
				  : model_quant_load(&c->quant, c->dir, e) < 0 || load_index(c, e) < 0)) {
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
	if (c->gguf)
		return c->dir;
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
			char path[8400];
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
		if (strcmp(q->t.name, t->name) == 0)
			return &q->t;
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

static bool has_tensor(struct ckpt *c, const char *name)
{
	if (c->weight_map)
		return json_object_get(c->weight_map, name) != NULL;
	struct exo_err ignored;
	struct st_file *f = file_for(c, name, &ignored);
	return f && st_find(f, name);
}

/* mlx-lm stacks a sparse layer's experts: PREFIX.switch_mlp.PART.weight
 * [experts, rows, cols] holds what transformers names
 * PREFIX.experts.X.PART.weight (Mixtral's w1, w3, w2 are gate, up, down). */
static bool stacked_name(const char *name, char *stacked, size_t len, int *expert)
{
	static const char *const alias[][2] = {{"w1", "gate_proj"}, {"w3", "up_proj"},
					       {"w2", "down_proj"}};
	const char *p = strstr(name, ".experts.");
	char part[32];
	int x, end = 0;
	if (!p || sscanf(p, ".experts.%d.%31[a-z_0-9].weight%n", &x, part, &end) != 2 || !end ||
	    p[end] != '\0' || x < 0)
		return false;
	const char *to = part;
	for (size_t i = 0; i < sizeof alias / sizeof *alias; i++)
		if (strcmp(part, alias[i][0]) == 0)
			to = alias[i][1];
	snprintf(stacked, len, "%.*s.switch_mlp.%s.weight", (int)(p - name), name, to);
	*expert = x;
	return true;
}

/* Expert x of a stacked tensor: a view of its rows (no copy). */
static const struct st_tensor *expert_view(struct ckpt *c, const char *name, const char *stacked,
					   int x, int n_dims, const int64_t *shape,
					   struct exo_err *e)
{
	for (struct ckpt_qtensor *q = c->qtensors; q; q = q->next)
		if (strcmp(q->t.name, name) == 0)
			return &q->t;
	int experts = c->cfg.n_experts;
	if (n_dims != 2 || x >= experts) {
		exo_error(e, EXO_DATAERR, "%s: tensor %s: expert %d of %d", c->dir, name, x, experts);
		return NULL;
	}
	int64_t all[3] = {experts, shape[0], shape[1]};
	const struct st_tensor *t = ckpt_tensor(c, stacked, 3, all, e);
	struct ckpt_qtensor *v = t ? calloc(1, sizeof *v) : NULL;
	if (t && (!v || !(v->t.name = strdup(name)))) {
		free(v);
		exo_error(e, EXO_SOFTWARE, "out of memory");
		return NULL;
	}
	if (!t)
		return NULL;
	v->t.dtype = t->dtype;
	v->t.n_dims = 2;
	memcpy(v->t.shape, shape, 2 * sizeof *shape);
	v->t.bytes = t->bytes / (size_t)experts;
	v->t.data = (const char *)t->data + (size_t)x * v->t.bytes;
	v->next = c->qtensors;
	c->qtensors = v;
	return &v->t;
}

const struct st_tensor *ckpt_tensor(struct ckpt *c, const char *name, int n_dims,
				    const int64_t *shape, struct exo_err *e)
{
	char stacked[600];
	int x;
	if (!c->gguf && !has_tensor(c, name) && stacked_name(name, stacked, sizeof stacked, &x) &&
	    has_tensor(c, stacked))
		return expert_view(c, name, stacked, x, n_dims, shape, e);
	struct st_file *f = c->gguf ? NULL : file_for(c, name, e);
	if (!f && !c->gguf)
		return NULL;
	const struct st_tensor *t = c->gguf ? gguf_hf_tensor(c->gguf, name, e) : st_find(f, name);
	if (!t) {
		if (!c->gguf)
			exo_error(e, EXO_DATAERR, "%s: tensor %s is missing", f->path, name);
		return NULL;
	}
	if (t->dtype == ST_U32)
		return quantized(c, f->path, t, n_dims, shape, e);
	if (t->n_dims != n_dims || memcmp(t->shape, shape, sizeof *shape * (size_t)n_dims) != 0) {
		char got[96], want[96];
		format_shape(got, sizeof got, t->n_dims, t->shape);
		format_shape(want, sizeof want, n_dims, shape);
		exo_error(e, EXO_DATAERR, "%s: tensor %s: shape %s, config says %s",
			  c->gguf ? c->dir : f->path, name, got, want);
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
	gguf_close(c->gguf);
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
