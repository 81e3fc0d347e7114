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
# Qwen3-30B-A3B as published: 30.5 B parameters, 3.3 B of them active.
mkdir -p $TMP/q30cfg
cp $C/Qwen3-30B-A3B.json $TMP/q30cfg/config.json
test_expect_success "Qwen3-30B-A3B's config: 30.5B parameters, 3.3B active per token" "
	exo-validate hardware $TMP/q30cfg -o json </dev/null >$TMP/q30.hw;
	grep '\"model.engine\"' $TMP/q30.hw | grep -q '30.5B parameters, 3.3[0-9]*B of them active per token'
"
test_expect_success "Mixtral-8x7B's config: 46.7B parameters, 12.9B active; a dense model all active" "
	mkdir -p $TMP/mixcfg $TMP/llcfg && cp $C/Mixtral-8x7B-Instruct-v0.1.json $TMP/mixcfg/config.json &&
	cp $C/Llama-3.1-8B-Instruct.json $TMP/llcfg/config.json &&
	exo-validate hardware $TMP/mixcfg -o json </dev/null >$TMP/mix.hw;
	exo-validate hardware $TMP/llcfg -o json </dev/null >$TMP/ll.hw;
	grep '\"model.engine\"' $TMP/mix.hw | grep -q '46.7B parameters, 12.9B of them active' &&
	grep '\"model.engine\"' $TMP/ll.hw | grep -q '8.03B parameters, 8.03B of them active'
"
test_expect_success "exo-validate model reports the active parameters of a mixture of experts" "
	exo-validate model $TMP/Qwen3-30B-A3B -o json >$TMP/q30tiny.out &&
	grep '\"model.memory\"' $TMP/q30tiny.out | grep -q 'parameters ([0-9.]*k active per token)'
"
# The planner at the real shape (a header-only checkpoint: the data a hole):
# memory for all 128 experts of a layer, time for the 8 a token reads.
G=1073741824
test_expect_success "the planner holds every expert and charges a token for the active ones" "
	$tools/make_random_model --from-config $C/Qwen3-30B-A3B.json --full-size --header-only --out $TMP/q30 -q &&
	exo-partition --model $TMP/q30 --profile -o json >$TMP/q30.profile &&
	grep -q '\"experts\":128,\"experts_per_token\":8,\"expert_bytes_per_layer\":1207959552' $TMP/q30.profile &&
	printf '{\"kind\":\"node\",\"v\":1,\"name\":\"big\",\"arch\":\"x86_64\",\"mem_total\":%s,\"mem_available\":%s,\"mem_bandwidth\":100000000000}\n' \
		$((128 * G)) $((128 * G)) | exo-partition --model $TMP/q30 --ctx 4096 -o json >$TMP/q30.plan &&
	bytes=\$(sed 's/.*\"bytes\":\([0-9]*\).*/\1/' $TMP/q30.plan) &&
	spt=\$(sed 's/.*\"seconds_per_token\":\([0-9.e-]*\)}.*/\1/' $TMP/q30.plan) &&
	test \$bytes -gt 61000000000 &&
	awk -v s=\$spt 'BEGIN { r = s * 1e11; exit !(r > 5.5e9 && r < 7.5e9) }'
"
test_done
