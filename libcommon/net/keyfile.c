/* The cluster key file: 32 random bytes that only its owner may read. */
#include "net/link.h"
#include "util/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int read_exact(int fd, uint8_t *buf, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, buf + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

static int check_key_file(const char *path, const struct stat *st, struct exo_err *e)
{
	if (!S_ISREG(st->st_mode))
		return exo_error(e, EXO_DATAERR, "%s: not a regular file, cannot be a cluster key", path);
	if (st->st_mode & 077)
		return exo_error(e, EXO_NOPERM,
				 "%s: mode %04o lets group or others read the cluster key; run chmod 600 %s",
				 path, (unsigned)(st->st_mode & 07777), path);
	if (st->st_size != NET_KEY_BYTES)
		return exo_error(e, EXO_DATAERR, "%s: %lld bytes, a cluster key is exactly %d", path,
				 (long long)st->st_size, NET_KEY_BYTES);
	return 0;
}

int net_key_load(const char *path, uint8_t key[NET_KEY_BYTES], struct exo_err *e)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0 && errno == ENOENT)
		return exo_error(e, EXO_NOINPUT, "%s: no such cluster key file (make one with "
				 "exo-shard-serve --gen-key %s)", path, path);
	if (fd < 0)
		return exo_error(e, errno == EACCES ? EXO_NOPERM : EXO_NOINPUT, "%s: %s", path,
				 strerror(errno));
	struct stat st;
	int rc = -1;
	if (fstat(fd, &st) < 0)
		exo_error(e, EXO_IOERR, "%s: stat: %s", path, strerror(errno));
	else if (check_key_file(path, &st, e) == 0) {
		if (read_exact(fd, key, NET_KEY_BYTES) < 0)
			exo_error(e, EXO_IOERR, "%s: cannot read %d bytes", path, NET_KEY_BYTES);
		else
			rc = 0;
	}
	close(fd);
	return rc;
}

/* Put tmp in place as path unless path exists: link(2) refuses atomically. */
static int place_new(const char *tmp, const char *path, struct exo_err *e)
{
	if (link(tmp, path) == 0)
		return 0;
	if (errno == EEXIST)
		return exo_error(e, EXO_FAIL, "%s: exists; remove it first to replace the cluster key "
				 "(every stage then needs the new one)", path);
	/* File systems without hard links: rename, after checking again. */
	if (errno == EPERM || errno == EOPNOTSUPP || errno == ENOSYS || errno == EXDEV) {
		struct stat st;
		if (lstat(path, &st) == 0)
			return exo_error(e, EXO_FAIL, "%s: exists; remove it first to replace the cluster key",
					 path);
		if (rename(tmp, path) == 0)
			return 0;
	}
	return exo_error(e, EXO_IOERR, "%s: cannot put the new key in place: %s", path, strerror(errno));
}

int net_key_generate(const char *path, struct exo_err *e)
{
	struct stat st;
	if (lstat(path, &st) == 0)
		return exo_error(e, EXO_FAIL, "%s: exists; remove it first to replace the cluster key "
				 "(every stage then needs the new one)", path);
	if (sodium_init() < 0)
		return exo_error(e, EXO_SOFTWARE, "libsodium: cannot initialise");
	char tmp[4096];
	if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
		return exo_error(e, EXO_USAGE, "%s: path too long", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return exo_error(e, errno == EACCES ? EXO_NOPERM : EXO_IOERR, "%s: create: %s", tmp,
				 strerror(errno));
	uint8_t key[NET_KEY_BYTES];
	randombytes_buf(key, sizeof key);
	int bad = fchmod(fd, 0600) < 0 || write_all(fd, key, sizeof key) < 0 || fsync(fd) < 0;
	int saved = errno;
	sodium_memzero(key, sizeof key);
	if (close(fd) < 0 && !bad) {
		bad = 1;
		saved = errno;
	}
	int rc = bad ? exo_error(e, EXO_IOERR, "%s: write: %s", tmp, strerror(saved))
		     : place_new(tmp, path, e);
	unlink(tmp);
	return rc;
}
