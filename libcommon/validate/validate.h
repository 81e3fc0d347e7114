/* exo-validate's subcommands.  Each takes the arguments from its own name
 * on (argv[0] is "model", "tokenizer", ...), parses its own options with
 * getopt_long, writes `check` records and returns the exit status:
 * 0 all ok, 1 warnings, 2 a failure; usage errors exit 64 themselves. */
#ifndef EXO_VALIDATE_VALIDATE_H
#define EXO_VALIDATE_VALIDATE_H
#include <jansson.h>
#include "records/record.h"
#include "util/err.h"

int validate_model(int argc, char **argv);      /* cmd_model.c */
int validate_tokenizer(int argc, char **argv);  /* cmd_tokenizer.c */
int validate_hardware(int argc, char **argv);   /* cmd_hardware.c */
int validate_records(int argc, char **argv);    /* cmd_records.c */
int validate_plan(int argc, char **argv);       /* cmd_plan.c */
int validate_test_component(int argc, char **argv); /* cmd_component.c */
int validate_stress(int argc, char **argv);     /* cmd_stress.c */

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
/* Flushes stdout (exit 74 if it fails) and returns status. */
int vcheck_close(struct vcheck_out *out, int status);
/* 0, 1 or 2 from the worst level emitted. */
int vcheck_status(const struct vcheck_out *out);
/* Every record of a file (NULL: stdin) in any format; exits 65 (or 66)
 * with the reader's one-line error on bad input. */
json_t *vread_records(const char *path);
#endif
