/* MLX quantized tensors through the checkpoint reader, on checkpoints
 * written here: a packed weight joined with scales and biases that live in
 * another shard file, 3-bit values straddling bytes with negative scales,
 * experts stacked along a leading dimension (Qwen3-MoE's switch_mlp), and
 * the refusals (a module the config leaves unquantized, a packed width that
 * disagrees with bits, scales of the wrong shape). */
#include "kernels/mlx.h"
#include "model/checkpoint.h"
#include "tests/tap.h"

#include <jansson.h>
#include <stdint.h>
#include <unistd.h>

struct wtensor { const char *name, *dtype; int n_dims; int64_t shape[3]; const void *data; size_t bytes; };

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	fwrite(data, 1, len, f);
	fclose(f);
}

static void write_safetensors(const char *path, const struct wtensor *t, size_t n)
{
	json_t *h = json_object();
	size_t off = 0;
	for (size_t i = 0; i < n; i++) {
		json_t *shape = json_array();
		for (int d = 0; d < t[i].n_dims; d++)
			json_array_append_new(shape, json_integer(t[i].shape[d]));
		json_object_set_new(h, t[i].name, json_pack("{s:s, s:o, s:[I,I]}", "dtype", t[i].dtype, "shape",
							     shape, "data_offsets", (json_int_t)off,
							     (json_int_t)(off + t[i].bytes)));
		off += t[i].bytes;
	}
	char *text = json_dumps(h, JSON_COMPACT);
	size_t hl = strlen(text);
	FILE *f = fopen(path, "wb");
	uint64_t len = hl;
	fwrite(&len, 8, 1, f);
	fwrite(text, 1, hl, f);
	for (size_t i = 0; i < n; i++)
		fwrite(t[i].data, 1, t[i].bytes, f);
	fclose(f);
	free(text);
	json_decref(h);
}

static char dir[] = "/tmp/exo-test-mlx-XXXXXX";

static void write_config(const char *quant)
{
	char path[256], text[2048];
	snprintf(path, sizeof path, "%s/config.json", dir);
	snprintf(text, sizeof text, "{\"architectures\": [\"LlamaForCausalLM\"], \"num_hidden_layers\": 1, "
		 "\"hidden_size\": 64, \"num_attention_heads\": 2, \"intermediate_size\": 64, "
		 "\"vocab_size\": 8, \"quantization\": %s}", quant);
	write_file(path, text, strlen(text));
}

/* Bits of value k of a stream: little-endian, value k at bit k*bits. */
static void put(uint8_t *q, int bits, size_t k, unsigned v)
{
	for (int b = 0; b < bits; b++)
		if (v >> b & 1)
			q[(k * (size_t)bits + (size_t)b) / 8] |= (uint8_t)(1u << ((k * (size_t)bits + (size_t)b) % 8));
}

int main(void)
{
	ok(mkdtemp(dir) != NULL, "temporary checkpoint directory");
	char path[256];

	/* 3 rows of 64 at 3 bits, groups of 32 (bf16 scales, one negative):
	 * packed in one shard, scales and biases in the other. */
	uint8_t packed[3][24] = {{0}};
	uint16_t sc[3][2], bi[3][2];
	float want[3][64];
	for (int r = 0; r < 3; r++)
		for (int g = 0; g < 2; g++) {
			float s = (g ? -0.25f : 0.5f) * (float)(r + 1), b = 0.125f * (float)(g - r);
			sc[r][g] = kern_f32_to_bf16(s), bi[r][g] = kern_f32_to_bf16(b);
			for (int k = 0; k < 32; k++) {
				unsigned q = (unsigned)(k * 5 + r + g) % 8;
				put(packed[r], 3, (size_t)(32 * g + k), q);
				want[r][32 * g + k] = s * (float)q + b;
			}
		}
	struct wtensor a[] = {{"model.layers.0.mlp.up_proj.weight", "U32", 2, {3, 6}, packed, sizeof packed}};
	struct wtensor b[] = {{"model.layers.0.mlp.up_proj.scales", "BF16", 2, {3, 2}, sc, sizeof sc},
			      {"model.layers.0.mlp.up_proj.biases", "BF16", 2, {3, 2}, bi, sizeof bi}};
	snprintf(path, sizeof path, "%s/a.safetensors", dir);
	write_safetensors(path, a, 1);
	snprintf(path, sizeof path, "%s/b.safetensors", dir);
	write_safetensors(path, b, 2);
	const char *index = "{\"weight_map\": {\"model.layers.0.mlp.up_proj.weight\": \"a.safetensors\", "
			    "\"model.layers.0.mlp.up_proj.scales\": \"b.safetensors\", "
			    "\"model.layers.0.mlp.up_proj.biases\": \"b.safetensors\", "
			    "\"model.layers.0.mlp.gate_proj.weight\": \"a.safetensors\"}}";
	snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
	write_file(path, index, strlen(index));
	write_config("{\"group_size\": 32, \"bits\": 3, \"mode\": \"affine\"}");

	struct exo_err e = {0};
	struct ckpt *c = ckpt_open(dir, &e);
	ok(c != NULL, "a quantized checkpoint opens: %s", e.msg);
	int64_t shape[3] = {3, 64};
	const struct st_tensor *t = c ? ckpt_tensor(c, "model.layers.0.mlp.up_proj.weight", 2, shape, &e) : NULL;
	ok(t && t->dtype == KD_MLX3_G32_BF16 && t->shape[0] == 3 && t->shape[1] == 64,
	   "the packed weight comes back as MLX3_G32_BF16 of the unpacked shape: %s", t ? "" : e.msg);
	float got[3][64];
	if (t)
		kern_ref.to_f32[t->dtype](t->data, &got[0][0], 3 * 64);
	ok(t && memcmp(got, want, sizeof got) == 0,
	   "joined from two shard files, it widens to scale * q + bias (3-bit values across bytes)");
	shape[1] = 96;
	ok(c && !ckpt_tensor(c, "model.layers.0.mlp.up_proj.weight", 2, shape, &e) &&
	   strstr(e.msg, "tensor model.layers.0.mlp.up_proj.weight: shape 3x6, expected 3x9 (96 columns at 3 bits "
			 "packed in U32)"), "a packed width that disagrees with bits: %s", e.msg);
	ckpt_close(c);

	/* The module left unquantized by an override, yet packed. */
	write_config("{\"group_size\": 32, \"bits\": 3, \"model.layers.0.mlp.up_proj\": false}");
	c = ckpt_open(dir, &e);
	shape[1] = 64;
	ok(c && !ckpt_tensor(c, "model.layers.0.mlp.up_proj.weight", 2, shape, &e) &&
	   strstr(e.msg, "is packed U32 but") && strstr(e.msg, "leaves this module unquantized"),
	   "a packed module the config leaves unquantized: %s", e.msg);
	ckpt_close(c);

	/* Scales of a group size the config does not have. */
	write_config("{\"group_size\": 64, \"bits\": 3}");
	c = ckpt_open(dir, &e);
	ok(c && !ckpt_tensor(c, "model.layers.0.mlp.up_proj.weight", 2, shape, &e) &&
	   strstr(e.msg, "tensor model.layers.0.mlp.up_proj.scales: shape 3x2, expected 3x1"),
	   "scales that do not match the group size: %s", e.msg);
	ckpt_close(c);

	/* Two experts of 2 rows x 64 at 4 bits, groups of 64, f16 scales, stacked. */
	uint32_t ew[2][2][8] = {{{0}}};
	uint16_t es[2][2][1], eb[2][2][1];
	float ewant[2][2][64];
	for (int x = 0; x < 2; x++)
		for (int r = 0; r < 2; r++) {
			float s = 0.0625f * (float)(x + 1) * (r ? -1.0f : 1.0f), bias = (float)x - 0.5f * (float)r;
			es[x][r][0] = kern_f32_to_f16(s), eb[x][r][0] = kern_f32_to_f16(bias);
			for (int k = 0; k < 64; k++) {
				unsigned q = (unsigned)(k * 7 + 3 * x + r) % 16;
				ew[x][r][k / 8] |= q << (4 * (k % 8));
				ewant[x][r][k] = s * (float)q + bias;
			}
		}
	struct wtensor m[] = {
		{"model.layers.0.mlp.switch_mlp.up_proj.weight", "U32", 3, {2, 2, 8}, ew, sizeof ew},
		{"model.layers.0.mlp.switch_mlp.up_proj.scales", "F16", 3, {2, 2, 1}, es, sizeof es},
		{"model.layers.0.mlp.switch_mlp.up_proj.biases", "F16", 3, {2, 2, 1}, eb, sizeof eb}};
	snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
	unlink(path);
	snprintf(path, sizeof path, "%s/model.safetensors", dir);
	write_safetensors(path, m, 3);
	write_config("{\"group_size\": 64, \"bits\": 4}");
	c = ckpt_open(dir, &e);
	int64_t s3[3] = {2, 2, 64};
	t = c ? ckpt_tensor(c, "model.layers.0.mlp.switch_mlp.up_proj.weight", 3, s3, &e) : NULL;
	ok(t && t->dtype == KD_MLX4_G64_F16 && t->n_dims == 3 && t->shape[0] == 2 && t->shape[2] == 64,
	   "stacked experts come back as MLX4_G64_F16 [2, 2, 64]: %s", t ? "" : e.msg);
	float eg[2][2][64];
	if (t)
		kern_ref.to_f32[t->dtype](t->data, &eg[0][0][0], 2 * 2 * 64);
	ok(t && memcmp(eg, ewant, sizeof eg) == 0 &&
	   t->bytes == 4 * kern_row_bytes(KD_MLX4_G64_F16, 64),
	   "expert e's rows follow expert e-1's, each scale * q + bias");
	ckpt_close(c);

	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	ok(system(cmd) == 0, "cleaned up");
	return done_testing();
}
