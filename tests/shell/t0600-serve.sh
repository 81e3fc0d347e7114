#!/bin/sh
# exo-shard-serve on loopback: the fixture models over 1, 2 and 3 stages,
# real processes and real TCP, checked with `exo-validate model --connect`
# against transformers' reference (logits of every prompt position, every
# decode step, greedy tokens); sampled tokens equal to the single-process
# engine's; stages started from a plan with --stage and with --all.
. tests/lib.sh
M=$EXO_SHARED/fixtures/models
CLIENT=$EXO_BUILD/tools/pipeline_client
# Stages are started inside tests' subshells: their ids go to a file.
trap 'stop_all; rm -rf "$TMP"' EXIT
export EXO_CONFIG=/dev/null EXO_DEBUG=3

base=$((10000 + $(od -An -N2 -tu2 /dev/urandom) % 22000))  # below the ephemeral range
port() { echo $((base + $1)); }

# start NAME ARGS...: a stage in the background, logging to $TMP/NAME.log.
start() {
	name=$1
	shift
	exo-shard-serve --threads 1 "$@" 2>"$TMP/$name.log" &
	echo $! >>"$TMP/pids"
	wait_for "$TMP/$name.log" " on 127.0.0.1:"
}


levels() { sed -n 's/.*"level":"\([a-z]*\)".*/\1/p' | tr '\n' ' '; }

# split L S: the layer ranges of S stages over L layers, "a:b a:b ...".
split() {
	awk -v L=$1 -v S=$2 'BEGIN { for (i = 0; i < S; i++) printf "%d:%d ", int(i * L / S + 0.5), int((i + 1) * L / S + 0.5) }'
}

# chain MODEL STAGES OFFSET: start the stages on ports base+OFFSET...
chain() {
	n=0
	set -- $1 $2 $3 $(split $(sed -n 's/.*"num_hidden_layers": *\([0-9]*\).*/\1/p' $M/$1/config.json) $2)
	model=$1 count=$2 off=$3
	shift 3
	for r in "$@"; do
		next=
		[ $((n + 1)) -lt $count ] && next="--next 127.0.0.1:$(port $((off + n + 1)))"
		start $model.$count.$n --model $M/$model --layers $r --stage $n \
			--listen 127.0.0.1:$(port $((off + n))) $next || return 1
		n=$((n + 1))
	done
}

off=0
for model in llama3-tiny qwen2-tiny mistral-tiny; do
	for stages in 1 2 3; do
		test_expect_success "$model over $stages stage(s) matches transformers through the wire" "
			chain $model $stages $off &&
			exo-validate model $M/$model --reference $M/$model/reference \
				--connect 127.0.0.1:$(port $off) -o json >$TMP/v.$model.$stages &&
			test \"\$(levels <$TMP/v.$model.$stages)\" = 'ok ok ok ok ok ok ok ' &&
			grep -q 'all 16 greedy tokens match' $TMP/v.$model.$stages &&
			grep -q 'skipped' $TMP/v.$model.$stages
		"
		test_expect_success "$model over $stages stage(s): sampled tokens of the single-process engine" "
			L=\$(sed -n 's/.*\"num_hidden_layers\": *\([0-9]*\).*/\1/p' $M/$model/config.json) &&
			$CLIENT --model $M/$model --local \$L --tokens 12 --seed 7 --temperature 0.9 >$TMP/local &&
			$CLIENT --model $M/$model --next 127.0.0.1:$(port $off) --tokens 12 --seed 7 --temperature 0.9 >$TMP/remote &&
			test \$(wc -w <$TMP/local) -eq 12 && cmp $TMP/local $TMP/remote
		"
		if [ $stages = 2 ] && [ $model = llama3-tiny ]; then
			test_expect_success "a head computing layers 0..1 in process, 2..3 on stage 1: the same tokens" "
				$CLIENT --model $M/$model --local 2 --next 127.0.0.1:$(port $((off + 1))) --tokens 12 \
					--seed 7 --temperature 0.9 >$TMP/head2 && cmp $TMP/local $TMP/head2
			"
			test_expect_code 78 "a head whose range does not meet the stage's is refused, naming both" "
				$CLIENT --model $M/$model --local 1 --next 127.0.0.1:$(port $((off + 1))) 2>$TMP/err; rc=\$?; cat $TMP/err >&2
				grep -q 'stage 1 serves layers 2..3 of llama3-tiny@[0-9a-f]*; the peer.s range ends at 0' $TMP/err && exit \$rc
			"
		fi
		stop_all
		off=$((off + 4))
	done
done

test_expect_success "--handover bf16 between stages: half the bytes, the same greedy tokens" "
	start h1 --model $M/llama3-tiny --layers 2:4 --stage 1 --listen 127.0.0.1:$(port 45) &&
	start h0 --model $M/llama3-tiny --layers 0:2 --stage 0 --listen 127.0.0.1:$(port 44) \
		--next 127.0.0.1:$(port 45) --handover bf16 &&
	exo-validate model $M/llama3-tiny --reference $M/llama3-tiny/reference \
		--connect 127.0.0.1:$(port 44) -o json >$TMP/vh;
	grep -q 'all 16 greedy tokens match' $TMP/vh && stop_all &&
	in=\$(sed -n 's/.*stage 1: .* closed after [0-9]* frames: \([0-9]*\) bytes in.*/\1/p' $TMP/h1.log | sort -n | tail -1) &&
	test \$in -gt 0 && echo \$in >$TMP/bf16.bytes &&
	start f1 --model $M/llama3-tiny --layers 2:4 --stage 1 --listen 127.0.0.1:$(port 45) &&
	start f0 --model $M/llama3-tiny --layers 0:2 --stage 0 --listen 127.0.0.1:$(port 44) --next 127.0.0.1:$(port 45) &&
	exo-validate model $M/llama3-tiny --reference $M/llama3-tiny/reference \
		--connect 127.0.0.1:$(port 44) -o json >$TMP/vf && stop_all &&
	f32=\$(sed -n 's/.*stage 1: .* closed after [0-9]* frames: \([0-9]*\) bytes in.*/\1/p' $TMP/f1.log | sort -n | tail -1) &&
	echo \"bf16 \$in f32 \$f32\" && test \$((in * 3)) -lt \$((f32 * 2))
"
stop_all

# A plan written by hand (JSON): llama3-tiny over 3 stages on this node.
cat >$TMP/plan.json <<EOF
{"kind": "plan", "v": 1, "model": "llama3-tiny", "path": "$M/llama3-tiny", "strategy": "manual",
 "layers": 4, "context": 128, "sessions": 8, "dtype": "f32", "revision": "ignored-with-path", "stages": [
 {"index": 0, "node": "testnode", "layer_start": 0, "layer_end": 2, "address": "127.0.0.1:$(port 40)"},
 {"index": 1, "node": "testnode", "layer_start": 2, "layer_end": 3, "address": "127.0.0.1:$(port 41)"},
 {"index": 2, "node": "othernode", "layer_start": 3, "layer_end": 4, "address": "127.0.0.1:$(port 42)"}]}
EOF

test_expect_success "--plan --stage N starts each stage of a plan" "
	start p2 --plan $TMP/plan.json --stage 2 && start p1 --plan $TMP/plan.json --stage 1 &&
	start p0 --plan $TMP/plan.json --stage 0 &&
	grep -q 'layers 2..2 of llama3-tiny@' $TMP/p1.log &&
	exo-validate model $M/llama3-tiny --reference $M/llama3-tiny/reference \
		--connect 127.0.0.1:$(port 40) -o json >$TMP/vp &&
	test \"\$(levels <$TMP/vp)\" = 'ok ok ok ok ok ok ok '
"
stop_all

test_expect_success "--all starts the stages placed on this node; SIGTERM stops them, exit 0" "
	start p2 --plan $TMP/plan.json --stage 2 &&
	exo-shard-serve --threads 1 --plan $TMP/plan.json --all --node testnode 2>$TMP/all.log &
	allpid=\$! && echo \$allpid >>$TMP/pids &&
	wait_for $TMP/all.log 'stage 0: layers' && wait_for $TMP/all.log 'stage 1: layers' &&
	! grep -q 'stage 2: layers' $TMP/all.log &&
	$CLIENT --model $M/llama3-tiny --next 127.0.0.1:$(port 40) --tokens 4 >$TMP/all.out &&
	test \$(wc -w <$TMP/all.out) -eq 4 &&
	kill -TERM \$allpid && wait \$allpid &&
	grep -q 'stage 0: stopped' $TMP/all.log && grep -q 'stage 1: stopped' $TMP/all.log
"
stop_all

# Three node records made on one machine (exo-detect --name): no stage is on
# this host's name, but their addresses are this host's, loopback included;
# a stage at an address of another machine is not started.
cat >$TMP/local.json <<EOF
{"kind": "plan", "v": 1, "model": "llama3-tiny", "path": "$M/llama3-tiny", "strategy": "manual",
 "layers": 4, "context": 128, "sessions": 8, "dtype": "f32", "stages": [
 {"index": 0, "node": "n0", "layer_start": 0, "layer_end": 2, "address": "127.0.0.1:$(port 46)"},
 {"index": 1, "node": "n1", "layer_start": 2, "layer_end": 3, "address": "localhost:$(port 47)"},
 {"index": 2, "node": "n2", "layer_start": 3, "layer_end": 4, "address": "198.51.100.1:$(port 48)"}]}
EOF
test_expect_success "--all starts the stages whose addresses are this host's, and says which" "
	exo-shard-serve --threads 1 --plan $TMP/local.json --all 2>$TMP/local.log &
	allpid=\$! && echo \$allpid >>$TMP/pids &&
	wait_for $TMP/local.log 'stage 0: layers' && wait_for $TMP/local.log 'stage 1: layers' &&
	grep -q -- '--all: started stage 0 (node n0, layers 0..1) on 127.0.0.1:$(port 46)' $TMP/local.log &&
	grep -q -- '--all: started stage 1 (node n1, layers 2..2) on localhost:$(port 47)' $TMP/local.log &&
	! grep -q 'started stage 2' $TMP/local.log &&
	kill -TERM \$allpid && wait \$allpid
"
stop_all
sed "s/127.0.0.1:/198.51.100.2:/; s/localhost:/198.51.100.3:/" $TMP/local.json >$TMP/remote.json
test_expect_code 64 "--all with no stage at an address of this host says so" "
	exo-shard-serve --plan $TMP/remote.json --all 2>$TMP/err; rc=\$?; cat $TMP/err >&2
	grep -q 'no stage of the plan has an address of this host' $TMP/err && exit \$rc
"

test_expect_code 69 "exo-validate --connect to nothing fails naming the address" "
	exo-validate model $M/llama3-tiny --reference $M/llama3-tiny/reference \
		--connect 127.0.0.1:$(port 49) -o json 2>$TMP/err; rc=\$?; cat $TMP/err >&2
	grep -q 'stage 0 (127.0.0.1:$(port 49))' $TMP/err && exit \$rc
"
test_expect_code 64 "--plan without --stage or --all is a usage error" "
	exo-shard-serve --plan $TMP/plan.json
"
test_expect_code 64 "--all with no stage on the node says so" "
	exo-shard-serve --plan $TMP/plan.json --all --node nowhere 2>$TMP/err; cat $TMP/err >&2
	grep -q 'no stage of the plan is placed on node nowhere' $TMP/err && exit 64
"
test_expect_code 65 "a plan whose ranges leave a gap is refused naming the stages" "
	sed 's/\"layer_start\": 2/\"layer_start\": 1/' $TMP/plan.json >$TMP/gap.json &&
	exo-shard-serve --plan $TMP/gap.json --stage 0 2>$TMP/err; rc=\$?; cat $TMP/err >&2
	grep -q 'stage 1 starts at layer 1, not where stage 0 ends (2)' $TMP/err && exit \$rc
"
test_expect_code 64 "a stage that does not end the model needs --next" "
	exo-shard-serve --model $M/llama3-tiny --layers 0:2 --listen 127.0.0.1:$(port 50) 2>$TMP/err; rc=\$?
	grep -q 'need.* a next stage' $TMP/err && exit \$rc
"
test_expect_success "no sanitizer report in any stage's log" "
	! grep -l 'Sanitizer\\|runtime error' $TMP/*.log
"
test_done
