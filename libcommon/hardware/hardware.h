/* Hardware inventory: what this machine can contribute to a cluster, as one
 * `node` record (a jansson object, see records/record.h and exo-detect(1)).
 *
 * Everything is read from /proc and /sys under a root directory, so a fixture
 * tree (--sysroot) describes a whole machine; the few live-only sources (cpuid,
 * getauxval, getifaddrs, statvfs, the NVIDIA driver libraries) are used only
 * when the root is the live system.  Missing hardware and missing drivers are
 * not errors: the detectors add a line to the record's "notes" and go on.
 * Sizes are bytes, rates bytes/s or bit/s as the field name says, times s. */
#ifndef EXO_HARDWARE_HARDWARE_H
#define EXO_HARDWARE_HARDWARE_H
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include "config/config.h"
#include "util/err.h"

struct hw_opts {
	const char *name;       /* node name; NULL: the root's hostname */
	const char *advertise;  /* address other stages reach this node at, or NULL */
	const char *sysroot;    /* read /proc and /sys under this dir; NULL: live */
	/* hardware.* and storage.modelCache.path decide the preferred accelerator,
	 * the GPUs used, their usable memory and the cache probed; NULL: the
	 * defaults of conf_init() */
	const struct exo_config *conf;
};

/* Build the node record.  NULL with e filled (EXO_NOINPUT) when the sysroot
 * is not a readable directory; hardware that is absent is never an error.
 * The caller owns the result (json_decref). */
json_t *hw_node_new(const struct hw_opts *o, struct exo_err *e);

/* ---- internals shared by the detectors (one file each) ---- */

struct hw_ctx {
	const char *root;   /* "" on the live system, else the sysroot */
	int live;           /* 1: cpuid, dlopen, statvfs, getifaddrs describe this root */
	json_t *notes;      /* array of strings: why something is absent */
	const struct exo_config *conf;   /* never NULL */
};

/* Read root+path into buf (NUL-terminated, trailing newline removed).
 * Returns its length, or -1 (buf set to ""). */
int hw_read(const struct hw_ctx *c, char *buf, size_t n, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Parse an unsigned integer file (decimal or 0x hex); 0 or -1. */
int hw_read_u64(const struct hw_ctx *c, uint64_t *v, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Whole file under the root, malloc'd; NULL when absent. */
char *hw_slurp(const struct hw_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Does root+path exist? */
int hw_exists(const struct hw_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Basename of the symlink root+path (e.g. a device's driver), or -1. */
int hw_link_name(const struct hw_ctx *c, char *buf, size_t n, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Sorted entries of root+dir whose names start with prefix; free with hw_names_free. */
char **hw_list(const struct hw_ctx *c, const char *dir, const char *prefix, size_t *count);
void hw_names_free(char **names, size_t count);
/* Append a formatted note. */
void hw_note(struct hw_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Value of "key: value", "key value" or (key ending in =) "KEY=value" in a text of lines
 * copied to buf; -1 when absent. */
int hw_field(const char *text, const char *key, char *buf, size_t n);
/* "0-3,8,10-11" as a JSON array of integers; NULL when malformed. */
json_t *hw_cpulist(const char *list);
/* Set key to an integer only when have is true. */
void hw_set_u64(json_t *obj, const char *key, int have, uint64_t v);

/* DRM cards (gpu_pci.c): names "cardN" under /sys/class/drm whose PCI vendor
 * is vendor (0x1002, 0x8086, ...); free with hw_names_free. */
char **hw_drm_cards(const struct hw_ctx *c, unsigned vendor, size_t *count);
/* PCI facts of a card's device dir: pci_id, pci_bus_id, driver, pcie_gen and
 * pcie_width (the link's maximum, as idle GPUs downtrain), into gpu. */
void hw_pci_fill(const struct hw_ctx *c, const char *card, json_t *gpu);
uint32_t hw_pci_device(const struct hw_ctx *c, const char *card);

/* Detectors: each adds its part to the node. */
void hw_cpu_detect(struct hw_ctx *c, json_t *node);
void hw_memory_detect(struct hw_ctx *c, json_t *node);
void hw_gpu_nvidia_detect(struct hw_ctx *c, json_t *gpus);
void hw_gpu_amd_detect(struct hw_ctx *c, json_t *gpus);
void hw_gpu_intel_detect(struct hw_ctx *c, json_t *gpus);
void hw_gpu_apple_detect(struct hw_ctx *c, json_t *gpus);
void hw_storage_detect(struct hw_ctx *c, json_t *node);
void hw_network_detect(struct hw_ctx *c, json_t *node);

/* CPU features (cpuid.c): the SIMD features the kernels care about, from
 * cpuid with the OS's xgetbv state (x86) or hwcaps (aarch64) when live, or
 * from /proc/cpuinfo's flags otherwise.  Returns an array of names. */
json_t *hw_features_live(void);
json_t *hw_features_from_cpuinfo(const char *cpuinfo);
/* Kernel-facing name list of the table, for tests. */
size_t hw_feature_count(void);
const char *hw_feature_name(size_t i);

/* Compatibility verdicts (compat.c; data from ../shared/COMPAT.md). */
enum hw_support { HW_NONE, HW_EXPERIMENTAL, HW_BASIC, HW_LIMITED, HW_FULL };
struct hw_verdict {
	enum hw_support support;
	int rating;             /* 1..5, 0 when not supported */
	char reason[256];
};
const char *hw_support_name(enum hw_support s);
void hw_arch_verdict(const char *arch, struct hw_verdict *v);
/* gpu: a GPU object with vendor, name, memory_total and the vendor's fields
 * (compute_capability, driver_version, gfx_target, ...).  Adds support,
 * rating and reason to it. */
void hw_gpu_verdict(json_t *gpu);
/* "mlx", "cuda", "rocm", "intel" or "cpu": the first of the default detection
 * order that a supported GPU in gpus provides (GPUs with "used": false skipped). */
const char *hw_preferred_accelerator(const json_t *gpus);

/* The configuration over the GPUs (select.c), after the verdicts: gives each
 * GPU device_ordinal (its number within its backend, what cuda.devices and
 * rocm.devices name), used and memory_usable (memory_total * memoryFraction,
 * 0 when not used), and sets the node's preferred_accelerator and
 * memory_fraction.  Why a GPU is left out, or the preferred accelerator
 * could not be had, goes to the notes. */
void hw_select(struct hw_ctx *c, json_t *gpus, json_t *node);
#endif
