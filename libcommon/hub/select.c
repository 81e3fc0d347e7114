/* Which files of a repository a run fetches: include/exclude globs, and for
 * a layer range only the safetensors shards that hold those layers' tensors
 * (from model.safetensors.index.json's weight_map). */
#include "hub/hub.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool hub_glob_ok(const char *name, const char *const *include, const char *const *exclude)
{
	bool ok = !include || !include[0];
	for (size_t i = 0; include && include[i]; i++)
		if (fnmatch(include[i], name, 0) == 0)
			ok = true;
	for (size_t i = 0; exclude && exclude[i]; i++)
		if (fnmatch(exclude[i], name, 0) == 0)
			ok = false;
	return ok;
}

bool hub_is_weights(const char *name)
{
	static const char *const ext[] = { ".safetensors", ".bin", ".pth", ".pt", ".gguf",
					   ".h5", ".msgpack", ".ckpt", ".onnx", ".ot", NULL };
	size_t n = strlen(name);
	if (strcmp(name, "model.safetensors.index.json") == 0)
		return false;
	for (size_t i = 0; ext[i]; i++) {
		size_t m = strlen(ext[i]);
		if (n > m && strcmp(name + n - m, ext[i]) == 0)
			return true;
	}
	return false;
}

bool hub_parse_layers(const char *s, int *a, int *b)
{
	char *end;
	long x = strtol(s, &end, 10);
	if (end == s || *end != ':' || x < 0)
		return false;
	const char *t = end + 1;
	long y = strtol(t, &end, 10);
	if (end == t || *end || y <= x || y > 1 << 20)
		return false;
	*a = (int)x;
	*b = (int)y;
	return true;
}

/* Whether tensor belongs to [start, end): a layer's own tensors by index;
 * the embedding with the first stage (and the last when tied); the final
 * norm and head with the last stage. */
static bool tensor_needed(const char *t, int start, int end, int n_layers, bool tied)
{
	int layer;
	if (sscanf(t, "model.layers.%d.", &layer) == 1)
		return layer >= start && layer < end;
	if (strstr(t, "embed_tokens"))
		return start == 0 || (tied && end >= n_layers);
	return end >= n_layers;  /* model.norm, lm_head and anything else at the top */
}

static bool has_name(char **v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

int hub_select_layers(const char *index_json, const char *source, int start, int end,
		      int n_layers, bool tied, char ***out, struct exo_err *e)
{
	json_error_t je;
	json_t *root = json_loads(index_json, 0, &je);
	json_t *map = json_object_get(root, "weight_map");
	if (!json_is_object(map)) {
		json_decref(root);
		return exo_error(e, EXO_DATAERR, "%s: %s", source,
				 root ? "no weight_map object" : je.text);
	}
	char **v = xcalloc(json_object_size(map) + 1, sizeof *v);
	size_t n = 0;
	const char *tensor;
	json_t *file;
	json_object_foreach(map, tensor, file) {
		if (!json_is_string(file)) {
			exo_error(e, EXO_DATAERR, "%s: weight_map.%s: expected a file name", source, tensor);
			for (size_t i = 0; i < n; i++)
				free(v[i]);
			free(v);
			json_decref(root);
			return -1;
		}
		const char *f = json_string_value(file);
		if (tensor_needed(tensor, start, end, n_layers, tied) && !has_name(v, n, f))
			v[n++] = xstrdup(f);
	}
	json_decref(root);
	*out = v;
	return 0;
}
