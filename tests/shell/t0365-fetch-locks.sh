#!/bin/sh
# exo-fetch locking: two runs at once on one repository both succeed and
# each blob is fetched once; --no-wait exits 75 at once while another run
# (or huggingface_hub, through the same flock files) holds a lock.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../hub/lib-hub.sh"
hub_require
HOME=$TMP
: >"$TMP/defaults.yaml"
export HOME EXO_CONFIG=$TMP/defaults.yaml
M=$EXO_SHARED/fixtures/models
hub_start m/tiny=$M/mistral-tiny-f16 || { echo "Bail out! nginx did not start"; exit 1; }
C=$(hub_commit m/tiny)
ST=$M/mistral-tiny-f16/model.safetensors
SHA=$(sha256sum "$ST" | cut -d" " -f1)
LOCKS=$TMP/cache/.locks/models--m--tiny
export HF_ENDPOINT=$HUB_URL/slow

# wait until some process holds the lock file $1
held() {
	n=0
	while flock -n "$1" true 2>/dev/null && [ $n -lt 100 ]; do sleep 0.05; n=$((n + 1)); done
	! flock -n "$1" true
}

test_expect_success 'two runs at once: both succeed, every blob fetched once' '
	exo-fetch -o json m/tiny >"$TMP/a.json" 2>"$TMP/a.err" & a=$!
	exo-fetch -o json m/tiny >"$TMP/b.json" 2>"$TMP/b.err" & b=$!
	wait $a && wait $b &&
	cmp "$TMP/cache/models--m--tiny/snapshots/$C/model.safetensors" "$ST" &&
	test "$(hub_requests GET "/cdn/$SHA")" -eq 1 &&
	grep -q "\"revision\":\"$C\"" "$TMP/a.json" && grep -q "\"revision\":\"$C\"" "$TMP/b.json"
'

test_expect_code 75 '--no-wait while another run holds the repository: exit 75 at once' '
	rm -rf "$TMP/cache/models--m--tiny" || exit 1
	exo-fetch -q m/tiny >/dev/null 2>&1 & a=$!
	held "$LOCKS/repo.lock" &&
	exo-fetch --no-wait m/tiny >/dev/null 2>"$TMP/err"; rc=$?
	wait $a && cat "$TMP/err" && grep -q "repo.lock: locked by another process" "$TMP/err" && exit $rc
'

test_expect_code 75 '--no-wait while another tool holds a blob lock: exit 75' '
	rm -rf "$TMP/cache/models--m--tiny" || exit 1
	flock "$LOCKS/$SHA.lock" sleep 1 & f=$!
	held "$LOCKS/$SHA.lock" &&
	exo-fetch --no-wait m/tiny >/dev/null 2>"$TMP/err"; rc=$?
	wait $f; grep -q "$SHA.lock: locked by another process" "$TMP/err" && exit $rc
'

test_expect_success 'without --no-wait a run waits for the blob lock, then completes' '
	rm -rf "$TMP/cache/models--m--tiny" || exit 1
	flock "$LOCKS/$SHA.lock" sleep 0.5 & f=$!
	held "$LOCKS/$SHA.lock" &&
	HF_ENDPOINT=$HUB_URL exo-fetch -o json m/tiny >/dev/null && wait $f &&
	cmp "$TMP/cache/models--m--tiny/snapshots/$C/model.safetensors" "$ST"
'
test_done
