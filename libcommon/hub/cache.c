/* The cache layout of huggingface_hub: where a repository, its refs, blobs
 * and snapshot links live, and how names and etags are spelled. */
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

bool hub_repo_id_ok(const char *repo)
{
	const char *slash = strchr(repo, '/');
	if (!slash || slash == repo || !slash[1] || strchr(slash + 1, '/'))
		return false;
	if (strstr(repo, "..") || strstr(repo, "--"))
		return false;
	for (const char *p = repo; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("/-_.", *p))
			return false;
	return true;
}

bool hub_file_name_ok(const char *name)
{
	if (!name[0] || name[0] == '/' || strlen(name) > 1024)
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

char *hub_repo_dir(const char *cache, const char *repo)
{
	const char *slash = strchr(repo, '/');
	char *dir;
	if (asprintf(&dir, "%s/models--%.*s--%s", cache, (int)(slash - repo), repo, slash + 1) < 0)
		exo_errx(EXO_SOFTWARE, "out of memory");
	return dir;
}

static bool is_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
			return false;
	return s[n] == '\0';
}

int hub_ref_read(const char *repo_dir, const char *rev, char commit[41])
{
	commit[0] = '\0';
	if (strlen(rev) == 40 && is_hex(rev, 40)) {
		memcpy(commit, rev, 41);
		return 0;
	}
	char path[4096];
	snprintf(path, sizeof path, "%s/refs/%s", repo_dir, rev);
	size_t len;
	char *s = file_read_all(path, &len, NULL);
	if (!s)
		return -1;
	while (len > 0 && isspace((unsigned char)s[len - 1]))
		s[--len] = '\0';
	int ok = len == 40 && is_hex(s, 40);
	if (ok)
		memcpy(commit, s, 41);
	free(s);
	return ok ? 0 : -1;
}

/* mkdir -p for the directory part of path. */
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

int hub_ref_write(const char *repo_dir, const char *rev, const char *commit, struct exo_err *e)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/refs/%s", repo_dir, rev);
	if (make_parents(path, e) < 0)
		return -1;
	char old[41];
	if (hub_ref_read(repo_dir, rev, old) == 0 && strcmp(old, commit) == 0)
		return 0;
	return file_write_atomic(path, commit, strlen(commit), e);
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
	char link[4096], tmp[4200];
	snprintf(link, sizeof link, "%s/snapshots/%s/%s", repo_dir, commit, name);
	snprintf(tmp, sizeof tmp, "%s.tmp.%ld", link, (long)getpid());
	if (make_parents(link, e) < 0)
		return -1;
	char *target = hub_link_target(name, etag);
	char cur[4096];
	ssize_t n = readlink(link, cur, sizeof cur - 1);
	if (n >= 0) {
		cur[n] = '\0';
		if (strcmp(cur, target) == 0) {
			free(target);
			return 0;
		}
	}
	unlink(tmp);
	int rc = symlink(target, tmp) < 0 || rename(tmp, link) < 0;
	free(target);
	if (rc) {
		unlink(tmp);
		return exo_error(e, EXO_IOERR, "%s: %s", link,
				 strerror(errno));
	}
	return 0;
}

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
	if (!is_hex(buf, n))
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
