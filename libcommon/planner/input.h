/* The planner's input: node, bench and model records from files or stdin,
 * in msgpack, JSON or YAML (told apart by the first byte). */
#ifndef EXO_PLANNER_INPUT_H
#define EXO_PLANNER_INPUT_H
#include <jansson.h>
#include <stddef.h>
#include "records/record.h"
#include "util/err.h"

struct plan_input {
	json_t **records;
	size_t n;
	size_t n_nodes;     /* node records among them */
};

/* Read every path ("-" is stdin; none means stdin).  Errors: a missing file
 * (EXO_NOINPUT), a malformed record (EXO_DATAERR naming file, record, field),
 * more node records than PLAN_MAX_UNITS (EXO_DATAERR, at the first too many). */
int plan_input_read(struct plan_input *in, char *const *paths, size_t n, struct exo_err *e);
/* The first record of kind, or NULL. */
const json_t *plan_input_find(const struct plan_input *in, const char *kind);
void plan_input_free(struct plan_input *in);
#endif
