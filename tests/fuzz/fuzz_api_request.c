/* libFuzzer target for the API's request parser.  The first byte picks the
 * route (chat or completions), the rest is the body.  A body is either
 * accepted, and then the struct holds what the server relies on (a model
 * name, messages with string roles and contents, a prompt as text or ids,
 * at most API_MAX_STOP non-empty stops, sampling in range, n=1), or refused
 * with a 400 whose error object serialises; never a crash or a leak.
 * The same bytes as an Authorization header value (any count of headers,
 * from the second byte) pass the key check only when they are exactly
 * "Bearer " and the key. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "api/request.h"

static void check_accepted(const struct api_request *r)
{
	size_t i;
	json_t *m;

	if (!r->model || r->n_stop > API_MAX_STOP || !(r->sampling.temperature >= 0 && r->sampling.temperature <= 2) ||
	    !(r->sampling.top_p >= 0 && r->sampling.top_p <= 1) || (r->max_tokens != -1 && r->max_tokens < 1))
		abort();
	for (i = 0; i < r->n_stop; i++)
		if (!r->stop[i] || !r->stop[i][0] || strlen(r->stop[i]) > API_MAX_STOP_LEN)
			abort();
	if (r->kind == API_CHAT) {
		if (!json_is_array(r->messages) || json_array_size(r->messages) == 0)
			abort();
		json_array_foreach(r->messages, i, m)
			if (!json_is_string(json_object_get(m, "role")) ||
			    !json_is_string(json_object_get(m, "content")))
				abort();
	} else if (!r->prompt == !r->prompt_ids || (r->prompt_ids && r->n_prompt_ids == 0)) {
		abort();
	}
	/* what the holdback keeps must be a suffix shorter than every stop */
	if (r->n_stop) {
		const char *text = r->model;
		size_t len = strlen(text), hold = api_stop_holdback(text, len, r->stop, r->n_stop);
		if (hold > len || hold >= API_MAX_STOP_LEN)
			abort();
		long at = api_stop_find(text, len, 0, r->stop, r->n_stop);
		if (at >= 0 && (size_t)at > len)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct api_request r;
	struct api_fault f;
	enum api_kind kind;

	if (size < 1)
		return 0;
	kind = data[0] & 1 ? API_COMPLETION : API_CHAT;
	memset(&f, 0, sizeof f);
	{
		static const char want[] = "Bearer fuzz-key";
		int n = data[0] >> 6;
		int rc = api_check_auth("fuzz-key", (const char *)data + 1, size - 1, n, &f);
		bool exact = n == 1 && size - 1 == sizeof want - 1 && memcmp(data + 1, want, size - 1) == 0;
		if ((rc == 0) != exact || (rc && f.status != 401))
			abort();
		memset(&f, 0, sizeof f);
	}
	if (api_request_parse(kind, (const char *)data + 1, size - 1, &r, &f) == 0) {
		check_accepted(&r);
		api_request_free(&r);
		return 0;
	}
	json_t *j = api_fault_json(&f);
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	if (f.status != 400 || !f.type || !s)
		abort();
	free(s);
	json_decref(j);
	return 0;
}
