/* The plan record exo-shard-serve reads, and its table for a terminal.
 *
 * Addresses: a node's advertised HOST:PORT when it runs exactly one stage;
 * otherwise its host with port base + stage index.  When every stage is on
 * one node the host is 127.0.0.1: such a plan never leaves the machine. */
#include "planner/planner.h"
#include "records/record.h"
#include "util/human.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t stages_on(const struct plan_cluster *c, const struct plan_result *p, const char *node)
{
	size_t n = 0;
	for (size_t i = 0; i < p->n; i++)
		n += strcmp(c->units[p->stages[i].unit].node, node) == 0;
	return n;
}

static json_t *address(const struct plan_cluster *c, const struct plan_result *p,
		       const struct plan_request *r, size_t i)
{
	const struct plan_unit *u = &c->units[p->stages[i].unit];
	const char *host = stages_on(c, p, u->node) == p->n ? "127.0.0.1" : u->host;
	int port = u->port && stages_on(c, p, u->node) == 1 ? u->port : r->port_base + (int)i;
	return json_sprintf(strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
}

static json_t *stage_record(const struct plan_cluster *c, const struct plan_result *p,
			    const struct plan_request *r, size_t i)
{
	const struct plan_stage *s = &p->stages[i];
	const struct plan_unit *u = &c->units[s->unit];
	json_t *o = json_object();
	json_object_set_new(o, "index", json_integer((json_int_t)i));
	json_object_set_new(o, "node", json_string(u->node));
	json_object_set_new(o, "device", json_string(u->device));
	json_object_set_new(o, "address", address(c, p, r, i));
	json_object_set_new(o, "layer_start", json_integer(s->layer_start));
	json_object_set_new(o, "layer_end", json_integer(s->layer_end));
	json_object_set_new(o, "bytes", json_integer((json_int_t)s->weight_bytes));
	json_object_set_new(o, "kv_bytes", json_integer((json_int_t)s->kv_bytes));
	json_object_set_new(o, "activation_bytes", json_integer((json_int_t)s->act_bytes));
	json_object_set_new(o, "memory", json_integer((json_int_t)u->mem_budget));
	json_object_set_new(o, "bandwidth", json_real(u->bandwidth));
	json_object_set_new(o, "bandwidth_source", json_string(plan_source_name(u->bw_source)));
	json_object_set_new(o, "rtt_source", json_string(plan_source_name(u->rtt_source)));
	json_object_set_new(o, "seconds_per_token", json_real(s->seconds));
	return o;
}

json_t *plan_record(const struct plan_model *m, const struct plan_cluster *c,
		    const struct plan_request *r, const struct plan_result *p)
{
	json_t *rec = rec_new("plan"), *stages = json_array(), *notes = json_array();
	json_object_set_new(rec, "model", json_string(m->id));
	if (m->revision[0])
		json_object_set_new(rec, "revision", json_string(m->revision));
	if (m->path[0])
		json_object_set_new(rec, "path", json_string(m->path));
	json_object_set_new(rec, "strategy", json_string(plan_strategy_name(r->strategy)));
	json_object_set_new(rec, "layers", json_integer(m->layers));
	json_object_set_new(rec, "dtype", json_string(plan_dtype_name(m->dtype)));
	json_object_set_new(rec, "context", json_integer(r->ctx));
	json_object_set_new(rec, "sessions", json_integer(r->sessions));
	for (size_t i = 0; i < p->n; i++)
		json_array_append_new(stages, stage_record(c, p, r, i));
	json_object_set_new(rec, "stages", stages);
	json_object_set_new(rec, "seconds_per_token", json_real(p->seconds_per_token));
	json_object_set_new(rec, "tokens_per_s", json_real(1 / p->seconds_per_token));
	json_object_set_new(rec, "aggregate_tokens_per_s", json_real(p->aggregate_tokens_per_s));
	json_object_set_new(rec, "hop_seconds", json_real(p->hop_seconds));
	json_array_extend(notes, c->notes);
	for (size_t i = 0; i < p->n; i++) {
		const struct plan_unit *u = &c->units[p->stages[i].unit];
		if (u->no_address && stages_on(c, p, u->node) < p->n)
			json_array_append_new(notes, json_sprintf("stage %zu: node '%s' names no routable "
				"address (exo-detect --advertise HOST:PORT); 127.0.0.1 written", i, u->node));
	}
	if (p->notes)
		json_array_extend(notes, p->notes);
	if (json_array_size(notes))
		json_object_set(rec, "notes", notes);
	json_decref(notes);
	return rec;
}

/* ---- the table ---- */

#define NCOL 10
static const char *const heads[NCOL] = { "stage", "node", "device", "address", "layers",
					 "weights", "kv", "budget", "bandwidth", "ms/token" };

static void cells(const json_t *s, char out[NCOL][160])
{
	const char *src = json_string_value(json_object_get(s, "bandwidth_source"));
	snprintf(out[0], 160, "%lld", (long long)json_integer_value(json_object_get(s, "index")));
	snprintf(out[1], 160, "%s", json_string_value(json_object_get(s, "node")));
	snprintf(out[2], 160, "%s", json_string_value(json_object_get(s, "device")));
	snprintf(out[3], 160, "%s", json_string_value(json_object_get(s, "address")));
	snprintf(out[4], 160, "%lld-%lld", (long long)json_integer_value(json_object_get(s, "layer_start")),
		 (long long)json_integer_value(json_object_get(s, "layer_end")) - 1);
	human_bytes(out[5], 160, (double)json_integer_value(json_object_get(s, "bytes")));
	human_bytes(out[6], 160, (double)json_integer_value(json_object_get(s, "kv_bytes")));
	human_bytes(out[7], 160, (double)json_integer_value(json_object_get(s, "memory")));
	snprintf(out[8], 160, "%.1f GB/s %s", json_number_value(json_object_get(s, "bandwidth")) / 1e9,
		 src ? src : "");
	snprintf(out[9], 160, "%.3f", json_number_value(json_object_get(s, "seconds_per_token")) * 1e3);
}

char *plan_table(const json_t *plan)
{
	const json_t *stages = json_object_get(plan, "stages"), *s;
	size_t n = json_array_size(stages), i;
	char (*c)[NCOL][160] = xcalloc(n ? n : 1, sizeof *c);
	int w[NCOL];
	for (int k = 0; k < NCOL; k++)
		w[k] = (int)strlen(heads[k]);
	json_array_foreach(stages, i, s) {
		cells(s, c[i]);
		for (int k = 0; k < NCOL; k++)
			if ((int)strlen(c[i][k]) > w[k])
				w[k] = (int)strlen(c[i][k]);
	}
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	for (int k = 0; k < NCOL; k++)
		fprintf(f, "%-*s%s", k + 1 < NCOL ? w[k] : 0, heads[k], k + 1 < NCOL ? "  " : "\n");
	for (i = 0; i < n; i++)
		for (int k = 0; k < NCOL; k++)
			fprintf(f, "%-*s%s", k + 1 < NCOL ? w[k] : 0, c[i][k], k + 1 < NCOL ? "  " : "\n");
	double spt = json_number_value(json_object_get(plan, "seconds_per_token"));
	fprintf(f, "%s %s %s, --ctx %lld: %zu stage%s, %.3f ms/token, %.1f tokens/s predicted "
		"(%.1f aggregate over %lld session%s)\n",
		json_string_value(json_object_get(plan, "model")),
		json_string_value(json_object_get(plan, "dtype")),
		json_string_value(json_object_get(plan, "strategy")),
		(long long)json_integer_value(json_object_get(plan, "context")), n, n == 1 ? "" : "s",
		spt * 1e3, json_number_value(json_object_get(plan, "tokens_per_s")),
		json_number_value(json_object_get(plan, "aggregate_tokens_per_s")),
		(long long)json_integer_value(json_object_get(plan, "sessions")),
		json_integer_value(json_object_get(plan, "sessions")) == 1 ? "" : "s");
	json_array_foreach(json_object_get(plan, "notes"), i, s)
		fprintf(f, "note: %s\n", json_string_value(s));
	fclose(f);
	free(c);
	return buf;
}
