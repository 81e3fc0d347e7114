/* Check records, the answers of exo-validate: made by the checks of this
 * library, written by the subcommands (cmd/validate/) in the chosen format,
 * the worst level seen giving the exit status. */
#ifndef EXO_VALIDATE_VALIDATE_H
#define EXO_VALIDATE_VALIDATE_H
#include <jansson.h>
#include "records/record.h"
#include "util/err.h"

/* Where a subcommand's check records go: stdout in the chosen format. */
struct vcheck_out {
	struct rec_writer *w;
	int failed_write;
	int worst;              /* CHECK_OK, CHECK_WARN or CHECK_FAIL seen so far */
	struct exo_err err;
};
void vcheck_open(struct vcheck_out *out, enum rec_format format);
/* Writes the record and takes ownership of it; tracks the worst level. */
void vcheck_emit(void *out, json_t *check);
/* A check record {subject, code, level, message}; add fields, then emit. */
json_t *vcheck_new(const char *subject, const char *code, const char *level,
		   const char *message);
/* vcheck_new with a formatted message, emitted at once. */
void vcheck_emitf(struct vcheck_out *out, const char *subject, const char *code, const char *level,
		  const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* 0, 1 or 2 from the worst level emitted. */
int vcheck_status(const struct vcheck_out *out);
#endif
