/* Hardware module internals: sysfs text helpers, the compatibility verdicts
 * against COMPAT.md's rows, the detection order, and live CPU features
 * (cpuid / hwcaps) against the kernel's /proc/cpuinfo flags. */
#include "hardware/hardware.h"
#include "tests/tap.h"
#include "util/file.h"

#include <string.h>

static json_t *verdict(const char *vendor, const char *name, double gib, const char *key, const char *val)
{
	json_t *g = json_pack("{s:s, s:s, s:I}", "vendor", vendor, "name", name,
			      "memory_total", (json_int_t)(gib * 1073741824.0));
	if (key)
		json_object_set_new(g, key, json_string(val));
	hw_gpu_verdict(g);
	return g;
}

static void check(json_t *g, const char *support, int rating, const char *reason_part, const char *what)
{
	const char *s = json_string_value(json_object_get(g, "support"));
	const char *r = json_string_value(json_object_get(g, "reason"));
	int rt = (int)json_integer_value(json_object_get(g, "rating"));
	if (!ok(s && strcmp(s, support) == 0 && rt == rating && r && strstr(r, reason_part), "%s", what))
		diag("got %s %d '%s'", s, rt, r);
	json_decref(g);
}

static void test_text(void)
{
	char buf[64];
	const char *info = "model\t\t: 17\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse\n";
	ok(hw_field(info, "model name", buf, sizeof buf) == 0 && strcmp(buf, "AMD EPYC") == 0, "cpuinfo field with blanks");
	ok(hw_field(info, "model", buf, sizeof buf) == 0 && strcmp(buf, "17") == 0, "shorter key is not confused with a longer one");
	ok(hw_field("simd_count 192\nsimd_per_cu 2\n", "simd_per_cu", buf, sizeof buf) == 0 && strcmp(buf, "2") == 0, "KFD key value");
	ok(hw_field("DRIVER=amdgpu\nPCI_SLOT_NAME=0000:03:00.0\n", "PCI_SLOT_NAME=", buf, sizeof buf) == 0 &&
	   strcmp(buf, "0000:03:00.0") == 0, "uevent KEY=value");
	ok(hw_field(info, "stepping", buf, sizeof buf) < 0, "absent key");
	json_t *l = hw_cpulist("0-2,8,10-11\n");
	char *s = json_dumps(l, JSON_COMPACT);
	is_str(s, "[0,1,2,8,10,11]", "cpulist ranges");
	free(s);
	json_decref(l);
	ok(hw_cpulist("3-1") == NULL, "descending range is malformed");
}

static void test_verdicts(void)
{
	check(verdict("nvidia", "NVIDIA GeForce RTX 4090", 24, "compute_capability", "8.9"), "full", 5, "RTX 40", "RTX 4090: full 5");
	check(verdict("nvidia", "NVIDIA GeForce GTX 1080", 8, "compute_capability", "6.1"), "limited", 2, "Pascal", "GTX 1080: limited 2");
	check(verdict("nvidia", "NVIDIA GeForce GTX 1660", 6, NULL, NULL), "limited", 3, "GTX 16", "GTX 1660: limited 3");
	check(verdict("nvidia", "NVIDIA GeForce GTX 980", 4, NULL, NULL), "basic", 1, "Maxwell", "GTX 980: basic 1");
	check(verdict("nvidia", "NVIDIA H100 80GB HBM3", 80, "compute_capability", "9.0"), "full", 5,
	      "not in the series table; by compute capability 9.0", "H100 by compute capability");
	check(verdict("nvidia", "NVIDIA GeForce GTX 780", 3, "compute_capability", "3.5"), "unsupported", 0,
	      "6.0 or newer needed", "Kepler unsupported");
	check(verdict("nvidia", "NVIDIA GeForce RTX 3090", 24, "driver_version", "470.82.01"), "limited", 5,
	      "older than 525.60.13", "old driver caps at limited");
	check(verdict("nvidia", "NVIDIA GeForce RTX 3050", 4, NULL, NULL), "basic", 5, "below the 8 GB minimum", "memory below minimum caps at basic");
	check(verdict("amd", "Radeon RX 7900 XTX", 24, "gfx_target", "gfx1100"), "full", 5, "RDNA 3", "RX 7900 XTX");
	check(verdict("amd", "AMD Instinct MI300X", 192, "gfx_target", "gfx942"), "full", 5, "Instinct", "MI300X");
	check(verdict("amd", "Radeon RX 6800", 16, "gfx_target", "gfx1030"), "full", 4, "RDNA 2", "RX 6800");
	check(verdict("amd", "Radeon RX 580", 8, "gfx_target", "gfx803"), "basic", 1, "Polaris", "RX 580 Polaris");
	check(verdict("amd", "Radeon R9 290", 4, "gfx_target", "gfx701"), "unsupported", 0, "GCN 4", "pre-Polaris unsupported");
	check(verdict("intel", "Arc A770", 16, NULL, NULL), "full", 4, "Arc A-Series", "Arc A770");
	check(verdict("intel", "UHD Graphics 770", 0, NULL, NULL), "basic", 1, "UHD", "UHD integrated");
	check(verdict("apple", "Apple M2 Max", 64, NULL, NULL), "full", 5, "M2", "Apple M2");
	check(verdict("apple", "Apple M4 Pro", 48, NULL, NULL), "full", 5, "newer than the series table", "Apple M4");
}

static void test_arch_and_order(void)
{
	struct hw_verdict v;
	hw_arch_verdict("x86_64", &v);
	is_str(hw_support_name(v.support), "full", "x86_64 full");
	hw_arch_verdict("armv7l", &v);
	is_str(hw_support_name(v.support), "unsupported", "armv7l unsupported");
	hw_arch_verdict("riscv64", &v);
	is_str(hw_support_name(v.support), "experimental", "riscv64 experimental");
	json_t *g = json_pack("[{s:s, s:s}, {s:s, s:s}]", "vendor", "amd", "support", "full", "vendor", "nvidia", "support", "limited");
	is_str(hw_preferred_accelerator(g), "cuda", "cuda comes before rocm in the detection order");
	json_object_set_new(json_array_get(g, 1), "support", json_string("unsupported"));
	is_str(hw_preferred_accelerator(g), "rocm", "an unsupported GPU is skipped");
	json_array_clear(g);
	is_str(hw_preferred_accelerator(g), "cpu", "no GPU: cpu");
	json_decref(g);
}

/* A node with an AMD GPU, then two NVIDIA ones, all supported. */
static json_t *two_vendors(void)
{
	json_t *node = json_object();
	json_object_set_new(node, "gpus", json_pack("[{s:s, s:s, s:I, s:s}, {s:s, s:s, s:I, s:s}, {s:s, s:s, s:I, s:s}]",
		"vendor", "amd", "backend", "rocm", "memory_total", (json_int_t)1000, "support", "full",
		"vendor", "nvidia", "backend", "cuda", "memory_total", (json_int_t)2000, "support", "full",
		"vendor", "nvidia", "backend", "cuda", "memory_total", (json_int_t)4000, "support", "full"));
	return node;
}

static const char *selected(const struct exo_config *conf, json_t **out, json_t **notes)
{
	struct hw_ctx c = {.root = "", .live = 0, .notes = json_array(), .conf = conf};
	json_t *node = two_vendors();
	hw_select(&c, json_object_get(node, "gpus"), node);
	*out = node;
	*notes = c.notes;
	return json_string_value(json_object_get(node, "preferred_accelerator"));
}

static json_int_t gpu_int(json_t *node, size_t i, const char *key)
{
	return json_integer_value(json_object_get(json_array_get(json_object_get(node, "gpus"), i), key));
}

static int gpu_used(json_t *node, size_t i)
{
	return json_is_true(json_object_get(json_array_get(json_object_get(node, "gpus"), i), "used"));
}

static void test_select(void)
{
	struct exo_config conf;
	json_t *node, *notes;
	conf_init(&conf);
	is_str(selected(&conf, &node, &notes), "cuda", "defaults: cuda before rocm");
	ok(!gpu_used(node, 0) && gpu_used(node, 1) && gpu_used(node, 2), "only the preferred family is used");
	ok(gpu_int(node, 1, "device_ordinal") == 0 && gpu_int(node, 2, "device_ordinal") == 1 &&
	   gpu_int(node, 0, "device_ordinal") == 0, "ordinals count within each backend");
	ok(gpu_int(node, 2, "memory_usable") == 3600 && gpu_int(node, 0, "memory_usable") == 0,
	   "memory_usable: 0.9 of a used GPU, 0 of the others");
	json_decref(node);
	json_decref(notes);

	conf.hardware.detection_order[0] = CONF_ROCM;
	conf.hardware.detection_order[1] = CONF_CUDA;
	conf.hardware.n_detection_order = 2;
	is_str(selected(&conf, &node, &notes), "rocm", "detectionOrder [rocm, cuda]: rocm");
	json_decref(node);
	json_decref(notes);

	conf.hardware.auto_detect = false;
	conf.hardware.preferred_accelerator = CONF_MLX;
	is_str(selected(&conf, &node, &notes), "rocm", "preferred mlx absent: by detectionOrder");
	ok(json_array_size(notes) >= 1 && strstr(json_string_value(json_array_get(notes, 0)), "preferredAccelerator mlx"),
	   "... with a note");
	json_decref(node);
	json_decref(notes);

	conf.hardware.preferred_accelerator = CONF_CUDA;
	int one = 1;
	conf.hardware.cuda.devices = (struct conf_ints){.v = &one, .n = 1};
	conf.hardware.cuda.memory_fraction = 0.5;
	is_str(selected(&conf, &node, &notes), "cuda", "preferred cuda present: cuda");
	ok(!gpu_used(node, 1) && gpu_used(node, 2) && gpu_int(node, 2, "memory_usable") == 2000,
	   "cuda.devices [1] leaves device 0 out; fraction 0.5 halves");
	json_decref(node);
	json_decref(notes);

	conf.hardware.cuda.devices = (struct conf_ints){0};
	conf_free(&conf);
}

static void test_live_features(void)
{
	size_t len;
	char *info = file_read_all("/proc/cpuinfo", &len, NULL);
	json_t *live = hw_features_live();
	if (!info || !live) {
		skip("no cpuid/hwcap probe on this architecture");
		free(info);
		json_decref(live);
		return;
	}
	json_t *text = hw_features_from_cpuinfo(info);
	if (!ok(json_equal(live, text), "cpuid/hwcap features equal the kernel's cpuinfo flags")) {
		char *a = json_dumps(live, JSON_COMPACT), *b = json_dumps(text, JSON_COMPACT);
		diag("cpuid %s, cpuinfo %s", a, b);
		free(a);
		free(b);
	}
	ok(hw_feature_count() > 20 && hw_feature_name(hw_feature_count()) == NULL, "feature table bounds");
	json_decref(live);
	json_decref(text);
	free(info);
}

int main(void)
{
	test_text();
	test_verdicts();
	test_arch_and_order();
	test_select();
	test_live_features();
	return done_testing();
}
