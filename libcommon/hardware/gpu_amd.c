/* AMD GPUs from sysfs (amdgpu: /sys/class/drm/cardN/device, vendor 0x1002)
 * and the KFD topology that ROCm uses (/sys/class/kfd/kfd/topology/nodes):
 * name, VRAM, gfx target, compute units, PCIe link and power limit. */
#include "hardware/hardware.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Marketing names by PCI device id (pci.ids), for cards without product_name. */
static const char *amd_name(uint32_t dev)
{
	static const struct { uint32_t id; const char *name; } t[] = {
		{0x744c, "Radeon RX 7900 XTX"}, {0x7448, "Radeon Pro W7900"},
		{0x7480, "Radeon RX 7600"}, {0x747e, "Radeon RX 7800 XT"},
		{0x73bf, "Radeon RX 6900 XT"}, {0x73df, "Radeon RX 6700 XT"},
		{0x731f, "Radeon RX 5700 XT"}, {0x687f, "Radeon RX Vega"},
		{0x66af, "Radeon VII"}, {0x67df, "Radeon RX 580"},
		{0x74a1, "Instinct MI300X"}, {0x74a0, "Instinct MI300A"},
		{0x740f, "Instinct MI210"}, {0x740c, "Instinct MI250X"},
		{0x738c, "Instinct MI100"}, {0x66a1, "Instinct MI50"},
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
		if (t[i].id == dev)
			return t[i].name;
	return NULL;
}

/* The KFD node whose PCI location is the card's slot "DDDD:BB:DD.F". */
static char *kfd_node(struct hw_ctx *c, const char *slot)
{
	unsigned dom, bus, dev, fn;
	if (sscanf(slot, "%x:%x:%x.%x", &dom, &bus, &dev, &fn) != 4)
		return NULL;
	size_t n;
	char **nodes = hw_list(c, "/sys/class/kfd/kfd/topology/nodes", "", &n);
	char *found = NULL, buf[64];
	for (size_t i = 0; i < n && !found; i++) {
		char *p = hw_slurp(c, "/sys/class/kfd/kfd/topology/nodes/%s/properties", nodes[i]);
		unsigned long loc = 0, d = 0;
		if (p && hw_field(p, "location_id", buf, sizeof buf) == 0)
			loc = strtoul(buf, NULL, 10);
		if (p && hw_field(p, "domain", buf, sizeof buf) == 0)
			d = strtoul(buf, NULL, 10);
		if (p && loc == (bus << 8 | dev << 3 | fn) && d == dom && hw_field(p, "simd_count", buf, sizeof buf) == 0 && atoi(buf) > 0)
			found = p;
		else
			free(p);
	}
	hw_names_free(nodes, n);
	return found;
}

/* gfx_target_version major*10000 + minor*100 + stepping, printed gfx%d%x%x. */
static void kfd_fill(const char *props, json_t *gpu)
{
	char buf[64];
	if (hw_field(props, "gfx_target_version", buf, sizeof buf) == 0) {
		unsigned long v = strtoul(buf, NULL, 10);
		snprintf(buf, sizeof buf, "gfx%lu%lx%lx", v / 10000, v / 100 % 100, v % 100);
		json_object_set_new(gpu, "gfx_target", json_string(buf));
	}
	unsigned long simd = 0, per_cu = 0;
	if (hw_field(props, "simd_count", buf, sizeof buf) == 0)
		simd = strtoul(buf, NULL, 10);
	if (hw_field(props, "simd_per_cu", buf, sizeof buf) == 0)
		per_cu = strtoul(buf, NULL, 10);
	if (simd && per_cu)
		json_object_set_new(gpu, "compute_units", json_integer((json_int_t)(simd / per_cu)));
}

static void memory(struct hw_ctx *c, const char *card, json_t *gpu)
{
	uint64_t total = 0, used = 0;
	if (hw_read_u64(c, &total, "/sys/class/drm/%s/device/mem_info_vram_total", card) < 0)
		return;
	json_object_set_new(gpu, "memory_total", json_integer((json_int_t)total));
	if (hw_read_u64(c, &used, "/sys/class/drm/%s/device/mem_info_vram_used", card) == 0 && used <= total)
		json_object_set_new(gpu, "memory_free", json_integer((json_int_t)(total - used)));
}

/* hwmon power1_cap is in microwatts; the record has watts. */
static void power(struct hw_ctx *c, const char *card, json_t *gpu)
{
	char dir[128];
	size_t n;
	snprintf(dir, sizeof dir, "/sys/class/drm/%s/device/hwmon", card);
	char **hw = hw_list(c, dir, "hwmon", &n);
	uint64_t uw;
	if (n && hw_read_u64(c, &uw, "%s/%s/power1_cap", dir, hw[0]) == 0)
		json_object_set_new(gpu, "power_limit", json_real((double)uw / 1e6));
	hw_names_free(hw, n);
}

static json_t *amd_gpu(struct hw_ctx *c, const char *card)
{
	char name[256], ver[64];
	uint32_t dev = hw_pci_device(c, card);
	if (hw_read(c, name, sizeof name, "/sys/class/drm/%s/device/product_name", card) <= 0)
		snprintf(name, sizeof name, "%s", amd_name(dev) ? amd_name(dev) : "AMD GPU");
	json_t *gpu = json_pack("{s:s, s:s, s:s}", "vendor", "amd", "backend", "rocm", "name", name);
	hw_pci_fill(c, card, gpu);
	if (hw_read(c, ver, sizeof ver, "/sys/module/amdgpu/version") > 0)
		json_object_set_new(gpu, "driver_version", json_string(ver));
	memory(c, card, gpu);
	const char *slot = json_string_value(json_object_get(gpu, "pci_bus_id"));
	char *props = slot ? kfd_node(c, slot) : NULL;
	if (props)
		kfd_fill(props, gpu);
	else
		hw_note(c, "amd: %s: no KFD topology node (ROCm kernel driver not loaded?)", card);
	free(props);
	power(c, card, gpu);
	return gpu;
}

void hw_gpu_amd_detect(struct hw_ctx *c, json_t *gpus)
{
	size_t n;
	char **cards = hw_drm_cards(c, 0x1002, &n);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(gpus, amd_gpu(c, cards[i]));
	hw_names_free(cards, n);
}
