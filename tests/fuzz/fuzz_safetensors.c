/* libFuzzer target for the safetensors header parser.  The first 8 bytes
 * give the size of the data section the header describes (as a file's
 * length would), the rest is the header JSON.  Whatever the bytes, the
 * parser must refuse cleanly or return tensors that lie inside the data
 * section without overlapping one another. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "model/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 8)
		return 0;
	uint64_t data_size;
	memcpy(&data_size, data, 8);
	data_size &= 0xffffffffull;
	struct st_file *f = calloc(1, sizeof *f);
	f->fd = -1;
	f->path = strdup("fuzz.safetensors");
	struct exo_err e;
	if (st_parse_header(f, (const char *)data + 8, size - 8, data_size, &e) == 0) {
		for (size_t i = 0; i < f->n_tensors; i++) {
			const struct st_tensor *t = &f->tensors[i];
			if (t->offset > data_size || t->bytes > data_size - t->offset)
				abort();
			for (size_t j = 0; j < i; j++) {
				const struct st_tensor *u = &f->tensors[j];
				if (t->bytes && u->bytes && t->offset < u->offset + u->bytes && u->offset < t->offset + t->bytes)
					abort();
			}
		}
	}
	st_close(f);
	return 0;
}
