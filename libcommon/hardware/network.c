/* Network interfaces from /sys/class/net: state, speed (bytes/s; the kernel
 * reports Mb/s), MTU, MAC, addresses, and kind (ethernet, wifi, infiniband,
 * roce, bond with mode and slaves, bridge, thunderbolt, virtual), with the
 * RDMA port behind it from /sys/class/infiniband.  Loopback is left out.
 * Addresses come from getifaddrs when live and from /proc/net/if_inet6
 * (IPv6 only) under a sysroot. */
#include "hardware/hardware.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NET "/sys/class/net"

/* "100 Gb/sec (4X EDR)" -> bytes/s. */
static uint64_t ib_rate(const char *s)
{
	return (uint64_t)(atof(s) * 1e9 / 8);
}

static json_t *rdma_port(struct hw_ctx *c, const char *hca)
{
	char dir[256], buf[128];
	size_t n;
	snprintf(dir, sizeof dir, "/sys/class/infiniband/%s/ports", hca);
	char **ports = hw_list(c, dir, "", &n);
	json_t *r = json_pack("{s:s}", "device", hca);
	if (n) {
		json_object_set_new(r, "port", json_integer(atoi(ports[0])));
		if (hw_read(c, buf, sizeof buf, "%s/%s/state", dir, ports[0]) > 0)
			json_object_set_new(r, "state", json_string(strchr(buf, ' ') ? strchr(buf, ' ') + 1 : buf));
		if (hw_read(c, buf, sizeof buf, "%s/%s/rate", dir, ports[0]) > 0)
			json_object_set_new(r, "rate", json_integer((json_int_t)ib_rate(buf)));
		if (hw_read(c, buf, sizeof buf, "%s/%s/link_layer", dir, ports[0]) > 0)
			json_object_set_new(r, "link_layer", json_string(buf));
	}
	hw_names_free(ports, n);
	return r;
}

/* The RDMA device whose netdev is ifname, or NULL. */
static json_t *rdma_for(struct hw_ctx *c, const char *ifname)
{
	size_t n;
	char **hcas = hw_list(c, "/sys/class/infiniband", "", &n);
	json_t *r = NULL;
	for (size_t i = 0; i < n && !r; i++)
		if (hw_exists(c, "/sys/class/infiniband/%s/device/net/%s", hcas[i], ifname))
			r = rdma_port(c, hcas[i]);
	hw_names_free(hcas, n);
	return r;
}

static json_t *bond(struct hw_ctx *c, const char *ifname)
{
	char buf[1024];
	json_t *b = json_object();
	if (hw_read(c, buf, sizeof buf, NET "/%s/bonding/mode", ifname) > 0) {
		buf[strcspn(buf, " ")] = '\0';      /* "802.3ad 4" */
		json_object_set_new(b, "mode", json_string(buf));
	}
	json_t *slaves = json_array();
	hw_read(c, buf, sizeof buf, NET "/%s/bonding/slaves", ifname);
	for (char *save = NULL, *s = strtok_r(buf, " ", &save); s; s = strtok_r(NULL, " ", &save))
		json_array_append_new(slaves, json_string(s));
	json_object_set_new(b, "slaves", slaves);
	if (hw_read(c, buf, sizeof buf, NET "/%s/bonding/active_slave", ifname) > 0)
		json_object_set_new(b, "active_slave", json_string(buf));
	return b;
}

static const char *kind(struct hw_ctx *c, const char *ifname, uint64_t type, int rdma)
{
	char drv[64];
	if (type == 32)
		return "infiniband";
	if (hw_exists(c, NET "/%s/bonding", ifname))
		return "bond";
	if (hw_exists(c, NET "/%s/wireless", ifname) || hw_exists(c, NET "/%s/phy80211", ifname))
		return "wifi";
	if (hw_exists(c, NET "/%s/bridge", ifname))
		return "bridge";
	if (hw_link_name(c, drv, sizeof drv, NET "/%s/device/driver", ifname) == 0 && strcmp(drv, "thunderbolt-net") == 0)
		return "thunderbolt";
	if (rdma)
		return "roce";
	if (!hw_exists(c, NET "/%s/device", ifname))
		return "virtual";
	return type == 1 ? "ethernet" : "other";
}

/* /proc/net/if_inet6: "fe80...0001 02 40 20 80 eth0" (hex address, index,
 * prefix length in hex, scope, flags, name). */
static void addrs_inet6(struct hw_ctx *c, json_t *ifs)
{
	char *text = hw_slurp(c, "/proc/net/if_inet6");
	char *save = NULL;
	for (char *l = text ? strtok_r(text, "\n", &save) : NULL; l; l = strtok_r(NULL, "\n", &save)) {
		char hex[33], name[64], out[INET6_ADDRSTRLEN + 8];
		unsigned idx, plen, scope, flags;
		unsigned char a[16];
		if (sscanf(l, "%32s %x %x %x %x %63s", hex, &idx, &plen, &scope, &flags, name) != 6)
			continue;
		for (int i = 0; i < 16; i++)
			sscanf(hex + 2 * i, "%2hhx", &a[i]);
		json_t *list = json_object_get(json_object_get(ifs, name), "addresses");
		if (list && inet_ntop(AF_INET6, a, out, INET6_ADDRSTRLEN)) {
			snprintf(out + strlen(out), 8, "/%u", plen);
			json_array_append_new(list, json_string(out));
		}
	}
	free(text);
}

static int prefix_len(const struct sockaddr *m, int fam)
{
	const unsigned char *b = fam == AF_INET ? (const void *)&((const struct sockaddr_in *)m)->sin_addr
						: (const void *)&((const struct sockaddr_in6 *)m)->sin6_addr;
	int n = 0;
	for (int i = 0; i < (fam == AF_INET ? 4 : 16); i++)
		n += __builtin_popcount(b[i]);
	return n;
}

static void addrs_live(json_t *ifs)
{
	struct ifaddrs *all, *a;
	if (getifaddrs(&all) != 0)
		return;
	for (a = all; a; a = a->ifa_next) {
		json_t *list = json_object_get(json_object_get(ifs, a->ifa_name), "addresses");
		int fam = a->ifa_addr ? a->ifa_addr->sa_family : -1;
		char out[INET6_ADDRSTRLEN + 16];   /* address, '/', any int */
		if (!list || (fam != AF_INET && fam != AF_INET6))
			continue;
		const void *p = fam == AF_INET ? (const void *)&((struct sockaddr_in *)a->ifa_addr)->sin_addr
					       : (const void *)&((struct sockaddr_in6 *)a->ifa_addr)->sin6_addr;
		if (!inet_ntop(fam, p, out, INET6_ADDRSTRLEN))
			continue;
		if (a->ifa_netmask)
			snprintf(out + strlen(out), 16, "/%d", prefix_len(a->ifa_netmask, fam));
		json_array_append_new(list, json_string(out));
	}
	freeifaddrs(all);
}

static json_t *interface(struct hw_ctx *c, const char *ifname, uint64_t type)
{
	char buf[128];
	uint64_t v;
	json_t *rdma = rdma_for(c, ifname);
	json_t *o = json_pack("{s:s, s:s}", "name", ifname, "kind", kind(c, ifname, type, rdma != NULL));
	if (hw_read(c, buf, sizeof buf, NET "/%s/operstate", ifname) > 0)
		json_object_set_new(o, "state", json_string(buf));
	/* speed is Mb/s; reading fails (EINVAL) with the link down, -1 on virtual NICs */
	if (hw_read_u64(c, &v, NET "/%s/speed", ifname) == 0)
		json_object_set_new(o, "speed", json_integer((json_int_t)(v * 125000)));
	if (hw_read_u64(c, &v, NET "/%s/mtu", ifname) == 0)
		json_object_set_new(o, "mtu", json_integer((json_int_t)v));
	if (hw_read(c, buf, sizeof buf, NET "/%s/address", ifname) > 0)
		json_object_set_new(o, "mac", json_string(buf));
	json_object_set_new(o, "addresses", json_array());
	if (strcmp(json_string_value(json_object_get(o, "kind")), "bond") == 0)
		json_object_set_new(o, "bond", bond(c, ifname));
	if (rdma)
		json_object_set_new(o, "rdma", rdma);
	return o;
}

void hw_network_detect(struct hw_ctx *c, json_t *node)
{
	size_t n;
	char **names = hw_list(c, NET, "", &n);
	json_t *ifs = json_object(), *list = json_array();
	for (size_t i = 0; i < n; i++) {
		uint64_t type = 0;
		hw_read_u64(c, &type, NET "/%s/type", names[i]);
		if (type == 772)
			continue;       /* loopback */
		json_t *o = interface(c, names[i], type);
		json_object_set(ifs, names[i], o);
		json_array_append_new(list, o);
	}
	hw_names_free(names, n);
	if (c->live)
		addrs_live(ifs);
	else
		addrs_inet6(c, ifs);
	json_decref(ifs);
	json_object_set_new(node, "net", list);
}
