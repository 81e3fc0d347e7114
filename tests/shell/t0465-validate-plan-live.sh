#!/bin/sh
# exo-validate plan --live against a running two-stage pipeline on loopback:
# each stage answers with the plan's range and the same revision; a wrong
# range in the plan, a stage that is down and a wrong key are failures
# naming the stage.
. tests/lib.sh
L=$EXO_SHARED/fixtures/models/llama3-tiny
trap 'for p in $(cat "$TMP/pids" 2>/dev/null); do kill $p 2>/dev/null; done; rm -rf "$TMP"' EXIT
export EXO_CONFIG=/dev/null EXO_DEBUG=3
base=$((10000 + $(od -An -N2 -tu2 /dev/urandom) % 22000))
A0=127.0.0.1:$base A1=127.0.0.1:$((base + 1))

start() { # LOG ARGS...: a stage in the background, up when its log says so
	log=$1
	shift
	exo-shard-serve --threads 1 "$@" 2>"$TMP/$log" &
	echo $! >>"$TMP/pids"
	i=0
	until grep -q " on 127.0.0.1:" "$TMP/$log" 2>/dev/null; do
		i=$((i + 1)); [ $i -le 200 ] || return 1; sleep 0.05
	done
}
plan() { # RANGE0 RANGE1 (a:b each)
	printf '{"kind":"plan","v":1,"model":"llama3-tiny","path":"%s","strategy":"latency","layers":4,"stages":[' "$L"
	printf '{"index":0,"node":"n","address":"%s","layer_start":%s,"layer_end":%s},' "$A0" "${1%:*}" "${1#*:}"
	printf '{"index":1,"node":"n","address":"%s","layer_start":%s,"layer_end":%s}]}\n' "$A1" "${2%:*}" "${2#*:}"
}
exo-shard-serve --gen-key "$TMP/key" && exo-shard-serve --gen-key "$TMP/other"
start s1.log --model "$L" --layers 2:4 --stage 1 --listen "$A1" --key "$TMP/key" &&
start s0.log --model "$L" --layers 0:2 --stage 0 --listen "$A0" --next "$A1" --key "$TMP/key"

test_expect_success "--live: both stages answer with the plan's ranges and one revision (warnings: no node records)" "
	plan 0:2 2:4 >$TMP/plan.json &&
	{ exo-validate plan $TMP/plan.json --live --key $TMP/key -o json >$TMP/live.out; test \$? -eq 1; } &&
	! grep -q '\"fail\"' $TMP/live.out &&
	test \$(grep -c '\"plan.live\".*\"ok\"' $TMP/live.out) -eq 2 &&
	grep -q 'stage 1 ($A1): protocol 2, layers 2..3 of llama3-tiny@[0-9a-f]*, round trip [0-9]* us' $TMP/live.out
"
test_expect_code 2 "--live: a range the stage does not serve is a failure naming both" "
	plan 0:3 3:4 >$TMP/bad.json &&
	exo-validate plan $TMP/bad.json --live --key $TMP/key -o json >$TMP/bad.out; rc=\$?;
	grep -q 'stage 0 ($A0): protocol 2, layers 0..1 .*; the plan says layers 0..2' $TMP/bad.out && exit \$rc
"
test_expect_code 2 "--live: another cluster key is refused, naming the stage" "
	exo-validate plan $TMP/plan.json --live --key $TMP/other -o json >$TMP/key.out; rc=\$?;
	grep '\"plan.live\"' $TMP/key.out | grep -q 'different cluster key' && exit \$rc
"
test_expect_code 2 "--live: a stage that is down fails promptly, naming it" "
	kill \$(tail -1 $TMP/pids) && sleep 0.3 &&
	exo-validate plan $TMP/plan.json --live --key $TMP/key -o json >$TMP/down.out; rc=\$?;
	grep -q 'stage 0 ($A0)' $TMP/down.out && grep -q 'refused' $TMP/down.out && exit \$rc
"
test_done
