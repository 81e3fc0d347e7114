#!/bin/sh
# exo-fetch --list and --gc --max-size: least recently used revisions go
# first, --dry-run only says so, and a revision whose blobs a process has
# open or mapped (a running stage) is never evicted.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../hub/lib-hub.sh"
hub_require
HOME=$TMP
: >"$TMP/defaults.yaml"
export HOME EXO_CONFIG=$TMP/defaults.yaml
M=$EXO_SHARED/fixtures/models
hub_start llama/tiny=$M/llama3-tiny qwen/tiny=$M/qwen2-tiny m/tiny=$M/mistral-tiny-f16 ||
	{ echo "Bail out! nginx did not start"; exit 1; }
for r in llama/tiny qwen/tiny m/tiny; do exo-fetch -q "$r" >/dev/null || exit 1; done
touch -d 2020-01-01 "$TMP"/cache/models--llama--tiny/blobs/*
touch -d 2021-01-01 "$TMP"/cache/models--qwen--tiny/blobs/*
touch -d 2022-01-01 "$TMP"/cache/models--m--tiny/blobs/*
LL=$(hub_commit llama/tiny) QW=$(hub_commit qwen/tiny) MI=$(hub_commit m/tiny)
snap() { echo "$TMP/cache/models--$1--tiny/snapshots/$2"; }

test_expect_success '--list: every revision with its refs, size and last use, oldest first' '
	exo-fetch --list >"$TMP/list" && cat "$TMP/list" &&
	test "$(sed -n 2p "$TMP/list" | cut -c1-10)" = "llama/tiny" &&
	test "$(sed -n 4p "$TMP/list" | cut -c1-6)" = "m/tiny" &&
	grep -q "^qwen/tiny  *$(echo $QW | cut -c1-12) main .*2021-01-01" "$TMP/list"
'

test_expect_success '--gc --dry-run says what it would evict and changes nothing' '
	exo-fetch --gc --max-size 1200K --dry-run >"$TMP/dry" && cat "$TMP/dry" &&
	test "$(cat "$TMP/dry")" = "would evict llama/tiny $LL 935.1 KiB" &&
	test -e "$(snap llama "$LL")/model.safetensors"
'

test_expect_success '--gc keeps a revision in use and evicts the next least recently used' '
	sleep 30 3<"$(snap llama "$LL")/model.safetensors" & holder=$!
	sleep 0.2; exo-fetch --list | grep -q "^llama/tiny .* yes$" &&
	exo-fetch --gc --max-size 1200K >"$TMP/gc"; rc=$?; kill $holder; cat "$TMP/gc"; test $rc -eq 0 &&
	grep -q "^evicted qwen/tiny $QW" "$TMP/gc" && grep -q "^evicted m/tiny $MI" "$TMP/gc" &&
	! grep -q llama "$TMP/gc" &&
	cmp "$(snap llama "$LL")/model.safetensors" "$M/llama3-tiny/model.safetensors" &&
	! test -e "$(snap qwen "$QW")" && ! test -e "$TMP/cache/models--qwen--tiny/refs/main" &&
	! test -e "$TMP/cache/models--qwen--tiny/trees/$QW.json" && test -e "$TMP/cache/models--llama--tiny/trees/$LL.json" &&
	test -z "$(ls "$TMP/cache/models--qwen--tiny/blobs")"
'

test_expect_success 'after gc the evicted model downloads again' '
	exo-fetch -q qwen/tiny >/dev/null && cmp "$(snap qwen "$QW")/model.safetensors" "$M/qwen2-tiny/model.safetensors"
'

test_expect_code 64 '--gc without a size: exit 64' '
	exo-fetch --gc 2>/dev/null
'
test_done
