/* Input records for the planner: every file (or stdin) read whole, its
 * format told by its first byte (a msgpack map, '{' or '[' for JSON, else
 * YAML), each record checked against its schema by the reader.  More node
 * records than a plan may hold stop the reading at the first one too many. */
#include "planner/input.h"
#include "planner/planner.h"
#include "util/file.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int read_one(struct plan_input *in, const char *path, struct exo_err *e)
{
	size_t len = 0;
	const char *source = strcmp(path, "-") == 0 ? "stdin" : path;
	char *buf = file_read_all(path, &len, e);
	if (!buf)
		return -1;
	struct rec_reader *r = rec_reader_open_mem(buf, len, source, rec_sniff_format(buf, len));
	json_t *rec;
	int rc;
	size_t in_file = 0;
	while ((rc = rec_reader_next(r, &rec, e)) == 1) {
		in_file++;
		in->records = xrealloc(in->records, (in->n + 1) * sizeof *in->records);
		in->records[in->n++] = rec;
		const char *kind = json_string_value(json_object_get(rec, "kind"));
		if (kind && strcmp(kind, "node") == 0 && ++in->n_nodes > PLAN_MAX_UNITS) {
			rc = exo_error(e, EXO_DATAERR, "%s: record %zu: more than %d node records: at most "
				       "%d can be planned", source, in_file - 1, PLAN_MAX_UNITS, PLAN_MAX_UNITS);
			break;
		}
	}
	rec_reader_close(r);
	free(buf);
	return rc;
}

int plan_input_read(struct plan_input *in, char *const *paths, size_t n, struct exo_err *e)
{
	static char *const dash[] = { "-" };
	memset(in, 0, sizeof *in);
	if (n == 0)
		paths = dash, n = 1;
	for (size_t i = 0; i < n; i++)
		if (read_one(in, paths[i], e) < 0) {
			plan_input_free(in);
			return -1;
		}
	return 0;
}

const json_t *plan_input_find(const struct plan_input *in, const char *kind)
{
	for (size_t i = 0; i < in->n; i++) {
		const char *k = json_string_value(json_object_get(in->records[i], "kind"));
		if (k && strcmp(k, kind) == 0)
			return in->records[i];
	}
	return NULL;
}

void plan_input_free(struct plan_input *in)
{
	for (size_t i = 0; i < in->n; i++)
		json_decref(in->records[i]);
	free(in->records);
	in->records = NULL;
	in->n = in->n_nodes = 0;
}
