/* config.json's MLX quantization block, parsed and checked. */
#include "model/quant.h"
#include "util/file.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool valid_bits(json_int_t b) { return b == 2 || b == 3 || b == 4 || b == 5 || b == 6 || b == 8; }
static bool valid_group(json_int_t g) { return g == 32 || g == 64 || g == 128; }

/* {group_size, bits, mode} of `where` (inheriting what it leaves out from base). */
static int parse_spec(json_t *o, const char *where, const struct model_qspec *base,
		      struct model_qspec *out, const char *src, struct exo_err *e)
{
	*out = base ? *base : (struct model_qspec){.quantized = true, .bits = 4, .group = 64};
	out->quantized = true;
	const char *mode = json_string_value(json_object_get(o, "mode"));
	if (json_object_get(o, "mode") && !mode)
		return exo_error(e, EXO_DATAERR, "%s: %s.mode: expected a string", src, where);
	if (mode && strcmp(mode, "affine") != 0)
		return exo_error(e, EXO_DATAERR, "%s: %s.mode: quantization mode %s is not supported "
				 "(only MLX's affine mode is)", src, where, mode);
	json_t *b = json_object_get(o, "bits"), *g = json_object_get(o, "group_size");
	if ((b && !json_is_integer(b)) || (g && !json_is_integer(g)))
		return exo_error(e, EXO_DATAERR, "%s: %s.%s: expected an integer", src, where,
				 b && !json_is_integer(b) ? "bits" : "group_size");
	if (b && !valid_bits(json_integer_value(b)))
		return exo_error(e, EXO_DATAERR, "%s: %s.bits: %lld is not supported (2, 3, 4, 5, 6 "
				 "or 8 are)", src, where, (long long)json_integer_value(b));
	if (g && !valid_group(json_integer_value(g)))
		return exo_error(e, EXO_DATAERR, "%s: %s.group_size: %lld is not supported (32, 64 "
				 "or 128 are)", src, where, (long long)json_integer_value(g));
	if (b)
		out->bits = (int)json_integer_value(b);
	if (g)
		out->group = (int)json_integer_value(g);
	return 0;
}

static int add_override(struct model_quant *q, const char *module, struct model_qspec spec,
			struct exo_err *e)
{
	struct model_quant_override *grown = realloc(q->overrides, (q->n_overrides + 1) * sizeof *grown);
	if (!grown)
		return exo_error(e, EXO_SOFTWARE, "out of memory");
	q->overrides = grown;
	if (!(grown[q->n_overrides].module = strdup(module)))
		return exo_error(e, EXO_SOFTWARE, "out of memory");
	grown[q->n_overrides++].spec = spec;
	return 0;
}

static int parse_block(struct model_quant *q, json_t *blk, const char *name, const char *src,
		       struct exo_err *e)
{
	if (parse_spec(blk, name, NULL, &q->base, src, e) < 0)
		return -1;
	const char *key;
	json_t *v;
	json_object_foreach(blk, key, v) {
		char where[512];
		snprintf(where, sizeof where, "%s.%s", name, key);
		struct model_qspec spec = {0};
		if (json_is_false(v)) {
			spec = q->base, spec.quantized = false;
		} else if (json_is_object(v)) {
			if (parse_spec(v, where, &q->base, &spec, src, e) < 0)
				return -1;
		} else {
			continue;  /* group_size, bits, mode and fields of other tools */
		}
		if (add_override(q, key, spec, e) < 0)
			return -1;
	}
	q->present = true;
	return 0;
}

int model_quant_parse(struct model_quant *q, const char *text, const char *src, struct exo_err *e)
{
	memset(q, 0, sizeof *q);
	json_error_t je;
	json_t *root = json_loads(text, 0, &je);
	if (!root)
		return exo_error(e, EXO_DATAERR, "%s:%d:%d: %s", src, je.line, je.column, je.text);
	/* mlx-lm writes both; a quantization_config with a quant_method is another
	 * tool's (awq, gptq...), which model/config.c judges. */
	const char *name = "quantization";
	json_t *blk = json_object_get(root, name);
	if (!json_is_object(blk)) {
		name = "quantization_config";
		blk = json_object_get(root, name);
		if (json_object_get(blk, "quant_method") || !(json_object_get(blk, "bits") || json_object_get(blk, "group_size") || json_object_get(blk, "mode")))
			blk = NULL;
	}
	int rc = json_is_object(blk) ? parse_block(q, blk, name, src, e) : 0;
	json_decref(root);
	if (rc < 0)
		model_quant_free(q);
	return rc;
}

int model_quant_load(struct model_quant *q, const char *dir, struct exo_err *e)
{
	char path[4200];
	snprintf(path, sizeof path, "%s/config.json", dir);
	memset(q, 0, sizeof *q);
	char *text = file_read_all(path, NULL, e);
	if (!text)
		return -1;
	int rc = model_quant_parse(q, text, path, e);
	free(text);
	return rc;
}

struct model_qspec model_quant_of(const struct model_quant *q, const char *module)
{
	for (size_t i = 0; i < q->n_overrides; i++)
		if (strcmp(q->overrides[i].module, module) == 0)
			return q->overrides[i].spec;
	return q->present ? q->base : (struct model_qspec){0};
}

void model_quant_describe(const struct model_quant *q, char *buf, size_t len)
{
	if (!q->present) {
		snprintf(buf, len, "not quantized");
		return;
	}
	size_t differ = 0;
	for (size_t i = 0; i < q->n_overrides; i++) {
		const struct model_qspec *s = &q->overrides[i].spec;
		differ += s->quantized != q->base.quantized || s->bits != q->base.bits ||
			  s->group != q->base.group;
	}
	int n = snprintf(buf, len, "MLX affine quantization: bits %d, group_size %d (%.4g bits per "
			 "weight with 16-bit scales and biases)", q->base.bits, q->base.group,
			 q->base.bits + 32.0 / q->base.group);
	if (differ && n > 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, "; %zu module(s) overridden", differ);
}

void model_quant_free(struct model_quant *q)
{
	for (size_t i = 0; i < q->n_overrides; i++)
		free(q->overrides[i].module);
	free(q->overrides);
	q->overrides = NULL;
	q->n_overrides = 0;
}
