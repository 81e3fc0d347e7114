/* `exo-validate records [FILE...]`: any stream of exo records checked
 * against exo-wire(5): kinds, versions, required fields and their types.
 * Every record that breaks its schema is reported with its index and the
 * stream goes on; a stream that cannot be decoded stops at that point. */
#include "util/file.h"
#include "validate/reference.h"
#include "cmd/validate/subcommand.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct tally {
	size_t records, bad;
	json_t *kinds;   /* kind -> count */
};

static void check_stream(const char *source, const char *buf, size_t len, enum rec_format f,
			 struct vcheck_out *out, struct tally *t)
{
	if (f == REC_AUTO)
		f = rec_sniff_format(buf, len);
	struct rec_reader *r = rec_reader_open_mem(buf, len, source, f);
	rec_reader_set_lenient(r, 1);
	json_t *rec;
	struct exo_err e;
	int rc;
	while ((rc = rec_reader_next(r, &rec, &e)) > 0) {
		t->records++;
		const char *kind = rec_kind(rec) ? rec_kind(rec) : "(none)";
		json_object_set_new(t->kinds, kind, json_integer(json_integer_value(json_object_get(t->kinds, kind)) + 1));
		if (rc == 2) {
			t->bad++;
			json_t *c = vcheck_new(source, "records.schema", "fail", e.msg);
			json_object_set_new(c, "index", json_integer((json_int_t)rec_reader_index(r) - 1));
			vcheck_emit(out, c);
		}
		json_decref(rec);
	}
	if (rc < 0) {
		t->bad++;
		json_t *c = vcheck_new(source, "records.decode", "fail", e.msg);
		json_object_set_new(c, "index", json_integer((json_int_t)rec_reader_index(r)));
		vcheck_emit(out, c);
	}
	rec_reader_close(r);
}

static const char usage_text[] =
	"usage: exo-validate records [FILE...] [--format msgpack|json|yaml] [-o FORMAT] [-q]\n";

int validate_records(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"format", required_argument, NULL, 'f'}, {"output", required_argument, NULL, 'o'},
		{"quiet", no_argument, NULL, 'q'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
	enum rec_format in = REC_AUTO, format = REC_AUTO;
	int c;
	while ((c = getopt_long(argc, argv, "f:o:qh", longopts, NULL)) != -1) {
		switch (c) {
		case 'f':
			if ((int)(in = rec_format_parse(optarg)) < 0 || in == REC_TEXT)
				exo_errx(EXO_USAGE, "--format %s: expected msgpack, json or yaml", optarg);
			break;
		case 'o': format = rec_format_option(optarg); break;
		case 'q': break;
		case 'h': fputs(usage_text, stdout); exit(0);
		default: fputs(usage_text, stderr); exit(EXO_USAGE);
		}
	}
	struct vcheck_out out;
	vcheck_open(&out, format);
	struct tally t = {.kinds = json_object()};
	for (int i = optind; i < argc || i == optind; i++) {
		const char *path = i < argc ? argv[i] : NULL;
		size_t len;
		struct exo_err e = {0};
		char *buf = file_read_all(path ? path : "/dev/stdin", &len, &e);
		if (!buf)
			exo_die(&e);
		check_stream(path ? path : "stdin", buf, len, in, &out, &t);
		free(buf);
	}
	char msg[256];
	snprintf(msg, sizeof msg, "%zu record(s), %zu with faults", t.records, t.bad);
	json_t *sum = vcheck_new(argc > optind ? argv[optind] : "stdin", "records.summary",
				 t.bad ? "fail" : "ok", msg);
	json_object_set_new(sum, "kinds", t.kinds);
	vcheck_emit(&out, sum);
	return vcheck_close(&out, vcheck_status(&out));
}
