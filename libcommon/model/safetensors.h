/* safetensors files: header parsed and checked, data mmapped read-only.
 * Offsets in the header count from the first byte after it; every tensor's
 * byte range must lie inside the file, not overlap another, and match its
 * dtype and shape. */
#ifndef EXO_MODEL_SAFETENSORS_H
#define EXO_MODEL_SAFETENSORS_H
#include <stddef.h>
#include <stdint.h>
#include "util/err.h"

#define ST_MAX_DIMS 4
/* U32: MLX's packed quantized weights (not a kernel type: model/checkpoint.c
 * joins them with their scales and biases into one). */
#define ST_U32 0x100

struct st_tensor {
	char *name;
	int dtype;              /* enum kern_dtype: KD_F32, KD_F16, KD_BF16; or ST_U32 */
	int n_dims;
	int64_t shape[ST_MAX_DIMS];
	size_t offset;          /* from the start of the data section */
	size_t bytes;
	const void *data;       /* into the mapping */
};

struct st_file {
	char *path;
	int fd;
	const unsigned char *map;
	size_t map_size;
	size_t data_start;      /* 8 + header length */
	struct st_tensor *tensors;
	size_t n_tensors;
};

/* Open and map path; check the header.  NULL on error (EXO_NOINPUT,
 * EXO_DATAERR naming the file, the tensor and the offset). */
struct st_file *st_open(const char *path, struct exo_err *e);
/* Parse a header held in memory (for the fuzzer and st_open): file_size is the
 * size of the data section that follows it. */
int st_parse_header(struct st_file *f, const char *json, size_t len, size_t data_size,
		    struct exo_err *e);
const struct st_tensor *st_find(const struct st_file *f, const char *name);
void st_close(struct st_file *f);
#endif
