/* The model record exo-fetch writes: what was fetched, where, and the
 * model's shape from config.json, so `exo-fetch ... | exo-partition` works. */
#include "hub/hub.h"
#include "model/checkpoint.h"
#include "model/gguf.h"
#include "planner/planner.h"
#include "records/record.h"
#include "util/file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* config.json key -> record field, integers */
static const char *const shape_keys[][2] = {
	{ "hidden_size", "hidden" }, { "intermediate_size", "intermediate" },
	{ "num_attention_heads", "heads" }, { "num_key_value_heads", "kv_heads" },
	{ "vocab_size", "vocab" }, { "max_position_embeddings", "context" },
};

static int64_t geti(const json_t *c, const char *key)
{
	json_t *v = json_object_get(c, key);
	return json_is_integer(v) && json_integer_value(v) > 0 ? json_integer_value(v) : 0;
}

/* Bytes per element of the stored weights, from torch_dtype (or dtype). */
static int dtype_bytes(const json_t *c, const char **name)
{
	const char *t = json_string_value(json_object_get(c, "torch_dtype"));
	if (!t)
		t = json_string_value(json_object_get(c, "dtype"));
	static const struct { const char *torch, *exo; int bytes; } map[] = {
		{ "float32", "f32", 4 }, { "bfloat16", "bf16", 2 }, { "float16", "f16", 2 },
	};
	for (size_t i = 0; t && i < sizeof map / sizeof *map; i++)
		if (strcmp(t, map[i].torch) == 0) {
			*name = map[i].exo;
			return map[i].bytes;
		}
	return 0;
}

/* Weight and KV sizes the planner needs, from the shapes in config.json
 * (Llama, Mistral and Qwen2 layouts: attention, gated MLP, two norms per
 * layer), counted as exo-partition --profile counts them (exo-wire(5)):
 * matrices at the stored type, norms, biases and the KV cache in f32.
 * Left out when the dtype or a dimension is unknown. */
static void add_sizes(json_t *rec, const json_t *c)
{
	const char *dname = NULL;
	int64_t b = dtype_bytes(c, &dname), h = geti(c, "hidden_size"), ffn = geti(c, "intermediate_size");
	int64_t heads = geti(c, "num_attention_heads"), kv = geti(c, "num_key_value_heads");
	int64_t vocab = geti(c, "vocab_size"), layers = geti(c, "num_hidden_layers");
	kv = kv ? kv : heads;
	int64_t hd = geti(c, "head_dim") ? geti(c, "head_dim") : heads ? h / heads : 0;
	if (!b || !h || !ffn || !heads || !hd || !vocab || !layers)
		return;
	const char *arch = json_string_value(json_array_get(json_object_get(c, "architectures"), 0));
	bool qkv_bias = json_is_true(json_object_get(c, "attention_bias")) ||
			(arch && strcmp(arch, "Qwen2ForCausalLM") == 0);
	/* matrices at the stored type; norms and biases in f32, as the engine holds them */
	int64_t matrices = 2 * h * heads * hd + 2 * h * kv * hd + 3 * h * ffn;
	int64_t vectors = 2 * h + (qkv_bias ? heads * hd + 2 * kv * hd : 0) +
			  (json_is_true(json_object_get(c, "mlp_bias")) ? 2 * ffn + h : 0);
	int64_t layer = matrices * b + vectors * 4, embed = vocab * h * b;
	int64_t head = (json_is_true(json_object_get(c, "tie_word_embeddings")) ? embed : vocab * h * b) + h * 4;
	json_object_set_new(rec, "dtype", json_string(dname));
	json_object_set_new(rec, "head_dim", json_integer(hd));
	json_object_set_new(rec, "bytes_per_layer", json_integer(layer));
	json_object_set_new(rec, "embed_bytes", json_integer(embed));
	json_object_set_new(rec, "head_bytes", json_integer(head));
	json_object_set_new(rec, "kv_bytes_per_token", json_integer(2 * kv * hd * 4 * layers));
	bool tied = json_is_true(json_object_get(c, "tie_word_embeddings"));
	json_object_set_new(rec, "total_bytes", json_integer(layers * layer + head + (tied ? 0 : embed)));
}

/* A snapshot that holds one .gguf file and no config.json (a GGUF repo
 * fetched with --include): the configuration its metadata gives, as the
 * checkpoint reader sees it.  NULL with e set when it cannot be read. */
static json_t *gguf_config(const char *dir, char *path, size_t len, struct exo_err *e)
{
	if (ckpt_resolve(dir, path, len, e) < 0)
		return NULL;
	if (!gguf_is_file(path)) {
		exo_error(e, EXO_NOINPUT, "%s: no config.json, nor one .gguf file to stand for it "
			  "(of a GGUF repository fetch one, e.g. --include '*Q4_K_M.gguf')", dir);
		return NULL;
	}
	struct gguf_file *f = gguf_open(path, e);
	json_t *c = f ? gguf_hf_config(f, e) : NULL;
	gguf_close(f);
	return c;
}

/* A GGUF file mixes tensor types per tensor: its sizes are those the
 * planner's profile counts from the tensor infos (exo-partition --profile),
 * not the dtype-times-shape guess that serves config.json. */
static void add_gguf_sizes(json_t *rec, const char *path)
{
	static const char *const keys[] = { "dtype", "head_dim", "bytes_per_layer", "embed_bytes",
		"head_bytes", "kv_bytes_per_token", "total_bytes", "experts", "experts_per_token",
		"expert_bytes_per_layer" };
	struct plan_model m = { 0 };
	struct exo_err ignored;
	if (plan_model_load(&m, path, PLAN_DTYPE_STORED, &ignored) == 0) {
		json_t *profile = plan_model_record(&m);
		for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
			if (json_object_get(profile, keys[i]))
				json_object_set(rec, keys[i], json_object_get(profile, keys[i]));
		json_decref(profile);
	}
	plan_model_free(&m);
}

static int add_config(json_t *rec, const char *dir, struct exo_err *e)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/config.json", dir);
	json_error_t je = { .text = "" };
	json_t *c;
	if (access(path, F_OK) != 0) {
		if (!(c = gguf_config(dir, path, sizeof path, e)))
			return -1;
	} else {
		char *text = file_read_all(path, NULL, e);
		if (!text)
			return -1;
		c = json_loads(text, 0, &je);
		free(text);
	}
	json_t *arch = json_array_get(json_object_get(c, "architectures"), 0);
	json_t *layers = json_object_get(c, "num_hidden_layers");
	if (!json_is_string(arch) || !json_is_integer(layers)) {
		json_decref(c);
		return exo_error(e, EXO_DATAERR, "%s: %s", path,
				 !c ? je.text : "needs architectures[0] and num_hidden_layers");
	}
	json_object_set(rec, "architecture", arch);
	json_object_set(rec, "layers", layers);
	for (size_t i = 0; i < sizeof shape_keys / sizeof *shape_keys; i++) {
		json_t *v = json_object_get(c, shape_keys[i][0]);
		if (json_is_integer(v))
			json_object_set(rec, shape_keys[i][1], v);
	}
	json_t *tied = json_object_get(c, "tie_word_embeddings");
	if (json_is_boolean(tied))
		json_object_set(rec, "tied_embeddings", tied);
	if (gguf_is_file(path))
		add_gguf_sizes(rec, path);
	else
		add_sizes(rec, c);
	json_decref(c);
	return 0;
}

static json_t *file_list(const struct hub_model *m)
{
	json_t *files = json_array();
	for (size_t i = 0; i < m->n_files; i++) {
		const struct hub_file *f = &m->files[i];
		if (!f->present)
			continue;
		json_t *o = json_pack("{s:s, s:I}", "name", f->name, "size", (json_int_t)f->size);
		if (strlen(f->etag) == 64)
			json_object_set_new(o, "sha256", json_string(f->etag));
		else if (f->etag[0])
			json_object_set_new(o, "blob_id", json_string(f->etag));
		json_array_append_new(files, o);
	}
	return files;
}

json_t *hub_model_record(const struct hub_model *m, struct exo_err *e)
{
	json_t *rec = rec_new("model");
	json_object_set_new(rec, "id", json_string(m->id));
	if (add_config(rec, m->path, e) < 0) {
		json_decref(rec);
		return NULL;
	}
	if (m->commit)
		json_object_set_new(rec, "revision", json_string(m->commit));
	json_object_set_new(rec, "path", json_string(m->path));
	json_object_set_new(rec, "files", file_list(m));
	json_int_t n = json_integer_value(json_object_get(rec, "layers"));
	json_object_set_new(rec, "layer_start", json_integer(m->layer_end >= 0 ? m->layer_start : 0));
	json_object_set_new(rec, "layer_end", json_integer(m->layer_end >= 0 ? m->layer_end : n));
	return rec;
}
