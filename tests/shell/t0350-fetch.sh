#!/bin/sh
# exo-fetch against a real nginx on loopback serving the fixture checkpoints
# as the hub does: a fresh download lands in the huggingface_hub cache layout
# with verified blobs and relative links, a second run fetches nothing, the
# model record describes it; offline mode, a missing repository, 401 without
# a token, --local-dir and --dry-run.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../hub/lib-hub.sh"
hub_require
HOME=$TMP
: >"$TMP/defaults.yaml"
export HOME EXO_CONFIG=$TMP/defaults.yaml
M=$EXO_SHARED/fixtures/models
# a repository holding the same content twice (one blob, two names)
mkdir -p "$TMP/dup/sub" && cp "$M/mistral-tiny-f16/config.json" "$TMP/dup/" &&
cp "$M/mistral-tiny-f16/config.json" "$TMP/dup/sub/copy.json" &&
cp "$M/mistral-tiny-f16/model.safetensors" "$TMP/dup/model.safetensors" &&
cp "$M/mistral-tiny-f16/model.safetensors" "$TMP/dup/sub/again.safetensors"
hub_start llama/tiny=$M/llama3-tiny qwen/tiny=$M/qwen2-tiny dup/tiny=$TMP/dup || { echo "Bail out! nginx did not start"; exit 1; }
C=$(hub_commit llama/tiny)
R=$TMP/cache/models--llama--tiny
jv() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); r=eval(sys.argv[2]); print(str(r).lower() if isinstance(r, bool) else r)' "$1" "$2"; }

test_expect_success 'fresh download: record, refs, blobs, relative links' '
	exo-fetch -o json llama/tiny >"$TMP/rec.json" &&
	test "$(jv "$TMP/rec.json" "\" \".join(str(d[k]) for k in (\"kind\", \"id\", \"revision\", \"layers\"))")" = "model llama/tiny $C 4" &&
	test "$(jv "$TMP/rec.json" "d[\"path\"]")" = "$R/snapshots/$C" &&
	test "$(cat "$R/refs/main")" = "$C" && test "$(wc -c <"$R/refs/main")" -eq 40 &&
	test "$(readlink "$R/snapshots/$C/config.json")" = "../../blobs/$(git hash-object "$M/llama3-tiny/config.json")" &&
	sha=$(sha256sum "$M/llama3-tiny/model.safetensors" | cut -d" " -f1) &&
	test "$(readlink "$R/snapshots/$C/model.safetensors")" = "../../blobs/$sha" &&
	cmp "$R/snapshots/$C/model.safetensors" "$M/llama3-tiny/model.safetensors" &&
	test "$(jv "$TMP/rec.json" "[f[\"sha256\"] for f in d[\"files\"] if f[\"name\"] == \"model.safetensors\"][0]")" = "$sha" &&
	test "$(jv "$TMP/rec.json" "(d[\"layer_start\"], d[\"layer_end\"], len(d[\"files\"]))")" = "(0, 4, 3)" &&
	! ls "$R/blobs" | grep -q incomplete
'

test_expect_success 'the record passes the records schema (msgpack on a pipe)' '
	exo-fetch llama/tiny | "$EXO_BUILD/tools/exo-rec" -o json >"$TMP/rec2.json" &&
	test "$(jv "$TMP/rec2.json" "d[\"architecture\"]")" = LlamaForCausalLM
'

test_expect_success 'the record has the sizes a planner needs, matching the safetensors' '
	python3 - "$TMP/rec.json" <<-PY
	import json, os, struct, sys
	d = json.load(open(sys.argv[1]))
	f = open(os.path.join(d["path"], "model.safetensors"), "rb")
	n = struct.unpack("<Q", f.read(8))[0]
	header = json.loads(f.read(n))
	tensors = sum(v["data_offsets"][1] - v["data_offsets"][0] for k, v in header.items() if k != "__metadata__")
	layer0 = sum(v["data_offsets"][1] - v["data_offsets"][0] for k, v in header.items() if k.startswith("model.layers.0."))
	assert d["total_bytes"] == tensors, (d["total_bytes"], tensors)
	assert d["bytes_per_layer"] == layer0, (d["bytes_per_layer"], layer0)
	assert d["dtype"] == "f32" and d["kv_bytes_per_token"] == 2 * 2 * 16 * 4 * 4
	PY
'

if [ -x "$EXO_BIN/exo-partition" ]; then
	test_expect_success 'the sizes equal exo-partition --profile; exo-fetch | exo-partition plans' '
		export HF_HUB_CACHE=$TMP/pp &&
		for r in llama/tiny qwen/tiny; do
			exo-fetch -o json "$r" >"$TMP/f.json" &&
			exo-partition --profile --model "$r" -o json >"$TMP/p.json" &&
			python3 - "$TMP/f.json" "$TMP/p.json" <<-PY || return 1
			import json, sys
			f, p = (json.loads(open(n).readline()) for n in sys.argv[1:])
			keys = ("dtype", "layers", "hidden", "head_dim", "bytes_per_layer", "embed_bytes",
			        "head_bytes", "kv_bytes_per_token", "total_bytes", "tied_embeddings")
			diff = [(k, f.get(k), p.get(k)) for k in keys if f.get(k) != p.get(k)]
			assert not diff, diff
			PY
		done &&
		{ exo-detect --name n1; exo-fetch llama/tiny; } | exo-partition -o json >"$TMP/plan.json" &&
		grep -q "\"kind\":\"plan\".*\"model\":\"llama/tiny\".*\"revision\":\"$C\"" "$TMP/plan.json"
	'
else
	test_skip "no exo-partition in this tree"
fi

test_expect_success 'a second run downloads nothing' '
	: >"$HUB_LOG" &&
	exo-fetch -o json llama/tiny >/dev/null &&
	test "$(hub_requests GET /cdn/)" -eq 0 && test "$(hub_requests HEAD /resolve/)" -eq 0 &&
	test "$(hub_requests GET /resolve/)" -eq 0
'

test_expect_success 'a commit as --revision: no ref written' '
	exo-fetch -o json --cache "$TMP/c3" -r "$C" llama/tiny >"$TMP/rec3.json" &&
	test "$(jv "$TMP/rec3.json" "d[\"revision\"]")" = "$C" && ! test -e "$TMP/c3/models--llama--tiny/refs"
'

test_expect_success '--dry-run lists what it would fetch and writes nothing' '
	exo-fetch --dry-run --cache "$TMP/dry" qwen/tiny >"$TMP/dry.txt" &&
	grep -q "^fetch model.safetensors 691248$" "$TMP/dry.txt" &&
	! test -e "$TMP/dry/models--qwen--tiny/snapshots" &&
	exo-fetch --dry-run llama/tiny >"$TMP/dry2.txt" && grep -q "^have  model.safetensors" "$TMP/dry2.txt"
'

test_expect_success 'offline: the cached model, no request' '
	: >"$HUB_LOG" &&
	HF_HUB_OFFLINE=1 exo-fetch -o json llama/tiny >"$TMP/off.json" &&
	test "$(jv "$TMP/off.json" "d[\"revision\"]")" = "$C" &&
	test "$(jv "$TMP/off.json" "len(d[\"files\"])")" -eq 3 &&
	test ! -s "$HUB_LOG"
'

test_expect_code 66 'offline and not cached: exit 66' '
	HF_HUB_OFFLINE=1 exo-fetch qwen/tiny 2>"$TMP/err" >/dev/null; rc=$?
	grep -q "qwen/tiny: revision main not in the cache" "$TMP/err" && exit $rc
'

test_expect_code 66 'a repository the hub does not have: exit 66, URL named' '
	exo-fetch nobody/nothing 2>"$TMP/err" >/dev/null; rc=$?
	grep -q "$HUB_URL/api/models/nobody/nothing/revision/main.*: HTTP 404" "$TMP/err" &&
	test "$(wc -l <"$TMP/err")" -eq 1 && exit $rc
'

test_expect_code 77 '401 without a token: exit 77' '
	HF_ENDPOINT=$HUB_URL/private exo-fetch --cache "$TMP/priv" llama/tiny 2>"$TMP/err" >/dev/null; rc=$?
	grep -q "HTTP 401" "$TMP/err" && exit $rc
'

test_expect_success 'with HF_TOKEN (or $HF_HOME/token) the private endpoint works' '
	HF_TOKEN=$HUB_TOKEN HF_ENDPOINT=$HUB_URL/private exo-fetch -o json --cache "$TMP/priv" llama/tiny >/dev/null &&
	mkdir -p "$HF_HOME" && echo "$HUB_TOKEN" >"$HF_HOME/token" &&
	HF_ENDPOINT=$HUB_URL/private exo-fetch -o json --cache "$TMP/priv2" qwen/tiny >/dev/null &&
	rm "$HF_HOME/token" && test -L "$TMP/priv2/models--qwen--tiny/snapshots/$(hub_commit qwen/tiny)/model.safetensors"
'

test_expect_success '--local-dir: plain verified files' '
	exo-fetch -o json --local-dir "$TMP/plain" qwen/tiny >"$TMP/ld.json" &&
	cmp "$TMP/plain/model.safetensors" "$M/qwen2-tiny/model.safetensors" &&
	cmp "$TMP/plain/config.json" "$M/qwen2-tiny/config.json" && ! test -L "$TMP/plain/config.json" &&
	test "$(jv "$TMP/ld.json" "d[\"path\"]")" = "$TMP/plain" &&
	: >"$HUB_LOG" && exo-fetch -o json --local-dir "$TMP/plain" qwen/tiny >/dev/null &&
	test "$(hub_requests GET /cdn/)" -eq 0
'

if command -v script >/dev/null 2>&1; then
	test_expect_success 'a progress bar on a terminal, nothing on stderr otherwise' '
		exo-fetch -o json --cache "$TMP/p1" qwen/tiny 2>"$TMP/quiet" >/dev/null && test ! -s "$TMP/quiet" &&
		script -qc "exo-fetch -o json --cache \"$TMP/p2\" qwen/tiny >/dev/null" /dev/null >"$TMP/tty" &&
		tr "\r" "\n" <"$TMP/tty" | grep -q "^\[#*\] 675.0 KiB / 675.0 KiB .*/s"
	'
else
	test_skip "script(1) missing: no terminal to test the progress bar on"
fi

test_expect_success 'the same content under two names: one blob, both links, both local files' '
	timeout 20 exo-fetch -o json dup/tiny >"$TMP/dup.json" &&
	D=$TMP/cache/models--dup--tiny/snapshots/$(hub_commit dup/tiny) &&
	test "$(readlink "$D/sub/copy.json")" = "../$(readlink "$D/config.json")" &&
	test "$(readlink "$D/sub/again.safetensors")" = "../$(readlink "$D/model.safetensors")" &&
	test "$(ls "$TMP/cache/models--dup--tiny/blobs" | wc -l)" -eq 2 &&
	timeout 20 exo-fetch -o json --local-dir "$TMP/dupdir" dup/tiny >/dev/null &&
	cmp "$TMP/dupdir/sub/again.safetensors" "$M/mistral-tiny-f16/model.safetensors" &&
	cmp "$TMP/dupdir/sub/copy.json" "$M/mistral-tiny-f16/config.json"
'

test_expect_code 64 'a malformed repository id: exit 64' '
	exo-fetch ../etc 2>/dev/null
'
test_done
