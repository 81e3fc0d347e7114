/* AVX2 GGUF kernels: kernels/gguf_simd.h with maddubs + madd. */
#define GGUF_FILL kern_gguf_avx2
#include "kernels/gguf_simd.h"
