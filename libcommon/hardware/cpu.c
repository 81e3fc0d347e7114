/* CPU: architecture and its support level, vendor and model, sockets, cores
 * and threads (sysfs topology of the online CPUs), NUMA nodes with their CPUs
 * and memory, cache sizes seen by CPU 0, and the SIMD features. */
#include "hardware/hardware.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

static void arch_detect(struct hw_ctx *c, json_t *node)
{
	char arch[80];
	struct utsname u;
	if (hw_read(c, arch, sizeof arch, "/proc/sys/kernel/arch") <= 0)
		snprintf(arch, sizeof arch, "%s", uname(&u) == 0 ? u.machine : "unknown");
	struct hw_verdict v;
	hw_arch_verdict(arch, &v);
	json_object_set_new(node, "arch", json_string(arch));
	json_object_set_new(node, "arch_support", json_pack("{s:s, s:s}",
		"support", hw_support_name(v.support), "reason", v.reason));
}

/* aarch64 cpuinfo names the implementer by number (Linux arch/arm64 cputype.h). */
static const char *arm_vendor(unsigned long id)
{
	static const struct { unsigned long id; const char *name; } v[] = {
		{0x41, "ARM"}, {0x42, "Broadcom"}, {0x43, "Cavium"}, {0x46, "Fujitsu"},
		{0x48, "HiSilicon"}, {0x4e, "NVIDIA"}, {0x51, "Qualcomm"}, {0x61, "Apple"},
		{0xc0, "Ampere"},
	};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
		if (v[i].id == id)
			return v[i].name;
	return "unknown";
}

static void identity(const char *info, json_t *cpu)
{
	char vendor[128] = "unknown", model[256] = "unknown", buf[64];
	if (hw_field(info, "vendor_id", vendor, sizeof vendor) < 0 &&
	    hw_field(info, "CPU implementer", buf, sizeof buf) == 0)
		snprintf(vendor, sizeof vendor, "%s", arm_vendor(strtoul(buf, NULL, 0)));
	if (hw_field(info, "model name", model, sizeof model) < 0 &&
	    hw_field(info, "uarch", model, sizeof model) < 0 &&
	    hw_field(info, "CPU part", buf, sizeof buf) == 0)
		snprintf(model, sizeof model, "%s part %s", vendor, buf);
	if (strcmp(vendor, "unknown") == 0)
		hw_field(info, "mvendorid", vendor, sizeof vendor);
	json_object_set_new(cpu, "vendor", json_string(vendor));
	json_object_set_new(cpu, "model", json_string(model));
}

/* Sockets and cores: distinct package ids and (package, core) pairs. */
static void topology(struct hw_ctx *c, json_t *cpu, json_t *online)
{
	size_t n = json_array_size(online), sockets = 0, cores = 0;
	uint64_t *pkg = calloc(n ? n : 1, sizeof *pkg), *core = calloc(n ? n : 1, sizeof *core);
	for (size_t i = 0; pkg && core && i < n; i++) {
		json_int_t id = json_integer_value(json_array_get(online, i));
		uint64_t p = 0, k = (uint64_t)id;
		hw_read_u64(c, &p, "/sys/devices/system/cpu/cpu%lld/topology/physical_package_id", (long long)id);
		hw_read_u64(c, &k, "/sys/devices/system/cpu/cpu%lld/topology/core_id", (long long)id);
		int newp = 1, newc = 1;
		for (size_t j = 0; j < i; j++) {
			newp &= pkg[j] != p;
			newc &= !(pkg[j] == p && core[j] == k);
		}
		sockets += newp;
		cores += newc;
		pkg[i] = p;
		core[i] = k;
	}
	free(pkg);
	free(core);
	json_object_set_new(cpu, "sockets", json_integer((json_int_t)sockets));
	json_object_set_new(cpu, "cores", json_integer((json_int_t)cores));
	json_object_set_new(cpu, "threads", json_integer((json_int_t)n));
}

static void numa(struct hw_ctx *c, json_t *cpu)
{
	size_t n;
	char **nodes = hw_list(c, "/sys/devices/system/node", "node", &n);
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++) {
		char list[4096], meminfo_key[32], buf[64];
		if (hw_read(c, list, sizeof list, "/sys/devices/system/node/%s/cpulist", nodes[i]) < 0)
			continue;
		json_t *cpus = hw_cpulist(list);
		json_t *o = json_pack("{s:i, s:o}", "node", atoi(nodes[i] + 4), "cpus", cpus ? cpus : json_array());
		char *mi = hw_slurp(c, "/sys/devices/system/node/%s/meminfo", nodes[i]);
		snprintf(meminfo_key, sizeof meminfo_key, "Node %d MemTotal", atoi(nodes[i] + 4));
		if (mi && hw_field(mi, meminfo_key, buf, sizeof buf) == 0)
			json_object_set_new(o, "mem_total", json_integer((json_int_t)(strtoull(buf, NULL, 10) * 1024)));
		free(mi);
		json_array_append_new(a, o);
	}
	hw_names_free(nodes, n);
	json_object_set_new(cpu, "numa", a);
}

/* "48K", "1024K", "32M" as bytes. */
static uint64_t cache_bytes(const char *s)
{
	char *end;
	uint64_t v = strtoull(s, &end, 10);
	return v << (*end == 'K' ? 10 : *end == 'M' ? 20 : *end == 'G' ? 30 : 0);
}

static void caches(struct hw_ctx *c, json_t *cpu)
{
	size_t n;
	char **idx = hw_list(c, "/sys/devices/system/cpu/cpu0/cache", "index", &n);
	json_t *o = json_object();
	for (size_t i = 0; i < n; i++) {
		char type[32], size[32];
		uint64_t level = 0;
		const char *d = "/sys/devices/system/cpu/cpu0/cache";
		if (hw_read_u64(c, &level, "%s/%s/level", d, idx[i]) < 0 ||
		    hw_read(c, type, sizeof type, "%s/%s/type", d, idx[i]) < 0 ||
		    hw_read(c, size, sizeof size, "%s/%s/size", d, idx[i]) <= 0)
			continue;
		const char *key = level == 1 ? (strcmp(type, "Data") == 0 ? "l1d" : strcmp(type, "Instruction") == 0 ? "l1i" : NULL)
				: level == 2 ? "l2" : level == 3 ? "l3" : level == 4 ? "l4" : NULL;
		if (key)
			hw_set_u64(o, key, 1, cache_bytes(size));
	}
	hw_names_free(idx, n);
	json_object_set_new(cpu, "caches", o);
}

void hw_cpu_detect(struct hw_ctx *c, json_t *node)
{
	arch_detect(c, node);
	json_t *cpu = json_object();
	char *info = hw_slurp(c, "/proc/cpuinfo");
	identity(info ? info : "", cpu);
	char list[4096];
	json_t *online = NULL;
	if (hw_read(c, list, sizeof list, "/sys/devices/system/cpu/online") > 0)
		online = hw_cpulist(list);
	if (!online) {
		hw_note(c, "cpu: /sys/devices/system/cpu/online unreadable; topology unknown");
		online = json_array();
	}
	topology(c, cpu, online);
	json_decref(online);
	numa(c, cpu);
	caches(c, cpu);
	json_t *f = c->live ? hw_features_live() : NULL;
	json_object_set_new(cpu, "features", f ? f : hw_features_from_cpuinfo(info ? info : ""));
	free(info);
	json_object_set_new(node, "cpu", cpu);
}
