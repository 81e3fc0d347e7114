/* Memory: total and available RAM, swap, and huge pages from /proc/meminfo
 * (whose "kB" is KiB), as bytes; huge pages as counts of pages of size bytes. */
#include "hardware/hardware.h"

#include <stdlib.h>

static int kib(const char *info, const char *key, uint64_t *v)
{
	char buf[64];
	if (hw_field(info, key, buf, sizeof buf) < 0)
		return 0;
	char *end;
	*v = strtoull(buf, &end, 10);
	if (end[0] == ' ' && end[1] == 'k')
		*v *= 1024;
	return 1;
}

void hw_memory_detect(struct hw_ctx *c, json_t *node)
{
	char *info = hw_slurp(c, "/proc/meminfo");
	if (!info) {
		hw_note(c, "memory: /proc/meminfo unreadable");
		return;
	}
	static const char *const keys[][2] = {
		{"MemTotal", "mem_total"}, {"MemAvailable", "mem_available"},
		{"SwapTotal", "swap_total"}, {"SwapFree", "swap_free"},
	};
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		uint64_t v = 0;
		int have = kib(info, keys[i][0], &v);
		hw_set_u64(node, keys[i][1], have, v);
	}
	json_t *hp = json_object();
	static const char *const hkeys[][2] = {
		{"HugePages_Total", "total"}, {"HugePages_Free", "free"}, {"Hugepagesize", "size"},
	};
	for (size_t i = 0; i < sizeof hkeys / sizeof hkeys[0]; i++) {
		uint64_t v = 0;
		int have = kib(info, hkeys[i][0], &v);
		hw_set_u64(hp, hkeys[i][1], have, v);
	}
	json_object_set_new(node, "hugepages", hp);
	free(info);
}
