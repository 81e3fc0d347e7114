/* Checks of `exo-validate model` that need no engine: memory needs per
 * weight type, and file hashes for models in the Hugging Face cache. */
#ifndef EXO_VALIDATE_MODEL_CHECKS_H
#define EXO_VALIDATE_MODEL_CHECKS_H
#include "validate/validate.h"

void model_extra_checks(const char *model, struct vcheck_out *out);
#endif
