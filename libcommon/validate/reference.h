/* `exo-validate model DIR --reference REFDIR`: run the engine over a
 * reference directory (the layout of shared/fixtures/models/NAME/reference,
 * documented in exo-validate(1)) and compare every logit and hidden state
 * with what Hugging Face transformers computed.
 *
 * The model may be split into several stages chained in one process, the
 * hidden state handed over as a forward frame through the shard protocol's
 * codec (net/proto.h), as stages on different machines do.  Each comparison becomes a `check` record. */
#ifndef EXO_VALIDATE_REFERENCE_H
#define EXO_VALIDATE_REFERENCE_H
#include <jansson.h>
#include "util/err.h"

struct refcheck_opts {
	const char *model;      /* checkpoint directory or ORG/NAME */
	const char *ref_dir;
	int stages;             /* contiguous layer ranges, 1 = the whole model */
	int dtype;              /* weight type (enum kern_dtype), -1 as stored */
	int handover;           /* dtype of hidden states between stages: KD_F32, KD_F16, KD_BF16 */
	int threads;            /* 0: the online cores */
	/* A running pipeline to check instead of in-process stages: the address
	 * of stage 0 (the comparison goes through the head client, serve/head.h);
	 * per-layer hidden states do not cross the wire, so those checks are
	 * reported as skipped. */
	const char *connect;
	const unsigned char *key;   /* cluster key for the links, or NULL */
};

enum { CHECK_OK, CHECK_WARN, CHECK_FAIL };

/* Calls emit with each check record (emit owns it).  Returns the worst level
 * seen (CHECK_OK, CHECK_WARN or CHECK_FAIL), or -1 when the comparison could
 * not run (unreadable reference, model refused: e says why). */
int refcheck_run(const struct refcheck_opts *o, void (*emit)(void *arg, json_t *check),
		 void *arg, struct exo_err *e);
#endif
