/* A stage's view of the plan: the first plan record of a file (the
 * planner's codec decodes it), its stages sorted by index and checked to
 * chain, each range non-empty and meeting the next. */
#include "serve/serve.h"
#include "planner/planner.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int cmp_index(const void *a, const void *b)
{
	const struct serve_stage *x = a, *y = b;
	return (x->index > y->index) - (x->index < y->index);
}

static int from_record(const struct plan_rec *rec, const char *path, struct serve_plan *p,
		       struct exo_err *e)
{
	const char *model = rec->model, *rev = rec->revision;
	if (rec->path)
		snprintf(p->model, sizeof p->model, "%s", rec->path);
	else
		snprintf(p->model, sizeof p->model, "%s%s%s", model, rev && !strchr(model, '@') ? "@" : "",
			 rev && !strchr(model, '@') ? rev : "");
	snprintf(p->dtype, sizeof p->dtype, "%s", rec->dtype ? rec->dtype : "");
	p->context = (int)rec->context;
	p->sessions = rec->sessions > 0 && rec->sessions <= 65536 ? (int)rec->sessions : 0;
	p->n_stages = rec->n_stages;
	p->stages = xcalloc(p->n_stages ? p->n_stages : 1, sizeof *p->stages);
	for (size_t i = 0; i < p->n_stages; i++) {
		const struct plan_rec_stage *s = &rec->stages[i];
		struct serve_stage *ps = &p->stages[i];
		ps->index = (int)s->index;
		ps->first = (int)s->layer_start;
		ps->last = (int)s->layer_end;
		snprintf(ps->node, sizeof ps->node, "%s", s->node);
		snprintf(ps->address, sizeof ps->address, "%s", s->address ? s->address : "");
		snprintf(ps->device, sizeof ps->device, "%s", s->device ? s->device : "");
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
	struct plan_rec rec;
	int rc = plan_rec_read(fd, path, &rec, e);
	close(fd);
	if (rc == 0)
		rc = from_record(&rec, path, p, e);
	plan_rec_free(&rec);
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

const struct serve_stage *serve_plan_stage(const struct serve_plan *p, int index)
{
	for (size_t i = 0; i < p->n_stages; i++)
		if (p->stages[i].index == index)
			return &p->stages[i];
	return NULL;
}
