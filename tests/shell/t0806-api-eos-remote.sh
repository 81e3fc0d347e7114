#!/bin/sh
# The end-of-sequence ids travel with the sampling parameters: when the
# last stage is another process, it is the one that draws the token and
# says that it ends the generation (the result frame's eos), and the API
# stops there as it does when it draws itself (t0805).
. tests/lib.sh
. tests/shell/api-lib.sh
export EXO_CONFIG=/dev/null
tools=$EXO_BUILD/tools

dm=$(demo_model) || exit 1
mkdir -p $TMP/m
cp $dm/tokenizer.json $dm/tokenizer_config.json $dm/model.safetensors $TMP/m/
# what greedy decoding gives from this prompt: its first token is made an eos id
first=$($tools/pipeline_client --model $dm --local 4 --prompt '10 20 30' --tokens 1 --temperature 0 | tr -d ' ')
sed 's/"eos_token_id": *[0-9]*/"eos_token_id": [3071, '$first', 3069]/' $dm/config.json >$TMP/m/config.json

# serve_split: layers 0..1 with the API, layers 2..3 (the drawing stage) apart
serve_split() {
	APIPORT=$(free_port) P0=$(free_port) P1=$(free_port)
	API=127.0.0.1:$APIPORT BASE=http://127.0.0.1:$APIPORT
	exo-shard-serve --model $TMP/m --layers 2:4 --listen 127.0.0.1:$P1 --threads 1 \
		>"$TMP/stage1.log" 2>&1 &
	echo $! >>"$TMP/pids"
	exo-shard-serve --model $TMP/m --layers 0:2 --listen 127.0.0.1:$P0 --next 127.0.0.1:$P1 \
		--threads 1 --api $API --model-name demo >"$TMP/stage0.log" 2>&1 &
	echo $! >>"$TMP/pids"
	wait_healthy 60
}

test_expect_success "an eos id drawn by a remote last stage stops the generation at once" "
	test -n '$first' && grep -q '\"eos_token_id\": \[3071, $first, 3069\]' $TMP/m/config.json &&
	serve_split &&
	post /v1/completions '{\"model\": \"demo\", \"prompt\": [10, 20, 30], \"max_tokens\": 6, \"temperature\": 0}' |
	pycheck 'assert j[\"usage\"][\"completion_tokens\"] == 1, j; assert j[\"choices\"][0][\"finish_reason\"] == \"stop\", j; assert j[\"choices\"][0][\"text\"] == \"\", j'
"
stop_pipeline
test_done
