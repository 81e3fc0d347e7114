/* Run-time choice of the kernel variant from the CPU's features. */
#include "kernels/kern.h"
#include "util/log.h"

#include <stdlib.h>
#include <string.h>

/* Optimised variants, defined in their own files compiled for their ISA. */
extern const struct kern_ops kern_avx2;
extern const struct kern_ops kern_avx512;
int kern_avx2_usable(void);
int kern_avx512_usable(void);

const struct kern_ops *const *kern_variants(void)
{
	static const struct kern_ops *list[4];
	if (!list[0]) {
		size_t n = 0;
		list[n++] = &kern_ref;
		if (kern_avx2.name && kern_avx2_usable())
			list[n++] = &kern_avx2;
		if (kern_avx512.name && kern_avx512_usable())
			list[n++] = &kern_avx512;
		list[n] = NULL;
	}
	return list;
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
