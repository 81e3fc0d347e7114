/* AVX-512 kernels.  Starts from the reference table and overrides the slots it
 * implements. */
#include "kernels/kern.h"

int kern_avx512_usable(void)
{
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
	       __builtin_cpu_supports("avx512vl");
}

const struct kern_ops kern_avx512 = {0};
