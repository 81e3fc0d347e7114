/* Checkpoint directories and the Hugging Face cache; sharded checkpoints via
 * model.safetensors.index.json's weight_map. */
#include "model/checkpoint.h"
#include "model/gguf.h"
#include "util/file.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct ckpt {
	char dir[4096];
	struct model_config cfg;
	json_t *weight_map;          /* sharded: tensor name -> file; NULL when single */
	char **file_names;
	struct st_file **files;      /* opened on demand */
	size_t n_files;
	struct gguf_file *gguf;      /* a GGUF file instead of the above */
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
				  : load_index(c, e) < 0)) {
		ckpt_close(c);
		return NULL;
	}
	return c;
}

const struct model_config *ckpt_config(const struct ckpt *c) { return &c->cfg; }
const char *ckpt_dir(const struct ckpt *c) { return c->dir; }

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

const struct st_tensor *ckpt_tensor(struct ckpt *c, const char *name, int n_dims,
				    const int64_t *shape, struct exo_err *e)
{
	struct st_file *f = c->gguf ? NULL : file_for(c, name, e);
	if (!f && !c->gguf)
		return NULL;
	const struct st_tensor *t = c->gguf ? gguf_hf_tensor(c->gguf, name, e) : st_find(f, name);
	if (!t) {
		if (!c->gguf)
			exo_error(e, EXO_DATAERR, "%s: tensor %s is missing", f->path, name);
		return NULL;
	}
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
	free(c);
}
