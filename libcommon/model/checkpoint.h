/* A Hugging Face checkpoint: a directory (or a model id found in the HF cache)
 * with config.json and one or several safetensors files.  Files are opened
 * and mapped only when a tensor in them is asked for, so a stage maps only
 * the shards holding its layers. */
#ifndef EXO_MODEL_CHECKPOINT_H
#define EXO_MODEL_CHECKPOINT_H
#include <stddef.h>
#include <stdint.h>
#include "model/config.h"
#include "model/quant.h"
#include "model/safetensors.h"
#include "util/err.h"

struct ckpt;

/* model is a directory, or ORG/NAME[@REVISION] looked up in the HF cache
 * that every tool reads (hub_cache_location: exo.yaml's
 * storage.modelCache.path, else $HF_HUB_CACHE, $HF_HOME/hub,
 * ~/.cache/huggingface/hub). */
int ckpt_resolve(const char *model, char *dir, size_t dir_len, struct exo_err *e);
struct ckpt *ckpt_open(const char *model, struct exo_err *e);
const struct model_config *ckpt_config(const struct ckpt *c);
const char *ckpt_dir(const struct ckpt *c);
const struct model_quant *ckpt_quant(const struct ckpt *c);
/* The tensor, checked to have exactly the given shape (n_dims values).
 * Errors name the tensor and the file: missing, or shape mismatch.  An MLX
 * quantized weight (packed U32 with .scales and .biases beside it, checked
 * against config.json's quantization) comes back as one tensor of the
 * kernels' MLX type for that bits, group and scale type, of the unpacked
 * shape; it is joined in memory of the checkpoint's (released by
 * MADV_DONTNEED like a mapping, freed by ckpt_close). */
const struct st_tensor *ckpt_tensor(struct ckpt *c, const char *name, int n_dims,
				    const int64_t *shape, struct exo_err *e);
/* The file that holds name ("" when unknown). */
const char *ckpt_file_of(const struct ckpt *c, const char *name);
void ckpt_close(struct ckpt *c);
#endif
