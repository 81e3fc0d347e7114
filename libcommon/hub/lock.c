/* Advisory locks (flock) on files under CACHE/.locks, the same files and the
 * same kind of lock as huggingface_hub's filelock, so a run of either tool
 * waits for the other instead of writing the same blob. */
#include "hub/hub.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

char *hub_lock_dir(const char *cache, const char *repo)
{
	const char *slash = strchr(repo, '/');
	char *dir;
	if (asprintf(&dir, "%s/.locks/models--%.*s--%s", cache, (int)(slash - repo), repo,
		     slash + 1) < 0)
		exo_errx(EXO_SOFTWARE, "out of memory");
	return dir;
}

int hub_lock(const char *dir, const char *name, bool wait, struct exo_err *e)
{
	char path[4096];
	if (hub_mkdirs(dir, e) < 0)
		return -1;
	snprintf(path, sizeof path, "%s/%s.lock", dir, name);
	mode_t old = umask(0);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0664);
	umask(old);
	if (fd < 0)
		return exo_error(e, errno == EACCES ? EXO_NOPERM : EXO_IOERR, "%s: %s", path,
				 strerror(errno));
	while (flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) < 0) {
		if (errno == EINTR)
			continue;
		int err = errno;
		close(fd);
		if (err == EWOULDBLOCK)
			return exo_error(e, EXO_TEMPFAIL, "%s: locked by another process", path);
		return exo_error(e, EXO_IOERR, "%s: flock: %s", path, strerror(err));
	}
	return fd;
}

void hub_unlock(int fd)
{
	if (fd >= 0)
		close(fd);  /* closing the last descriptor releases the flock */
}
