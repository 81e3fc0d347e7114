/* The YAML decoder: one record per document, through libyaml's event API so
 * that anchors and aliases are refused before they can expand ("billion
 * laughs") and nesting is bounded.  libyaml resolves no types, so plain
 * scalars are resolved here (rec_yaml_resolve); quoted scalars are strings.
 * Positions in messages are 1-based line:column. */
#include "records/rec_int.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

struct yr {
	char *buf;
	size_t len;
	int loaded, done;
	yaml_parser_t p;
};

static int yfail(struct rec_reader *r, yaml_mark_t m, struct exo_err *e, const char *what)
{
	return exo_error(e, EXO_DATAERR, "%s:%zu:%zu: record %zu: %s", r->source, m.line + 1,
			 m.column + 1, r->index, what);
}

static int next_event(struct rec_reader *r, struct yr *y, yaml_event_t *ev, struct exo_err *e)
{
	if (yaml_parser_parse(&y->p, ev))
		return 0;
	char what[512];
	snprintf(what, sizeof what, "%s%s%s", y->p.problem ? y->p.problem : "syntax error",
		 y->p.context ? " " : "", y->p.context ? y->p.context : "");
	return yfail(r, y->p.problem_mark, e, what);
}

static int value(struct rec_reader *r, struct yr *y, yaml_event_t *ev, int depth, json_t **out,
		 struct exo_err *e);

/* After MAPPING_START: pairs until MAPPING_END. */
static int mapping(struct rec_reader *r, struct yr *y, int depth, json_t **out, struct exo_err *e)
{
	json_t *obj = *out = json_object();
	for (;;) {
		yaml_event_t ev;
		if (next_event(r, y, &ev, e) < 0)
			return -1;
		if (ev.type == YAML_MAPPING_END_EVENT)
			return 0;
		if (ev.type != YAML_SCALAR_EVENT) {
			int rc = yfail(r, ev.start_mark, e, ev.type == YAML_ALIAS_EVENT
				? "aliases are not allowed in records" : "map key is not a string");
			yaml_event_delete(&ev);
			return rc;
		}
		char key[256];
		size_t n = ev.data.scalar.length;
		yaml_mark_t km = ev.start_mark;
		int bad = n >= sizeof key || memchr(ev.data.scalar.value, 0, n);
		snprintf(key, sizeof key, "%.*s", (int)(n < sizeof key ? n : 0), ev.data.scalar.value);
		yaml_event_delete(&ev);
		if (bad)
			return yfail(r, km, e, "map key is longer than 255 bytes or contains NUL");
		if (json_object_get(obj, key)) {
			char what[300];
			snprintf(what, sizeof what, "duplicate key '%s'", key);
			return yfail(r, km, e, what);
		}
		json_t *v = NULL;
		if (next_event(r, y, &ev, e) < 0)
			return -1;
		int rc = value(r, y, &ev, depth + 1, &v, e);
		if (v && json_object_set_new(obj, key, v) < 0 && rc == 0)
			rc = yfail(r, km, e, "map key is not valid UTF-8");
		if (rc < 0)
			return -1;
	}
}

static int sequence(struct rec_reader *r, struct yr *y, int depth, json_t **out, struct exo_err *e)
{
	json_t *arr = *out = json_array();
	for (;;) {
		yaml_event_t ev;
		if (next_event(r, y, &ev, e) < 0)
			return -1;
		if (ev.type == YAML_SEQUENCE_END_EVENT)
			return 0;
		json_t *v = NULL;
		int rc = value(r, y, &ev, depth + 1, &v, e);
		if (v)
			json_array_append_new(arr, v);
		if (rc < 0)
			return -1;
	}
}

static int scalar(struct rec_reader *r, yaml_event_t *ev, json_t **out, struct exo_err *e)
{
	const char *s = (const char *)ev->data.scalar.value;
	size_t n = ev->data.scalar.length;
	const char *tag = (const char *)ev->data.scalar.tag;
	if (tag && strcmp(tag, YAML_STR_TAG) != 0)
		return yfail(r, ev->start_mark, e, "tags other than !!str are not allowed in records");
	int err = 0;
	if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !tag)
		*out = rec_yaml_resolve(s, n, &err);
	if (err)
		return yfail(r, ev->start_mark, e, "integer out of range");
	if (!*out)
		*out = json_stringn(s, n);
	return *out ? 0 : yfail(r, ev->start_mark, e, "string is not valid UTF-8");
}

/* One node from its first event (which this consumes); *out is set to what
 * was built even on error, for the caller to free. */
static int value(struct rec_reader *r, struct yr *y, yaml_event_t *ev, int depth, json_t **out,
		 struct exo_err *e)
{
	int rc;
	const yaml_char_t *anchor = ev->type == YAML_SCALAR_EVENT ? ev->data.scalar.anchor
		: ev->type == YAML_SEQUENCE_START_EVENT ? ev->data.sequence_start.anchor
		: ev->type == YAML_MAPPING_START_EVENT ? ev->data.mapping_start.anchor : NULL;
	if (ev->type == YAML_ALIAS_EVENT || anchor)
		rc = yfail(r, ev->start_mark, e, "anchors and aliases are not allowed in records");
	else if (ev->type == YAML_SCALAR_EVENT)
		rc = scalar(r, ev, out, e);
	else if (depth > REC_MAX_DEPTH)
		rc = yfail(r, ev->start_mark, e, "nested deeper than 32 levels");
	else if (ev->type == YAML_SEQUENCE_START_EVENT)
		rc = sequence(r, y, depth, out, e);
	else if (ev->type == YAML_MAPPING_START_EVENT)
		rc = mapping(r, y, depth, out, e);
	else
		rc = yfail(r, ev->start_mark, e, "unexpected YAML event");
	yaml_event_delete(ev);
	return rc;
}

static int load(struct rec_reader *r, struct yr *y, struct exo_err *e)
{
	if (rec_input_slurp(r, &y->buf, &y->len, e) < 0)
		return -1;
	y->loaded = 1;
	yaml_parser_set_input_string(&y->p, (const unsigned char *)y->buf, y->len);
	yaml_event_t ev;
	if (next_event(r, y, &ev, e) < 0)
		return -1;
	yaml_event_delete(&ev);  /* STREAM_START */
	return 0;
}

/* One document: DOCUMENT_START, its root node, DOCUMENT_END. */
static int yr_next(struct rec_reader *r, json_t **out, struct exo_err *e)
{
	struct yr *y = r->state;
	if (!y->loaded && load(r, y, e) < 0)
		return -1;
	yaml_event_t ev;
	if (y->done || next_event(r, y, &ev, e) < 0)
		return y->done ? 0 : -1;
	if (ev.type == YAML_STREAM_END_EVENT) {
		yaml_event_delete(&ev);
		y->done = 1;
		return 0;
	}
	yaml_event_delete(&ev);  /* DOCUMENT_START */
	if (next_event(r, y, &ev, e) < 0)
		return -1;
	if (value(r, y, &ev, 1, out, e) < 0 || next_event(r, y, &ev, e) < 0) {
		json_decref(*out);
		*out = NULL;
		return -1;
	}
	yaml_event_delete(&ev);  /* DOCUMENT_END */
	return 1;
}

static void yr_free(struct rec_reader *r)
{
	struct yr *y = r->state;
	if (!y)
		return;
	yaml_parser_delete(&y->p);
	free(y->buf);
	free(y);
}

int rec_yaml_init(struct rec_reader *r)
{
	struct yr *y = calloc(1, sizeof *y);
	if (!y || !yaml_parser_initialize(&y->p)) {
		free(y);
		return -1;
	}
	r->state = y;
	r->next = yr_next;
	r->free = yr_free;
	return 0;
}
