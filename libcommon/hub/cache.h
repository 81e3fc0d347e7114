/* The Hugging Face cache: where it is and how it is laid out.  The one owner
 * of the layout huggingface_hub uses (see hub.h):
 *
 *   CACHE/models--ORG--NAME/{blobs/ETAG, snapshots/COMMIT/F, refs/REV, trees/}
 *   CACHE/.locks/models--ORG--NAME/
 *
 * Every path under CACHE is built here from parts that were validated first
 * (a repository id, a revision, a commit of 40 lowercase hex digits, a blob
 * id of the hex length of its hash, a file name without "." or ".." parts),
 * and directories under CACHE are opened one component at a time without
 * following symbolic links: the cache is shared with other tools and users,
 * and a link planted there must not make a writer write outside it.  Only
 * the snapshot file links the layout itself makes are links. */
#ifndef EXO_HUB_CACHE_H
#define EXO_HUB_CACHE_H
#include <stdbool.h>
#include <stddef.h>
#include "util/err.h"

/* ---- where the cache is ---- */
/* huggingface_hub's own default: $HF_HUB_CACHE, else $HF_HOME/hub, else
 * ~/.cache/huggingface/hub. */
void hub_cache_default(char *out, size_t size);
/* The cache every tool reads: storage.modelCache.path of the exo.yaml that
 * conf_load() finds (EXO_CONFIG, ...), whose default is hub_cache_default().
 * -1 (e set) when that exo.yaml is bad. */
int hub_cache_location(char *out, size_t size, struct exo_err *e);

/* ---- names from the network or the user ---- */
/* "ORG/NAME": one '/', no "..", no "--", [A-Za-z0-9._-] only, no part
 * starting or ending with '-' or '.'. */
bool hub_repo_id_ok(const char *repo);
/* A commit id: exactly 40 lowercase hex digits. */
bool hub_commit_ok(const char *s);
/* A blob id / normalised etag: 40 (git sha1) or 64 (sha256) lowercase hex. */
bool hub_blob_id_ok(const char *s);
/* A branch or tag usable as refs/REV: a safe relative path ("refs/pr/1"),
 * no control characters or spaces, at most 255 bytes. */
bool hub_revision_ok(const char *rev);
/* A file name from the hub is safe to use as a path under a directory: not
 * empty, not absolute, no "." or ".." component, no empty component, no
 * control character. */
bool hub_file_name_ok(const char *name);

/* ---- the layout ---- */
/* "models--ORG--NAME" for a valid repo id (NULL otherwise; caller frees). */
char *hub_repo_folder(const char *repo);
/* "models--ORG--NAME" -> "ORG/NAME"; false unless well formed. */
bool hub_repo_folder_id(const char *folder, char *id, size_t size);
/* CACHE/models--ORG--NAME */
char *hub_repo_dir(const char *cache, const char *repo);
/* CACHE/.locks/models--ORG--NAME */
char *hub_lock_dir(const char *cache, const char *repo);
/* The commit rev resolves to in the cache ("" if unknown): rev itself when
 * it is a commit, else the commit in refs/REV (rev must be a valid revision
 * and the file must hold a commit). */
int hub_ref_read(const char *repo_dir, const char *rev, char commit[41]);
int hub_ref_write(const char *repo_dir, const char *rev, const char *commit, struct exo_err *e);
/* snapshots/COMMIT/NAME -> ../../blobs/ETAG (one more ../ per subdirectory),
 * made through a temporary link renamed into place. */
int hub_snapshot_link(const char *repo_dir, const char *commit, const char *name,
		      const char *etag, struct exo_err *e);
/* The relative target of that link (caller frees). */
char *hub_link_target(const char *name, const char *etag);
/* ORG/NAME at rev (a branch, tag or commit) in cache: the snapshot directory
 * into dir.  EXO_NOINPUT when it is not there, EXO_DATAERR for a malformed
 * id, revision or ref. */
int hub_snapshot_dir(const char *cache, const char *repo, const char *rev, char *dir, size_t size,
		     struct exo_err *e);
/* ".../models--ORG--NAME/snapshots/REV[/...]": id "ORG/NAME" and rev; false
 * when path is not in that layout.  id or rev may be NULL. */
bool hub_snapshot_parse(const char *path, char *id, size_t id_size, char *rev, size_t rev_size);

/* ---- directories and files without following planted links ---- */
/* mkdir -p path (a path the user named, links followed). */
int hub_mkdirs(const char *path, struct exo_err *e);
/* A descriptor of root/rel: root as given (it may be a link the user made),
 * each '/'-separated component of rel a real directory, made when create;
 * a component that is a symbolic link (or not a directory) is -1 with
 * EXO_DATAERR naming it.  rel "" opens root. */
int hub_dir_open(const char *root, const char *rel, bool create, struct exo_err *e);
/* Open name in dir_fd (shown as dir_path in messages) with O_NOFOLLOW; a
 * link or anything but a regular file is EXO_DATAERR naming it.  With
 * O_CREAT, a new file is made with O_EXCL (an existing one is opened). */
int hub_file_open(int dir_fd, const char *dir_path, const char *name, int flags,
		  struct exo_err *e);
/* Whether name in dir_fd is a regular file (not a link), and its size. */
bool hub_regular_file(int dir_fd, const char *name, long long *size);
/* Write data to dir_fd/name through an O_EXCL temporary renamed into place. */
int hub_write_atomic_at(int dir_fd, const char *dir_path, const char *name, const void *data,
			size_t len, struct exo_err *e);
#endif
