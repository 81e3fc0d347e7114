/* config.json's MLX quantization block: defaults, per-module overrides
 * (objects and false), the quantization_config copy, other tools' blocks
 * left alone, and the refusals. */
#include "model/quant.h"
#include "tests/tap.h"

static int parse(struct model_quant *q, const char *json, struct exo_err *e)
{
	return model_quant_parse(q, json, "config.json", e);
}

int main(void)
{
	struct model_quant q;
	struct exo_err e = {0};
	ok(parse(&q, "{\"hidden_size\": 8}", &e) == 0 && !q.present, "no block: not quantized");
	model_quant_free(&q);

	ok(parse(&q, "{\"quantization\": {\"group_size\": 64, \"bits\": 4, \"mode\": \"affine\","
		     " \"model.layers.2.mlp.down_proj\": {\"group_size\": 32, \"bits\": 6},"
		     " \"lm_head\": false}}", &e) == 0 && q.present, "a block with overrides parses");
	struct model_qspec s = model_quant_of(&q, "model.layers.0.mlp.down_proj");
	ok(s.quantized && s.bits == 4 && s.group == 64, "a module without override gets the default");
	s = model_quant_of(&q, "model.layers.2.mlp.down_proj");
	ok(s.quantized && s.bits == 6 && s.group == 32, "an override's bits and group");
	s = model_quant_of(&q, "lm_head");
	ok(!s.quantized, "false leaves the module unquantized");
	char msg[300];
	model_quant_describe(&q, msg, sizeof msg);
	ok(strstr(msg, "bits 4, group_size 64 (4.5 bits per weight") && strstr(msg, "2 module(s) overridden"),
	   "described: %s", msg);
	model_quant_free(&q);

	ok(parse(&q, "{\"quantization_config\": {\"group_size\": 128, \"bits\": 8}}", &e) == 0 && q.present &&
	   q.base.bits == 8 && q.base.group == 128, "quantization_config alone is read (absent mode is affine)");
	model_quant_free(&q);
	ok(parse(&q, "{\"quantization_config\": {\"quant_method\": \"awq\", \"bits\": 4, \"group_size\": 128}}",
		 &e) == 0 && !q.present, "another tool's quantization_config is not MLX's");
	model_quant_free(&q);

	static const struct { const char *json, *msg; } bad[] = {
		{"{\"quantization\": {\"group_size\": 48, \"bits\": 4}}",
		 "config.json: quantization.group_size: 48 is not supported (32, 64 or 128 are)"},
		{"{\"quantization\": {\"group_size\": 64, \"bits\": 7}}",
		 "config.json: quantization.bits: 7 is not supported (2, 3, 4, 5, 6 or 8 are)"},
		{"{\"quantization\": {\"group_size\": 32, \"bits\": 4, \"mode\": \"nvfp4\"}}",
		 "config.json: quantization.mode: quantization mode nvfp4 is not supported (only MLX's affine mode is)"},
		{"{\"quantization\": {\"group_size\": 64, \"bits\": 4, \"x.q\": {\"bits\": 1}}}",
		 "config.json: quantization.x.q.bits: 1 is not supported (2, 3, 4, 5, 6 or 8 are)"},
		{"{\"quantization\": {\"group_size\": 64, \"bits\": \"4\"}}",
		 "config.json: quantization.bits: expected an integer"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		memset(&e, 0, sizeof e);
		int rc = parse(&q, bad[i].json, &e);
		ok(rc < 0 && e.code == EXO_DATAERR && strcmp(e.msg, bad[i].msg) == 0, "refused: %s", e.msg);
	}
	return done_testing();
}
