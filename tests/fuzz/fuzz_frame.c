/* libFuzzer target: the shard protocol decoder (net/proto.h) on arbitrary
 * bytes, as a frame body arrives from a peer.  A frame that decodes is
 * encoded again and must decode to the same op. */
#include "net/proto.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proto_msg m;
	struct exo_err e;
	if (proto_decode((const char *)data, size, &m, &e) == 0) {
		char *buf;
		size_t len;
		struct proto_msg again;
		if (m.op == PROTO_FORWARD && !m.tokens && m.data_len == 0)
			abort();
		if (proto_encode(&m, &buf, &len, &e) == 0) {
			if (proto_decode(buf, len, &again, &e) < 0 || again.op != m.op)
				abort();
			proto_msg_free(&again);
			free(buf);
		}
		proto_msg_free(&m);
	}
	return 0;
}
