/* What every exo-validate subcommand does at its ends: read the records it
 * checks, and close its output, exiting on the errors of either. */
#include "cmd/validate/subcommand.h"
#include "records/record.h"
#include "util/err.h"
#include "util/file.h"

#include <stdlib.h>

int vcheck_close(struct vcheck_out *out, int status)
{
	if (rec_writer_close(out->w, &out->err) < 0 || out->failed_write)
		exo_errx(EXO_IOERR, "stdout: %s", out->err.msg);
	return status;
}

json_t *vread_records(const char *path)
{
	size_t len;
	struct exo_err e = {0};
	char *buf = file_read_all(path ? path : "/dev/stdin", &len, &e);
	if (!buf)
		exo_die(&e);
	struct rec_reader *r = rec_reader_open_mem(buf, len, path ? path : "stdin", rec_sniff_format(buf, len));
	json_t *all = json_array(), *rec;
	int rc;
	while ((rc = rec_reader_next(r, &rec, &e)) == 1)
		json_array_append_new(all, rec);
	rec_reader_close(r);
	free(buf);
	if (rc < 0)
		exo_die(&e);
	return all;
}
