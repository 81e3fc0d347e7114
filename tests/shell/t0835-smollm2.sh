#!/bin/sh
# The real model against llama.cpp: SmolLM2-135M-Instruct's Q4_1 GGUF (the
# file make demo fetches into build/smollm2) through three exo-shard-serve
# stages on loopback, its greedy answers to chat prompts equal to
# llama.cpp's on the same file, and its token ids equal to llama.cpp's
# (tests/fixtures-gguf/smollm2-llamacpp.json, made by the script beside it
# with llama-cpp-python).  Skipped when the file has not been fetched
# (make check-real fetches it).
. ./tests/lib.sh
. ./tests/shell/api-lib.sh
want=tests/fixtures-gguf/smollm2-llamacpp.json
trap 'stop_stages; rm -rf "$TMP"' EXIT
stop_stages() {
	[ -f "$TMP/pids" ] || return 0
	for p in $(cat "$TMP/pids"); do kill "$p" 2>/dev/null; done
	for p in $(cat "$TMP/pids"); do wait "$p" 2>/dev/null; done
	rm -f "$TMP/pids"
}

if ! gguf=$(smollm2_gguf); then
	test_skip "SmolLM2 is not in build/smollm2 (make check-real fetches it)"
	test_done
	exit
fi

test_expect_success "token ids of the texts llama.cpp tokenized: equal" "
	python3 -c '
import json, sys
for c in json.load(open(sys.argv[1]))[\"tokenize\"]:
    print(json.dumps({\"text\": c[\"text\"], \"add_special_tokens\": True, \"ids\": c[\"ids\"]}))
' $want >$TMP/cases.jsonl &&
	exo-validate tokenizer $gguf --cases $TMP/cases.jsonl -o text >$TMP/tok.out 2>&1; cat $TMP/tok.out;
	grep -q 'cases.jsonl: \([0-9]*\) of \1 cases give exactly the expected ids' $TMP/tok.out
"

P=$(free_ports 4)
API=127.0.0.1:$((P + 3))
exo-shard-serve --model "$gguf" --layers 20:30 --listen 127.0.0.1:$((P + 2)) --threads 1 \
	>"$TMP/s2.log" 2>&1 &
echo $! >>"$TMP/pids"
exo-shard-serve --model "$gguf" --layers 10:20 --listen 127.0.0.1:$((P + 1)) --next 127.0.0.1:$((P + 2)) \
	--threads 1 >"$TMP/s1.log" 2>&1 &
echo $! >>"$TMP/pids"
exo-shard-serve --model "$gguf" --layers 0:10 --listen 127.0.0.1:$P --next 127.0.0.1:$((P + 1)) \
	--threads 1 --api "$API" --model-name smollm2 >"$TMP/s0.log" 2>&1 &
echo $! >>"$TMP/pids"
BASE=http://$API
test_expect_success "three stages of 10 layers each come up" "wait_healthy 120"

n=$(python3 -c 'import json, sys; print(len(json.load(open(sys.argv[1]))["greedy"]))' $want)
i=0
while [ $i -lt "$n" ]; do
	q=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["greedy"][int(sys.argv[2])]["prompt"].split("user\n")[-1].split("<|im_end|>")[0])' $want $i)
	test_expect_success "greedy answer to \"$q\" through 3 stages: llama.cpp's" "
		python3 - $want $i $BASE <<'PY'
import json, sys, urllib.request
case = json.load(open(sys.argv[1]))['greedy'][int(sys.argv[2])]
req = {'model': 'smollm2', 'prompt': case['prompt'], 'max_tokens': case['max_tokens'], 'temperature': 0}
r = urllib.request.urlopen(urllib.request.Request(sys.argv[3] + '/v1/completions', json.dumps(req).encode(),
                                                  {'Content-Type': 'application/json'}), timeout=120)
got = json.load(r)
text, usage = got['choices'][0]['text'], got['usage']
print('exo:      %r' % text)
print('llama.cpp %r' % case['text'])
assert usage['prompt_tokens'] == len(case['prompt_ids']), usage
assert text == case['text'], 'the answers differ'
assert (got['choices'][0]['finish_reason'] == 'stop') == case['stopped'], got['choices'][0]['finish_reason']
PY
	"
	i=$((i + 1))
done
stop_stages
test_done
