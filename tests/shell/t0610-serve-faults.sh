#!/bin/sh
# exo-shard-serve faults, with real processes on loopback: a middle stage
# killed and restarted in the middle of a generation (same tokens as an
# uninterrupted run), a dead next stage (a prompt error naming it), SIGTERM
# (exit 0), session eviction (--max-sessions) and re-sends, hello mismatches.
. tests/lib.sh
M=$EXO_SHARED/fixtures/models
CLIENT=$EXO_BUILD/tools/pipeline_client
trap 'stop_all; rm -rf "$TMP"' EXIT
export EXO_CONFIG=/dev/null EXO_DEBUG=3

base=$((10000 + $(od -An -N2 -tu2 /dev/urandom) % 22000))  # below the ephemeral range
port() { echo $((base + $1)); }
A0=127.0.0.1:$(port 0) A1=127.0.0.1:$(port 1) A2=127.0.0.1:$(port 2)

start() { # NAME ARGS...: a stage in the background, logging to $TMP/NAME.log
	name=$1
	shift
	exo-shard-serve --threads 1 "$@" 2>"$TMP/$name.log" &
	echo "$! $name" >>"$TMP/pids"
	wait_for "$TMP/$name.log" " on 127.0.0.1:"
}

pid_of() { awk -v n="$1" '$2 == n { p = $1 } END { print p }' "$TMP/pids"; }


L=$M/llama3-tiny
chain3() {
	start s2 --model $L --layers 3:4 --stage 2 --listen $A2 "$@" &&
	start s1 --model $L --layers 2:3 --stage 1 --listen $A1 --next $A2 "$@" &&
	start s0 --model $L --layers 0:2 --stage 0 --listen $A0 --next $A1 "$@"
}

test_expect_success "a middle stage killed and restarted mid-generation: the same tokens" "
	chain3 &&
	$CLIENT --model $L --next $A0 --tokens 16 --seed 11 --temperature 0.9 >$TMP/ref &&
	test \$(wc -w <$TMP/ref) -eq 16 &&
: >$TMP/got &&
	{ $CLIENT --model $L --next $A0 --tokens 16 --seed 11 --temperature 0.9 --pause-ms 100 --stats \
		>>$TMP/got 2>$TMP/got.err & } && client=\$! &&
	while [ \$(wc -w <$TMP/got) -lt 5 ]; do sleep 0.02; done &&
	kill -9 \$(pid_of s1) && sleep 0.3 &&
	start s1 --model $L --layers 2:3 --stage 1 --listen $A1 --next $A2 &&
	wait \$client && cat $TMP/got.err &&
	cmp $TMP/ref $TMP/got &&
	grep -q 'session_unknown\\|holds 0 positions' $TMP/got.err &&
	grep -q ' [1-9][0-9]* re-sends' $TMP/got.err
"

test_expect_success "a long prompt sent in chunks of 3 positions: the same tokens" "
	P='5 9 13 200 7 7 1 0 44 3 90 12 6' &&
	$CLIENT --model $L --local 4 --prompt \"\$P\" --tokens 8 --seed 4 --temperature 0.9 >$TMP/c.ref &&
	$CLIENT --model $L --next $A0 --prompt \"\$P\" --chunk 3 --tokens 8 --seed 4 --temperature 0.9 >$TMP/c.got &&
	$CLIENT --model $L --local 2 --next $A1 --prompt \"\$P\" --chunk 3 --tokens 8 --seed 4 --temperature 0.9 >$TMP/c.got2 &&
	cmp $TMP/c.ref $TMP/c.got && cmp $TMP/c.ref $TMP/c.got2
"

test_expect_success "three generations in flight at once on one chain: each gives its own tokens" "
	for k in 1 2 3; do
		$CLIENT --model $L --local 4 --prompt \"\$k 50 60\" --tokens 10 --seed \$k --temperature 0.9 >$TMP/p\$k.ref || exit 1
	done &&
	for k in 1 2 3; do
		$CLIENT --model $L --next $A0 --prompt \"\$k 50 60\" --tokens 10 --seed \$k --temperature 0.9 \
			--pause-ms 10 >$TMP/p\$k.got &
	done && wait &&
	cmp $TMP/p1.ref $TMP/p1.got && cmp $TMP/p2.ref $TMP/p2.got && cmp $TMP/p3.ref $TMP/p3.got &&
	test \$(grep -c '(stage) connected' $TMP/s2.log) -ge 3
"

test_expect_code 69 "a dead last stage: a prompt error naming it" "
	kill \$(pid_of s2); while kill -0 \$(pid_of s2) 2>/dev/null; do sleep 0.05; done
	$CLIENT --model $L --next $A0 --tokens 4 --retry-ms 300 2>$TMP/err; rc=\$?; cat $TMP/err >&2
	grep -q \"pipeline_client: stage 2 ($A2): .*refused\" $TMP/err && exit \$rc
"

test_expect_success "the stage comes back: the next request reconnects" "
	start s2 --model $L --layers 3:4 --stage 2 --listen $A2 &&
	$CLIENT --model $L --next $A0 --tokens 16 --seed 11 --temperature 0.9 >$TMP/again &&
	cmp $TMP/ref $TMP/again
"

test_expect_success "SIGTERM: the stage stops accepting, exits 0 and says so" "
	kill -TERM \$(pid_of s0) && wait \$(pid_of s0) 2>/dev/null; status=\$? &&
	{ test \$status -eq 0 || test \$status -eq 127; } &&
	while kill -0 \$(pid_of s0) 2>/dev/null; do sleep 0.05; done &&
	grep -q 'stage 0: stopped' $TMP/s0.log
"
stop_all

test_expect_success "SIGTERM exit status is 0 (waited for directly)" "
	exo-shard-serve --threads 1 --model $L --listen $A0 2>$TMP/t.log & p=\$! &&
	wait_for $TMP/t.log ' on 127.0.0.1:' && $CLIENT --model $L --next $A0 --tokens 2 >/dev/null &&
	kill -TERM \$p && wait \$p
"

test_expect_success "--max-sessions 1: two interleaved generations evict each other and re-send" "
	chain3 --max-sessions 1 &&
	$CLIENT --model $L --next $A0 --tokens 10 --seed 1 --temperature 0.9 >$TMP/a.ref &&
	$CLIENT --model $L --next $A0 --tokens 10 --seed 2 --temperature 0.9 --prompt '9 8 7' >$TMP/b.ref &&
	{ $CLIENT --model $L --next $A0 --tokens 10 --seed 1 --temperature 0.9 --pause-ms 100 --stats >$TMP/a 2>$TMP/a.err & } &&
	pa=\$! &&
	$CLIENT --model $L --next $A0 --tokens 10 --seed 2 --temperature 0.9 --prompt '9 8 7' --pause-ms 100 --stats >$TMP/b 2>$TMP/b.err &&
	wait \$pa && cmp $TMP/a.ref $TMP/a && cmp $TMP/b.ref $TMP/b &&
	cat $TMP/a.err $TMP/b.err | grep -q ' [1-9][0-9]* re-sends' &&
	grep -q 'evicted session' $TMP/s0.log
"
stop_all

test_expect_code 65 "a prompt over the chain's context (--ctx 8 on the last stage) is refused" "
	start c1 --model $L --layers 2:4 --stage 1 --listen $A1 --ctx 8 &&
	start c0 --model $L --layers 0:2 --stage 0 --listen $A0 --next $A1 &&
	$CLIENT --model $L --next $A0 --tokens 4 --prompt '1 2 3 4 5 6' >$TMP/ctx.out &&
	test \$(wc -w <$TMP/ctx.out) -eq 2 &&
	$CLIENT --model $L --next $A0 --prompt '1 2 3 4 5 6 7 8 9' 2>$TMP/err; rc=\$?; cat $TMP/err >&2
	grep -q 'prompt of 9 tokens exceeds the context of 8' $TMP/err && exit \$rc
"
stop_all

Q=$M/qwen2-tiny
test_expect_success "a next stage serving another model is refused, naming both" "
	start q1 --model $Q --layers 2:3 --stage 1 --listen $A1 &&
	start m0 --model $L --layers 0:2 --stage 0 --listen $A0 --next $A1 &&
	! $CLIENT --model $L --next $A0 --tokens 2 --retry-ms 300 2>$TMP/err &&
	grep -q 'stage 1 serves layers 2..2 of qwen2-tiny@[0-9a-f]*; the peer serves llama3-tiny@' $TMP/err &&
	grep -q 'refused 127.0.0.1:[0-9]*: stage 1 serves layers 2..2 of qwen2-tiny' $TMP/q1.log
"
stop_all

test_expect_success "a next stage whose range does not follow is refused, naming both" "
	start l1 --model $L --layers 3:4 --stage 1 --listen $A1 &&
	start m0 --model $L --layers 0:2 --stage 0 --listen $A0 --next $A1 &&
	! $CLIENT --model $L --next $A0 --tokens 2 --retry-ms 300 2>$TMP/err &&
	grep -q 'stage 1 serves layers 3..3 of llama3-tiny@[0-9a-f]*; the peer.s range ends at 1' $TMP/err
"
stop_all

test_expect_success "a copy of the model with other weights has another revision: refused" "
	mkdir $TMP/llama3-tiny && cp $L/config.json $TMP/llama3-tiny/ &&
	python3 -c \"
import struct, sys
d = open('$L/model.safetensors', 'rb').read()
n = struct.unpack('<Q', d[:8])[0]
h = d[8:8 + n].replace(b'\\\"F32\\\"', b'\\\"F32\\\" ', 1)
open('$TMP/llama3-tiny/model.safetensors', 'wb').write(struct.pack('<Q', len(h)) + h + d[8 + n:])
\" &&
	start r1 --model $TMP/llama3-tiny --layers 2:4 --stage 1 --listen $A1 &&
	! $CLIENT --model $L --local 2 --next $A1 --tokens 2 2>$TMP/err &&
	grep -q 'of llama3-tiny@[0-9a-f]*; the peer serves llama3-tiny@' $TMP/err
"
stop_all
test_expect_success "no sanitizer report in any stage's log" "
	! grep -l 'Sanitizer\\|runtime error' $TMP/*.log
"
test_done
