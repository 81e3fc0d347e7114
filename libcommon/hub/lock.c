/* Advisory locks (flock) on files under CACHE/.locks, the same files and the
 * same kind of lock as huggingface_hub's filelock, so a run of either tool
 * waits for the other instead of writing the same blob.  The lock directory
 * and file are opened without following links (hub/cache.h). */
#include "hub/hub.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

int hub_lock(const char *root, const char *rel, const char *name, bool wait, struct exo_err *e)
{
	int dir = hub_dir_open(root, rel, true, e);
	if (dir < 0)
		return -1;
	char file[512], shown[8192];
	snprintf(file, sizeof file, "%s.lock", name);
	snprintf(shown, sizeof shown, "%s/%s", root, rel);
	mode_t old = umask(0);
	int fd = hub_file_open(dir, shown, file, O_RDWR | O_CREAT, e);
	umask(old);
	close(dir);
	if (fd < 0)
		return -1;
	if (fchmod(fd, 0664) < 0) {
		/* another user's lock file: theirs to share */
	}
	while (flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) < 0) {
		if (errno == EINTR)
			continue;
		int err = errno;
		close(fd);
		if (err == EWOULDBLOCK)
			return exo_error(e, EXO_TEMPFAIL, "%s/%s: locked by another process", shown, file);
		return exo_error(e, EXO_IOERR, "%s/%s: flock: %s", shown, file, strerror(err));
	}
	return fd;
}

void hub_unlock(int fd)
{
	if (fd >= 0)
		close(fd);  /* closing the last descriptor releases the flock */
}
