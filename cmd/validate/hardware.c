/* `exo-validate hardware [MODEL]`: this machine, or the node records on
 * stdin, against the tables of ../shared/COMPAT.md (hardware/compat.c and
 * hardware/requirements.c): CPU architecture, each GPU's support, RAM and
 * VRAM for the model's size at each weight type, free space in the model
 * cache, network speed when there are several nodes, and whether the model's
 * kind runs on the node's back ends. */
#include "hardware/hardware.h"
#include "hardware/requirements.h"
#include "model/config.h"
#include "validate/facts.h"
#include "cmd/validate/subcommand.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct hw_check {
	struct vcheck_out *out;
	const struct model_facts *model;   /* NULL without a MODEL argument */
	int multi_node;
	const char *node;                  /* subject of the checks */
};

#define hw_emit(c, ...) vcheck_emitf((c)->out, (c)->node, __VA_ARGS__)

static const char *support_level(const char *support)
{
	if (!support || !strcmp(support, "unsupported"))
		return "fail";
	return strcmp(support, "full") ? "warn" : "ok";
}

static void check_arch(struct hw_check *c, const json_t *node)
{
	const char *arch = json_string_value(json_object_get(node, "arch"));
	struct hw_verdict v;
	hw_arch_verdict(arch ? arch : "", &v);
	hw_emit(c, "hardware.arch", support_level(hw_support_name(v.support)), "CPU architecture %s: %s (%s)",
		arch ? arch : "(missing)", hw_support_name(v.support), v.reason);
}

/* The three levels of a requirement row against what the node has. */
static const char *level_of(uint64_t have, uint64_t minimum, uint64_t recommended)
{
	return have < minimum ? "fail" : have < recommended ? "warn" : "ok";
}

static void check_ram(struct hw_check *c, const json_t *node)
{
	uint64_t ram = (uint64_t)json_integer_value(json_object_get(node, "mem_total"));
	char have[32], a[32], b[32], d[32];
	fmt_bytes(have, sizeof have, (double)ram);
	if (!c->model) {
		const struct hw_mem_row *r = hw_ram_row(0);
		hw_emit(c, "hardware.ram", ram >= r->minimum ? "ok" : "fail",
			"%s of RAM; the smallest models (%s) need %s at least", have, r->size,
			fmt_bytes(a, sizeof a, (double)r->minimum));
		return;
	}
	const struct hw_mem_row *r = hw_ram_row(c->model->params);
	char p[32];
	hw_emit(c, "hardware.ram", level_of(ram, r->minimum, r->recommended),
		"%s of RAM for a %s-parameter model (%s): minimum %s, recommended %s, optimal %s%s",
		have, fmt_params(p, sizeof p, c->model->params), r->size, fmt_bytes(a, sizeof a, (double)r->minimum),
		fmt_bytes(b, sizeof b, (double)r->recommended), fmt_bytes(d, sizeof d, (double)r->optimal),
		ram < r->minimum ? "; split the model over more nodes, or quantise it (--dtype q4_0)" : "");
}

/* Which of FP16, INT8, INT4 fit in bytes, as a phrase. */
static void fitting_dtypes(const struct model_facts *m, uint64_t bytes, char *buf, size_t n)
{
	int stored = m->quantized && m->stored_bytes && m->stored_bytes <= bytes;
	snprintf(buf, n, "%s%s%s%s", stored ? "as stored (MLX quantized) " : "",
		 model_bytes_f16(m) <= bytes ? "FP16 " : "",
		 model_bytes_q8(m) <= bytes ? "INT8 " : "", model_bytes_q4(m) <= bytes ? "INT4" : "");
	if (!*buf)
		snprintf(buf, n, "no weight type: the model needs several GPUs or nodes");
}

static void check_gpu(struct hw_check *c, const json_t *gpu, size_t i)
{
	const char *name = json_string_value(json_object_get(gpu, "name"));
	const char *support = json_string_value(json_object_get(gpu, "support"));
	const char *reason = json_string_value(json_object_get(gpu, "reason"));
	hw_emit(c, "hardware.gpu", support_level(support), "GPU %zu (%s): %s%s%s", i, name ? name : "?",
		support ? support : "no verdict", reason ? ": " : "", reason ? reason : "");
	if (!c->model)
		return;
	uint64_t vram = (uint64_t)json_integer_value(json_object_get(gpu, "memory_total"));
	const struct hw_mem_row *r = hw_vram_row(c->model->params);
	char have[32], a[32], b[32], fits[96];
	fitting_dtypes(c->model, vram, fits, sizeof fits);
	hw_emit(c, "hardware.vram", level_of(vram, r->minimum, r->recommended),
		"GPU %zu: %s of VRAM for a %s model: minimum %s, recommended %s (%s); weights fit as: %s",
		i, fmt_bytes(have, sizeof have, (double)vram), r->size, fmt_bytes(a, sizeof a, (double)r->minimum),
		fmt_bytes(b, sizeof b, (double)r->recommended), r->note, fits);
}

static void check_storage(struct hw_check *c, const json_t *node)
{
	const json_t *st = json_object_get(node, "storage");
	if (!json_is_object(st)) {
		hw_emit(c, "hardware.storage", "warn", "no storage facts for the model cache in the record");
		return;
	}
	uint64_t free_b = (uint64_t)json_integer_value(json_object_get(st, "free"));
	const struct hw_level_row *r = hw_storage_row(c->multi_node);
	char have[32], a[32], b[32];
	const char *level = level_of(free_b, r->minimum, r->recommended);
	if (c->model && !c->model->stored_bytes && free_b < model_bytes_f16(c->model))
		level = "fail";   /* not downloaded yet, and it would not fit */
	hw_emit(c, "hardware.storage", level, "%s free in the model cache %s: a %s needs %s, %s recommended",
		fmt_bytes(have, sizeof have, (double)free_b),
		json_string_value(json_object_get(st, "path")) ?: "", r->what,
		fmt_bytes(a, sizeof a, (double)r->minimum), fmt_bytes(b, sizeof b, (double)r->recommended));
}

static void check_network(struct hw_check *c, const json_t *node)
{
	uint64_t best = 0;
	size_t i;
	const json_t *nic;
	json_array_foreach(json_object_get(node, "net"), i, nic)
		if (json_integer_value(json_object_get(nic, "speed")) > (json_int_t)best)
			best = (uint64_t)json_integer_value(json_object_get(nic, "speed"));
	const struct hw_level_row *data = hw_network_row("data");
	const struct hw_level_row *mgmt = hw_network_row("management");
	if (!best) {
		hw_emit(c, "hardware.network", "warn", "no interface reports its speed: a cluster wants %g Gbit/s or more for model transfer",
			data->minimum * 8 / 1e9);
		return;
	}
	hw_emit(c, "hardware.network", best < mgmt->minimum ? "fail" : best < data->minimum ? "warn" : "ok",
		"fastest interface %g Gbit/s: control plane needs %g, model transfer %g (recommended %g)",
		best * 8 / 1e9, mgmt->minimum * 8 / 1e9, data->minimum * 8 / 1e9, data->recommended * 8 / 1e9);
}

static void check_kind_on(struct hw_check *c, enum hw_backend b, uint64_t vram)
{
	const struct hw_kind_cell *k = hw_kind_support(c->model->kind, b);
	const char *level = k->support == HW_FULL ? "ok" : k->support == HW_LIMITED ? "warn" : "fail";
	/* COMPAT.md, Mixture-of-Experts on CUDA: "Requires 24GB+ VRAM". */
	if (c->model->kind == HK_MOE && b == HB_CUDA && vram < 24ull << 30)
		level = "fail";
	hw_emit(c, "hardware.backend", level, "%s (%s) on %s: %s%s%s%s%s", c->model->architecture,
		hw_kind_name(c->model->kind), hw_backend_name(b), hw_support_name(k->support),
		k->performance ? ", performance " : "", k->performance ? k->performance : "",
		k->note ? ": " : "", k->note ? k->note : "");
}

static void check_backends(struct hw_check *c, const json_t *node)
{
	if (c->model->kind < 0) {
		hw_emit(c, "hardware.backend", "warn", "%s: kind of model unknown to the matrix",
			c->model->architecture);
		return;
	}
	check_kind_on(c, HB_CPU, 0);
	size_t i;
	const json_t *g;
	json_array_foreach(json_object_get(node, "gpus"), i, g) {
		const char *be = json_string_value(json_object_get(g, "backend"));
		int b = be ? hw_backend_parse(be) : -1;
		if (b > HB_CPU)
			check_kind_on(c, b, (uint64_t)json_integer_value(json_object_get(g, "memory_total")));
	}
}

/* Whether exo's own engine runs the architecture, beyond the matrix. */
static void check_engine(struct hw_check *c)
{
	struct model_config mc;
	struct exo_err e;
	int ok = model_config_load(&mc, c->model->dir, &e) == 0;
	char p[32], a[32];
	if (ok)
		hw_emit(c, "model.engine", "ok", "exo's engine runs this architecture: %s parameters, %s "
			"of them active per token", fmt_params(p, sizeof p, c->model->params),
			fmt_params(a, sizeof a, c->model->active_params));
	else
		hw_emit(c, "model.engine", "fail", "%s", e.msg);
}

static void check_node(struct hw_check *c, const json_t *node)
{
	c->node = json_string_value(json_object_get(node, "name")) ?: "node";
	check_arch(c, node);
	check_ram(c, node);
	size_t i;
	const json_t *g;
	json_array_foreach(json_object_get(node, "gpus"), i, g)
		check_gpu(c, g, i);
	check_storage(c, node);
	if (c->multi_node)
		check_network(c, node);
	if (c->model) {
		check_backends(c, node);
		check_engine(c);
	}
}

/* Node records from stdin when it is a pipe or a file, else this machine. */
static json_t *read_nodes(const char *sysroot)
{
	json_t *nodes = json_array();
	struct stat st;
	if (!sysroot && fstat(STDIN_FILENO, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISREG(st.st_mode))) {
		json_t *all = vread_records(NULL), *rec;
		size_t i;
		json_array_foreach(all, i, rec)
			if (!strcmp(rec_kind(rec), "node"))
				json_array_append(nodes, rec);
		json_decref(all);
	}
	if (json_array_size(nodes) == 0) {
		struct exo_config conf;
		struct exo_err e = {0};
		conf_init(&conf);
		if (conf_load(&conf, NULL, &e) < 0)
			exo_die(&e);
		struct hw_opts o = {.sysroot = sysroot, .conf = &conf};
		json_t *node = hw_node_new(&o, &e);
		conf_free(&conf);
		if (!node)
			exo_die(&e);
		json_array_append_new(nodes, node);
	}
	return nodes;
}

static const char usage_text[] =
	"usage: exo-validate hardware [MODEL] [--sysroot DIR] [-o FORMAT] [-q]\n";

int validate_hardware(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"sysroot", required_argument, NULL, 's'}, {"output", required_argument, NULL, 'o'},
		{"quiet", no_argument, NULL, 'q'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
	const char *sysroot = NULL;
	enum rec_format format = REC_AUTO;
	int c;
	while ((c = getopt_long(argc, argv, "o:qh", longopts, NULL)) != -1) {
		switch (c) {
		case 's': sysroot = optarg; break;
		case 'o': format = rec_format_option(optarg); break;
		case 'q': break;
		case 'h': fputs(usage_text, stdout); exit(0);
		default: fputs(usage_text, stderr); exit(EXO_USAGE);
		}
	}
	if (argc - optind > 1) {
		fputs(usage_text, stderr);
		exit(EXO_USAGE);
	}
	struct model_facts facts;
	struct exo_err e = {0};
	if (optind < argc && model_facts_load(argv[optind], &facts, &e) < 0)
		exo_die(&e);
	json_t *nodes = read_nodes(sysroot);
	struct vcheck_out out;
	vcheck_open(&out, format);
	struct hw_check hc = {.out = &out, .model = optind < argc ? &facts : NULL,
			      .multi_node = json_array_size(nodes) > 1};
	size_t i;
	json_t *node;
	json_array_foreach(nodes, i, node)
		check_node(&hc, node);
	json_decref(nodes);
	return vcheck_close(&out, vcheck_status(&out));
}
