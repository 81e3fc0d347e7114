/* The node record: runs every detector over one root (the live system or a
 * --sysroot tree) and assembles what they found, with the compatibility
 * verdict of each GPU and the configuration's choice of accelerator. */
#include "hardware/hardware.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "records/record.h"

static int open_root(const struct hw_opts *o, struct hw_ctx *c, char *buf, size_t n, struct exo_err *e)
{
	struct stat st;
	c->root = "";
	c->live = 1;
	if (!o->sysroot)
		return 0;
	if (stat(o->sysroot, &st) != 0)
		return exo_error(e, EXO_NOINPUT, "%s: %s", o->sysroot, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return exo_error(e, EXO_NOINPUT, "%s: not a directory", o->sysroot);
	char real[PATH_MAX];
	if (!realpath(o->sysroot, real))
		return exo_error(e, EXO_NOINPUT, "%s: %s", o->sysroot, strerror(errno));
	if (strcmp(real, "/") != 0) {
		snprintf(buf, n, "%s", real);
		c->root = buf;
		c->live = 0;
	}
	return 0;
}

static void identity(struct hw_ctx *c, const struct hw_opts *o, json_t *node)
{
	char host[256] = "";
	if (o->name)
		snprintf(host, sizeof host, "%s", o->name);
	else if (hw_read(c, host, sizeof host, "/proc/sys/kernel/hostname") <= 0 && c->live)
		gethostname(host, sizeof host - 1);
	json_object_set_new(node, "name", json_string(host[0] ? host : "localhost"));
	if (o->advertise)
		json_object_set_new(node, "advertise", json_string(o->advertise));
}

static void gpus(struct hw_ctx *c, json_t *node)
{
	json_t *g = json_array();
	hw_gpu_apple_detect(c, g);
	hw_gpu_nvidia_detect(c, g);
	hw_gpu_amd_detect(c, g);
	hw_gpu_intel_detect(c, g);
	size_t i;
	json_t *gpu;
	json_array_foreach(g, i, gpu) {
		json_object_set_new(gpu, "index", json_integer((json_int_t)i));
		hw_gpu_verdict(gpu);
	}
	if (json_array_size(g) == 0)
		hw_note(c, "gpu: none found; this node is CPU-only");
	json_object_set_new(node, "gpus", g);
	hw_select(c, g, node);
}

json_t *hw_node_new(const struct hw_opts *o, struct exo_err *e)
{
	char root[PATH_MAX];
	struct hw_ctx c;
	struct exo_config defaults;
	if (open_root(o, &c, root, sizeof root, e) < 0)
		return NULL;
	conf_init(&defaults);
	c.conf = o->conf ? o->conf : &defaults;
	c.notes = json_array();
	json_t *node = json_pack("{s:s, s:i}", "kind", "node", "v", REC_VERSION);
	identity(&c, o, node);
	hw_cpu_detect(&c, node);
	hw_memory_detect(&c, node);
	gpus(&c, node);
	hw_storage_detect(&c, node);
	hw_network_detect(&c, node);
	json_object_set_new(node, "notes", c.notes);
	conf_free(&defaults);
	return node;
}
