/* Configuration: the operator's exo.yaml read into a plain struct.
 *
 * Layers, lowest first: the defaults of conf_init(), then one YAML file found
 * by conf_load(), then the command's flags, which the command assigns to the
 * struct's fields itself after conf_load().  The key tree is the one of
 * man/exo.yaml.5 (camelCase, as in the operators' NixOS modules); every key,
 * its type and its default are documented there.
 *
 * Strings live in fixed buffers so conf_init() cannot fail; only the lists
 * (device ids, CPU affinity, peers) are allocated, and conf_free() releases
 * them.  Errors are "FILE:LINE:COL: key 'a.b.c': what was expected, got what"
 * with 1-based positions and code EXO_CONFIG. */
#ifndef EXO_CONFIG_CONFIG_H
#define EXO_CONFIG_CONFIG_H
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "util/err.h"

#define CONF_ADDR_MAX 272   /* "host:port": a 253-byte DNS name, or [IPv6] */
#define CONF_NAME_MAX 64    /* a peer's name */
#define CONF_SYSTEM_PATH "/etc/exo/exo.yaml"

/* Accelerator families, in hardware.detectionOrder's default order. */
enum conf_accel { CONF_MLX, CONF_CUDA, CONF_ROCM, CONF_INTEL, CONF_CPU, CONF_ACCEL_N };

enum conf_cleanup { CONF_CLEANUP_LRU };

/* A list of integers (device ids, CPU numbers); empty means "all" or "none",
 * as the key's documentation says.  v is malloc'ed, owned by the config. */
struct conf_ints {
	int *v;
	size_t n;
};

struct conf_peer {
	char name[CONF_NAME_MAX];
	char address[CONF_ADDR_MAX];   /* "host:port", checked by conf_parse_addr() */
};

struct exo_config {
	char source[PATH_MAX];   /* the file conf_load() applied, "" for defaults only */
	struct {
		bool auto_detect;
		enum conf_accel detection_order[CONF_ACCEL_N];
		size_t n_detection_order;                 /* 1..CONF_ACCEL_N, no repeats */
		enum conf_accel preferred_accelerator;    /* used when !auto_detect */
		struct {
			struct conf_ints devices;         /* empty: every device */
			double memory_fraction;           /* in (0,1] */
		} cuda;
		struct {
			struct conf_ints devices;
		} rocm;
		struct {
			int threads;                      /* 0: one per online CPU */
			struct conf_ints affinity;        /* empty: no pinning */
		} cpu;
		struct {
			bool hugepages;
		} memory;
	} hardware;
	struct {
		struct {
			char path[PATH_MAX];              /* absolute, ~ expanded */
			uint64_t max_size;                /* bytes; 0: no limit */
			enum conf_cleanup cleanup_policy;
		} model_cache;
	} storage;
	struct {
		char listen[CONF_ADDR_MAX];               /* shard protocol, host:port */
		char api[CONF_ADDR_MAX];                  /* OpenAI API of the head stage; "": none */
		char cluster_key[PATH_MAX];               /* "": no key */
		struct conf_peer *peers;                  /* malloc'ed, n_peers of them */
		size_t n_peers;
	} networking;
	struct {
		struct {
			bool enable;
			int port;
			char path[256];                   /* URL path, starts with '/' */
		} prometheus;
	} monitoring;
};

/* Fill every field with its default.  The model cache defaults to the
 * Hugging Face cache: $HF_HUB_CACHE, else $HF_HOME/hub, else
 * ~/.cache/huggingface/hub. */
void conf_init(struct exo_config *c);
/* Release the lists; c may be NULL.  c is left as conf_init() makes it. */
void conf_free(struct exo_config *c);

/* Apply one configuration file to c.  path, when not NULL, is the file to read
 * (a --config flag); otherwise the first of $EXO_CONFIG,
 * $XDG_CONFIG_HOME/exo/exo.yaml (or ~/.config/exo/exo.yaml) and
 * /etc/exo/exo.yaml.  A file named by path or $EXO_CONFIG must exist; the
 * default locations may be missing (then c keeps its values and
 * c->source is "").  On error c is unchanged; returns 0 or -1 (EXO_CONFIG). */
int conf_load(struct exo_config *c, const char *path, struct exo_err *e);
/* conf_load() reading only the file at path (never searching). */
int conf_load_file(struct exo_config *c, const char *path, struct exo_err *e);

/* The file conf_load(c, NULL, e) would read, searching as it does but with
 * system_path in place of /etc/exo/exo.yaml (tests use a temporary one).
 * Returns 1 and fills out, 0 when none exists, -1 on error. */
int conf_find(char *out, size_t outsz, const char *system_path, struct exo_err *e);

/* Pin this process to hardware.cpu.affinity (nothing when it is empty);
 * threads started afterwards inherit it.  A CPU the process may not run on
 * is an error (EXO_CONFIG) naming the file and key. */
int conf_apply_affinity(const struct exo_config *c, struct exo_err *e);

/* Value parsers shared with the commands' flags; each returns 0 or -1
 * without a message (the caller names the flag or key). */
/* "123", "500G": an integer with an optional K, M, G or T suffix (powers of 1024). */
int conf_parse_size(const char *s, uint64_t *bytes);
/* "host:port" or "[v6addr]:port", port in min_port..65535; host and port may be NULL. */
int conf_parse_addr(const char *s, int min_port, char *host, size_t hostsz, int *port);
/* "cuda" -> CONF_CUDA; -1 for an unknown name. */
int conf_accel_parse(const char *s);
const char *conf_accel_name(enum conf_accel a);
#endif
