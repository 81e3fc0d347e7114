/* The JSON decoder: JSON Lines, concatenated JSON objects, or one JSON array
 * of records, read whole and then returned one record at a time.  jansson
 * parses; JSON_DISABLE_EOF_CHECK tells where each object ends.  A record
 * is at most REC_MAX_BYTES, as in msgpack: an object is parsed from at most
 * that many bytes, an array's item is measured compact. */
#include "records/rec_int.h"

#include <stdlib.h>
#include <string.h>

struct jr {
	char *buf;
	size_t len, pos;
	int loaded;
	json_t *array;   /* the input was one array: its items are the records */
	size_t item;
};

static void skip_space(struct jr *j)
{
	while (j->pos < j->len && strchr(" \t\r\n", j->buf[j->pos]) && j->buf[j->pos])
		j->pos++;
}

/* Line of byte pos, 1-based, for messages about a later object of the stream. */
static size_t line_of(const struct jr *j, size_t pos)
{
	size_t line = 1;
	for (size_t i = 0; i < pos; i++)
		line += j->buf[i] == '\n';
	return line;
}

static int parse_error(struct rec_reader *r, struct jr *j, const json_error_t *je, struct exo_err *e)
{
	size_t line = line_of(j, j->pos) + (size_t)(je->line > 0 ? je->line - 1 : 0);
	return rec_fail(r, e, "line %zu column %d: %s", line, je->column, je->text);
}

static int load(struct rec_reader *r, struct jr *j, struct exo_err *e)
{
	if (rec_input_slurp(r, &j->buf, &j->len, e) < 0)
		return -1;
	j->loaded = 1;
	skip_space(j);
	if (j->pos == j->len || j->buf[j->pos] != '[')
		return 0;
	json_error_t je;
	j->array = json_loadb(j->buf + j->pos, j->len - j->pos, JSON_ALLOW_NUL, &je);
	return j->array ? 0 : parse_error(r, j, &je, e);
}

static int jr_next(struct rec_reader *r, json_t **out, struct exo_err *e)
{
	struct jr *j = r->state;
	if (!j->loaded && load(r, j, e) < 0)
		return -1;
	if (j->array) {
		if (j->item >= json_array_size(j->array))
			return 0;
		json_t *item = json_array_get(j->array, j->item++);
		if (json_dumpb(item, NULL, 0, JSON_COMPACT) > REC_MAX_BYTES)
			return rec_fail(r, e, "item %zu of the array: larger than %zu MiB", j->item - 1,
					REC_MAX_BYTES >> 20);
		*out = json_incref(item);
		return 1;
	}
	skip_space(j);
	if (j->pos == j->len)
		return 0;
	json_error_t je;
	size_t flags = JSON_DISABLE_EOF_CHECK | JSON_ALLOW_NUL | JSON_DECODE_ANY;
	size_t avail = j->len - j->pos, window = avail > REC_MAX_BYTES ? REC_MAX_BYTES : avail;
	*out = json_loadb(j->buf + j->pos, window, flags, &je);
	/* an object still open where the window ends (or failing just
	 * before it, cut inside a token) goes on past the limit */
	if (!*out && window < avail && (size_t)je.position + 64 >= window)
		return rec_fail(r, e, "line %zu: larger than %zu MiB", line_of(j, j->pos),
				REC_MAX_BYTES >> 20);
	if (!*out)
		return parse_error(r, j, &je, e);
	j->pos += (size_t)je.position;
	return 1;
}

static void jr_free(struct rec_reader *r)
{
	struct jr *j = r->state;
	if (!j)
		return;
	json_decref(j->array);
	free(j->buf);
	free(j);
}

int rec_json_init(struct rec_reader *r)
{
	r->state = calloc(1, sizeof(struct jr));
	r->next = jr_next;
	r->free = jr_free;
	return r->state ? 0 : -1;
}
