/* Whole-file reads and atomic writes. */
#include "util/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

char *file_read_all(const char *path, size_t *len, struct exo_err *e)
{
	int fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		exo_error(e, errno == EACCES ? EXO_NOPERM : EXO_NOINPUT, "%s: %s", path, strerror(errno));
		return NULL;
	}
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);
	for (;;) {
		if (!buf)
			break;
		if (n + 1 >= cap) {
			char *nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = nb;
			cap *= 2;
		}
		ssize_t r = read(fd, buf + n, cap - n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			exo_error(e, EXO_IOERR, "%s: read: %s", path, strerror(errno));
			free(buf);
			buf = NULL;
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (!buf) {
		exo_error(e, EXO_SOFTWARE, "%s: out of memory", path);
		goto out;
	}
	buf[n] = '\0';
	if (len)
		*len = n;
out:
	if (fd != STDIN_FILENO)
		close(fd);
	return buf;
}

int file_write_atomic(const char *path, const void *data, size_t len, struct exo_err *e)
{
	char tmp[4096];
	if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
		return exo_error(e, EXO_USAGE, "%s: path too long", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return exo_error(e, errno == EACCES ? EXO_NOPERM : EXO_IOERR, "%s: create: %s", tmp,
				 strerror(errno));
	if (write_all(fd, data, len) < 0 || fsync(fd) < 0) {
		int saved = errno;
		close(fd);
		unlink(tmp);
		return exo_error(e, EXO_IOERR, "%s: write: %s", tmp, strerror(saved));
	}
	if (close(fd) < 0 || rename(tmp, path) < 0) {
		int saved = errno;
		unlink(tmp);
		return exo_error(e, EXO_IOERR, "%s: rename into place: %s", path, strerror(saved));
	}
	return 0;
}
