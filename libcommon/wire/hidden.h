/* The hidden-state block of a `forward` frame (man/exo-wire.5): what one
 * stage hands the next.  A msgpack map
 *   {"op": "forward", "session": u64, "pos": int, "dtype": "f32"|"f16"|"bf16",
 *    "shape": [n, hidden], "data": bin (n*hidden values, little-endian)}
 * f16 and bf16 halve the bytes on the link at a measured cost in accuracy. */
#ifndef EXO_WIRE_HIDDEN_H
#define EXO_WIRE_HIDDEN_H
#include <stddef.h>
#include <stdint.h>
#include "util/err.h"

struct wire_hidden {
	uint64_t session;
	int pos;
	int dtype;          /* KD_F32, KD_F16 or KD_BF16 */
	size_t n, hidden;
};

/* Encode into a malloc'd buffer (*buf, *len). */
int wire_hidden_pack(const struct wire_hidden *h, const float *x, char **buf, size_t *len,
		     struct exo_err *e);
/* Decode a frame body; x receives n*hidden floats (at most cap). */
int wire_hidden_unpack(const char *buf, size_t len, struct wire_hidden *h, float *x, size_t cap,
		       struct exo_err *e);
#endif
