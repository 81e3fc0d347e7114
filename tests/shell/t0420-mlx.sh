#!/bin/sh
# MLX quantized checkpoints (mlx-lm's `convert -q`: U32 packed weights with
# scales and biases) against what mlx-lm computed from them in float32:
# every fixture whole and split into 2 and 3 stages, with the reference
# kernels, in panels, and over TCP through exo-shard-serve.  A fixture whose
# architecture this build does not run yet is skipped, naming it.
. tests/lib.sh
F=$EXO_SHARED/fixtures/mlx
trap 'stop_all; rm -rf "$TMP"' EXIT
export EXO_CONFIG=/dev/null

levels() { sed -n 's/.*"level":"\([a-z]*\)".*/\1/p' | tr '\n' ' '; }
# matches OUT: every check ok (the load, the quantization, the memory and
# the five against the reference) and all greedy tokens equal
matches() { test "$(levels <"$1")" = 'ok ok ok ok ok ok ok ok ' && grep -q '"all 16 greedy tokens match"' "$1"; }

base=$((10000 + $(od -An -N2 -tu2 /dev/urandom) % 22000))
port() { echo $((base + $1)); }
wait_for() {
	i=0
	while ! grep -q "$2" "$1" 2>/dev/null; do
		i=$((i + 1))
		[ $i -le 200 ] || { echo "timed out waiting for '$2' in $1"; cat "$1"; return 1; }
		sleep 0.05
	done
}
start() {
	name=$1
	shift
	exo-shard-serve --threads 1 "$@" 2>"$TMP/$name.log" &
	echo $! >>"$TMP/pids"
	wait_for "$TMP/$name.log" " on 127.0.0.1:"
}
stop_all() {
	[ -f "$TMP/pids" ] || return 0
	for p in $(cat "$TMP/pids"); do kill $p 2>/dev/null; done
	for p in $(cat "$TMP/pids"); do
		while kill -0 $p 2>/dev/null; do sleep 0.05; done
	done
	rm -f "$TMP/pids"
}
# serve MODEL OFFSET RANGES...: a chain of stages on ports base+OFFSET...
serve() {
	model=$1 off=$2 n=0
	shift 2
	count=$#
	for r in "$@"; do
		next=
		[ $((n + 1)) -lt $count ] && next="--next 127.0.0.1:$(port $((off + n + 1)))"
		start $model.$n --model $F/$model --layers $r --stage $n \
			--listen 127.0.0.1:$(port $((off + n))) $next || return 1
		n=$((n + 1))
	done
}

off=0
for model in $(sed -n 's/.*"dir": "\([^"]*\)".*/\1/p' "$F/manifest.json"); do
	exo-validate model $F/$model -o json >$TMP/$model.load 2>&1
	arch=$(sed -n 's/.*"architectures": *\[ *"\([A-Za-z0-9]*\)".*/\1/p' $F/$model/config.json | head -n 1)
	[ -n "$arch" ] || arch=$(tr -d '\n ' <$F/$model/config.json | sed -n 's/.*"architectures":\["\([A-Za-z0-9]*\)".*/\1/p')
	if grep -q "architecture $arch is not supported" $TMP/$model.load; then
		test_skip "$model: architecture $arch is not supported by this build yet"
		continue
	fi
	for stages in 1 2 3; do
		test_expect_success "$model in $stages stage(s) matches mlx-lm" "
			exo-validate model $F/$model --reference $F/$model/reference --stages $stages -o json >$TMP/$model.$stages &&
			matches $TMP/$model.$stages
		"
	done
	test_expect_success "$model with the reference kernels matches mlx-lm" "
		EXO_KERNELS=ref exo-validate model $F/$model --reference $F/$model/reference -o json >$TMP/$model.ref &&
		matches $TMP/$model.ref
	"
	test_expect_success "$model in panels of 32 columns (rounded up to whole groups) matches mlx-lm" "
		EXO_PANEL_COLS=32 exo-validate model $F/$model --reference $F/$model/reference --stages 2 -o json >$TMP/$model.p32 &&
		matches $TMP/$model.p32
	"
	L=$(sed -n 's/.*"num_hidden_layers": *\([0-9]*\).*/\1/p' $F/$model/config.json)
	test_expect_success "$model over 2 stages of exo-shard-serve matches mlx-lm through the wire" "
		serve $model $off 0:1 1:$L &&
		exo-validate model $F/$model --reference $F/$model/reference \
			--connect 127.0.0.1:$(port $off) -o json >$TMP/$model.tcp &&
		matches $TMP/$model.tcp
	"
	stop_all
	off=$((off + 4))
done

test_expect_success "exo-validate model names the quantization" "
	exo-validate model $F/mlx-llama-4bit -o json >$TMP/q4 &&
	grep -q 'bits 4, group_size 64 (4.5 bits per weight' $TMP/q4 &&
	exo-validate model $F/mlx-llama-mixed-4-6 -o json >$TMP/q46 &&
	grep -q 'bits 4, group_size 64 (4.5 bits per weight.*; 3 module(s) overridden' $TMP/q46
"
test_done
