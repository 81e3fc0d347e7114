#!/bin/sh
# exo-fetch when things go wrong: a corrupted blob, a client killed mid-file
# and resumed with Range, a server that ignores Range, a 500 then success, an
# unreachable hub, a full disk.  Nothing half-written ever shows in snapshots/.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../hub/lib-hub.sh"
hub_require
HOME=$TMP
: >"$TMP/defaults.yaml"
export HOME EXO_CONFIG=$TMP/defaults.yaml
M=$EXO_SHARED/fixtures/models
hub_start llama/tiny=$M/llama3-tiny || { echo "Bail out! nginx did not start"; exit 1; }
C=$(hub_commit llama/tiny)
ST=$M/llama3-tiny/model.safetensors
SIZE=$(wc -c <"$ST")
SHA=$(sha256sum "$ST" | cut -d" " -f1)
repo() { echo "$TMP/$1/models--llama--tiny"; }

test_expect_code 65 'a corrupted blob: exit 65 naming the file and both hashes, nothing placed' '
	HF_ENDPOINT=$HUB_URL/corrupt exo-fetch --cache "$TMP/bad" llama/tiny >/dev/null 2>"$TMP/err"; rc=$?
	cat "$TMP/err"; test "$(wc -l <"$TMP/err")" -eq 1 &&
	grep -q "model.safetensors: sha256 mismatch: expected $SHA, got [0-9a-f]\{64\}" "$TMP/err" &&
	! test -e "$(repo bad)/blobs/$SHA" && ! test -e "$(repo bad)/blobs/$SHA.incomplete" &&
	! test -e "$(repo bad)/snapshots/$C/model.safetensors" && exit $rc
'

test_expect_success 'killed mid-file, the next run resumes with Range: no byte fetched twice' '
	HF_ENDPOINT=$HUB_URL/slow exo-fetch --cache "$TMP/res" llama/tiny >/dev/null 2>&1 &
	pid=$! && part=$(repo res)/blobs/$SHA.incomplete && n=0 &&
	while [ "$(stat -c %s "$part" 2>/dev/null || echo 0)" -lt 200000 ] && [ $n -lt 200 ]; do
		sleep 0.05; n=$((n + 1)); done &&
	kill -9 $pid && wait $pid; have=$(stat -c %s "$part") &&
	test "$have" -ge 200000 && test "$have" -lt "$SIZE" &&
	! test -e "$(repo res)/snapshots/$C/model.safetensors" &&
	sleep 0.3 && exo-fetch --cache "$TMP/res" llama/tiny >/dev/null &&
	cmp "$(repo res)/snapshots/$C/model.safetensors" "$ST" &&
	grep -q "^GET /cdn/$SHA 206 $((SIZE - have)) bytes=$have-$" "$HUB_LOG" &&
	sent=$(hub_bytes_sent "^/(slow/)?cdn/$SHA") && echo "sent $sent of $SIZE" &&
	test "$sent" -le $((SIZE + 65536))
'

test_expect_success 'a server that ignores Range: the file restarts cleanly' '
	mkdir -p "$(repo nr)/blobs" && head -c 300000 /dev/zero >"$(repo nr)/blobs/$SHA.incomplete" &&
	HF_ENDPOINT=$HUB_URL/norange exo-fetch --cache "$TMP/nr" llama/tiny >/dev/null &&
	cmp "$(repo nr)/snapshots/$C/model.safetensors" "$ST" &&
	grep -q "^GET /norange/cdn/$SHA 200 $SIZE bytes=300000-$" "$HUB_LOG"
'

test_expect_code 65 'a resumed file is hashed from its start: a bad prefix is caught' '
	mkdir -p "$(repo pre)/blobs" && head -c 300000 /dev/zero >"$(repo pre)/blobs/$SHA.incomplete" &&
	exo-fetch --cache "$TMP/pre" llama/tiny >/dev/null 2>"$TMP/err"; rc=$?
	grep -q "sha256 mismatch" "$TMP/err" && ! test -e "$(repo pre)/blobs/$SHA.incomplete" && exit $rc
'

test_expect_success 'a 500 from the CDN, then success after a retry' '
	HF_ENDPOINT=$HUB_URL/flaky exo-fetch --cache "$TMP/fl" llama/tiny >/dev/null &&
	cmp "$(repo fl)/snapshots/$C/model.safetensors" "$ST" &&
	grep -q "^GET /flaky/cdn/$SHA 500 " "$HUB_LOG" && grep -q "^GET /flaky/cdn/$SHA 200 $SIZE" "$HUB_LOG"
'

test_expect_code 69 'an unreachable hub: exit 69 after the retries' '
	port=$(hub_free_port) &&
	HF_ENDPOINT=http://127.0.0.1:$port exo-fetch --retries 1 --cache "$TMP/un" llama/tiny 2>"$TMP/err" >/dev/null; rc=$?
	grep -q "http://127.0.0.1:$port/api/models/llama/tiny" "$TMP/err" && exit $rc
'

test_expect_code 65 'a file name climbing out of the snapshot: exit 65, nothing written' '
	exo-fetch --cache "$TMP/ev/a/b" evil/repo >/dev/null 2>"$TMP/err"; rc=$?
	grep -q "unsafe file name .../../../../escaped.json." "$TMP/err" &&
	! find "$TMP" -name escaped.json | grep -q . && exit $rc
'

test_expect_code 69 'a hub that accepts and never answers: timeouts, retries, exit 69' '
	python3 -c "import socket, sys, time
s = socket.socket(); s.bind((\"127.0.0.1\", 0)); s.listen(8)
print(s.getsockname()[1]); sys.stdout.flush(); time.sleep(30)" >"$TMP/port" & bh=$!
	n=0; while ! test -s "$TMP/port" && [ $n -lt 100 ]; do sleep 0.05; n=$((n + 1)); done
	HF_HUB_DOWNLOAD_TIMEOUT=1 HF_ENDPOINT=http://127.0.0.1:$(cat "$TMP/port") \
		EXO_DEBUG=3 exo-fetch --retries 1 --cache "$TMP/bh" llama/tiny >/dev/null 2>"$TMP/err"; rc=$?
	kill $bh; cat "$TMP/err"
	grep -q "retrying in" "$TMP/err" && tail -1 "$TMP/err" | grep -q "api/models/llama/tiny.*: Timeout" && exit $rc
'

if mkdir -p "$TMP/small" && mount -t tmpfs -o size=600k tmpfs "$TMP/small" 2>/dev/null; then
	trap 'umount "$TMP/small" 2>/dev/null; hub_stop; rm -rf "$TMP"' EXIT
	test_expect_code 74 'disk full: exit 74 naming the file, nothing half-written left' '
		exo-fetch --cache "$TMP/small" llama/tiny >/dev/null 2>"$TMP/err"; rc=$?
		cat "$TMP/err"; grep -q "$SHA.incomplete: write: disk full" "$TMP/err" &&
		! test -e "$(repo small)/blobs/$SHA.incomplete" &&
		! test -e "$(repo small)/snapshots/$C/model.safetensors" && exit $rc
	'
	umount "$TMP/small"
else
	test_skip "disk full: cannot mount a tmpfs here"
fi
test_done
