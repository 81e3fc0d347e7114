/* Parsing of OpenAI request bodies into plain structs: pure functions (no
 * model, no network) so that a fuzzer can drive them.  A refused body fills
 * an api_fault with the HTTP status, the OpenAI error type and code, the
 * offending parameter and a message naming it. */
#ifndef EXO_API_REQUEST_H
#define EXO_API_REQUEST_H
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "engine/engine.h"

#define API_MAX_STOP 4          /* stop sequences, as OpenAI allows */
#define API_MAX_STOP_LEN 256    /* bytes of one stop sequence */

enum api_kind { API_CHAT, API_COMPLETION };

struct api_fault {
	int status;             /* HTTP status: 400, 401, 404, 405, 413, 503 ... */
	const char *type;       /* "invalid_request_error", "authentication_error" ... */
	const char *code;       /* "invalid_type", "model_not_found" ... or NULL */
	char param[64];         /* the field at fault, "" when none */
	char message[512];
};

struct api_request {
	enum api_kind kind;
	char *model;
	json_t *messages;       /* chat: [{role, content (a string), name?}], content parts joined */
	char *prompt;           /* completion: the prompt as text, or NULL */
	int32_t *prompt_ids;    /* completion: the prompt as token ids, or NULL */
	size_t n_prompt_ids;
	long long max_tokens;   /* -1: not given */
	char *stop[API_MAX_STOP];
	size_t n_stop;
	struct eng_sampling sampling;   /* temperature, top_p and seed as given (temperature
	                                 * default 1); the rest at eng_sampling_defaults */
	bool has_seed;
	bool stream;
	bool include_usage;     /* stream_options.include_usage */
};

/* Fills r from a JSON body (len bytes, not necessarily NUL-terminated).
 * Returns 0, or -1 with f filled (status 400) and r left empty. */
int api_request_parse(enum api_kind kind, const char *body, size_t len, struct api_request *r,
		      struct api_fault *f);
void api_request_free(struct api_request *r);

/* The Authorization headers of a request against the key: n_headers of
 * them were sent, the first is value[0..len) (NULL when none).  Exactly
 * one, exactly "Bearer KEY": a second header, or a byte after a NUL, is
 * refused as a wrong key would be.  No key: everything passes.  The
 * comparison takes the same time however much of the key matched.
 * Returns 0, or -1 with f filled (401). */
int api_check_auth(const char *key, const char *value, size_t len, int n_headers,
		   struct api_fault *f);

/* Fill f and return -1. */
int api_fault_set(struct api_fault *f, int status, const char *type, const char *code,
		  const char *param, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* {"error": {"message", "type", "param", "code"}}: a new reference. */
json_t *api_fault_json(const struct api_fault *f);

/* Stop sequences over streamed text: the length of the longest suffix of
 * text[0..len) that is a proper prefix of one of the stops (text that must
 * be held back because the next token may complete a stop sequence). */
size_t api_stop_holdback(const char *text, size_t len, char *const *stop, size_t n_stop);
/* The offset of the first stop sequence in text[0..len) at or after from,
 * or -1. */
long api_stop_find(const char *text, size_t len, size_t from, char *const *stop, size_t n_stop);
#endif
