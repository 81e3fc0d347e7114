/* Configuration layers: the defaults, the search for exo.yaml, and applying
 * one file to a config atomically (the binder works on a copy that replaces
 * the caller's struct only when the whole file was good). */
#include "config/bind.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "hub/cache.h"
#include "util/file.h"
#include "util/log.h"

const char *conf_home(void)
{
	const char *h = getenv("HOME");
	if (h && *h)
		return h;
	struct passwd *pw = getpwuid(getuid());
	return pw && pw->pw_dir && *pw->pw_dir ? pw->pw_dir : NULL;
}

void conf_init(struct exo_config *c)
{
	memset(c, 0, sizeof *c);
	c->hardware.auto_detect = true;
	for (int i = 0; i < CONF_ACCEL_N; i++)
		c->hardware.detection_order[i] = (enum conf_accel)i;
	c->hardware.n_detection_order = CONF_ACCEL_N;
	c->hardware.preferred_accelerator = CONF_CPU;
	c->hardware.cuda.memory_fraction = 0.9;
	c->hardware.memory.hugepages = true;   /* the engine's weight arena, as it was built */
	hub_cache_default(c->storage.model_cache.path, sizeof c->storage.model_cache.path);
	c->storage.model_cache.cleanup_policy = CONF_CLEANUP_LRU;
	strcpy(c->networking.listen, "127.0.0.1:52416");
	c->monitoring.prometheus.port = 9090;
	strcpy(c->monitoring.prometheus.path, "/metrics");
}

void conf_free(struct exo_config *c)
{
	if (!c)
		return;
	free(c->hardware.cuda.devices.v);
	free(c->hardware.rocm.devices.v);
	free(c->hardware.cpu.affinity.v);
	free(c->networking.peers);
	conf_init(c);
}

static int dup_mem(void **dst, const void *src, size_t n, size_t size)
{
	*dst = NULL;
	if (!n)
		return 0;
	*dst = malloc(n * size);
	if (!*dst)
		return -1;
	memcpy(*dst, src, n * size);
	return 0;
}

/* A deep copy, so the binder can fail half-way without touching c. */
static int conf_copy(struct exo_config *dst, const struct exo_config *c, struct exo_err *e)
{
	*dst = *c;
	int r = dup_mem((void **)&dst->hardware.cuda.devices.v, c->hardware.cuda.devices.v,
			c->hardware.cuda.devices.n, sizeof(int));
	r |= dup_mem((void **)&dst->hardware.rocm.devices.v, c->hardware.rocm.devices.v,
		     c->hardware.rocm.devices.n, sizeof(int));
	r |= dup_mem((void **)&dst->hardware.cpu.affinity.v, c->hardware.cpu.affinity.v,
		     c->hardware.cpu.affinity.n, sizeof(int));
	r |= dup_mem((void **)&dst->networking.peers, c->networking.peers,
		     c->networking.n_peers, sizeof(struct conf_peer));
	if (r) {
		conf_free(dst);
		return exo_error(e, EXO_SOFTWARE, "configuration: out of memory");
	}
	return 0;
}

/* A configuration is a few KiB: more than CONF_MAX_BYTES is a mistake
 * (EXO_CONFIG=/dev/zero, a model file), refused after reading one byte
 * more rather than read whole. */
#define CONF_MAX_BYTES ((size_t)1 << 20)

static char *read_bounded(const char *path, size_t *len, struct exo_err *e)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t n;

	if (!f) {
		exo_error(e, EXO_CONFIG, "%s: %s", path, strerror(errno));
		return NULL;
	}
	buf = malloc(CONF_MAX_BYTES + 2);
	if (!buf) {
		fclose(f);
		exo_error(e, EXO_SOFTWARE, "%s: out of memory", path);
		return NULL;
	}
	n = fread(buf, 1, CONF_MAX_BYTES + 1, f);
	if (ferror(f) || n > CONF_MAX_BYTES) {
		if (ferror(f))
			exo_error(e, EXO_CONFIG, "%s: %s", path, strerror(errno));
		else
			exo_error(e, EXO_CONFIG, "%s: larger than %zu KiB: not a configuration file",
				  path, CONF_MAX_BYTES >> 10);
		fclose(f);
		free(buf);
		return NULL;
	}
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

int conf_load_file(struct exo_config *c, const char *path, struct exo_err *e)
{
	size_t len;
	char *buf = read_bounded(path, &len, e);
	if (!buf)
		return -1;
	struct exo_config tmp;
	if (conf_copy(&tmp, c, e) < 0) {
		free(buf);
		return -1;
	}
	int r = conf_bind_yaml(&tmp, path, buf, len, e);
	free(buf);
	if (r < 0) {
		conf_free(&tmp);
		return -1;
	}
	snprintf(tmp.source, sizeof tmp.source, "%s", path);
	conf_free(c);
	*c = tmp;
	log_debug("configuration: %s", path);
	return 0;
}

/* 1 when path exists, 0 when it does not, -1 when it cannot be told. */
static int exists(const char *path, struct exo_err *e)
{
	struct stat st;
	if (stat(path, &st) == 0)
		return 1;
	if (errno == ENOENT || errno == ENOTDIR)
		return 0;
	return exo_error(e, EXO_CONFIG, "%s: %s", path, strerror(errno));
}

/* $XDG_CONFIG_HOME/exo/exo.yaml (XDG wants it absolute), else ~/.config/exo/exo.yaml. */
static int user_path(char *out, size_t size)
{
	const char *xdg = getenv("XDG_CONFIG_HOME"), *home = conf_home();
	int n;
	if (xdg && xdg[0] == '/')
		n = snprintf(out, size, "%s/exo/exo.yaml", xdg);
	else if (home)
		n = snprintf(out, size, "%s/.config/exo/exo.yaml", home);
	else
		return 0;
	return n > 0 && (size_t)n < size;
}

static int found(char *out, size_t outsz, const char *path, struct exo_err *e)
{
	if ((size_t)snprintf(out, outsz, "%s", path) >= outsz)
		return exo_error(e, EXO_CONFIG, "%.200s...: path too long", path);
	return 1;
}

int conf_find(char *out, size_t outsz, const char *system_path, struct exo_err *e)
{
	const char *env = getenv("EXO_CONFIG");
	char user[PATH_MAX];
	int r;
	if (env && *env) {
		if ((r = exists(env, e)) == 0)
			return exo_error(e, EXO_CONFIG, "%s (from EXO_CONFIG): %s", env, strerror(ENOENT));
		return r < 0 ? -1 : found(out, outsz, env, e);
	}
	if (user_path(user, sizeof user) && (r = exists(user, e)) != 0)
		return r < 0 ? -1 : found(out, outsz, user, e);
	if ((r = exists(system_path, e)) != 0)
		return r < 0 ? -1 : found(out, outsz, system_path, e);
	return 0;
}

int conf_load(struct exo_config *c, const char *path, struct exo_err *e)
{
	char where[PATH_MAX];
	if (path)
		return conf_load_file(c, path, e);
	int r = conf_find(where, sizeof where, CONF_SYSTEM_PATH, e);
	if (r <= 0)
		return r;
	return conf_load_file(c, where, e);
}
