/* hub_fetch: resolve a revision through the hub's API, pick the files a run
 * needs, download the missing ones (locked, verified, renamed into blobs/)
 * and link them into the snapshot; or, offline, find them in the cache. */
#include "hub/http.h"
#include "hub/hub.h"
#include "model/checkpoint.h"
#include "model/gguf.h"
#include "util/file.h"
#include "util/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void hub_opts_init(struct hub_opts *o)
{
	memset(o, 0, sizeof *o);
	o->endpoint = "https://huggingface.co";
	o->revision = "main";
	o->jobs = 4;
	o->layer_end = -1;
	o->retries = 5;
	o->backoff_ms = 1000;
	o->min_rate = 32 << 10;
}

void hub_model_free(struct hub_model *m)
{
	for (size_t i = 0; i < m->n_files; i++) {
		free(m->files[i].name);
		free(m->files[i].url);
	}
	free(m->files);
	free(m->id);
	free(m->commit);
	free(m->path);
	memset(m, 0, sizeof *m);
}

/* The state of one run. */
struct run {
	const struct hub_opts *o;
	const char *repo;
	const char *root;            /* the cache, or --local-dir */
	char *repo_dir;              /* cache mode: CACHE/models--ORG--NAME */
	char *repo_rel;              /* cache mode: models--ORG--NAME */
	char *lock_rel;              /* under root: .locks/models--ORG--NAME or .cache/exo */
	char *work_rel;              /* under root: where .incomplete files go */
	char *work_dir;              /* root/work_rel, for messages */
	int work_fd;                 /* work_dir, opened without following links */
	char commit[41];
	json_t *siblings;            /* the API's list, with sizes and hashes */
	struct hub_http *http;
	struct hub_model *m;
	int *blob_locks;             /* per transfer, -1 none */
	struct http_xfer *xs;        /* the transfers of one download() */
	struct hub_file **xfile;     /* the file of each transfer */
};

static char *strf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *strf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s;
	if (vasprintf(&s, fmt, ap) < 0)
		exo_errx(EXO_SOFTWARE, "out of memory");
	va_end(ap);
	return s;
}

/* Where file f lives once complete: a directory (opened without following
 * links; create: made when missing) and the name in it.  -1 (e set) when
 * the directory is not there (EXO_NOINPUT) or is a planted link. */
static int final_dir(const struct run *r, const struct hub_file *f, bool create,
		     const char **base, struct exo_err *e)
{
	if (!r->o->local_dir) {
		*base = f->etag;
		if (r->work_fd < 0)
			return exo_error(e, EXO_NOINPUT, "%s: no such directory", r->work_dir);
		int fd = dup(r->work_fd);
		return fd >= 0 ? fd : exo_error(e, EXO_IOERR, "%s: %s", r->work_dir, strerror(errno));
	}
	const char *slash = strrchr(f->name, '/');
	*base = slash ? slash + 1 : f->name;
	char *sub = strndup(f->name, slash ? (size_t)(slash - f->name) : 0);
	int fd = hub_dir_open(r->o->local_dir, sub, create, e);
	free(sub);
	return fd;
}

/* 1 when f is complete where it belongs, 0 when not, -1 (e set) when a
 * link is planted on its way. */
static int file_present(const struct run *r, const struct hub_file *f, struct exo_err *e)
{
	const char *base;
	struct exo_err missing;
	int dir = final_dir(r, f, false, &base, &missing);
	if (dir < 0) {
		if (missing.code == EXO_NOINPUT)
			return 0;
		*e = missing;
		return -1;
	}
	long long size;
	bool ok = hub_regular_file(dir, base, &size) && (f->size < 0 || size == f->size);
	close(dir);
	if (ok && r->o->local_dir) {   /* a plain directory has no etag names: hash it */
		char *p = strf("%s/%s", r->o->local_dir, f->name);
		ok = hub_verify_file(p, f->name, f->etag, NULL) == 0;
		free(p);
	}
	return ok;
}

/* ---- metadata ---- */

static int repo_info(struct run *r, struct exo_err *e)
{
	char *rev = hub_url_escape(r->o->revision, false);
	char *url = strf("%s/api/models/%s/revision/%s?blobs=true", r->o->endpoint, r->repo, rev);
	struct http_resp resp = { 0 };
	int rc = http_get(r->http, url, &resp, e);
	if (rc == 0)
		rc = hub_repo_info_parse(resp.body, resp.body_len, url, r->commit, &r->siblings, e);
	free(resp.body);
	free(url);
	free(rev);
	return rc;
}

/* The etag and size the API listed for name, if it did (?blobs=true). */
static void sibling_meta(const struct run *r, struct hub_file *f)
{
	hub_sibling_meta(r->siblings, f->name, f->etag, &f->size);
}

/* HEAD the resolve URL: etag, size, and where the content is. */
static int resolve_file(struct run *r, struct hub_file *f, struct exo_err *e)
{
	char *name = hub_url_escape(f->name, true);
	char *url = strf("%s/%s/resolve/%s/%s", r->o->endpoint, r->repo, r->commit, name);
	free(name);
	struct http_resp resp = { 0 };
	int rc = http_head(r->http, url, &resp, e);
	if (rc == 0 && !resp.commit[0])
		rc = exo_error(e, EXO_UNAVAILABLE, "%s: no X-Repo-Commit: not a hub", url);
	else if (rc == 0 && !hub_commit_ok(resp.commit))
		rc = exo_error(e, EXO_DATAERR, "%s: header X-Repo-Commit: not a commit id (40 "
			       "lowercase hex digits)", url);
	else if (rc == 0 && strcmp(resp.commit, r->commit) != 0)
		rc = exo_error(e, EXO_DATAERR, "%s: header X-Repo-Commit: %s, not the commit %s asked "
			       "for", url, resp.commit, r->commit);
	else if (rc == 0 && !hub_etag_normalise(resp.linked_etag[0] ? resp.linked_etag : resp.etag,
						 f->etag))
		rc = exo_error(e, EXO_DATAERR, "%s: header %s: not a blob id (%s)", url,
			       resp.linked_etag[0] ? "X-Linked-Etag" : "ETag",
			       resp.linked_etag[0] ? resp.linked_etag : resp.etag);
	if (rc == 0) {
		bool redirect = resp.status >= 300 && resp.status < 400 && resp.location[0];
		f->size = resp.linked_size >= 0 ? resp.linked_size
			  : redirect ? f->size : resp.content_length;
		f->url = redirect ? xstrdup(resp.location) : xstrdup(url);
		if (f->size < 0)   /* the size is what bounds the bytes written */
			rc = exo_error(e, EXO_DATAERR, "%s: no size announced (X-Linked-Size, "
				       "Content-Length, or the API's siblings)", url);
	}
	free(resp.body);
	free(url);
	return rc;
}

/* ---- transfers ---- */

static size_t xfer_index(const struct run *r, const struct http_xfer *x)
{
	return (size_t)(x - r->xs);
}

static int hook_start(struct http_xfer *x, void *arg)
{
	struct run *r = arg;
	size_t i = xfer_index(r, x);
	const struct hub_file *f = r->xfile[i];
	r->blob_locks[i] = hub_lock(r->root, r->lock_rel, f->etag, !r->o->no_wait, &x->err);
	if (r->blob_locks[i] < 0)
		return -1;
	return r->o->local_dir ? 0 : file_present(r, f, &x->err);   /* another run finished it */
}

/* fsync x's file and rename it to dir/base. */
static int sync_rename(struct http_xfer *x, int dir, const char *base, struct exo_err *e)
{
	int fd = hub_file_open(x->dir_fd, x->dir_path, x->file, O_RDONLY, e);
	if (fd < 0)
		return -1;
	if (fsync(fd) < 0 || renameat(x->dir_fd, x->file, dir, base) < 0) {
		int err = errno;
		close(fd);
		return exo_error(e, EXO_IOERR, "%s: %s", x->path, strerror(err));
	}
	close(fd);
	return 0;
}

static int hook_done(struct http_xfer *x, void *arg)
{
	struct run *r = arg;
	struct hub_file *f = r->xfile[xfer_index(r, x)];
	int rc;
	if (x->sha256 && x->hash[0]) {
		rc = strcmp(x->hash, f->etag) == 0 ? 0
			: exo_error(&x->err, EXO_DATAERR, "%s: sha256 mismatch: expected %s, got %s",
				    f->name, f->etag, x->hash);
	} else {
		rc = hub_verify_file(x->path, f->name, f->etag, &x->err);
	}
	if (rc < 0) {
		unlinkat(x->dir_fd, x->file, 0);   /* a corrupt file is not worth resuming */
		return -1;
	}
	const char *base;
	int dir = final_dir(r, f, true, &base, &x->err);
	if (dir < 0)
		return -1;
	rc = sync_rename(x, dir, base, &x->err);
	close(dir);
	return rc;
}

static void hook_finish(struct http_xfer *x, void *arg)
{
	struct run *r = arg;
	size_t i = xfer_index(r, x);
	hub_unlock(r->blob_locks[i]);
	r->blob_locks[i] = -1;
	r->m->fetched_bytes += x->fetched;
}

static bool same_etag(struct hub_file *const *v, size_t n, const struct hub_file *f)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i]->etag, f->etag) == 0)
			return true;
	return false;
}

/* Download files [from, to) of r->m that are not present; files with the
 * same content as one in this round wait for the next. */
static int download(struct run *r, size_t from, size_t to, struct exo_err *e)
{
	size_t n = to - from;
	r->xs = xcalloc(n ? n : 1, sizeof *r->xs);
	r->blob_locks = xcalloc(n ? n : 1, sizeof *r->blob_locks);
	size_t k = 0;
	struct hub_file **map = r->xfile = xcalloc(n ? n : 1, sizeof *map);
	bool deferred = false;
	for (size_t i = from; i < to; i++) {
		struct hub_file *f = &r->m->files[i];
		if (f->present)
			continue;
		if (same_etag(map, k, f)) {
			deferred = true;   /* one transfer per blob (and per lock) at a time */
			continue;
		}
		map[k] = f;
		struct http_xfer *x = &r->xs[k];
		x->name = f->name;
		x->url = f->url;
		x->file = strf("%s.incomplete", f->etag);
		x->path = strf("%s/%s", r->work_dir, x->file);
		x->dir_fd = r->work_fd;
		x->dir_path = r->work_dir;
		x->expect = f->size;
		x->sha256 = strlen(f->etag) == 64;
		x->send_auth = strncmp(f->url, r->o->endpoint, strlen(r->o->endpoint)) == 0;
		r->blob_locks[k++] = -1;
	}
	struct http_hooks hk = { hook_start, hook_done, hook_finish, r };
	int rc = k ? http_download(r->http, r->xs, k, &hk, e) : 0;
	for (size_t i = 0; i < k; i++) {
		map[i]->present = r->xs[i].rc >= 0;
		free((char *)r->xs[i].path);
		free((char *)r->xs[i].file);
	}
	free(map);
	free(r->xs);
	free(r->blob_locks);
	r->xs = NULL;
	r->xfile = NULL;
	r->blob_locks = NULL;
	if (rc < 0 || !deferred)
		return rc;
	for (size_t i = from; i < to; i++) {
		struct hub_file *f = &r->m->files[i];
		int p = f->present ? 1 : file_present(r, f, e);
		if (p < 0)
			return -1;
		f->present = p;
	}
	return download(r, from, to, e);
}

/* ---- selection ---- */

static void add_file(struct hub_model *m, const char *name)
{
	m->files = xrealloc(m->files, (m->n_files + 1) * sizeof *m->files);
	m->files[m->n_files++] = (struct hub_file){ .name = xstrdup(name), .size = -1 };
}

/* The weight files layers [start, end) need, from the index and config. */
static char **layer_files(const char *dir, int start, int end, struct exo_err *e)
{
	char *cpath = strf("%s/config.json", dir), *ipath = strf("%s/model.safetensors.index.json", dir);
	char *config = file_read_all(cpath, NULL, e), *index = NULL;
	char **names = NULL;
	json_t *c = config ? json_loads(config, 0, NULL) : NULL;
	json_t *nl = json_object_get(c, "num_hidden_layers");
	if (config && !json_is_integer(nl))
		exo_error(e, EXO_DATAERR, "%s: num_hidden_layers: expected an integer", cpath);
	else if (config && end > json_integer_value(nl))
		exo_error(e, EXO_USAGE, "layers %d:%d: the model has %" JSON_INTEGER_FORMAT " layers",
			  start, end, json_integer_value(nl));
	else if (config && access(ipath, F_OK) != 0) {
		names = xcalloc(2, sizeof *names);   /* one file holds everything */
		names[0] = xstrdup("model.safetensors");
	} else if (config && (index = file_read_all(ipath, NULL, e)))
		hub_select_layers(index, ipath, start, end, (int)json_integer_value(nl),
				  json_is_true(json_object_get(c, "tie_word_embeddings")), &names, e);
	json_decref(c);
	free(config);
	free(index);
	free(cpath);
	free(ipath);
	return names;
}

static bool in_list(char **v, const char *s)
{
	for (size_t i = 0; v && v[i]; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

static void free_list(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

/* Resolve files [from, m->n_files): etag, size, URL, presence. */
static int resolve_all(struct run *r, size_t from, struct exo_err *e)
{
	for (size_t i = from; i < r->m->n_files; i++) {
		struct hub_file *f = &r->m->files[i];
		sibling_meta(r, f);
		int p = f->etag[0] ? file_present(r, f, e) : 0;
		if (p < 0)
			return -1;
		if (p) {
			f->present = true;
			continue;
		}
		if (resolve_file(r, f, e) < 0 || (p = file_present(r, f, e)) < 0)
			return -1;
		f->present = p;
	}
	return 0;
}

static int link_all(struct run *r, struct exo_err *e)
{
	if (r->o->local_dir || r->o->dry_run)
		return 0;
	for (size_t i = 0; i < r->m->n_files; i++) {
		struct hub_file *f = &r->m->files[i];
		if (f->present && hub_snapshot_link(r->repo_dir, r->commit, f->name, f->etag, e) < 0)
			return -1;
	}
	return 0;
}

/* trees/COMMIT.json, the listing cache huggingface_hub 1.x and later keep:
 * with it, its local_files_only lookups tell a snapshot fetched in part
 * (--layers) from a complete one.  Written only from a full listing. */
static int write_tree_cache(const struct run *r, struct exo_err *e)
{
	char *name = strf("%s.json", r->commit);
	json_t *files = json_object(), *s;
	size_t i;
	bool full = true;
	json_array_foreach(r->siblings, i, s) {
		json_t *size = json_object_get(s, "size"), *lfs = json_object_get(s, "lfs");
		const char *blob = json_string_value(json_object_get(s, "blobId"));
		if (!json_is_integer(size) || !blob) {
			full = false;
			break;
		}
		json_t *f = json_pack("{s:O, s:s}", "size", size, "blob_id", blob);
		if (json_is_object(lfs)) {
			json_object_set(f, "lfs_sha256", json_object_get(lfs, "sha256"));
			json_object_set(f, "lfs_size", json_object_get(lfs, "size"));
		}
		json_object_set_new(files, json_string_value(json_object_get(s, "rfilename")), f);
	}
	int rc = 0;
	char *rel = strf("%s/trees", r->repo_rel), *shown = strf("%s/trees", r->repo_dir);
	int dir = full ? hub_dir_open(r->root, rel, true, e) : -2;
	if (dir == -1)
		rc = -1;
	else if (dir >= 0 && !hub_regular_file(dir, name, NULL)) {
		json_t *doc = json_pack("{s:i, s:O}", "format_version", 1, "files", files);
		char *text = json_dumps(doc, JSON_SORT_KEYS | JSON_INDENT(2));
		rc = hub_write_atomic_at(dir, shown, name, text, strlen(text), e);
		free(text);
		json_decref(doc);
	}
	if (dir >= 0)
		close(dir);
	json_decref(files);
	free(name);
	free(rel);
	free(shown);
	return rc;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Layers come from safetensors shards; a GGUF file holds every layer, so a
 * repository whose selected weights are GGUF files only cannot be fetched
 * by layers (exit 64, exo-fetch(1)). */
static int refuse_gguf_layers(const struct run *r, struct exo_err *e)
{
	const struct hub_opts *o = r->o;
	bool gguf = false, safetensors = false;
	size_t i;
	json_t *s;
	json_array_foreach(r->siblings, i, s) {
		const char *name = json_string_value(json_object_get(s, "rfilename"));
		if (!name || !hub_is_weights(name) || !hub_glob_ok(name, o->include, o->exclude))
			continue;
		gguf |= ends_with(name, ".gguf");
		safetensors |= ends_with(name, ".safetensors");
	}
	if (o->layer_end < 0 || !gguf || safetensors)
		return 0;
	return exo_error(e, EXO_USAGE, "%s: --layers %d:%d: the repository's weights are GGUF files, "
			 "and one GGUF file holds every layer: it cannot be split by layers (fetch the "
			 "file whole, e.g. --include '*Q4_K_M.gguf')", r->repo, o->layer_start,
			 o->layer_end);
}

/* Phase 1: everything but weights; phase 2: the weights the layers need. */
static int fetch_online(struct run *r, struct exo_err *e)
{
	const struct hub_opts *o = r->o;
	if (repo_info(r, e) < 0 || refuse_gguf_layers(r, e) < 0)
		return -1;
	r->m->path = o->local_dir ? xstrdup(o->local_dir)
				  : strf("%s/snapshots/%s", r->repo_dir, r->commit);
	size_t i;
	json_t *s;
	json_array_foreach(r->siblings, i, s) {
		const char *name = json_string_value(json_object_get(s, "rfilename"));
		if (name && !hub_is_weights(name) && hub_glob_ok(name, o->include, o->exclude))
			add_file(r->m, name);
	}
	size_t n1 = r->m->n_files;
	if (resolve_all(r, 0, e) < 0 || (!o->dry_run && download(r, 0, n1, e) < 0) ||
	    link_all(r, e) < 0)
		return -1;
	char **want = NULL;
	if (o->layer_end >= 0 && !(want = layer_files(r->m->path, o->layer_start, o->layer_end, e)))
		return -1;
	json_array_foreach(r->siblings, i, s) {
		const char *name = json_string_value(json_object_get(s, "rfilename"));
		if (name && hub_is_weights(name) && hub_glob_ok(name, o->include, o->exclude) &&
		    (!want || in_list(want, name)))
			add_file(r->m, name);
	}
	free_list(want);
	if (resolve_all(r, n1, e) < 0)
		return -1;
	int rc = o->dry_run ? 0 : download(r, n1, r->m->n_files, e);
	if (link_all(r, e) < 0 || rc < 0)
		return -1;
	if (o->local_dir || o->dry_run)
		return 0;
	if (write_tree_cache(r, e) < 0)
		return -1;
	return strcmp(o->revision, r->commit) ? hub_ref_write(r->repo_dir, o->revision, r->commit, e) : 0;
}

/* ---- offline ---- */

static void walk(struct hub_model *m, const char *root, const char *rel)
{
	char *dir = rel[0] ? strf("%s/%s", root, rel) : xstrdup(root);
	DIR *d = opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char *name = rel[0] ? strf("%s/%s", rel, de->d_name) : xstrdup(de->d_name);
		char *path = strf("%s/%s", dir, de->d_name);
		struct stat st;
		if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode)) {   /* a linked dir is not walked */
			walk(m, root, name);
		} else if (stat(path, &st) == 0 && !strstr(name, ".incomplete")) {
			add_file(m, name);
			struct hub_file *f = &m->files[m->n_files - 1];
			f->size = st.st_size;
			f->present = true;
			char target[4096];
			ssize_t n = readlink(path, target, sizeof target - 1);
			if (n > 0) {
				target[n] = '\0';
				hub_etag_normalise(strrchr(target, '/') ? strrchr(target, '/') + 1 : target,
						   f->etag);
			}
		}
		free(name);
		free(path);
	}
	if (d)
		closedir(d);
	free(dir);
}

static int fetch_offline(struct run *r, struct exo_err *e)
{
	const struct hub_opts *o = r->o;
	if (o->local_dir) {
		r->m->path = xstrdup(o->local_dir);
	} else {
		if (hub_ref_read(r->repo_dir, o->revision, r->commit) < 0)
			return exo_error(e, EXO_NOINPUT, "%s: revision %s not in the cache %s "
					 "(HF_HUB_OFFLINE is set)", r->repo, o->revision, o->cache);
		r->m->path = strf("%s/snapshots/%s", r->repo_dir, r->commit);
	}
	walk(r->m, r->m->path, "");
	char *config = strf("%s/config.json", r->m->path), gguf[4096];
	struct exo_err ignored;
	bool one_gguf = access(config, R_OK) != 0 &&
			ckpt_resolve(r->m->path, gguf, sizeof gguf, &ignored) == 0 && gguf_is_file(gguf);
	int rc = access(config, R_OK) == 0 || one_gguf ? 0
		 : exo_error(e, EXO_NOINPUT, "%s: not in the cache (HF_HUB_OFFLINE is set)", config);
	free(config);
	if (rc == 0 && one_gguf && o->layer_end >= 0)
		return exo_error(e, EXO_USAGE, "%s: --layers %d:%d: %s is one GGUF file, which holds "
				 "every layer: it cannot be split by layers", r->repo, o->layer_start,
				 o->layer_end, gguf);
	char **want = NULL;
	if (rc == 0 && o->layer_end >= 0 &&
	    !(want = layer_files(r->m->path, o->layer_start, o->layer_end, e)))
		return -1;
	for (size_t i = 0; want && want[i] && rc == 0; i++) {
		char *p = strf("%s/%s", r->m->path, want[i]);
		if (access(p, R_OK) != 0)
			rc = exo_error(e, EXO_NOINPUT, "%s: not in the cache (HF_HUB_OFFLINE is set)", p);
		free(p);
	}
	free_list(want);
	return rc;
}

int hub_fetch(const struct hub_opts *o, const char *repo, struct hub_model *m, struct exo_err *e)
{
	memset(m, 0, sizeof *m);
	if (!hub_repo_id_ok(repo))
		return exo_error(e, EXO_USAGE, "%s: not a repository id (ORG/NAME)", repo);
	if (!hub_revision_ok(o->revision))
		return exo_error(e, EXO_USAGE, "revision '%s': not a branch, tag or commit", o->revision);
	struct run r = { .o = o, .repo = repo, .m = m, .work_fd = -1 };
	m->id = xstrdup(repo);
	m->layer_start = o->layer_end >= 0 ? o->layer_start : 0;
	m->layer_end = o->layer_end;
	if (o->local_dir) {
		r.root = o->local_dir;
		r.work_rel = xstrdup(".cache/exo");
		r.lock_rel = xstrdup(r.work_rel);
	} else {
		char *folder = hub_repo_folder(repo);
		r.root = o->cache;
		r.repo_dir = hub_repo_dir(o->cache, repo);
		r.repo_rel = folder;
		r.work_rel = strf("%s/blobs", folder);
		r.lock_rel = strf(".locks/%s", folder);
	}
	r.work_dir = strf("%s/%s", r.root, r.work_rel);
	int rc = 0, repo_lock = -1;
	/* the work directory is opened (and made) without following links, which
	 * also proves models--ORG--NAME is not a link planted in the cache */
	if (!o->offline) {
		r.work_fd = hub_dir_open(r.root, r.work_rel, !o->dry_run, e);
		if (r.work_fd < 0 && !(o->dry_run && e->code == EXO_NOINPUT))
			rc = -1;   /* a dry run changes nothing: a missing directory is no error */
	}
	if (rc == 0 && o->offline) {
		rc = fetch_offline(&r, e);
	} else if (rc == 0) {
		r.http = http_new(o);
		if (!o->dry_run &&
		    (repo_lock = hub_lock(r.root, r.lock_rel, "repo", !o->no_wait, e)) < 0)
			rc = -1;
		if (rc == 0)
			rc = fetch_online(&r, e);
		hub_unlock(repo_lock);
		http_free(r.http);
	}
	if (r.commit[0])
		m->commit = xstrdup(r.commit);
	if (r.work_fd >= 0)
		close(r.work_fd);
	json_decref(r.siblings);
	free(r.repo_dir);
	free(r.repo_rel);
	free(r.work_rel);
	free(r.work_dir);
	free(r.lock_rel);
	return rc;
}
