/* Compute kernels behind one dispatch table.
 *
 * kern_ref (kernels/ref.c) fills every slot with a plain scalar version: it is
 * the oracle.  Optimised variants (avx2.c, avx512.c) start from a copy
 * of the reference table and override the slots they implement, so every slot
 * is always valid.  kern_select() picks the best variant for this CPU;
 * EXO_KERNELS=ref|avx2|avx512 forces one (and the choice is logged).
 *
 * Shapes: weights are row-major [rows, cols] in one of the weight types below;
 * activations are f32.  Q8_0 and Q4_0 are GGML's blocks of 32 values along a
 * row with an f16 scale, so their cols must be a multiple of 32. */
#ifndef EXO_KERNELS_KERN_H
#define EXO_KERNELS_KERN_H
#include <stddef.h>
#include <stdint.h>

/* MLX's affine quantization (mlx-community checkpoints): one type per bits,
 * group size and scale type, listed by KERN_MLX_TYPES(X) as X(bits, group,
 * scale type); see kernels/mlx.h for the block layout. */
#define KERN_MLX_SCALE_TYPES(X, b, g) X(b, g, F16) X(b, g, BF16) X(b, g, F32)
#define KERN_MLX_BIT_TYPES(X, g)                                                      \
	KERN_MLX_SCALE_TYPES(X, 2, g) KERN_MLX_SCALE_TYPES(X, 3, g) KERN_MLX_SCALE_TYPES(X, 4, g) \
	KERN_MLX_SCALE_TYPES(X, 5, g) KERN_MLX_SCALE_TYPES(X, 6, g) KERN_MLX_SCALE_TYPES(X, 8, g)
#define KERN_MLX_TYPES(X) KERN_MLX_BIT_TYPES(X, 32) KERN_MLX_BIT_TYPES(X, 64) KERN_MLX_BIT_TYPES(X, 128)
#define KERN_MLX_ENUM(b, g, s) KD_MLX##b##_G##g##_##s,

enum kern_dtype { KD_F32, KD_F16, KD_BF16, KD_Q8_0, KD_Q4_0,
		  KD_Q4_1, KD_Q5_0, KD_Q5_1, KD_Q4_K, KD_Q5_K, KD_Q6_K,  /* GGUF's: kernels/kern_gguf.h */
		  KERN_MLX_TYPES(KERN_MLX_ENUM)
		  KD_COUNT };
#define KD_MLX_FIRST KD_MLX2_G32_F16
#define KD_MLX_LAST KD_MLX8_G128_F32
#define KD_MLX_COUNT (KD_MLX_LAST - KD_MLX_FIRST + 1)
#define KD_IS_MLX(t) ((int)(t) >= (int)KD_MLX_FIRST && (int)(t) <= (int)KD_MLX_LAST)

#define KERN_QBLOCK 32
struct kern_block_q8_0 { uint16_t d; int8_t qs[KERN_QBLOCK]; };        /* 34 bytes */
struct kern_block_q4_0 { uint16_t d; uint8_t qs[KERN_QBLOCK / 2]; };   /* 18 bytes: qs[j] low nibble is value j, high nibble value j+16 */

/* Activations for the integer dot products of Q8_0 and Q4_0 weights, as
 * llama.cpp does it (its block_q8_0): x in blocks of 32, d = max|x| / 127,
 * q = round(x / d), and the sum of q (for Q4_0's offset of 8); d is kept
 * rounded to f16 as llama.cpp stores it, so that greedy decoding follows
 * llama.cpp's on the same GGUF file as far as the rest allows.  Every
 * variant's Q8_0 and Q4_0 gemv and gemm compute
 *   y[r] = sum over blocks b of d_w(b) d_x(b) sum_j w(b, j) q(b, j)
 * from these same integers; only the float summation order differs.  A
 * block holding a NaN or an infinity gets d = NaN, so it reaches y. */
struct kern_act_q8 { float d; int32_t sum; int8_t qs[KERN_QBLOCK]; };
void kern_quantize_act(const float *x, struct kern_act_q8 *out, size_t n);

const char *kern_dtype_name(enum kern_dtype t);     /* "F32", "F16", "BF16", "Q8_0", "Q4_0", "MLX4_G64_BF16" */
int kern_dtype_parse(const char *name);             /* case-insensitive; -1 if unknown */
/* Bytes of one row of cols values; 0 when cols does not fit the type's blocks. */
size_t kern_row_bytes(enum kern_dtype t, size_t cols);

/* Scalar conversions, exact in the widening direction (f16 subnormals kept). */
float kern_f16_to_f32(uint16_t h);
uint16_t kern_f32_to_f16(float f);      /* round to nearest even */
float kern_bf16_to_f32(uint16_t b);
uint16_t kern_f32_to_bf16(float f);     /* round to nearest even */

struct kern_ops {
	const char *name;
	/* y[r] = sum_c W[r][c] x[c], r < rows. */
	void (*gemv[KD_COUNT])(const void *w, const float *x, float *y, size_t rows, size_t cols);
	/* Y[i][r] = sum_c W[r][c] X[i][c], i < n; X is [n, cols], Y is [n, rows]. */
	void (*gemm[KD_COUNT])(const void *w, const float *x, float *y, size_t n, size_t rows,
			       size_t cols, int threads);
	/* Widen n values (n a multiple of 32 for the block types). */
	void (*to_f32[KD_COUNT])(const void *src, float *dst, size_t n);
	/* Round or quantise n values into the type. */
	void (*from_f32[KD_COUNT])(const float *src, void *dst, size_t n);
	/* out = w * x / sqrt(mean(x^2) + eps); out may equal x. */
	void (*rmsnorm)(float *out, const float *x, const float *w, size_t n, float eps);
	/* Rotate-half RoPE in place on n_heads heads of head_dim values each:
	 * dimension i pairs with i + head_dim/2, with cos[i], sin[i] for i < head_dim/2. */
	void (*rope)(float *x, size_t n_heads, size_t head_dim, const float *cos, const float *sin);
	/* In place, numerically stable (max subtracted). */
	void (*softmax)(float *x, size_t n);
	/* gate[i] = silu(gate[i]) * up[i]. */
	void (*silu_mul)(float *gate, const float *up, size_t n);
	/* y[i] += x[i]. */
	void (*add)(float *y, const float *x, size_t n);
	/* One query head over n_keys cached positions: key t is k[t*kv_stride .. +head_dim],
	 * value t likewise in v; out = sum_t softmax_t(scale * q.k_t) v_t.
	 * scratch holds n_keys floats. */
	void (*attention)(float *out, const float *q, const float *k, const float *v, size_t n_keys,
			  size_t head_dim, size_t kv_stride, float scale, float *scratch);
	/* kern_quantize_act, the same bytes (the reference's is that function). */
	void (*quantize_act)(const float *x, struct kern_act_q8 *out, size_t n);
	/* kern_quantize_act_k (kernels/kern_gguf.h: the K types' activations,
	 * n a multiple of 256), the same bytes. */
	void (*quantize_act_k)(const float *x, struct kern_act_q8 *out, size_t n);
	/* Optional (NULL: none): a layout of the variant's own for Q8_0/Q4_0
	 * weights, made once at load, in which gemv_packed/gemm_packed compute
	 * what gemv/gemm compute from the standard layout.  pack takes rows a
	 * multiple of KERN_PACK_ROWS and writes as many bytes as the standard
	 * layout holds; packed_row_f32 widens row r of a packed matrix. */
	void (*pack[KD_COUNT])(const void *w, void *dst, size_t rows, size_t cols);
	void (*gemv_packed[KD_COUNT])(const void *w, const float *x, float *y, size_t rows, size_t cols);
	void (*gemm_packed[KD_COUNT])(const void *w, const float *x, float *y, size_t n, size_t rows,
				      size_t cols, int threads);
	void (*packed_row_f32[KD_COUNT])(const void *w, size_t cols, size_t r, float *out);
	/* Nonzero where gemv_packed/gemm_packed of the type round the
	 * activations to int8 where the reference computes with them in f32
	 * (the MLX types: kernels/mlx.h, kern_mlx_gemv_act): their results
	 * differ from the reference's by that rounding, not only by order. */
	unsigned char packed_rounds_x[KD_COUNT];
};
/* Rows interleaved in a packed layout; row ranges handed to gemv_packed
 * start at a multiple of it (and its offset is that many rows' bytes). */
#define KERN_PACK_ROWS 16

extern const struct kern_ops kern_ref;
/* The variants compiled in and usable on this CPU, best last; NULL-terminated. */
const struct kern_ops *const *kern_variants(void);
/* The best usable variant, or the one EXO_KERNELS names (an unknown or
 * unsupported name falls back to the best, with a warning in the log). */
const struct kern_ops *kern_select(void);
/* A variant by name if compiled in and supported here, else NULL. */
const struct kern_ops *kern_by_name(const char *name);
#endif
