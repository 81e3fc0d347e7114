/* MLX's quantization block of config.json (mlx-lm's `quantization`, copied
 * as `quantization_config`): the default bits and group size, the mode, and
 * per-module overrides keyed by module path ("model.layers.2.mlp.down_proj":
 * {group_size, bits} or false for a module left unquantized).  Which
 * tensors are quantized, and how, is model/checkpoint.c's business. */
#ifndef EXO_MODEL_QUANT_H
#define EXO_MODEL_QUANT_H
#include <stdbool.h>
#include <stddef.h>
#include "util/err.h"

struct model_qspec {
	bool quantized;
	int bits, group;
};

struct model_quant {
	bool present;                  /* config.json has an MLX quantization block */
	struct model_qspec base;
	struct model_quant_override { char *module; struct model_qspec spec; } *overrides;
	size_t n_overrides;
};

/* Parse dir/config.json's block (absent: present = false).  A mode other than
 * affine (mxfp4, nvfp4, mxfp8), bits outside 2, 3, 4, 5, 6, 8 or a group size
 * outside 32, 64, 128 is EXO_DATAERR naming the field and the value. */
int model_quant_load(struct model_quant *q, const char *dir, struct exo_err *e);
int model_quant_parse(struct model_quant *q, const char *json, const char *source, struct exo_err *e);
/* The spec of a module (its override, else the default). */
struct model_qspec model_quant_of(const struct model_quant *q, const char *module);
/* "4-bit affine, groups of 64 (4.5 bits per weight with 16-bit scales and
 * biases)"-style text, mentioning the overrides. */
void model_quant_describe(const struct model_quant *q, char *buf, size_t len);
void model_quant_free(struct model_quant *q);
#endif
