/* Apple Silicon GPUs (MLX): the chip name and unified memory from sysctl,
 * compiled only on macOS.  Elsewhere the detector adds nothing. */
#include "hardware/hardware.h"

#ifdef __APPLE__
#include <string.h>
#include <sys/sysctl.h>
#include <sys/types.h>

void hw_gpu_apple_detect(struct hw_ctx *c, json_t *gpus)
{
	char chip[128] = "";
	size_t len = sizeof chip;
	uint64_t mem = 0;
	size_t mlen = sizeof mem;
	if (sysctlbyname("machdep.cpu.brand_string", chip, &len, NULL, 0) != 0 || strncmp(chip, "Apple", 5) != 0) {
		hw_note(c, "apple: %s is not Apple Silicon: no MLX", chip[0] ? chip : "this Mac");
		return;
	}
	json_t *gpu = json_pack("{s:s, s:s, s:s, s:b}", "vendor", "apple", "backend", "mlx",
				"name", chip, "shared_memory", 1);
	if (sysctlbyname("hw.memsize", &mem, &mlen, NULL, 0) == 0)
		json_object_set_new(gpu, "memory_total", json_integer((json_int_t)mem));
	json_array_append_new(gpus, gpu);
}
#else
void hw_gpu_apple_detect(struct hw_ctx *c, json_t *gpus)
{
	(void)c;
	(void)gpus;
}
#endif
