/* Reading a plan record: the first record of kind "plan" in a file, in any
 * of the record formats (told apart by the first byte). */
#include "serve/serve.h"
#include "records/record.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *str_field(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

static int cmp_index(const void *a, const void *b)
{
	const struct plan_stage *x = a, *y = b;
	return (x->index > y->index) - (x->index < y->index);
}

static int from_record(json_t *rec, const char *path, struct serve_plan *p, struct exo_err *e)
{
	const char *model = str_field(rec, "model"), *dir = str_field(rec, "path");
	const char *rev = str_field(rec, "revision"), *dtype = str_field(rec, "dtype");
	json_t *stages = json_object_get(rec, "stages");
	if (dir)
		snprintf(p->model, sizeof p->model, "%s", dir);
	else
		snprintf(p->model, sizeof p->model, "%s%s%s", model, rev && !strchr(model, '@') ? "@" : "",
			 rev && !strchr(model, '@') ? rev : "");
	snprintf(p->dtype, sizeof p->dtype, "%s", dtype ? dtype : "");
	json_t *ctx = json_object_get(rec, "context");
	p->context = json_is_integer(ctx) ? (int)json_integer_value(ctx) : 0;
	json_t *sessions = json_object_get(rec, "sessions");
	p->sessions = json_is_integer(sessions) && json_integer_value(sessions) > 0 &&
		      json_integer_value(sessions) <= 65536 ? (int)json_integer_value(sessions) : 0;
	p->n_stages = json_array_size(stages);
	p->stages = xcalloc(p->n_stages ? p->n_stages : 1, sizeof *p->stages);
	for (size_t i = 0; i < p->n_stages; i++) {
		json_t *s = json_array_get(stages, i);
		struct plan_stage *ps = &p->stages[i];
		ps->index = (int)json_integer_value(json_object_get(s, "index"));
		ps->first = (int)json_integer_value(json_object_get(s, "layer_start"));
		ps->last = (int)json_integer_value(json_object_get(s, "layer_end"));
		snprintf(ps->node, sizeof ps->node, "%s", str_field(s, "node"));
		snprintf(ps->address, sizeof ps->address, "%s", str_field(s, "address") ? str_field(s, "address") : "");
		snprintf(ps->device, sizeof ps->device, "%s", str_field(s, "device") ? str_field(s, "device") : "");
		if (ps->first < 0 || ps->last <= ps->first)
			return exo_error(e, EXO_DATAERR, "%s: stages[%zu]: layer_end %d must be above layer_start %d "
					 "(layer_end is exclusive)", path, i, ps->last, ps->first);
	}
	qsort(p->stages, p->n_stages, sizeof *p->stages, cmp_index);
	for (size_t i = 1; i < p->n_stages; i++)
		if (p->stages[i].first != p->stages[i - 1].last || p->stages[i].index == p->stages[i - 1].index)
			return exo_error(e, EXO_DATAERR, "%s: stage %d starts at layer %d, not where stage %d ends (%d)",
					 path, p->stages[i].index, p->stages[i].first, p->stages[i - 1].index,
					 p->stages[i - 1].last);
	return 0;
}

int serve_plan_load(const char *path, struct serve_plan *p, struct exo_err *e)
{
	memset(p, 0, sizeof *p);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return exo_error(e, EXO_NOINPUT, "%s: cannot open the plan", path);
	struct rec_reader *r = rec_reader_open_format(fd, path, rec_sniff_fd(fd));
	json_t *rec = NULL;
	int rc, found = 0;
	while ((rc = rec_reader_next(r, &rec, e)) == 1) {
		const char *kind = rec_kind(rec);
		if (kind && strcmp(kind, "plan") == 0 &&
		    rec_validate(rec, path, rec_reader_index(r) - 1, e) == 0) {
			found = 1;
			rc = from_record(rec, path, p, e);
			json_decref(rec);
			break;
		}
		json_decref(rec);
		if (kind && strcmp(kind, "plan") == 0) {
			rc = -1;
			break;
		}
	}
	rec_reader_close(r);
	close(fd);
	if (rc == 0 && !found)
		rc = exo_error(e, EXO_DATAERR, "%s: no plan record", path);
	if (rc < 0)
		serve_plan_free(p);
	return rc < 0 ? -1 : 0;
}

void serve_plan_free(struct serve_plan *p)
{
	free(p->stages);
	p->stages = NULL;
	p->n_stages = 0;
}

const struct plan_stage *serve_plan_stage(const struct serve_plan *p, int index)
{
	for (size_t i = 0; i < p->n_stages; i++)
		if (p->stages[i].index == index)
			return &p->stages[i];
	return NULL;
}
