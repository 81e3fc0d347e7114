/* Storage of the model cache (storage.modelCache.path, whose default is
 * HF_HUB_CACHE, HF_HOME/hub or ~/.cache/huggingface/hub): its mount, filesystem, the disk behind it and
 * that disk's kind (nvme, ssd, hdd, virtual, network, memory, unknown) from
 * mountinfo and /sys/block; total and free bytes from statvfs when live. */
#include "hardware/hardware.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

/* Is mount point m a path-component prefix of p? */
static size_t mount_prefix(const char *m, const char *p)
{
	size_t n = strlen(m);
	if (strcmp(m, "/") == 0)
		return 1;
	return strncmp(m, p, n) == 0 && (p[n] == '/' || p[n] == '\0') ? n : 0;
}

struct mount { char point[PATH_MAX], dev[32], fstype[64], source[PATH_MAX]; };

/* The mountinfo line whose mount point is the longest prefix of path. */
static int find_mount(struct hw_ctx *c, const char *path, struct mount *m)
{
	char *info = hw_slurp(c, "/proc/self/mountinfo");
	size_t best = 0;
	char *save = NULL;
	for (char *line = info ? strtok_r(info, "\n", &save) : NULL; line; line = strtok_r(NULL, "\n", &save)) {
		struct mount t;
		char *sep = strstr(line, " - ");
		if (!sep || sscanf(line, "%*s %*s %31s %*s %4095s", t.dev, t.point) != 2 ||
		    sscanf(sep + 3, "%63s %4095s", t.fstype, t.source) != 2)
			continue;
		size_t k = mount_prefix(t.point, path);
		if (k && k >= best) {
			best = k;
			*m = t;
		}
	}
	free(info);
	return best ? 0 : -1;
}

/* The whole disk under /sys/block holding block device name (a partition,
 * or through dm/md slaves). */
static int whole_disk(struct hw_ctx *c, const char *name, char *disk, size_t n, int depth)
{
	size_t k;
	char **d;
	if (!hw_exists(c, "/sys/block/%s", name)) {
		d = hw_list(c, "/sys/block", "", &k);
		int found = -1;
		for (size_t i = 0; i < k && found < 0; i++)
			if (hw_exists(c, "/sys/block/%s/%s", d[i], name))
				found = whole_disk(c, d[i], disk, n, depth);
		hw_names_free(d, k);
		return found;
	}
	char dir[PATH_MAX];
	snprintf(dir, sizeof dir, "/sys/block/%s/slaves", name);
	d = hw_list(c, dir, "", &k);
	int r = k && depth < 4 ? whole_disk(c, d[0], disk, n, depth + 1) : (snprintf(disk, n, "%s", name), 0);
	hw_names_free(d, k);
	return r;
}

static const char *kind(struct hw_ctx *c, const struct mount *m, const char *disk)
{
	static const char *const net = "|nfs|nfs4|cifs|smb3|ceph|glusterfs|lustre|fuse.sshfs|9p|virtiofs|beegfs|gpfs|";
	char pat[80];
	uint64_t rot = 0;
	snprintf(pat, sizeof pat, "|%s|", m->fstype);
	if (strstr(net, pat))
		return "network";
	if (strcmp(m->fstype, "tmpfs") == 0 || strcmp(m->fstype, "ramfs") == 0)
		return "memory";
	if (!disk[0])
		return "unknown";
	if (strncmp(disk, "nvme", 4) == 0)
		return "nvme";
	if (strncmp(disk, "vd", 2) == 0 || strncmp(disk, "xvd", 3) == 0)
		return "virtual";   /* virtio reports rotational 1 whatever the host has */
	if (hw_read_u64(c, &rot, "/sys/block/%s/queue/rotational", disk) < 0)
		return "unknown";
	return rot ? "hdd" : "ssd";
}

static void block_device(struct hw_ctx *c, const struct mount *m, json_t *s)
{
	char name[128] = "", disk[128] = "";
	char *ue = hw_slurp(c, "/sys/dev/block/%s/uevent", m->dev);
	if (!ue || hw_field(ue, "DEVNAME=", name, sizeof name) < 0)
		if (strncmp(m->source, "/dev/", 5) == 0)
			snprintf(name, sizeof name, "%s", strrchr(m->source, '/') + 1);
	free(ue);
	if (name[0])
		whole_disk(c, name, disk, sizeof disk, 0);
	if (disk[0])
		json_object_set_new(s, "device", json_string(disk));
	json_object_set_new(s, "device_kind", json_string(kind(c, m, disk)));
}

/* statvfs the deepest existing directory of path (the cache may not exist yet). */
static void space(const char *path, json_t *s)
{
	char p[PATH_MAX];
	struct statvfs v;
	snprintf(p, sizeof p, "%s", path);
	while (statvfs(p, &v) != 0) {
		char *slash = strrchr(p, '/');
		if (!slash || slash == p) {
			if (statvfs("/", &v) != 0)
				return;
			break;
		}
		*slash = '\0';
	}
	json_object_set_new(s, "total", json_integer((json_int_t)((uint64_t)v.f_blocks * v.f_frsize)));
	json_object_set_new(s, "free", json_integer((json_int_t)((uint64_t)v.f_bavail * v.f_frsize)));
}

/* On the live system the mount is found for the resolved path. */
static void resolve(const char *path, char *out, size_t n)
{
	char p[PATH_MAX], r[PATH_MAX];
	snprintf(p, sizeof p, "%s", path);
	for (;;) {
		if (realpath(p, r)) {
			snprintf(out, n, "%s%s", r, path + strlen(p));
			return;
		}
		char *slash = strrchr(p, '/');
		if (!slash || slash == p)
			break;
		*slash = '\0';
	}
	snprintf(out, n, "%s", path);
}

void hw_storage_detect(struct hw_ctx *c, json_t *node)
{
	char path[PATH_MAX], real[PATH_MAX];
	struct mount m;
	snprintf(path, sizeof path, "%s", c->conf->storage.model_cache.path);
	json_t *s = json_pack("{s:s}", "path", path);
	if (c->live)
		resolve(path, real, sizeof real);
	else
		snprintf(real, sizeof real, "%s", path);
	if (find_mount(c, real, &m) == 0) {
		json_object_set_new(s, "mount_point", json_string(m.point));
		json_object_set_new(s, "fstype", json_string(m.fstype));
		block_device(c, &m, s);
	} else {
		hw_note(c, "storage: no mount found for %s in /proc/self/mountinfo", path);
	}
	if (c->live)
		space(real, s);
	else
		hw_note(c, "storage: total and free not measured under --sysroot");
	json_object_set_new(node, "storage", s);
}
