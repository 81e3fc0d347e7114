/* GGUF files (llama.cpp's checkpoint format, versions 2 and 3): the header,
 * every metadata key/value (arrays included) and the tensor infos, parsed
 * and checked; the file mapped read-only, so a stage touches only the pages
 * of the tensors it asks for.
 *
 * To the rest of exo a GGUF file is a Hugging Face checkpoint: this module
 * owns the translation.  gguf_hf_config() writes the config.json that
 * model_config_parse() reads, gguf_hf_tensor() finds a tensor by its
 * transformers name (model.layers.N.self_attn.q_proj.weight ...) with its
 * shape in transformers' order and the Q/K rows of Llama-family files put
 * back in transformers' rotate-half order, and tok_load() builds its
 * tokenizer from the file's tokenizer.ggml.* keys (tokenizer/gguf.c). */
#ifndef EXO_MODEL_GGUF_H
#define EXO_MODEL_GGUF_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "model/safetensors.h"
#include "util/err.h"

enum gguf_vtype {
	GGUF_U8, GGUF_I8, GGUF_U16, GGUF_I16, GGUF_U32, GGUF_I32, GGUF_F32, GGUF_BOOL,
	GGUF_STRING, GGUF_ARRAY, GGUF_U64, GGUF_I64, GGUF_F64, GGUF_VTYPE_COUNT
};

struct gguf_str {
	const char *p;          /* into the mapping: not NUL-terminated */
	size_t len;
};

struct gguf_kv {
	char *key;
	enum gguf_vtype type;
	union {
		uint64_t u;         /* U8 .. U64, BOOL */
		int64_t i;          /* I8 .. I64 */
		double f;           /* F32, F64 */
		struct gguf_str s;
	} v;
	/* ARRAY: elements of elem_type; n of them at data (fixed-size types),
	 * or, for strings, strs[0..n) */
	enum gguf_vtype elem_type;
	uint64_t n;
	const unsigned char *data;
	struct gguf_str *strs;
};

struct gguf_tensor {
	char *name;
	int n_dims;
	uint64_t ne[4];         /* ggml order: ne[0] is the contiguous (column) axis */
	uint32_t ggml_type;
	uint64_t offset;        /* from the data section */
	size_t bytes;
	const void *data;
};

struct gguf_file {
	char *path;
	uint32_t version;
	const unsigned char *map;
	size_t map_size;
	bool owns_map;          /* gguf_open's mapping, not gguf_parse's buffer */
	struct gguf_kv *kvs;
	size_t n_kvs;
	struct gguf_tensor *tensors;
	size_t n_tensors;
	size_t alignment, data_start;
	char arch[32];          /* general.architecture */
	/* tensors by their transformers names, made on demand */
	struct st_tensor **hf;
	size_t n_hf;
	struct { void *p; size_t len; } *copies;   /* Q/K rows put back in order */
	size_t n_copies;
};

/* True when path names a regular file ending in .gguf. */
bool gguf_is_file(const char *path);
/* Open, map and check path.  NULL on error (EXO_NOINPUT; EXO_DATAERR naming
 * the file and the key or tensor). */
struct gguf_file *gguf_open(const char *path, struct exo_err *e);
/* The same for bytes held in memory (the fuzzer); the buffer must outlive f. */
struct gguf_file *gguf_parse(const void *buf, size_t len, const char *name, struct exo_err *e);
void gguf_close(struct gguf_file *f);

const struct gguf_kv *gguf_get(const struct gguf_file *f, const char *key);
/* "ARCH.suffix", e.g. gguf_get_arch(f, "block_count") -> llama.block_count. */
const struct gguf_kv *gguf_get_arch(const struct gguf_file *f, const char *suffix);
/* A scalar integer (any integer type or bool) or real; false when absent or another type. */
bool gguf_kv_int(const struct gguf_kv *kv, int64_t *out);
bool gguf_kv_num(const struct gguf_kv *kv, double *out);
/* A string key as a NUL-terminated copy (malloc'd); NULL when absent or not a string. */
char *gguf_get_string(const struct gguf_file *f, const char *key);
const struct gguf_tensor *gguf_find(const struct gguf_file *f, const char *name);
/* ggml's name of a tensor type ("Q4_K"), or NULL for an unknown number. */
const char *gguf_type_name(uint32_t ggml_type);
/* The enum kern_dtype a ggml type is computed in, or -1. */
int gguf_kd_of(uint32_t ggml_type);

/* config.json for model_config_parse (a new reference). */
json_t *gguf_hf_config(const struct gguf_file *f, struct exo_err *e);
struct model_config;
/* The model's config from the file at path (model_config_load's for a .gguf). */
int gguf_model_config(struct model_config *c, const char *path, struct exo_err *e);
/* A tensor by its transformers name, shape in transformers' order (rows
 * first), dtype an enum kern_dtype.  Errors name the file and both names:
 * missing, or a type exo does not compute in. */
const struct st_tensor *gguf_hf_tensor(struct gguf_file *f, const char *hf_name, struct exo_err *e);
/* Tensor i's transformers name (into name) and shape, without its data
 * (the planner's sizes); false for a tensor with no transformers name. */
bool gguf_hf_info(const struct gguf_file *f, size_t i, char *name, size_t len, struct st_tensor *out);
/* Every tensor of the file has a type exo computes in and a known name;
 * otherwise one line naming the first that does not. */
int gguf_check_tensors(const struct gguf_file *f, struct exo_err *e);
#endif
