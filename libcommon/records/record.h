/* Records: the msgpack maps the tools exchange on pipes and in files.
 *
 * In memory a record is a jansson object (json_t *) so that commands build
 * and read them with json_pack/json_object_get; this module converts it to and
 * from msgpack, JSON, YAML and a readable table.  Every record has "kind"
 * (string) and "v" (integer schema version).  Kinds: node, model, bench, plan,
 * check, error.  Sizes are integers in bytes, rates in bytes/s or FLOP/s,
 * times in seconds (real).  Unknown keys are kept; unknown kinds are passed
 * through.  man/exo-wire.5 documents every kind and field. */
#ifndef EXO_RECORDS_RECORD_H
#define EXO_RECORDS_RECORD_H
#include <jansson.h>
#include <stdio.h>
#include "util/err.h"

#define REC_VERSION 1   /* schema major version this build writes and reads */

/* A new record {"kind": kind, "v": REC_VERSION}. */
json_t *rec_new(const char *kind);
const char *rec_kind(const json_t *rec);

/* Check rec against the schema of its kind: required fields and their types.
 * index is the record's position in its stream, for the message:
 *   "stdin: record 3 (node): field 'mem_total': expected integer, got string".
 * Returns 0, or -1 with e->code EXO_DATAERR. */
int rec_validate(const json_t *rec, const char *source, size_t index, struct exo_err *e);

/* msgpack encoding of one record (appends to *buf, growing it). */
int rec_to_msgpack(const json_t *rec, char **buf, size_t *len, struct exo_err *e);

/* Stream reader: concatenated msgpack maps from a file descriptor, in any
 * chunking (1-byte reads included).  A record nested deeper than 32 levels, a
 * message over 64 MiB, a non-map at the top, a truncated map, a wrong type
 * or a newer major version is an error naming the source, record index and
 * field (code EXO_DATAERR). */
struct rec_reader;
struct rec_reader *rec_reader_open(int fd, const char *source);
/* 1 and *out set (caller owns it), 0 at a clean end of stream, -1 on error. */
int rec_reader_next(struct rec_reader *r, json_t **out, struct exo_err *e);
size_t rec_reader_index(const struct rec_reader *r);
void rec_reader_close(struct rec_reader *r);

/* Output formats, shared by every binary's -o option. */
enum rec_format { REC_AUTO, REC_MSGPACK, REC_JSON, REC_YAML, REC_TEXT };
/* "msgpack", "json", "yaml", "text"; -1 for anything else. */
int rec_format_parse(const char *name);
/* For commands: the -o argument parsed, or exit 64 with a one-line error. */
enum rec_format rec_format_option(const char *arg);
/* REC_AUTO resolves to REC_TEXT on a terminal, REC_MSGPACK otherwise. */
enum rec_format rec_format_resolve(enum rec_format f, int fd);

/* Writer: records out to fd in one format.  JSON output is one object per
 * line (JSON Lines); YAML is one document per record; text is a readable
 * listing (the table of each kind).  Errors name the output. */
struct rec_writer;
struct rec_writer *rec_writer_open(int fd, enum rec_format f);
int rec_write(struct rec_writer *w, const json_t *rec, struct exo_err *e);
/* Flush and report any deferred write error. */
int rec_writer_close(struct rec_writer *w, struct exo_err *e);
/* One record to stdout in format f (not REC_AUTO), flushed and checked:
 * for the commands that print one record. */
int rec_write_stdout(const json_t *rec, enum rec_format f, struct exo_err *e);

/* Readers for the text formats, so JSON and YAML round-trip to msgpack.
 * REC_JSON reads JSON Lines, concatenated objects or one array of records;
 * REC_YAML reads one record per document.  Text formats are read whole
 * before the first record is returned.  REC_AUTO and REC_TEXT mean msgpack. */
struct rec_reader *rec_reader_open_format(int fd, const char *source, enum rec_format f);
/* The same over a buffer in memory (not copied: it must outlive the reader);
 * for tests and fuzzing. */
struct rec_reader *rec_reader_open_mem(const void *buf, size_t len, const char *source,
				       enum rec_format f);
/* The format of a record stream from its first byte that is not white
 * space: a msgpack map (0x80-0x8f, 0xde, 0xdf) or any other non-text byte
 * is msgpack (its reader names the problem), '{' or '[' JSON, else YAML;
 * an empty stream is msgpack. */
enum rec_format rec_sniff_format(const void *buf, size_t len);
/* The same from the start of a file (pread, so the offset stays); a pipe,
 * which cannot be peeked, is taken as msgpack. */
enum rec_format rec_sniff_fd(int fd);
/* Lenient mode (exo-validate records): a record that decodes but breaks
 * its kind's schema is returned with status 2, *out set and e saying why,
 * and reading goes on; only a stream that cannot be decoded stops it. */
void rec_reader_set_lenient(struct rec_reader *r, int lenient);
/* For tests: at most n bytes per read, to exercise every chunking (0: no limit). */
void rec_reader_set_max_read(struct rec_reader *r, size_t n);
/* Record indexes in messages are 0-based: rec_reader_index() is the number of
 * records returned so far, which is also the index an error names. */

/* The record, or NULL on error, in one format as bytes appended to *buf (for
 * callers that frame or buffer output themselves). */
int rec_encode(const json_t *rec, enum rec_format f, char **buf, size_t *len, struct exo_err *e);
#endif
