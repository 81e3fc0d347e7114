#!/bin/sh
# exo-fetch and a GGUF repository (the nginx hub of tests/hub): --include
# '*Q4_K_M.gguf' fetches that one file into the cache, the record comes from
# its metadata, ORG/NAME then loads that file; --layers is refused in one
# line (one GGUF file holds every layer), online and offline.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../hub/lib-hub.sh"
hub_require
HOME=$TMP
: >"$TMP/defaults.yaml"
export HOME EXO_CONFIG=$TMP/defaults.yaml
G=$(cd "$(dirname "$0")/../fixtures-gguf" && pwd)
M=$EXO_SHARED/fixtures/models
# a repository as GGUF publishers lay them out: one file per quantisation
mkdir -p "$TMP/repo" && cp "$G/qwen2-tiny.gguf" "$TMP/repo/tiny-Q4_K_M.gguf" &&
cp "$G/llama3-tiny.gguf" "$TMP/repo/tiny-Q8_0.gguf" && echo "# tiny GGUF" >"$TMP/repo/README.md"
hub_start acme/tiny-GGUF=$TMP/repo || { echo "Bail out! nginx did not start"; exit 1; }
C=$(hub_commit acme/tiny-GGUF)
S=$TMP/cache/models--acme--tiny-GGUF/snapshots/$C
jv() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }

test_expect_code 64 "--layers on a GGUF repository: one line, exit 64, nothing fetched" '
	exo-fetch --layers 0:2 acme/tiny-GGUF --include "*Q4_K_M.gguf" 2>"$TMP/err" >/dev/null; rc=$?
	cat "$TMP/err"
	test "$(wc -l <"$TMP/err")" -eq 1 && grep -q "acme/tiny-GGUF: --layers 0:2: .*one GGUF file holds every layer: it cannot be split by layers" "$TMP/err" &&
	test "$(hub_requests GET /cdn/)" -eq 0 && ! test -e "$S" && exit $rc
'

test_expect_success "--include '*Q4_K_M.gguf': that one file, the record from its metadata" '
	: >"$HUB_LOG" &&
	exo-fetch -o json acme/tiny-GGUF --include "*Q4_K_M.gguf" >"$TMP/rec.json" &&
	test "$(ls "$S")" = tiny-Q4_K_M.gguf && cmp "$S/tiny-Q4_K_M.gguf" "$G/qwen2-tiny.gguf" &&
	test "$(readlink "$S/tiny-Q4_K_M.gguf")" = "../../blobs/$(sha256sum "$G/qwen2-tiny.gguf" | cut -d" " -f1)" &&
	test "$(hub_requests GET tiny-Q8_0)" -eq 0 &&
	test "$(jv "$TMP/rec.json" "(d[\"architecture\"], d[\"layers\"], d[\"hidden\"], [f[\"name\"] for f in d[\"files\"]])")" = \
		"('\''Qwen2ForCausalLM'\'', 3, 64, ['\''tiny-Q4_K_M.gguf'\''])"
'

test_expect_success "ORG/NAME then loads that file and matches transformers" '
	exo-validate model acme/tiny-GGUF --reference "$M/qwen2-tiny/reference" -o json >"$TMP/val.json" &&
	grep -q "all 16 greedy tokens match" "$TMP/val.json" && ! grep -q "\"fail\"" "$TMP/val.json"
'

test_expect_success "the record has the sizes exo-partition --profile counts from the file; exo-fetch | exo-partition plans" '
	exo-partition --profile --model acme/tiny-GGUF -o json >"$TMP/prof.json" &&
	test "$(jv "$TMP/prof.json" "(d[\"id\"], d[\"revision\"], d[\"path\"])")" = "('\''acme/tiny-GGUF'\'', '\''$C'\'', '\''$S/tiny-Q4_K_M.gguf'\'')" &&
	python3 - "$TMP/rec.json" "$TMP/prof.json" <<-PY &&
	import json, sys
	f, p = (json.loads(open(n).readline()) for n in sys.argv[1:])
	keys = ("dtype", "layers", "hidden", "head_dim", "bytes_per_layer", "embed_bytes",
	        "head_bytes", "kv_bytes_per_token", "total_bytes", "tied_embeddings")
	diff = [(k, f.get(k), p.get(k)) for k in keys if f.get(k) != p.get(k) or f.get(k) is None]
	assert not diff, diff
	PY
	{ exo-detect --name n1; exo-fetch acme/tiny-GGUF --include "*Q4_K_M.gguf"; } | exo-partition -o json >"$TMP/plan.json" &&
	grep -q "\"kind\":\"plan\".*\"model\":\"acme/tiny-GGUF\".*\"revision\":\"$C\"" "$TMP/plan.json"
'

test_expect_success "offline: the cached GGUF snapshot, no request" '
	: >"$HUB_LOG" &&
	HF_HUB_OFFLINE=1 exo-fetch -o json acme/tiny-GGUF >"$TMP/off.json" &&
	test "$(jv "$TMP/off.json" "(d[\"revision\"], d[\"layers\"])")" = "('\''$C'\'', 3)" && test ! -s "$HUB_LOG"
'

test_expect_code 64 "offline --layers on the cached GGUF snapshot: one line, exit 64" '
	HF_HUB_OFFLINE=1 exo-fetch --layers 1:3 acme/tiny-GGUF 2>"$TMP/err" >/dev/null; rc=$?
	cat "$TMP/err"
	test "$(wc -l <"$TMP/err")" -eq 1 && grep -q "cannot be split by layers" "$TMP/err" && exit $rc
'

test_expect_code 66 "every file of the repository: two GGUF files and no config.json, said in one line" '
	exo-fetch acme/tiny-GGUF 2>"$TMP/err" >/dev/null; rc=$?
	cat "$TMP/err"
	test "$(wc -l <"$TMP/err")" -eq 1 && grep -q "$S: no config.json, nor one .gguf file to stand for it" "$TMP/err" &&
	test -e "$S/tiny-Q8_0.gguf" && exit $rc
'
test_done
