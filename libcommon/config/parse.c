/* Value parsers shared by the configuration file and the commands' flags:
 * sizes with binary suffixes, host:port addresses, accelerator names.  They
 * only say yes or no; the caller knows which key or flag to name. */
#include "config/config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *const accel_names[CONF_ACCEL_N] = {
	[CONF_MLX] = "mlx", [CONF_CUDA] = "cuda", [CONF_ROCM] = "rocm",
	[CONF_INTEL] = "intel", [CONF_CPU] = "cpu",
};

int conf_accel_parse(const char *s)
{
	for (int i = 0; i < CONF_ACCEL_N; i++)
		if (strcmp(s, accel_names[i]) == 0)
			return i;
	return -1;
}

const char *conf_accel_name(enum conf_accel a)
{
	return (unsigned)a < CONF_ACCEL_N ? accel_names[a] : "?";
}

/* Digits only: strtoull alone would take "-1", " 5" and "0x10". */
int conf_parse_size(const char *s, uint64_t *bytes)
{
	if (!isdigit((unsigned char)s[0]))
		return -1;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno)
		return -1;
	static const char suffixes[] = "KMGT";
	unsigned shift = 0;
	if (*end) {
		const char *p = strchr(suffixes, toupper((unsigned char)*end));
		if (!p || end[1])
			return -1;
		shift = 10 * (unsigned)(p - suffixes + 1);
	}
	if (shift && v > (UINT64_MAX >> shift))
		return -1;
	*bytes = (uint64_t)v << shift;
	return 0;
}

static int parse_port(const char *s, int min_port, int *port)
{
	if (!isdigit((unsigned char)s[0]) || strlen(s) > 5)
		return -1;
	char *end;
	long v = strtol(s, &end, 10);
	if (*end || v < min_port || v > 65535)
		return -1;
	if (port)
		*port = (int)v;
	return 0;
}

/* A DNS name or a dotted IPv4 address: letters, digits, '-', '.', '_'. */
static int host_ok(const char *h, size_t len)
{
	if (len == 0 || len > 253)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)h[i]) && !strchr("-._", h[i]))
			return 0;
	return 1;
}

static int copy_host(const char *h, size_t len, char *host, size_t hostsz)
{
	if (!host)
		return 0;
	if (len >= hostsz)
		return -1;
	memcpy(host, h, len);
	host[len] = '\0';
	return 0;
}

int conf_parse_addr(const char *s, int min_port, char *host, size_t hostsz, int *port)
{
	const char *colon;
	const char *h = s;
	size_t len;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':')
			return -1;
		h = s + 1;
		len = (size_t)(close - h);
		char v6[INET6_ADDRSTRLEN];
		struct in6_addr a;
		if (len == 0 || len >= sizeof v6)
			return -1;
		memcpy(v6, h, len);
		v6[len] = '\0';
		if (inet_pton(AF_INET6, v6, &a) != 1)
			return -1;
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return -1;
		len = (size_t)(colon - s);
		if (!host_ok(s, len))
			return -1;
	}
	if (parse_port(colon + 1, min_port, port) < 0)
		return -1;
	return copy_host(h, len, host, hostsz);
}
