/* The plan record's codec: the one place its fields are read and written
 * (man/exo-wire.5).  Encoding writes the fields in the order exo-partition
 * always has; decoding trusts the schema check the record reader made. */
#include "planner/planner.h"
#include "records/record.h"

#include <stdlib.h>
#include <string.h>

static char *str_of(const json_t *o, const char *k)
{
	const json_t *v = json_object_get(o, k);
	return json_is_string(v) ? xstrdup(json_string_value(v)) : NULL;
}

static int64_t int_of(const json_t *o, const char *k)
{
	return json_integer_value(json_object_get(o, k));
}

static double num_of(const json_t *o, const char *k)
{
	return json_number_value(json_object_get(o, k));
}

static void decode_stage(const json_t *s, struct plan_rec_stage *st)
{
	st->index = int_of(s, "index");
	st->node = str_of(s, "node");
	st->device = str_of(s, "device");
	st->address = str_of(s, "address");
	st->layer_start = int_of(s, "layer_start");
	st->layer_end = int_of(s, "layer_end");
	st->bytes = int_of(s, "bytes");
	st->kv_bytes = int_of(s, "kv_bytes");
	st->activation_bytes = int_of(s, "activation_bytes");
	st->memory = int_of(s, "memory");
	st->bandwidth = num_of(s, "bandwidth");
	st->bandwidth_source = str_of(s, "bandwidth_source");
	st->rtt_source = str_of(s, "rtt_source");
	st->seconds_per_token = num_of(s, "seconds_per_token");
}

int plan_rec_decode(const json_t *rec, struct plan_rec *p, struct exo_err *e)
{
	memset(p, 0, sizeof *p);
	const char *kind = rec_kind(rec);
	if (!kind || strcmp(kind, "plan") != 0)
		return exo_error(e, EXO_DATAERR, "a %s record is not a plan", kind ? kind : "kindless");
	p->model = str_of(rec, "model");
	p->revision = str_of(rec, "revision");
	p->path = str_of(rec, "path");
	p->strategy = str_of(rec, "strategy");
	p->dtype = str_of(rec, "dtype");
	p->layers = int_of(rec, "layers");
	p->context = int_of(rec, "context");
	p->sessions = int_of(rec, "sessions");
	const json_t *stages = json_object_get(rec, "stages"), *notes = json_object_get(rec, "notes");
	p->n_stages = json_array_size(stages);
	p->stages = xcalloc(p->n_stages, sizeof *p->stages);
	for (size_t i = 0; i < p->n_stages; i++)
		decode_stage(json_array_get(stages, i), &p->stages[i]);
	p->seconds_per_token = num_of(rec, "seconds_per_token");
	p->tokens_per_s = num_of(rec, "tokens_per_s");
	p->aggregate_tokens_per_s = num_of(rec, "aggregate_tokens_per_s");
	p->hop_seconds = num_of(rec, "hop_seconds");
	p->notes = xcalloc(json_array_size(notes), sizeof *p->notes);
	for (size_t i = 0; i < json_array_size(notes); i++)
		if (json_is_string(json_array_get(notes, i)))
			p->notes[p->n_notes++] = xstrdup(json_string_value(json_array_get(notes, i)));
	return 0;
}

int plan_rec_read(int fd, const char *source, struct plan_rec *p, struct exo_err *e)
{
	memset(p, 0, sizeof *p);
	struct rec_reader *r = rec_reader_open_format(fd, source, rec_sniff_fd(fd));
	json_t *rec = NULL;
	int rc;
	while ((rc = rec_reader_next(r, &rec, e)) == 1) {
		const char *kind = rec_kind(rec);
		if (kind && strcmp(kind, "plan") == 0)
			break;
		json_decref(rec);
	}
	rec_reader_close(r);
	if (rc == 0)
		return exo_error(e, EXO_DATAERR, "%s: no plan record", source);
	if (rc < 0)
		return -1;
	rc = plan_rec_decode(rec, p, e);
	json_decref(rec);
	return rc;
}

/* A string the struct leaves NULL is left out, as the decoder found it. */
static void set_str(json_t *o, const char *k, const char *v)
{
	if (v)
		json_object_set_new(o, k, json_string(v));
}

static json_t *encode_stage(const struct plan_rec_stage *st)
{
	json_t *o = json_object();
	json_object_set_new(o, "index", json_integer(st->index));
	set_str(o, "node", st->node);
	set_str(o, "device", st->device);
	set_str(o, "address", st->address);
	json_object_set_new(o, "layer_start", json_integer(st->layer_start));
	json_object_set_new(o, "layer_end", json_integer(st->layer_end));
	json_object_set_new(o, "bytes", json_integer(st->bytes));
	json_object_set_new(o, "kv_bytes", json_integer(st->kv_bytes));
	json_object_set_new(o, "activation_bytes", json_integer(st->activation_bytes));
	json_object_set_new(o, "memory", json_integer(st->memory));
	json_object_set_new(o, "bandwidth", json_real(st->bandwidth));
	set_str(o, "bandwidth_source", st->bandwidth_source);
	set_str(o, "rtt_source", st->rtt_source);
	json_object_set_new(o, "seconds_per_token", json_real(st->seconds_per_token));
	return o;
}

json_t *plan_rec_encode(const struct plan_rec *p)
{
	json_t *rec = rec_new("plan"), *stages = json_array();
	set_str(rec, "model", p->model);
	set_str(rec, "revision", p->revision);
	set_str(rec, "path", p->path);
	set_str(rec, "strategy", p->strategy);
	json_object_set_new(rec, "layers", json_integer(p->layers));
	set_str(rec, "dtype", p->dtype);
	json_object_set_new(rec, "context", json_integer(p->context));
	json_object_set_new(rec, "sessions", json_integer(p->sessions));
	for (size_t i = 0; i < p->n_stages; i++)
		json_array_append_new(stages, encode_stage(&p->stages[i]));
	json_object_set_new(rec, "stages", stages);
	json_object_set_new(rec, "seconds_per_token", json_real(p->seconds_per_token));
	json_object_set_new(rec, "tokens_per_s", json_real(p->tokens_per_s));
	json_object_set_new(rec, "aggregate_tokens_per_s", json_real(p->aggregate_tokens_per_s));
	json_object_set_new(rec, "hop_seconds", json_real(p->hop_seconds));
	if (p->n_notes) {
		json_t *notes = json_array();
		for (size_t i = 0; i < p->n_notes; i++)
			json_array_append_new(notes, json_string(p->notes[i]));
		json_object_set_new(rec, "notes", notes);
	}
	return rec;
}

void plan_rec_free(struct plan_rec *p)
{
	free(p->model), free(p->revision), free(p->path), free(p->strategy), free(p->dtype);
	for (size_t i = 0; i < p->n_stages; i++) {
		struct plan_rec_stage *st = &p->stages[i];
		free(st->node), free(st->device), free(st->address);
		free(st->bandwidth_source), free(st->rtt_source);
	}
	free(p->stages);
	for (size_t i = 0; i < p->n_notes; i++)
		free(p->notes[i]);
	free(p->notes);
	memset(p, 0, sizeof *p);
}
