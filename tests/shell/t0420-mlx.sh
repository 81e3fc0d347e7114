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
start() {
	name=$1
	shift
	exo-shard-serve --threads 1 "$@" 2>"$TMP/$name.log" &
	echo $! >>"$TMP/pids"
	wait_for "$TMP/$name.log" " on 127.0.0.1:"
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
# The API needs a tokenizer, which the fixtures lack: GPT-2's stands in (the
# test reads /v1/models only).
test_expect_success "the API's /v1/models shows the quantization" "
	cp -r $F/mlx-llama-4bit $TMP/api && chmod -R u+w $TMP/api &&
	cp $EXO_SHARED/fixtures/tokenizers/gpt2/tokenizer.json $EXO_SHARED/fixtures/tokenizers/gpt2/tokenizer_config.json $TMP/api/ &&
	start api --model $TMP/api --layers 0:3 --listen 127.0.0.1:$(port 90) --api 127.0.0.1:$(port 91) &&
	wait_for $TMP/api.log 'api: listening' &&
	curl -sf http://127.0.0.1:$(port 91)/v1/models >$TMP/models &&
	grep -q '\"quantization\":{\"mode\":\"affine\",\"bits\":4,\"group_size\":64,\"bits_per_weight\":4.5}' $TMP/models
"
stop_all

# Malformed checkpoints: one line naming the file, the tensor (or the
# field) and what was expected against what was found; exo-shard-serve exits
# 65, exo-validate model reports a failed check (2), exo-partition 65.
broken() { # name: a fresh copy of mlx-llama-4bit to break
	rm -rf "$TMP/$1" && cp -r "$F/mlx-llama-4bit" "$TMP/$1" && chmod -R u+w "$TMP/$1"
}
refused() { # dir, expected text: exo-shard-serve 65 with one line, exo-validate 2 with the same
	timeout 30 exo-shard-serve --model "$1" --layers 0:3 --listen 127.0.0.1:0 2>"$TMP/err"
	rc=$?
	cat "$TMP/err"
	[ $rc -eq 65 ] && [ "$(grep -vc 'kernels:' "$TMP/err")" -eq 1 ] && grep -q -- "$2" "$TMP/err" || return 1
	exo-validate model "$1" -o json >"$TMP/out"
	rc=$?
	cat "$TMP/out"
	[ $rc -eq 2 ] && grep '"level":"fail"' "$TMP/out" | grep -q -- "$2"
}
broken packed
perl -0777 -pi -e 's/("model\.layers\.0\.mlp\.down_proj\.weight":\{[^}]*"shape":)\[128,48\]/$1\[256,24\]/' "$TMP/packed/model.safetensors"
test_expect_success "a packed width that does not match the bits names the tensor and both shapes" \
	'refused $TMP/packed "tensor model.layers.0.mlp.down_proj.weight: shape 256x24, expected 128x48 (384 columns at 4 bits packed in U32)"'
broken bits8
sed -i 's/"bits": 4/"bits": 8/' "$TMP/bits8/config.json"
test_expect_success "bits in config.json that the packed tensors do not have" \
	'refused $TMP/bits8 "tensor model.embed_tokens.weight: shape 512x16, expected 512x32 (128 columns at 8 bits packed in U32)"'
broken scales
perl -0777 -pi -e 's/("model\.layers\.0\.mlp\.down_proj\.scales":\{[^}]*"shape":)\[128,6\]/$1\[256,3\]/' "$TMP/scales/model.safetensors"
test_expect_success "a scales shape that does not divide the columns into groups names both shapes" \
	'refused $TMP/scales "tensor model.layers.0.mlp.down_proj.scales: shape 256x3, expected 128x6"'
broken g32
sed -i 's/"group_size": 64/"group_size": 32/' "$TMP/g32/config.json"
test_expect_success "a group size in config.json that the scales do not have" \
	'refused $TMP/g32 "tensor model.embed_tokens.scales: shape 512x2, expected 512x4"'
test_expect_code 65 "exo-partition --profile checks the scales against the packed width too" "
	exo-partition --model $TMP/g32 --profile -o json 2>$TMP/err; rc=\$?; cat $TMP/err >&2
	grep -q 'tensor lm_head.scales: shape 512x2, expected 512x4' $TMP/err && exit \$rc
"
broken g48
sed -i '0,/"group_size": 64/s//"group_size": 48/' "$TMP/g48/config.json"
test_expect_success "group_size 48 is refused naming the field" \
	'refused $TMP/g48 "config.json: quantization.group_size: 48 is not supported (32, 64 or 128 are)"'
broken b7
sed -i '0,/"bits": 4/s//"bits": 7/' "$TMP/b7/config.json"
test_expect_success "bits 7 is refused naming the field" \
	'refused $TMP/b7 "config.json: quantization.bits: 7 is not supported (2, 3, 4, 5, 6 or 8 are)"'
broken mxfp4
sed -i 's/"mode": "affine"/"mode": "mxfp4"/' "$TMP/mxfp4/config.json"
test_expect_success "mode mxfp4 is refused naming the mode" \
	'refused $TMP/mxfp4 "quantization mode mxfp4 is not supported (only MLX.s affine mode is)"'
test_expect_code 65 "exo-partition refuses it too" "
	exo-partition --model $TMP/mxfp4 --profile -o json 2>$TMP/err; rc=\$?; cat $TMP/err >&2
	grep -q 'quantization mode mxfp4 is not supported' $TMP/err && exit \$rc
"
test_expect_success "exo-partition profiles an MLX 4-bit checkpoint at its stored size" "
	exo-partition --model $F/mlx-llama-4bit --profile -o json >$TMP/prof &&
	grep -q '\"dtype\":\"MLX4_G64_BF16\"' $TMP/prof &&
	total=\$(sed -n 's/.*\"total_bytes\":\([0-9]*\).*/\1/p' $TMP/prof) &&
	size=\$(wc -c <$F/mlx-llama-4bit/model.safetensors) &&
	awk -v t=\$total -v s=\$size 'BEGIN { exit !(t > 0.95 * s && t < 1.05 * s) }'
"
test_done
