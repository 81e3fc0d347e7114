/* Schemas of the record kinds, as data: for each kind its fields, their
 * types, which are required, and the fields of nested objects and of the
 * objects in arrays.  Required fields are few so that tools can add optional
 * ones; every known field that is present is type-checked; unknown fields
 * and unknown kinds pass.  man/exo-wire.5 documents this table. */
#include "records/rec_int.h"

#include <stdbool.h>
#include <string.h>

enum ftype { F_STR, F_INT, F_NUM, F_BOOL, F_ARR, F_OBJ };

struct field {
	const char *name;
	enum ftype type;
	bool required;
	enum ftype elem;              /* arrays: the type of every item */
	const struct field *sub;      /* objects, or arrays of objects: their fields */
	const char *const *choices;   /* strings: the allowed values, NULL-terminated */
};

#define REQ(n, t)      { .name = n, .type = t, .required = true }
#define OPT(n, t)      { .name = n, .type = t }
#define ARR(n, t)      { .name = n, .type = F_ARR, .elem = t }
#define ARR_OF(n, s, r) { .name = n, .type = F_ARR, .elem = F_OBJ, .sub = s, .required = r }
#define OBJ(n, s)      { .name = n, .type = F_OBJ, .sub = s }
#define END            { .name = NULL }

static const struct field cpu_fields[] = {
	OPT("model", F_STR), OPT("vendor", F_STR), OPT("sockets", F_INT), OPT("cores", F_INT),
	OPT("threads", F_INT), ARR("isa", F_STR), OPT("freq_hz", F_NUM), OPT("flops", F_NUM),
	END,
};
static const struct field gpu_fields[] = {
	OPT("index", F_INT), OPT("name", F_STR), OPT("vendor", F_STR), OPT("backend", F_STR),
	OPT("mem_total", F_INT), OPT("mem_available", F_INT), OPT("compute_capability", F_STR),
	OPT("flops", F_NUM), OPT("mem_bandwidth", F_NUM), OPT("driver", F_STR), END,
};
static const struct field node_fields[] = {
	REQ("name", F_STR), REQ("arch", F_STR), REQ("mem_total", F_INT),
	OPT("os", F_STR), OPT("mem_available", F_INT), OBJ("cpu", cpu_fields),
	ARR_OF("gpus", gpu_fields, false), ARR("addresses", F_STR), OPT("mem_bandwidth", F_NUM),
	OPT("flops", F_NUM), OPT("compatible", F_BOOL), OPT("verdict", F_STR), OPT("time", F_NUM),
	OPT("bench", F_OBJ), END,
};
static const struct field model_file_fields[] = {
	REQ("name", F_STR), OPT("size", F_INT), OPT("sha256", F_STR), OPT("blob_id", F_STR), END,
};
static const struct field model_fields[] = {
	REQ("id", F_STR), REQ("architecture", F_STR), REQ("layers", F_INT),
	OPT("revision", F_STR), OPT("path", F_STR), OPT("dtype", F_STR), OPT("hidden", F_INT),
	OPT("intermediate", F_INT), OPT("heads", F_INT), OPT("kv_heads", F_INT),
	OPT("vocab", F_INT), OPT("context", F_INT), OPT("bytes_per_layer", F_INT),
	OPT("embed_bytes", F_INT), OPT("head_bytes", F_INT), OPT("kv_bytes_per_token", F_INT),
	OPT("total_bytes", F_INT), OPT("tied_embeddings", F_BOOL), OPT("head_dim", F_INT),
	OPT("experts", F_INT), OPT("experts_per_token", F_INT), OPT("expert_bytes_per_layer", F_INT),
	ARR_OF("files", model_file_fields, false), OPT("layer_start", F_INT), OPT("layer_end", F_INT), END,
};
static const struct field bench_fields[] = {
	REQ("suite", F_STR), REQ("name", F_STR), REQ("value", F_NUM),
	OPT("node", F_STR), OPT("model", F_STR), OPT("min", F_NUM), OPT("median", F_NUM),
	OPT("max", F_NUM), OPT("samples", F_INT), OPT("seconds", F_NUM), OPT("threads", F_INT),
	OPT("stage", F_INT), OPT("bytes", F_INT), OPT("array_bytes", F_INT), OPT("size", F_INT),
	OPT("rows", F_INT), OPT("cols", F_INT), OPT("dtype", F_STR), OPT("kernels", F_STR),
	OPT("file", F_STR), OPT("method", F_STR), OPT("tokens", F_INT), OPT("batch", F_INT),
	OPT("peer", F_STR), OPT("encrypted", F_BOOL), OPT("llc_bytes", F_INT),
	OPT("sized_by", F_STR), END,
};
static const char *const sources[] = { "measured", "detected", "estimated", "default", NULL };
static const struct field stage_fields[] = {
	REQ("index", F_INT), REQ("node", F_STR), REQ("layer_start", F_INT), REQ("layer_end", F_INT),
	OPT("address", F_STR), OPT("device", F_STR), OPT("bytes", F_INT), OPT("kv_bytes", F_INT),
	OPT("seconds_per_token", F_NUM), OPT("activation_bytes", F_INT), OPT("memory", F_INT),
	OPT("bandwidth", F_NUM), { .name = "bandwidth_source", .type = F_STR, .choices = sources },
	{ .name = "rtt_source", .type = F_STR, .choices = sources }, END,
};
static const struct field plan_fields[] = {
	REQ("model", F_STR), REQ("strategy", F_STR), REQ("layers", F_INT),
	ARR_OF("stages", stage_fields, true), OPT("revision", F_STR), OPT("dtype", F_STR),
	OPT("context", F_INT), OPT("tokens_per_s", F_NUM), OPT("seconds_per_token", F_NUM),
	OPT("path", F_STR), OPT("sessions", F_INT), OPT("aggregate_tokens_per_s", F_NUM),
	OPT("hop_seconds", F_NUM), ARR("notes", F_STR), END,
};
static const char *const levels[] = { "ok", "warn", "fail", NULL };
static const struct field check_kind_fields[] = {
	REQ("subject", F_STR), { .name = "level", .type = F_STR, .required = true, .choices = levels },
	REQ("message", F_STR), OPT("code", F_STR), OPT("detail", F_STR), END,
};
static const struct field error_fields[] = {
	REQ("code", F_STR), REQ("message", F_STR), OPT("status", F_INT), OPT("source", F_STR),
	OPT("stage", F_INT), END,
};

static const struct schema {
	const char *kind;
	const struct field *fields;
} schemas[] = {
	{ "node", node_fields }, { "model", model_fields }, { "bench", bench_fields },
	{ "plan", plan_fields }, { "check", check_kind_fields }, { "error", error_fields },
};

#define STR_(x) #x
#define STR(x) STR_(x)
#define REC_VERSION_STR STR(REC_VERSION)

static const char *const type_names[] = {
	[F_STR] = "string", [F_INT] = "integer", [F_NUM] = "real or integer",
	[F_BOOL] = "bool", [F_ARR] = "array", [F_OBJ] = "object",
};

static bool type_ok(enum ftype t, const json_t *v)
{
	switch (t) {
	case F_STR: return json_is_string(v);
	case F_INT: return json_is_integer(v);
	case F_NUM: return json_is_number(v);
	case F_BOOL: return json_is_boolean(v);
	case F_ARR: return json_is_array(v);
	default: return json_is_object(v);
	}
}

/* Where a message points: source, record index and kind. */
struct where {
	const char *source, *kind;
	size_t index;
	struct exo_err *e;
};

static int fail(const struct where *w, const char *path, const char *fmt, const char *a,
		const char *b)
{
	char what[512];
	snprintf(what, sizeof what, fmt, a, b);
	if (w->kind)
		exo_error(w->e, EXO_DATAERR, "%s: record %zu (%s): field '%s': %s", w->source,
			  w->index, w->kind, path, what);
	else
		exo_error(w->e, EXO_DATAERR, "%s: record %zu: field '%s': %s", w->source, w->index,
			  path, what);
	if (w->e)
		rec_msg_clean(w->e->msg);
	return -1;
}

static int check_fields(const struct where *w, const struct field *f, const json_t *obj,
			const char *prefix);

static int check_choice(const struct where *w, const struct field *f, const json_t *v,
			const char *path)
{
	char set[128] = "";
	for (const char *const *c = f->choices; *c; c++) {
		if (strcmp(*c, json_string_value(v)) == 0)
			return 0;
		strncat(set, *set ? ", " : "", sizeof set - strlen(set) - 1);
		strncat(set, *c, sizeof set - strlen(set) - 1);
	}
	return fail(w, path, "expected one of %s, got '%s'", set, json_string_value(v));
}

static int check_array(const struct where *w, const struct field *f, const json_t *arr,
		       const char *path)
{
	size_t i;
	json_t *x;
	json_array_foreach(arr, i, x) {
		char item[256];
		if (snprintf(item, sizeof item, "%s[%zu]", path, i) >= (int)sizeof item)
			item[sizeof item - 2] = '~';  /* a truncated path still names the field */
		if (!type_ok(f->elem, x))
			return fail(w, item, "expected %s, got %s", type_names[f->elem], rec_type_name(x));
		if (f->sub && check_fields(w, f->sub, x, item) < 0)
			return -1;
	}
	return 0;
}

static int check_one(const struct where *w, const struct field *f, const json_t *v, const char *path)
{
	if (!type_ok(f->type, v))
		return fail(w, path, "expected %s, got %s", type_names[f->type], rec_type_name(v));
	if (f->choices)
		return check_choice(w, f, v, path);
	if (f->type == F_ARR)
		return check_array(w, f, v, path);
	if (f->type == F_OBJ && f->sub)
		return check_fields(w, f->sub, v, path);
	return 0;
}

static int check_fields(const struct where *w, const struct field *f, const json_t *obj,
			const char *prefix)
{
	for (; f->name; f++) {
		char path[256];
		if (snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "", f->name) >= (int)sizeof path)
			path[sizeof path - 2] = '~';  /* a truncated path still names the field */
		const json_t *v = json_object_get(obj, f->name);
		if (!v && f->required)
			return fail(w, path, "missing (required %s)", type_names[f->type], "");
		if (v && check_one(w, f, v, path) < 0)
			return -1;
	}
	return 0;
}

static int check_header(struct where *w, const json_t *rec)
{
	const json_t *kind = json_object_get(rec, "kind"), *v = json_object_get(rec, "v");
	if (!kind)
		return fail(w, "kind", "missing (required string)%s%s", "", "");
	if (!json_is_string(kind))
		return fail(w, "kind", "expected string, got %s%s", rec_type_name(kind), "");
	w->kind = json_string_value(kind);
	if (!v)
		return fail(w, "v", "missing (required integer)%s%s", "", "");
	if (!json_is_integer(v))
		return fail(w, "v", "expected integer, got %s%s", rec_type_name(v), "");
	if (json_integer_value(v) > REC_VERSION) {
		char got[32];
		snprintf(got, sizeof got, "%lld", (long long)json_integer_value(v));
		return fail(w, "v", "version %s is newer than this build reads (%s)", got, REC_VERSION_STR);
	}
	if (json_integer_value(v) < 1)
		return fail(w, "v", "expected a version of at least 1%s%s", "", "");
	return 0;
}

int rec_validate(const json_t *rec, const char *source, size_t index, struct exo_err *e)
{
	struct where w = { .source = source ? source : "input", .index = index, .e = e };
	if (!json_is_object(rec))
		return exo_error(e, EXO_DATAERR, "%s: record %zu: expected a map, got %s", w.source,
				 index, rec_type_name(rec));
	if (check_header(&w, rec) < 0)
		return -1;
	for (size_t i = 0; i < sizeof schemas / sizeof *schemas; i++)
		if (strcmp(schemas[i].kind, w.kind) == 0)
			return check_fields(&w, schemas[i].fields, rec, "");
	return 0;
}
