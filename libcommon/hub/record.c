/* The model record exo-fetch writes: what was fetched, where, and the
 * model's shape from config.json, so `exo-fetch ... | exo-partition` works. */
#include "hub/hub.h"
#include "records/record.h"
#include "util/file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* config.json key -> record field, integers */
static const char *const shape_keys[][2] = {
	{ "hidden_size", "hidden" }, { "intermediate_size", "intermediate" },
	{ "num_attention_heads", "heads" }, { "num_key_value_heads", "kv_heads" },
	{ "vocab_size", "vocab" }, { "max_position_embeddings", "context" },
};

static int add_config(json_t *rec, const char *dir, struct exo_err *e)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/config.json", dir);
	char *text = file_read_all(path, NULL, e);
	if (!text)
		return -1;
	json_error_t je;
	json_t *c = json_loads(text, 0, &je);
	free(text);
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
