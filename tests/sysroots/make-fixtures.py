#!/usr/bin/env python3
"""Writes the fixture sysroots for exo-detect's tests (tests/sysroots/NAME/):
fake /proc and /sys trees of machines this project does not have.  Values
follow the kernel's formats (Documentation/ABI, amdgpu driver-misc.rst, KFD
topology, bonding, infiniband); run it again after changing it, then
regenerate the .expected.json files with exo-detect and review the diff."""
import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def put(root, path, text):
    p = os.path.join(root, path.lstrip("/"))
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "w") as f:
        f.write(text if text.endswith("\n") or text == "" else text + "\n")


def link(root, path, target):
    p = os.path.join(root, path.lstrip("/"))
    os.makedirs(os.path.dirname(p), exist_ok=True)
    os.symlink(target, p)


def cpus(root, n, per_core, cores_per_pkg, nodes, caches, cpuinfo_one, mem_kb):
    put(root, "/sys/devices/system/cpu/online", "0-%d" % (n - 1))
    info = []
    for i in range(n):
        core = i // per_core
        pkg = core // cores_per_pkg
        d = "/sys/devices/system/cpu/cpu%d/topology/" % i
        put(root, d + "physical_package_id", str(pkg))
        put(root, d + "core_id", str(core % cores_per_pkg))
        info.append("processor\t: %d\n" % i + cpuinfo_one)
    put(root, "/proc/cpuinfo", "\n".join(info))
    for k, (level, typ, size) in enumerate(caches):
        d = "/sys/devices/system/cpu/cpu0/cache/index%d/" % k
        put(root, d + "level", str(level))
        put(root, d + "type", typ)
        put(root, d + "size", size)
    per_node = n // nodes
    for k in range(nodes):
        d = "/sys/devices/system/node/node%d/" % k
        put(root, d + "cpulist", "%d-%d" % (k * per_node, (k + 1) * per_node - 1))
        put(root, d + "meminfo", "Node %d MemTotal:       %d kB\nNode %d MemFree:        %d kB"
            % (k, mem_kb // nodes, k, mem_kb * 9 // 10 // nodes))


def meminfo(root, total_kb, avail_kb, swap_kb, huge_total, huge_free):
    put(root, "/proc/meminfo", f"""MemTotal:       {total_kb} kB
MemFree:        {avail_kb - 1000} kB
MemAvailable:   {avail_kb} kB
SwapTotal:      {swap_kb} kB
SwapFree:       {swap_kb} kB
HugePages_Total:    {huge_total}
HugePages_Free:     {huge_free}
Hugepagesize:       2048 kB""")


def common(root, host, arch):
    put(root, "/proc/sys/kernel/hostname", host)
    put(root, "/proc/sys/kernel/arch", arch)


def nic(root, name, typ=1, state="up", speed=None, mtu=1500, mac="00:00:00:00:00:00", physical=True):
    d = "/sys/class/net/%s/" % name
    put(root, d + "type", str(typ))
    put(root, d + "operstate", state)
    put(root, d + "mtu", str(mtu))
    put(root, d + "address", mac)
    if speed is not None:
        put(root, d + "speed", str(speed))
    if physical:
        put(root, d + "device/vendor", "0x15b3")


def disk(root, name, rotational, parts=(), size=0):
    d = "/sys/block/%s/" % name
    put(root, d + "queue/rotational", str(rotational))
    put(root, d + "size", str(size))
    for p in parts:
        put(root, d + p + "/partition", p[-1])


def devblock(root, majmin, devname):
    put(root, "/sys/dev/block/%s/uevent" % majmin, "MAJOR=%s\nMINOR=%s\nDEVNAME=%s\nDEVTYPE=partition"
        % (majmin.split(":")[0], majmin.split(":")[1], devname))


def mountinfo(root, lines):
    put(root, "/proc/self/mountinfo", "\n".join(lines))


X86_CACHES = [(1, "Data", "32K"), (1, "Instruction", "32K"), (2, "Unified", "1024K"), (3, "Unified", "32768K")]
ZEN4_FLAGS = ("fpu vme de pse tsc msr pae mce cx8 apic sep mtrr sse sse2 ht syscall nx lm pni pclmulqdq ssse3 fma "
              "cx16 sse4_1 sse4_2 x2apic movbe popcnt aes xsave avx f16c rdrand avx2 bmi2 avx512f avx512dq "
              "avx512cd avx512bw avx512vl avx512_bf16 avx512vbmi avx512_vnni avx512_bitalg")


def amd_rocm(root):
    common(root, "rocm-box", "x86_64")
    cpus(root, 16, 2, 4, 2, X86_CACHES,
         "vendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 17\nmodel name\t: AMD EPYC 9124 16-Core Processor\n"
         "flags\t\t: " + ZEN4_FLAGS + "\n", 67108864)
    meminfo(root, 67108864, 60000000, 8388608, 1024, 1000)
    # card0: Radeon RX 7900 XTX (Navi 31, gfx1100), 24 GiB
    g = "/sys/class/drm/card0/device/"
    put(root, g + "vendor", "0x1002")
    put(root, g + "device", "0x744c")
    put(root, g + "uevent", "DRIVER=amdgpu\nPCI_CLASS=30000\nPCI_ID=1002:744C\nPCI_SLOT_NAME=0000:03:00.0")
    link(root, g + "driver", "../../../bus/pci/drivers/amdgpu")
    put(root, g + "mem_info_vram_total", "25753026560")
    put(root, g + "mem_info_vram_used", "1073741824")
    put(root, g + "max_link_speed", "16.0 GT/s PCIe")
    put(root, g + "max_link_width", "16")
    put(root, g + "hwmon/hwmon3/power1_cap", "355000000")
    put(root, "/sys/class/drm/card0-DP-1/status", "connected")
    put(root, "/sys/class/drm/renderD128/dev", "226:128")
    # card1: Instinct MI300X (gfx942), 192 GiB, product_name present
    g = "/sys/class/drm/card1/device/"
    put(root, g + "vendor", "0x1002")
    put(root, g + "device", "0x74a1")
    put(root, g + "product_name", "AMD Instinct MI300X")
    put(root, g + "uevent", "DRIVER=amdgpu\nPCI_CLASS=120000\nPCI_ID=1002:74A1\nPCI_SLOT_NAME=0000:c1:00.0")
    link(root, g + "driver", "../../../bus/pci/drivers/amdgpu")
    put(root, g + "mem_info_vram_total", "206141652992")
    put(root, g + "mem_info_vram_used", "0")
    put(root, g + "max_link_speed", "32.0 GT/s PCIe")
    put(root, g + "max_link_width", "16")
    put(root, g + "hwmon/hwmon4/power1_cap", "750000000")
    put(root, "/sys/module/amdgpu/version", "6.8.5")
    k = "/sys/class/kfd/kfd/topology/nodes/"
    put(root, k + "0/properties", "cpu_cores_count 16\nsimd_count 0\nlocation_id 0\ndomain 0\ngfx_target_version 0")
    put(root, k + "1/properties", "cpu_cores_count 0\nsimd_count 192\nsimd_per_cu 2\nlocation_id 768\n"
        "domain 0\ngfx_target_version 110000\nvendor_id 4098\ndevice_id 29772\ndrm_render_minor 128\nlocal_mem_size 0")
    put(root, k + "2/properties", "cpu_cores_count 0\nsimd_count 1216\nsimd_per_cu 4\nlocation_id 49408\n"
        "domain 0\ngfx_target_version 90402\nvendor_id 4098\ndevice_id 29857\ndrm_render_minor 129\nnum_xcc 8")
    # NVMe root and model cache; RDMA: RoCE on eth1 (mlx5_0), InfiniBand ib0 (mlx5_1)
    disk(root, "nvme0n1", 0, ("nvme0n1p1", "nvme0n1p2"), 3907029168)
    devblock(root, "259:2", "nvme0n1p2")
    mountinfo(root, ["22 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw",
                     "23 22 0:21 / /proc rw,nosuid shared:2 - proc proc rw"])
    nic(root, "lo", typ=772, state="unknown", mtu=65536, physical=False)
    nic(root, "eth0", speed=10000, mac="3c:ec:ef:00:00:01")
    nic(root, "eth1", speed=100000, mtu=9000, mac="b8:ce:f6:00:00:02")
    nic(root, "ib0", typ=32, speed=200000, mtu=4092, mac="00:00:10:87:fe:80:00:00:00:00:00:00:b8:ce:f6:03:00:00:00:03")
    r = "/sys/class/infiniband/mlx5_0/"
    put(root, r + "ports/1/state", "4: ACTIVE")
    put(root, r + "ports/1/rate", "100 Gb/sec (4X EDR)")
    put(root, r + "ports/1/link_layer", "Ethernet")
    put(root, r + "device/net/eth1/mtu", "9000")
    r = "/sys/class/infiniband/mlx5_1/"
    put(root, r + "ports/1/state", "4: ACTIVE")
    put(root, r + "ports/1/rate", "200 Gb/sec (4X HDR)")
    put(root, r + "ports/1/link_layer", "InfiniBand")
    put(root, r + "device/net/ib0/mtu", "4092")
    put(root, "/proc/net/if_inet6", "fd0000000000000000000000000000a1 02 40 00 80     eth0\n"
        "fe800000000000003eecefffe0000001 02 40 20 80     eth0\n00000000000000000000000000000001 01 80 10 80       lo")


def intel_arc(root):
    common(root, "arc-desk", "x86_64")
    cpus(root, 8, 2, 4, 1, X86_CACHES[:3] + [(3, "Unified", "30M")],
         "vendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 183\nmodel name\t: 13th Gen Intel(R) Core(TM) i7-13700K\n"
         "flags\t\t: fpu sse sse2 ssse3 fma sse4_1 sse4_2 avx f16c avx2 avx_vnni\n", 33554432)
    meminfo(root, 33554432, 30000000, 0, 0, 0)
    g = "/sys/class/drm/card0/device/"     # Arc A770 16 GB, i915 (Intel backport lmem files)
    put(root, g + "vendor", "0x8086")
    put(root, g + "device", "0x56a0")
    put(root, g + "uevent", "DRIVER=i915\nPCI_SLOT_NAME=0000:03:00.0")
    link(root, g + "driver", "../../../bus/pci/drivers/i915")
    put(root, g + "max_link_speed", "16.0 GT/s PCIe")
    put(root, g + "max_link_width", "16")
    put(root, "/sys/class/drm/card0/lmem_total_bytes", "17163091968")
    put(root, "/sys/class/drm/card0/lmem_avail_bytes", "16106127360")
    g = "/sys/class/drm/card1/device/"     # UHD Graphics 770 (integrated)
    put(root, g + "vendor", "0x8086")
    put(root, g + "device", "0xa780")
    put(root, g + "uevent", "DRIVER=i915\nPCI_SLOT_NAME=0000:00:02.0")
    link(root, g + "driver", "../../../bus/pci/drivers/i915")
    disk(root, "sda", 0, ("sda1",), 1953525168)
    devblock(root, "8:1", "sda1")
    mountinfo(root, ["22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw"])
    nic(root, "enp4s0", state="down", mac="a8:a1:59:00:00:01")
    nic(root, "wlp5s0", speed=None, mac="70:cf:49:00:00:02")
    put(root, "/sys/class/net/wlp5s0/wireless/.keep", "")
    nic(root, "tbt0", speed=None, mtu=1500, mac="02:5c:00:00:00:03")
    link(root, "/sys/class/net/tbt0/device/driver", "../../../../bus/thunderbolt/drivers/thunderbolt-net")


def cpu_only(root):
    common(root, "bond-srv", "x86_64")
    cpus(root, 4, 1, 4, 1, X86_CACHES, "vendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) E-2224 CPU @ 3.40GHz\n"
         "flags\t\t: fpu sse sse2 ssse3 sse4_1 sse4_2 avx f16c fma avx2\n", 16777216)
    meminfo(root, 16777216, 15000000, 2097152, 0, 0)
    disk(root, "sda", 0, ("sda1",), 500118192)
    disk(root, "sdb", 1, ("sdb1",), 7814037168)
    devblock(root, "8:1", "sda1")
    devblock(root, "8:17", "sdb1")
    mountinfo(root, ["22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw",
                     "40 22 8:17 / /data rw,relatime shared:20 - xfs /dev/sdb1 rw"])
    nic(root, "eno1", speed=1000, mac="0c:c4:7a:00:00:01")
    nic(root, "eno2", speed=1000, mac="0c:c4:7a:00:00:01")
    nic(root, "bond0", speed=2000, mac="0c:c4:7a:00:00:01", physical=False)
    b = "/sys/class/net/bond0/bonding/"
    put(root, b + "mode", "802.3ad 4")
    put(root, b + "slaves", "eno1 eno2")
    put(root, "/proc/net/if_inet6", "fd000000000000000000000000000010 04 40 00 80    bond0")


def arm_server(root):
    common(root, "arm-nfs", "aarch64")
    cpus(root, 8, 1, 8, 1, [(1, "Data", "64K"), (1, "Instruction", "64K"), (2, "Unified", "1024K")],
         "BogoMIPS\t: 50.00\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid "
         "asimdrdm lrcpc dcpop asimddp sve i8mm bf16\nCPU implementer\t: 0xc0\nCPU architecture: 8\n"
         "CPU variant\t: 0x0\nCPU part\t: 0xac3\nCPU revision\t: 1\n", 134217728)
    meminfo(root, 134217728, 120000000, 0, 0, 0)
    disk(root, "nvme0n1", 0, ("nvme0n1p1",), 1000215216)
    devblock(root, "259:1", "nvme0n1p1")
    mountinfo(root, ["22 1 259:1 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p1 rw",
                     "50 22 0:52 / /data rw,relatime shared:30 - nfs4 fs1:/export/models rw,vers=4.2"])
    nic(root, "enP1p1s0", speed=25000, mac="02:00:00:00:00:0a")


def main():
    for name, fn in [("amd-rocm", amd_rocm), ("intel-arc", intel_arc), ("cpu-only", cpu_only), ("arm-server", arm_server)]:
        root = os.path.join(HERE, name)
        shutil.rmtree(root, ignore_errors=True)
        fn(root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
