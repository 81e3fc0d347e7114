/* NVIDIA GPUs through the driver's own libraries, loaded at run time so that
 * exo-detect runs on machines without them: NVML (libnvidia-ml.so.1) for the
 * full picture, else the CUDA driver API (libcuda.so.1) for the essentials.
 * The few prototypes and structs are declared here (nvml.h API 13, cuda.h
 * 13.0; REFERENCE.md 2.2 and 2.3); no NVIDIA headers are needed to build. */
#include "hardware/hardware.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

typedef void *nvml_dev;
struct nvml_memory { unsigned long long total, free, used; };
struct nvml_pci {
	char bus_id_legacy[16];
	unsigned domain, bus, device, pci_device_id, pci_subsystem_id;
	char bus_id[32];
};

struct nvml {
	void *lib;
	int (*init)(void);
	int (*shutdown)(void);
	const char *(*error_string)(int);
	int (*count)(unsigned *);
	int (*handle)(unsigned, nvml_dev *);
	int (*name)(nvml_dev, char *, unsigned);
	int (*uuid)(nvml_dev, char *, unsigned);
	int (*memory)(nvml_dev, struct nvml_memory *);
	int (*cc)(nvml_dev, int *, int *);
	int (*driver)(char *, unsigned);
	int (*cuda_driver)(int *);
	int (*pci)(nvml_dev, struct nvml_pci *);
	int (*pcie_gen)(nvml_dev, unsigned *);
	int (*pcie_width)(nvml_dev, unsigned *);
	int (*power_limit)(nvml_dev, unsigned *);
};

/* dlsym into a function pointer of any type (POSIX guarantees the cast). */
#define SYM(lib, p, name) (*(void **)&(p) = dlsym((lib), (name)))

static int nvml_open(struct nvml *n)
{
	memset(n, 0, sizeof *n);
	n->lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
	if (!n->lib)
		return -1;
	SYM(n->lib, n->init, "nvmlInit_v2");
	SYM(n->lib, n->shutdown, "nvmlShutdown");
	SYM(n->lib, n->error_string, "nvmlErrorString");
	SYM(n->lib, n->count, "nvmlDeviceGetCount_v2");
	SYM(n->lib, n->handle, "nvmlDeviceGetHandleByIndex_v2");
	SYM(n->lib, n->name, "nvmlDeviceGetName");
	SYM(n->lib, n->uuid, "nvmlDeviceGetUUID");
	SYM(n->lib, n->memory, "nvmlDeviceGetMemoryInfo");
	SYM(n->lib, n->cc, "nvmlDeviceGetCudaComputeCapability");
	SYM(n->lib, n->driver, "nvmlSystemGetDriverVersion");
	SYM(n->lib, n->cuda_driver, "nvmlSystemGetCudaDriverVersion_v2");
	SYM(n->lib, n->pci, "nvmlDeviceGetPciInfo_v3");
	SYM(n->lib, n->pcie_gen, "nvmlDeviceGetMaxPcieLinkGeneration");
	SYM(n->lib, n->pcie_width, "nvmlDeviceGetMaxPcieLinkWidth");
	SYM(n->lib, n->power_limit, "nvmlDeviceGetPowerManagementLimit");
	return n->init && n->shutdown && n->count && n->handle && n->name && n->memory ? 0 : -1;
}

/* 12080 -> "12.8" (major = v/1000, minor = (v%1000)/10). */
static json_t *cuda_version(int v)
{
	char buf[32];
	snprintf(buf, sizeof buf, "%d.%d", v / 1000, v % 1000 / 10);
	return json_string(buf);
}

static void nvml_optional(struct nvml *n, nvml_dev d, json_t *gpu)
{
	char buf[96];
	unsigned u;
	int major, minor;
	struct nvml_pci pci;
	if (n->uuid && n->uuid(d, buf, sizeof buf) == 0)
		json_object_set_new(gpu, "uuid", json_string(buf));
	if (n->pci && n->pci(d, &pci) == 0)
		json_object_set_new(gpu, "pci_bus_id", json_string(pci.bus_id));
	if (n->cc && n->cc(d, &major, &minor) == 0) {
		snprintf(buf, sizeof buf, "%d.%d", major, minor);
		json_object_set_new(gpu, "compute_capability", json_string(buf));
	}
	if (n->pcie_gen && n->pcie_gen(d, &u) == 0)
		json_object_set_new(gpu, "pcie_gen", json_integer(u));
	if (n->pcie_width && n->pcie_width(d, &u) == 0)
		json_object_set_new(gpu, "pcie_width", json_integer(u));
	if (n->power_limit && n->power_limit(d, &u) == 0)
		json_object_set_new(gpu, "power_limit", json_real(u / 1000.0));
}

static json_t *nvml_gpu(struct nvml *n, nvml_dev d, const char *driver, int cuda)
{
	char name[96] = "NVIDIA GPU";
	struct nvml_memory m;
	n->name(d, name, sizeof name);
	json_t *gpu = json_pack("{s:s, s:s, s:s}", "vendor", "nvidia", "backend", "cuda", "name", name);
	if (n->memory(d, &m) == 0) {
		json_object_set_new(gpu, "memory_total", json_integer((json_int_t)m.total));
		json_object_set_new(gpu, "memory_free", json_integer((json_int_t)m.free));
	}
	nvml_optional(n, d, gpu);
	if (driver[0])
		json_object_set_new(gpu, "driver_version", json_string(driver));
	if (cuda > 0)
		json_object_set_new(gpu, "cuda_driver_version", cuda_version(cuda));
	return gpu;
}

static int nvml_detect(struct hw_ctx *c, json_t *gpus)
{
	struct nvml n;
	if (nvml_open(&n) < 0) {
		if (n.lib)
			dlclose(n.lib);
		return -1;
	}
	int rc = n.init();
	unsigned count = 0;
	if (rc != 0) {
		hw_note(c, "nvidia: libnvidia-ml.so.1: nvmlInit failed: %s", n.error_string ? n.error_string(rc) : "error");
		dlclose(n.lib);
		return 0;
	}
	char driver[80] = "";
	int cuda = 0;
	if (n.driver)
		n.driver(driver, sizeof driver);
	if (n.cuda_driver)
		n.cuda_driver(&cuda);
	n.count(&count);
	for (unsigned i = 0; i < count; i++) {
		nvml_dev d;
		if (n.handle(i, &d) == 0)
			json_array_append_new(gpus, nvml_gpu(&n, d, driver, cuda));
	}
	if (count == 0)
		hw_note(c, "nvidia: driver %s loaded but no GPU found", driver);
	n.shutdown();
	dlclose(n.lib);
	return 0;
}

/* CUDA driver API fallback: name, memory, compute capability, versions. */
struct cuda {
	int (*init)(unsigned);
	int (*version)(int *);
	int (*count)(int *);
	int (*get)(int *, int);
	int (*name)(char *, int, int);
	int (*total)(size_t *, int);
	int (*attr)(int *, int, int);
};
enum { CU_CC_MAJOR = 75, CU_CC_MINOR = 76 };

static json_t *cuda_gpu(struct cuda *cu, int ord, int version)
{
	char name[256] = "NVIDIA GPU", buf[32];
	int dev = 0, major = 0, minor = 0;
	size_t total = 0;
	cu->get(&dev, ord);
	cu->name(name, sizeof name, dev);
	json_t *gpu = json_pack("{s:s, s:s, s:s}", "vendor", "nvidia", "backend", "cuda", "name", name);
	if (cu->total(&total, dev) == 0)
		json_object_set_new(gpu, "memory_total", json_integer((json_int_t)total));
	if (cu->attr(&major, CU_CC_MAJOR, dev) == 0 && cu->attr(&minor, CU_CC_MINOR, dev) == 0) {
		snprintf(buf, sizeof buf, "%d.%d", major, minor);
		json_object_set_new(gpu, "compute_capability", json_string(buf));
	}
	json_object_set_new(gpu, "cuda_driver_version", cuda_version(version));
	return gpu;
}

static int cuda_detect(struct hw_ctx *c, json_t *gpus)
{
	void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
	if (!lib)
		return -1;
	struct cuda cu;
	SYM(lib, cu.init, "cuInit");
	SYM(lib, cu.version, "cuDriverGetVersion");
	SYM(lib, cu.count, "cuDeviceGetCount");
	SYM(lib, cu.get, "cuDeviceGet");
	SYM(lib, cu.name, "cuDeviceGetName");
	SYM(lib, cu.total, "cuDeviceTotalMem_v2");
	SYM(lib, cu.attr, "cuDeviceGetAttribute");
	int n = 0, version = 0, rc = -1;
	if (cu.init && cu.version && cu.count && cu.get && cu.name && cu.total && cu.attr)
		rc = cu.init(0);
	if (rc == 0 && cu.version(&version) == 0 && cu.count(&n) == 0) {
		for (int i = 0; i < n; i++)
			json_array_append_new(gpus, cuda_gpu(&cu, i, version));
		hw_note(c, "nvidia: libnvidia-ml.so.1 not found; used libcuda.so.1 (no free memory or driver version)");
	} else {
		hw_note(c, "nvidia: libcuda.so.1: cuInit failed (error %d)", rc);
	}
	dlclose(lib);
	return 0;
}

void hw_gpu_nvidia_detect(struct hw_ctx *c, json_t *gpus)
{
	if (!c->live) {
		hw_note(c, "nvidia: not probed under --sysroot (the driver libraries describe this machine)");
		return;
	}
	if (nvml_detect(c, gpus) < 0 && cuda_detect(c, gpus) < 0)
		hw_note(c, "nvidia: no NVIDIA driver: libnvidia-ml.so.1 and libcuda.so.1 not found");
}
