#!/bin/sh
# Every id of config.json's eos_token_id stops a generation through the API,
# as transformers takes them (Llama 3.x Instruct lists three: 128001, 128008,
# 128009), also where generation_config.json does not repeat them.
. tests/lib.sh
. tests/shell/api-lib.sh
export EXO_CONFIG=/dev/null
tools=$EXO_BUILD/tools

dm=$(demo_model) || exit 1
mkdir -p $TMP/m
cp $dm/tokenizer.json $dm/tokenizer_config.json $dm/model.safetensors $TMP/m/
cp $dm/config.json $TMP/m/config.json
# what greedy decoding gives from this prompt: its first token is made an eos id below
first=$($tools/pipeline_client --model $TMP/m --local 4 --prompt '10 20 30' --tokens 1 --temperature 0 | tr -d ' ')

# serve_one: the whole model in one stage with the API on $BASE
serve_one() {
	APIPORT=$(free_port) P0=$(free_port)
	API=127.0.0.1:$APIPORT BASE=http://127.0.0.1:$APIPORT
	exo-shard-serve --model $TMP/m --layers 0:4 --listen 127.0.0.1:$P0 --threads 1 \
		--api $API --model-name demo >"$TMP/stage0.log" 2>&1 &
	echo $! >>"$TMP/pids"
	wait_healthy 60
}
body='{"model": "demo", "prompt": [10, 20, 30], "max_tokens": 6, "temperature": 0}'

test_expect_success "without it among the eos ids, greedy decoding runs to max_tokens" "
	test -n '$first' && serve_one &&
	post /v1/completions '$body' | pycheck 'assert j[\"usage\"][\"completion_tokens\"] == 6, j; assert j[\"choices\"][0][\"finish_reason\"] == \"length\", j'
"
stop_pipeline
sed 's/"eos_token_id": *[0-9]*/"eos_token_id": [3071, '$first', 3069]/' $dm/config.json >$TMP/m/config.json
test_expect_success "an id listed in config.json's eos_token_id list stops it at once" "
	grep -q '\"eos_token_id\": \[3071, $first, 3069\]' $TMP/m/config.json && serve_one &&
	post /v1/completions '$body' | pycheck 'assert j[\"usage\"][\"completion_tokens\"] == 1, j; assert j[\"choices\"][0][\"finish_reason\"] == \"stop\", j'
"
stop_pipeline
test_done
