/* Prefill matrix products for the optimised variants, on BLIS.  Weights are
 * row-major [rows, cols], so Y = X . W^T is one sgemm with W transposed; F32
 * weights are handed to BLIS in place, other types are widened a block of
 * rows at a time (the variant's own to_f32) into a scratch buffer, which keeps
 * the extra memory bounded while BLIS still gets large enough panels.  The
 * threads share out the blocks, each widening its own and multiplying it with
 * a one-thread BLIS call: widening is as much work as a short prompt's
 * product, so leaving it to one thread while BLIS threads the product kept a
 * 64-token prefill at one core's speed. */
#include "kernels/kern_simd.h"

#include <blis.h>
#include <stdlib.h>

enum { BLOCK_ROWS = 256 };

/* y[n, nr] (row stride ldy) = x[n, cols] . w[nr, cols]^T, all f32. */
static void sgemm_nt(const float *w, const float *x, float *y, size_t n, size_t nr, size_t cols,
		     size_t ldy, rntm_t *rntm)
{
	float alpha = 1.0f, beta = 0.0f;
	bli_sgemm_ex(BLIS_NO_TRANSPOSE, BLIS_TRANSPOSE, (dim_t)n, (dim_t)nr, (dim_t)cols, &alpha,
		     (float *)x, (inc_t)cols, 1, (float *)w, (inc_t)cols, 1, &beta, y, (inc_t)ldy, 1,
		     NULL, rntm);
}

void kern_blis_gemm(enum kern_dtype t, kern_to_f32_fn to_f32, const void *w, const float *x,
		    float *y, size_t n, size_t rows, size_t cols, int threads)
{
	if (n == 0 || rows == 0)
		return;
	rntm_t rntm = BLIS_RNTM_INITIALIZER;
	bli_rntm_set_num_threads(threads > 0 ? threads : 1, &rntm);
	/* BLIS 0.9's small-matrix (sup) kernels read a few bytes past the end of
	 * A and B; weights are mmapped, so a read past a mapping could fault. */
	bli_rntm_disable_l3_sup(&rntm);
	if (t == KD_F32) {
		sgemm_nt(w, x, y, n, rows, cols, rows, &rntm);
		return;
	}
	size_t rb = kern_row_bytes(t, cols), n_blocks = (rows + BLOCK_ROWS - 1) / BLOCK_ROWS;
	int failed = 0;
	bli_rntm_set_num_threads(1, &rntm);
#pragma omp parallel num_threads(threads > 0 ? threads : 1) reduction(| : failed)
	{
		rntm_t own = rntm; /* each thread its own run-time state */
		float *buf = malloc((size_t)BLOCK_ROWS * cols * sizeof *buf);
		failed = !buf;
#pragma omp for schedule(dynamic)
		for (size_t b = 0; b < n_blocks; b++) {
			size_t r0 = b * BLOCK_ROWS, nr = rows - r0 < BLOCK_ROWS ? rows - r0 : BLOCK_ROWS;
			if (!buf)
				continue;
			to_f32((const char *)w + r0 * rb, buf, nr * cols);
			sgemm_nt(buf, x, y + r0, n, nr, cols, rows, &own);
		}
		free(buf);
	}
	if (failed) /* no memory for a widened block: the reference needs none */
		kern_ref.gemm[t](w, x, y, n, rows, cols, threads);
}
