/* --test-component storage: a file written to the model cache, flushed to
 * the disk, dropped from the page cache and read back must hash the same. */
#include "validate/component.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TEST_BYTES (32u << 20)
#define CHUNK (1u << 20)

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

static void storage_fail(struct vcheck_out *out, const char *dir, const char *what)
{
	char msg[1200];
	snprintf(msg, sizeof msg, "%s: %s: %s", dir, what, strerror(errno));
	vcheck_emit(out, vcheck_new(dir, "component.storage", "fail", msg));
}

/* Write TEST_BYTES of random data, hashing as it goes; fsync. */
static int write_pass(int fd, unsigned char hash[32], double *secs)
{
	crypto_generichash_state st;
	crypto_generichash_init(&st, NULL, 0, 32);
	unsigned char *buf = malloc(CHUNK);
	double t0 = now();
	int rc = 0;
	for (size_t done = 0; done < TEST_BYTES && rc == 0; done += CHUNK) {
		randombytes_buf(buf, CHUNK);
		crypto_generichash_update(&st, buf, CHUNK);
		rc = write(fd, buf, CHUNK) == (ssize_t)CHUNK ? 0 : -1;
	}
	if (rc == 0)
		rc = fsync(fd);
	*secs = now() - t0;
	crypto_generichash_final(&st, hash, 32);
	free(buf);
	return rc;
}

static int read_pass(int fd, unsigned char hash[32], double *secs)
{
	crypto_generichash_state st;
	crypto_generichash_init(&st, NULL, 0, 32);
	unsigned char *buf = malloc(CHUNK);
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);   /* read from the disk, not memory */
	double t0 = now();
	ssize_t n;
	size_t total = 0;
	lseek(fd, 0, SEEK_SET);
	while ((n = read(fd, buf, CHUNK)) > 0) {
		crypto_generichash_update(&st, buf, (size_t)n);
		total += (size_t)n;
	}
	*secs = now() - t0;
	crypto_generichash_final(&st, hash, 32);
	free(buf);
	return n < 0 || total != TEST_BYTES ? -1 : 0;
}

/* mkdir -p: the cache may not exist yet on a new machine. */
static int mkdir_parents(const char *dir)
{
	char p[4096];
	snprintf(p, sizeof p, "%s", dir);
	for (char *s = p + 1; *s; s++)
		if (*s == '/') {
			*s = 0;
			if (mkdir(p, 0755) < 0 && errno != EEXIST)
				return -1;
			*s = '/';
		}
	return mkdir(p, 0755) < 0 && errno != EEXIST ? -1 : 0;
}

void component_storage(struct vcheck_out *out, const char *dir)
{
	char path[4200];
	if (sodium_init() < 0 || mkdir_parents(dir) < 0) {
		storage_fail(out, dir, "cannot create the model cache");
		return;
	}
	snprintf(path, sizeof path, "%s/.exo-validate-XXXXXX", dir);
	int fd = mkstemp(path);
	if (fd < 0) {
		storage_fail(out, dir, "cannot create a test file");
		return;
	}
	unsigned char wrote[32], read_back[32];
	double wsec = 1e-9, rsec = 1e-9;
	int ok = write_pass(fd, wrote, &wsec) == 0;
	if (!ok)
		storage_fail(out, dir, "writing 32 MiB");
	else if (read_pass(fd, read_back, &rsec) < 0) {
		storage_fail(out, dir, "reading back");
		ok = 0;
	}
	close(fd);
	unlink(path);
	if (!ok)
		return;
	int same = sodium_memcmp(wrote, read_back, 32) == 0;
	char msg[1200];
	snprintf(msg, sizeof msg, "%s: 32 MiB written (%.0f MB/s with fsync) and read back (%.0f MB/s, page cache "
		 "dropped): %s", dir, TEST_BYTES / wsec / 1e6, TEST_BYTES / rsec / 1e6,
		 same ? "identical" : "CONTENT DIFFERS");
	json_t *c = vcheck_new(dir, "component.storage", same ? "ok" : "fail", msg);
	json_object_set_new(c, "write_bytes_per_s", json_real(TEST_BYTES / wsec));
	json_object_set_new(c, "read_bytes_per_s", json_real(TEST_BYTES / rsec));
	vcheck_emit(out, c);
}
