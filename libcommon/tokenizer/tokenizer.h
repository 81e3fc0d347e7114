/* Tokenizers as Hugging Face's tokenizer.json describes them: byte-level BPE
 * (Llama 3, Qwen2, GPT-2) and SentencePiece-style BPE with byte fallback
 * (Llama 2, Mistral, Phi-3); normalizers, pre-tokenizers, post-processor,
 * added tokens and decoders as the file asks.  Exact against the reference
 * ids of ../shared/fixtures/tokenizers.  A loaded tokenizer is read-only and
 * may be shared by threads. */
#ifndef EXO_TOKENIZER_TOKENIZER_H
#define EXO_TOKENIZER_TOKENIZER_H
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "util/err.h"

struct tok;

/* path: a .gguf file (its tokenizer.ggml.* keys: tokenizer/gguf.c), or a
 * directory holding tokenizer.json (and, when present,
 * tokenizer_config.json, generation_config.json, chat_template.jinja), or a
 * tokenizer.json file (those files then come from its directory).  Errors
 * name the file and the JSON path of the field. */
struct tok *tok_load(const char *path, struct exo_err *e);
/* tokenizer.json's content from memory (tests, fuzzing); name is used in errors. */
struct tok *tok_load_buffer(const char *json, size_t len, const char *name, struct exo_err *e);
void tok_free(struct tok *t);

/* add_special: apply the post-processor (BOS for Llama 3.2, Mistral ...).
 * Added tokens found literally in the text are always recognised, as HF does.
 * Invalid UTF-8 in text is read as U+FFFD.  *ids is malloc'd. */
int tok_encode(const struct tok *t, const char *text, size_t len, bool add_special,
	       int32_t **ids, size_t *n, struct exo_err *e);
/* The decoders of the file; *text is malloc'd and NUL-terminated (the text
 * itself may hold NUL bytes: use *len).  An id outside the vocabulary is an
 * error naming it (EXO_DATAERR). */
int tok_decode(const struct tok *t, const int32_t *ids, size_t n, bool skip_special,
	       char **text, size_t *len, struct exo_err *e);

/* Streaming decode for generation: push ids one at a time and receive the
 * text that is complete so far; never half a UTF-8 character. */
struct tok_stream;
struct tok_stream *tok_stream_new(const struct tok *t, bool skip_special);
/* *out (valid until the next call) receives the new text, possibly empty;
 * -1 for an id outside the vocabulary (the stream is unchanged). */
int tok_stream_push(struct tok_stream *s, int32_t id, const char **out, size_t *len);
/* What is held back at the end (an incomplete character, as U+FFFD). */
int tok_stream_flush(struct tok_stream *s, const char **out, size_t *len);
void tok_stream_free(struct tok_stream *s);

size_t tok_vocab_size(const struct tok *t);           /* model + added tokens */
int32_t tok_id(const struct tok *t, const char *piece); /* -1 when absent */
const char *tok_piece(const struct tok *t, int32_t id); /* NULL when out of range */
bool tok_is_special(const struct tok *t, int32_t id);
int32_t tok_bos(const struct tok *t);                 /* -1 when none */
/* Ids that end a generation: eos_token of tokenizer_config.json and
 * eos_token_id of generation_config.json (a number or a list). */
size_t tok_eos_ids(const struct tok *t, const int32_t **ids);
/* tokenizer_config.json (NULL when absent): for chat template variables.
 * Integers too big for json_int_t (model_max_length 1e30) make the whole
 * file read with integers as reals. */
const json_t *tok_config(const struct tok *t);
/* The chat template: tokenizer_config.json's chat_template (a string, or the
 * one named "default" in a list), else chat_template.jinja; NULL when none. */
const char *tok_chat_template(const struct tok *t);
#endif
