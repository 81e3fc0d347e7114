/* exo-validate plan --live: each stage of a running pipeline checked over
 * the network against the plan. */
#ifndef EXO_VALIDATE_PLAN_LIVE_H
#define EXO_VALIDATE_PLAN_LIVE_H
#include <stdint.h>
#include "validate/validate.h"

struct plan_rec;
/* key: the cluster key (32 bytes) or NULL for plaintext links. */
void plan_live_checks(const struct plan_rec *plan, const uint8_t *key, struct vcheck_out *out);
#endif
