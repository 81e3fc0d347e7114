/* libFuzzer target for the chat-template interpreter: the input is a
 * template, parsed and rendered over a fixed conversation (system, user,
 * assistant with a tool call, tool result) and tools.  Whatever the bytes,
 * parsing and rendering must end, within the interpreter's limits, either
 * with a prompt or with a one-line data error. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "template/template.h"

static const char VARS[] =
	"{\"bos_token\": \"<s>\", \"eos_token\": \"</s>\", \"add_generation_prompt\": true,"
	" \"messages\": [{\"role\": \"system\", \"content\": \" Be brief. \"},"
	" {\"role\": \"user\", \"content\": \"Weather in Paris? \\u00e9\\u2713\"},"
	" {\"role\": \"assistant\", \"content\": null, \"tool_calls\": [{\"type\": \"function\","
	" \"function\": {\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"days\": 2}}}]},"
	" {\"role\": \"tool\", \"content\": \"{\\\"temp\\\": 21.5}\"},"
	" {\"role\": \"assistant\", \"content\": \"21.5 C\"}],"
	" \"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"get_weather\","
	" \"description\": \"Current weather\", \"parameters\": {\"type\": \"object\","
	" \"properties\": {\"city\": {\"type\": \"string\"}, \"days\": {\"type\": \"integer\"}},"
	" \"required\": [\"city\"]}}}], \"documents\": null}";

static json_t *vars;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!vars)
		vars = json_loads(VARS, 0, NULL);
	char *src = malloc(size + 1);
	memcpy(src, data, size);
	src[size] = 0;
	struct exo_err e = { 0 };
	struct tmpl *t = tmpl_parse(src, "fuzz", &e);
	char *out = NULL;
	if (t && tmpl_render(t, vars, &out, &e) == 0) {
		if (!out)
			abort();
		free(out);
	} else if (e.code != EXO_DATAERR || !e.msg[0] || strchr(e.msg, '\n')) {
		abort();  /* a template's fault is a one-line data error */
	}
	tmpl_free(t);
	free(src);
	return 0;
}
