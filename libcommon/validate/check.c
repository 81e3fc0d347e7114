/* Check records on stdout, shared by every exo-validate subcommand. */
#include "validate/validate.h"
#include "validate/reference.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void vcheck_open(struct vcheck_out *out, enum rec_format format)
{
	memset(out, 0, sizeof *out);
	out->w = rec_writer_open(STDOUT_FILENO, rec_format_resolve(format, STDOUT_FILENO));
}

static int level_rank(const char *level)
{
	return !level ? CHECK_OK : !strcmp(level, "fail") ? CHECK_FAIL
		: !strcmp(level, "warn") ? CHECK_WARN : CHECK_OK;
}

void vcheck_emit(void *arg, json_t *check)
{
	struct vcheck_out *out = arg;
	int rank = level_rank(json_string_value(json_object_get(check, "level")));
	if (rank > out->worst)
		out->worst = rank;
	if (!out->failed_write && rec_write(out->w, check, &out->err) < 0)
		out->failed_write = 1;
	json_decref(check);
}

json_t *vcheck_new(const char *subject, const char *code, const char *level, const char *message)
{
	json_t *c = rec_new("check");
	json_object_set_new(c, "subject", json_string(subject));
	json_object_set_new(c, "code", json_string(code));
	json_object_set_new(c, "level", json_string(level));
	json_object_set_new(c, "message", json_string(message));
	return c;
}

void vcheck_emitf(struct vcheck_out *out, const char *subject, const char *code, const char *level,
		  const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	vcheck_emit(out, vcheck_new(subject, code, level, msg));
}

int vcheck_status(const struct vcheck_out *out)
{
	return out->worst == CHECK_FAIL ? 2 : out->worst == CHECK_WARN ? 1 : 0;
}
