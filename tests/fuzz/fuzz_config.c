/* libFuzzer target for the configuration binder (exo.yaml): any bytes are
 * either bound, or refused with EXO_CONFIG and one line naming the file;
 * never a crash, a leak or a hang (nesting stops at 32 levels, anchors and
 * aliases are refused before they can expand). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "config/bind.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct exo_config c;
	struct exo_err e = {0};

	conf_init(&c);
	if (conf_bind_yaml(&c, "fuzz.yaml", (const char *)data, size, &e) < 0) {
		if ((e.code != EXO_CONFIG && e.code != EXO_SOFTWARE) || strchr(e.msg, '\n') ||
		    strncmp(e.msg, "fuzz.yaml", 9) != 0)
			abort();
	}
	conf_free(&c);
	return 0;
}
