/* What the validate subcommands need to know about a model without running
 * it: its architecture and kind, its parameter count and what it needs in
 * memory at each weight type. */
#ifndef EXO_VALIDATE_FACTS_H
#define EXO_VALIDATE_FACTS_H
#include <stddef.h>
#include <stdint.h>
#include "util/err.h"

struct model_facts {
	char dir[4096];
	char architecture[128];
	int kind;                /* enum hw_kind, -1 unknown */
	double params;           /* counted from the safetensors headers, else estimated */
	double active_params;    /* what one token uses: params less the experts it does not */
	int params_counted;      /* 1: from the headers */
	uint64_t stored_bytes;   /* bytes of the safetensors files */
	int quantized;           /* 1: MLX quantized as stored (config.json's quantization) */
};

/* model: a directory or ORG/NAME[@REV]; reads config.json and the headers. */
int model_facts_load(const char *model, struct model_facts *f, struct exo_err *e);
/* Bytes of weights at FP16, INT8 and INT4 (Q8_0 / Q4_0 with their scales). */
uint64_t model_bytes_f16(const struct model_facts *f);
uint64_t model_bytes_q8(const struct model_facts *f);
uint64_t model_bytes_q4(const struct model_facts *f);
/* "1.2 GiB" into buf. */
const char *fmt_bytes(char *buf, size_t n, double bytes);
/* "1.24B", "35.2M", "240k" parameters into buf. */
const char *fmt_params(char *buf, size_t n, double params);
#endif
