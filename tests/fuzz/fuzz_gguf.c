/* libFuzzer target for the GGUF reader (model/gguf.c): whatever the bytes,
 * gguf_parse refuses cleanly or returns key/values and tensors that lie
 * inside the buffer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "model/gguf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct exo_err e;
	struct gguf_file *f = gguf_parse(data, size, "fuzz.gguf", &e);
	if (!f)
		return 0;
	for (size_t i = 0; i < f->n_tensors; i++) {
		const struct gguf_tensor *t = &f->tensors[i];
		const uint8_t *p = t->data;
		if (p < data || p > data + size || t->bytes > (size_t)(data + size - p))
			abort();
	}
	for (size_t i = 0; i < f->n_kvs; i++) {
		const struct gguf_kv *kv = &f->kvs[i];
		for (uint64_t j = 0; kv->strs && j < kv->n; j++)
			if ((const uint8_t *)kv->strs[j].p < data ||
			    kv->strs[j].len > (size_t)(data + size - (const uint8_t *)kv->strs[j].p))
				abort();
	}
	gguf_close(f);
	return 0;
}
