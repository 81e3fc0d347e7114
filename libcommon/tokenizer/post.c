/* Post-processors for a single sequence: the special tokens that
 * TemplateProcessing (or Bert/Roberta) puts before and after it; ByteLevel
 * changes only offsets, so nothing here; Sequence combines them. */
#include "tokenizer/tok_int.h"

#include <stdio.h>
#include <string.h>

static void add_ids(int32_t **v, size_t *n, const int32_t *ids, size_t k)
{
	*v = xrealloc(*v, (*n + k + 1) * sizeof **v);
	memcpy(*v + *n, ids, k * sizeof *ids);
	*n += k;
}

/* {"SpecialToken": {"id": NAME}}: the ids special_tokens[NAME] lists. */
static int template_special(struct tok *t, json_t *specials, json_t *item, bool after,
			    const char *field, struct exo_err *e)
{
	const char *name = json_string_value(json_object_get(item, "id"));
	json_t *ids = json_object_get(json_object_get(specials, name ? name : ""), "ids"), *it;
	if (!name || !json_is_array(ids))
		return tok_field_error(t, e, field, "special token '%s' missing from special_tokens",
				       name ? name : "?");
	size_t i;
	json_array_foreach(ids, i, it) {
		json_int_t v = json_integer_value(it);
		if (!json_is_integer(it) || v < 0 || v >= TOK_MAX_ID || !tok_piece(t, (int32_t)v))
			return tok_field_error(t, e, field, "special token '%s': id not in the vocabulary",
					       name);
		int32_t id = (int32_t)v;
		if (after)
			add_ids(&t->post.after, &t->post.nafter, &id, 1);
		else
			add_ids(&t->post.before, &t->post.nbefore, &id, 1);
	}
	return 0;
}

static int load_template(struct tok *t, json_t *j, const char *field, struct exo_err *e)
{
	json_t *single = json_object_get(j, "single"), *item;
	json_t *specials = json_object_get(j, "special_tokens");
	char sub[256];
	snprintf(sub, sizeof sub, "%s.single", field);
	if (!json_is_array(single))
		return tok_field_error(t, e, sub, "expected an array");
	bool seen_a = false;
	size_t i;
	json_array_foreach(single, i, item) {
		json_t *sp = json_object_get(item, "SpecialToken");
		if (json_object_get(item, "Sequence"))
			seen_a = true;
		else if (!sp || template_special(t, specials, sp, seen_a, sub, e) < 0)
			return sp ? -1 : tok_field_error(t, e, sub, "item %zu: expected SpecialToken or Sequence", i);
	}
	return 0;
}

/* Bert and Roberta: "cls": [piece, id], "sep": [piece, id]. */
static int load_cls_sep(struct tok *t, json_t *j, const char *field, struct exo_err *e)
{
	json_t *cls = json_array_get(json_object_get(j, "cls"), 1);
	json_t *sep = json_array_get(json_object_get(j, "sep"), 1);
	if (!json_is_integer(cls) || !json_is_integer(sep) || json_integer_value(cls) < 0 ||
	    json_integer_value(sep) < 0 || json_integer_value(cls) >= TOK_MAX_ID ||
	    json_integer_value(sep) >= TOK_MAX_ID || !tok_piece(t, (int32_t)json_integer_value(cls)) ||
	    !tok_piece(t, (int32_t)json_integer_value(sep)))
		return tok_field_error(t, e, field, "'cls' and 'sep': expected [piece, id] of the vocabulary");
	int32_t c = (int32_t)json_integer_value(cls), s = (int32_t)json_integer_value(sep);
	add_ids(&t->post.before, &t->post.nbefore, &c, 1);
	add_ids(&t->post.after, &t->post.nafter, &s, 1);
	return 0;
}

static int load_one(struct tok *t, json_t *j, const char *field, struct exo_err *e)
{
	const char *type = json_string_value(json_object_get(j, "type"));
	if (!type)
		return tok_field_error(t, e, field, "missing 'type'");
	if (!strcmp(type, "ByteLevel"))
		return 0;
	if (!strcmp(type, "TemplateProcessing"))
		return load_template(t, j, field, e);
	if (!strcmp(type, "BertProcessing") || !strcmp(type, "RobertaProcessing"))
		return load_cls_sep(t, j, field, e);
	if (!strcmp(type, "Sequence")) {
		json_t *list = json_object_get(j, "processors"), *it;
		size_t i;
		if (!json_is_array(list))
			return tok_field_error(t, e, field, "'processors': expected an array");
		json_array_foreach(list, i, it) {
			char sub[256];
			snprintf(sub, sizeof sub, "%s.processors[%zu]", field, i);
			if (load_one(t, it, sub, e) < 0)
				return -1;
		}
		return 0;
	}
	return tok_field_error(t, e, field, "unsupported post-processor type '%s'", type);
}

int tok_load_post(struct tok *t, json_t *j, struct exo_err *e)
{
	if (!j || json_is_null(j))
		return 0;
	if (!json_is_object(j))
		return tok_field_error(t, e, "post_processor", "expected an object or null");
	return load_one(t, j, "post_processor", e);
}
