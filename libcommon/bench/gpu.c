/* GPU suite: device memory bandwidth, GEMM and the engine's kernels on a
 * CUDA device.  It runs only where a CUDA device is present (the NVIDIA
 * driver's device nodes); elsewhere it is skipped without a failure.  There
 * is no GPU backend yet, so where a device is present it says so and
 * measures nothing. */
#include "bench/internal.h"

#include <unistd.h>

bool bench_gpu_present(void)
{
	return access("/dev/nvidiactl", F_OK) == 0 || access("/proc/driver/nvidia/version", F_OK) == 0;
}

int bench_gpu(struct bench_ctx *c)
{
	bench_warn(c, "gpu: a CUDA device is present, but this build has no GPU backend to "
		   "measure; skipped");
	return 0;
}
