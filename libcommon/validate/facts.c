/* Model facts for the validate subcommands: config.json's architecture, and
 * the parameter count summed over the safetensors headers (estimated from
 * the config's dimensions when the weights are not there yet). */
#include "validate/facts.h"
#include "hardware/requirements.h"
#include "model/checkpoint.h"
#include "model/quant.h"
#include "model/gguf.h"
#include "model/safetensors.h"
#include "util/file.h"

#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

static double config_estimate(const json_t *cfg)
{
	double h = json_number_value(json_object_get(cfg, "hidden_size"));
	double l = json_number_value(json_object_get(cfg, "num_hidden_layers"));
	double ffn = json_number_value(json_object_get(cfg, "intermediate_size"));
	double v = json_number_value(json_object_get(cfg, "vocab_size"));
	if (ffn == 0)
		ffn = 4 * h;
	/* attention ~4h^2, gated MLP 3*h*ffn, embedding and head */
	return l * (4 * h * h + 3 * h * ffn) + 2 * v * h;
}

/* Weights a tensor stands for: an MLX packed U32 weight holds 32/bits per
 * element, its scales and biases none of their own. */
static double tensor_params(const struct st_tensor *t, const struct model_quant *q)
{
	size_t len = strlen(t->name);
	if (len > 7 && (strcmp(t->name + len - 7, ".scales") == 0 || strcmp(t->name + len - 7, ".biases") == 0))
		return 0;
	double numel = 1;
	for (int k = 0; k < t->n_dims; k++)
		numel *= (double)t->shape[k];
	if (t->dtype == ST_U32 && len > 7) {
		char module[512];
		snprintf(module, sizeof module, "%.*s", (int)(len - 7), t->name);
		struct model_qspec s = model_quant_of(q, module);
		numel *= 32.0 / (s.bits ? s.bits : 32);
	}
	return numel;
}

static void count_headers(struct model_facts *f)
{
	struct model_quant q;
	struct exo_err qe;
	if (model_quant_load(&q, f->dir, &qe) < 0)
		memset(&q, 0, sizeof q);
	f->quantized = q.present;
	DIR *d = opendir(f->dir);
	struct dirent *de;
	double params = 0;
	uint64_t bytes = 0;
	while (d && (de = readdir(d))) {
		size_t n = strlen(de->d_name);
		if (n < 12 || strcmp(de->d_name + n - 12, ".safetensors"))
			continue;
		char path[4400];
		snprintf(path, sizeof path, "%s/%s", f->dir, de->d_name);
		struct exo_err e;
		struct st_file *st = st_open(path, &e);
		if (!st)
			continue;   /* a broken file is the model check's finding, not ours */
		for (size_t i = 0; i < st->n_tensors; i++)
			params += tensor_params(&st->tensors[i], &q);
		bytes += st->map_size;
		st_close(st);
	}
	if (d)
		closedir(d);
	model_quant_free(&q);
	if (params > 0) {
		f->params = params;
		f->params_counted = 1;
		f->stored_bytes = bytes;
	}
}

/* A GGUF file: its metadata as config.json, its tensor infos counted. */
static json_t *gguf_facts(struct model_facts *f, struct exo_err *e)
{
	struct gguf_file *g = gguf_open(f->dir, e);
	json_t *cfg = g ? gguf_hf_config(g, e) : NULL;
	double params = 0;
	for (size_t i = 0; cfg && i < g->n_tensors; i++) {
		double numel = 1;
		for (int k = 0; k < g->tensors[i].n_dims; k++)
			numel *= (double)g->tensors[i].ne[k];
		params += numel;
	}
	if (cfg && params > 0) {
		f->params = params;
		f->params_counted = 1;
		f->stored_bytes = g->map_size;
	}
	gguf_close(g);
	return cfg;
}

int model_facts_load(const char *model, struct model_facts *f, struct exo_err *e)
{
	memset(f, 0, sizeof *f);
	f->kind = -1;
	if (ckpt_resolve(model, f->dir, sizeof f->dir, e) < 0)
		return -1;
	char path[4200];
	snprintf(path, sizeof path, "%s/config.json", f->dir);
	json_error_t je;
	bool gguf = gguf_is_file(f->dir);
	json_t *cfg = gguf ? gguf_facts(f, e) : json_load_file(path, 0, &je);
	if (!cfg)
		return gguf ? -1 : exo_error(e, EXO_DATAERR, "%s:%d: %s", path, je.line, je.text);
	const char *arch = json_string_value(json_array_get(json_object_get(cfg, "architectures"), 0));
	snprintf(f->architecture, sizeof f->architecture, "%s", arch ? arch : "unknown");
	f->kind = arch ? hw_kind_of_architecture(arch) : -1;
	double counted = f->params;
	f->params = config_estimate(cfg);
	json_decref(cfg);
	/* the engine's own count where it reads the config (experts included) */
	struct model_config mc;
	struct exo_err ce;
	double total = 0, active = 0;
	if (model_config_load(&mc, f->dir, &ce) == 0) {
		model_param_counts(&mc, &total, &active);
		f->params = total;
	}
	if (gguf && counted > 0)
		f->params = counted;
	else if (!gguf)
		count_headers(f);
	/* the experts a token does not use, out of the counted total */
	f->active_params = f->params - (total - active);
	return 0;
}

uint64_t model_bytes_f16(const struct model_facts *f) { return (uint64_t)(f->params * 2); }
uint64_t model_bytes_q8(const struct model_facts *f) { return (uint64_t)(f->params * 34 / 32); }
uint64_t model_bytes_q4(const struct model_facts *f) { return (uint64_t)(f->params * 18 / 32); }

const char *fmt_bytes(char *buf, size_t n, double bytes)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	int u = 0;
	while (bytes >= 1024 && u < 4) {
		bytes /= 1024;
		u++;
	}
	snprintf(buf, n, u ? "%.1f %s" : "%.0f %s", bytes, units[u]);
	return buf;
}

const char *fmt_params(char *buf, size_t n, double params)
{
	if (params >= 1e9)
		snprintf(buf, n, "%.3gB", params / 1e9);
	else if (params >= 1e6)
		snprintf(buf, n, "%.3gM", params / 1e6);
	else
		snprintf(buf, n, "%.3gk", params / 1e3);
	return buf;
}
