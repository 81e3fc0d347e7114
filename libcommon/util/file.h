/* Files: whole-file reads, atomic writes (temporary file renamed into place). */
#ifndef EXO_UTIL_FILE_H
#define EXO_UTIL_FILE_H
#include <stddef.h>
#include "util/err.h"

/* Read all of path ("-" is stdin) into a NUL-terminated buffer; *len gets its size. */
char *file_read_all(const char *path, size_t *len, struct exo_err *e);
/* Write data to path through path.tmp.PID, fsync, rename: readers see the old
 * or the new file, never a part. */
int file_write_atomic(const char *path, const void *data, size_t len, struct exo_err *e);
/* Write all of buf to fd, retrying on short writes and EINTR. */
int write_all(int fd, const void *buf, size_t len);
#endif
