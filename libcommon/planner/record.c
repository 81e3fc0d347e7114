/* The plan record of a planner's result (codec.c encodes it), and the
 * table of a plan record for a terminal.
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

static char *address(const struct plan_cluster *c, const struct plan_result *p,
		     const struct plan_request *r, size_t i)
{
	const struct plan_unit *u = &c->units[p->stages[i].unit];
	const char *host = stages_on(c, p, u->node) == p->n ? "127.0.0.1" : u->host;
	int port = u->port && stages_on(c, p, u->node) == 1 ? u->port : r->port_base + (int)i;
	char buf[320];
	snprintf(buf, sizeof buf, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
	return xstrdup(buf);
}

/* A copy, NULL for NULL: a name the tables lack is left out of the record. */
static char *dup_name(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

static void stage_of(const struct plan_cluster *c, const struct plan_result *p,
		     const struct plan_request *r, size_t i, struct plan_rec_stage *st)
{
	const struct plan_stage *s = &p->stages[i];
	const struct plan_unit *u = &c->units[s->unit];
	*st = (struct plan_rec_stage){
		.index = (int64_t)i, .node = xstrdup(u->node), .device = xstrdup(u->device),
		.address = address(c, p, r, i), .layer_start = s->layer_start, .layer_end = s->layer_end,
		.bytes = (int64_t)s->weight_bytes, .kv_bytes = (int64_t)s->kv_bytes,
		.activation_bytes = (int64_t)s->act_bytes, .memory = (int64_t)u->mem_budget,
		.bandwidth = u->bandwidth, .bandwidth_source = dup_name(plan_source_name(u->bw_source)),
		.rtt_source = dup_name(plan_source_name(u->rtt_source)), .seconds_per_token = s->seconds,
	};
}

static void add_note(struct plan_rec *rec, const char *note)
{
	rec->notes = xrealloc(rec->notes, (rec->n_notes + 1) * sizeof *rec->notes);
	rec->notes[rec->n_notes++] = xstrdup(note);
}

static void add_notes(struct plan_rec *rec, const json_t *notes)
{
	size_t i;
	const json_t *n;
	json_array_foreach(notes, i, n)
		add_note(rec, json_string_value(n));
}

json_t *plan_record(const struct plan_model *m, const struct plan_cluster *c,
		    const struct plan_request *r, const struct plan_result *p)
{
	struct plan_rec rec = {
		.model = xstrdup(m->id), .revision = m->revision[0] ? xstrdup(m->revision) : NULL,
		.path = m->path[0] ? xstrdup(m->path) : NULL,
		.strategy = dup_name(plan_strategy_name(r->strategy)), .layers = m->layers,
		.dtype = dup_name(plan_dtype_name(m->dtype)), .context = r->ctx, .sessions = r->sessions,
		.stages = xcalloc(p->n, sizeof *rec.stages), .n_stages = p->n,
		.seconds_per_token = p->seconds_per_token, .tokens_per_s = 1 / p->seconds_per_token,
		.aggregate_tokens_per_s = p->aggregate_tokens_per_s, .hop_seconds = p->hop_seconds,
	};
	for (size_t i = 0; i < p->n; i++)
		stage_of(c, p, r, i, &rec.stages[i]);
	add_notes(&rec, c->notes);
	for (size_t i = 0; i < p->n; i++) {
		const struct plan_unit *u = &c->units[p->stages[i].unit];
		if (!u->no_address || stages_on(c, p, u->node) == p->n)
			continue;
		char note[512];
		snprintf(note, sizeof note, "stage %zu: node '%s' names no routable address "
			 "(exo-detect --advertise HOST:PORT); 127.0.0.1 written", i, u->node);
		add_note(&rec, note);
	}
	add_notes(&rec, p->notes);
	json_t *out = plan_rec_encode(&rec);
	plan_rec_free(&rec);
	return out;
}

/* ---- the table ---- */

#define NCOL 10
static const char *const heads[NCOL] = { "stage", "node", "device", "address", "layers",
					 "weights", "kv", "budget", "bandwidth", "ms/token" };

static const char *or_empty(const char *s)
{
	return s ? s : "";
}

static void cells(const struct plan_rec_stage *s, char out[NCOL][160])
{
	snprintf(out[0], 160, "%lld", (long long)s->index);
	snprintf(out[1], 160, "%s", or_empty(s->node));
	snprintf(out[2], 160, "%s", or_empty(s->device));
	snprintf(out[3], 160, "%s", or_empty(s->address));
	snprintf(out[4], 160, "%lld-%lld", (long long)s->layer_start, (long long)s->layer_end - 1);
	human_bytes(out[5], 160, (double)s->bytes);
	human_bytes(out[6], 160, (double)s->kv_bytes);
	human_bytes(out[7], 160, (double)s->memory);
	snprintf(out[8], 160, "%.1f GB/s %s", s->bandwidth / 1e9, or_empty(s->bandwidth_source));
	snprintf(out[9], 160, "%.3f", s->seconds_per_token * 1e3);
}

static char *table(const struct plan_rec *p)
{
	size_t n = p->n_stages;
	char (*c)[NCOL][160] = xcalloc(n ? n : 1, sizeof *c);
	int w[NCOL];
	for (int k = 0; k < NCOL; k++)
		w[k] = (int)strlen(heads[k]);
	for (size_t i = 0; i < n; i++) {
		cells(&p->stages[i], c[i]);
		for (int k = 0; k < NCOL; k++)
			if ((int)strlen(c[i][k]) > w[k])
				w[k] = (int)strlen(c[i][k]);
	}
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	for (int k = 0; k < NCOL; k++)
		fprintf(f, "%-*s%s", k + 1 < NCOL ? w[k] : 0, heads[k], k + 1 < NCOL ? "  " : "\n");
	for (size_t i = 0; i < n; i++)
		for (int k = 0; k < NCOL; k++)
			fprintf(f, "%-*s%s", k + 1 < NCOL ? w[k] : 0, c[i][k], k + 1 < NCOL ? "  " : "\n");
	fprintf(f, "%s %s %s, --ctx %lld: %zu stage%s, %.3f ms/token, %.1f tokens/s predicted "
		"(%.1f aggregate over %lld session%s)\n", or_empty(p->model), or_empty(p->dtype),
		or_empty(p->strategy), (long long)p->context, n, n == 1 ? "" : "s",
		p->seconds_per_token * 1e3, p->tokens_per_s, p->aggregate_tokens_per_s,
		(long long)p->sessions, p->sessions == 1 ? "" : "s");
	for (size_t i = 0; i < p->n_notes; i++)
		fprintf(f, "note: %s\n", p->notes[i]);
	fclose(f);
	free(c);
	return buf;
}

char *plan_table(const json_t *plan)
{
	struct plan_rec p;
	struct exo_err e;
	char *t = plan_rec_decode(plan, &p, &e) == 0 ? table(&p) : xstrdup("");
	plan_rec_free(&p);
	return t;
}
