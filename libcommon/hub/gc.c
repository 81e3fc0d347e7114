/* Cache listing and eviction.  A revision is a snapshots/COMMIT directory;
 * it uses the blobs its links point to.  Its last use is the newest access
 * or modification time of those blobs (what huggingface_hub's scan_cache
 * reports too).  It is in use when a process has one of its blobs open or
 * mapped (/proc/PID/fd and /proc/PID/maps: a running stage mmaps its
 * weights), and busy when its repository lock is held (a fetch is writing
 * it); gc evicts neither. */
#include "hub/hub.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct strs {
	char **v;
	size_t n;
};

static void strs_add(struct strs *s, const char *x)
{
	s->v = xrealloc(s->v, (s->n + 1) * sizeof *s->v);
	s->v[s->n++] = xstrdup(x);
}

static bool strs_has(const struct strs *s, const char *x)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i], x) == 0)
			return true;
	return false;
}

static void strs_free(struct strs *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	memset(s, 0, sizeof *s);
}

/* Every file any process has open or mapped under cache. */
static void open_files(const char *cache, struct strs *out)
{
	DIR *proc = opendir("/proc");
	struct dirent *de;
	size_t clen = strlen(cache);
	while (proc && (de = readdir(proc))) {
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		char path[PATH_MAX], target[PATH_MAX];
		snprintf(path, sizeof path, "/proc/%s/fd", de->d_name);
		DIR *fds = opendir(path);
		struct dirent *fe;
		while (fds && (fe = readdir(fds))) {
			char fp[PATH_MAX + 300];
			snprintf(fp, sizeof fp, "%s/%s", path, fe->d_name);
			ssize_t n = readlink(fp, target, sizeof target - 1);
			if (n > 0 && (size_t)n > clen && strncmp(target, cache, clen) == 0) {
				target[n] = '\0';
				strs_add(out, target);
			}
		}
		if (fds)
			closedir(fds);
		snprintf(path, sizeof path, "/proc/%s/maps", de->d_name);
		FILE *f = fopen(path, "r");
		char line[PATH_MAX + 128];
		while (f && fgets(line, sizeof line, f)) {
			char *p = strstr(line, cache);
			if (!p)
				continue;
			p[strcspn(p, "\n")] = '\0';
			if (!strs_has(out, p))
				strs_add(out, p);
		}
		if (f)
			fclose(f);
	}
	if (proc)
		closedir(proc);
}

struct rev {
	struct hub_rev pub;
	char *repo_dir;
	struct strs blobs;           /* absolute paths */
	bool gone;
};

static void add_refs(struct rev *r)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof dir, "%s/refs", r->repo_dir);
	DIR *d = opendir(dir);
	struct dirent *de;
	char names[1024] = "";
	while (d && (de = readdir(d))) {
		char commit[41];
		if (de->d_name[0] != '.' && hub_ref_read(r->repo_dir, de->d_name, commit) == 0 &&
		    strcmp(commit, r->pub.commit) == 0)
			snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s",
				 names[0] ? " " : "", de->d_name);
	}
	if (d)
		closedir(d);
	r->pub.refs = xstrdup(names);
}

/* Whether real (a canonical path) is a file right in repo_dir/blobs/. */
static bool in_blobs(const char *repo_dir, const char *real)
{
	size_t n = strlen(repo_dir);
	return strncmp(real, repo_dir, n) == 0 && strncmp(real + n, "/blobs/", 7) == 0 &&
	       hub_blob_id_ok(real + n + 7);
}

/* The blobs the links under dir point to. */
static void add_blobs(struct rev *r, const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		char path[PATH_MAX], real[PATH_MAX];
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		struct stat st;
		if (lstat(path, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			add_blobs(r, path);
			continue;
		}
		/* only links into this repository's blobs/ are its blobs: a link
		 * planted to point elsewhere is never counted nor evicted */
		if (!S_ISLNK(st.st_mode) || stat(path, &st) < 0 || !S_ISREG(st.st_mode) ||
		    !realpath(path, real) || !in_blobs(r->repo_dir, real) || strs_has(&r->blobs, real))
			continue;
		strs_add(&r->blobs, real);
		r->pub.size += st.st_size;
		time_t t = st.st_atime > st.st_mtime ? st.st_atime : st.st_mtime;
		if (t > r->pub.last_used)
			r->pub.last_used = t;
	}
	if (d)
		closedir(d);
}

static void scan_repo(const char *cache, const char *folder, struct rev **revs, size_t *n)
{
	char repo_dir[PATH_MAX], snaps[PATH_MAX + 16];
	if (snprintf(repo_dir, sizeof repo_dir, "%s/%s", cache, folder) >= (int)sizeof repo_dir)
		return;   /* no such path on Linux */
	snprintf(snaps, sizeof snaps, "%s/snapshots", repo_dir);
	char id[512], blobs[PATH_MAX + 8];
	if (!hub_repo_folder_id(folder, id, sizeof id))
		return;   /* not a folder of the layout */
	snprintf(blobs, sizeof blobs, "%s/blobs", repo_dir);
	struct stat st;
	if (lstat(repo_dir, &st) < 0 || !S_ISDIR(st.st_mode) || lstat(blobs, &st) < 0 ||
	    !S_ISDIR(st.st_mode))
		return;   /* a link planted for a repository or its blobs: not ours to evict */
	DIR *d = opendir(snaps);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.' || !hub_commit_ok(de->d_name))
			continue;
		*revs = xrealloc(*revs, (*n + 1) * sizeof **revs);
		struct rev *r = &(*revs)[(*n)++];
		memset(r, 0, sizeof *r);
		r->pub.repo = xstrdup(id);
		r->pub.commit = xstrdup(de->d_name);
		r->repo_dir = xstrdup(repo_dir);
		char path[PATH_MAX * 2];
		snprintf(path, sizeof path, "%s/%s", snaps, de->d_name);
		add_blobs(r, path);
		add_refs(r);
	}
	if (d)
		closedir(d);
}

static int by_last_used(const void *a, const void *b)
{
	const struct rev *x = a, *y = b;
	return (x->pub.last_used > y->pub.last_used) - (x->pub.last_used < y->pub.last_used);
}

static int scan(const char *cache_arg, struct rev **revs, size_t *n, struct exo_err *e)
{
	*revs = NULL;
	*n = 0;
	char cache[PATH_MAX];   /* canonical, to compare with /proc's paths */
	if (!realpath(cache_arg, cache))
		return errno == ENOENT ? 0 : exo_error(e, EXO_NOINPUT, "%s: %s", cache_arg, strerror(errno));
	DIR *d = opendir(cache);
	if (!d)
		return errno == ENOENT ? 0 : exo_error(e, EXO_NOINPUT, "%s: %s", cache, strerror(errno));
	struct dirent *de;
	while ((de = readdir(d)))
		if (strncmp(de->d_name, "models--", 8) == 0)
			scan_repo(cache, de->d_name, revs, n);
	closedir(d);
	qsort(*revs, *n, sizeof **revs, by_last_used);
	struct strs open = { 0 };
	open_files(cache, &open);
	for (size_t i = 0; i < *n; i++)
		for (size_t j = 0; j < open.n; j++)
			if (strs_has(&(*revs)[i].blobs, open.v[j]))
				(*revs)[i].pub.in_use = true;
	strs_free(&open);
	return 0;
}

static void rev_free(struct rev *r)
{
	free(r->pub.repo);
	free(r->pub.commit);
	free(r->pub.refs);
	free(r->repo_dir);
	strs_free(&r->blobs);
}

int hub_scan(const char *cache, struct hub_rev **out, size_t *n, struct exo_err *e)
{
	struct rev *revs;
	if (scan(cache, &revs, n, e) < 0)
		return -1;
	*out = xcalloc(*n ? *n : 1, sizeof **out);
	for (size_t i = 0; i < *n; i++) {
		(*out)[i] = revs[i].pub;
		free(revs[i].repo_dir);
		strs_free(&revs[i].blobs);
	}
	free(revs);
	return 0;
}

void hub_revs_free(struct hub_rev *revs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(revs[i].repo);
		free(revs[i].commit);
		free(revs[i].refs);
	}
	free(revs);
}

int64_t hub_cache_size(const char *cache)
{
	int64_t total = 0;
	DIR *d = opendir(cache);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (strncmp(de->d_name, "models--", 8) != 0)
			continue;
		char blobs[PATH_MAX];
		snprintf(blobs, sizeof blobs, "%s/%s/blobs", cache, de->d_name);
		DIR *b = opendir(blobs);
		struct dirent *be;
		while (b && (be = readdir(b))) {
			char p[PATH_MAX + 300];
			struct stat st;
			snprintf(p, sizeof p, "%s/%s", blobs, be->d_name);
			if (lstat(p, &st) == 0 && S_ISREG(st.st_mode))
				total += st.st_size;
		}
		if (b)
			closedir(b);
	}
	if (d)
		closedir(d);
	return total;
}

/* Whether another live revision of the same repository uses blob. */
static bool blob_shared(const struct rev *revs, size_t n, const struct rev *self, const char *blob)
{
	for (size_t i = 0; i < n; i++)
		if (&revs[i] != self && !revs[i].gone && strcmp(revs[i].repo_dir, self->repo_dir) == 0 &&
		    strs_has(&revs[i].blobs, blob))
			return true;
	return false;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

static void drop_refs(const struct rev *r)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof dir, "%s/refs", r->repo_dir);
	char *refs = xstrdup(r->pub.refs), *save, *name;
	for (name = strtok_r(refs, " ", &save); name; name = strtok_r(NULL, " ", &save)) {
		char p[PATH_MAX * 2];
		snprintf(p, sizeof p, "%s/%s", dir, name);
		unlink(p);
	}
	free(refs);
}

/* Evict r; returns the bytes freed. */
static int64_t evict(struct rev *revs, size_t n, struct rev *r, bool dry_run)
{
	int64_t freed = 0;
	r->gone = true;
	for (size_t i = 0; i < r->blobs.n; i++) {
		if (blob_shared(revs, n, r, r->blobs.v[i]))
			continue;
		struct stat st;
		if (stat(r->blobs.v[i], &st) == 0)
			freed += st.st_size;
		if (!dry_run)
			unlink(r->blobs.v[i]);
	}
	if (!dry_run) {
		char snap[PATH_MAX * 2];
		snprintf(snap, sizeof snap, "%s/snapshots/%s", r->repo_dir, r->pub.commit);
		nftw(snap, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
		snprintf(snap, sizeof snap, "%s/trees/%s.json", r->repo_dir, r->pub.commit);
		unlink(snap);
		drop_refs(r);
	}
	return freed;
}

int hub_gc(const char *cache, int64_t max_size, bool dry_run,
	   void (*report)(const struct hub_rev *r, void *arg), void *arg, struct exo_err *e)
{
	struct rev *revs;
	size_t n;
	if (scan(cache, &revs, &n, e) < 0)
		return -1;
	int64_t size = hub_cache_size(cache);
	for (size_t i = 0; i < n && size > max_size; i++) {
		struct rev *r = &revs[i];
		if (r->pub.in_use)
			continue;
		char *folder = hub_repo_folder(r->pub.repo), rel[600];
		snprintf(rel, sizeof rel, ".locks/%s", folder);
		free(folder);
		int fd = hub_lock(cache, rel, "repo", false, NULL);
		if (fd < 0)
			continue;   /* a fetch is working on it */
		size -= evict(revs, n, r, dry_run);
		hub_unlock(fd);
		if (report)
			report(&r->pub, arg);
	}
	for (size_t i = 0; i < n; i++)
		rev_free(&revs[i]);
	free(revs);
	return 0;
}
