/* CPU features the kernels care about, in one table: for each, its name in
 * the node record (the Linux /proc/cpuinfo spelling), the cpuid leaf and bit
 * with the XSAVE state the OS must enable (x86), or the hwcap bit (aarch64).
 * Live detection asks the CPU and the OS; a sysroot has only cpuinfo text. */
#include "hardware/hardware.h"

#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#if defined(__aarch64__)
#include <sys/auxv.h>
#endif

enum reg { EAX, EBX, ECX, EDX };
enum { HWCAP1 = 1, HWCAP2 = 2 };

/* XCR0 state the OS must save for the feature to be usable. */
#define XS_YMM 0x6u        /* SSE + AVX state */
#define XS_ZMM 0xe6u       /* + opmask, ZMM_Hi256, Hi16_ZMM */
#define XS_AMX 0x60000u    /* XTILECFG + XTILEDATA */

struct feature {
	const char *name;       /* record and cpuinfo name */
	const char *alias;      /* cpuinfo name when it differs, else NULL */
	int x86;                /* 1: x86 row, 0: aarch64 row */
	unsigned leaf, sub;     /* x86: cpuid leaf/subleaf; arm: HWCAP1/HWCAP2 */
	enum reg reg;
	unsigned bit;
	unsigned xstate;
};

/* Intel SDM vol. 2A, CPUID; Linux arch/x86/include/asm/cpufeatures.h;
 * arch/arm64/include/uapi/asm/hwcap.h (REFERENCE.md 2.6). */
static const struct feature features[] = {
	{"sse4_2", NULL, 1, 1, 0, ECX, 20, 0},
	{"avx", NULL, 1, 1, 0, ECX, 28, XS_YMM},
	{"fma", NULL, 1, 1, 0, ECX, 12, XS_YMM},
	{"f16c", NULL, 1, 1, 0, ECX, 29, XS_YMM},
	{"avx2", NULL, 1, 7, 0, EBX, 5, XS_YMM},
	{"avx512f", NULL, 1, 7, 0, EBX, 16, XS_ZMM},
	{"avx512dq", NULL, 1, 7, 0, EBX, 17, XS_ZMM},
	{"avx512bw", NULL, 1, 7, 0, EBX, 30, XS_ZMM},
	{"avx512vl", NULL, 1, 7, 0, EBX, 31, XS_ZMM},
	{"avx512_vnni", NULL, 1, 7, 0, ECX, 11, XS_ZMM},
	{"avx512_bf16", NULL, 1, 7, 1, EAX, 5, XS_ZMM},
	{"avx512_fp16", NULL, 1, 7, 0, EDX, 23, XS_ZMM},
	{"avx_vnni", NULL, 1, 7, 1, EAX, 4, XS_YMM},
	{"amx_tile", NULL, 1, 7, 0, EDX, 24, XS_AMX},
	{"amx_bf16", NULL, 1, 7, 0, EDX, 22, XS_AMX},
	{"amx_int8", NULL, 1, 7, 0, EDX, 25, XS_AMX},
	{"neon", "asimd", 0, HWCAP1, 0, 0, 1, 0},
	{"fphp", NULL, 0, HWCAP1, 0, 0, 9, 0},
	{"asimdhp", NULL, 0, HWCAP1, 0, 0, 10, 0},
	{"dotprod", "asimddp", 0, HWCAP1, 0, 0, 20, 0},
	{"sve", NULL, 0, HWCAP1, 0, 0, 22, 0},
	{"sve2", NULL, 0, HWCAP2, 0, 0, 1, 0},
	{"i8mm", NULL, 0, HWCAP2, 0, 0, 13, 0},
	{"bf16", NULL, 0, HWCAP2, 0, 0, 14, 0},
	{"sme", NULL, 0, HWCAP2, 0, 0, 23, 0},
};
#define NFEATURES (sizeof features / sizeof features[0])

size_t hw_feature_count(void)
{
	return NFEATURES;
}

const char *hw_feature_name(size_t i)
{
	return i < NFEATURES ? features[i].name : NULL;
}

#if defined(__x86_64__) || defined(__i386__)
static unsigned os_xstate(void)
{
	unsigned a, b, c, d;
	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27)))
		return 0;               /* no OSXSAVE: the OS saves no extended state */
	unsigned lo, hi;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return lo;
}

static int has_feature(const struct feature *f, unsigned xcr0)
{
	unsigned r[4];
	if ((unsigned)__get_cpuid_max(0, NULL) < f->leaf)
		return 0;
	__cpuid_count(f->leaf, f->sub, r[EAX], r[EBX], r[ECX], r[EDX]);
	return (r[f->reg] >> f->bit & 1) && (xcr0 & f->xstate) == f->xstate;
}

json_t *hw_features_live(void)
{
	json_t *a = json_array();
	unsigned xcr0 = os_xstate();
	for (size_t i = 0; i < NFEATURES; i++)
		if (features[i].x86 && has_feature(&features[i], xcr0))
			json_array_append_new(a, json_string(features[i].name));
	return a;
}
#elif defined(__aarch64__)
json_t *hw_features_live(void)
{
	json_t *a = json_array();
	unsigned long cap[3] = {0, getauxval(AT_HWCAP), getauxval(AT_HWCAP2)};
	for (size_t i = 0; i < NFEATURES; i++)
		if (!features[i].x86 && (cap[features[i].leaf] >> features[i].bit & 1))
			json_array_append_new(a, json_string(features[i].name));
	return a;
}
#else
json_t *hw_features_live(void)
{
	return NULL;    /* no probe here: the caller falls back to cpuinfo */
}
#endif

/* Is word one of the blank-separated words of line? */
static int has_word(const char *line, const char *word)
{
	size_t n = strlen(word);
	for (const char *p = line; (p = strstr(p, word)); p += n) {
		int start = p == line || p[-1] == ' ' || p[-1] == '\t';
		int end = p[n] == '\0' || p[n] == ' ' || p[n] == '\n';
		if (start && end)
			return 1;
	}
	return 0;
}

json_t *hw_features_from_cpuinfo(const char *cpuinfo)
{
	char flags[8192];
	json_t *a = json_array();
	if (hw_field(cpuinfo, "flags", flags, sizeof flags) < 0 &&
	    hw_field(cpuinfo, "Features", flags, sizeof flags) < 0)
		return a;
	for (size_t i = 0; i < NFEATURES; i++) {
		const char *w = features[i].alias ? features[i].alias : features[i].name;
		if (has_word(flags, w))
			json_array_append_new(a, json_string(features[i].name));
	}
	return a;
}
