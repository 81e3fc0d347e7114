/* libFuzzer target for the record readers.  The first byte picks the format
 * (msgpack, JSON, YAML) and the read size, the rest is the stream.  Every
 * record decoded is written in every format, and the msgpack and JSON
 * encodings are read back and must re-encode to the same msgpack: a reader
 * must never crash, leak or accept what its own writers cannot reproduce.
 * A plan record goes through the plan codec too: what it encodes passes the
 * schema and decodes to itself. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "planner/planner.h"
#include "records/record.h"

static json_t *read_one(const char *buf, size_t len, enum rec_format f)
{
	struct exo_err e;
	json_t *rec = NULL;
	struct rec_reader *r = rec_reader_open_mem(buf, len, "fuzz", f);
	if (rec_reader_next(r, &rec, &e) != 1)
		abort();  /* what the writer wrote, the reader must read */
	rec_reader_close(r);
	return rec;
}

/* rec (as msgpack mp) written in format f and read back must give mp again. */
static void round_trip(const json_t *rec, const char *mp, size_t mplen, enum rec_format f)
{
	char *text = NULL, *back = NULL;
	size_t tlen = 0, blen = 0;
	if (rec_encode(rec, f, &text, &tlen, NULL) < 0)
		abort();
	json_t *again = read_one(text, tlen, f);
	if (rec_to_msgpack(again, &back, &blen, NULL) < 0 || blen != mplen || memcmp(back, mp, mplen))
		abort();
	json_decref(again);
	free(text);
	free(back);
}

/* encode(decode(rec)) is a valid plan, and a fixed point of the codec. */
static void check_plan(const json_t *rec)
{
	struct plan_rec p;
	struct exo_err e;
	if (plan_rec_decode(rec, &p, &e) < 0)
		abort();
	json_t *once = plan_rec_encode(&p);
	plan_rec_free(&p);
	if (rec_validate(once, "fuzz", 0, &e) < 0 || plan_rec_decode(once, &p, &e) < 0)
		abort();
	json_t *twice = plan_rec_encode(&p);
	plan_rec_free(&p);
	if (!json_equal(once, twice))
		abort();
	json_decref(once);
	json_decref(twice);
}

static void check_record(const json_t *rec)
{
	if (strcmp(rec_kind(rec), "plan") == 0)
		check_plan(rec);
	char *mp = NULL, *text = NULL;
	size_t mplen = 0, tlen = 0;
	if (rec_to_msgpack(rec, &mp, &mplen, NULL) < 0)
		abort();
	round_trip(rec, mp, mplen, REC_MSGPACK);
	round_trip(rec, mp, mplen, REC_JSON);
	round_trip(rec, mp, mplen, REC_YAML);
	if (rec_encode(rec, REC_TEXT, &text, &tlen, NULL) < 0)
		abort();
	free(text);
	free(mp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum rec_format formats[] = { REC_MSGPACK, REC_JSON, REC_YAML, REC_MSGPACK };
	if (size < 1)
		return 0;
	enum rec_format f = formats[data[0] & 3];
	struct rec_reader *r = rec_reader_open_mem(data + 1, size - 1, "fuzz", f);
	rec_reader_set_max_read(r, (data[0] >> 2) & 15);
	struct exo_err e;
	json_t *rec;
	int rc;
	while ((rc = rec_reader_next(r, &rec, &e)) == 1) {
		check_record(rec);
		json_decref(rec);
	}
	if (rc < 0 && (e.code != EXO_DATAERR || strchr(e.msg, '\n')))
		abort();  /* bad input is a one-line data error, nothing else */
	rec_reader_close(r);
	return 0;
}
