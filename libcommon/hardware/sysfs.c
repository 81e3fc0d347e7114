/* Reading /proc and /sys under a root directory: the small file helpers
 * every detector uses, so that a fixture tree (--sysroot) and the live
 * system go through the same code. */
#include "hardware/hardware.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "util/file.h"

static int vpath(const struct hw_ctx *c, char *out, size_t n, const char *fmt, va_list ap)
{
	int k = snprintf(out, n, "%s", c->root);
	if (k < 0 || (size_t)k >= n)
		return -1;
	int m = vsnprintf(out + k, n - (size_t)k, fmt, ap);
	return m < 0 || (size_t)m >= n - (size_t)k ? -1 : 0;
}

static int read_path(const char *path, char *buf, size_t n)
{
	buf[0] = '\0';
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	size_t len = fread(buf, 1, n - 1, f);
	int bad = ferror(f);
	fclose(f);
	if (bad)
		return -1;
	buf[len] = '\0';
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
		buf[--len] = '\0';
	return (int)len;
}

int hw_read(const struct hw_ctx *c, char *buf, size_t n, const char *fmt, ...)
{
	char path[PATH_MAX];
	va_list ap;
	va_start(ap, fmt);
	int r = vpath(c, path, sizeof path, fmt, ap);
	va_end(ap);
	buf[0] = '\0';
	return r < 0 ? -1 : read_path(path, buf, n);
}

int hw_read_u64(const struct hw_ctx *c, uint64_t *v, const char *fmt, ...)
{
	char path[PATH_MAX], buf[64];
	va_list ap;
	va_start(ap, fmt);
	int r = vpath(c, path, sizeof path, fmt, ap);
	va_end(ap);
	if (r < 0 || read_path(path, buf, sizeof buf) <= 0 || buf[0] == '-')
		return -1;
	char *end;
	errno = 0;
	unsigned long long x = strtoull(buf, &end, 0);
	if (errno || end == buf)
		return -1;
	*v = x;
	return 0;
}

char *hw_slurp(const struct hw_ctx *c, const char *fmt, ...)
{
	char path[PATH_MAX];
	va_list ap;
	va_start(ap, fmt);
	int r = vpath(c, path, sizeof path, fmt, ap);
	va_end(ap);
	size_t len;
	return r < 0 ? NULL : file_read_all(path, &len, NULL);
}

int hw_exists(const struct hw_ctx *c, const char *fmt, ...)
{
	char path[PATH_MAX];
	va_list ap;
	va_start(ap, fmt);
	int r = vpath(c, path, sizeof path, fmt, ap);
	va_end(ap);
	struct stat st;
	return r == 0 && stat(path, &st) == 0;
}

int hw_link_name(const struct hw_ctx *c, char *buf, size_t n, const char *fmt, ...)
{
	char path[PATH_MAX], target[PATH_MAX];
	va_list ap;
	va_start(ap, fmt);
	int r = vpath(c, path, sizeof path, fmt, ap);
	va_end(ap);
	buf[0] = '\0';
	ssize_t len = r < 0 ? -1 : readlink(path, target, sizeof target - 1);
	if (len < 0)
		return -1;
	target[len] = '\0';
	const char *base = strrchr(target, '/');
	snprintf(buf, n, "%s", base ? base + 1 : target);
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strverscmp(*(char *const *)a, *(char *const *)b);
}

char **hw_list(const struct hw_ctx *c, const char *dir, const char *prefix, size_t *count)
{
	char path[PATH_MAX];
	*count = 0;
	if (snprintf(path, sizeof path, "%s%s", c->root, dir) >= (int)sizeof path)
		return NULL;
	DIR *d = opendir(path);
	if (!d)
		return NULL;
	char **names = NULL;
	size_t n = 0;
	for (struct dirent *de; (de = readdir(d));) {
		if (de->d_name[0] == '.' || strncmp(de->d_name, prefix, strlen(prefix)) != 0)
			continue;
		names = xrealloc(names, (n + 1) * sizeof *names);
		names[n++] = xstrdup(de->d_name);
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof *names, cmp_names);
	*count = n;
	return names;
}

void hw_names_free(char **names, size_t count)
{
	for (size_t i = 0; i < count; i++)
		free(names[i]);
	free(names);
}

void hw_note(struct hw_ctx *c, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	json_array_append_new(c->notes, json_string(buf));
}

int hw_field(const char *text, const char *key, char *buf, size_t n)
{
	size_t klen = strlen(key);
	buf[0] = '\0';
	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (strncmp(p, key, klen) != 0)
			continue;
		const char *v = p + klen;
		if (key[klen - 1] == '=')
			goto found;         /* "KEY=value" (uevent) */
		while (*v == ' ' || *v == '\t')
			v++;
		size_t line = strcspn(p, "\n");
		if (*v == ':')
			v++;                /* "key: value" */
		else if (v == p + klen || memchr(p, ':', line))
			continue;           /* a longer key, or "key more: value" */
		while (*v == ' ' || *v == '\t')
			v++;
found:;
		size_t len = strcspn(v, "\n");
		if (len >= n)
			len = n - 1;
		memcpy(buf, v, len);
		buf[len] = '\0';
		return 0;
	}
	return -1;
}

json_t *hw_cpulist(const char *list)
{
	json_t *a = json_array();
	const char *p = list;
	while (*p && *p != '\n') {
		char *end;
		long lo = strtol(p, &end, 10), hi = lo;
		if (end == p || lo < 0)
			goto bad;
		if (*end == '-') {
			p = end + 1;
			hi = strtol(p, &end, 10);
			if (end == p || hi < lo || hi - lo > 65536)
				goto bad;
		}
		for (long i = lo; i <= hi; i++)
			json_array_append_new(a, json_integer(i));
		p = *end == ',' ? end + 1 : end;
	}
	return a;
bad:
	json_decref(a);
	return NULL;
}

void hw_set_u64(json_t *obj, const char *key, int have, uint64_t v)
{
	if (have)
		json_object_set_new(obj, key, json_integer((json_int_t)v));
}
