/* The compatibility matrix as data: CPU architectures and the GPU series
 * tables of ../shared/COMPAT.md ("Hardware compatibility (exo hardware
 * guide)"), each row citing its table, and the verdict each detected device
 * gets from them.  exo-validate and exo-partition read the same verdicts. */
#include "hardware/hardware.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GiB (1024ull * 1024 * 1024)

struct arch_row {
	const char *names;      /* '|'-separated uname machine names */
	enum hw_support support;
	const char *reason;
};

static const struct arch_row arch_rows[] = {
	/* COMPAT.md, CPU Architectures: x86_64 (Intel/AMD), Full */
	{"x86_64|amd64", HW_FULL, "primary development platform"},
	/* COMPAT.md, CPU Architectures: aarch64 (ARM64), Full */
	{"aarch64|arm64", HW_FULL, "including Apple Silicon, ARM servers"},
	/* COMPAT.md, CPU Architectures: armv7l (32-bit ARM), Not Supported */
	{"armv7l|armv6l|armv8l|arm", HW_NONE, "32-bit ARM: insufficient memory addressing"},
	/* COMPAT.md, CPU Architectures: RISC-V, Experimental */
	{"riscv64", HW_EXPERIMENTAL, "limited testing, CPU-only"},
};

struct gpu_row {
	const char *vendor;     /* as in the record: nvidia, amd, intel, apple */
	const char *series;
	const char *match;      /* '|'-separated "name:SUBSTRING" or "gfx:PREFIX" */
	enum hw_support support;
	unsigned min_gib;       /* memory minimum; 0: shared or unified memory */
	int rating;
	const char *note;
};

/* First match wins, so the more specific rows come first. */
static const struct gpu_row gpu_rows[] = {
	/* COMPAT.md, NVIDIA GPUs: RTX 40 Series */
	{"nvidia", "RTX 40 Series", "name:RTX 40", HW_FULL, 8, 5, "optimal performance, Ada Lovelace"},
	/* COMPAT.md, NVIDIA GPUs: RTX 30 Series */
	{"nvidia", "RTX 30 Series", "name:RTX 30", HW_FULL, 8, 5, "excellent performance, Ampere"},
	/* COMPAT.md, NVIDIA GPUs: RTX 20 Series */
	{"nvidia", "RTX 20 Series", "name:RTX 20", HW_FULL, 6, 4, "good performance, Turing"},
	/* COMPAT.md, NVIDIA GPUs: GTX 16 Series */
	{"nvidia", "GTX 16 Series", "name:GTX 16", HW_LIMITED, 4, 3, "no RT cores, limited FP16"},
	/* COMPAT.md, NVIDIA GPUs: GTX 10 Series */
	{"nvidia", "GTX 10 Series", "name:GTX 10", HW_LIMITED, 4, 2, "older architecture, Pascal"},
	/* COMPAT.md, NVIDIA GPUs: Tesla/Quadro */
	{"nvidia", "Tesla/Quadro", "name:Tesla|name:Quadro|name:RTX A", HW_FULL, 8, 5, "professional cards"},
	/* COMPAT.md, NVIDIA GPUs: GTX 900 Series */
	{"nvidia", "GTX 900 Series", "name:GTX 9", HW_BASIC, 2, 1, "minimal support, Maxwell"},
	/* COMPAT.md, AMD GPUs: Instinct MI Series (gfx908 MI100, gfx90a MI200, gfx94x MI300) */
	{"amd", "Instinct MI Series", "name:Instinct|gfx:gfx908|gfx:gfx90a|gfx:gfx94|gfx:gfx95", HW_FULL, 16, 5, "data center cards, optimal"},
	/* COMPAT.md, AMD GPUs: RX 7000 Series (RDNA 3 is gfx11) */
	{"amd", "RX 7000 Series", "gfx:gfx11", HW_FULL, 8, 5, "RDNA 3, excellent performance"},
	/* COMPAT.md, AMD GPUs: RX 6000 Series (RDNA 2 is gfx103x) */
	{"amd", "RX 6000 Series", "gfx:gfx103", HW_FULL, 8, 4, "RDNA 2, good performance"},
	/* COMPAT.md, AMD GPUs: RX 5000 Series (RDNA 1 is gfx101x) */
	{"amd", "RX 5000 Series", "gfx:gfx101", HW_LIMITED, 4, 3, "RDNA 1, limited FP16"},
	/* COMPAT.md, AMD GPUs: Vega Series (GCN 5 is gfx90x) */
	{"amd", "Vega Series", "gfx:gfx90", HW_LIMITED, 4, 2, "GCN 5, older architecture"},
	/* COMPAT.md, AMD GPUs: Polaris Series (GCN 4 is gfx80x) */
	{"amd", "Polaris Series", "gfx:gfx80", HW_BASIC, 4, 1, "GCN 4, minimal support"},
	/* COMPAT.md, Intel GPUs: Data Center GPU */
	{"intel", "Data Center GPU", "name:Data Center|name:Flex", HW_FULL, 16, 5, "Ponte Vecchio, Flex series"},
	/* COMPAT.md, Intel GPUs: Arc A-Series */
	{"intel", "Arc A-Series", "name:Arc A", HW_FULL, 8, 4, "Xe-HPG, good performance"},
	/* COMPAT.md, Intel GPUs: Iris Xe MAX */
	{"intel", "Iris Xe MAX", "name:Iris Xe MAX", HW_LIMITED, 4, 3, "discrete Xe, limited memory"},
	/* COMPAT.md, Intel GPUs: Iris Xe (iGPU) */
	{"intel", "Iris Xe (iGPU)", "name:Iris Xe", HW_LIMITED, 0, 2, "integrated graphics"},
	/* COMPAT.md, Intel GPUs: UHD Graphics */
	{"intel", "UHD Graphics", "name:UHD", HW_BASIC, 0, 1, "basic compute support"},
	/* COMPAT.md, Apple Silicon (MLX): M3 Series */
	{"apple", "M3 Series", "name:Apple M3", HW_FULL, 0, 5, "latest architecture, optimal"},
	/* COMPAT.md, Apple Silicon (MLX): M2 Series */
	{"apple", "M2 Series", "name:Apple M2", HW_FULL, 0, 5, "excellent performance"},
	/* COMPAT.md, Apple Silicon (MLX): M1 Series */
	{"apple", "M1 Series", "name:Apple M1", HW_FULL, 0, 4, "good performance, mature"},
};

/* COMPAT.md, CUDA requirements: NVIDIA Driver 525.60.13+ (for CUDA 12.x). */
static const int cuda12_driver[3] = {525, 60, 13};

const char *hw_support_name(enum hw_support s)
{
	static const char *const n[] = {"unsupported", "experimental", "basic", "limited", "full"};
	return n[s];
}

static int in_list(const char *list, const char *word)
{
	size_t n = strlen(word);
	for (const char *p = list; p; p = strchr(p, '|'), p = p ? p + 1 : NULL)
		if (strncmp(p, word, n) == 0 && (p[n] == '|' || p[n] == '\0'))
			return 1;
	return 0;
}

void hw_arch_verdict(const char *arch, struct hw_verdict *v)
{
	for (size_t i = 0; i < sizeof arch_rows / sizeof arch_rows[0]; i++) {
		if (in_list(arch_rows[i].names, arch)) {
			v->support = arch_rows[i].support;
			snprintf(v->reason, sizeof v->reason, "%s", arch_rows[i].reason);
			v->rating = 0;
			return;
		}
	}
	v->support = HW_NONE;
	v->rating = 0;
	snprintf(v->reason, sizeof v->reason, "%s is not in the architecture table", arch);
}

/* Does one "name:X" or "gfx:X" alternative of m match? */
static int row_matches(const char *m, const char *name, const char *gfx)
{
	char alt[64];
	while (*m) {
		size_t n = strcspn(m, "|");
		snprintf(alt, sizeof alt, "%.*s", (int)n, m);
		if (strncmp(alt, "name:", 5) == 0 && strstr(name, alt + 5))
			return 1;
		if (strncmp(alt, "gfx:", 4) == 0 && strncmp(gfx, alt + 4, strlen(alt + 4)) == 0)
			return 1;
		m += n + (m[n] == '|');
	}
	return 0;
}

static const struct gpu_row *find_row(const char *vendor, const char *name, const char *gfx)
{
	for (size_t i = 0; i < sizeof gpu_rows / sizeof gpu_rows[0]; i++)
		if (strcmp(gpu_rows[i].vendor, vendor) == 0 && row_matches(gpu_rows[i].match, name, gfx))
			return &gpu_rows[i];
	return NULL;
}

static const char *str(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "";
}

/* "gfx1100" -> 11, "gfx90a" -> 9, "" -> 0. */
static int gfx_major(const char *gfx)
{
	if (strncmp(gfx, "gfx", 3) != 0 || strlen(gfx) < 6)
		return 0;
	return strlen(gfx) >= 7 ? (gfx[3] - '0') * 10 + (gfx[4] - '0') : gfx[3] - '0';
}

/* Devices the series tables do not name: by compute capability or gfx
 * generation and memory (COMPAT.md, "Other facts the tools rely on"). */
static void unlisted(const char *vendor, const json_t *gpu, uint64_t mem, struct hw_verdict *v)
{
	const char *cc = str(gpu, "compute_capability"), *gfx = str(gpu, "gfx_target");
	double ccv = atof(cc);
	v->support = HW_NONE;
	v->rating = 0;
	if (strcmp(vendor, "nvidia") == 0) {
		v->support = ccv >= 7.0 ? HW_FULL : ccv >= 6.0 ? HW_LIMITED : HW_NONE;
		v->rating = ccv >= 8.0 && mem >= 16 * GiB ? 5 : ccv >= 7.0 ? 4 : ccv >= 6.0 ? 2 : 0;
		snprintf(v->reason, sizeof v->reason, "not in the series table; by compute capability %s%s and %llu GiB memory",
			 cc[0] ? cc : "unknown", ccv && ccv < 6.0 ? " (6.0 or newer needed)" : "",
			 (unsigned long long)(mem / GiB));
	} else if (strcmp(vendor, "amd") == 0) {
		int major = gfx_major(gfx);
		v->support = major >= 9 ? HW_LIMITED : major == 8 ? HW_BASIC : HW_NONE;
		v->rating = major >= 9 ? 2 : major == 8 ? 1 : 0;
		snprintf(v->reason, sizeof v->reason, "not in the series table; by %s%s",
			 gfx[0] ? gfx : "unknown gfx target", major < 8 ? " (GCN 4 / Polaris or newer needed for ROCm)" : "");
	} else if (strcmp(vendor, "intel") == 0) {
		int discrete = mem >= 8 * GiB;
		v->support = discrete ? HW_FULL : HW_BASIC;
		v->rating = discrete ? 4 : 1;
		snprintf(v->reason, sizeof v->reason, "not in the series table; by %s",
			 discrete ? "its dedicated memory" : "shared memory, basic compute");
	} else if (strcmp(vendor, "apple") == 0 && strstr(str(gpu, "name"), "Apple M")) {
		v->support = HW_FULL;
		v->rating = 5;
		snprintf(v->reason, sizeof v->reason, "newer than the series table (M1 or newer)");
	} else {
		snprintf(v->reason, sizeof v->reason, "no MLX, CUDA, ROCm or Intel GPU support");
	}
}

static int older_driver(const char *ver, const int want[3])
{
	int got[3] = {0, 0, 0};
	if (sscanf(ver, "%d.%d.%d", &got[0], &got[1], &got[2]) < 1)
		return 0;
	for (int i = 0; i < 3; i++)
		if (got[i] != want[i])
			return got[i] < want[i];
	return 0;
}

static void append(struct hw_verdict *v, const char *more)
{
	size_t n = strlen(v->reason);
	snprintf(v->reason + n, sizeof v->reason - n, "; %s", more);
}

/* Requirements that cap a table's verdict: memory minimum, CUDA driver. */
static void caps(const char *vendor, const json_t *gpu, uint64_t mem, unsigned min_gib, struct hw_verdict *v)
{
	char buf[128];
	if (min_gib && mem && mem < (uint64_t)min_gib * GiB * 9 / 10 && v->support > HW_BASIC) {
		v->support = HW_BASIC;
		snprintf(buf, sizeof buf, "%llu MiB memory is below the %u GB minimum", (unsigned long long)(mem >> 20), min_gib);
		append(v, buf);
	}
	const char *drv = str(gpu, "driver_version");
	if (strcmp(vendor, "nvidia") == 0 && drv[0] && older_driver(drv, cuda12_driver) && v->support > HW_LIMITED) {
		v->support = HW_LIMITED;
		snprintf(buf, sizeof buf, "driver %s is older than 525.60.13 (CUDA 12)", drv);
		append(v, buf);
	}
}

void hw_gpu_verdict(json_t *gpu)
{
	const char *vendor = str(gpu, "vendor");
	uint64_t mem = (uint64_t)json_integer_value(json_object_get(gpu, "memory_total"));
	const struct gpu_row *r = find_row(vendor, str(gpu, "name"), str(gpu, "gfx_target"));
	struct hw_verdict v;
	if (r) {
		v.support = r->support;
		v.rating = r->rating;
		snprintf(v.reason, sizeof v.reason, "%s: %s", r->series, r->note);
	} else {
		unlisted(vendor, gpu, mem, &v);
	}
	caps(vendor, gpu, mem, r ? r->min_gib : 0, &v);
	json_object_set_new(gpu, "support", json_string(hw_support_name(v.support)));
	json_object_set_new(gpu, "rating", json_integer(v.rating));
	json_object_set_new(gpu, "reason", json_string(v.reason));
}
