/* GPUs seen as PCI devices behind /sys/class/drm/cardN: the vendor filter
 * and the facts every vendor's card has in sysfs (bus id, driver, link). */
#include "hardware/hardware.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int is_card(const char *name)
{
	const char *p = name + 4;
	if (!*p)
		return 0;
	for (; *p; p++)
		if (*p < '0' || *p > '9')
			return 0;   /* card0-DP-1 and the like are connectors */
	return 1;
}

char **hw_drm_cards(const struct hw_ctx *c, unsigned vendor, size_t *count)
{
	size_t n, k = 0;
	char **names = hw_list(c, "/sys/class/drm", "card", &n);
	for (size_t i = 0; i < n; i++) {
		uint64_t v = 0;
		if (is_card(names[i]) && hw_read_u64(c, &v, "/sys/class/drm/%s/device/vendor", names[i]) == 0 && v == vendor)
			names[k++] = names[i];
		else
			free(names[i]);
	}
	*count = k;
	return names;
}

uint32_t hw_pci_device(const struct hw_ctx *c, const char *card)
{
	uint64_t v = 0;
	hw_read_u64(c, &v, "/sys/class/drm/%s/device/device", card);
	return (uint32_t)v;
}

/* "16.0 GT/s PCIe" -> 4 (PCIe generations double the rate from 8 GT/s). */
static int pcie_gen(const char *speed)
{
	double gts = atof(speed);
	return gts >= 64 ? 6 : gts >= 32 ? 5 : gts >= 16 ? 4 : gts >= 8 ? 3 : gts >= 5 ? 2 : gts >= 2.5 ? 1 : 0;
}

void hw_pci_fill(const struct hw_ctx *c, const char *card, json_t *gpu)
{
	char buf[256], slot[64];
	uint64_t vendor = 0;
	hw_read_u64(c, &vendor, "/sys/class/drm/%s/device/vendor", card);
	snprintf(buf, sizeof buf, "%04x:%04x", (unsigned)vendor, (unsigned)hw_pci_device(c, card));
	json_object_set_new(gpu, "pci_id", json_string(buf));
	char *ue = hw_slurp(c, "/sys/class/drm/%s/device/uevent", card);
	if (ue && hw_field(ue, "PCI_SLOT_NAME=", slot, sizeof slot) == 0)
		json_object_set_new(gpu, "pci_bus_id", json_string(slot));
	free(ue);
	if (hw_link_name(c, buf, sizeof buf, "/sys/class/drm/%s/device/driver", card) == 0)
		json_object_set_new(gpu, "driver", json_string(buf));
	if (hw_read(c, buf, sizeof buf, "/sys/class/drm/%s/device/max_link_speed", card) > 0 && pcie_gen(buf))
		json_object_set_new(gpu, "pcie_gen", json_integer(pcie_gen(buf)));
	uint64_t w;
	if (hw_read_u64(c, &w, "/sys/class/drm/%s/device/max_link_width", card) == 0)
		json_object_set_new(gpu, "pcie_width", json_integer((json_int_t)w));
}
