/* The configuration binder: one table lists every key of exo.yaml with its
 * type and the struct field it fills, and a walk of the libyaml document
 * applies it.  Every pair is checked, so an unknown, repeated or mistyped key
 * is an error naming FILE:LINE:COL and the key path, never skipped.
 *
 * libyaml resolves no types: numbers and booleans must be plain scalars
 * parsed here in full; a quoted "8" is a string and is refused where an
 * integer is expected (sizes and strings take either style).  Anchors and
 * aliases are refused by a first pass over the events, which still knows
 * where they were written (the document API replaces an alias with the node
 * it names and forgets its position). */
#include "config/bind.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

enum ktype {
	K_MAP, K_BOOL, K_INT, K_FRACTION, K_SIZE, K_PATH, K_URLPATH, K_ADDR,
	K_NAME, K_ACCEL, K_ACCEL_LIST, K_INT_LIST, K_CLEANUP, K_PEERS,
};

struct key {
	const char *name;
	enum ktype type;
	size_t off;              /* the field, from the base of the struct being filled */
	size_t size;             /* string fields: the buffer's size */
	const struct key *sub;   /* K_MAP: its keys; K_PEERS: a peer's keys */
	long min, max;           /* K_INT, K_INT_LIST: bounds; K_ADDR: lowest port */
	int empty_ok;            /* K_PATH: "" or nothing means none */
};

#define CF(m) .off = offsetof(struct exo_config, m)
#define CS(m) CF(m), .size = sizeof(((struct exo_config *)0)->m)
#define PS(m) .off = offsetof(struct conf_peer, m), .size = sizeof(((struct conf_peer *)0)->m)

static const struct key cuda_keys[] = {
	{.name = "devices", .type = K_INT_LIST, CF(hardware.cuda.devices), .max = 1023},
	{.name = "memoryFraction", .type = K_FRACTION, CF(hardware.cuda.memory_fraction)},
	{0},
};
static const struct key rocm_keys[] = {
	{.name = "devices", .type = K_INT_LIST, CF(hardware.rocm.devices), .max = 1023},
	{0},
};
static const struct key cpu_keys[] = {
	{.name = "threads", .type = K_INT, CF(hardware.cpu.threads), .max = 65536},
	{.name = "affinity", .type = K_INT_LIST, CF(hardware.cpu.affinity), .max = 65535},
	{0},
};
static const struct key memory_keys[] = {
	{.name = "hugepages", .type = K_BOOL, CF(hardware.memory.hugepages)},
	{0},
};
static const struct key hardware_keys[] = {
	{.name = "autoDetect", .type = K_BOOL, CF(hardware.auto_detect)},
	{.name = "detectionOrder", .type = K_ACCEL_LIST},
	{.name = "preferredAccelerator", .type = K_ACCEL, CF(hardware.preferred_accelerator)},
	{.name = "cuda", .type = K_MAP, .sub = cuda_keys},
	{.name = "rocm", .type = K_MAP, .sub = rocm_keys},
	{.name = "cpu", .type = K_MAP, .sub = cpu_keys},
	{.name = "memory", .type = K_MAP, .sub = memory_keys},
	{0},
};
static const struct key cache_keys[] = {
	{.name = "path", .type = K_PATH, CS(storage.model_cache.path)},
	{.name = "maxSize", .type = K_SIZE, CF(storage.model_cache.max_size)},
	{.name = "cleanupPolicy", .type = K_CLEANUP, CF(storage.model_cache.cleanup_policy)},
	{0},
};
static const struct key storage_keys[] = {
	{.name = "modelCache", .type = K_MAP, .sub = cache_keys},
	{0},
};
static const struct key peer_keys[] = {
	{.name = "name", .type = K_NAME, PS(name)},
	{.name = "address", .type = K_ADDR, PS(address), .min = 1},
	{0},
};
static const struct key networking_keys[] = {
	{.name = "listen", .type = K_ADDR, CS(networking.listen)},
	{.name = "api", .type = K_ADDR, CS(networking.api)},
	{.name = "clusterKey", .type = K_PATH, CS(networking.cluster_key), .empty_ok = 1},
	{.name = "peers", .type = K_PEERS, .sub = peer_keys},
	{0},
};
static const struct key prometheus_keys[] = {
	{.name = "enable", .type = K_BOOL, CF(monitoring.prometheus.enable)},
	{.name = "port", .type = K_INT, CF(monitoring.prometheus.port), .min = 1, .max = 65535},
	{.name = "path", .type = K_URLPATH, CS(monitoring.prometheus.path)},
	{0},
};
static const struct key monitoring_keys[] = {
	{.name = "prometheus", .type = K_MAP, .sub = prometheus_keys},
	{0},
};
static const struct key root_keys[] = {
	{.name = "hardware", .type = K_MAP, .sub = hardware_keys},
	{.name = "storage", .type = K_MAP, .sub = storage_keys},
	{.name = "networking", .type = K_MAP, .sub = networking_keys},
	{.name = "monitoring", .type = K_MAP, .sub = monitoring_keys},
	{0},
};

struct bind {
	const char *file;
	yaml_document_t *doc;
	struct exo_err *e;
	char path[512];          /* the key being bound: "networking.peers[1].address" */
};

static int bind_map(struct bind *b, const struct key *keys, yaml_node_t *n, char *base);

/* ---- reporting ---- */

static int fail_at(struct bind *b, const yaml_node_t *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail_at(struct bind *b, const yaml_node_t *n, const char *fmt, ...)
{
	char msg[800];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	/* a key or value quoted from the file may span lines: one line out */
	for (char *p = msg; *p; p++)
		if ((unsigned char)*p < 0x20)
			*p = ' ';
	return exo_error(b->e, EXO_CONFIG, "%.200s:%zu:%zu: %s", b->file,
			 n->start_mark.line + 1, n->start_mark.column + 1, msg);
}

static int is_plain(const yaml_node_t *n)
{
	return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

static const char *sval(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

/* YAML's null: an empty plain scalar, ~ or null. */
static int is_null(const yaml_node_t *n)
{
	if (!is_plain(n))
		return 0;
	const char *v = sval(n);
	return !*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") || !strcmp(v, "NULL");
}

/* How a value reads in a message: 'abc' (plain), "8" (quoted), a mapping, nothing.
 * Control bytes become '?' so a message stays on one line. */
static const char *shown(const yaml_node_t *n, char *buf, size_t sz)
{
	if (n->type == YAML_MAPPING_NODE)
		return "a mapping";
	if (n->type == YAML_SEQUENCE_NODE)
		return "a sequence";
	if (is_null(n))
		return "nothing";
	char v[48];
	size_t len = n->data.scalar.length, i;
	for (i = 0; i < len && i < 40; i++)
		v[i] = iscntrl((unsigned char)sval(n)[i]) ? '?' : sval(n)[i];
	v[i] = '\0';
	const char *more = len > 40 ? "..." : "";
	if (is_plain(n))
		snprintf(buf, sz, "'%s%s'", v, more);
	else
		snprintf(buf, sz, "\"%s%s\"", v, more);
	return buf;
}

static int expected(struct bind *b, const yaml_node_t *n, const char *what)
{
	char got[96];
	return fail_at(b, n, "key '%s': expected %s, got %s", b->path, what, shown(n, got, sizeof got));
}

/* For numbers and booleans, say why a quoted "8" is not one. */
static int expected_plain(struct bind *b, const yaml_node_t *n, const char *what)
{
	char got[96];
	const char *why = n->type == YAML_SCALAR_NODE && !is_plain(n) ? " (quoted, so a string)" : "";
	return fail_at(b, n, "key '%s': expected %s, got %s%s", b->path, what, shown(n, got, sizeof got), why);
}

/* ---- scalars ---- */

/* A string of any quoting style; NULL (and an error) for anything else. */
static const char *string_of(struct bind *b, const yaml_node_t *n, const char *what)
{
	if (n->type != YAML_SCALAR_NODE || is_null(n) || strlen(sval(n)) != n->data.scalar.length) {
		expected(b, n, what);
		return NULL;
	}
	return sval(n);
}

static int bind_bool(struct bind *b, yaml_node_t *n, bool *f)
{
	static const char *const yes[] = {"true", "True", "TRUE"}, *const no[] = {"false", "False", "FALSE"};
	for (int i = 0; is_plain(n) && i < 3; i++) {
		if (!strcmp(sval(n), yes[i]) || !strcmp(sval(n), no[i])) {
			*f = !strcmp(sval(n), yes[i]);
			return 0;
		}
	}
	return expected_plain(b, n, "true or false");
}

/* Decimal, consumed in full: "8", "-1"; not "8 threads", "0x8" or "". */
static int parse_long(const char *s, long *v)
{
	if (!isdigit((unsigned char)s[*s == '-' || *s == '+']))
		return -1;
	char *end;
	errno = 0;
	*v = strtol(s, &end, 10);
	return errno || *end ? -1 : 0;
}

static int int_in(struct bind *b, const struct key *k, yaml_node_t *n, int *out)
{
	char what[64];
	long v;
	if (is_plain(n) && parse_long(sval(n), &v) == 0 && v >= k->min && v <= k->max) {
		*out = (int)v;
		return 0;
	}
	snprintf(what, sizeof what, "an integer in %ld..%ld", k->min, k->max);
	return expected_plain(b, n, what);
}

static int bind_fraction(struct bind *b, yaml_node_t *n, double *f)
{
	const char *s = sval(n);
	char *end;
	if (is_plain(n) && *s && !isspace((unsigned char)*s)) {
		double v = strtod(s, &end);
		if (!*end && isfinite(v) && v > 0 && v <= 1) {
			*f = v;
			return 0;
		}
	}
	return expected_plain(b, n, "a number in (0,1]");
}

static int bind_size(struct bind *b, yaml_node_t *n, uint64_t *f)
{
	const char *what = "a size in bytes, or with suffix K, M, G or T (500G)";
	if (n->type == YAML_SCALAR_NODE && conf_parse_size(sval(n), f) == 0)
		return 0;
	return expected(b, n, what);
}

static int fits(struct bind *b, yaml_node_t *n, char *f, size_t size, const char *s)
{
	if (strlen(s) >= size)
		return fail_at(b, n, "key '%s': longer than %zu bytes", b->path, size - 1);
	strcpy(f, s);
	return 0;
}

/* Absolute, or starting with ~/ for the home directory. */
static int bind_path(struct bind *b, const struct key *k, yaml_node_t *n, char *f)
{
	const char *what = "an absolute path or one starting with ~/";
	if (k->empty_ok && (is_null(n) || (n->type == YAML_SCALAR_NODE && !*sval(n)))) {
		f[0] = '\0';
		return 0;
	}
	const char *s = string_of(b, n, what);
	if (!s)
		return -1;
	if (s[0] == '~' && (s[1] == '/' || !s[1])) {
		char full[PATH_MAX + 256];
		const char *home = conf_home();
		if (!home)
			return fail_at(b, n, "key '%s': cannot expand ~: no home directory", b->path);
		snprintf(full, sizeof full, "%s%s", home, s + 1);
		return fits(b, n, f, k->size, full);
	}
	if (s[0] != '/')
		return expected(b, n, what);
	return fits(b, n, f, k->size, s);
}

static int bind_urlpath(struct bind *b, const struct key *k, yaml_node_t *n, char *f)
{
	const char *what = "a URL path starting with '/'";
	const char *s = string_of(b, n, what);
	if (!s)
		return -1;
	for (const char *p = s; *p; p++)
		if (isspace((unsigned char)*p) || iscntrl((unsigned char)*p))
			return expected(b, n, what);
	return s[0] == '/' ? fits(b, n, f, k->size, s) : expected(b, n, what);
}

static int bind_addr(struct bind *b, const struct key *k, yaml_node_t *n, char *f)
{
	char what[80];
	snprintf(what, sizeof what, "host:port with port in %ld..65535", k->min);
	const char *s = string_of(b, n, what);
	if (!s)
		return -1;
	if (conf_parse_addr(s, (int)k->min, NULL, 0, NULL) < 0)
		return expected(b, n, what);
	return fits(b, n, f, k->size, s);
}

static int bind_name(struct bind *b, const struct key *k, yaml_node_t *n, char *f)
{
	const char *what = "a name of letters, digits, '.', '_' and '-'";
	const char *s = string_of(b, n, what);
	if (!s)
		return -1;
	for (const char *p = s; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("._-", *p))
			return expected(b, n, what);
	return *s ? fits(b, n, f, k->size, s) : expected(b, n, what);
}

static int accel_of(struct bind *b, yaml_node_t *n)
{
	int a = n->type == YAML_SCALAR_NODE ? conf_accel_parse(sval(n)) : -1;
	if (a < 0)
		expected(b, n, "one of mlx, cuda, rocm, intel, cpu");
	return a;
}

static int bind_cleanup(struct bind *b, yaml_node_t *n, enum conf_cleanup *f)
{
	if (n->type == YAML_SCALAR_NODE && !strcmp(sval(n), "lru")) {
		*f = CONF_CLEANUP_LRU;
		return 0;
	}
	return expected(b, n, "lru");
}

/* ---- sequences ---- */

static size_t push(struct bind *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static size_t push(struct bind *b, const char *fmt, ...)
{
	size_t mark = strlen(b->path);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(b->path + mark, sizeof b->path - mark, fmt, ap);
	va_end(ap);
	return mark;
}

/* The items of a sequence (nothing is an empty one); -1 for anything else. */
static long items(struct bind *b, yaml_node_t *n, yaml_node_item_t **first)
{
	if (is_null(n)) {
		*first = NULL;
		return 0;
	}
	if (n->type != YAML_SEQUENCE_NODE) {
		expected(b, n, "a sequence");
		return -1;
	}
	*first = n->data.sequence.items.start;
	return n->data.sequence.items.top - n->data.sequence.items.start;
}

static int twice(struct bind *b, yaml_node_t *n, size_t mark)
{
	int r = fail_at(b, n, "key '%s': '%s' is listed twice", b->path, sval(n));
	b->path[mark] = '\0';
	return r;
}

static int bind_accel_list(struct bind *b, yaml_node_t *n, struct exo_config *c)
{
	yaml_node_item_t *it;
	long count = items(b, n, &it);
	if (count < 0)
		return -1;
	if (count < 1 || count > CONF_ACCEL_N)
		return expected(b, n, "a list of 1 to 5 of mlx, cuda, rocm, intel, cpu");
	enum conf_accel order[CONF_ACCEL_N];
	for (long i = 0; i < count; i++) {
		yaml_node_t *in = yaml_document_get_node(b->doc, it[i]);
		size_t mark = push(b, "[%ld]", i);
		int a = accel_of(b, in);
		if (a < 0)
			return -1;
		for (long j = 0; j < i; j++)
			if (order[j] == (enum conf_accel)a)
				return twice(b, in, mark);
		order[i] = (enum conf_accel)a;
		b->path[mark] = '\0';
	}
	memcpy(c->hardware.detection_order, order, sizeof order);
	c->hardware.n_detection_order = (size_t)count;
	return 0;
}

static int fill_ints(struct bind *b, const struct key *k, yaml_node_item_t *it, long count, int *v)
{
	for (long i = 0; i < count; i++) {
		yaml_node_t *in = yaml_document_get_node(b->doc, it[i]);
		size_t mark = push(b, "[%ld]", i);
		if (int_in(b, k, in, &v[i]) < 0)
			return -1;
		for (long j = 0; j < i; j++)
			if (v[j] == v[i])
				return twice(b, in, mark);
		b->path[mark] = '\0';
	}
	return 0;
}

static int bind_int_list(struct bind *b, const struct key *k, yaml_node_t *n, struct conf_ints *f)
{
	yaml_node_item_t *it;
	long count = items(b, n, &it);
	if (count < 0)
		return -1;
	int *v = count ? calloc((size_t)count, sizeof *v) : NULL;
	if (count && !v)
		return exo_error(b->e, EXO_SOFTWARE, "%s: out of memory", b->file);
	if (fill_ints(b, k, it, count, v) < 0) {
		free(v);
		return -1;
	}
	free(f->v);
	f->v = v;
	f->n = (size_t)count;
	return 0;
}

static int check_peer(struct bind *b, yaml_node_t *n, struct conf_peer *peers, long i)
{
	if (!peers[i].name[0])
		return fail_at(b, n, "key '%s': missing 'name'", b->path);
	if (!peers[i].address[0])
		return fail_at(b, n, "key '%s': missing 'address'", b->path);
	for (long j = 0; j < i; j++)
		if (!strcmp(peers[j].name, peers[i].name))
			return fail_at(b, n, "key '%s': peer name '%s' is used twice", b->path, peers[i].name);
	return 0;
}

static int fill_peers(struct bind *b, const struct key *k, yaml_node_item_t *it, long count,
		      struct conf_peer *peers)
{
	for (long i = 0; i < count; i++) {
		yaml_node_t *in = yaml_document_get_node(b->doc, it[i]);
		size_t mark = push(b, "[%ld]", i);
		if (in->type != YAML_MAPPING_NODE)
			return expected(b, in, "a mapping {name, address}");
		if (bind_map(b, k->sub, in, (char *)&peers[i]) < 0 || check_peer(b, in, peers, i) < 0)
			return -1;
		b->path[mark] = '\0';
	}
	return 0;
}

static int bind_peers(struct bind *b, const struct key *k, yaml_node_t *n, struct exo_config *c)
{
	yaml_node_item_t *it;
	long count = items(b, n, &it);
	if (count < 0)
		return -1;
	struct conf_peer *peers = count ? calloc((size_t)count, sizeof *peers) : NULL;
	if (count && !peers)
		return exo_error(b->e, EXO_SOFTWARE, "%s: out of memory", b->file);
	if (fill_peers(b, k, it, count, peers) < 0) {
		free(peers);
		return -1;
	}
	free(c->networking.peers);
	c->networking.peers = peers;
	c->networking.n_peers = (size_t)count;
	return 0;
}

/* ---- mappings ---- */

static int bind_value(struct bind *b, const struct key *k, yaml_node_t *n, char *base)
{
	void *f = base + k->off;
	int a;
	switch (k->type) {
	case K_MAP:        return bind_map(b, k->sub, n, base);
	case K_BOOL:       return bind_bool(b, n, f);
	case K_INT:        return int_in(b, k, n, f);
	case K_FRACTION:   return bind_fraction(b, n, f);
	case K_SIZE:       return bind_size(b, n, f);
	case K_PATH:       return bind_path(b, k, n, f);
	case K_URLPATH:    return bind_urlpath(b, k, n, f);
	case K_ADDR:       return bind_addr(b, k, n, f);
	case K_NAME:       return bind_name(b, k, n, f);
	case K_CLEANUP:    return bind_cleanup(b, n, f);
	case K_INT_LIST:   return bind_int_list(b, k, n, f);
	case K_ACCEL_LIST: return bind_accel_list(b, n, (struct exo_config *)base);
	case K_PEERS:      return bind_peers(b, k, n, (struct exo_config *)base);
	case K_ACCEL:
		if ((a = accel_of(b, n)) < 0)
			return -1;
		*(enum conf_accel *)f = (enum conf_accel)a;
		return 0;
	}
	return 0;
}

/* Edit distance, ignoring case, for "did you mean": keys are short. */
static int distance(const char *s, const char *t)
{
	size_t ls = strlen(s), lt = strlen(t);
	int row[32];
	if (ls > 31 || lt > 31)
		return 99;
	for (size_t j = 0; j <= lt; j++)
		row[j] = (int)j;
	for (size_t i = 1; i <= ls; i++) {
		int diag = row[0];
		row[0] = (int)i;
		for (size_t j = 1; j <= lt; j++) {
			int up = row[j];
			int v = diag + (tolower((unsigned char)s[i - 1]) != tolower((unsigned char)t[j - 1]));
			v = up + 1 < v ? up + 1 : v;
			v = row[j - 1] + 1 < v ? row[j - 1] + 1 : v;
			row[j] = v;
			diag = up;
		}
	}
	return row[lt];
}

static int unknown(struct bind *b, const yaml_node_t *kn, const struct key *keys)
{
	const char *best = NULL;
	int bestd = 3;
	for (const struct key *k = keys; k->name; k++) {
		int d = distance(sval(kn), k->name);
		if (d < bestd && d < (int)strlen(k->name)) {
			bestd = d;
			best = k->name;
		}
	}
	if (best)
		return fail_at(b, kn, "unknown key '%s' (did you mean '%s'?)", b->path, best);
	return fail_at(b, kn, "unknown key '%s'", b->path);
}

static const yaml_node_t *earlier(struct bind *b, yaml_node_t *map, yaml_node_pair_t *p,
				  const yaml_node_t *kn)
{
	for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
		yaml_node_t *qk = yaml_document_get_node(b->doc, q->key);
		if (qk->type == YAML_SCALAR_NODE && qk->data.scalar.length == kn->data.scalar.length &&
		    !memcmp(qk->data.scalar.value, kn->data.scalar.value, kn->data.scalar.length))
			return qk;
	}
	return NULL;
}

static int bind_pair(struct bind *b, const struct key *keys, yaml_node_t *map,
		     yaml_node_pair_t *p, char *base)
{
	yaml_node_t *kn = yaml_document_get_node(b->doc, p->key);
	yaml_node_t *vn = yaml_document_get_node(b->doc, p->value);
	if (kn->type != YAML_SCALAR_NODE)
		return fail_at(b, kn, "in '%s': a key must be a string, not %s",
			       *b->path ? b->path : "(top level)", shown(kn, NULL, 0));
	size_t mark = push(b, "%s%.64s", *b->path ? "." : "", sval(kn));
	const yaml_node_t *first = earlier(b, map, p, kn);
	const struct key *k = keys;
	while (k->name && strcmp(k->name, sval(kn)))
		k++;
	int r;
	if (first)
		r = fail_at(b, kn, "duplicate key '%s' (first at line %zu)", b->path, first->start_mark.line + 1);
	else if (!k->name)
		r = unknown(b, kn, keys);
	else
		r = bind_value(b, k, vn, base);
	b->path[mark] = '\0';
	return r;
}

static int bind_map(struct bind *b, const struct key *keys, yaml_node_t *n, char *base)
{
	if (is_null(n))
		return 0;
	if (n->type != YAML_MAPPING_NODE)
		return expected(b, n, "a mapping");
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++)
		if (bind_pair(b, keys, n, p, base) < 0)
			return -1;
	return 0;
}

/* ---- the document ---- */

static yaml_mark_t mark_of(const char *buf, size_t len, size_t offset)
{
	yaml_mark_t m = {0};
	for (size_t i = 0; i < offset && i < len; i++) {
		m.column++;
		if (buf[i] == '\n') {
			m.line++;
			m.column = 0;
		}
	}
	return m;
}

static int syntax_error(const char *file, const yaml_parser_t *p, const char *buf, size_t len,
			struct exo_err *e)
{
	if (p->error == YAML_MEMORY_ERROR)
		return exo_error(e, EXO_SOFTWARE, "%s: out of memory", file);
	yaml_mark_t m = p->error == YAML_READER_ERROR ? mark_of(buf, len, p->problem_offset) : p->problem_mark;
	const char *problem = p->problem ? p->problem : "unknown error";
	if (p->context)
		return exo_error(e, EXO_CONFIG, "%.200s:%zu:%zu: YAML syntax error: %s (%s that starts at %zu:%zu)",
				 file, m.line + 1, m.column + 1, problem, p->context,
				 p->context_mark.line + 1, p->context_mark.column + 1);
	return exo_error(e, EXO_CONFIG, "%.200s:%zu:%zu: YAML syntax error: %s", file,
			 m.line + 1, m.column + 1, problem);
}

static int refuse_event(const char *file, const yaml_event_t *ev, int *docs, struct exo_err *e)
{
	const yaml_char_t *anchor = NULL;
	const char *what = "anchor '&";
	size_t line = ev->start_mark.line + 1, col = ev->start_mark.column + 1;
	switch (ev->type) {
	case YAML_ALIAS_EVENT:          anchor = ev->data.alias.anchor; what = "alias '*"; break;
	case YAML_SCALAR_EVENT:         anchor = ev->data.scalar.anchor; break;
	case YAML_SEQUENCE_START_EVENT: anchor = ev->data.sequence_start.anchor; break;
	case YAML_MAPPING_START_EVENT:  anchor = ev->data.mapping_start.anchor; break;
	case YAML_DOCUMENT_START_EVENT:
		if (++*docs > 1)
			return exo_error(e, EXO_CONFIG, "%.200s:%zu:%zu: only one YAML document is allowed",
					 file, line, col);
		break;
	default:
		break;
	}
	if (anchor)
		return exo_error(e, EXO_CONFIG, "%.200s:%zu:%zu: %s%.64s' is not supported: write the value out",
				 file, line, col, what, (const char *)anchor);
	return 0;
}

/* No key of exo.yaml nests deeper than a few levels; the parser's work
 * per token grows with the depth, so a file 40,000 levels deep took
 * seconds to refuse: it stops at this depth. */
#define CONF_MAX_DEPTH 32

/* First pass: syntax errors, anchors, aliases, extra documents and nesting
 * deeper than CONF_MAX_DEPTH. */
static int scan(const char *file, const char *buf, size_t len, struct exo_err *e)
{
	yaml_parser_t p;
	yaml_event_t ev;
	int r = 0, docs = 0, depth = 0;
	if (!yaml_parser_initialize(&p))
		return exo_error(e, EXO_SOFTWARE, "%s: out of memory", file);
	yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);
	for (;;) {
		if (!yaml_parser_parse(&p, &ev)) {
			r = syntax_error(file, &p, buf, len, e);
			break;
		}
		yaml_event_type_t type = ev.type;
		r = refuse_event(file, &ev, &docs, e);
		if (type == YAML_SEQUENCE_START_EVENT || type == YAML_MAPPING_START_EVENT)
			depth++;
		else if (type == YAML_SEQUENCE_END_EVENT || type == YAML_MAPPING_END_EVENT)
			depth--;
		if (r == 0 && depth > CONF_MAX_DEPTH)
			r = exo_error(e, EXO_CONFIG, "%.200s:%zu:%zu: nested deeper than %d levels",
				      file, ev.start_mark.line + 1, ev.start_mark.column + 1,
				      CONF_MAX_DEPTH);
		yaml_event_delete(&ev);
		if (r < 0 || type == YAML_STREAM_END_EVENT)
			break;
	}
	yaml_parser_delete(&p);
	return r;
}

static int bind_root(struct bind *b, struct exo_config *c)
{
	yaml_node_t *root = yaml_document_get_root_node(b->doc);
	if (!root || is_null(root))
		return 0;   /* an empty file, or only comments: the defaults stand */
	if (root->type != YAML_MAPPING_NODE) {
		char got[96];
		return fail_at(b, root, "expected a mapping at the top level, got %s", shown(root, got, sizeof got));
	}
	return bind_map(b, root_keys, root, (char *)c);
}

int conf_bind_yaml(struct exo_config *c, const char *file, const char *buf, size_t len,
		   struct exo_err *e)
{
	if (scan(file, buf, len, e) < 0)
		return -1;
	yaml_parser_t p;
	yaml_document_t doc;
	if (!yaml_parser_initialize(&p))
		return exo_error(e, EXO_SOFTWARE, "%s: out of memory", file);
	yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);
	if (!yaml_parser_load(&p, &doc)) {
		int r = syntax_error(file, &p, buf, len, e);
		yaml_parser_delete(&p);
		return r;
	}
	struct bind b = {.file = file, .doc = &doc, .e = e};
	int r = bind_root(&b, c);
	yaml_document_delete(&doc);
	yaml_parser_delete(&p);
	return r;
}
