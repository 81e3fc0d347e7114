/* Content hashes the hub names files by: SHA-256 for LFS files, the git blob
 * id (SHA-1 of "blob SIZE\0" + content) for regular ones.  OpenSSL's EVP
 * interface, which picks the SHA-NI code where the CPU has it. */
#include "hub/hub.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct hub_hash {
	EVP_MD_CTX *ctx;
	bool git;
	int64_t size;
};

static void hash_start(struct hub_hash *h)
{
	EVP_DigestInit_ex(h->ctx, h->git ? EVP_sha1() : EVP_sha256(), NULL);
	if (h->git) {
		char hdr[32];
		int n = snprintf(hdr, sizeof hdr, "blob %" PRId64, h->size);
		EVP_DigestUpdate(h->ctx, hdr, (size_t)n + 1);  /* with its NUL */
	}
}

struct hub_hash *hub_hash_new(bool git_blob, int64_t size)
{
	struct hub_hash *h = xcalloc(1, sizeof *h);
	h->ctx = EVP_MD_CTX_new();
	if (!h->ctx)
		exo_errx(EXO_SOFTWARE, "out of memory");
	h->git = git_blob;
	h->size = size;
	hash_start(h);
	return h;
}

void hub_hash_update(struct hub_hash *h, const void *p, size_t n)
{
	EVP_DigestUpdate(h->ctx, p, n);
}

void hub_hash_reset(struct hub_hash *h)
{
	hash_start(h);
}

void hub_hash_free(struct hub_hash *h)
{
	if (!h)
		return;
	EVP_MD_CTX_free(h->ctx);
	free(h);
}

void hub_hash_final(struct hub_hash *h, char *hex)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	EVP_DigestFinal_ex(h->ctx, md, &n);
	for (unsigned int i = 0; i < n; i++)
		sprintf(hex + 2 * i, "%02x", md[i]);
	hex[2 * n] = '\0';
	hub_hash_free(h);
}

int hub_hash_file(const char *path, const char *etag, char hex[HUB_ETAG_MAX], struct exo_err *e)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return exo_error(e, EXO_NOINPUT, "%s: %s", path, strerror(errno));
	off_t size = lseek(fd, 0, SEEK_END);
	lseek(fd, 0, SEEK_SET);
	struct hub_hash *h = hub_hash_new(strlen(etag) == 40, (int64_t)size);
	static __thread char buf[1 << 20];
	ssize_t r;
	while ((r = read(fd, buf, sizeof buf)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			exo_error(e, EXO_IOERR, "%s: read: %s", path, strerror(errno));
			hub_hash_free(h);
			close(fd);
			return -1;
		}
		hub_hash_update(h, buf, (size_t)r);
	}
	close(fd);
	hub_hash_final(h, hex);
	return 0;
}

int hub_verify_file(const char *path, const char *name, const char *etag, struct exo_err *e)
{
	char got[HUB_ETAG_MAX];
	if (hub_hash_file(path, etag, got, e) < 0)
		return -1;
	if (strcmp(got, etag) != 0)
		return exo_error(e, EXO_DATAERR, "%s: %s mismatch: expected %s, got %s", name,
				 strlen(etag) == 40 ? "git blob id" : "sha256", etag, got);
	return 0;
}
