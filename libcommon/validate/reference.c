/* The reference check: prefill logits, every layer's output, greedy tokens
 * and every decode step's logits and hidden states against transformers. */
#include "validate/reference.h"
#include "engine/engine.h"
#include "kernels/kern.h"
#include "model/checkpoint.h"
#include "model/quant.h"
#include "net/proto.h"
#include "records/record.h"
#include "serve/head.h"
#include "util/file.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_STAGES 64

struct reference {
	int *prompt, *generated;
	size_t T, N;
	int L, H, V;
	float *prefill_logits, *layer_outputs, *decode_logits, *decode_hidden;
	double atol, rtol, hatol, hrtol;
};

/* Agreement of one quantity with its reference. */
struct stats {
	double max_abs, max_rel, worst_ratio;  /* ratio: |d| / (atol + rtol |ref|) */
	size_t count, over, top1_agree, rows;
};

struct run {
	const struct refcheck_opts *o;
	struct reference ref;
	struct eng_stage *stage[MAX_STAGES];
	struct eng_kv *kv[MAX_STAGES];
	int n_stages;
	float *layers;       /* hook output: [L, n, H] for the current forward */
	size_t hook_n;
	float *handover;
	float *prefill_last;  /* logits of the last prompt position: decode step 0 */
	/* router.json (mixtures of experts): the experts each sparse layer chose
	 * for the prompt and the fed tokens, [L, P, k], and ours as they come */
	json_t *router_ref;
	int32_t *router_got;
	size_t *router_n;     /* [L] positions recorded */
	size_t router_k, router_P;
	/* the kernels round activations to int8 where the reference kernels
	 * keep f32 (eng_rounds_x): values reported, greedy tokens still held */
	bool kernels_round;
};

static float *read_f32(const char *dir, const char *name, size_t count, struct exo_err *e)
{
	char path[4200];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	size_t len;
	char *buf = file_read_all(path, &len, e); /* malloc'd: aligned for floats */
	if (buf && len != size_mul(count, 4)) {
		exo_error(e, EXO_DATAERR, "%s: expected %zu float32 values (%zu bytes), the file has %zu "
			  "bytes", path, count, count * 4, len);
		free(buf);
		buf = NULL;
	}
	return (float *)buf;
}

static int *read_ids(const char *dir, const char *file, const char *key, size_t *n,
		     struct exo_err *e)
{
	char path[4200];
	snprintf(path, sizeof path, "%s/%s", dir, file);
	json_error_t je;
	json_t *root = json_load_file(path, 0, &je), *arr = json_object_get(root, key);
	int *ids = NULL;
	if (!json_is_array(arr) || json_array_size(arr) == 0) {
		exo_error(e, root ? EXO_DATAERR : EXO_NOINPUT, "%s: field '%s': expected a list of token ids",
			  path, key);
		goto out;
	}
	*n = json_array_size(arr);
	ids = malloc(*n * sizeof *ids);
	for (size_t i = 0; ids && i < *n; i++) {
		json_t *v = json_array_get(arr, i);
		if (!json_is_integer(v)) {
			exo_error(e, EXO_DATAERR, "%s: %s[%zu]: expected an integer", path, key, i);
			free(ids);
			ids = NULL;
			break;
		}
		ids[i] = (int)json_integer_value(v);
	}
out:
	json_decref(root);
	return ids;
}

/* Tolerances from meta.json's tolerances.f32_engine, else the fixture README's. */
static void read_tolerances(struct reference *r, const char *dir)
{
	char path[4200];
	snprintf(path, sizeof path, "%s/meta.json", dir);
	r->atol = r->hatol = 1e-3;
	r->rtol = r->hrtol = 1e-4;
	json_t *root = json_load_file(path, 0, NULL);
	json_t *f32 = json_object_get(json_object_get(root, "tolerances"), "f32_engine");
	json_t *lg = json_object_get(f32, "logits"), *hs = json_object_get(f32, "hidden_states");
	if (json_is_number(json_object_get(lg, "atol")))
		r->atol = json_number_value(json_object_get(lg, "atol"));
	if (json_is_number(json_object_get(lg, "rtol")))
		r->rtol = json_number_value(json_object_get(lg, "rtol"));
	if (json_is_number(json_object_get(hs, "atol")))
		r->hatol = json_number_value(json_object_get(hs, "atol"));
	if (json_is_number(json_object_get(hs, "rtol")))
		r->hrtol = json_number_value(json_object_get(hs, "rtol"));
	json_decref(root);
}

static int load_reference(struct reference *r, const char *dir, const struct model_config *c,
			  struct exo_err *e)
{
	r->L = c->n_layers, r->H = c->hidden, r->V = c->vocab;
	if (!(r->prompt = read_ids(dir, "prompt.json", "prompt_ids", &r->T, e)) ||
	    !(r->generated = read_ids(dir, "greedy.json", "generated_ids", &r->N, e)))
		return -1;
	size_t T = r->T, N = r->N, L = (size_t)r->L, H = (size_t)r->H, V = (size_t)r->V;
	if (!(r->prefill_logits = read_f32(dir, "prefill_logits.f32", T * V, e)) ||
	    !(r->layer_outputs = read_f32(dir, "layer_outputs.f32", L * T * H, e)) ||
	    !(r->decode_logits = read_f32(dir, "decode_logits.f32", N * V, e)) ||
	    !(r->decode_hidden = read_f32(dir, "decode_hidden_states.f32", (L + 1) * N * H, e)))
		return -1;
	read_tolerances(r, dir);
	return 0;
}

static void free_reference(struct reference *r)
{
	free(r->prompt), free(r->generated), free(r->prefill_logits);
	free(r->layer_outputs), free(r->decode_logits), free(r->decode_hidden);
}

static void compare(struct stats *s, const float *got, const float *want, size_t n, double atol,
		    double rtol)
{
	for (size_t i = 0; i < n; i++) {
		double d = fabs((double)got[i] - want[i]), a = fabs((double)want[i]);
		double ratio = d / (atol + rtol * a);
		if (!(d <= s->max_abs))
			s->max_abs = d;
		if (a > atol && d / a > s->max_rel)
			s->max_rel = d / a;
		if (!(ratio <= s->worst_ratio))
			s->worst_ratio = ratio;
		if (!(ratio <= 1))
			s->over++;
	}
	s->count += n;
}

static size_t argmax(const float *x, size_t n)
{
	size_t best = 0;
	for (size_t i = 1; i < n; i++)
		if (x[i] > x[best])
			best = i;
	return best;
}

static void compare_logits(struct stats *s, const float *got, const float *want, size_t rows,
			   size_t V, const struct reference *r)
{
	compare(s, got, want, rows * V, r->atol, r->rtol);
	for (size_t i = 0; i < rows; i++)
		s->top1_agree += argmax(got + i * V, V) == argmax(want + i * V, V);
	s->rows += rows;
}

static void hook(void *arg, int layer, const float *x, size_t n, size_t hidden)
{
	struct run *run = arg;
	memcpy(run->layers + (size_t)layer * n * hidden, x, n * hidden * sizeof *x);
	run->hook_n = n;
}

static void router_hook(void *arg, int layer, const int32_t *experts, size_t n, size_t k)
{
	struct run *run = arg;
	if (!run->router_got || k != run->router_k || layer < 0 || layer >= run->ref.L)
		return;
	size_t *have = &run->router_n[layer];
	for (size_t i = 0; i < n && *have < run->router_P; i++, (*have)++)
		memcpy(run->router_got + ((size_t)layer * run->router_P + *have) * k, experts + i * k,
		       k * sizeof *experts);
}

/* reference/router.json, when the model has experts: {"top_k": k,
 * "experts_per_position": {"LAYER": [[e, ...], ...]}}. */
static int load_router(struct run *run, const char *dir, const struct model_config *c,
		       struct exo_err *e)
{
	char path[4200];
	snprintf(path, sizeof path, "%s/router.json", dir);
	if (!c->n_experts || access(path, F_OK) != 0)
		return 0;
	json_error_t je;
	if (!(run->router_ref = json_load_file(path, 0, &je)))
		return exo_error(e, EXO_DATAERR, "%s:%d: %s", path, je.line, je.text);
	if (json_integer_value(json_object_get(run->router_ref, "top_k")) != c->n_experts_used ||
	    !json_is_object(json_object_get(run->router_ref, "experts_per_position")))
		return exo_error(e, EXO_DATAERR, "%s: expected top_k %d and experts_per_position", path,
				 c->n_experts_used);
	run->router_k = (size_t)c->n_experts_used;
	run->router_P = run->ref.T + run->ref.N - 1;
	run->router_got = calloc(size_mul((size_t)c->n_layers * run->router_P, run->router_k),
				 sizeof *run->router_got);
	run->router_n = calloc((size_t)c->n_layers, sizeof *run->router_n);
	if (!run->router_got || !run->router_n)
		return exo_error(e, EXO_SOFTWARE, "out of memory");
	return 0;
}

static int open_stages(struct run *run, const struct model_config *c, struct exo_err *e)
{
	const struct refcheck_opts *o = run->o;
	if (o->stages < 1 || o->stages > c->n_layers || o->stages > MAX_STAGES)
		return exo_error(e, EXO_USAGE, "cannot split %d layers into %d stages", c->n_layers,
				 o->stages);
	struct eng_opts eo = {.dtype = o->dtype, .threads = o->threads, .ctx = 0};
	for (int i = 0; i < o->stages; i++) {
		int first = (int)lround((double)i * c->n_layers / o->stages);
		int last = (int)lround((double)(i + 1) * c->n_layers / o->stages);
		run->stage[i] = eng_stage_open(o->model, first, last, &eo, e);
		run->n_stages = i + 1;
		if (!run->stage[i] || !(run->kv[i] = eng_kv_new(run->stage[i], e)))
			return -1;
		eng_set_layer_hook(run->stage[i], hook, run);
		eng_set_router_hook(run->stage[i], router_hook, run);
	}
	return 0;
}

/* The hidden block in run->handover ([n, H] rows for positions from pos)
 * across one stage boundary as the stages send it: narrowed to the
 * hand-over type, one forward frame through the shard protocol's own codec
 * (net/proto.h), widened back. */
static int hand_over(struct run *run, int pos, size_t n, struct exo_err *e)
{
	size_t H = (size_t)run->ref.H, count = size_mul(n, H);
	int dt = run->o->handover;
	size_t bytes = size_mul(count, dt == KD_F32 ? 4 : 2);
	void *wire = malloc(bytes);
	if (!wire)
		return exo_error(e, EXO_SOFTWARE, "out of memory packing %zu values", count);
	kern_select()->from_f32[dt](run->handover, wire, count);
	struct proto_msg sent, got;
	proto_msg_init(&sent, PROTO_FORWARD);
	sent.session = 1, sent.pos = pos, sent.n = n;
	sent.dtype = dt, sent.hidden = H, sent.data = wire, sent.data_len = bytes;
	char *frame = NULL;
	size_t len;
	int rc = proto_encode(&sent, &frame, &len, e);
	if (rc == 0 && (rc = proto_decode(frame, len, &got, e)) == 0) {
		if (got.op != PROTO_FORWARD || got.tokens || got.pos != pos || got.n != n ||
		    got.hidden != H || got.dtype != dt || got.data_len != bytes)
			rc = exo_error(e, EXO_SOFTWARE, "forward frame of %zux%zu values at position %d "
				       "did not decode to itself", n, H, pos);
		else /* the bin sits at any offset in the frame: align it */
			memcpy(wire, got.data, bytes), kern_select()->to_f32[dt](wire, run->handover, count);
		proto_msg_free(&got);
	}
	free(frame);
	free(wire);
	return rc;
}

/* n positions through the chain; hidden states cross each boundary as a
 * forward frame.  out gets what the last stage gives. */
static int chain_forward(struct run *run, const int32_t *tokens, size_t n, enum eng_output what,
			 float *out, struct exo_err *e)
{
	for (int i = 0; i < run->n_stages; i++) {
		bool last = i == run->n_stages - 1;
		int pos = eng_kv_len(run->kv[i]);
		float *dst = last ? out : run->handover;
		if (eng_forward(run->stage[i], run->kv[i], i == 0 ? tokens : NULL, run->handover, n,
				last ? what : ENG_OUT_HIDDEN, dst, e) < 0)
			return -1;
		if (last)
			break;
		if (hand_over(run, pos, n, e) < 0)
			return -1;
	}
	return 0;
}

static bool exact_weights(const struct refcheck_opts *o)
{
	if (o->connect) /* the stages' own --dtype is not known here: held to the bound */
		return true;
	/* stored weights are widened exactly; any rounding (--dtype, a narrower
	 * hand-over) is reported against the reference, not held to its bound */
	return (o->dtype < 0 || o->dtype == KD_F32) && o->handover == KD_F32;
}

/* Whether the results are held to the f32 bound: stored weights, an f32
 * hand-over and kernels that keep the activations in f32. */
static bool exact_mode(const struct run *run)
{
	return !run->kernels_round && exact_weights(run->o);
}

static const char *model_name(const char *model)
{
	const char *s = strrchr(model, '/');
	return s && s[1] ? s + 1 : model;
}

/* One check record for one quantity. */
static int emit_stats(struct run *run, const char *what, const struct stats *s, double atol,
		      double rtol, void (*emit)(void *, json_t *), void *arg)
{
	bool strict = exact_mode(run);
	int level = !strict ? CHECK_OK : s->over ? CHECK_FAIL : CHECK_OK;
	char msg[512];
	int n = snprintf(msg, sizeof msg, "max abs error %.3g, max rel error %.3g over %zu values",
			 s->max_abs, s->max_rel, s->count);
	if (strict)
		snprintf(msg + n, sizeof msg - (size_t)n, "; %zu beyond %g + %g*|ref| (worst at %.2f of the "
			 "tolerance)", s->over, atol, rtol, s->worst_ratio);
	else if (s->rows && run->kernels_round && exact_weights(run->o))
		snprintf(msg + n, sizeof msg - (size_t)n, "; top-1 agrees with the f32 reference on %zu of %zu "
			 "rows (the %s kernels round activations to int8 for MLX weights: reported, not "
			 "held to the f32 bound; EXO_KERNELS=ref holds it)", s->top1_agree, s->rows,
			 kern_select()->name);
	else if (!s->rows && run->kernels_round && exact_weights(run->o))
		snprintf(msg + n, sizeof msg - (size_t)n, " (the %s kernels round activations to int8 for "
			 "MLX weights: reported, not held to the f32 bound)", kern_select()->name);
	else if (s->rows)
		snprintf(msg + n, sizeof msg - (size_t)n, "; top-1 agrees with the f32 reference on %zu of %zu "
			 "rows (%s weights, %s hand-over: reported, not held to the f32 bound)",
			 s->top1_agree, s->rows, run->o->dtype < 0 ? "stored" : kern_dtype_name(run->o->dtype),
			 kern_dtype_name(run->o->handover));
	char subject[256], code[64];
	snprintf(subject, sizeof subject, "%s: %s", model_name(run->o->model), what);
	snprintf(code, sizeof code, "reference.%s", what);
	json_t *c = rec_new("check");
	json_object_set_new(c, "subject", json_string(subject));
	json_object_set_new(c, "level", json_string(level == CHECK_FAIL ? "fail" : "ok"));
	json_object_set_new(c, "code", json_string(code));
	json_object_set_new(c, "message", json_string(msg));
	json_object_set_new(c, "max_abs", json_real(s->max_abs));
	json_object_set_new(c, "max_rel", json_real(s->max_rel));
	json_object_set_new(c, "values", json_integer((json_int_t)s->count));
	if (s->rows) {
		json_object_set_new(c, "top1_agree", json_integer((json_int_t)s->top1_agree));
		json_object_set_new(c, "rows", json_integer((json_int_t)s->rows));
	}
	emit(arg, c);
	return level;
}

static int emit_tokens(struct run *run, const int32_t *got, void (*emit)(void *, json_t *),
		       void *arg)
{
	size_t same = 0, first_diff = run->ref.N;
	for (size_t k = 0; k < run->ref.N; k++) {
		same += got[k] == run->ref.generated[k];
		if (got[k] != run->ref.generated[k] && first_diff == run->ref.N)
			first_diff = k;
	}
	bool strict = exact_weights(run->o);   /* held with rounding kernels too (issue 18) */
	int level = same == run->ref.N || !strict ? CHECK_OK : CHECK_FAIL;
	char msg[256], subject[256];
	if (first_diff == run->ref.N)
		snprintf(msg, sizeof msg, "all %zu greedy tokens match", run->ref.N);
	else
		snprintf(msg, sizeof msg, "%zu of %zu greedy tokens match; step %zu gave %d, the reference %d",
			 same, run->ref.N, first_diff, got[first_diff], run->ref.generated[first_diff]);
	snprintf(subject, sizeof subject, "%s: greedy_tokens", model_name(run->o->model));
	json_t *c = rec_new("check");
	json_object_set_new(c, "subject", json_string(subject));
	json_object_set_new(c, "level", json_string(level == CHECK_FAIL ? "fail" : "ok"));
	json_object_set_new(c, "code", json_string("reference.greedy_tokens"));
	json_object_set_new(c, "message", json_string(msg));
	json_object_set_new(c, "matched", json_integer((json_int_t)same));
	json_object_set_new(c, "tokens", json_integer((json_int_t)run->ref.N));
	emit(arg, c);
	return level;
}

/* Our experts against router.json's, position by position, in top-k order. */
static int emit_router(struct run *run, void (*emit)(void *, json_t *), void *arg)
{
	json_t *layers = json_object_get(run->router_ref, "experts_per_position"), *rows;
	const char *key;
	size_t compared = 0, same = 0, k = run->router_k;
	char first[160] = "";
	json_object_foreach(layers, key, rows) {
		int l = atoi(key);
		if (l < 0 || l >= run->ref.L)
			continue;
		for (size_t p = 0; p < json_array_size(rows) && p < run->router_n[l]; p++) {
			json_t *want = json_array_get(rows, p);
			const int32_t *got = run->router_got + ((size_t)l * run->router_P + p) * k;
			bool eq = json_array_size(want) == k;
			for (size_t j = 0; eq && j < k; j++)
				eq = json_integer_value(json_array_get(want, j)) == got[j];
			compared++, same += eq;
			if (!eq && !first[0]) {
				int n = snprintf(first, sizeof first, "; layer %d position %zu chose", l, p);
				for (size_t j = 0; j < k && n < 120; j++)
					n += snprintf(first + n, sizeof first - (size_t)n, " %d", got[j]);
				n += snprintf(first + n, sizeof first - (size_t)n, ", the reference");
				for (size_t j = 0; j < json_array_size(want) && n < 150; j++)
					n += snprintf(first + n, sizeof first - (size_t)n, " %lld",
						      (long long)json_integer_value(json_array_get(want, j)));
			}
		}
	}
	bool strict = exact_mode(run);
	int level = (same == compared && compared) || !strict ? CHECK_OK : CHECK_FAIL;
	char msg[400], subject[256];
	snprintf(msg, sizeof msg, "%zu of %zu positions x sparse layers chose the reference's %zu "
		 "experts%s%s", same, compared, k, first, strict ? "" : " (reported, not held)");
	snprintf(subject, sizeof subject, "%s: router", model_name(run->o->model));
	json_t *c = rec_new("check");
	json_object_set_new(c, "subject", json_string(subject));
	json_object_set_new(c, "level", json_string(level == CHECK_FAIL ? "fail" : "ok"));
	json_object_set_new(c, "code", json_string("reference.router"));
	json_object_set_new(c, "message", json_string(msg));
	json_object_set_new(c, "matched", json_integer((json_int_t)same));
	json_object_set_new(c, "compared", json_integer((json_int_t)compared));
	emit(arg, c);
	return level;
}

/* Prefill: logits of every prompt position and every layer's output. */
static int check_prefill(struct run *run, struct stats *logits, struct stats *layers,
			 struct exo_err *e)
{
	struct reference *r = &run->ref;
	size_t T = r->T, H = (size_t)r->H, V = (size_t)r->V;
	float *out = malloc(size_mul(T, V * sizeof *out));
	if (!out)
		return exo_error(e, EXO_SOFTWARE, "out of memory");
	int rc = chain_forward(run, r->prompt, T, ENG_OUT_LOGITS, out, e);
	if (rc == 0) {
		compare_logits(logits, out, r->prefill_logits, T, V, r);
		compare(layers, run->layers, r->layer_outputs, (size_t)r->L * T * H, r->hatol, r->hrtol);
		memcpy(run->prefill_last, out + (T - 1) * V, V * sizeof *out);
	}
	free(out);
	return rc;
}

/* Decode: teacher-forced with the reference tokens, so that every step is
 * compared with its own reference even where a low-precision run would pick
 * another token; greedy agreement is our argmax at each step. */
static int check_decode(struct run *run, struct stats *logits, struct stats *hidden, int32_t *tokens,
			struct exo_err *e)
{
	struct reference *r = &run->ref;
	size_t H = (size_t)r->H, V = (size_t)r->V, N = r->N, L = (size_t)r->L;
	float *out = malloc(V * sizeof *out);
	if (!out)
		return exo_error(e, EXO_SOFTWARE, "out of memory");
	memcpy(out, run->prefill_last, V * sizeof *out); /* step 0 is the prefill's last position */
	int rc = 0;
	for (size_t k = 0; k < N && rc == 0; k++) {
		if (k > 0) {
			int32_t feed = r->generated[k - 1];
			if ((rc = chain_forward(run, &feed, 1, ENG_OUT_LAST_LOGITS, out, e)) < 0)
				break;
			for (size_t l = 0; l + 1 < L; l++) /* raw outputs; the last is normed in the file */
				compare(hidden, run->layers + l * H, r->decode_hidden + ((l + 1) * N + k) * H,
					H, r->hatol, r->hrtol);
		}
		compare_logits(logits, out, r->decode_logits + k * V, 1, V, r);
		tokens[k] = (int32_t)argmax(out, V);
	}
	free(out);
	return rc;
}

static int run_checks(struct run *run, void (*emit)(void *, json_t *), void *arg, struct exo_err *e)
{
	struct reference *r = &run->ref;
	struct stats pl = {0}, lo = {0}, dl = {0}, dh = {0};
	int32_t *tokens = malloc(r->N * sizeof *tokens);
	if (!tokens)
		return exo_error(e, EXO_SOFTWARE, "out of memory");
	int worst = -1;
	if (check_prefill(run, &pl, &lo, e) == 0 && check_decode(run, &dl, &dh, tokens, e) == 0) {
		worst = emit_stats(run, "prefill_logits", &pl, r->atol, r->rtol, emit, arg);
		int lv[] = {emit_stats(run, "layer_outputs", &lo, r->hatol, r->hrtol, emit, arg),
			    emit_stats(run, "decode_logits", &dl, r->atol, r->rtol, emit, arg),
			    emit_stats(run, "decode_hidden_states", &dh, r->hatol, r->hrtol, emit, arg),
			    emit_tokens(run, tokens, emit, arg),
			    run->router_ref ? emit_router(run, emit, arg) : CHECK_OK};
		for (size_t i = 0; i < sizeof lv / sizeof *lv; i++)
			worst = lv[i] > worst ? lv[i] : worst;
	}
	free(tokens);
	return worst;
}

static void emit_skipped(struct run *run, const char *what, void (*emit)(void *, json_t *), void *arg)
{
	char subject[256], code[64];
	snprintf(subject, sizeof subject, "%s: %s", model_name(run->o->model), what);
	snprintf(code, sizeof code, "reference.%s", what);
	json_t *c = rec_new("check");
	json_object_set_new(c, "subject", json_string(subject));
	json_object_set_new(c, "level", json_string("ok"));
	json_object_set_new(c, "code", json_string(code));
	json_object_set_new(c, "message", json_string("skipped: per-layer hidden states do not cross the "
						      "wire of a running pipeline"));
	json_object_set_new(c, "skipped", json_true());
	emit(arg, c);
}

struct remote_decode {
	struct run *run;
	struct stats *logits;
	size_t step;
};

static void on_logits(void *arg, const float *logits, size_t vocab)
{
	struct remote_decode *d = arg;
	struct reference *r = &d->run->ref;
	if (d->step < r->N && vocab == (size_t)r->V)
		compare_logits(d->logits, logits, r->decode_logits + d->step * vocab, 1, vocab, r);
	d->step++;
}

static int collect_token(void *arg, int32_t token, float logprob, bool eos)
{
	int32_t **out = arg;
	(void)logprob, (void)eos;
	*(*out)++ = token;
	return 0;
}

/* The same comparisons through a running pipeline: prefill logits of every
 * position, then a greedy generation whose every step brings its logits. */
static int run_remote(struct run *run, void (*emit)(void *, json_t *), void *arg, struct exo_err *e)
{
	const struct refcheck_opts *o = run->o;
	struct reference *r = &run->ref;
	struct head_opts ho = {.model = o->model, .next = o->connect, .eng = {.dtype = -1},
			       .net = {.key = o->key}, .retry_ms = 2000};
	struct head *h = head_open(&ho, e);
	if (!h)
		return -1;
	size_t V = (size_t)r->V;
	float *out = malloc(size_mul(r->T, V * sizeof *out));
	int32_t *tokens = calloc(r->N, sizeof *tokens), *cursor = tokens;
	struct stats pl = {0}, dl = {0};
	struct remote_decode d = {.run = run, .logits = &dl};
	struct head_request req = {.prompt = (const int32_t *)r->prompt, .n_prompt = r->T,
				   .max_tokens = (int)r->N, .on_logits = on_logits, .logits_arg = &d};
	eng_sampling_defaults(&req.sampling);
	req.sampling.temperature = 0;
	int worst = -1;
	if (!out || !tokens) {
		exo_error(e, EXO_SOFTWARE, "out of memory");
	} else if (head_logits_all(h, (const int32_t *)r->prompt, r->T, out, e) == 0 &&
		   head_generate(h, &req, collect_token, &cursor, NULL, e) == 0) {
		compare_logits(&pl, out, r->prefill_logits, r->T, V, r);
		worst = emit_stats(run, "prefill_logits", &pl, r->atol, r->rtol, emit, arg);
		emit_skipped(run, "layer_outputs", emit, arg);
		int lv[] = {emit_stats(run, "decode_logits", &dl, r->atol, r->rtol, emit, arg),
			    emit_tokens(run, tokens, emit, arg)};
		emit_skipped(run, "decode_hidden_states", emit, arg);
		for (size_t i = 0; i < 2; i++)
			worst = lv[i] > worst ? lv[i] : worst;
	}
	free(out), free(tokens);
	head_close(h);
	return worst;
}

/* A pipeline's stages do not say which kernels they run: an MLX-quantized
 * checkpoint is taken to go through the kernels this machine would pick
 * (the stages of a check are this build, usually on this machine). */
static bool remote_rounds(const char *dir)
{
	struct model_quant q;
	struct exo_err qe;
	bool round = false;
	if (model_quant_load(&q, dir, &qe) < 0)
		return false;
	const struct kern_ops *k = kern_select();
	for (int t = KD_MLX_FIRST; q.present && t <= KD_MLX_LAST; t++)
		round |= k->packed_rounds_x[t] != 0;
	model_quant_free(&q);
	return round;
}

int refcheck_run(const struct refcheck_opts *o, void (*emit)(void *arg, json_t *check),
		 void *arg, struct exo_err *e)
{
	struct run run = {.o = o};
	struct model_config cfg;
	char dir[4096];
	int rc = -1;
	if (ckpt_resolve(o->model, dir, sizeof dir, e) < 0 || model_config_load(&cfg, dir, e) < 0 ||
	    load_reference(&run.ref, o->ref_dir, &cfg, e) < 0)
		goto out;
	size_t T = run.ref.T, H = (size_t)cfg.hidden, L = (size_t)cfg.n_layers;
	run.layers = malloc(size_mul(L * H, T > run.ref.N ? T : run.ref.N) * sizeof(float));
	run.handover = malloc(size_mul(T, H) * sizeof(float));
	run.prefill_last = malloc((size_t)cfg.vocab * sizeof(float));
	if (!run.layers || !run.handover || !run.prefill_last) {
		exo_error(e, EXO_SOFTWARE, "out of memory");
		goto out;
	}
	if (!o->connect && load_router(&run, o->ref_dir, &cfg, e) < 0)
		goto out;
	if (o->connect) {
		run.kernels_round = remote_rounds(dir);
		rc = run_remote(&run, emit, arg, e);
	} else if (open_stages(&run, &cfg, e) == 0) {
		for (int i = 0; i < run.n_stages; i++)
			run.kernels_round |= eng_rounds_x(run.stage[i]);
		rc = run_checks(&run, emit, arg, e);
	}
out:
	for (int i = 0; i < run.n_stages; i++) {
		eng_kv_free(run.kv[i]);
		eng_stage_close(run.stage[i]);
	}
	free(run.layers), free(run.handover), free(run.prefill_last);
	free(run.router_got), free(run.router_n);
	json_decref(run.router_ref);
	free_reference(&run.ref);
	return rc;
}
