/* exo-validate's subcommands (cmd/validate/NAME.c, as git's builtin/).
 * Each takes the arguments from its own name on (argv[0] is "model",
 * "tokenizer", ...), parses its own options with getopt_long, writes
 * `check` records and returns the exit status: 0 all ok, 1 warnings,
 * 2 a failure; usage errors exit 64 themselves. */
#ifndef EXO_CMD_VALIDATE_SUBCOMMAND_H
#define EXO_CMD_VALIDATE_SUBCOMMAND_H
#include <jansson.h>
#include "validate/validate.h"

int validate_model(int argc, char **argv);      /* model.c */
int validate_tokenizer(int argc, char **argv);  /* tokenizer.c */
int validate_hardware(int argc, char **argv);   /* hardware.c */
int validate_records(int argc, char **argv);    /* records.c */
int validate_plan(int argc, char **argv);       /* plan.c */
int validate_test_component(int argc, char **argv); /* component.c */
int validate_stress(int argc, char **argv);     /* stress.c */

/* Flushes stdout (exit 74 if it fails) and returns status. */
int vcheck_close(struct vcheck_out *out, int status);
/* Every record of a file (NULL: stdin) in any format; exits 65 (or 66)
 * with the reader's one-line error on bad input. */
json_t *vread_records(const char *path);
#endif
