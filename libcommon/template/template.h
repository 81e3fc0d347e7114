/* A Jinja interpreter for chat templates, covering what real templates use
 * (if/for/set/macro/filter blocks, loop variables, namespace(), filters such
 * as tojson(indent), trim, length, items; string methods; raise_exception;
 * strftime_now) in Hugging Face's environment: trim_blocks, lstrip_blocks and
 * loopcontrols.  A construct it does not support is an error naming it and
 * its line.  Values are jansson values. */
#ifndef EXO_TEMPLATE_TEMPLATE_H
#define EXO_TEMPLATE_TEMPLATE_H
#include <jansson.h>
#include <stdbool.h>
#include "util/err.h"

struct tmpl;

/* name is used in errors: "NAME:LINE: ..." (EXO_DATAERR). */
struct tmpl *tmpl_parse(const char *src, const char *name, struct exo_err *e);
void tmpl_free(struct tmpl *t);
/* vars: a JSON object of template variables.  *out is malloc'd. */
int tmpl_render(const struct tmpl *t, const json_t *vars, char **out, struct exo_err *e);

/* A chat prompt as transformers' apply_chat_template renders it: the special
 * tokens of tokenizer_config (bos_token, eos_token, unk_token, pad_token ...,
 * as plain strings), messages, add_generation_prompt, tools (null when
 * absent), documents (null), then extra (template_kwargs) on top. */
int chat_render(const struct tmpl *t, const json_t *tokenizer_config, const json_t *messages,
		const json_t *tools, bool add_generation_prompt, const json_t *extra,
		char **out, struct exo_err *e);
#endif
