/* Functional tests of one part of the machine for `exo-validate
 * --test-component`: each runs real work, compares the result with a
 * reference and emits check records. */
#ifndef EXO_VALIDATE_COMPONENT_H
#define EXO_VALIDATE_COMPONENT_H
#include "validate/validate.h"

void component_cpu(struct vcheck_out *out);
void component_gpu(struct vcheck_out *out, int asked);
void component_storage(struct vcheck_out *out, const char *dir);
void component_network(struct vcheck_out *out);
#endif
