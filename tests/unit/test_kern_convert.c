/* Scalar conversions of the weight types: exact widening, round-to-nearest-even
 * narrowing, subnormals kept. */
#include "kernels/kern.h"
#include "tests/tap.h"

int main(void)
{
	is_int(kern_row_bytes(KD_Q8_0, 64), 68, "Q8_0 row of 64 is two 34-byte blocks");
	is_int(kern_row_bytes(KD_Q4_0, 64), 36, "Q4_0 row of 64 is two 18-byte blocks");
	is_int(kern_row_bytes(KD_Q4_0, 48), 0, "Q4_0 refuses a row that is not whole blocks");
	ok(kern_f16_to_f32(0x0001) == 0x1p-24f, "smallest f16 subnormal widens exactly");
	ok(kern_f16_to_f32(0x83ff) == -1023 * 0x1p-24f, "negative f16 subnormal widens exactly");
	ok(kern_f16_to_f32(0x3c00) == 1.0f, "f16 one");
	ok(kern_f16_to_f32(0x7bff) == 65504.0f, "f16 max");
	is_int(kern_f32_to_f16(1.0f + 0x1p-11f), 0x3c00, "f16 tie rounds to even (down)");
	is_int(kern_f32_to_f16(1.0f + 3 * 0x1p-11f), 0x3c02, "f16 tie rounds to even (up)");
	is_int(kern_f32_to_f16(0x1p-25f), 0, "half the smallest subnormal rounds to even zero");
	int all_exact = 1;
	for (unsigned h = 0; h < 0x7c00; h++)
		if (kern_f32_to_f16(kern_f16_to_f32((uint16_t)h)) != h)
			all_exact = 0;
	ok(all_exact, "every finite positive f16 round-trips through f32");
	ok(kern_bf16_to_f32(0x3f80) == 1.0f, "bf16 one");
	is_int(kern_f32_to_bf16(1.0f + 0x1p-8f), 0x3f80, "bf16 tie rounds to even");
	is_int(kern_dtype_parse("q4_0"), KD_Q4_0, "dtype names parse case-insensitively");
	is_int(kern_dtype_parse("q7_0"), -1, "unknown dtype is refused"); /* q5_k is a GGUF type now */
	return done_testing();
}
