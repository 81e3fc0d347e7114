#!/bin/sh
# The configured model cache is read by every tool: a model exo-fetch put in
# exo.yaml's storage.modelCache.path (HF_HUB_CACHE pointing elsewhere) is
# found by exo-validate, exo-partition and exo-shard-serve by its ORG/NAME.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../hub/lib-hub.sh"
hub_require
HOME=$TMP
export HOME
M=$EXO_SHARED/fixtures/models
hub_start llama/tiny=$M/llama3-tiny || { echo "Bail out! nginx did not start"; exit 1; }
C=$(hub_commit llama/tiny)
printf 'storage:\n  modelCache:\n    path: %s\n' "$TMP/configured" >"$TMP/exo.yaml"
: >"$TMP/empty.yaml"
export EXO_CONFIG=$TMP/exo.yaml HF_HUB_CACHE=$TMP/elsewhere
trap 'kill $SERVE 2>/dev/null; hub_stop; rm -rf "$TMP"' EXIT

test_expect_success 'exo-fetch writes into the configured cache' '
	exo-fetch -q -o json llama/tiny >"$TMP/rec" &&
	test -L "$TMP/configured/models--llama--tiny/snapshots/$C/model.safetensors" &&
	! test -e "$TMP/elsewhere/models--llama--tiny"
'

test_expect_success 'exo-validate model ORG/NAME finds it there and checks its hashes' '
	exo-validate model llama/tiny -o json >"$TMP/val" &&
	grep "\"model.hashes\"" "$TMP/val" | grep -q "\"ok\""
'

test_expect_code 66 'with another exo.yaml it is not found (the configuration is what found it)' '
	EXO_CONFIG=$TMP/empty.yaml exo-validate model llama/tiny -o json >/dev/null 2>"$TMP/err"; rc=$?
	cat "$TMP/err"; grep -q "llama/tiny: revision main not in the Hugging Face cache $TMP/elsewhere" "$TMP/err" && exit $rc
'

test_expect_success 'exo-partition --model ORG/NAME plans it, with its commit' '
	printf "{\"kind\":\"node\",\"v\":1,\"name\":\"a\",\"arch\":\"x86_64\",\"mem_total\":8589934592,\"mem_available\":8589934592,\"mem_bandwidth\":1e10,\"net\":[{\"name\":\"lo\",\"state\":\"up\",\"addresses\":[\"127.0.0.1/8\"]}]}\n" >"$TMP/node.json" &&
	exo-partition --model llama/tiny -o json "$TMP/node.json" >"$TMP/plan.json" &&
	grep -q "\"model\": *\"llama/tiny\"" "$TMP/plan.json" && grep -q "\"revision\": *\"$C\"" "$TMP/plan.json"
'

PORT=$(hub_free_port)
exo-shard-serve --threads 1 --model llama/tiny --layers 0:4 --listen 127.0.0.1:$PORT 2>"$TMP/serve.log" &
SERVE=$!
i=0; while ! grep -q " on 127.0.0.1:" "$TMP/serve.log" 2>/dev/null && kill -0 $SERVE 2>/dev/null && [ $i -lt 200 ]; do
	sleep 0.05; i=$((i + 1)); done
test_expect_success 'exo-shard-serve --model ORG/NAME serves it' '
	cat "$TMP/serve.log"; grep -q " on 127.0.0.1:$PORT" "$TMP/serve.log"
'
kill $SERVE 2>/dev/null; wait $SERVE 2>/dev/null
test_done
