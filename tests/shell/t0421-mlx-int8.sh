#!/bin/sh
# MLX checkpoints through kernels that round the activations to int8 (the
# AVX-512 VNNI variant's packed MLX layout, issue 18): exo-validate reports
# their error against mlx-lm's float32 outputs instead of holding it to the
# f32 bound, still holds the greedy tokens, and EXO_KERNELS=ref holds both;
# --test-component cpu checks those kernels against the scalar form of
# what they compute.  Skipped where the kernels picked here do not round.
. tests/lib.sh
F=$EXO_SHARED/fixtures/mlx
M=mlx-llama-4bit
export EXO_CONFIG=/dev/null

exo-validate --test-component cpu -o json >$TMP/cpu 2>&1
if ! grep -q 'packed MLX4_G64_BF16' $TMP/cpu; then
	test_skip "the kernels of this CPU keep MLX activations in f32 (no AVX-512 VNNI)"
	test_done
	exit 0
fi

test_expect_success "--test-component cpu holds the packed MLX kernels and reports their rounding" "
	grep -q '\"level\":\"ok\"' $TMP/cpu &&
	grep -q 'packed MLX4_G64_BF16 0\.[0-9]* (int8 activations: 0\.[0-9]*% RMS off the f32 reference)' $TMP/cpu &&
	grep -q 'packed MLX3_G64_BF16' $TMP/cpu && grep -q 'packed MLX8_G64_BF16' $TMP/cpu
"
test_expect_success "the rounding kernels' error is reported, named, and the greedy tokens still match" "
	exo-validate model $F/$M --reference $F/$M/reference -o json >$TMP/fast &&
	grep '\"code\":\"reference.decode_logits\"' $TMP/fast | grep '\"level\":\"ok\"' |
		grep -q 'round activations to int8 for MLX weights: reported, not held' &&
	grep '\"code\":\"reference.decode_logits\"' $TMP/fast | grep -qv '\"max_abs\":0[,}]' &&
	grep -q '\"all 16 greedy tokens match\"' $TMP/fast
"
test_expect_success "EXO_KERNELS=ref is held to the f32 bound" "
	EXO_KERNELS=ref exo-validate model $F/$M --reference $F/$M/reference -o json >$TMP/ref &&
	grep '\"code\":\"reference.decode_logits\"' $TMP/ref | grep -q 'beyond 0.001 + 0.0001' &&
	! grep -q 'int8' $TMP/ref
"
test_done
