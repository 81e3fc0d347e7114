/* AVX2 + FMA kernels.  Starts from the reference table and overrides the
 * slots it implements. */
#include "kernels/kern.h"

int kern_avx2_usable(void)
{
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

const struct kern_ops kern_avx2 = {0};
