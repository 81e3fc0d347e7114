/* Records, internal: what the reader, the writers and the schema share but
 * commands have no business calling.  Limits live here so that every format
 * refuses the same inputs. */
#ifndef EXO_RECORDS_REC_INT_H
#define EXO_RECORDS_REC_INT_H
#include <sys/types.h>
#include <msgpack.h>
#include "records/record.h"

/* msgpack-c's unpacker has a fixed stack of MSGPACK_EMBED_STACK_SIZE (32)
 * containers compiled into the library, so that a peer reading our records
 * with it can read them all; every format uses the same limit so that
 * whatever one reads, all of them can write and read back. */
#define REC_MAX_DEPTH 32
#define REC_MAX_BYTES ((size_t)64 << 20)

/* The one msgpack value in buf (len bytes, framed whole by the reader) to
 * json_t.  Errors say "field 'a.b[2]': ..." (the reader adds the source and
 * record index). */
json_t *rec_from_msgpack(const char *buf, size_t len, struct exo_err *e);
/* "string", "integer", "real", "bool", "array", "object", "null". */
const char *rec_type_name(const json_t *v);
/* Replace control characters (from keys and values quoted in a message) by
 * '?', so that every message stays one line. */
void rec_msg_clean(char *msg);
/* Objects and arrays nested at most max levels (the record itself is 1). */
int rec_depth_check(const json_t *v, int max, struct exo_err *e);

/* Text formats as bytes, for the writers. */
int rec_to_yaml(const json_t *rec, char **buf, size_t *len, struct exo_err *e);
int rec_to_text(const json_t *rec, char **buf, size_t *len, struct exo_err *e);

/* What a YAML plain scalar means: 0 string, else a json_t (caller owns it)
 * of the integer, real, bool or null it spells; the writer quotes strings for
 * which this returns non-NULL.  *err set for an integer out of range. */
json_t *rec_yaml_resolve(const char *s, size_t len, int *err);

/* The reader: one input (fd or memory) and one decoder behind it.  A
 * decoder's next() returns 1 with *out, 0 at the end, -1 with e filled with
 * the whole message (source and record index included). */
struct rec_reader {
	char *source;
	size_t index;          /* records returned so far: the next one's index */
	int fd;                /* -1 for memory input */
	const unsigned char *mem;
	size_t mem_len, mem_off;
	size_t max_read;       /* 0, or the most bytes one read may return */
	int failed;            /* sticky: the stream is unsynchronised after an error */
	int lenient;           /* schema faults returned as 2, not fatal */
	struct exo_err err;
	int (*next)(struct rec_reader *r, json_t **out, struct exo_err *e);
	void (*free)(struct rec_reader *r);
	void *state;
};
/* read(2) from the fd or copy from memory: bytes read, 0 at the end, -1 (errno). */
ssize_t rec_input_read(struct rec_reader *r, void *buf, size_t cap);
/* The whole rest of the input (at most REC_MAX_BYTES * 16), NUL-terminated. */
int rec_input_slurp(struct rec_reader *r, char **buf, size_t *len, struct exo_err *e);
/* Fill e with "SOURCE: record N: " and the message; returns -1. */
int rec_fail(const struct rec_reader *r, struct exo_err *e, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

int rec_msgpack_init(struct rec_reader *r);
int rec_json_init(struct rec_reader *r);
int rec_yaml_init(struct rec_reader *r);
#endif
