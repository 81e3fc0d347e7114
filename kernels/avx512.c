/* AVX-512 kernels (placeholder: the AVX2 table until overrides land). */
#include "kernels/kern_simd.h"
const struct kern_ops *kern_avx512_ops(void) { return NULL; }
