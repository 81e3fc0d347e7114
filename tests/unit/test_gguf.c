/* GGUF reader (model/gguf.c, gguf_hf.c) and the tokenizer from a GGUF file
 * (tokenizer/gguf.c), on files built here byte by byte: every value type,
 * arrays, alignment, tensor infos; every truncation of a valid file is an
 * error, never a read past it; the HF view (names, shapes, Q/K rows put
 * back in transformers' order, the config); refusals name what they refuse. */
#include "kernels/kern.h"
#include "kernels/kern_gguf.h"
#include "model/checkpoint.h"
#include "model/config.h"
#include "model/gguf.h"
#include "tokenizer/tokenizer.h"
#include "tests/tap.h"

#include <stdint.h>
#include <unistd.h>

/* --- a GGUF writer for the tests --- */

struct buf {
	unsigned char *p;
	size_t n, cap;
};

static void put(struct buf *b, const void *s, size_t n)
{
	if (b->n + n > b->cap) {
		b->cap = (b->n + n) * 2 + 64;
		b->p = realloc(b->p, b->cap);
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
}
static void u32(struct buf *b, uint32_t v) { put(b, &v, 4); }
static void u64(struct buf *b, uint64_t v) { put(b, &v, 8); }
static void str(struct buf *b, const char *s) { u64(b, strlen(s)); put(b, s, strlen(s)); }
static void key(struct buf *b, const char *k, uint32_t type) { str(b, k); u32(b, type); }
static void kv_str(struct buf *b, const char *k, const char *v) { key(b, k, GGUF_STRING); str(b, v); }
static void kv_u32(struct buf *b, const char *k, uint32_t v) { key(b, k, GGUF_U32); u32(b, v); }
static void kv_f32(struct buf *b, const char *k, float v) { key(b, k, GGUF_F32); put(b, &v, 4); }

struct tinfo {
	const char *name;
	uint32_t type, nd;
	uint64_t ne[2];
	const void *data;
	size_t bytes;
};

/* header + n_kv key/values already in kvs + tensors, data aligned to align */
static struct buf gguf_file(uint32_t version, const struct buf *kvs, uint64_t n_kv,
			    const struct tinfo *t, size_t nt, size_t align)
{
	struct buf b = {0};
	u32(&b, 0x46554747u);
	u32(&b, version);
	u64(&b, nt);
	u64(&b, n_kv);
	put(&b, kvs->p, kvs->n);
	uint64_t off = 0;
	for (size_t i = 0; i < nt; i++) {
		str(&b, t[i].name);
		u32(&b, t[i].nd);
		for (uint32_t d = 0; d < t[i].nd; d++)
			u64(&b, t[i].ne[d]);
		u32(&b, t[i].type);
		u64(&b, off);
		off += (t[i].bytes + align - 1) / align * align;
	}
	static const unsigned char zero[64];
	while (b.n % align)
		put(&b, zero, 1);
	for (size_t i = 0; i < nt; i++) {
		put(&b, t[i].data, t[i].bytes);
		while (b.n % align)
			put(&b, zero, 1);
	}
	return b;
}

static void write_file(const char *path, const struct buf *b)
{
	FILE *f = fopen(path, "wb");
	fwrite(b->p, 1, b->n, f);
	fclose(f);
}

/* --- every value type --- */

static void test_value_types(void)
{
	struct buf kv = {0};
	uint8_t u8v = 200;
	int8_t i8v = -100;
	uint16_t u16v = 60000;
	int16_t i16v = -30000;
	int32_t i32v = -2000000000;
	uint64_t u64v = 1ull << 40;
	int64_t i64v = -(1ll << 40);
	double f64v = 3.25;
	key(&kv, "t.u8", GGUF_U8), put(&kv, &u8v, 1);
	key(&kv, "t.i8", GGUF_I8), put(&kv, &i8v, 1);
	key(&kv, "t.u16", GGUF_U16), put(&kv, &u16v, 2);
	key(&kv, "t.i16", GGUF_I16), put(&kv, &i16v, 2);
	kv_u32(&kv, "t.u32", 4000000000u);
	key(&kv, "t.i32", GGUF_I32), put(&kv, &i32v, 4);
	kv_f32(&kv, "t.f32", 1.5f);
	key(&kv, "t.bool", GGUF_BOOL), put(&kv, "\1", 1);
	kv_str(&kv, "t.str", "héllo");
	key(&kv, "t.u64", GGUF_U64), put(&kv, &u64v, 8);
	key(&kv, "t.i64", GGUF_I64), put(&kv, &i64v, 8);
	key(&kv, "t.f64", GGUF_F64), put(&kv, &f64v, 8);
	key(&kv, "t.arr_i32", GGUF_ARRAY), u32(&kv, GGUF_I32), u64(&kv, 3);
	int32_t a3[3] = {7, -8, 9};
	put(&kv, a3, sizeof a3);
	key(&kv, "t.arr_str", GGUF_ARRAY), u32(&kv, GGUF_STRING), u64(&kv, 2);
	str(&kv, "one"), str(&kv, "");
	key(&kv, "general.alignment", GGUF_U32), u32(&kv, 64);
	float data[64];
	for (int i = 0; i < 64; i++)
		data[i] = (float)i;
	struct tinfo t[2] = {{"a", 0, 2, {4, 2}, data, 32}, {"b", 0, 1, {5, 1}, data + 8, 20}};
	struct buf b = gguf_file(3, &kv, 15, t, 2, 64);
	struct exo_err e = {0};
	struct gguf_file *f = gguf_parse(b.p, b.n, "mem.gguf", &e);
	ok(f != NULL, "a GGUF v3 file with every value type parses: %s", e.msg);
	if (!f)
		return;
	int64_t i;
	double d;
	ok(gguf_kv_int(gguf_get(f, "t.u8"), &i) && i == 200 && gguf_kv_int(gguf_get(f, "t.i8"), &i) && i == -100 &&
	   gguf_kv_int(gguf_get(f, "t.u16"), &i) && i == 60000 && gguf_kv_int(gguf_get(f, "t.i16"), &i) && i == -30000 &&
	   gguf_kv_int(gguf_get(f, "t.u32"), &i) && i == 4000000000ll &&
	   gguf_kv_int(gguf_get(f, "t.i32"), &i) && i == -2000000000 &&
	   gguf_kv_int(gguf_get(f, "t.u64"), &i) && i == 1ll << 40 &&
	   gguf_kv_int(gguf_get(f, "t.i64"), &i) && i == -(1ll << 40) &&
	   gguf_kv_int(gguf_get(f, "t.bool"), &i) && i == 1, "integer and bool values read back");
	ok(gguf_kv_num(gguf_get(f, "t.f32"), &d) && d == 1.5 && gguf_kv_num(gguf_get(f, "t.f64"), &d) &&
	   d == 3.25 && !gguf_kv_int(gguf_get(f, "t.f32"), &i), "f32 and f64 values read back, not as integers");
	char *s = gguf_get_string(f, "t.str");
	ok(s && !strcmp(s, "héllo"), "a string value reads back");
	free(s);
	const struct gguf_kv *ai = gguf_get(f, "t.arr_i32"), *as = gguf_get(f, "t.arr_str");
	int32_t got[3];
	if (ai)
		memcpy(got, ai->data, sizeof got);
	ok(ai && ai->type == GGUF_ARRAY && ai->elem_type == GGUF_I32 && ai->n == 3 && got[0] == 7 &&
	   got[1] == -8 && got[2] == 9, "an i32 array reads back");
	ok(as && as->n == 2 && as->strs[0].len == 3 && !memcmp(as->strs[0].p, "one", 3) && as->strs[1].len == 0,
	   "a string array reads back, the empty string included");
	const struct gguf_tensor *ta = gguf_find(f, "a"), *tb = gguf_find(f, "b");
	ok(f->alignment == 64 && f->data_start % 64 == 0 && ta && tb && ta->bytes == 32 && tb->bytes == 20 &&
	   ((const float *)ta->data)[5] == 5.0f && ((const float *)tb->data)[0] == 8.0f &&
	   ((uintptr_t)tb->data - (uintptr_t)b.p) % 64 == 0,
	   "general.alignment 64: tensor data where the infos say, aligned");
	gguf_close(f);

	/* every truncation is an error, never a read past the end (ASan checks) */
	int all = 1;
	size_t header = b.n - 64 - 64;   /* the tensors' data starts here at the latest */
	for (size_t n = 0; n < header; n++) {
		unsigned char *cut = malloc(n ? n : 1);
		memcpy(cut, b.p, n);
		struct gguf_file *g = gguf_parse(cut, n, "cut.gguf", &e);
		all &= g == NULL && e.code == EXO_DATAERR;
		gguf_close(g);
		free(cut);
	}
	ok(all, "every truncation of the header is a data error (%zu lengths)", header);
	b.p[4] = 1;
	ok(!gguf_parse(b.p, b.n, "v1.gguf", &e) && strstr(e.msg, "v1.gguf: GGUF version 1 is not supported"),
	   "version 1 is refused by name: %s", e.msg);
	b.p[4] = 3, b.p[0] = 'X';
	ok(!gguf_parse(b.p, b.n, "x.gguf", &e) && strstr(e.msg, "not a GGUF file"), "a bad magic: %s", e.msg);
	free(b.p);
	free(kv.p);
}

static void test_bad_tensors(void)
{
	struct buf kv = {0};
	kv_str(&kv, "general.architecture", "llama");
	float data[8] = {0};
	struct exo_err e = {0};
	struct tinfo past = {"token_embd.weight", 0, 2, {4, 4}, data, 32};   /* 64 bytes claimed, 32 there */
	struct buf b = gguf_file(3, &kv, 1, &past, 1, 32);
	b.n -= 0;
	struct gguf_file *f = gguf_parse(b.p, b.n, "past.gguf", &e);
	ok(!f && strstr(e.msg, "tensor token_embd.weight") && strstr(e.msg, "past the end"),
	   "a tensor past the end of the file: %s", e.msg);
	free(b.p);
	struct tinfo odd = {"token_embd.weight", 99, 1, {32, 1}, data, 32};
	b = gguf_file(3, &kv, 1, &odd, 1, 32);
	ok(!gguf_parse(b.p, b.n, "odd.gguf", &e) && strstr(e.msg, "type 99 is not a ggml type"),
	   "an unknown tensor type number is named: %s", e.msg);
	free(b.p);
	unsigned char q2k[84] = {0};
	struct tinfo k2 = {"blk.0.ffn_down.weight", 10, 2, {256, 1}, q2k, 84};
	b = gguf_file(2, &kv, 1, &k2, 1, 32);
	f = gguf_parse(b.p, b.n, "q2k.gguf", &e);
	ok(f && gguf_check_tensors(f, &e) < 0 && strstr(e.msg, "blk.0.ffn_down.weight: type Q2_K is not supported"),
	   "a GGUF v2 file with a Q2_K tensor opens, and the type is refused by name: %s", e.msg);
	gguf_close(f);
	free(b.p);
	free(kv.p);
}

/* --- a tiny llama: config, names, shapes, Q/K order --- */

enum { HID = 32, HEADS = 2, KVH = 1, HD = 16, FFN = 64, VOCAB = 4 };

static void llama_kvs(struct buf *kv, uint64_t *n, const char *arch)
{
	char k[64];
	kv_str(kv, "general.architecture", arch);
#define ARCH_U32(s, v) (snprintf(k, sizeof k, "%s." s, arch), kv_u32(kv, k, v))
	ARCH_U32("block_count", 1);
	ARCH_U32("embedding_length", HID);
	ARCH_U32("feed_forward_length", FFN);
	ARCH_U32("attention.head_count", HEADS);
	ARCH_U32("attention.head_count_kv", KVH);
	ARCH_U32("context_length", 128);
	snprintf(k, sizeof k, "%s.rope.freq_base", arch), kv_f32(kv, k, 50000.0f);
	snprintf(k, sizeof k, "%s.attention.layer_norm_rms_epsilon", arch), kv_f32(kv, k, 1e-5f);
	*n = 9;
	/* a byte-level vocabulary: a, b, ab, <s> (control); one merge */
	kv_str(kv, "tokenizer.ggml.model", "gpt2");
	kv_str(kv, "tokenizer.ggml.pre", "smollm");
	key(kv, "tokenizer.ggml.tokens", GGUF_ARRAY), u32(kv, GGUF_STRING), u64(kv, VOCAB);
	str(kv, "a"), str(kv, "b"), str(kv, "ab"), str(kv, "<s>");
	key(kv, "tokenizer.ggml.token_type", GGUF_ARRAY), u32(kv, GGUF_I32), u64(kv, VOCAB);
	int32_t types[VOCAB] = {1, 1, 1, 3};
	put(kv, types, sizeof types);
	key(kv, "tokenizer.ggml.merges", GGUF_ARRAY), u32(kv, GGUF_STRING), u64(kv, 1);
	str(kv, "a b");
	kv_u32(kv, "tokenizer.ggml.bos_token_id", 3);
	kv_u32(kv, "tokenizer.ggml.eos_token_id", 3);
	kv_str(kv, "tokenizer.chat_template", "{{ bos_token }}{{ messages[0]['content'] }}");
	*n += 8;
}

static struct buf tiny_llama(const char *arch, float *q, float *k, float *other)
{
	struct buf kv = {0};
	uint64_t n;
	llama_kvs(&kv, &n, arch);
	for (int i = 0; i < HEADS * HD * HID; i++)
		q[i] = (float)(i / HID);          /* row r holds r */
	for (int i = 0; i < KVH * HD * HID; i++)
		k[i] = (float)(i / HID);
	for (int i = 0; i < FFN * HID; i++)
		other[i] = 0.01f * (float)(i % 7);
	struct tinfo t[] = {
		{"token_embd.weight", 0, 2, {HID, VOCAB}, other, 4 * HID * VOCAB},
		{"blk.0.attn_norm.weight", 0, 1, {HID, 1}, other, 4 * HID},
		{"blk.0.ffn_norm.weight", 0, 1, {HID, 1}, other, 4 * HID},
		{"blk.0.attn_q.weight", 0, 2, {HID, HEADS * HD}, q, 4 * HID * HEADS * HD},
		{"blk.0.attn_k.weight", 0, 2, {HID, KVH * HD}, k, 4 * HID * KVH * HD},
		{"blk.0.attn_v.weight", 0, 2, {HID, KVH * HD}, other, 4 * HID * KVH * HD},
		{"blk.0.attn_output.weight", 0, 2, {HEADS * HD, HID}, other, 4 * HID * HEADS * HD},
		{"blk.0.ffn_gate.weight", 0, 2, {HID, FFN}, other, 4 * HID * FFN},
		{"blk.0.ffn_up.weight", 0, 2, {HID, FFN}, other, 4 * HID * FFN},
		{"blk.0.ffn_down.weight", 0, 2, {FFN, HID}, other, 4 * HID * FFN},
		{"output_norm.weight", 0, 1, {HID, 1}, other, 4 * HID},
	};
	struct buf b = gguf_file(3, &kv, n, t, sizeof t / sizeof *t, 32);
	free(kv.p);
	return b;
}

/* transformers' row h*D + j*D/2 + i is the file's row h*D + 2i + j */
static int unpermuted(const float *w, int heads)
{
	for (int h = 0; h < heads; h++)
		for (int j = 0; j < 2; j++)
			for (int i = 0; i < HD / 2; i++)
				if (w[(size_t)(h * HD + j * HD / 2 + i) * HID + 3] != (float)(h * HD + 2 * i + j))
					return 0;
	return 1;
}

static void test_llama_view(const char *tmp)
{
	static float q[HEADS * HD * HID], k[KVH * HD * HID], other[FFN * HID];
	struct buf b = tiny_llama("llama", q, k, other);
	char path[4200];
	snprintf(path, sizeof path, "%s/tiny.gguf", tmp);
	write_file(path, &b);
	struct exo_err e = {0};
	struct model_config c;
	ok(model_config_load(&c, path, &e) == 0 && c.arch == ARCH_LLAMA && c.n_layers == 1 && c.hidden == HID &&
	   c.n_heads == HEADS && c.n_kv_heads == KVH && c.head_dim == HD && c.ffn == FFN && c.vocab == VOCAB &&
	   c.max_pos == 128 && c.rope_theta == 50000.0 && fabsf(c.rms_eps - 1e-5f) < 1e-12f &&
	   c.tied_embeddings && !c.qkv_bias && c.bos_token == 3,
	   "model_config_load on a .gguf: the metadata as config.json would give it (%s)", e.msg);
	struct ckpt *ck = ckpt_open(path, &e);
	ok(ck != NULL, "ckpt_open on a .gguf: %s", e.msg);
	if (ck) {
		int64_t qs[2] = {HEADS * HD, HID}, ks[2] = {KVH * HD, HID}, ds[2] = {HID, FFN};
		const struct st_tensor *tq = ckpt_tensor(ck, "model.layers.0.self_attn.q_proj.weight", 2, qs, &e);
		const struct st_tensor *tk = ckpt_tensor(ck, "model.layers.0.self_attn.k_proj.weight", 2, ks, &e);
		const struct st_tensor *td = ckpt_tensor(ck, "model.layers.0.mlp.down_proj.weight", 2, ds, &e);
		ok(tq && tk && td && tq->dtype == KD_F32 && td->shape[0] == HID && td->shape[1] == FFN,
		   "tensors by transformers' names, shapes rows first: %s", e.msg);
		ok(tq && tk && unpermuted(tq->data, HEADS) && unpermuted(tk->data, KVH),
		   "llama's Q and K rows are back in transformers' rotate-half order (K with the KV heads)");
		ok(!ckpt_tensor(ck, "lm_head.weight", 2, qs, &e) && strstr(e.msg, "output.weight (lm_head.weight) is missing"),
		   "a missing tensor names both names: %s", e.msg);
		ckpt_close(ck);
	}
	struct tok *t = tok_load(path, &e);
	ok(t != NULL, "tok_load on a .gguf: %s", e.msg);
	if (t) {
		int32_t *ids = NULL;
		size_t n = 0;
		const int32_t *eos;
		ok(tok_encode(t, "ab<s>ba", 7, true, &ids, &n, &e) == 0 && n == 4 && ids[0] == 2 && ids[1] == 3 &&
		   ids[2] == 1 && ids[3] == 0, "encode: the merge, the control token, no BOS (add_bos unset)");
		free(ids);
		ok(tok_bos(t) == 3 && tok_eos_ids(t, &eos) == 1 && eos[0] == 3 && tok_is_special(t, 3) &&
		   tok_chat_template(t) && strstr(tok_chat_template(t), "bos_token"),
		   "bos, eos, special tokens and the chat template come from the file");
		tok_free(t);
	}
	unlink(path);
	free(b.p);

	b = tiny_llama("qwen2", q, k, other);
	snprintf(path, sizeof path, "%s/qwen2.gguf", tmp);
	write_file(path, &b);
	ck = ckpt_open(path, &e);
	int64_t qs[2] = {HEADS * HD, HID};
	const struct st_tensor *tq = ck ? ckpt_tensor(ck, "model.layers.0.self_attn.q_proj.weight", 2, qs, &e) : NULL;
	ok(tq && ((const float *)tq->data)[HID * 1] == 1.0f && ((const float *)tq->data)[HID * 8] == 8.0f &&
	   ckpt_config(ck)->arch == ARCH_QWEN2, "qwen2 (NEOX RoPE): rows kept as the file has them: %s", e.msg);
	ckpt_close(ck);
	unlink(path);
	free(b.p);

	b = tiny_llama("gemma3", q, k, other);
	snprintf(path, sizeof path, "%s/gemma.gguf", tmp);
	write_file(path, &b);
	ok(model_config_load(&c, path, &e) < 0 && e.code == EXO_DATAERR &&
	   strstr(e.msg, "GGUF architecture 'gemma3' is not supported"), "an unknown architecture is named: %s", e.msg);
	unlink(path);
	free(b.p);
}

/* Every block type widened as gguf-py (ggml's layouts) widens the same
 * random blocks (tests/fixtures-gguf/blocks.json, make-blocks.py), by every
 * kernel variant; and each variant's gemv against its own widening. */
static void test_block_layouts(void)
{
	json_error_t je;
	json_t *root = json_load_file("tests/fixtures-gguf/blocks.json", 0, &je);
	json_t *types = json_object_get(root, "types");
	ok(json_object_size(types) == 8, "blocks.json holds 8 block types: %s", root ? "" : je.text);
	const char *name;
	json_t *v;
	json_object_foreach(types, name, v) {
		int t = kern_dtype_parse(name);
		const char *hex = json_string_value(json_object_get(v, "blocks"));
		json_t *want = json_object_get(v, "values");
		size_t n = json_array_size(want), nb = hex ? strlen(hex) / 2 : 0;
		if (t < 0 || !hex || kern_row_bytes(t, n) != nb) {
			ok(0, "%s: a kernel type with %zu values in %zu bytes", name, n, nb);
			continue;
		}
		unsigned char *blocks = malloc(nb);
		for (size_t i = 0; i < nb; i++)
			sscanf(hex + 2 * i, "%2hhx", &blocks[i]);
		float *got = malloc(n * sizeof *got);
		for (const struct kern_ops *const *k = kern_variants(); *k; k++) {
			(*k)->to_f32[t](blocks, got, n);
			size_t bad = 0, first = n;
			for (size_t i = 0; i < n; i++) {
				double w = json_number_value(json_array_get(want, i));
				if (fabs(got[i] - w) > 1e-6 * fabs(w) + 1e-12 && bad++ == 0)
					first = i;
			}
			ok(bad == 0, "%s %s: the %zu values gguf-py gives%s", (*k)->name, name, n,
			   bad ? " (not at the first shown)" : "");
			if (bad)
				diag("value %zu: want %.9g got %.9g (%zu differ)", first,
				     json_number_value(json_array_get(want, first)), got[first], bad);
		}
		free(blocks);
		free(got);
	}
	json_decref(root);
}

/* tests/fixtures-gguf/qwen3-moe-tiny.gguf (hf-to-gguf.py from the fixture):
 * 8 experts of 48 rows stacked per projection, layer 1 without a router. */
static void test_stacked_experts(void)
{
	const char *path = "tests/fixtures-gguf/qwen3-moe-tiny.gguf";
	struct exo_err e = {0};
	struct ckpt *ck = ckpt_open(path, &e);
	ok(ck && ckpt_config(ck)->arch == ARCH_QWEN3_MOE && ckpt_config(ck)->n_experts == 8 &&
	   ckpt_config(ck)->n_experts_used == 2 && ckpt_config(ck)->moe_ffn == 48 &&
	   ckpt_config(ck)->norm_topk_prob && model_layer_is_sparse(ckpt_config(ck), 0) &&
	   !model_layer_is_sparse(ckpt_config(ck), 1) && model_layer_is_sparse(ckpt_config(ck), 2),
	   "qwen3moe: expert count, top-k, expert width, renormalised, the router-less layer dense: %s", e.msg);
	if (!ck)
		return;
	struct gguf_file *f = gguf_open(path, &e);
	const struct gguf_tensor *all = f ? gguf_find(f, "blk.2.ffn_down_exps.weight") : NULL;
	int64_t down[2] = {64, 48};
	const struct st_tensor *x0 = ckpt_tensor(ck, "model.layers.2.mlp.experts.0.down_proj.weight", 2, down, &e);
	const struct st_tensor *x7 = ckpt_tensor(ck, "model.layers.2.mlp.experts.7.down_proj.weight", 2, down, &e);
	ok(all && x0 && x7 && all->n_dims == 3 && all->ne[2] == 8 && x0->bytes == all->bytes / 8 &&
	   !memcmp(x0->data, all->data, x0->bytes) &&
	   !memcmp(x7->data, (const char *)all->data + 7 * x7->bytes, x7->bytes),
	   "expert X is the X-th slice of blk.N.ffn_down_exps, rows first: %s", e.msg);
	int64_t gate[2] = {48, 64};
	ok(!ckpt_tensor(ck, "model.layers.2.mlp.experts.8.gate_proj.weight", 2, gate, &e) &&
	   strstr(e.msg, "blk.2.ffn_gate_exps.weight: no expert 8"), "an expert past the stack is named: %s", e.msg);
	ok(!ckpt_tensor(ck, "model.layers.1.mlp.experts.0.gate_proj.weight", 2, gate, &e) &&
	   strstr(e.msg, "blk.1.ffn_gate_exps.weight (the experts of model.layers.1.mlp.experts.0.gate_proj.weight) is missing"),
	   "experts of a dense layer are missing by both names: %s", e.msg);
	gguf_close(f);
	ckpt_close(ck);
}

int main(void)
{
	test_block_layouts();
	char tmp[] = "/tmp/exo-test-gguf.XXXXXX";
	if (!mkdtemp(tmp))
		return 1;
	test_value_types();
	test_bad_tensors();
	test_llama_view(tmp);
	test_stacked_experts();
	rmdir(tmp);
	return done_testing();
}
