/* Run-time choice of the kernel variant from the CPU's features. */
#include "kernels/kern.h"
#include "kernels/kern_simd.h"
#include "util/log.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static const struct kern_ops *variants[4];

/* Each optimised file builds its table on first use and returns NULL where the
 * CPU lacks its instructions, so the list holds only runnable variants. */
static void build_variants(void)
{
	size_t n = 0;
	variants[n++] = &kern_ref;
	const struct kern_ops *k = kern_avx2_ops();
	if (k)
		variants[n++] = k;
	k = kern_avx512_ops();
	if (k)
		variants[n++] = k;
	variants[n] = NULL;
}

const struct kern_ops *const *kern_variants(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, build_variants);
	return variants;
}

const struct kern_ops *kern_by_name(const char *name)
{
	for (const struct kern_ops *const *v = kern_variants(); *v; v++)
		if (strcmp((*v)->name, name) == 0)
			return *v;
	return NULL;
}

const struct kern_ops *kern_select(void)
{
	static const struct kern_ops *chosen;
	if (chosen)
		return chosen;
	const struct kern_ops *const *v = kern_variants();
	const struct kern_ops *best = v[0];
	while (v[1])
		best = *++v;
	const char *want = getenv("EXO_KERNELS");
	if (want && *want) {
		const struct kern_ops *k = kern_by_name(want);
		if (k)
			best = k;
		else
			log_warn("EXO_KERNELS=%s: not compiled in or not supported by this CPU; using %s",
				 want, best->name);
	}
	log_info("kernels: %s", best->name);
	chosen = best;
	return chosen;
}
