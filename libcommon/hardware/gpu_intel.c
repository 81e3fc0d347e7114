/* Intel GPUs from sysfs (vendor 0x8086, driver i915 or xe): name by PCI
 * device id, and local memory where it can be had: the i915 memory-region
 * query on the live system, or the lmem_*_bytes files that Intel's
 * out-of-tree i915 exposes.  Integrated GPUs share system RAM. */
#include "hardware/hardware.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* Marketing names by PCI device id (pci.ids, Intel's driver tables). */
static const char *intel_name(uint32_t dev)
{
	static const struct { uint32_t id; const char *name; } t[] = {
		{0x56a0, "Arc A770"}, {0x56a1, "Arc A750"}, {0x56a2, "Arc A580"},
		{0x56a5, "Arc A380"}, {0x56a6, "Arc A310"}, {0x5690, "Arc A770M"},
		{0x5691, "Arc A730M"}, {0x5692, "Arc A550M"}, {0x5693, "Arc A370M"},
		{0x56c0, "Data Center GPU Flex 170"}, {0x56c1, "Data Center GPU Flex 140"},
		{0x0bd5, "Data Center GPU Max 1550"}, {0x0bda, "Data Center GPU Max 1100"},
		{0x4905, "Iris Xe MAX"}, {0x9a49, "Iris Xe Graphics"}, {0x9a40, "Iris Xe Graphics"},
		{0xe20b, "Arc B580"}, {0xe20c, "Arc B570"},
		{0x4680, "UHD Graphics 770"}, {0xa780, "UHD Graphics 770"}, {0x9bc5, "UHD Graphics 630"},
		{0x3e92, "UHD Graphics 630"},
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
		if (t[i].id == dev)
			return t[i].name;
	return NULL;
}

/* i915 uAPI (include/uapi/drm/i915_drm.h), declared here: no kernel headers needed. */
struct i915_query_item { uint64_t query_id; int32_t length; uint32_t flags; uint64_t data_ptr; };
struct i915_query { uint32_t num_items; uint32_t flags; uint64_t items_ptr; };
struct i915_region {
	uint16_t memory_class, memory_instance;
	uint32_t rsvd0;
	uint64_t probed_size, unallocated_size;
	uint64_t rsvd1[8];
};
struct i915_regions { uint32_t num_regions; uint32_t rsvd[3]; struct i915_region r[]; };
#define I915_QUERY_MEMORY_REGIONS 4
#define I915_MEMORY_CLASS_DEVICE 1
#define DRM_IOCTL_I915_QUERY _IOWR('d', 0x40 + 0x39, struct i915_query)

static int query(int fd, struct i915_query_item *it)
{
	struct i915_query q = {.num_items = 1, .items_ptr = (uintptr_t)it};
	return ioctl(fd, DRM_IOCTL_I915_QUERY, &q) == 0 && it->length > 0 ? 0 : -1;
}

/* Device-local memory of an i915 card: probed and unallocated bytes. */
static int i915_lmem(const char *card, uint64_t *total, uint64_t *avail)
{
	char dev[64];
	snprintf(dev, sizeof dev, "/dev/dri/%s", card);
	int fd = open(dev, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -1;
	struct i915_query_item it = {.query_id = I915_QUERY_MEMORY_REGIONS};
	struct i915_regions *r = NULL;
	int found = -1;
	if (query(fd, &it) == 0 && (r = calloc(1, (size_t)it.length))) {
		it.data_ptr = (uintptr_t)r;
		if (query(fd, &it) == 0)
			for (uint32_t i = 0; i < r->num_regions; i++)
				if (r->r[i].memory_class == I915_MEMORY_CLASS_DEVICE) {
					*total = r->r[i].probed_size;
					*avail = r->r[i].unallocated_size;
					found = 0;
				}
	}
	free(r);
	close(fd);
	return found;
}

static void memory(struct hw_ctx *c, const char *card, const char *driver, json_t *gpu)
{
	uint64_t total = 0, avail = 0;
	int have = hw_read_u64(c, &total, "/sys/class/drm/%s/lmem_total_bytes", card) == 0;
	int have_free = have && hw_read_u64(c, &avail, "/sys/class/drm/%s/lmem_avail_bytes", card) == 0;
	if (!have && c->live && strcmp(driver, "i915") == 0)
		have = have_free = i915_lmem(card, &total, &avail) == 0;
	if (!have) {
		json_object_set_new(gpu, "shared_memory", json_true());
		return;
	}
	json_object_set_new(gpu, "memory_total", json_integer((json_int_t)total));
	if (have_free)
		json_object_set_new(gpu, "memory_free", json_integer((json_int_t)avail));
}

static json_t *intel_gpu(struct hw_ctx *c, const char *card)
{
	uint32_t dev = hw_pci_device(c, card);
	const char *name = intel_name(dev);
	json_t *gpu = json_pack("{s:s, s:s, s:s}", "vendor", "intel", "backend", "intel",
				"name", name ? name : "Intel GPU");
	hw_pci_fill(c, card, gpu);
	const char *driver = json_string_value(json_object_get(gpu, "driver"));
	memory(c, card, driver ? driver : "", gpu);
	return gpu;
}

void hw_gpu_intel_detect(struct hw_ctx *c, json_t *gpus)
{
	size_t n;
	char **cards = hw_drm_cards(c, 0x8086, &n);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(gpus, intel_gpu(c, cards[i]));
	hw_names_free(cards, n);
}
