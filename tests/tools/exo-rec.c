/* exo-rec: a test tool over the records library.  Reads records in one format
 * and writes them in another, checking each on the way:
 *   exo-rec [-i msgpack|json|yaml] [-o msgpack|json|yaml|text] [FILE]
 * Exit status 0, or 65 with the reader's one-line message on bad input. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "records/record.h"

static int format_arg(const char *s)
{
	int f = rec_format_parse(s);
	if (f < 0)
		exo_errx(EXO_USAGE, "unknown format '%s'", s);
	return f;
}

int main(int argc, char **argv)
{
	int in = REC_MSGPACK, out = REC_AUTO, c;
	exo_progname = "exo-rec";
	while ((c = getopt(argc, argv, "i:o:")) != -1) {
		if (c == 'i')
			in = format_arg(optarg);
		else if (c == 'o')
			out = format_arg(optarg);
		else
			exo_errx(EXO_USAGE, "usage: exo-rec [-i FORMAT] [-o FORMAT] [FILE]");
	}
	const char *path = optind < argc ? argv[optind] : "-";
	int fd = path[0] == '-' && !path[1] ? STDIN_FILENO : open(path, O_RDONLY);
	if (fd < 0)
		exo_errx(EXO_NOINPUT, "can't open %s", path);
	struct exo_err e = { 0 };
	struct rec_reader *r = rec_reader_open_format(fd, fd ? path : "stdin", (enum rec_format)in);
	struct rec_writer *w = rec_writer_open(STDOUT_FILENO, (enum rec_format)out);
	json_t *rec;
	int rc;
	while ((rc = rec_reader_next(r, &rec, &e)) == 1) {
		rc = rec_write(w, rec, &e);
		json_decref(rec);
		if (rc < 0)
			break;
	}
	rec_reader_close(r);
	if (rec_writer_close(w, rc < 0 ? NULL : &e) < 0 || rc < 0)
		exo_die(&e);
	return 0;
}
