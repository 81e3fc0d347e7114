/* The model's profile: sizes of each layer, of the embedding and of the
 * head for a weight type, and the KV cache per token, from config.json and
 * the safetensors headers (the tensors' shapes, so any --dtype can be sized
 * without reading weights), or from a `model` record. */
#include "planner/planner.h"
#include "hub/cache.h"
#include "kernels/kern.h"
#include "kernels/mlx.h"
#include "model/checkpoint.h"
#include "model/gguf.h"
#include "records/record.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const dtype_names[] = { "f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0",
					   "q5_1", "q4_k", "q5_k", "q6_k" };

#define N_NAMES (sizeof dtype_names / sizeof *dtype_names)

/* The types --dtype converts to; an MLX type (a quantized checkpoint's,
 * kept as stored) by the kernels' name. */
int plan_dtype_parse(const char *name)
{
	for (size_t t = 0; t < N_NAMES; t++)
		if (strcasecmp(name, dtype_names[t]) == 0)
			return (int)t;
	int t = kern_dtype_parse(name);
	return KD_IS_MLX(t) ? t : -1;
}

const char *plan_dtype_name(int dtype)
{
	if (dtype == PLAN_DTYPE_STORED)
		return "stored";
	if (dtype >= 0 && (size_t)dtype < N_NAMES)
		return dtype_names[dtype];
	return KD_IS_MLX(dtype) ? kern_dtype_name(dtype) : "?";
}

/* Bytes per weight of a type, from the kernels' row size (768 columns: a
 * whole number of every block and group). */
double plan_bytes_per_weight(int dtype)
{
	return dtype < 0 ? 0 : (double)kern_row_bytes((enum kern_dtype)dtype, 768) / 768;
}

/* Bytes of one tensor at dtype; matrices convert, vectors stay f32 (the
 * engine widens norms and biases).  0 when the row does not fit the blocks.
 * An MLX model's type means every tensor as stored (its modules may differ
 * in bits, and unquantized ones stay float). */
static uint64_t tensor_bytes(const struct plan_tensor *t, int dtype)
{
	if (!t->cols)
		return t->rows * 4;
	bool stored = dtype < 0 || KD_IS_MLX(dtype);
	return t->rows * kern_row_bytes((enum kern_dtype)(stored ? t->stored : dtype), t->cols);
}

int plan_model_set_dtype(struct plan_model *m, int dtype, struct exo_err *e)
{
	if (!m->tensors) {  /* from a record: scale by bytes per weight */
		if (dtype == m->dtype)
			return 0;
		if (dtype < 0 || m->dtype < 0)
			return exo_error(e, EXO_USAGE, "--dtype %s: the model record's types are as its "
					 "file stores them (mixed)", plan_dtype_name(dtype));
		double k = plan_bytes_per_weight(dtype) / plan_bytes_per_weight(m->dtype);
		for (int i = 0; i < m->layers; i++)
			m->layer_bytes[i] = (uint64_t)((double)m->layer_bytes[i] * k);
		m->embed_bytes = (uint64_t)((double)m->embed_bytes * k);
		m->expert_bytes = (uint64_t)((double)m->expert_bytes * k);
		m->head_bytes = (uint64_t)((double)m->head_bytes * k);
		m->dtype = dtype;
		return 0;
	}
	memset(m->layer_bytes, 0, sizeof *m->layer_bytes * (size_t)m->layers);
	uint64_t embed = 0, head = 0, norm = 0, experts = 0;
	for (size_t i = 0; i < m->n_tensors; i++) {
		const struct plan_tensor *t = &m->tensors[i];
		uint64_t b = tensor_bytes(t, dtype);
		if (!b && t->rows)
			return exo_error(e, EXO_USAGE, "--dtype %s: a matrix of %llu columns does not "
					 "divide into blocks of 32", plan_dtype_name(dtype),
					 (unsigned long long)t->cols);
		switch (t->role) {
		case PR_LAYER:
			m->layer_bytes[t->layer] += b;
			experts += t->expert ? b : 0;
			break;
		case PR_EMBED: embed += b; break;
		case PR_HEAD: head += b; break;
		case PR_NORM: norm += b; break;
		}
	}
	m->embed_bytes = embed;
	int sparse = 0;
	for (int i = 0; m->layer_sparse && i < m->layers; i++)
		sparse += m->layer_sparse[i];
	m->expert_bytes = sparse ? experts / (uint64_t)sparse : 0;
	/* Tied embeddings: the last stage holds the embedding as its LM head. */
	m->head_bytes = (m->tied ? embed : head) + norm;
	m->dtype = dtype;
	return 0;
}

/* An MLX packed weight as the kernels' type of its bits, group and scale
 * type, of its unpacked columns: its bytes are those of the packed values,
 * the scales and the biases together (which add_tensor then skips). */
static int mlx_tensor(const struct st_file *f, const struct st_tensor *t, const struct model_quant *q,
		      struct plan_tensor *p, struct exo_err *e)
{
	size_t len = strlen(t->name);
	char module[512], scales[600];
	/* 2-D, or 3-D: a sparse layer's experts stacked [experts, rows, packed] */
	int nd = t->n_dims;
	if (len < 8 || len - 7 >= sizeof module || strcmp(t->name + len - 7, ".weight") ||
	    !(nd == 2 || (nd == 3 && p->expert)))
		return exo_error(e, EXO_DATAERR, "%s: tensor %s: dtype U32 is only supported for MLX's "
				 "quantized 2-D .weight tensors (3-D for stacked experts)", f->path, t->name);
	snprintf(module, sizeof module, "%.*s", (int)(len - 7), t->name);
	snprintf(scales, sizeof scales, "%s.scales", module);
	struct model_qspec s = model_quant_of(q, module);
	const struct st_tensor *sc = st_find(f, scales);
	int type = s.quantized ? kern_mlx_type(s.bits, s.group, sc ? sc->dtype : KD_BF16) : -1;
	if (type < 0)
		return exo_error(e, EXO_DATAERR, "%s: tensor %s is packed U32 but config.json does not "
				 "quantize module %s", f->path, t->name, module);
	p->stored = type;
	p->rows = (uint64_t)t->shape[0] * (nd == 3 ? (uint64_t)t->shape[1] : 1);
	p->cols = (uint64_t)t->shape[nd - 1] * 32 / (uint64_t)s.bits;
	/* the packed width and the scales agree with bits and group_size */
	uint64_t groups = p->cols / (uint64_t)s.group;
	if (sc && (p->cols % (uint64_t)s.group || sc->n_dims != nd || sc->shape[0] != t->shape[0] ||
		   (nd == 3 && sc->shape[1] != t->shape[1]) || (uint64_t)sc->shape[nd - 1] != groups))
		return exo_error(e, EXO_DATAERR, "%s: tensor %s: shape %lldx%lld, expected %lldx%llu (%s "
				 "is %lldx%lld: %llu columns at %d bits in groups of %d)", f->path, scales,
				 sc->n_dims > 0 ? (long long)sc->shape[0] : 0LL,
				 sc->n_dims > 1 ? (long long)sc->shape[1] : 0LL, (long long)t->shape[0],
				 (unsigned long long)groups, t->name, (long long)t->shape[0],
				 (long long)t->shape[1], (unsigned long long)p->cols, s.bits, s.group);
	return 0;
}

static bool group_tensor(const char *name)
{
	size_t len = strlen(name);
	return len > 7 && (!strcmp(name + len - 7, ".scales") || !strcmp(name + len - 7, ".biases"));
}

static int add_tensor(struct plan_model *m, const struct st_file *f, const struct st_tensor *t,
		      const char *file, const struct model_quant *q, struct exo_err *e)
{
	struct plan_tensor p = { .stored = t->dtype };
	if (q->present && group_tensor(t->name))
		return 0;   /* counted with the packed weight */
	int layer;
	char rest[256];
	if (sscanf(t->name, "model.layers.%d.%255s", &layer, rest) == 2) {
		if (layer < 0 || layer >= m->layers)
			return exo_error(e, EXO_DATAERR, "%s: tensor %s: layer %d outside the config's "
					 "%d layers", file, t->name, layer, m->layers);
		p.role = PR_LAYER, p.layer = layer;
		/* one expert's matrix, or all of them stacked (mlx-lm's switch_mlp) */
		p.expert = strstr(rest, ".experts.") || strstr(rest, ".switch_mlp.");
	} else if (strcmp(t->name, "model.embed_tokens.weight") == 0) {
		p.role = PR_EMBED;
	} else if (strcmp(t->name, "lm_head.weight") == 0) {
		p.role = PR_HEAD;
	} else if (strcmp(t->name, "model.norm.weight") == 0) {
		p.role = PR_NORM;
	} else {
		return 0;  /* buffers such as rotary inv_freq: not weights a stage holds */
	}
	if (t->dtype == ST_U32) {
		p.rows = (uint64_t)t->shape[0];
		if (mlx_tensor(f, t, q, &p, e) < 0)
			return -1;
	} else if (t->n_dims == 3 && p.expert)  /* [experts, rows, cols]: their rows one after another */
		p.rows = (uint64_t)t->shape[0] * (uint64_t)t->shape[1], p.cols = (uint64_t)t->shape[2];
	else if (t->n_dims == 2)
		p.rows = (uint64_t)t->shape[0], p.cols = (uint64_t)t->shape[1];
	else if (t->n_dims == 1)
		p.rows = (uint64_t)t->shape[0];
	else
		return exo_error(e, EXO_DATAERR, "%s: tensor %s: %d dimensions, expected 1 or 2", file,
				 t->name, t->n_dims);
	m->tensors = xrealloc(m->tensors, (m->n_tensors + 1) * sizeof *m->tensors);
	m->tensors[m->n_tensors++] = p;
	return 0;
}

static int scan_file(struct plan_model *m, const char *dir, const char *name,
		     const struct model_quant *q, struct exo_err *e)
{
	char path[4600];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	struct st_file *f = st_open(path, e);
	if (!f)
		return -1;
	int rc = 0;
	for (size_t i = 0; i < f->n_tensors && rc == 0; i++)
		rc = add_tensor(m, f, &f->tensors[i], path, q, e);
	st_close(f);
	return rc;
}

static int strcmp_ptr(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A GGUF file's tensors under their transformers names. */
static int scan_gguf(struct plan_model *m, const char *path, struct exo_err *e)
{
	struct gguf_file *f = gguf_open(path, e);
	if (!f || gguf_check_tensors(f, e) < 0) {
		gguf_close(f);
		return -1;
	}
	int rc = 0;
	char name[256];
	struct st_tensor t;
	struct model_quant none = {0};   /* GGUF types are whole kernel types */
	for (size_t i = 0; i < f->n_tensors && rc == 0; i++)
		if (gguf_hf_info(f, i, name, sizeof name, &t))
			rc = add_tensor(m, NULL, &t, path, &none, e);
	gguf_close(f);
	return rc;
}

/* Every safetensors file of the checkpoint, once each, in name order. */
static int scan_files(struct plan_model *m, const char *dir, const struct model_quant *q,
		      struct exo_err *e)
{
	if (gguf_is_file(dir))
		return scan_gguf(m, dir, e);
	char index[4600];
	snprintf(index, sizeof index, "%s/model.safetensors.index.json", dir);
	if (access(index, F_OK) != 0)
		return scan_file(m, dir, "model.safetensors", q, e);
	json_error_t je;
	json_t *root = json_load_file(index, 0, &je), *files = json_object(), *v;
	json_t *map = json_object_get(root, "weight_map");
	const char *k;
	int rc = 0;
	if (!json_is_object(map))
		rc = exo_error(e, EXO_DATAERR, "%s: no weight_map object", index);
	json_object_foreach(map, k, v) {
		const char *f = json_string_value(v);
		if (!f || strchr(f, '/')) {
			rc = exo_error(e, EXO_DATAERR, "%s: weight_map.%s: expected a file name", index, k);
			break;
		}
		json_object_set_new(files, f, json_true());
	}
	const char **names = xcalloc(json_object_size(files) + 1, sizeof *names);
	size_t n = 0;
	json_object_foreach(files, k, v)
		names[n++] = k;
	qsort(names, n, sizeof *names, strcmp_ptr);
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = scan_file(m, dir, names[i], q, e);
	free(names);
	json_decref(files);
	json_decref(root);
	return rc;
}

/* id and revision: ORG/NAME from an HF cache snapshot path, else the
 * directory's name. */
static void name_model(struct plan_model *m, const char *arg, const char *dir)
{
	char real[PATH_MAX];
	const char *slash = strrchr(dir, '/');
	if (gguf_is_file(dir) && slash && slash > dir) {
		/* a GGUF file in a snapshot is a link to its blob: resolve the
		 * directory only, so that the snapshot still names the model */
		char parent[PATH_MAX];
		snprintf(parent, sizeof parent, "%.*s", (int)(slash - dir), dir);
		if (!realpath(parent, real) || strlen(real) + strlen(slash) >= sizeof real)
			snprintf(real, sizeof real, "%s", dir);
		else
			strcat(real, slash);
	} else if (!realpath(dir, real)) {
		snprintf(real, sizeof real, "%s", dir);
	}
	snprintf(m->path, sizeof m->path, "%s", real);
	if (hub_snapshot_parse(real, m->id, sizeof m->id, m->revision, sizeof m->revision))
		return;   /* .../models--ORG--NAME/snapshots/REV */
	const char *base = strrchr(real, '/');
	snprintf(m->id, sizeof m->id, "%.511s", base && base[1] ? base + 1 : real);
	(void)arg;
}

static int stored_dtype(const struct plan_model *m)
{
	for (size_t i = 0; i < m->n_tensors; i++)
		if (m->tensors[i].cols)
			return m->tensors[i].stored;
	return KD_F32;
}

int plan_model_load(struct plan_model *m, const char *model, int dtype, struct exo_err *e)
{
	char dir[4096];
	struct model_config cfg;
	memset(m, 0, sizeof *m);
	if (ckpt_resolve(model, dir, sizeof dir, e) < 0 || model_config_load(&cfg, dir, e) < 0)
		return -1;
	name_model(m, model, dir);
	snprintf(m->architecture, sizeof m->architecture, "%s", cfg.architecture);
	m->layers = cfg.n_layers, m->hidden = cfg.hidden, m->ffn = cfg.ffn;
	m->heads = cfg.n_heads, m->kv_heads = cfg.n_kv_heads, m->head_dim = cfg.head_dim;
	m->vocab = cfg.vocab, m->max_pos = cfg.max_pos, m->tied = cfg.tied_embeddings;
	m->kv_bytes_token_layer = 2ull * (uint64_t)cfg.n_kv_heads * (uint64_t)cfg.head_dim * 4;
	m->layer_bytes = xcalloc((size_t)m->layers, sizeof *m->layer_bytes);
	if (cfg.n_experts) {
		m->experts = cfg.n_experts, m->experts_used = cfg.n_experts_used;
		m->layer_sparse = m->layer_sparse_owned = xcalloc((size_t)m->layers, sizeof(bool));
		for (int i = 0; i < m->layers; i++)
			m->layer_sparse_owned[i] = model_layer_is_sparse(&cfg, i);
	}
	struct model_quant q = {0};   /* a GGUF file's types are whole kernel types */
	if (!gguf_is_file(dir) && model_quant_load(&q, dir, e) < 0)
		goto fail;
	int scanned = scan_files(m, dir, &q, e);
	model_quant_free(&q);
	if (scanned < 0)
		goto fail;
	for (int i = 0; i < m->layers; i++) {
		bool found = false;
		for (size_t t = 0; t < m->n_tensors; t++)
			found |= m->tensors[t].role == PR_LAYER && m->tensors[t].layer == i;
		if (!found) {
			exo_error(e, EXO_DATAERR, "%s: no tensors for layer %d of %d", dir, i, m->layers);
			goto fail;
		}
	}
	m->dtype = stored_dtype(m);
	for (size_t i = 0; dtype < 0 && i < m->n_tensors; i++)   /* GGUF files mix types */
		if (m->tensors[i].cols && m->tensors[i].stored != m->dtype)
			m->dtype = PLAN_DTYPE_STORED;
	if (plan_model_set_dtype(m, dtype < 0 ? m->dtype : dtype, e) < 0)
		goto fail;
	if (!m->embed_bytes) {
		exo_error(e, EXO_DATAERR, "%s: no tensor model.embed_tokens.weight", dir);
		goto fail;
	}
	return 0;
fail:
	plan_model_free(m);
	return -1;
}

static int64_t get_int(const json_t *rec, const char *key, bool *missing)
{
	const json_t *v = json_object_get(rec, key);
	if (!json_is_integer(v) || json_integer_value(v) < 0) {
		*missing = true;
		return 0;
	}
	return json_integer_value(v);
}

static const char *str_or_empty(const json_t *rec, const char *key)
{
	const char *s = json_string_value(json_object_get(rec, key));
	return s ? s : "";
}

int plan_model_from_record(struct plan_model *m, const json_t *rec, struct exo_err *e)
{
	static const char *const need[] = { "layers", "bytes_per_layer", "embed_bytes", "head_bytes",
					    "kv_bytes_per_token", "hidden", NULL };
	memset(m, 0, sizeof *m);
	for (const char *const *k = need; *k; k++) {
		bool missing = false;
		get_int(rec, *k, &missing);
		if (missing)
			return exo_error(e, EXO_DATAERR, "model record '%s': field '%s': a non-negative "
					 "integer is needed to plan", str_or_empty(rec, "id"),
					 *k);
	}
	bool unused = false;
	snprintf(m->id, sizeof m->id, "%s", str_or_empty(rec, "id"));
	snprintf(m->architecture, sizeof m->architecture, "%s", str_or_empty(rec, "architecture"));
	snprintf(m->revision, sizeof m->revision, "%s", str_or_empty(rec, "revision"));
	snprintf(m->path, sizeof m->path, "%s", str_or_empty(rec, "path"));
	m->layers = (int)get_int(rec, "layers", &unused);
	if (m->layers < 1 || m->layers > 100000)
		return exo_error(e, EXO_DATAERR, "model record '%s': field 'layers': %d is not a layer "
				 "count", m->id, m->layers);
	m->hidden = (int)get_int(rec, "hidden", &unused);
	m->ffn = (int)get_int(rec, "intermediate", &unused);
	m->heads = (int)get_int(rec, "heads", &unused);
	m->kv_heads = (int)get_int(rec, "kv_heads", &unused);
	m->head_dim = (int)get_int(rec, "head_dim", &unused);
	m->vocab = (int)get_int(rec, "vocab", &unused);
	m->max_pos = (int)get_int(rec, "context", &unused);
	m->tied = json_is_true(json_object_get(rec, "tied_embeddings"));
	const char *s = json_string_value(json_object_get(rec, "dtype"));
	m->dtype = s ? plan_dtype_parse(s) : KD_BF16;
	if (s && !strcmp(s, "stored"))
		m->dtype = PLAN_DTYPE_STORED;
	else if (m->dtype < 0)
		return exo_error(e, EXO_DATAERR, "model record '%s': field 'dtype': unknown type '%s'",
				 m->id, s);
	m->layer_bytes = xcalloc((size_t)m->layers, sizeof *m->layer_bytes);
	for (int i = 0; i < m->layers; i++)
		m->layer_bytes[i] = (uint64_t)get_int(rec, "bytes_per_layer", &unused);
	if (!m->layer_bytes[0] || !m->hidden) {
		plan_model_free(m);
		return exo_error(e, EXO_DATAERR, "model record '%s': fields 'bytes_per_layer' and "
				 "'hidden' must be positive", m->id);
	}
	m->embed_bytes = (uint64_t)get_int(rec, "embed_bytes", &unused);
	m->head_bytes = (uint64_t)get_int(rec, "head_bytes", &unused);
	m->kv_bytes_token_layer = (uint64_t)get_int(rec, "kv_bytes_per_token", &unused) /
				  (uint64_t)m->layers;
	/* a mixture of experts: every layer sparse (the record is per layer uniform) */
	bool dense = false;
	m->experts = (int)get_int(rec, "experts", &dense);
	m->experts_used = (int)get_int(rec, "experts_per_token", &dense);
	m->expert_bytes = (uint64_t)get_int(rec, "expert_bytes_per_layer", &dense);
	if (dense || m->experts <= 0 || m->experts_used <= 0 || m->experts_used > m->experts) {
		m->experts = m->experts_used = 0, m->expert_bytes = 0;
		return 0;
	}
	m->layer_sparse = m->layer_sparse_owned = xcalloc((size_t)m->layers, sizeof(bool));
	for (int i = 0; i < m->layers; i++)
		m->layer_sparse_owned[i] = true;
	return 0;
}

void plan_model_free(struct plan_model *m)
{
	free(m->layer_bytes);
	free(m->tensors);
	free(m->layer_sparse_owned);
	m->layer_bytes = NULL;
	m->tensors = NULL;
	m->layer_sparse = m->layer_sparse_owned = NULL;
}

double plan_layer_read_bytes(const struct plan_model *m, int layer)
{
	double b = (double)m->layer_bytes[layer];
	if (!m->experts || !m->layer_sparse || !m->layer_sparse[layer])
		return b;
	return b - (double)m->expert_bytes * (m->experts - m->experts_used) / m->experts;
}

uint64_t plan_model_total(const struct plan_model *m)
{
	uint64_t t = m->head_bytes + (m->tied ? 0 : m->embed_bytes);
	for (int i = 0; i < m->layers; i++)
		t += m->layer_bytes[i];
	return t;
}

json_t *plan_model_record(const struct plan_model *m)
{
	json_t *r = rec_new("model");
	json_object_set_new(r, "id", json_string(m->id));
	json_object_set_new(r, "architecture", json_string(m->architecture));
	json_object_set_new(r, "layers", json_integer(m->layers));
	if (m->revision[0])
		json_object_set_new(r, "revision", json_string(m->revision));
	if (m->path[0])
		json_object_set_new(r, "path", json_string(m->path));
	json_object_set_new(r, "dtype", json_string(plan_dtype_name(m->dtype)));
	json_object_set_new(r, "hidden", json_integer(m->hidden));
	json_object_set_new(r, "intermediate", json_integer(m->ffn));
	json_object_set_new(r, "heads", json_integer(m->heads));
	json_object_set_new(r, "kv_heads", json_integer(m->kv_heads));
	json_object_set_new(r, "head_dim", json_integer(m->head_dim));
	json_object_set_new(r, "vocab", json_integer(m->vocab));
	json_object_set_new(r, "context", json_integer(m->max_pos));
	json_object_set_new(r, "bytes_per_layer", json_integer((json_int_t)m->layer_bytes[0]));
	json_object_set_new(r, "embed_bytes", json_integer((json_int_t)m->embed_bytes));
	json_object_set_new(r, "head_bytes", json_integer((json_int_t)m->head_bytes));
	json_object_set_new(r, "kv_bytes_per_token",
			    json_integer((json_int_t)(m->kv_bytes_token_layer * (uint64_t)m->layers)));
	json_object_set_new(r, "total_bytes", json_integer((json_int_t)plan_model_total(m)));
	json_object_set_new(r, "tied_embeddings", json_boolean(m->tied));
	if (m->experts) {
		json_object_set_new(r, "experts", json_integer(m->experts));
		json_object_set_new(r, "experts_per_token", json_integer(m->experts_used));
		json_object_set_new(r, "expert_bytes_per_layer", json_integer((json_int_t)m->expert_bytes));
	}
	return r;
}
