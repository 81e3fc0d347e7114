/* The API's request parser and stop-sequence helpers: accepted bodies give
 * the fields the server uses; each refused one names its field. */
#include <string.h>
#include "api/api.h"
#include "api/request.h"
#include "tests/tap.h"

static int parse(enum api_kind k, const char *body, struct api_request *r, struct api_fault *f)
{
	memset(f, 0, sizeof *f);
	return api_request_parse(k, body, strlen(body), r, f);
}

/* body must be refused with status 400 naming param. */
static void refused(enum api_kind k, const char *body, const char *param)
{
	struct api_request r;
	struct api_fault f;

	ok(parse(k, body, &r, &f) == -1 && f.status == 400 && strcmp(f.param, param) == 0,
	   "refused, param '%s': %s (got '%s': %s)", param, body, f.param, f.message);
}

static void accepted(void)
{
	struct api_request r;
	struct api_fault f;

	is_int(parse(API_CHAT,
		     "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\","
		     "\"text\":\"a\"},{\"type\":\"text\",\"text\":\"b\"}]}],\"max_completion_tokens\":5,"
		     "\"max_tokens\":9,\"stop\":\"x\",\"temperature\":0.5,\"seed\":3,\"stream\":true,"
		     "\"stream_options\":{\"include_usage\":true},\"user\":\"ignored\"}",
		     &r, &f),
	       0, "a full chat request is accepted");
	is_str(json_string_value(json_object_get(json_array_get(r.messages, 0), "content")), "ab",
	       "content parts are joined");
	is_int(r.max_tokens, 5, "max_completion_tokens wins over max_tokens");
	ok(r.n_stop == 1 && strcmp(r.stop[0], "x") == 0, "a stop string");
	ok(r.stream && r.include_usage && r.has_seed && r.sampling.seed == 3 && r.sampling.temperature == 0.5,
	   "stream, include_usage, seed, temperature");
	api_request_free(&r);
	is_int(parse(API_COMPLETION, "{\"model\":\"m\",\"prompt\":[[5,6,7]]}", &r, &f), 0,
	       "a completion prompt as a one-element array of ids");
	ok(r.n_prompt_ids == 3 && r.prompt_ids[2] == 7 && !r.prompt && r.max_tokens == -1,
	   "ids kept, max_tokens unset");
	api_request_free(&r);
	is_int(parse(API_COMPLETION, "{\"model\":\"m\",\"prompt\":\"hi\",\"n\":1,\"stop\":[\"a\",\"b\"]}",
		     &r, &f), 0, "a completion prompt as text");
	ok(r.prompt && strcmp(r.prompt, "hi") == 0 && r.n_stop == 2, "prompt text and two stops");
	api_request_free(&r);
}

static void refusals(void)
{
	struct api_request r;
	struct api_fault f;

	ok(parse(API_CHAT, "{\"model\":", &r, &f) == -1 && strcmp(f.code, "invalid_json") == 0,
	   "bad JSON: invalid_json");
	refused(API_CHAT, "[1]", "");
	refused(API_CHAT, "{\"messages\":[]}", "model");
	refused(API_CHAT, "{\"model\":3,\"messages\":[]}", "model");
	refused(API_CHAT, "{\"model\":\"m\"}", "messages");
	refused(API_CHAT, "{\"model\":\"m\",\"messages\":[]}", "messages");
	refused(API_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":1}]}",
		"messages[0].content");
	refused(API_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"cat\",\"content\":\"\"}]}",
		"messages[0].role");
	refused(API_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":"
			  "\"image_url\"}]}]}", "messages[0].content[0]");
	refused(API_COMPLETION, "{\"model\":\"m\",\"prompt\":\"x\",\"max_tokens\":\"9\"}", "max_tokens");
	refused(API_COMPLETION, "{\"model\":\"m\",\"prompt\":\"x\",\"max_tokens\":0}", "max_tokens");
	refused(API_COMPLETION, "{\"model\":\"m\",\"prompt\":\"x\",\"temperature\":3}", "temperature");
	refused(API_COMPLETION, "{\"model\":\"m\",\"prompt\":\"x\",\"top_p\":\"a\"}", "top_p");
	refused(API_COMPLETION, "{\"model\":\"m\",\"prompt\":\"x\",\"n\":2}", "n");
	refused(API_COMPLETION, "{\"model\":\"m\",\"prompt\":\"x\",\"stop\":[\"a\",1]}", "stop[1]");
	refused(API_COMPLETION, "{\"model\":\"m\",\"prompt\":\"x\",\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}",
		"stop");
	refused(API_COMPLETION, "{\"model\":\"m\",\"prompt\":\"x\",\"stream\":1}", "stream");
	refused(API_COMPLETION, "{\"model\":\"m\",\"prompt\":[1,-2]}", "prompt");
	refused(API_COMPLETION, "{\"model\":\"m\",\"prompt\":[\"a\",\"b\"]}", "prompt");
	refused(API_COMPLETION, "{\"model\":\"m\",\"prompt\":{}}", "prompt");
	refused(API_COMPLETION, "{\"model\":\"m\",\"prompt\":\"x\",\"seed\":1.5}", "seed");
	parse(API_COMPLETION, "{\"model\":\"m\",\"prompt\":\"x\",\"seed\":1.5}", &r, &f);
	json_t *j = api_fault_json(&f);
	ok(json_is_object(json_object_get(j, "error")) &&
	   json_is_string(json_object_get(json_object_get(j, "error"), "message")) &&
	   json_is_string(json_object_get(json_object_get(j, "error"), "param")),
	   "the error object has message, type, param and code");
	json_decref(j);
}

static void stops(void)
{
	char *stop[] = {"</end>", "xyz"};

	is_int(api_stop_holdback("hello </e", 9, stop, 2), 3, "a partial stop is held back");
	is_int(api_stop_holdback("hello xy", 8, stop, 2), 2, "the longest prefix of any stop");
	is_int(api_stop_holdback("hello", 5, stop, 2), 0, "nothing held back");
	is_int(api_stop_holdback("hello </end", 11, stop, 2), 5, "up to one byte short of a stop");
	is_int(api_stop_find("a xyz </end>", 12, 0, stop, 2), 2, "the first stop in the text");
	is_int(api_stop_find("a xyz </end>", 12, 3, stop, 2), 6, "search from an offset");
	is_int(api_stop_find("abc", 3, 0, stop, 2), -1, "no stop");
}

static void model_names(void)
{
	char n[256];

	api_model_name("/root/.cache/huggingface/hub/models--meta-llama--Llama-3.2-1B/snapshots/abc123", n,
		       sizeof n);
	is_str(n, "meta-llama/Llama-3.2-1B", "a snapshot in the HF cache is ORG/NAME");
	api_model_name("Qwen/Qwen2.5-0.5B@main", n, sizeof n);
	is_str(n, "Qwen/Qwen2.5-0.5B", "ORG/NAME@REV is ORG/NAME");
	api_model_name("/tmp/", n, sizeof n);
	is_str(n, "tmp", "a directory is its basename");
}

static void keys(void)
{
	struct api_fault f;
	static const char nul[] = "Bearer k3y\0x";

	is_int(api_check_auth(NULL, NULL, 0, 0, &f), 0, "no key: no header needed");
	is_int(api_check_auth("k3y", "Bearer k3y", 10, 1, &f), 0, "the key");
	is_int(api_check_auth("k3y", NULL, 0, 0, &f), -1, "no header: refused");
	is_int(f.status, 401, "as 401");
	is_str(f.code, "invalid_api_key", "invalid_api_key");
	is_int(api_check_auth("k3y", "Bearer k3z", 10, 1, &f), -1, "another key");
	is_int(api_check_auth("k3y", "Bearer k3", 9, 1, &f), -1, "a prefix of the key");
	is_int(api_check_auth("k3y", "Bearer k3yy", 11, 1, &f), -1, "the key and more");
	is_int(api_check_auth("k3y", "k3y", 3, 1, &f), -1, "the key without Bearer");
	is_int(api_check_auth("k3y", "Bearer ", 7, 1, &f), -1, "Bearer alone");
	is_int(api_check_auth("k3y", nul, sizeof nul - 1, 1, &f), -1, "the key, a NUL and more");
	is_int(api_check_auth("k3y", "Bearer k3y", 10, 2, &f), -1, "a second header");
	ok(strstr(f.message, "more than one") != NULL, "says there were several");
}

int main(void)
{
	model_names();
	keys();
	accepted();
	refusals();
	stops();
	return done_testing();
}
