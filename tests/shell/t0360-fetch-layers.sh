#!/bin/sh
# exo-fetch --layers A:B and --plan FILE --stage N: only the safetensors
# shards holding those layers (from model.safetensors.index.json), plus the
# embedding with the first layers and the head with the last; --include and
# --exclude globs; offline checks for exactly those files.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../hub/lib-hub.sh"
hub_require
HOME=$TMP
: >"$TMP/defaults.yaml"
export HOME EXO_CONFIG=$TMP/defaults.yaml
M=$EXO_SHARED/fixtures/models
hub_start llama/sharded=$M/llama3-tiny-sharded llama/tiny=$M/llama3-tiny || { echo "Bail out! nginx did not start"; exit 1; }
C=$(hub_commit llama/sharded)
S=$TMP/cache/models--llama--sharded/snapshots/$C
S1=$(sha256sum "$M/llama3-tiny-sharded/model-00001-of-00002.safetensors" | cut -d" " -f1)
S2=$(sha256sum "$M/llama3-tiny-sharded/model-00002-of-00002.safetensors" | cut -d" " -f1)
jv() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); r=eval(sys.argv[2]); print(str(r).lower() if isinstance(r, bool) else r)' "$1" "$2"; }

test_expect_success '--layers 0:2: the first shard only (layers 0-1 and the embedding)' '
	exo-fetch -o json --layers 0:2 llama/sharded >"$TMP/a.json" &&
	test -e "$S/model-00001-of-00002.safetensors" && ! test -e "$S/model-00002-of-00002.safetensors" &&
	test -e "$S/model.safetensors.index.json" && test -e "$S/config.json" &&
	test "$(hub_requests GET "/cdn/$S2")" -eq 0 &&
	test "$(jv "$TMP/a.json" "(d[\"layer_start\"], d[\"layer_end\"])")" = "(0, 2)" &&
	test "$(jv "$TMP/a.json" "\" \".join(sorted(f[\"name\"] for f in d[\"files\"] if f[\"name\"].endswith(\"safetensors\")))")" = "model-00001-of-00002.safetensors"
'

test_expect_success 'offline: layers 0:2 are there, layers 2:4 are not (exit 66)' '
	HF_HUB_OFFLINE=1 exo-fetch -o json --layers 0:2 llama/sharded >/dev/null &&
	{ HF_HUB_OFFLINE=1 exo-fetch --layers 2:4 llama/sharded >/dev/null 2>"$TMP/err"; test $? -eq 66; } &&
	grep -q "model-00002-of-00002.safetensors: not in the cache" "$TMP/err"
'

test_expect_success '--plan FILE --stage 1: layers 2:4, the second shard (head included)' '
	cat >"$TMP/plan.json" <<-JSON &&
	{"kind":"plan","v":1,"model":"llama/sharded","strategy":"manual","layers":4,"stages":[{"index":0,"node":"a","layer_start":0,"layer_end":2},{"index":1,"node":"b","layer_start":2,"layer_end":4}]}
	JSON
	"$EXO_BUILD/tools/exo-rec" -i json -o msgpack "$TMP/plan.json" >"$TMP/plan.mp" &&
	: >"$HUB_LOG" &&
	exo-fetch -o json --plan "$TMP/plan.mp" --stage 1 >"$TMP/b.json" &&
	test -e "$S/model-00002-of-00002.safetensors" &&
	test "$(hub_requests GET "/cdn/$S2")" -eq 1 && test "$(hub_requests GET "/cdn/$S1")" -eq 0 &&
	test "$(jv "$TMP/b.json" "\" \".join(str(d[k]) for k in (\"id\", \"layer_start\", \"layer_end\"))")" = "llama/sharded 2 4"
'

test_expect_success '--plan in JSON works the same; --layers on a single-file model takes that file' '
	exo-fetch -o json --cache "$TMP/c2" --plan "$TMP/plan.json" --stage 0 >/dev/null &&
	test -e "$TMP/c2/models--llama--sharded/snapshots/$C/model-00001-of-00002.safetensors" &&
	! test -e "$TMP/c2/models--llama--sharded/snapshots/$C/model-00002-of-00002.safetensors" &&
	exo-fetch -o json --cache "$TMP/c2" --layers 1:3 llama/tiny >/dev/null &&
	test -e "$TMP/c2/models--llama--tiny/snapshots/$(hub_commit llama/tiny)/model.safetensors"
'

test_expect_success '--include and --exclude globs' '
	exo-fetch -o json --cache "$TMP/c3" --include "*.json" --exclude "generation_*" llama/sharded >"$TMP/c.json" &&
	test "$(jv "$TMP/c.json" "\" \".join(sorted(f[\"name\"] for f in d[\"files\"]))")" = "config.json model.safetensors.index.json"
'

test_expect_code 64 'layers past the model: exit 64' '
	exo-fetch --cache "$TMP/c4" --layers 2:9 llama/sharded >/dev/null 2>"$TMP/err"; rc=$?
	grep -q "the model has 4 layers" "$TMP/err" && exit $rc
'

test_expect_code 64 'a malformed --layers: exit 64' '
	exo-fetch --layers 3:1 llama/sharded 2>/dev/null
'

test_expect_code 65 'a plan without that stage: exit 65' '
	exo-fetch --plan "$TMP/plan.json" --stage 7 2>/dev/null
'
test_done
