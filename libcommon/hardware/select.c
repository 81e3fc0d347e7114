/* The configuration's say over the GPUs: which accelerator family the node
 * computes with (hardware.detectionOrder, or hardware.preferredAccelerator
 * when autoDetect is false), which GPUs it uses (hardware.cuda.devices,
 * hardware.rocm.devices) and how much of their memory (memoryFraction).
 * Runs after the detectors and the verdicts; see exo-detect(1), FIELDS. */
#include "hardware/hardware.h"

#include <string.h>

static const char *str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "";
}

/* The GPU's accelerator family: its backend, else the one of its vendor;
 * -1 when neither is known. */
static int family(const json_t *gpu)
{
	static const char *const vendor[][2] = {
		{"apple", "mlx"}, {"nvidia", "cuda"}, {"amd", "rocm"}, {"intel", "intel"},
	};
	if (json_object_get(gpu, "backend"))
		return conf_accel_parse(str(gpu, "backend"));
	for (size_t i = 0; i < sizeof vendor / sizeof vendor[0]; i++)
		if (strcmp(str(gpu, "vendor"), vendor[i][0]) == 0)
			return conf_accel_parse(vendor[i][1]);
	return -1;
}

/* The device list of a family; NULL for those without one (every GPU). */
static const struct conf_ints *device_list(const struct exo_config *conf, int a)
{
	if (a == CONF_CUDA)
		return &conf->hardware.cuda.devices;
	if (a == CONF_ROCM)
		return &conf->hardware.rocm.devices;
	return NULL;
}

static int listed(const struct conf_ints *l, json_int_t ordinal)
{
	if (!l || l->n == 0)
		return 1;
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i] == ordinal)
			return 1;
	return 0;
}

/* Number each GPU within its family ("device_ordinal", what the device lists
 * name) and mark those the lists leave out or the verdict rejects as
 * candidates no more ("used": false for now). */
static void mark_candidates(struct hw_ctx *c, const struct exo_config *conf, json_t *gpus)
{
	json_int_t next[CONF_ACCEL_N] = {0};
	size_t i;
	json_t *g;
	json_array_foreach(gpus, i, g) {
		int a = family(g);
		json_int_t ord = a >= 0 ? next[a]++ : 0;
		int ok = strcmp(str(g, "support"), "unsupported") != 0;
		json_object_set_new(g, "device_ordinal", json_integer(ord));
		if (ok && a >= 0 && !listed(device_list(conf, a), ord)) {
			hw_note(c, "gpu %zu (%s): not used: hardware.%s.devices does not list device %lld",
				i, str(g, "name"), conf_accel_name((enum conf_accel)a), (long long)ord);
			ok = 0;
		}
		json_object_set_new(g, "used", json_boolean(ok && a >= 0));
	}
	for (int a = 0; a < CONF_ACCEL_N; a++) {
		const struct conf_ints *l = device_list(conf, a);
		for (size_t k = 0; l && k < l->n; k++)
			if (l->v[k] >= next[a])
				hw_note(c, "config: hardware.%s.devices lists device %d; this node has %lld %s devices",
					conf_accel_name((enum conf_accel)a), l->v[k], (long long)next[a],
					conf_accel_name((enum conf_accel)a));
	}
}

/* A GPU the node may compute on: "used" when mark_candidates() ran, else
 * any GPU whose verdict is not "unsupported". */
static int candidate(const json_t *g)
{
	const json_t *used = json_object_get(g, "used");
	return used ? json_is_true(used) : strcmp(str(g, "support"), "unsupported") != 0;
}

/* Does a candidate GPU of family a exist?  The CPU always does. */
static int present(const json_t *gpus, enum conf_accel a)
{
	size_t i;
	const json_t *g;
	if (a == CONF_CPU)
		return 1;
	json_array_foreach(gpus, i, g)
		if (family(g) == (int)a && candidate(g))
			return 1;
	return 0;
}

static enum conf_accel by_order(const json_t *gpus, const enum conf_accel *order, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (present(gpus, order[i]))
			return order[i];
	return CONF_CPU;
}

const char *hw_preferred_accelerator(const json_t *gpus)
{
	/* COMPAT.md, Other facts: detection order mlx, cuda, rocm, intel, cpu. */
	static const enum conf_accel order[] = {CONF_MLX, CONF_CUDA, CONF_ROCM, CONF_INTEL, CONF_CPU};
	return conf_accel_name(by_order(gpus, order, sizeof order / sizeof order[0]));
}

static enum conf_accel choose(struct hw_ctx *c, const struct exo_config *conf, const json_t *gpus)
{
	enum conf_accel want = conf->hardware.preferred_accelerator;
	if (!conf->hardware.auto_detect) {
		if (present(gpus, want))
			return want;
		hw_note(c, "config: hardware.preferredAccelerator %s: no usable %s device on this node; "
			   "chose by hardware.detectionOrder instead", conf_accel_name(want), conf_accel_name(want));
	}
	return by_order(gpus, conf->hardware.detection_order, conf->hardware.n_detection_order);
}

void hw_select(struct hw_ctx *c, json_t *gpus, json_t *node)
{
	const struct exo_config *conf = c->conf;
	double fraction = conf->hardware.cuda.memory_fraction;
	mark_candidates(c, conf, gpus);
	enum conf_accel pref = choose(c, conf, gpus);
	size_t i;
	json_t *g;
	json_array_foreach(gpus, i, g) {
		int used = json_is_true(json_object_get(g, "used"));
		if (used && family(g) != (int)pref) {
			hw_note(c, "gpu %zu (%s): not used: the preferred accelerator is %s",
				i, str(g, "name"), conf_accel_name(pref));
			used = 0;
		}
		json_object_set_new(g, "used", json_boolean(used));
		json_int_t total = json_integer_value(json_object_get(g, "memory_total"));
		if (json_object_get(g, "memory_total"))
			json_object_set_new(g, "memory_usable",
					    json_integer(used ? (json_int_t)((double)total * fraction) : 0));
	}
	json_object_set_new(node, "preferred_accelerator", json_string(conf_accel_name(pref)));
	json_object_set_new(node, "memory_fraction", json_real(fraction));
}
