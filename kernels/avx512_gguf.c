/* AVX-512 GGUF kernels: kernels/gguf_simd.h with VNNI's dpbusd (the avx512
 * table is only built on CPUs with VNNI for these: see kernels/avx512.c). */
#define GGUF_FILL kern_gguf_avx512
#define GGUF_VNNI 1
#include "kernels/gguf_simd.h"
