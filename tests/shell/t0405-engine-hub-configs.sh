#!/bin/sh
# config.json as popular models publish it (tests/fixtures-hub-configs, the
# files as on the Hugging Face Hub), each shrunk to tiny dimensions by
# make_random_model --from-config with random weights under the tensor names
# of its architecture: every one loads and runs; a quantisation the engine
# does not read is refused by name.
. tests/lib.sh
C=tests/fixtures-hub-configs
tools=$EXO_BUILD/tools
if [ ! -x "$tools/make_random_model" ] || [ ! -x "$tools/pipeline_client" ]; then
	test_skip "make_random_model or pipeline_client not built in $tools"
	test_done
	exit 0
fi
export EXO_CONFIG=/dev/null

for f in $C/*.json; do
	name=$(basename $f .json)
	arch=$(sed -n '/"architectures"/{n;s/.*"\([A-Za-z0-9]*\)".*/\1/p;}' $f)
	test_expect_success "$name ($arch): shrunk, loads and generates" "
		$tools/make_random_model --from-config $f --out $TMP/$name -q &&
		exo-validate model $TMP/$name -o json >$TMP/$name.out &&
		grep '\"model.load\"' $TMP/$name.out | grep '\"level\":\"ok\"' | grep -q '$arch, 2 layers' &&
		$tools/pipeline_client --model $TMP/$name --local 2 --tokens 4 >$TMP/$name.tokens &&
		test \$(wc -w <$TMP/$name.tokens) -eq 4
	"
done

test_expect_success "the shrunk configs keep what was published around the dimensions" "
	grep -A3 '\"eos_token_id\"' $TMP/Llama-3.2-1B-Instruct/config.json | grep -q 128009 &&
	grep -q '\"rope_type\": \"llama3\"' $TMP/Llama-3.1-8B-Instruct/config.json &&
	grep -q '\"num_local_experts\": 4' $TMP/Mixtral-8x7B-Instruct-v0.1/config.json &&
	grep -q '\"mlp_only_layers\": \[\]' $TMP/Qwen3-30B-A3B/config.json &&
	grep -q 'block_sparse_moe.experts.3.w2.weight' $TMP/Mixtral-8x7B-Instruct-v0.1/model.safetensors &&
	grep -q 'self_attn.q_norm.weight' $TMP/Qwen3-0.6B/model.safetensors
"

# AWQ weights would load as garbage: refused, naming the method.
mkdir -p $TMP/awq
cp $TMP/Llama-3.2-1B-Instruct/* $TMP/awq/
sed '1a\  "quantization_config": {"bits": 4, "group_size": 128, "quant_method": "awq", "version": "gemm", "zero_point": true},' \
	$C/Llama-3.2-1B-Instruct.json >$TMP/awq.json
test_expect_code 2 "an AWQ quantization_config is refused in one line naming the method" "
	$tools/make_random_model --from-config $TMP/awq.json --out $TMP/awq -q &&
	exo-validate model $TMP/awq -o json >$TMP/awq.out; rc=\$?
	grep '\"model.load\"' $TMP/awq.out | grep -q \"quantization_config.quant_method 'awq' is not supported\" || rc=0
	exit \$rc
"
test_done
