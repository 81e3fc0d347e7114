/* chat_render: the variables transformers' apply_chat_template gives a chat
 * template, built from tokenizer_config.json and the conversation. */
#include <string.h>
#include "template/tmpl_impl.h"

/* A special token of tokenizer_config: a string or an AddedToken {"content": ...}. */
static json_t *token_string(json_t *v)
{
	if (json_is_string(v))
		return v;
	if (json_is_object(v) && json_is_string(json_object_get(v, "content")))
		return json_object_get(v, "content");
	return NULL;
}

static void special_tokens(const json_t *config, json_t *vars)
{
	static const char *const names[] = { "bos_token", "eos_token", "unk_token", "sep_token",
					     "pad_token", "cls_token", "mask_token", NULL };
	for (size_t i = 0; config && names[i]; i++) {
		json_t *s = token_string(json_object_get(config, names[i]));
		if (s)
			json_object_set(vars, names[i], s);
	}
	json_t *extra = config ? json_object_get(config, "additional_special_tokens") : NULL;
	if (json_is_array(extra)) {
		json_t *list = json_array();
		for (size_t i = 0; i < json_array_size(extra); i++) {
			json_t *s = token_string(json_array_get(extra, i));
			if (s)
				json_array_append(list, s);
		}
		json_object_set_new(vars, "additional_special_tokens", list);
	}
}

int chat_render(const struct tmpl *t, const json_t *tokenizer_config, const json_t *messages,
		const json_t *tools, bool add_generation_prompt, const json_t *extra, char **out,
		struct exo_err *e)
{
	json_t *vars = json_object();
	special_tokens(tokenizer_config, vars);
	json_object_set_new(vars, "messages", messages ? json_incref((json_t *)messages) : json_array());
	json_object_set_new(vars, "add_generation_prompt", json_boolean(add_generation_prompt));
	json_object_set(vars, "tools", tools ? (json_t *)tools : json_null());
	json_object_set_new(vars, "documents", json_null());
	if (json_is_object(extra))
		json_object_update(vars, (json_t *)extra);
	int rc = tmpl_render(t, vars, out, e);
	json_decref(vars);
	return rc;
}
