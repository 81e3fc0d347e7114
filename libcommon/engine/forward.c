/* The forward pass of a stage: embedding, decoder layers (RMSNorm, attention
 * with RoPE over the session's KV cache, a dense SwiGLU MLP or a mixture of
 * SwiGLU experts), final norm and head.  A layer is composed from the parts
 * its config's recipe names.  Shapes follow transformers' Llama / Mistral /
 * Qwen2 / Qwen3 / Qwen3-MoE / Mixtral modelling code. */
#include "engine/internal.h"
#include "util/log.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Below this many tokens a product is done as gemv per token: converting a
 * whole matrix for a GEMM costs more than it saves. */
#define GEMM_MIN_TOKENS 4

/* A MoE prefill runs its experts over at most this many positions at a
 * time: the outputs kept per (position, choice) are k x hidden floats a
 * position (64 KB for Qwen3-30B-A3B), so a long prompt must not hold them
 * all; each expert's weights are read once a chunk. */
#define MOE_CHUNK 512

typedef void gemv_fn(const void *w, const float *x, float *y, size_t rows, size_t cols);

/* Rows [r0, r1) of y = W x, panel by panel: the first panel writes y, the
 * others their partial sums into panel_sum, added after. */
static void gemv_rows(struct eng_stage *s, const struct eng_mat *w, const float *x, float *y,
		      size_t r0, size_t r1)
{
	gemv_fn *gemv = w->packed ? s->ops->gemv_packed[w->dtype] : s->ops->gemv[w->dtype];
	for (size_t p = 0, np = eng_mat_panels(w); p < np; p++) {
		size_t width;
		const char *panel = eng_mat_panel(w, p, &width);
		float *out = p == 0 ? y : s->panel_sum;
		gemv(panel + r0 * kern_row_bytes(w->dtype, width), x + p * w->panel_cols, out + r0,
		     r1 - r0, width);
		if (p > 0)
			for (size_t r = r0; r < r1; r++)
				y[r] += out[r];
	}
}

static void gemv_threaded(struct eng_stage *s, const struct eng_mat *w, const float *x, float *y)
{
	int nt = s->threads;
	if (w->rows * w->cols < 65536)
		nt = 1;
#pragma omp parallel num_threads(nt)
	{
		int t = omp_get_thread_num(), n = omp_get_num_threads();
		/* Split rows in multiples of 16 so variants can keep their row blocks. */
		size_t chunk = (w->rows + (size_t)n - 1) / (size_t)n;
		chunk = (chunk + 15) & ~(size_t)15;
		size_t r0 = (size_t)t * chunk, r1 = r0 + chunk > w->rows ? w->rows : r0 + chunk;
		if (r0 < r1)
			gemv_rows(s, w, x, y, r0, r1);
	}
}

static void gemm(struct eng_stage *s, const struct eng_mat *w, const void *panel, const float *in,
		 float *out, size_t n, size_t width)
{
	if (w->packed)
		s->ops->gemm_packed[w->dtype](panel, in, out, n, w->rows, width, s->threads);
	else
		s->ops->gemm[w->dtype](panel, in, out, n, w->rows, width, s->threads);
}

/* Prefill through a panelled matrix: each panel's columns of X gathered,
 * multiplied, and summed into out. */
static void gemm_panels(struct eng_stage *s, const struct eng_mat *w, const float *in, float *out,
			size_t n)
{
	float *xp = s->sc.panel_x, *yp = s->sc.panel_y;
	for (size_t p = 0, np = eng_mat_panels(w); p < np; p++) {
		size_t width;
		const void *panel = eng_mat_panel(w, p, &width);
		for (size_t i = 0; i < n; i++)
			memcpy(xp + i * width, in + i * w->cols + p * w->panel_cols, width * sizeof *xp);
		gemm(s, w, panel, xp, p == 0 ? out : yp, n, width);
		if (p > 0)
			s->ops->add(out, yp, n * w->rows);
	}
}

void eng_matmul(struct eng_stage *s, const struct eng_mat *w, const float *in, float *out, size_t n)
{
	if (n < GEMM_MIN_TOKENS) {
		for (size_t i = 0; i < n; i++)
			gemv_threaded(s, w, in + i * w->cols, out + i * w->rows);
		return;
	}
	if (eng_mat_panels(w) > 1)
		gemm_panels(s, w, in, out, n);
	else
		gemm(s, w, w->data, in, out, n, w->cols);
}

static int grow_moe_scratch(struct eng_stage *s, size_t n, struct exo_err *e)
{
	const struct model_config *c = &s->cfg;
	struct eng_scratch *sc = &s->sc;
	if (!c->n_experts)
		return 0;
	size_t H = (size_t)c->hidden, k = (size_t)c->n_experts_used, F = (size_t)c->moe_ffn;
	void **bufs[] = {(void **)&sc->router, (void **)&sc->moe_x, (void **)&sc->moe_y,
			 (void **)&sc->moe_sum, (void **)&sc->choice, (void **)&sc->choice_w,
			 (void **)&sc->routed, (void **)&sc->routed_w, (void **)&sc->expert_g,
			 (void **)&sc->expert_u, (void **)&sc->expert_y, (void **)&sc->moe_out,
			 (void **)&sc->expert_start};
	size_t bytes[] = {(size_t)c->n_experts * 4, H * 4, H * 4, H * 4, k * 4, k * 4, k * 4, k * 4,
			  k * F * 4, k * F * 4, k * H * 4, k * H * 4,
			  2 * ((size_t)c->n_experts + 1) * sizeof *sc->expert_start};
	/* the first eight grow with n, moe_out with n up to MOE_CHUNK, the
	 * decode buffers and expert_start do not */
	size_t per_token = 8, moe_out = 11, chunk = n < MOE_CHUNK ? n : MOE_CHUNK;
	for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) {
		free(*bufs[i]);
		size_t rows = i < per_token ? n : i == moe_out ? chunk : 1;
		if (!(*bufs[i] = malloc(size_mul(rows, bytes[i])))) {
			sc->cap_tokens = 0;
			return exo_error(e, EXO_SOFTWARE, "out of memory for %zu tokens of scratch", n);
		}
	}
	return 0;
}

static int grow_scratch(struct eng_stage *s, size_t n, struct exo_err *e)
{
	struct eng_scratch *sc = &s->sc;
	if (n <= sc->cap_tokens)
		return 0;
	const struct model_config *c = &s->cfg;
	size_t ffn = (size_t)(c->moe_ffn > c->ffn ? c->moe_ffn : c->ffn);
	float **bufs[] = {&sc->x, &sc->xb, &sc->q, &sc->k, &sc->v, &sc->att, &sc->gate, &sc->up,
			  &sc->panel_x, &sc->panel_y};
	size_t widths[] = {(size_t)c->hidden, (size_t)c->hidden, (size_t)s->q_dim, (size_t)s->kv_dim, (size_t)s->kv_dim,
			   (size_t)s->q_dim, ffn, ffn,
			   s->panel_sum_rows ? s->panel_cols : 1, s->panel_sum_rows ? s->panel_sum_rows : 1};
	for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) {
		free(*bufs[i]);
		*bufs[i] = malloc(size_mul(n, widths[i] * sizeof(float)));
		if (!*bufs[i]) {
			sc->cap_tokens = 0;
			return exo_error(e, EXO_SOFTWARE, "out of memory for %zu tokens of scratch", n);
		}
	}
	sc->cap_tokens = n;
	return grow_moe_scratch(s, n, e);
}

static void add_bias(float *y, const float *b, size_t n, size_t dim)
{
	if (b)
		for (size_t i = 0; i < n; i++)
			for (size_t j = 0; j < dim; j++)
				y[i * dim + j] += b[j];
}

/* q, k: [n, heads*head_dim] at positions pos0..pos0+n-1. */
static void apply_rope(struct eng_stage *s, float *q, float *k, size_t n, int pos0)
{
	const struct model_config *c = &s->cfg;
	size_t half = (size_t)c->head_dim / 2;
	for (size_t i = 0; i < n; i++) {
		const float *cs = s->rope_cos + (size_t)(pos0 + (int)i) * half;
		const float *sn = s->rope_sin + (size_t)(pos0 + (int)i) * half;
		s->ops->rope(q + i * (size_t)s->q_dim, (size_t)c->n_heads, (size_t)c->head_dim, cs, sn);
		s->ops->rope(k + i * (size_t)s->kv_dim, (size_t)c->n_kv_heads, (size_t)c->head_dim, cs, sn);
	}
}

/* Causal attention of n new positions over the cache, which already holds them. */
static void attend(struct eng_stage *s, struct eng_kv *kv, int layer, size_t n, int pos0)
{
	const struct model_config *c = &s->cfg;
	size_t hd = (size_t)c->head_dim, group = (size_t)(c->n_heads / c->n_kv_heads);
	const float *kc = kv->k + (size_t)layer * (size_t)kv->ctx * kv->kv_dim;
	const float *vc = kv->v + (size_t)layer * (size_t)kv->ctx * kv->kv_dim;
	float scale = 1.0f / sqrtf((float)hd);
	long total = (long)n * c->n_heads;
#pragma omp parallel for num_threads(s->threads) schedule(static) if (total > 1)
	for (long job = 0; job < total; job++) {
		size_t i = (size_t)job / (size_t)c->n_heads, h = (size_t)job % (size_t)c->n_heads;
		size_t kvh = h / group, n_keys = (size_t)pos0 + i + 1;
		float *scores = s->sc.scores + (size_t)omp_get_thread_num() * (size_t)s->ctx;
		s->ops->attention(s->sc.att + i * (size_t)s->q_dim + h * hd,
				  s->sc.q + i * (size_t)s->q_dim + h * hd, kc + kvh * hd, vc + kvh * hd,
				  n_keys, hd, kv->kv_dim, scale, scores);
	}
}

static void store_kv(struct eng_kv *kv, int layer, const float *k, const float *v, size_t n, int pos0)
{
	size_t off = ((size_t)layer * (size_t)kv->ctx + (size_t)pos0) * kv->kv_dim;
	memcpy(kv->k + off, k, n * kv->kv_dim * sizeof *k);
	memcpy(kv->v + off, v, n * kv->kv_dim * sizeof *v);
}

/* Qwen3: each head of q and k RMS-normalised over head_dim before RoPE. */
static void norm_heads(struct eng_stage *s, float *x, const float *w, size_t n, size_t heads)
{
	size_t hd = (size_t)s->cfg.head_dim;
	for (size_t i = 0; i < n * heads; i++)
		s->ops->rmsnorm(x + i * hd, x + i * hd, w, hd, s->cfg.rms_eps);
}

/* Attention block: x += o(attention(rope(norm(q)), rope(norm(k)), v)). */
static void attention_block(struct eng_stage *s, struct eng_kv *kv, int li, size_t n, int pos0)
{
	const struct model_config *c = &s->cfg;
	const struct eng_layer *l = &s->layers[li];
	struct eng_scratch *sc = &s->sc;
	size_t H = (size_t)c->hidden;
	for (size_t i = 0; i < n; i++)
		s->ops->rmsnorm(sc->xb + i * H, sc->x + i * H, l->attn_norm, H, c->rms_eps);
	eng_matmul(s, &l->wq, sc->xb, sc->q, n);
	eng_matmul(s, &l->wk, sc->xb, sc->k, n);
	eng_matmul(s, &l->wv, sc->xb, sc->v, n);
	add_bias(sc->q, l->bq, n, (size_t)s->q_dim);
	add_bias(sc->k, l->bk, n, (size_t)s->kv_dim);
	add_bias(sc->v, l->bv, n, (size_t)s->kv_dim);
	if (l->q_norm) {
		norm_heads(s, sc->q, l->q_norm, n, (size_t)c->n_heads);
		norm_heads(s, sc->k, l->k_norm, n, (size_t)c->n_kv_heads);
	}
	apply_rope(s, sc->q, sc->k, n, pos0);
	store_kv(kv, li, sc->k, sc->v, n, pos0);
	attend(s, kv, li, n, pos0);
	eng_matmul(s, &l->wo, sc->att, sc->xb, n);
	s->ops->add(sc->x, sc->xb, n * H);
}

/* SwiGLU: out[n, hidden] = down(silu(gate(in)) * up(in)). */
static void swiglu(struct eng_stage *s, const struct eng_mat *gate, const struct eng_mat *up,
		   const struct eng_mat *down, const float *in, float *out, size_t n)
{
	struct eng_scratch *sc = &s->sc;
	eng_matmul(s, gate, in, sc->gate, n);
	eng_matmul(s, up, in, sc->up, n);
	s->ops->silu_mul(sc->gate, sc->up, n * gate->rows);
	eng_matmul(s, down, sc->gate, out, n);
}

/* transformers: softmax of the router logits in f32, torch.topk (largest
 * first; on equal values the lower index, as torch's CPU kernel keeps
 * them), renormalised to sum 1 when norm_topk_prob. */
static void route_one(const struct model_config *c, const float *logits, int32_t *choice,
		      float *weight)
{
	int E = c->n_experts, k = c->n_experts_used;
	float top = logits[0], sum = 0;
	for (int x = 1; x < E; x++)
		top = logits[x] > top ? logits[x] : top;
	for (int x = 0; x < E; x++)
		sum += expf(logits[x] - top);
	for (int j = 0; j < k; j++) {
		int best = -1;
		for (int x = 0; x < E; x++) {
			bool taken = false;
			for (int t = 0; t < j; t++)
				taken |= choice[t] == x;
			if (!taken && (best < 0 || logits[x] > logits[best]))
				best = x;
		}
		choice[j] = best;
		weight[j] = expf(logits[best] - top) / sum;
	}
	if (c->norm_topk_prob) {
		float total = 0;
		for (int j = 0; j < k; j++)
			total += weight[j];
		for (int j = 0; j < k; j++)
			weight[j] /= total;
	}
}

/* Rows [r0, r1) of thread t of nt, in multiples of 16 (gemv_threaded's split). */
static void thread_rows(size_t rows, int t, int nt, size_t *r0, size_t *r1)
{
	size_t chunk = (rows + (size_t)nt - 1) / (size_t)nt;
	chunk = (chunk + 15) & ~(size_t)15;
	*r0 = (size_t)t * chunk < rows ? (size_t)t * chunk : rows;
	*r1 = *r0 + chunk < rows ? *r0 + chunk : rows;
}

/* Decode: the k chosen experts of one position in one parallel region (a
 * region per matrix would be 3k fork-joins a layer, each costing a
 * scheduler slice on a loaded machine): each thread computes its rows of
 * every expert's gate and up and their SwiGLU, then after one barrier its
 * rows of every expert's down, summed with the weights in expert order. */
static void moe_decode(struct eng_stage *s, const struct eng_layer *l, const int32_t *choice,
		       const float *weight)
{
	const struct model_config *c = &s->cfg;
	struct eng_scratch *sc = &s->sc;
	size_t H = (size_t)c->hidden, F = (size_t)c->moe_ffn, k = (size_t)c->n_experts_used;
	size_t order[64];   /* the chosen experts by index, as transformers sums them */
	size_t m = k < 64 ? k : 64;
	for (size_t j = 0; j < m; j++) {
		size_t at = j;
		while (at > 0 && choice[order[at - 1]] > choice[j]) {
			order[at] = order[at - 1];
			at--;
		}
		order[at] = j;
	}
	int nt = F * H * m < 4096 ? 1 : s->threads;
#pragma omp parallel num_threads(nt)
	{
		int t = omp_get_thread_num(), n = omp_get_num_threads();
		size_t r0, r1;
		thread_rows(F, t, n, &r0, &r1);
		for (size_t j = 0; j < m && r0 < r1; j++) {
			const struct eng_expert *ex = &l->experts[choice[j]];
			float *g = sc->expert_g + j * F, *u = sc->expert_u + j * F;
			gemv_rows(s, &ex->gate, sc->xb, g, r0, r1);
			gemv_rows(s, &ex->up, sc->xb, u, r0, r1);
			s->ops->silu_mul(g + r0, u + r0, r1 - r0);
		}
#pragma omp barrier
		thread_rows(H, t, n, &r0, &r1);
		for (size_t j = 0; j < m && r0 < r1; j++)
			gemv_rows(s, &l->experts[choice[j]].down, sc->expert_g + j * F,
				  sc->expert_y + j * H, r0, r1);
		for (size_t r = r0; r < r1; r++) {
			float sum = 0;
			for (size_t j = 0; j < m; j++)
				sum += weight[order[j]] * sc->expert_y[order[j] * H + r];
			sc->xb[r] = sum;
		}
	}
}

/* y[n, rows] = W x on the calling thread alone: a gemv per position below
 * GEMM_MIN_TOKENS, as eng_matmul does; W is one panel. */
static void matmul_here(struct eng_stage *s, const struct eng_mat *w, const float *in, float *out,
			size_t n)
{
	if (n < GEMM_MIN_TOKENS) {
		gemv_fn *gemv = w->packed ? s->ops->gemv_packed[w->dtype] : s->ops->gemv[w->dtype];
		for (size_t i = 0; i < n; i++)
			gemv(w->data, in + i * w->cols, out + i * w->rows, w->rows, w->cols);
	} else if (w->packed) {
		s->ops->gemm_packed[w->dtype](w->data, in, out, n, w->rows, w->cols, 1);
	} else {
		s->ops->gemm[w->dtype](w->data, in, out, n, w->rows, w->cols, 1);
	}
}

/* Each thread's buffers for the positions of one expert: grown to the
 * largest group seen (a prompt of n positions gives an expert about
 * n k / experts of them), never shrunk. */
static int grow_expert_rows(struct eng_stage *s, size_t rows)
{
	struct eng_scratch *sc = &s->sc;
	if (rows <= sc->moe_rows)
		return 0;
	size_t H = (size_t)s->cfg.hidden, F = (size_t)s->cfg.moe_ffn, nt = (size_t)s->threads;
	float **bufs[] = {&sc->moe_tx, &sc->moe_tg, &sc->moe_tu, &sc->moe_ty};
	size_t widths[] = {H, F, F, H};
	sc->moe_rows = 0;
	for (size_t i = 0; i < 4; i++) {
		free(*bufs[i]);
		if (!(*bufs[i] = malloc(size_mul(size_mul(nt, rows), widths[i] * sizeof(float)))))
			return -1;
	}
	sc->moe_rows = rows;
	return 0;
}

/* One expert's SwiGLU over its m routed positions (routed: indices into
 * choice, grouped by expert) on the calling thread, thread t's buffers;
 * each output row goes to its (position, choice) row of moe_out. */
static void expert_here(struct eng_stage *s, const struct eng_expert *ex, const float *xb,
			const int32_t *routed, size_t m, int t)
{
	struct eng_scratch *sc = &s->sc;
	size_t H = (size_t)s->cfg.hidden, F = (size_t)s->cfg.moe_ffn, k = (size_t)s->cfg.n_experts_used;
	size_t rows = sc->moe_rows;
	float *x = sc->moe_tx + (size_t)t * rows * H, *y = sc->moe_ty + (size_t)t * rows * H;
	float *g = sc->moe_tg + (size_t)t * rows * F, *u = sc->moe_tu + (size_t)t * rows * F;
	for (size_t r = 0; r < m; r++)
		memcpy(x + r * H, xb + (size_t)routed[r] / k * H, H * sizeof *x);
	matmul_here(s, &ex->gate, x, g, m);
	matmul_here(s, &ex->up, x, u, m);
	s->ops->silu_mul(g, u, m * F);
	matmul_here(s, &ex->down, g, y, m);
	for (size_t r = 0; r < m; r++)
		memcpy(sc->moe_out + (size_t)routed[r] * H, y + r * H, H * sizeof *y);
}

/* Position i's k expert outputs (moe_out) summed into xb, weighted, in
 * expert order, as the serial loop of moe_block sums them (choice and
 * weight: the chunk's). */
static void moe_sum_position(struct eng_stage *s, float *xb, const int32_t *chosen, const float *weight,
			     size_t i)
{
	struct eng_scratch *sc = &s->sc;
	size_t H = (size_t)s->cfg.hidden, k = (size_t)s->cfg.n_experts_used;
	const int32_t *choice = chosen + i * k;
	size_t order[64];
	for (size_t j = 0; j < k; j++) {
		size_t at = j;
		while (at > 0 && choice[order[at - 1]] > choice[j]) {
			order[at] = order[at - 1];
			at--;
		}
		order[at] = j;
	}
	float *dst = xb + i * H;
	memset(dst, 0, H * sizeof *dst);
	for (size_t j = 0; j < k; j++) {
		const float *src = sc->moe_out + (i * k + order[j]) * H;
		float w = weight[i * k + order[j]];
		for (size_t d = 0; d < H; d++)
			dst[d] += w * src[d];
	}
}

/* Where each expert's positions of choice [n, k] start (start[E + 1], a
 * counting sort's offsets); returns the most any expert got. */
static size_t expert_offsets(const int32_t *choice, size_t n, size_t k, size_t E, size_t *start)
{
	size_t most = 0;
	memset(start, 0, (E + 1) * sizeof *start);
	for (size_t j = 0; j < n * k; j++)
		start[choice[j] + 1]++;
	for (size_t x = 0; x < E; x++) {
		most = start[x + 1] > most ? start[x + 1] : most;
		start[x + 1] += start[x];
	}
	return most;
}

/* Prefill of positions [p0, p0 + n), n <= MOE_CHUNK: the positions grouped
 * by expert (positions in order within an expert), the experts shared out
 * among the threads in one parallel region, each expert on one thread over
 * all its positions (one product of its weights, read once), then each
 * position's outputs summed.  One region a chunk, not three per expert:
 * 128 experts of a few positions each made 384 fork-joins a layer, each too
 * small to share. */
static void moe_prefill_chunk(struct eng_stage *s, const struct eng_layer *l, size_t p0, size_t n)
{
	const struct model_config *c = &s->cfg;
	struct eng_scratch *sc = &s->sc;
	size_t k = (size_t)c->n_experts_used, E = (size_t)c->n_experts;
	const int32_t *choice = sc->choice + p0 * k;
	const float *weight = sc->choice_w + p0 * k;
	float *xb = sc->xb + p0 * (size_t)c->hidden;
	size_t *start = sc->expert_start, *fill = start + E + 1;
	int32_t *routed = sc->routed;
	expert_offsets(choice, n, k, E, start);
	memcpy(fill, start, E * sizeof *fill);
	for (size_t j = 0; j < n * k; j++)
		routed[fill[choice[j]]++] = (int32_t)j;
#pragma omp parallel num_threads(s->threads)
	{
		int t = omp_get_thread_num();
#pragma omp for schedule(dynamic)
		for (size_t x = 0; x < E; x++)
			if (start[x + 1] > start[x])
				expert_here(s, &l->experts[x], xb, routed + start[x], start[x + 1] - start[x], t);
#pragma omp for schedule(static)
		for (size_t i = 0; i < n; i++)
			moe_sum_position(s, xb, choice, weight, i);
	}
}

/* The prefill a chunk at a time, each thread's buffers first grown to the
 * largest group of any chunk; -1 (no memory for them, nothing computed):
 * the caller's serial loop runs instead. */
static int moe_prefill(struct eng_stage *s, const struct eng_layer *l, size_t n)
{
	size_t k = (size_t)s->cfg.n_experts_used, E = (size_t)s->cfg.n_experts, most = 0;
	for (size_t p0 = 0; p0 < n; p0 += MOE_CHUNK) {
		size_t m = expert_offsets(s->sc.choice + p0 * k, n - p0 < MOE_CHUNK ? n - p0 : MOE_CHUNK, k, E,
					  s->sc.expert_start);
		most = m > most ? m : most;
	}
	if (grow_expert_rows(s, most) < 0)
		return -1;
	for (size_t p0 = 0; p0 < n; p0 += MOE_CHUNK)
		moe_prefill_chunk(s, l, p0, n - p0 < MOE_CHUNK ? n - p0 : MOE_CHUNK);
	return 0;
}

/* Mixture of experts over sc->xb [n, hidden] into sc->xb: the router picks
 * k experts per position; the positions are grouped by expert and each
 * expert runs once over its group (a GEMM in prefill, a gemv of only the k
 * chosen experts in decode); outputs are summed in expert order, weighted. */
static void moe_block(struct eng_stage *s, int li, size_t n)
{
	const struct model_config *c = &s->cfg;
	const struct eng_layer *l = &s->layers[li];
	struct eng_scratch *sc = &s->sc;
	size_t H = (size_t)c->hidden, k = (size_t)c->n_experts_used, E = (size_t)c->n_experts;
	eng_matmul(s, &l->router, sc->xb, sc->router, n);
	for (size_t i = 0; i < n; i++)
		route_one(c, sc->router + i * E, sc->choice + i * k, sc->choice_w + i * k);
	if (s->router_hook)
		s->router_hook(s->router_hook_arg, s->first + li, sc->choice, n, k);
	if (n == 1 && k <= 64) {
		moe_decode(s, l, sc->choice, sc->choice_w);
		return;
	}
	if (k <= 64 && eng_mat_panels(&l->experts[0].gate) == 1 &&
	    eng_mat_panels(&l->experts[0].down) == 1 && moe_prefill(s, l, n) == 0)
		return;
	memset(sc->moe_sum, 0, n * H * sizeof *sc->moe_sum);
	for (size_t x = 0; x < E; x++) {
		size_t m = 0;
		for (size_t j = 0; j < n * k; j++)
			if ((size_t)sc->choice[j] == x) {
				sc->routed[m] = (int32_t)(j / k);
				sc->routed_w[m++] = sc->choice_w[j];
			}
		if (!m)
			continue;
		for (size_t r = 0; r < m; r++)
			memcpy(sc->moe_x + r * H, sc->xb + (size_t)sc->routed[r] * H, H * sizeof(float));
		const struct eng_expert *ex = &l->experts[x];
		swiglu(s, &ex->gate, &ex->up, &ex->down, sc->moe_x, sc->moe_y, m);
		for (size_t r = 0; r < m; r++) {
			float *dst = sc->moe_sum + (size_t)sc->routed[r] * H, w = sc->routed_w[r];
			const float *src = sc->moe_y + r * H;
			for (size_t d = 0; d < H; d++)
				dst[d] += w * src[d];
		}
	}
	memcpy(sc->xb, sc->moe_sum, n * H * sizeof *sc->xb);
}

/* MLP block: x += mlp(norm(x)), dense or a mixture of experts. */
static void mlp_block(struct eng_stage *s, int li, size_t n)
{
	const struct model_config *c = &s->cfg;
	const struct eng_layer *l = &s->layers[li];
	struct eng_scratch *sc = &s->sc;
	size_t H = (size_t)c->hidden;
	for (size_t i = 0; i < n; i++)
		s->ops->rmsnorm(sc->xb + i * H, sc->x + i * H, l->ffn_norm, H, c->rms_eps);
	if (l->experts)
		moe_block(s, li, n);
	else
		swiglu(s, &l->gate, &l->up, &l->down, sc->xb, sc->xb, n);
	s->ops->add(sc->x, sc->xb, n * H);
}

static void layer_forward(struct eng_stage *s, struct eng_kv *kv, int li, size_t n, int pos0)
{
	attention_block(s, kv, li, n, pos0);
	mlp_block(s, li, n);
}

static int embed(struct eng_stage *s, const int32_t *tokens, size_t n, struct exo_err *e)
{
	size_t H = (size_t)s->cfg.hidden;
	for (size_t i = 0; i < n; i++) {
		if (tokens[i] < 0 || tokens[i] >= s->cfg.vocab)
			return exo_error(e, EXO_DATAERR, "token id %d at position %zu is outside the "
					 "vocabulary of %d", tokens[i], i, s->cfg.vocab);
		eng_mat_row_f32(s, &s->embed, (size_t)tokens[i], s->sc.x + i * H);
	}
	return 0;
}

static int check_request(struct eng_stage *s, struct eng_kv *kv, const int32_t *tokens,
			 const float *hidden_in, size_t n, enum eng_output what, struct exo_err *e)
{
	if (n == 0)
		return exo_error(e, EXO_DATAERR, "no positions to feed");
	if (s->first == 0 ? !tokens : !hidden_in)
		return exo_error(e, EXO_DATAERR, "stage of layers %d:%d takes %s", s->first, s->last,
				 s->first == 0 ? "token ids" : "hidden states");
	if (eng_check_context(s, kv->len, n, e) < 0)
		return -1;
	if (what != ENG_OUT_HIDDEN && !eng_has_head(s))
		return exo_error(e, EXO_USAGE, "stage of layers %d:%d has no LM head (the model has %d "
				 "layers)", s->first, s->last, s->cfg.n_layers);
	return 0;
}

static void head_output(struct eng_stage *s, size_t n, enum eng_output what, float *out)
{
	size_t H = (size_t)s->cfg.hidden;
	float *x = s->sc.x;
	if (what == ENG_OUT_LAST_LOGITS) {
		x += (n - 1) * H;
		n = 1;
	}
	for (size_t i = 0; i < n; i++)
		s->ops->rmsnorm(x + i * H, x + i * H, s->final_norm, H, s->cfg.rms_eps);
	if (what == ENG_OUT_NORMED)
		memcpy(out, x, n * H * sizeof *out);
	else
		eng_matmul(s, &s->head, x, out, n);
}

static int forward_here(struct eng_stage *s, struct eng_kv *kv, const int32_t *tokens,
			const float *hidden_in, size_t n, enum eng_output what, float *out,
			struct exo_err *e)
{
	if (check_request(s, kv, tokens, hidden_in, n, what, e) < 0 || grow_scratch(s, n, e) < 0)
		return -1;
	size_t H = (size_t)s->cfg.hidden;
	if (s->first == 0) {
		if (embed(s, tokens, n, e) < 0)
			return -1;
	} else {
		memcpy(s->sc.x, hidden_in, n * H * sizeof *s->sc.x);
	}
	int pos0 = kv->len;
	for (int li = 0; li < s->last - s->first; li++) {
		layer_forward(s, kv, li, n, pos0);
		if (s->hook)
			s->hook(s->hook_arg, s->first + li, s->sc.x, n, H);
	}
	kv->len += (int)n;
	if (what == ENG_OUT_HIDDEN)
		memcpy(out, s->sc.x, n * H * sizeof *out);
	else
		head_output(s, n, what, out);
	return 0;
}

struct forward_job {
	struct eng_stage *s;
	struct eng_kv *kv;
	const int32_t *tokens;
	const float *hidden_in;
	size_t n;
	enum eng_output what;
	float *out;
	struct exo_err *e;
	int rc;
};

static void forward_job_run(void *arg)
{
	struct forward_job *j = arg;
	j->rc = forward_here(j->s, j->kv, j->tokens, j->hidden_in, j->n, j->what, j->out, j->e);
}

int eng_forward(struct eng_stage *s, struct eng_kv *kv, const int32_t *tokens,
		const float *hidden_in, size_t n, enum eng_output what, float *out,
		struct exo_err *e)
{
	if (!s->runner)
		return forward_here(s, kv, tokens, hidden_in, n, what, out, e);
	struct forward_job j = {s, kv, tokens, hidden_in, n, what, out, e, -1};
	eng_runner_call(s->runner, forward_job_run, &j);
	return j.rc;
}
