/* The cache layout of huggingface_hub (see hub/cache.h): which names may
 * become paths in it, where a repository, its refs, blobs
 * and snapshot links live, and opening its directories without following
 * links planted there. */
#include "hub/cache.h"
#include "hub/hub.h"
#include "util/file.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- names ---- */

static bool is_lower_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
			return false;
	return s[n] == '\0';
}

bool hub_commit_ok(const char *s)
{
	return s && strlen(s) == 40 && is_lower_hex(s, 40);
}

bool hub_blob_id_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	return (n == 40 || n == 64) && is_lower_hex(s, n);
}

bool hub_repo_id_ok(const char *repo)
{
	const char *slash = strchr(repo, '/');
	if (!slash || slash == repo || !slash[1] || strchr(slash + 1, '/') || strlen(repo) > 200)
		return false;
	if (strstr(repo, "..") || strstr(repo, "--"))
		return false;
	for (const char *p = repo; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("/-_.", *p))
			return false;
	/* no part starts or ends with '-' or '.' (as on the hub): "a-/b" would
	 * make the folder models--a---b, which reads back as a/-b */
	const char *ends[] = { repo, slash - 1, slash + 1, repo + strlen(repo) - 1 };
	for (int i = 0; i < 4; i++)
		if (*ends[i] == '-' || *ends[i] == '.')
			return false;
	return true;
}

bool hub_file_name_ok(const char *name)
{
	if (!name[0] || name[0] == '/' || strlen(name) > 1024)
		return false;
	for (const char *p = name; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return false;
	for (const char *p = name; *p;) {
		size_t n = strcspn(p, "/");
		if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		p += n;
		if (*p == '/' && !*++p)
			return false;   /* a trailing slash */
	}
	return true;
}

bool hub_revision_ok(const char *rev)
{
	if (!rev || strlen(rev) > 255 || !hub_file_name_ok(rev))
		return false;
	for (const char *p = rev; *p; p++)
		if (*p == ' ' || *p == '\\')
			return false;
	return true;
}

/* ---- the layout ---- */

char *hub_repo_folder(const char *repo)
{
	if (!hub_repo_id_ok(repo))
		return NULL;
	const char *slash = strchr(repo, '/');
	char *f;
	if (asprintf(&f, "models--%.*s--%s", (int)(slash - repo), repo, slash + 1) < 0)
		exo_errx(EXO_SOFTWARE, "out of memory");
	return f;
}

bool hub_repo_folder_id(const char *folder, char *id, size_t size)
{
	if (strncmp(folder, "models--", 8) != 0)
		return false;
	const char *org = folder + 8, *sep = strstr(org, "--");
	if (!sep)
		return false;
	char buf[512];
	if (snprintf(buf, sizeof buf, "%.*s/%s", (int)(sep - org), org, sep + 2) >= (int)sizeof buf ||
	    !hub_repo_id_ok(buf))
		return false;
	if (id && snprintf(id, size, "%s", buf) >= (int)size)
		return false;
	return true;
}

/* root/PREFIX + folder of repo; repo must be valid (callers check it first). */
static char *under(const char *root, const char *prefix, const char *repo)
{
	char *folder = hub_repo_folder(repo), *dir;
	if (!folder)
		exo_errx(EXO_SOFTWARE, "hub: '%s' is not a repository id", repo);
	if (asprintf(&dir, "%s/%s%s", root, prefix, folder) < 0)
		exo_errx(EXO_SOFTWARE, "out of memory");
	free(folder);
	return dir;
}

char *hub_repo_dir(const char *cache, const char *repo)
{
	return under(cache, "", repo);
}

char *hub_lock_dir(const char *cache, const char *repo)
{
	return under(cache, ".locks/", repo);
}

int hub_ref_read(const char *repo_dir, const char *rev, char commit[41])
{
	commit[0] = '\0';
	if (hub_commit_ok(rev)) {
		memcpy(commit, rev, 41);
		return 0;
	}
	if (!hub_revision_ok(rev))
		return -1;
	char path[4096];
	if (snprintf(path, sizeof path, "%s/refs/%s", repo_dir, rev) >= (int)sizeof path)
		return -1;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -1;
	char buf[64];
	ssize_t len = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (len < 0)
		return -1;
	while (len > 0 && isspace((unsigned char)buf[len - 1]))
		len--;
	buf[len] = '\0';
	if (!hub_commit_ok(buf))
		return -1;
	memcpy(commit, buf, 41);
	return 0;
}

/* The directory and last component of rel ("a/b/c" -> "a/b", "c"). */
static void split(const char *rel, char *dir, size_t size, const char **base)
{
	const char *slash = strrchr(rel, '/');
	snprintf(dir, size, "%.*s", slash ? (int)(slash - rel) : 0, rel);
	*base = slash ? slash + 1 : rel;
}

int hub_ref_write(const char *repo_dir, const char *rev, const char *commit, struct exo_err *e)
{
	if (!hub_revision_ok(rev))
		return exo_error(e, EXO_DATAERR, "revision '%s': not a branch or tag name", rev);
	if (!hub_commit_ok(commit))
		return exo_error(e, EXO_DATAERR, "commit '%s': not a commit id (40 lowercase hex digits)",
				 commit);
	char old[41];
	if (hub_ref_read(repo_dir, rev, old) == 0 && strcmp(old, commit) == 0)
		return 0;
	char rel[4096], sub[4096];
	const char *base;
	snprintf(rel, sizeof rel, "refs/%s", rev);
	split(rel, sub, sizeof sub, &base);
	int fd = hub_dir_open(repo_dir, sub, true, e);
	if (fd < 0)
		return -1;
	char shown[8192];
	snprintf(shown, sizeof shown, "%s/%s", repo_dir, sub);
	int rc = hub_write_atomic_at(fd, shown, base, commit, strlen(commit), e);
	close(fd);
	return rc;
}

char *hub_link_target(const char *name, const char *etag)
{
	size_t depth = 0;
	for (const char *p = name; *p; p++)
		depth += *p == '/';
	char *t = xmalloc(3 * (depth + 2) + strlen("blobs/") + strlen(etag) + 1), *q = t;
	for (size_t i = 0; i < depth + 2; i++)
		q += sprintf(q, "../");
	sprintf(q, "blobs/%s", etag);
	return t;
}

int hub_snapshot_link(const char *repo_dir, const char *commit, const char *name,
		      const char *etag, struct exo_err *e)
{
	if (!hub_commit_ok(commit))
		return exo_error(e, EXO_DATAERR, "commit '%s': not a commit id (40 lowercase hex digits)",
				 commit);
	if (!hub_blob_id_ok(etag))
		return exo_error(e, EXO_DATAERR, "%s: etag '%s': not a blob id", name, etag);
	if (!hub_file_name_ok(name))
		return exo_error(e, EXO_DATAERR, "file name '%s': not a safe relative path", name);
	char rel[4096], sub[4096], shown[8192];
	const char *base;
	if (snprintf(rel, sizeof rel, "snapshots/%s/%s", commit, name) >= (int)sizeof rel)
		return exo_error(e, EXO_DATAERR, "%s: name too long", name);
	split(rel, sub, sizeof sub, &base);
	int fd = hub_dir_open(repo_dir, sub, true, e);
	if (fd < 0)
		return -1;
	snprintf(shown, sizeof shown, "%s/%s", repo_dir, rel);
	char *target = hub_link_target(name, etag), cur[4096], tmp[300];
	ssize_t n = readlinkat(fd, base, cur, sizeof cur - 1);
	int rc = 0;
	if (n >= 0) {
		cur[n] = '\0';
		if (strcmp(cur, target) == 0)
			goto out;
	}
	snprintf(tmp, sizeof tmp, ".%.200s.tmp.%ld", base, (long)getpid());
	unlinkat(fd, tmp, 0);
	if (symlinkat(target, fd, tmp) < 0 || renameat(fd, tmp, fd, base) < 0) {
		int err = errno;
		unlinkat(fd, tmp, 0);
		rc = exo_error(e, EXO_IOERR, "%s: %s", shown, strerror(err));
	}
out:
	free(target);
	close(fd);
	return rc;
}

int hub_snapshot_dir(const char *cache, const char *repo, const char *rev, char *dir, size_t size,
		     struct exo_err *e)
{
	if (!hub_repo_id_ok(repo))
		return exo_error(e, EXO_DATAERR, "%s: not a repository id (ORG/NAME)", repo);
	if (!hub_revision_ok(rev))
		return exo_error(e, EXO_DATAERR, "%s@%s: not a branch, tag or commit", repo, rev);
	char *repo_dir = hub_repo_dir(cache, repo), commit[41];
	int rc = 0;
	if (hub_ref_read(repo_dir, rev, commit) < 0)
		rc = exo_error(e, EXO_NOINPUT, "%s: revision %s not in the Hugging Face cache %s; "
			       "fetch it with exo-fetch %s", repo, rev, cache, repo);
	else if (snprintf(dir, size, "%s/snapshots/%s", repo_dir, commit) >= (int)size)
		rc = exo_error(e, EXO_NOINPUT, "%s: path too long", repo_dir);
	else {
		struct stat st;
		if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
			rc = exo_error(e, EXO_NOINPUT, "%s: not in the Hugging Face cache (%s); fetch it "
				       "with exo-fetch %s", repo, dir, repo);
	}
	free(repo_dir);
	return rc;
}

bool hub_snapshot_parse(const char *path, char *id, size_t id_size, char *rev, size_t rev_size)
{
	const char *folder = NULL;
	for (const char *p = strstr(path, "/models--"); p; p = strstr(p + 1, "/models--"))
		folder = p + 1;   /* the last one: the cache may itself sit under such a name */
	if (!folder)
		return false;
	size_t n = strcspn(folder, "/");
	if (strncmp(folder + n, "/snapshots/", 11) != 0)
		return false;
	char name[512];
	if (n >= sizeof name)
		return false;
	snprintf(name, sizeof name, "%.*s", (int)n, folder);
	if (!hub_repo_folder_id(name, id, id_size))
		return false;
	const char *r = folder + n + 11;
	size_t rn = strcspn(r, "/");
	if (!rn)
		return false;
	if (rev && snprintf(rev, rev_size, "%.*s", (int)rn, r) >= (int)rev_size)
		return false;
	return true;
}

/* ---- directories without links ---- */

static int make_parents(const char *path, struct exo_err *e)
{
	char buf[4096];
	snprintf(buf, sizeof buf, "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return exo_error(e, errno == EACCES ? EXO_NOPERM : EXO_IOERR,
					 "%s: mkdir: %s", buf, strerror(errno));
		*p = '/';
	}
	return 0;
}

int hub_mkdirs(const char *path, struct exo_err *e)
{
	char buf[4096];
	snprintf(buf, sizeof buf, "%s/", path);
	return make_parents(buf, e);
}

/* Open component c of dir fd (path shown: shown), made when create. */
static int open_component(int fd, const char *shown, const char *c, bool create,
			  struct exo_err *e)
{
	for (int tries = 0;; tries++) {
		int sub = openat(fd, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub >= 0)
			return sub;
		int err = errno;
		struct stat st;
		if (fstatat(fd, c, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
			return exo_error(e, EXO_DATAERR, "%s/%s: a symbolic link where the cache has a "
					 "directory: refusing to follow it", shown, c);
		if (err == ENOTDIR)
			return exo_error(e, EXO_DATAERR, "%s/%s: not a directory", shown, c);
		if (err != ENOENT || !create || tries > 2)
			return exo_error(e, err == EACCES ? EXO_NOPERM : err == ENOENT ? EXO_NOINPUT : EXO_IOERR,
					 "%s/%s: %s", shown, c, strerror(err));
		if (mkdirat(fd, c, 0755) < 0 && errno != EEXIST)
			return exo_error(e, errno == EACCES ? EXO_NOPERM : EXO_IOERR, "%s/%s: mkdir: %s",
					 shown, c, strerror(errno));
	}
}

int hub_dir_open(const char *root, const char *rel, bool create, struct exo_err *e)
{
	if (create && hub_mkdirs(root, e) < 0)
		return -1;
	int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return exo_error(e, errno == ENOENT ? EXO_NOINPUT : errno == EACCES ? EXO_NOPERM : EXO_IOERR,
				 "%s: %s", root, strerror(errno));
	char shown[8192], part[1024];
	snprintf(shown, sizeof shown, "%s", root);
	for (const char *p = rel; *p;) {
		size_t n = strcspn(p, "/");
		if (n == 0 || n >= sizeof part) {
			p += n + (p[n] == '/');
			continue;
		}
		memcpy(part, p, n);
		part[n] = '\0';
		if (!strcmp(part, "..") || !strcmp(part, ".")) {
			close(fd);
			return exo_error(e, EXO_DATAERR, "%s/%s: '%s' in a cache path", shown, rel, part);
		}
		int sub = open_component(fd, shown, part, create, e);
		close(fd);
		if (sub < 0)
			return -1;
		fd = sub;
		size_t len = strlen(shown);
		snprintf(shown + len, sizeof shown - len, "/%s", part);
		p += n + (p[n] == '/');
	}
	return fd;
}

int hub_file_open(int dir_fd, const char *dir_path, const char *name, int flags, struct exo_err *e)
{
	int fd = -1;
	flags |= O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK;   /* a planted FIFO must not block */
	if (flags & O_CREAT) {
		fd = openat(dir_fd, name, flags | O_EXCL, 0644);
		if (fd < 0 && errno == EEXIST)
			fd = openat(dir_fd, name, flags & ~(O_CREAT | O_TRUNC));
	} else {
		fd = openat(dir_fd, name, flags);
	}
	if (fd < 0) {
		int err = errno;
		if (err == ELOOP)
			return exo_error(e, EXO_DATAERR, "%s/%s: a symbolic link where the cache has a "
					 "file: refusing to follow it", dir_path, name);
		return exo_error(e, err == ENOENT ? EXO_NOINPUT : err == EACCES ? EXO_NOPERM : EXO_IOERR,
				 "%s/%s: %s", dir_path, name, strerror(err));
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return exo_error(e, EXO_DATAERR, "%s/%s: not a regular file", dir_path, name);
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	return fd;
}

bool hub_regular_file(int dir_fd, const char *name, long long *size)
{
	struct stat st;
	if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
		return false;
	if (size)
		*size = (long long)st.st_size;
	return true;
}

int hub_write_atomic_at(int dir_fd, const char *dir_path, const char *name, const void *data,
			size_t len, struct exo_err *e)
{
	char tmp[512];
	if (snprintf(tmp, sizeof tmp, ".%s.tmp.%ld", name, (long)getpid()) >= (int)sizeof tmp)
		return exo_error(e, EXO_DATAERR, "%s/%s: name too long", dir_path, name);
	unlinkat(dir_fd, tmp, 0);   /* ours from a killed run with the same pid, or a planted link */
	int fd = hub_file_open(dir_fd, dir_path, tmp, O_WRONLY | O_CREAT, e);
	if (fd < 0)
		return -1;
	int err = 0;
	if (write_all(fd, data, len) < 0 || fsync(fd) < 0)
		err = errno;
	if (close(fd) < 0 && !err)
		err = errno;
	if (!err && renameat(dir_fd, tmp, dir_fd, name) < 0)
		err = errno;
	if (err) {
		unlinkat(dir_fd, tmp, 0);
		return exo_error(e, err == ENOSPC ? EXO_IOERR : EXO_IOERR, "%s/%s: write: %s", dir_path,
				 name, strerror(err));
	}
	return 0;
}

/* ---- etags and URLs ---- */

bool hub_etag_normalise(const char *raw, char out[HUB_ETAG_MAX])
{
	out[0] = '\0';
	if (!raw)
		return false;
	while (isspace((unsigned char)*raw))
		raw++;
	if (strncmp(raw, "W/", 2) == 0)
		raw += 2;
	if (*raw == '"')
		raw++;
	size_t n = strcspn(raw, "\"-\r\n ");
	if (n != 40 && n != 64)
		return false;
	char buf[HUB_ETAG_MAX];
	for (size_t i = 0; i < n; i++)
		buf[i] = (char)tolower((unsigned char)raw[i]);
	buf[n] = '\0';
	if (!hub_blob_id_ok(buf))
		return false;
	memcpy(out, buf, n + 1);
	return true;
}

char *hub_url_escape(const char *s, bool keep_slash)
{
	char *out = xmalloc(3 * strlen(s) + 1), *q = out;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (isalnum(*p) || strchr("-._~", *p) || (keep_slash && *p == '/'))
			*q++ = (char)*p;
		else
			q += sprintf(q, "%%%02X", *p);
	}
	*q = '\0';
	return out;
}
