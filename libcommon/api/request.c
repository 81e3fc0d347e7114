/* Request bodies of /v1/chat/completions and /v1/completions into struct
 * api_request.  Unknown fields are ignored (clients send many: user,
 * logprobs, presence_penalty ...); a known field of the wrong type or out
 * of range is a 400 naming it. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "api/request.h"

#define BAD "invalid_request_error"

int api_fault_set(struct api_fault *f, int status, const char *type, const char *code,
		  const char *param, const char *fmt, ...)
{
	va_list ap;

	if (!f)
		return -1;
	f->status = status;
	f->type = type;
	f->code = code;
	snprintf(f->param, sizeof f->param, "%s", param ? param : "");
	va_start(ap, fmt);
	vsnprintf(f->message, sizeof f->message, fmt, ap);
	va_end(ap);
	return -1;
}

/* Messages quote what the client sent, possibly cut inside a character:
 * such a message loses its non-ASCII bytes rather than its error. */
static json_t *message_json(const char *m)
{
	json_t *j = json_string(m);
	char *copy;

	if (j)
		return j;
	copy = strdup(m);
	for (char *p = copy; *p; p++)
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	j = json_string(copy);
	free(copy);
	return j;
}

json_t *api_fault_json(const struct api_fault *f)
{
	return json_pack("{s:{s:o, s:s, s:o, s:o}}", "error", "message", message_json(f->message), "type",
			 f->type ? f->type : BAD, "param",
			 f->param[0] ? json_string(f->param) : json_null(), "code",
			 f->code ? json_string(f->code) : json_null());
}

/* Compares without an early exit, so the time taken says nothing about
 * how much of the key matched. */
static bool same_secret(const char *a, size_t la, const char *b, size_t lb)
{
	unsigned char d = la != lb;

	for (size_t i = 0; i < la; i++)
		d |= (unsigned char)a[i] ^ (unsigned char)b[i % (lb ? lb : 1)];
	return d == 0;
}

int api_check_auth(const char *key, const char *value, size_t len, int n_headers,
		   struct api_fault *f)
{
	static const char bearer[] = "Bearer ";
	size_t kl;

	if (!key)
		return 0;
	if (n_headers > 1)
		return api_fault_set(f, 401, "authentication_error", "invalid_api_key", NULL,
				     "more than one Authorization header");
	kl = strlen(key);
	if (!value || n_headers < 1 || len < sizeof bearer - 1 || memcmp(value, bearer, sizeof bearer - 1) != 0 ||
	    !same_secret(value + sizeof bearer - 1, len - (sizeof bearer - 1), key, kl))
		return api_fault_set(f, 401, "authentication_error", "invalid_api_key", NULL,
				     "a valid API key is required (Authorization: Bearer KEY)");
	return 0;
}

static int wrong_type(struct api_fault *f, const char *param, const char *want)
{
	return api_fault_set(f, 400, BAD, "invalid_type", param, "%s: expected %s", param, want);
}

static int get_number(json_t *body, const char *key, double lo, double hi, double *out,
		      struct api_fault *f)
{
	json_t *v = json_object_get(body, key);

	if (!v || json_is_null(v))
		return 0;
	if (!json_is_number(v))
		return wrong_type(f, key, "a number");
	*out = json_number_value(v);
	if (!(*out >= lo && *out <= hi))
		return api_fault_set(f, 400, BAD, "invalid_value", key,
				     "%s: %g is out of range [%g, %g]", key, *out, lo, hi);
	return 0;
}

static int get_bool(json_t *body, const char *key, bool *out, struct api_fault *f)
{
	json_t *v = json_object_get(body, key);

	if (!v || json_is_null(v))
		return 0;
	if (!json_is_boolean(v))
		return wrong_type(f, key, "a boolean");
	*out = json_is_true(v);
	return 0;
}

/* max_completion_tokens is the current name, max_tokens the old one. */
static int get_max_tokens(json_t *body, struct api_request *r, struct api_fault *f)
{
	static const char *const keys[] = {"max_completion_tokens", "max_tokens"};

	for (size_t i = 0; i < 2; i++) {
		json_t *v = json_object_get(body, keys[i]);
		if (!v || json_is_null(v))
			continue;
		if (!json_is_integer(v))
			return wrong_type(f, keys[i], "an integer");
		if (json_integer_value(v) < 1)
			return api_fault_set(f, 400, BAD, "invalid_value", keys[i],
					     "%s: must be at least 1", keys[i]);
		r->max_tokens = json_integer_value(v);
		return 0;
	}
	return 0;
}

static int add_stop(struct api_request *r, json_t *v, const char *param, struct api_fault *f)
{
	size_t len = json_string_length(v);

	if (len == 0)
		return api_fault_set(f, 400, BAD, "invalid_value", param,
				     "%s: a stop sequence cannot be empty", param);
	if (len > API_MAX_STOP_LEN)
		return api_fault_set(f, 400, BAD, "invalid_value", param,
				     "%s: a stop sequence is at most %d bytes", param,
				     API_MAX_STOP_LEN);
	r->stop[r->n_stop++] = strdup(json_string_value(v));
	return 0;
}

static int get_stop(json_t *body, struct api_request *r, struct api_fault *f)
{
	json_t *v = json_object_get(body, "stop"), *s;
	size_t i;
	char param[32];

	if (!v || json_is_null(v))
		return 0;
	if (json_is_string(v))
		return add_stop(r, v, "stop", f);
	if (!json_is_array(v))
		return wrong_type(f, "stop", "a string or an array of strings");
	if (json_array_size(v) > API_MAX_STOP)
		return api_fault_set(f, 400, BAD, "invalid_value", "stop",
				     "stop: at most %d sequences", API_MAX_STOP);
	json_array_foreach(v, i, s) {
		snprintf(param, sizeof param, "stop[%zu]", i);
		if (!json_is_string(s))
			return wrong_type(f, param, "a string");
		if (add_stop(r, s, param, f))
			return -1;
	}
	return 0;
}

static int get_sampling(json_t *body, struct api_request *r, struct api_fault *f)
{
	json_t *v;
	double n = 1;

	if (get_number(body, "temperature", 0, 2, &r->sampling.temperature, f) ||
	    get_number(body, "top_p", 0, 1, &r->sampling.top_p, f) ||
	    get_number(body, "n", 1, 1e9, &n, f))
		return -1;
	v = json_object_get(body, "n");
	if (v && !json_is_null(v) && (!json_is_integer(v) || n != 1))
		return api_fault_set(f, 400, BAD, "unsupported_value", "n",
				     "n: only 1 choice per request is supported");
	v = json_object_get(body, "seed");
	if (v && !json_is_null(v)) {
		if (!json_is_integer(v))
			return wrong_type(f, "seed", "an integer");
		r->has_seed = true;
		r->sampling.seed = (uint64_t)json_integer_value(v);
	}
	return 0;
}

static int get_stream(json_t *body, struct api_request *r, struct api_fault *f)
{
	json_t *o = json_object_get(body, "stream_options");

	if (get_bool(body, "stream", &r->stream, f))
		return -1;
	if (!o || json_is_null(o))
		return 0;
	if (!json_is_object(o))
		return wrong_type(f, "stream_options", "an object");
	if (get_bool(o, "include_usage", &r->include_usage, f)) {
		snprintf(f->param, sizeof f->param, "stream_options.include_usage");
		return -1;
	}
	return 0;
}

/* content: a string, null (an assistant turn with tool calls: templates get
 * ""), or an array of parts of which the text ones are joined. */
static int message_content(json_t *c, size_t idx, json_t **out, struct api_fault *f)
{
	char param[64];
	json_t *part;
	size_t i, cap = 0, len = 0;
	char *buf = NULL;

	snprintf(param, sizeof param, "messages[%zu].content", idx);
	if (!c || json_is_null(c) || json_is_string(c)) {
		*out = json_is_string(c) ? json_incref(c) : json_string("");
		return 0;
	}
	if (!json_is_array(c))
		return wrong_type(f, param, "a string or an array of content parts");
	json_array_foreach(c, i, part) {
		json_t *type = json_object_get(part, "type"), *text = json_object_get(part, "text");
		snprintf(param, sizeof param, "messages[%zu].content[%zu]", idx, i);
		if (!json_is_object(part) || !json_is_string(type))
			return free(buf), wrong_type(f, param, "an object with a type");
		if (strcmp(json_string_value(type), "text") != 0)
			return free(buf), api_fault_set(f, 400, BAD, "unsupported_value", param,
							"%s: content of type \"%s\" is not supported",
							param, json_string_value(type));
		if (!json_is_string(text))
			return free(buf), wrong_type(f, param, "a text part with a string \"text\"");
		size_t n = json_string_length(text);
		if (len + n + 1 > cap) {
			cap = 2 * (len + n + 1);
			buf = realloc(buf, cap);
		}
		memcpy(buf + len, json_string_value(text), n);
		len += n;
		buf[len] = 0;
	}
	*out = json_stringn(buf ? buf : "", len);
	free(buf);
	return 0;
}

static int is_role(const char *r)
{
	static const char *const roles[] = {"system", "developer", "user", "assistant", "tool"};

	for (size_t i = 0; i < sizeof roles / sizeof *roles; i++)
		if (strcmp(r, roles[i]) == 0)
			return 1;
	return 0;
}

static int one_message(json_t *m, size_t i, json_t *out, struct api_fault *f)
{
	char param[64];
	json_t *role = json_object_get(m, "role"), *name = json_object_get(m, "name"), *content = NULL;

	snprintf(param, sizeof param, "messages[%zu]", i);
	if (!json_is_object(m))
		return wrong_type(f, param, "an object");
	snprintf(param, sizeof param, "messages[%zu].role", i);
	if (!json_is_string(role))
		return wrong_type(f, param, "a string");
	if (!is_role(json_string_value(role)))
		return api_fault_set(f, 400, BAD, "invalid_value", param,
				     "%s: unknown role \"%.64s\"", param, json_string_value(role));
	if (message_content(json_object_get(m, "content"), i, &content, f))
		return -1;
	json_t *msg = json_pack("{s:O, s:o}", "role", role, "content", content);
	if (name && json_is_string(name))
		json_object_set(msg, "name", name);
	json_array_append_new(out, msg);
	return 0;
}

static int get_messages(json_t *body, struct api_request *r, struct api_fault *f)
{
	json_t *v = json_object_get(body, "messages"), *m;
	size_t i;

	if (!v)
		return api_fault_set(f, 400, BAD, "missing_required_parameter", "messages",
				     "messages: required");
	if (!json_is_array(v))
		return wrong_type(f, "messages", "an array");
	if (json_array_size(v) == 0)
		return api_fault_set(f, 400, BAD, "invalid_value", "messages",
				     "messages: at least one message is required");
	r->messages = json_array();
	json_array_foreach(v, i, m)
		if (one_message(m, i, r->messages, f))
			return -1;
	return 0;
}

static int prompt_ids(json_t *v, const char *param, struct api_request *r, struct api_fault *f)
{
	size_t i, n = json_array_size(v);
	json_t *x;

	if (n == 0)
		return api_fault_set(f, 400, BAD, "invalid_value", param, "%s: empty prompt", param);
	r->prompt_ids = malloc(n * sizeof *r->prompt_ids);
	json_array_foreach(v, i, x) {
		if (!json_is_integer(x) || json_integer_value(x) < 0 ||
		    json_integer_value(x) > INT32_MAX)
			return api_fault_set(f, 400, BAD, "invalid_type", param,
					     "%s[%zu]: expected a token id (an integer >= 0)",
					     param, i);
		r->prompt_ids[i] = (int32_t)json_integer_value(x);
	}
	r->n_prompt_ids = n;
	return 0;
}

/* A string, an array of token ids, or a one-element array of either
 * (several prompts would be several choices: n=1 only). */
static int get_prompt(json_t *body, struct api_request *r, struct api_fault *f)
{
	json_t *v = json_object_get(body, "prompt"), *first;

	if (!v)
		return api_fault_set(f, 400, BAD, "missing_required_parameter", "prompt",
				     "prompt: required");
	if (json_is_string(v)) {
		r->prompt = strdup(json_string_value(v));
		return 0;
	}
	if (!json_is_array(v))
		return wrong_type(f, "prompt", "a string or an array of token ids");
	first = json_array_get(v, 0);
	if (first && (json_is_string(first) || json_is_array(first))) {
		if (json_array_size(v) != 1)
			return api_fault_set(f, 400, BAD, "unsupported_value", "prompt",
					     "prompt: only one prompt per request is supported");
		if (json_is_string(first)) {
			r->prompt = strdup(json_string_value(first));
			return 0;
		}
		return prompt_ids(first, "prompt[0]", r, f);
	}
	return prompt_ids(v, "prompt", r, f);
}

static int parse_body(enum api_kind kind, json_t *body, struct api_request *r, struct api_fault *f)
{
	json_t *model = json_object_get(body, "model");

	if (!json_is_object(body))
		return api_fault_set(f, 400, BAD, "invalid_type", NULL,
				     "the request body must be a JSON object");
	if (!model)
		return api_fault_set(f, 400, BAD, "missing_required_parameter", "model",
				     "model: required");
	if (!json_is_string(model))
		return wrong_type(f, "model", "a string");
	r->model = strdup(json_string_value(model));
	if (kind == API_CHAT ? get_messages(body, r, f) : get_prompt(body, r, f))
		return -1;
	return get_max_tokens(body, r, f) || get_stop(body, r, f) || get_sampling(body, r, f) ||
	       get_stream(body, r, f) ? -1 : 0;
}

int api_request_parse(enum api_kind kind, const char *body, size_t len, struct api_request *r,
		      struct api_fault *f)
{
	json_error_t je;
	json_t *root;
	int rc;

	memset(r, 0, sizeof *r);
	r->kind = kind;
	r->max_tokens = -1;
	eng_sampling_defaults(&r->sampling);
	r->sampling.temperature = 1;
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
	if (!root)
		return api_fault_set(f, 400, BAD, "invalid_json", NULL,
				     "the request body is not valid JSON: line %d, column %d: %s",
				     je.line, je.column, je.text);
	rc = parse_body(kind, root, r, f);
	json_decref(root);
	if (rc) {
		api_request_free(r);
		r->kind = kind;
	}
	return rc;
}

void api_request_free(struct api_request *r)
{
	free(r->model);
	json_decref(r->messages);
	free(r->prompt);
	free(r->prompt_ids);
	for (size_t i = 0; i < r->n_stop; i++)
		free(r->stop[i]);
	memset(r, 0, sizeof *r);
}

size_t api_stop_holdback(const char *text, size_t len, char *const *stop, size_t n_stop)
{
	size_t best = 0;

	for (size_t i = 0; i < n_stop; i++) {
		size_t sl = strlen(stop[i]);
		for (size_t k = sl - 1 < len ? sl - 1 : len; k > best; k--)
			if (memcmp(text + len - k, stop[i], k) == 0) {
				best = k;
				break;
			}
	}
	return best;
}

long api_stop_find(const char *text, size_t len, size_t from, char *const *stop, size_t n_stop)
{
	long best = -1;

	for (size_t i = 0; i < n_stop && from <= len; i++) {
		const char *p = memmem(text + from, len - from, stop[i], strlen(stop[i]));
		if (p && (best < 0 || p - text < best))
			best = p - text;
	}
	return best;
}
