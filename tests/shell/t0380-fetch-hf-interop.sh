#!/bin/sh
# exo-fetch and huggingface_hub share one cache: huggingface_hub (from PyPI,
# in a venv kept under build/) finds with local_files_only every file
# exo-fetch wrote, and after huggingface_hub downloads from the same nginx,
# exo-fetch finds the model complete and downloads nothing.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../hub/lib-hub.sh"
hub_require
HOME=$TMP
: >"$TMP/defaults.yaml"
export HOME EXO_CONFIG=$TMP/defaults.yaml
M=$EXO_SHARED/fixtures/models
VENV=$(cd "$EXO_BUILD/.." && pwd)/hub-venv
if ! "$VENV/bin/python" -c 'import huggingface_hub' 2>/dev/null; then
	rm -rf "$VENV"
	if ! { python3 -m venv "$VENV" && timeout 120 "$VENV/bin/pip" install -q huggingface_hub; } >"$TMP/pip.log" 2>&1; then
		rm -rf "$VENV"
		test_skip "huggingface_hub: cannot install from PyPI ($(tail -1 "$TMP/pip.log"))"
		test_done
		exit 0
	fi
fi
PY=$VENV/bin/python
hub_start llama/sharded=$M/llama3-tiny-sharded qwen/tiny=$M/qwen2-tiny ||
	{ echo "Bail out! nginx did not start"; exit 1; }
export HF_HUB_DISABLE_TELEMETRY=1 HF_HUB_DISABLE_PROGRESS_BARS=1
C=$(hub_commit llama/sharded)

test_expect_success 'huggingface_hub (local_files_only) finds every file exo-fetch wrote' '
	exo-fetch -o json llama/sharded >"$TMP/rec.json" &&
	HF_HUB_OFFLINE=1 "$PY" - "$TMP/rec.json" "$M/llama3-tiny-sharded" <<-PY
	import hashlib, json, os, sys
	from huggingface_hub import snapshot_download, hf_hub_download
	rec = json.load(open(sys.argv[1]))
	path = snapshot_download("llama/sharded", local_files_only=True)
	assert path == rec["path"], (path, rec["path"])
	for f in rec["files"]:
	    p = hf_hub_download("llama/sharded", f["name"], local_files_only=True)
	    want = open(os.path.join(sys.argv[2], f["name"]), "rb").read()
	    assert open(p, "rb").read() == want, f["name"]
	print(len(rec["files"]), "files")
	PY
'

test_expect_success 'after huggingface_hub downloads, exo-fetch downloads nothing' '
	HF_HUB_CACHE=$TMP/hf "$PY" -c "from huggingface_hub import snapshot_download; print(snapshot_download(\"qwen/tiny\"))" &&
	: >"$HUB_LOG" &&
	exo-fetch -o json --cache "$TMP/hf" qwen/tiny >"$TMP/q.json" &&
	cat "$HUB_LOG" && test "$(hub_requests GET /cdn/)" -eq 0 && test "$(hub_requests GET /resolve/)" -eq 0 &&
	test "$(hub_requests HEAD /resolve/)" -eq 0 &&
	grep -q "\"name\":\"model.safetensors\",\"size\":691248" "$TMP/q.json" &&
	HF_HUB_OFFLINE=1 exo-fetch -o json --cache "$TMP/hf" qwen/tiny >/dev/null
'

test_expect_success 'huggingface_hub (local_files_only) sees a snapshot fetched with --layers is partial' '
	exo-fetch -o json --cache "$TMP/part" --layers 0:2 llama/sharded >/dev/null &&
	HF_HUB_OFFLINE=1 HF_HUB_CACHE=$TMP/part "$PY" - <<-PY
	from huggingface_hub import snapshot_download
	from huggingface_hub.errors import IncompleteSnapshotError
	try:
	    snapshot_download("llama/sharded", local_files_only=True)
	    raise SystemExit("a partial snapshot passed for complete")
	except IncompleteSnapshotError as e:
	    assert "model-00002-of-00002.safetensors" in str(e), e
	snapshot_download("llama/sharded", local_files_only=True, allow_patterns=["*.json", "*00001*"])
	PY
'

test_expect_success 'huggingface_hub completes a snapshot exo-fetch fetched in part, fetching only the rest' '
	test -d "$TMP/part/models--llama--sharded" &&
	: >"$HUB_LOG" &&
	HF_HUB_CACHE=$TMP/part "$PY" -c "from huggingface_hub import snapshot_download; snapshot_download(\"llama/sharded\")" &&
	test "$(hub_requests GET /cdn/)" -eq 1 &&
	grep -q "^GET /cdn/$(sha256sum "$M/llama3-tiny-sharded/model-00002-of-00002.safetensors" | cut -c1-64) 200" "$HUB_LOG" &&
	cmp "$TMP/part/models--llama--sharded/snapshots/$C/model-00002-of-00002.safetensors" \
	    "$M/llama3-tiny-sharded/model-00002-of-00002.safetensors"
'
test_done
