/* Configuration: defaults, a file with every key, the search order, and the
 * exact message (FILE:LINE:COL and key path, code 78) of every error class.
 * Runs from the repository root; writes only under a temporary directory. */
#include <ftw.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include "config/config.h"
#include "tests/tap.h"

static char tmp[64];

static void put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(p);
}

static void test_defaults(void)
{
	struct exo_config c;
	setenv("HOME", "/home/op", 1);
	unsetenv("HF_HUB_CACHE");
	unsetenv("HF_HOME");
	conf_init(&c);
	ok(c.hardware.auto_detect, "default: autoDetect true");
	is_int(c.hardware.n_detection_order, 5, "default: detectionOrder has all five");
	is_str(conf_accel_name(c.hardware.detection_order[0]), "mlx", "default: mlx first");
	is_str(conf_accel_name(c.hardware.detection_order[4]), "cpu", "default: cpu last");
	is_int(c.hardware.preferred_accelerator, CONF_CPU, "default: preferredAccelerator cpu");
	ok(c.hardware.cuda.memory_fraction == 0.9, "default: memoryFraction 0.9");
	is_int(c.hardware.cuda.devices.n, 0, "default: every CUDA device");
	is_int(c.hardware.cpu.threads, 0, "default: one thread per CPU");
	ok(c.hardware.memory.hugepages, "default: the weights on huge pages");
	is_str(c.storage.model_cache.path, "/home/op/.cache/huggingface/hub", "default: the HF cache");
	is_int(c.storage.model_cache.max_size, 0, "default: no cache limit");
	is_str(c.networking.listen, "127.0.0.1:52416", "default: listen on loopback");
	is_str(c.networking.api, "", "default: no API unless asked for");
	is_str(c.networking.cluster_key, "", "default: no cluster key");
	is_int(c.networking.n_peers, 0, "default: no peers");
	ok(!c.monitoring.prometheus.enable, "default: prometheus off");
	is_int(c.monitoring.prometheus.port, 9090, "default: prometheus port");
	is_str(c.monitoring.prometheus.path, "/metrics", "default: prometheus path");
	setenv("HF_HOME", "/data/hf", 1);
	conf_init(&c);
	is_str(c.storage.model_cache.path, "/data/hf/hub", "default cache follows HF_HOME");
	setenv("HF_HUB_CACHE", "/data/hub", 1);
	conf_init(&c);
	is_str(c.storage.model_cache.path, "/data/hub", "HF_HUB_CACHE wins over HF_HOME");
	unsetenv("HF_HUB_CACHE");
	unsetenv("HF_HOME");
	conf_free(&c);
}

static void check_full_hardware(const struct exo_config *c)
{
	ok(!c->hardware.auto_detect, "full: autoDetect false");
	ok(c->hardware.n_detection_order == 2 && c->hardware.detection_order[0] == CONF_CUDA &&
	   c->hardware.detection_order[1] == CONF_CPU, "full: detectionOrder [cuda, cpu]");
	is_int(c->hardware.preferred_accelerator, CONF_ROCM, "full: preferredAccelerator rocm");
	ok(c->hardware.cuda.devices.n == 2 && c->hardware.cuda.devices.v[0] == 0 &&
	   c->hardware.cuda.devices.v[1] == 1, "full: cuda.devices [0, 1]");
	ok(c->hardware.cuda.memory_fraction == 0.75, "full: memoryFraction 0.75");
	ok(c->hardware.rocm.devices.n == 1 && c->hardware.rocm.devices.v[0] == 2, "full: rocm.devices [2]");
	is_int(c->hardware.cpu.threads, 8, "full: cpu.threads");
	ok(c->hardware.cpu.affinity.n == 4 && c->hardware.cpu.affinity.v[3] == 7, "full: cpu.affinity");
	ok(c->hardware.memory.hugepages, "full: hugepages");
}

static void check_full_rest(const struct exo_config *c)
{
	is_str(c->storage.model_cache.path, "/home/op/models/hub", "full: ~ expanded in modelCache.path");
	is_int(c->storage.model_cache.max_size, 500ULL << 30, "full: maxSize 500G in bytes");
	is_str(c->networking.listen, "0.0.0.0:52416", "full: listen");
	is_str(c->networking.api, "[::1]:8080", "full: api (IPv6)");
	is_str(c->networking.cluster_key, "/etc/exo/cluster.key", "full: clusterKey");
	is_int(c->networking.n_peers, 2, "full: two peers");
	if (c->networking.n_peers == 2) {
		is_str(c->networking.peers[0].name, "node2", "full: peer 0 name");
		is_str(c->networking.peers[1].address, "gpu-box.lan:52417", "full: peer 1 address");
	}
	ok(c->monitoring.prometheus.enable, "full: prometheus enabled");
	is_int(c->monitoring.prometheus.port, 9100, "full: prometheus port");
	is_str(c->monitoring.prometheus.path, "/prom", "full: prometheus path");
}

static void test_full(void)
{
	struct exo_config c;
	struct exo_err e = {0};
	setenv("HOME", "/home/op", 1);
	conf_init(&c);
	int r = conf_load(&c, "tests/fixtures-config/full.yaml", &e);
	if (!ok(r == 0, "full.yaml loads"))
		diag("%s", e.msg);
	is_str(c.source, "tests/fixtures-config/full.yaml", "source names the file");
	check_full_hardware(&c);
	check_full_rest(&c);
	/* Flags come last: a command assigns them over the file. */
	c.hardware.cpu.threads = 2;
	is_int(c.hardware.cpu.threads, 2, "a flag overrides the file");
	conf_free(&c);
}

/* One file per search location; conf_find must pick the first that exists. */
static void test_search(void)
{
	char home[128], sys[128], user[160], xdg[160], env[128], got[PATH_MAX];
	struct exo_err e = {0};
	snprintf(home, sizeof home, "%s/home", tmp);
	snprintf(sys, sizeof sys, "%s/etc-exo.yaml", tmp);
	snprintf(user, sizeof user, "%s/.config/exo/exo.yaml", home);
	snprintf(xdg, sizeof xdg, "%s/xdg/exo/exo.yaml", tmp);
	snprintf(env, sizeof env, "%s/env.yaml", tmp);
	setenv("HOME", home, 1);
	unsetenv("XDG_CONFIG_HOME");
	unsetenv("EXO_CONFIG");
	is_int(conf_find(got, sizeof got, sys, &e), 0, "search: nothing anywhere is fine");
	put(sys, "hardware: {cpu: {threads: 1}}\n");
	ok(conf_find(got, sizeof got, sys, &e) == 1 && !strcmp(got, sys), "search: the system file");
	mkdir(home, 0700);
	snprintf(got, sizeof got, "%s/.config", home);
	mkdir(got, 0700);
	snprintf(got, sizeof got, "%s/.config/exo", home);
	mkdir(got, 0700);
	put(user, "hardware: {cpu: {threads: 2}}\n");
	ok(conf_find(got, sizeof got, sys, &e) == 1 && !strcmp(got, user), "search: ~/.config over /etc");
	snprintf(got, sizeof got, "%s/xdg", tmp);
	mkdir(got, 0700);
	snprintf(got, sizeof got, "%s/xdg/exo", tmp);
	mkdir(got, 0700);
	put(xdg, "hardware: {cpu: {threads: 3}}\n");
	snprintf(got, sizeof got, "%s/xdg", tmp);
	setenv("XDG_CONFIG_HOME", got, 1);
	ok(conf_find(got, sizeof got, sys, &e) == 1 && !strcmp(got, xdg), "search: XDG_CONFIG_HOME over ~/.config");
	put(env, "hardware: {cpu: {threads: 4}}\n");
	setenv("EXO_CONFIG", env, 1);
	ok(conf_find(got, sizeof got, sys, &e) == 1 && !strcmp(got, env), "search: EXO_CONFIG first");
}

static void test_load_env(void)
{
	char missing[128];
	struct exo_config c;
	struct exo_err e = {0};
	conf_init(&c);
	ok(conf_load(&c, NULL, &e) == 0 && c.hardware.cpu.threads == 4, "conf_load reads $EXO_CONFIG");
	snprintf(missing, sizeof missing, "%s/nope.yaml", tmp);
	setenv("EXO_CONFIG", missing, 1);
	is_int(conf_load(&c, NULL, &e), -1, "EXO_CONFIG naming a missing file fails");
	is_int(e.code, EXO_CONFIG, "... with code 78");
	ok(strstr(e.msg, "nope.yaml (from EXO_CONFIG): No such file") != NULL, "... naming it: %s", e.msg);
	is_int(c.hardware.cpu.threads, 4, "a failed load leaves the config as it was");
	unsetenv("EXO_CONFIG");
	unsetenv("XDG_CONFIG_HOME");
	setenv("HOME", tmp, 1);   /* no .config there */
	if (access(CONF_SYSTEM_PATH, F_OK) == 0) {
		skip(CONF_SYSTEM_PATH " exists on this machine");
	} else {
		conf_free(&c);
		ok(conf_load(&c, NULL, &e) == 0 && !c.source[0] && c.hardware.cpu.threads == 0,
		   "no file anywhere: the defaults");
	}
	is_int(conf_load(&c, missing, &e), -1, "an explicit missing file fails");
	conf_free(&c);
}

/* YAML text, and the message after "FILE:". */
static const struct {
	const char *yaml, *msg;
} bad[] = {
	{"hardware:\n  cpu:\n    thread: 4\n",
	 "3:5: unknown key 'hardware.cpu.thread' (did you mean 'threads'?)"},
	{"hardwire: {}\n", "1:1: unknown key 'hardwire' (did you mean 'hardware'?)"},
	{"monitoring:\n  grafana: {}\n", "2:3: unknown key 'monitoring.grafana'"},
	{"hardware:\n  autoDetect: true\n  autoDetect: false\n",
	 "3:3: duplicate key 'hardware.autoDetect' (first at line 2)"},
	{"hardware:\n  cpu: {threads: eight}\n",
	 "2:18: key 'hardware.cpu.threads': expected an integer in 0..65536, got 'eight'"},
	{"hardware:\n  cpu: {threads: \"8\"}\n",
	 "2:18: key 'hardware.cpu.threads': expected an integer in 0..65536, got \"8\" (quoted, so a string)"},
	{"hardware:\n  cpu: {threads: [8]}\n",
	 "2:18: key 'hardware.cpu.threads': expected an integer in 0..65536, got a sequence"},
	{"hardware: {autoDetect: yes}\n",
	 "1:24: key 'hardware.autoDetect': expected true or false, got 'yes'"},
	{"hardware: {cpu: {affinity: [1, 2, 1]}}\n",
	 "1:35: key 'hardware.cpu.affinity[2]': '1' is listed twice"},
	{"hardware: {cuda: 0.9}\n", "1:18: key 'hardware.cuda': expected a mapping, got '0.9'"},
	{"hardware:\n  detectionOrder: [cuda, tpu]\n",
	 "2:26: key 'hardware.detectionOrder[1]': expected one of mlx, cuda, rocm, intel, cpu, got 'tpu'"},
	{"storage:\n  modelCache:\n    maxSize: 500X\n",
	 "3:14: key 'storage.modelCache.maxSize': expected a size in bytes, or with suffix K, M, G or T (500G), got '500X'"},
	{"storage:\n  modelCache: {path: models/hub}\n",
	 "2:22: key 'storage.modelCache.path': expected an absolute path or one starting with ~/, got 'models/hub'"},
	{"storage: {modelCache: {cleanupPolicy: fifo}}\n",
	 "1:39: key 'storage.modelCache.cleanupPolicy': expected lru, got 'fifo'"},
	{"hardware:\n  cuda:\n    memoryFraction: 1.5\n",
	 "3:21: key 'hardware.cuda.memoryFraction': expected a number in (0,1], got '1.5'"},
	{"hardware:\n  cuda:\n    memoryFraction: abc\n",
	 "3:21: key 'hardware.cuda.memoryFraction': expected a number in (0,1], got 'abc'"},
	{"hardware: {cuda: {memoryFraction: 0}}\n",
	 "1:35: key 'hardware.cuda.memoryFraction': expected a number in (0,1], got '0'"},
	{"networking:\n  peers:\n    - name: n2\n      address: 10.0.0.2\n",
	 "4:16: key 'networking.peers[0].address': expected host:port with port in 1..65535, got '10.0.0.2'"},
	{"networking: {listen: 0.0.0.0:70000}\n",
	 "1:22: key 'networking.listen': expected host:port with port in 0..65535, got '0.0.0.0:70000'"},
	{"networking:\n  peers:\n    - {name: a, address: a:1}\n    - {address: b:1}\n",
	 "4:7: key 'networking.peers[1]': missing 'name'"},
	{"networking:\n  peers:\n    - {name: a, address: a:1}\n    - {name: a, address: b:1}\n",
	 "4:7: key 'networking.peers[1]': peer name 'a' is used twice"},
	{"monitoring: {prometheus: {port: 0}}\n",
	 "1:33: key 'monitoring.prometheus.port': expected an integer in 1..65535, got '0'"},
	{"hardware:\n  detectionOrder: [cuda, cpu\n",
	 "3:1: YAML syntax error: did not find expected ',' or ']' (while parsing a flow sequence that starts at 2:19)"},
	{"hardware: {cpu: &c {threads: 2}}\n",
	 "1:17: anchor '&c' is not supported: write the value out"},
	{"hardware:\n  memory: {hugepages: true}\nstorage: *m\n",
	 "3:10: alias '*m' is not supported: write the value out"},
	{"hardware: {autoDetect: \"true\"}\n",
	 "1:24: key 'hardware.autoDetect': expected true or false, got \"true\" (quoted, so a string)"},
	{"networking: {peers: [{name: a, address: \"x:1\", port: 5}]}\n",
	 "1:48: unknown key 'networking.peers[0].port'"},
	{"storage: {}\nstorage: {}\n", "2:1: duplicate key 'storage' (first at line 1)"},
	{"? [a]\n: 1\n", "1:3: in '(top level)': a key must be a string, not a sequence"},
	{"hardware:\n  cpu: \377\n", "2:8: YAML syntax error: invalid leading UTF-8 octet"},
	{"- hardware\n", "1:1: expected a mapping at the top level, got a sequence"},
	{"hardware: {}\n---\nhardware: {}\n", "2:1: only one YAML document is allowed"},
};

static void test_errors(void)
{
	char path[128], want[512];
	snprintf(path, sizeof path, "%s/bad.yaml", tmp);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct exo_config c;
		struct exo_err e = {0};
		conf_init(&c);
		put(path, bad[i].yaml);
		snprintf(want, sizeof want, "%s:%s", path, bad[i].msg);
		int r = conf_load(&c, path, &e);
		ok(r == -1 && e.code == EXO_CONFIG && !strcmp(e.msg, want), "error %zu: %s", i, bad[i].msg);
		if (strcmp(e.msg, want))
			diag("got  %s (rc %d, code %d)", e.msg, r, e.code);
		conf_free(&c);
	}
}

static void test_edges(void)
{
	char path[128];
	struct exo_config c;
	struct exo_err e = {0};
	snprintf(path, sizeof path, "%s/edge.yaml", tmp);
	conf_init(&c);
	put(path, "");
	ok(conf_load(&c, path, &e) == 0 && c.hardware.auto_detect, "an empty file: the defaults");
	put(path, "# only a comment\n---\n");
	ok(conf_load(&c, path, &e) == 0, "comments and an empty document: the defaults");
	put(path, "hardware:\nstorage: {modelCache: {maxSize: \"2K\"}}\nnetworking: {clusterKey: \"\"}\n");
	ok(conf_load(&c, path, &e) == 0 && c.storage.model_cache.max_size == 2048,
	   "empty section, quoted size, empty clusterKey");
	put(path, "hardware: {cuda: {devices: [3]}}\n");
	ok(conf_load(&c, path, &e) == 0 && c.hardware.cuda.devices.n == 1, "list set");
	put(path, "hardware: {cuda: {devices: [3, x]}}\n");
	ok(conf_load(&c, path, &e) == -1 && c.hardware.cuda.devices.n == 1 &&
	   c.hardware.cuda.devices.v[0] == 3, "a failed load keeps the old list");
	conf_free(&c);
}

/* Issue 23: input that used to cost without bound. */
static void test_hostile(void)
{
	char path[128], want[256];
	struct exo_config c;
	struct exo_err e = {0};
	conf_init(&c);
	is_int(conf_load(&c, "/dev/zero", &e), -1, "/dev/zero: refused, not read for ever");
	ok(e.code == EXO_CONFIG && strstr(e.msg, "/dev/zero: larger than 1024 KiB"), "naming the file and the limit");
	snprintf(path, sizeof path, "%s/deep.yaml", tmp);
	FILE *f = fopen(path, "w");
	fputs("hardware: ", f);
	for (int i = 0; i < 100000; i++)
		fputc('[', f);
	for (int i = 0; i < 100000; i++)
		fputc(']', f);
	fputc('\n', f);
	fclose(f);
	snprintf(want, sizeof want, "%s:1:42: nested deeper than 32 levels", path);
	is_int(conf_load(&c, path, &e), -1, "100,000 nested sequences: refused");
	is_str(e.msg, want, "at the level past the limit");
	snprintf(path, sizeof path, "%s/big.yaml", tmp);
	f = fopen(path, "w");
	for (int i = 0; i < 100000; i++)
		fputs("# a comment\n", f);
	fclose(f);
	is_int(conf_load(&c, path, &e), -1, "a file over 1 MiB, if only comments: refused");
	put(path, "networking:\n  peers:\n    - {name: a, add\n\n\n      x}\n");
	is_int(conf_load(&c, path, &e), -1, "an unknown key spanning lines: refused");
	ok(!strchr(e.msg, '\n') && strstr(e.msg, "unknown key 'networking.peers[0].add"),
	   "in one line: %s", e.msg);
	conf_free(&c);
}

static void test_parsers(void)
{
	uint64_t n = 0;
	char host[64];
	int port = -1;
	ok(conf_parse_size("1024", &n) == 0 && n == 1024, "size: plain bytes");
	ok(conf_parse_size("1K", &n) == 0 && n == 1024, "size: K is 1024");
	ok(conf_parse_size("3m", &n) == 0 && n == 3ULL << 20, "size: lower-case suffix");
	ok(conf_parse_size("2T", &n) == 0 && n == 2ULL << 40, "size: T");
	ok(conf_parse_size("16777216T", &n) == -1, "size: overflow refused");
	ok(conf_parse_size("-1", &n) == -1 && conf_parse_size("", &n) == -1, "size: negative, empty refused");
	ok(conf_parse_size("5KB", &n) == -1 && conf_parse_size("1.5G", &n) == -1, "size: 5KB, 1.5G refused");
	ok(conf_parse_addr("[::1]:80", 1, host, sizeof host, &port) == 0 && !strcmp(host, "::1") && port == 80,
	   "addr: IPv6 in brackets");
	ok(conf_parse_addr("node2:52416", 1, host, sizeof host, &port) == 0 && !strcmp(host, "node2"),
	   "addr: a name");
	ok(conf_parse_addr("h:0", 1, NULL, 0, NULL) == -1 && conf_parse_addr("h:0", 0, NULL, 0, NULL) == 0,
	   "addr: port 0 only where allowed");
	ok(conf_parse_addr("::1:80", 0, NULL, 0, NULL) == -1, "addr: bare IPv6 refused");
	ok(conf_parse_addr(":80", 0, NULL, 0, NULL) == -1 && conf_parse_addr("h:", 0, NULL, 0, NULL) == -1,
	   "addr: empty host or port refused");
	is_int(conf_accel_parse("intel"), CONF_INTEL, "accel: intel");
	is_int(conf_accel_parse("CUDA"), -1, "accel: names are lower case");
}

int main(void)
{
	snprintf(tmp, sizeof tmp, "/tmp/exo-conf.XXXXXX");
	if (!mkdtemp(tmp)) {
		perror("mkdtemp");
		return 1;
	}
	test_defaults();
	test_hostile();
	test_full();
	test_search();
	test_load_env();
	test_errors();
	test_edges();
	test_parsers();
	nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return done_testing();
}
