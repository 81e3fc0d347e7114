/* Hugging Face hub client and cache: download a model repository with the
 * hub's protocol into the cache layout huggingface_hub uses, so that either
 * tool finds what the other wrote:
 *
 *   CACHE/models--ORG--NAME/blobs/ETAG           content, named by its etag
 *   CACHE/models--ORG--NAME/snapshots/COMMIT/F   relative symlink to a blob
 *   CACHE/models--ORG--NAME/refs/REV             the commit REV resolved to
 *   CACHE/models--ORG--NAME/trees/COMMIT.json    the file listing at COMMIT
 *   CACHE/.locks/models--ORG--NAME/ETAG.lock     flock while a blob is written
 *   CACHE/.locks/models--ORG--NAME/repo.lock     flock while a run works on it
 *
 * An etag of 64 hex digits is the SHA-256 of an LFS file, one of 40 the git
 * blob id (SHA-1 of "blob SIZE\0" + content) of a regular file; every file is
 * checked against it before it is renamed into blobs/, and a snapshot link
 * is made only after that, so nothing half-written is ever visible there.
 *
 * Errors carry exit statuses: EXO_UNAVAILABLE network, EXO_DATAERR a hash
 * or size mismatch, EXO_IOERR a write error (disk full), EXO_NOINPUT a
 * repository, revision or file the hub (or the offline cache) does not have,
 * EXO_NOPERM 401/403, EXO_TEMPFAIL a lock held elsewhere with no_wait. */
#ifndef EXO_HUB_HUB_H
#define EXO_HUB_HUB_H
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include "hub/cache.h"
#include "util/err.h"

#define HUB_ETAG_MAX 65

/* One file of a repository at a commit. */
struct hub_file {
	char *name;                 /* path in the repository, '/'-separated */
	int64_t size;               /* bytes; -1 unknown */
	char etag[HUB_ETAG_MAX];    /* normalised: sha256 (LFS) or git blob sha1 */
	char *url;                  /* where to GET the content (a CDN for LFS) */
	bool present;               /* blobs/ETAG already there */
};

/* A download's progress, for a command's progress bar: bytes on disk of
 * the files begun so far, the total expected (0: unknown) and the rate in
 * bytes/s; called a few times a second, and once more with end set. */
typedef void hub_progress_fn(void *arg, int64_t got, int64_t total, double rate, bool end);

struct hub_opts {
	const char *endpoint;       /* "https://huggingface.co" or $HF_ENDPOINT */
	const char *token;          /* NULL: no Authorization */
	const char *cache;          /* the hub cache directory */
	const char *local_dir;      /* non-NULL: plain files there, no cache layout */
	const char *revision;       /* "main" by default */
	bool offline;               /* HF_HUB_OFFLINE: no HTTP at all */
	bool no_wait;               /* a held lock is EXO_TEMPFAIL at once */
	bool dry_run;               /* list what would be fetched, write nothing */
	hub_progress_fn *progress;  /* NULL: no progress reports */
	void *progress_arg;
	int jobs;                   /* parallel transfers (>= 1) */
	int64_t limit_rate;         /* bytes/s over all transfers, 0: none */
	int layer_start, layer_end; /* weights for [start, end) only; end < 0: all */
	const char *const *include; /* NULL-terminated fnmatch globs, or NULL */
	const char *const *exclude;
	int retries;                /* attempts after the first on 5xx/timeouts */
	int backoff_ms;             /* first retry delay, doubled each time */
	int64_t min_rate;           /* bytes/s: each file's deadline is 6 x the
	                             * HF_HUB_DOWNLOAD_TIMEOUT + size / min_rate;
	                             * 0: no deadline */
};
void hub_opts_init(struct hub_opts *o);

/* What a fetch produced: the snapshot and its files. */
struct hub_model {
	char *id, *commit, *path;   /* path: the snapshot (or local) directory */
	struct hub_file *files;
	size_t n_files;
	int64_t fetched_bytes;      /* downloaded by this run */
	int layer_start, layer_end;
};
void hub_model_free(struct hub_model *m);

/* Download repo (ORG/NAME) at o->revision.  Files already in the cache are
 * not fetched again.  With dry_run, m lists the files and which are present. */
int hub_fetch(const struct hub_opts *o, const char *repo, struct hub_model *m, struct exo_err *e);

/* The model record for m: id, revision, path, files, architecture and
 * layers from config.json, layer_start/layer_end held. */
json_t *hub_model_record(const struct hub_model *m, struct exo_err *e);

/* ---- the hub's JSON answers (answer.c) ---- */
/* The /api/models/.../revision/REV answer in text: its commit (40 lowercase
 * hex, else EXO_DATAERR naming field 'sha') and its siblings (every
 * rfilename a safe file name, else EXO_DATAERR naming it); no sha or
 * siblings at all is EXO_UNAVAILABLE (not a hub).  source names it. */
int hub_repo_info_parse(const char *text, size_t len, const char *source, char commit[41],
			json_t **siblings, struct exo_err *e);
/* The etag (normalised, a valid blob id) and size the siblings list for
 * name; false (etag "") when it lists none that is usable. */
bool hub_sibling_meta(const json_t *siblings, const char *name, char etag[HUB_ETAG_MAX],
		      int64_t *size);

/* ---- cache layout (cache.c; the rest in hub/cache.h) ---- */
/* "W/\"abc\"" or "\"abc-gzip\"" -> "abc"; false unless 40 or 64 hex digits. */
bool hub_etag_normalise(const char *raw, char out[HUB_ETAG_MAX]);
/* Percent-encode s; keep '/' when keep_slash (file names, not revisions). */
char *hub_url_escape(const char *s, bool keep_slash);

/* ---- verification (verify.c) ---- */
struct hub_hash;
struct hub_hash *hub_hash_new(bool git_blob, int64_t size);   /* size: for the git header */
void hub_hash_update(struct hub_hash *h, const void *p, size_t n);
void hub_hash_reset(struct hub_hash *h);
/* Finish into hex (41 or 65 bytes) and free h. */
void hub_hash_final(struct hub_hash *h, char *hex);
void hub_hash_free(struct hub_hash *h);
/* Hash a file as etag says (64 hex: sha256, 40: git blob sha1) into hex. */
int hub_hash_file(const char *path, const char *etag, char hex[HUB_ETAG_MAX], struct exo_err *e);
/* Check path against etag: 0, or -1 EXO_DATAERR naming name and both hashes. */
int hub_verify_file(const char *path, const char *name, const char *etag, struct exo_err *e);

/* ---- locks (lock.c) ---- */
/* Open and flock root/rel/NAME.lock (mode 0664, rel made without following
 * links, see hub_dir_open).  wait false: a lock held elsewhere is -1 with
 * EXO_TEMPFAIL.  Returns the fd to hub_unlock. */
int hub_lock(const char *root, const char *rel, const char *name, bool wait, struct exo_err *e);
void hub_unlock(int fd);

/* ---- file selection (select.c) ---- */
/* Whether name passes the include and exclude globs. */
bool hub_glob_ok(const char *name, const char *const *include, const char *const *exclude);
/* Whether name is a weight file (safetensors, bin, pth, gguf ...). */
bool hub_is_weights(const char *name);
/* From model.safetensors.index.json text: which weight files hold layers
 * [start, end) of an n_layers model, plus the embedding when start is 0 (or
 * the head is tied to it) and the final norm and head when end is n_layers.
 * *out is a NULL-terminated array of names (caller frees each and it). */
int hub_select_layers(const char *index_json, const char *source, int start, int end,
		      int n_layers, bool tied, char ***out, struct exo_err *e);
/* Parse "A:B" into [a, b); false when malformed or a >= b. */
bool hub_parse_layers(const char *s, int *a, int *b);

/* ---- cache listing and eviction (gc.c) ---- */
struct hub_rev {
	char *repo, *commit, *refs;  /* refs: the names pointing at it, space-separated */
	int64_t size;                /* bytes of blobs only this revision uses */
	time_t last_used;            /* newest blob access or snapshot change */
	bool in_use;                 /* a process has one of its blobs open or mapped */
};
/* Every revision in the cache, least recently used first. */
int hub_scan(const char *cache, struct hub_rev **revs, size_t *n, struct exo_err *e);
void hub_revs_free(struct hub_rev *revs, size_t n);
/* Total bytes of blobs in the cache. */
int64_t hub_cache_size(const char *cache);
/* Evict least recently used revisions (never one in use, never one whose
 * repository lock is held) until the cache holds at most max_size bytes.
 * report is called for each eviction (or would-be eviction with dry_run). */
int hub_gc(const char *cache, int64_t max_size, bool dry_run,
	   void (*report)(const struct hub_rev *r, void *arg), void *arg, struct exo_err *e);
#endif
