/* Scopes and the arena of a render: every value made while rendering is
 * held by the arena and passed around borrowed; a loop gives back, after each
 * iteration, what that iteration made and nothing else holds.  A scope keeps
 * JSON values in an object and the others (macros, namespaces, the loop) in a
 * small list. */
#include <stdlib.h>
#include <string.h>
#include "template/tmpl_impl.h"
#include "util/err.h"

/* ---- the arena ---- */

json_t *tp_keep(struct ctx *c, json_t *fresh)
{
	if (!fresh)
		fresh = json_null();  /* allocation failure: a null is harmless */
	c->arena = grow_array(c->arena, &c->caparena, c->narena + 1, sizeof *c->arena, 256);
	c->arena[c->narena++] = fresh;
	return fresh;
}

/* Give back what was made since mark and is held by nothing else. */
void tp_arena_trim(struct ctx *c, size_t mark)
{
	size_t w = mark;
	for (size_t i = mark; i < c->narena; i++) {
		json_t *j = c->arena[i];
		if (j->refcount == 1)
			json_decref(j);
		else
			c->arena[w++] = j;
	}
	c->narena = w;
}

/* ---- scopes ---- */

void tp_frame_init(struct frame *f, struct frame *parent)
{
	memset(f, 0, sizeof *f);
	f->vars = json_object();
	f->parent = parent;
}

void tp_frame_free(struct frame *f)
{
	for (size_t i = 0; i < f->nsp; i++)
		json_decref(f->sp[i].v.j);
	free(f->sp);
	json_decref(f->vars);
}

static struct binding *frame_special(struct frame *f, const char *name)
{
	for (size_t i = 0; i < f->nsp; i++)
		if (!strcmp(f->sp[i].name, name))
			return &f->sp[i];
	return NULL;
}

void tp_bind(struct frame *f, const char *name, const struct val *v)
{
	struct binding *b = frame_special(f, name);
	if (v->k == V_JSON && !v->gen) {
		if (b) {
			json_decref(b->v.j);
			*b = f->sp[--f->nsp];
		}
		json_object_set_nocheck(f->vars, name, v->j);
		return;
	}
	json_object_del(f->vars, name);
	if (!b) {
		f->sp = grow_array(f->sp, &f->capsp, f->nsp + 1, sizeof *f->sp, 4);
		b = &f->sp[f->nsp++];
	} else {
		json_decref(b->v.j);
	}
	b->name = name;
	b->v = *v;
	json_incref(v->j);
}

struct val tp_lookup(struct frame *f, const char *name)
{
	for (; f; f = f->parent) {
		struct binding *b = frame_special(f, name);
		if (b)
			return b->v;
		json_t *j = json_object_get(f->vars, name);
		if (j)
			return tp_v_json(j);
	}
	if (tp_builtin_known(name))
		return (struct val){ .k = V_FUNC, .name = name };
	return tp_v_undef(name);
}

const struct val *tp_arg_get(const struct args *a, size_t i, const char *kw)
{
	for (size_t k = 0; kw && k < a->nkw; k++)
		if (!strcmp(a->kwname[k], kw))
			return &a->kw[k];
	return i < a->npos ? &a->pos[i] : NULL;
}
