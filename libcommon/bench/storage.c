/* Storage suite: sequential read throughput of one large file (--file, or
 * the largest file in the model cache), as loading a model reads it.
 *
 * Uncached: O_DIRECT reads, so every byte comes from the device; where the
 * filesystem refuses O_DIRECT, buffered reads after posix_fadvise DONTNEED
 * dropped the range from the page cache (which cannot drop pages still
 * dirty: the record's "method" says which was used).  Cached: the same
 * reads from a range read once before, so from the page cache.  A sample is
 * SAMPLE_BYTES (or the file) in CHUNK-sized reads.
 *
 * Every figure is measured at least once (exo-bench(1), Time): an uncached
 * read of one CHUNK times the device first, and the uncached sample shrinks
 * (whole CHUNKs, at least one) until SAMPLES_WANTED of them fit the
 * figure's share; the cached range is what the device gives in half the
 * cached figure's share, at least SAMPLE_BYTES (a range the CPU caches do
 * not hold).  Past the run's end each takes one sample of that floor. */
#include "bench/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHUNK (4u << 20)
#define SAMPLE_BYTES ((off_t)64 << 20)
#define CACHED_MAX ((off_t)256 << 20)
#define MIN_FILE ((off_t)1 << 20)
#define SAMPLES_WANTED 3

static struct {
	char path[PATH_MAX];
	off_t size;
} largest;

static int visit(const char *path, const struct stat *st, int type, struct FTW *f)
{
	if (type == FTW_F && S_ISREG(st->st_mode) && st->st_size > largest.size &&
	    strlen(path) < sizeof largest.path) {
		largest.size = st->st_size;
		snprintf(largest.path, sizeof largest.path, "%s", path);
	}
	return 0;
}

/* The file to read into path; 0 when there is one. */
static int pick_file(const struct bench_opts *o, char *path, size_t n)
{
	if (o->file) {
		snprintf(path, n, "%s", o->file);
		return 0;
	}
	if (!o->cache_dir || !*o->cache_dir)
		return -1;
	largest.size = 0;
	largest.path[0] = '\0';
	if (nftw(o->cache_dir, visit, 16, FTW_PHYS) < 0 || largest.size < MIN_FILE)
		return -1;
	snprintf(path, n, "%s", largest.path);
	return 0;
}

bool bench_storage_applies(const struct bench_opts *o)
{
	char path[PATH_MAX];
	return pick_file(o, path, sizeof path) == 0;
}

struct reader {
	const char *path;
	int fd;
	bool direct;
	off_t size, off;
	char *buf;
};

/* Read [off, off+len) in chunks; the seconds it took, or -1 (errno set). */
static double read_range(struct reader *r, off_t off, off_t len)
{
	double t0 = bench_now();
	for (off_t done = 0; done < len;) {
		size_t want = len - done < CHUNK ? (size_t)(len - done) : CHUNK;
		if (r->direct)  /* whole aligned chunks; the last one stops at the end */
			want = CHUNK;
		ssize_t got = pread(r->fd, r->buf, want, off + done);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return -1;
		if (got == 0)
			break;
		done += got;
	}
	return bench_now() - t0;
}

/* Reopen without O_DIRECT: the filesystem refused it, or cached reads. */
static int fall_back(struct reader *r)
{
	close(r->fd);
	r->direct = false;
	r->fd = open(r->path, O_RDONLY | O_CLOEXEC);
	return r->fd < 0 ? -1 : 0;
}

static double uncached_sample(struct reader *r, off_t len)
{
	if (r->off + len > r->size)
		r->off = 0;
	if (!r->direct) {
		fdatasync(r->fd);
		posix_fadvise(r->fd, r->off, len, POSIX_FADV_DONTNEED);
	}
	double s = read_range(r, r->off, len);
	if (s < 0 && r->direct && errno == EINVAL && fall_back(r) == 0)
		return uncached_sample(r, len);
	r->off += len;
	return s;
}

static off_t min_off(off_t a, off_t b)
{
	return a < b ? a : b;
}

/* Bytes of an uncached sample: as many whole CHUNKs as the device reads
 * SAMPLES_WANTED times in `seconds` (timed on one CHUNK), at least one, at
 * most SAMPLE_BYTES; the file when it is smaller.  Sets *rate (bytes/s), 0
 * when reading failed (errno set). */
static off_t uncached_len(struct reader *r, double seconds, double *rate)
{
	off_t len = min_off(r->size, CHUNK);
	double t = uncached_sample(r, len);
	if (t < 0)
		return 0;
	*rate = t > 0 ? (double)len / t : 0;
	if (r->size <= CHUNK)
		return r->size;
	double fit = seconds > 0 && t > 0 ? (double)len * seconds / (SAMPLES_WANTED * t) : 0;
	off_t chunks = (off_t)(fit / CHUNK);
	return min_off(min_off(r->size, SAMPLE_BYTES), (chunks > 1 ? chunks : 1) * (off_t)CHUNK);
}

/* Bytes of the cached range: what the device reads in half of `seconds`,
 * at least SAMPLE_BYTES, at most CACHED_MAX and the file. */
static off_t cached_len(const struct reader *r, double seconds, double rate)
{
	double fit = seconds > 0 ? rate * seconds / 2 : 0;
	off_t len = fit > (double)CACHED_MAX ? CACHED_MAX : (off_t)fit / CHUNK * CHUNK;
	return min_off(r->size, len > SAMPLE_BYTES ? len : SAMPLE_BYTES);
}

/* 0, 1 when reading failed (errno set), -1 when the record could not go out.
 * *rate: the uncached figure's device rate, which sizes the cached range. */
static int figure(struct bench_ctx *c, struct reader *r, bool cached, double *rate)
{
	bench_progress(c, cached ? "cached reads" : "uncached reads");
	double until = bench_figure_end(c), rate_s[BENCH_MAX_SAMPLES], total = 0, last = 0;
	off_t len = cached ? cached_len(r, until - bench_now(), *rate)
			   : uncached_len(r, until - bench_now(), rate);
	if (len == 0)
		return 1;
	if (cached && r->direct && fall_back(r) < 0)
		return 1;
	if (cached && read_range(r, 0, len) < 0)   /* into the page cache */
		return 1;
	int n = 0;
	while (n < BENCH_MAX_SAMPLES && (n == 0 || bench_fits(until, last))) {
		last = cached ? read_range(r, 0, len) : uncached_sample(r, len);
		if (last < 0)
			return 1;
		rate_s[n++] = (double)len / last;
		total += last;
	}
	const char *method = cached ? "page cache" : r->direct ? "O_DIRECT" : "posix_fadvise";
	struct bench_figure f = { .name = cached ? "read_cached_bytes_per_s" : "read_uncached_bytes_per_s",
				  .samples = rate_s, .n = n, .best = true, .seconds = total,
				  .bytes = (int64_t)len };
	return bench_emit_figure(c, &f, json_pack("{s:s,s:s}", "file", r->path, "method", method));
}

int bench_storage(struct bench_ctx *c)
{
	char path[PATH_MAX];
	struct reader r = { .path = path, .fd = -1 };
	struct stat st;
	if (pick_file(c->o, path, sizeof path) < 0) {
		bench_warn(c, "storage: skipped: no file to read");
		c->failed = 1;
		return 0;
	}
	r.fd = open(path, O_RDONLY | O_DIRECT | O_CLOEXEC);
	r.direct = r.fd >= 0;
	if (r.fd < 0)
		r.fd = open(path, O_RDONLY | O_CLOEXEC);
	if (r.fd < 0 || fstat(r.fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size == 0) {
		bench_warn(c, "storage: %s: %s", path, r.fd < 0 ? strerror(errno) : "not a non-empty regular file");
		c->failed = 1;
		if (r.fd >= 0)
			close(r.fd);
		return 0;
	}
	r.size = st.st_size;
	if (posix_memalign((void **)&r.buf, 4096, CHUNK) != 0) {
		close(r.fd);
		return exo_error(c->e, EXO_SOFTWARE, "storage: out of memory");
	}
	c->figures_left = 2;
	int rc = 0;
	double rate = 0;
	for (int cached = 0; cached < 2 && rc == 0; cached++) {
		rc = figure(c, &r, cached, &rate);
		if (rc > 0) {
			bench_warn(c, "storage: %s: read: %s", path, strerror(errno));
			c->failed = 1;
			rc = 0;
			break;
		}
	}
	free(r.buf);
	if (r.fd >= 0)
		close(r.fd);
	return rc;
}
