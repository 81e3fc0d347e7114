/* Weight matrices in the layout decode reads fastest: a copy in the stage's
 * arena, on transparent huge pages where the kernel allows (which saves a
 * TLB miss per 4 KB of a stream that reads every weight once per token),
 * split into panels of ENG_PANEL_COLS columns when wider, each panel [rows, width]
 * row-major.  A gemv then keeps its slice of x in L1 however wide the
 * matrix (measured: a BF16 row stream at 8192 columns runs at half the speed
 * of one at 2048).  Kernels see every panel as a plain matrix, in the
 * standard layout or, for Q8_0/Q4_0 where the kernels have one, in their
 * packed layout (16 rows interleaved). */
#include "engine/internal.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define HUGE_PAGE ((size_t)2 << 20)
#define ARENA_CHUNK ((size_t)512 << 20)   /* address space; resident as filled */

size_t eng_mat_panels(const struct eng_mat *m)
{
	return (m->cols + m->panel_cols - 1) / m->panel_cols;
}

const void *eng_mat_panel(const struct eng_mat *m, size_t p, size_t *width)
{
	size_t c0 = p * m->panel_cols;
	*width = m->cols - c0 < m->panel_cols ? m->cols - c0 : m->panel_cols;
	return (const char *)m->data + p * m->rows * kern_row_bytes(m->dtype, m->panel_cols);
}

void eng_mat_row_f32(const struct eng_stage *s, const struct eng_mat *m, size_t r, float *out)
{
	for (size_t p = 0, n = eng_mat_panels(m); p < n; p++) {
		size_t width;
		const char *panel = eng_mat_panel(m, p, &width);
		if (m->packed)
			s->ops->packed_row_f32[m->dtype](panel, width, r, out + p * m->panel_cols);
		else
			s->ops->to_f32[m->dtype](panel + r * kern_row_bytes(m->dtype, width),
						 out + p * m->panel_cols, width);
	}
}

/* Anonymous memory of len bytes (a multiple of HUGE_PAGE) starting on a
 * huge-page boundary, so that the kernel can back it with huge pages (or,
 * small_pages, asked not to: hardware.memory.hugepages false); address
 * space only until touched. */
static char *huge_map(size_t len, bool small_pages)
{
	void *p = mmap(NULL, len + HUGE_PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	char *a = (char *)(((uintptr_t)p + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1));
	if (a > (char *)p)
		munmap(p, (size_t)(a - (char *)p));
	if ((char *)p + HUGE_PAGE > a)
		munmap(a + len, (size_t)((char *)p + HUGE_PAGE - a));
	madvise(a, len, small_pages ? MADV_NOHUGEPAGE : MADV_HUGEPAGE);
	return a;
}

static struct eng_arena_chunk *new_chunk(struct eng_arena *a, size_t need)
{
	size_t len = need > ARENA_CHUNK ? need : ARENA_CHUNK;
	len = (len + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
	char *base = huge_map(len, a->small_pages);
	if (!base && len > need) {   /* strict overcommit: no spare address space */
		len = (need + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
		base = huge_map(len, a->small_pages);
	}
	struct eng_arena_chunk *grown = base ? realloc(a->chunks, (a->n + 1) * sizeof *grown) : NULL;
	if (!grown) {
		if (base)
			munmap(base, len);
		return NULL;
	}
	a->chunks = grown;
	a->chunks[a->n] = (struct eng_arena_chunk){.base = base, .len = len};
	return &a->chunks[a->n++];
}

/* Memory for a matrix: the next bytes (64-byte aligned) of the stage's
 * arena, where matrices follow each other in huge-page chunks and so share
 * huge pages (a mapping per matrix left up to 2 MiB resident in its last
 * huge page: 15% of a 1B Q4_0 model). */
static void *weights_alloc(struct eng_stage *s, size_t bytes)
{
	struct eng_arena *a = &s->arena;
	size_t need = (bytes + 63) & ~(size_t)63;
	struct eng_arena_chunk *c = a->n ? &a->chunks[a->n - 1] : NULL;
	if (!c || c->len - c->used < need)
		c = new_chunk(a, need);
	if (!c)
		return NULL;
	void *p = c->base + c->used;
	c->used += need;
	return p;
}

void eng_arena_free(struct eng_arena *a)
{
	for (size_t i = 0; i < a->n; i++)
		munmap(a->chunks[i].base, a->chunks[i].len);
	free(a->chunks);
	a->chunks = NULL;
	a->n = 0;
}

/* Drop the mapped pages wholly inside [p, p+len) from this process once a
 * copy exists, so a stage's resident memory is its copy, not that plus the
 * source pages it read. */
static void release_mapped(const void *p, size_t len)
{
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t a = ((uintptr_t)p + page - 1) & ~(page - 1), b = ((uintptr_t)p + len) & ~(page - 1);
	if (b > a)
		madvise((void *)a, b - a, MADV_DONTNEED);
}

/* One row piece of width values from src (type from) into dst (type to). */
static void copy_piece(const struct eng_stage *s, int from, const char *src, int to, char *dst,
		       size_t width, float *row)
{
	if (from == to) {
		memcpy(dst, src, kern_row_bytes(to, width));
		return;
	}
	s->ops->to_f32[from](src, row, width);
	s->ops->from_f32[to](row, dst, width);
}

/* Panel rows [r0, r0 + n) from the source m into dst in the standard layout. */
static void copy_rows(const struct eng_stage *s, const struct eng_mat *m, int to, size_t c0,
		      size_t width, size_t r0, size_t n, char *dst, float *row)
{
	size_t prb = kern_row_bytes(to, width);
	for (size_t r = r0; r < r0 + n; r++)
		copy_piece(s, m->dtype, (const char *)m->data + r * m->row_bytes + kern_row_bytes(m->dtype, c0),
			   to, dst + (r - r0) * prb, width, row);
}

/* Rows [r0, r0 + n) of panel p of out from m: the standard layout, or the
 * kernels' packed one made through group (n is then KERN_PACK_ROWS). */
static void place_rows(const struct eng_stage *s, const struct eng_mat *m, const struct eng_mat *out,
		       size_t p, size_t r0, size_t n, float *row, char *group)
{
	size_t width, c0 = p * out->panel_cols;
	char *pd = (char *)eng_mat_panel(out, p, &width);
	size_t prb = kern_row_bytes(out->dtype, width);
	if (!out->packed) {
		copy_rows(s, m, out->dtype, c0, width, r0, n, pd + r0 * prb, row);
		return;
	}
	copy_rows(s, m, out->dtype, c0, width, r0, n, group, row);
	s->ops->pack[out->dtype](group, pd + r0 * prb, n, width);
}

/* Every panel, the stage's threads sharing out groups of 16 rows: the first
 * touch of fresh memory (the kernel zeroing it) is most of the cost, and on
 * a virtual machine well under 1 GB/s per core. */
static int place_all(const struct eng_stage *s, const struct eng_mat *m, const struct eng_mat *out)
{
	size_t G = KERN_PACK_ROWS, groups = (m->rows + G - 1) / G, np = eng_mat_panels(out);
	int failed = 0;
#pragma omp parallel num_threads(s->threads) reduction(| : failed)
	{
		float *row = malloc(out->panel_cols * sizeof *row);
		char *group = malloc(G * kern_row_bytes(out->dtype, out->panel_cols));
		failed = !row || !group;
#pragma omp for schedule(static) collapse(2)
		for (size_t p = 0; p < np; p++)
			for (size_t g = 0; g < groups; g++)
				if (row && group)
					place_rows(s, m, out, p, g * G, m->rows - g * G < G ? m->rows - g * G : G,
						   row, group);
		free(row);
		free(group);
	}
	return failed ? -1 : 0;
}

int eng_mat_place(struct eng_stage *s, struct eng_mat *m, int to, const char *name, struct exo_err *e)
{
	size_t panel = m->cols > s->panel_cols ? s->panel_cols : m->cols;
	while (panel < m->cols && !kern_row_bytes(to, panel))
		panel++;   /* whole blocks of the type (MLX's groups of up to 128) */
	if (panel < m->cols && panel > s->panel_cols)
		s->panel_cols = panel;   /* the prefill's panel scratch holds the widest */
	size_t full_rb = kern_row_bytes(to, m->cols);
	bool packed = s->ops->pack[to] && m->rows % KERN_PACK_ROWS == 0;
	char *dst = weights_alloc(s, size_mul(full_rb, m->rows));
	struct eng_mat out = {.dtype = to, .data = dst, .rows = m->rows, .cols = m->cols,
			      .row_bytes = full_rb, .panel_cols = panel, .packed = packed};
	if (!dst || place_all(s, m, &out) < 0)
		return exo_error(e, EXO_SOFTWARE, "out of memory for %s as %s", name, kern_dtype_name(to));
	s->rounds_x |= packed && s->ops->packed_rounds_x[to];
	release_mapped(m->data, m->rows * m->row_bytes);
	*m = out;
	return 0;
}
