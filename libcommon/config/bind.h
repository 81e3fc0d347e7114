/* Private to libcommon/config: the YAML binder that config.c calls. */
#ifndef EXO_CONFIG_BIND_H
#define EXO_CONFIG_BIND_H
#include <stddef.h>
#include "config/config.h"

/* Parse buf (len bytes of YAML read from file) and apply its keys to c,
 * which must be a private copy: on error it is left half-written. */
int conf_bind_yaml(struct exo_config *c, const char *file, const char *buf, size_t len,
		   struct exo_err *e);
/* The user's home directory ($HOME, else the password database), or NULL. */
const char *conf_home(void);
#endif
