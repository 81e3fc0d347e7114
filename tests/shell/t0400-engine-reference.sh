#!/bin/sh
# The engine against transformers' reference outputs: every fixture model,
# whole and split into 2 and 3 stages chained with forward frames, within the
# f32 tolerance; narrower hand-overs and weight types within their bounds.
. tests/lib.sh
M=$EXO_SHARED/fixtures/models

levels() { # json check records on stdin -> "ok ok ..." 
	sed -n 's/.*"level":"\([a-z]*\)".*/\1/p' | tr '\n' ' '
}

for model in $(sed -n 's/.*"dir": "\([^"]*\)".*/\1/p' "$M/manifest.json"); do
	for stages in 1 2 3; do
		test_expect_success "$model in $stages stage(s) matches transformers" "
			exo-validate model $M/$model --reference $M/$model/reference --stages $stages -o json >$TMP/$model.$stages &&
			test \"\$(levels <$TMP/$model.$stages)\" = 'ok ok ok ok ok ok ok ' &&
			grep -q '\"all 16 greedy tokens match\"' $TMP/$model.$stages
		"
	done
done

# The second set (manifest-next.json: Qwen3, Qwen3-MoE, Mixtral, by
# transformers 5.x): the same checks, and where reference/router.json
# exists, the experts every sparse layer chose at every position.
next_models=$(sed -n 's/.*"dir": "\([^"]*\)".*/\1/p' "$M/manifest-next.json" | tr '\n' ' ')
test_expect_success "manifest-next.json lists the four models of the second set" "
	test '$next_models' = 'qwen3-tiny qwen3-moe-tiny qwen3-moe-tiny-bf16 mixtral-tiny '
"
expected_levels() { # MODEL -> the levels of a passing run
	if [ -f "$M/$1/reference/router.json" ]; then echo 'ok ok ok ok ok ok ok ok '; else echo 'ok ok ok ok ok ok ok '; fi
}
for model in $next_models; do
	for stages in 1 2 3; do
		test_expect_success "$model in $stages stage(s) matches transformers" "
			exo-validate model $M/$model --reference $M/$model/reference --stages $stages -o json >$TMP/$model.$stages &&
			test \"\$(levels <$TMP/$model.$stages)\" = '$(expected_levels $model)' &&
			grep -q '\"all 16 greedy tokens match\"' $TMP/$model.$stages &&
			{ ! test -f $M/$model/reference/router.json ||
			  grep '\"reference.router\"' $TMP/$model.$stages | grep -q '\"level\":\"ok\"'; }
		"
	done
done
test_expect_code 2 "experts other than the reference's fail the router check, naming the first" "
	exo-validate model $M/mixtral-tiny --reference $M/qwen3-moe-tiny/reference -o json >$TMP/rwrong;
	rc=\$?; grep '\"reference.router\"' $TMP/rwrong | grep -q 'layer 0 position' || rc=0; exit \$rc
"
# Experts go through the same weight conversion as dense matrices.
for dtype in Q8_0 Q4_0; do
	test_expect_success "qwen3-moe-tiny with $dtype experts: loads converted, reported" "
		exo-validate model $M/qwen3-moe-tiny --reference $M/qwen3-moe-tiny/reference --dtype $dtype -o json >$TMP/moe.$dtype &&
		grep -q 'top-1 agrees with the f32 reference on [0-9]* of 16 rows ($dtype weights' $TMP/moe.$dtype &&
		grep '\"model.load\"' $TMP/moe.$dtype | grep -q Qwen3MoeForCausalLM
	"
done
# Over TCP: real exo-shard-serve stages on loopback, 1, 2 and 3 of them,
# checked with --connect (as t0600 does for the first set).
trap 'stop_stages; rm -rf "$TMP"' EXIT
base=$((10000 + $(od -An -N2 -tu2 /dev/urandom) % 22000))
stop_stages() {
	[ -f "$TMP/pids" ] || return 0
	for p in $(cat "$TMP/pids"); do kill $p 2>/dev/null; done
	for p in $(cat "$TMP/pids"); do while kill -0 $p 2>/dev/null; do sleep 0.05; done; done
	rm -f "$TMP/pids"
}
# serve_chain MODEL STAGES PORT: the stages listening on PORT, PORT+1, ...
serve_chain() {
	L=$(sed -n 's/.*"num_hidden_layers": *\([0-9]*\).*/\1/p' $M/$1/config.json)
	i=0
	while [ $i -lt $2 ]; do
		a=$(awk -v L=$L -v S=$2 -v i=$i 'BEGIN { printf "%d:%d", int(i * L / S + 0.5), int((i + 1) * L / S + 0.5) }')
		next=
		[ $((i + 1)) -lt $2 ] && next="--next 127.0.0.1:$(($3 + i + 1))"
		EXO_CONFIG=/dev/null exo-shard-serve --threads 1 --model $M/$1 --layers $a --stage $i \
			--listen 127.0.0.1:$(($3 + i)) $next 2>$TMP/serve.$i.log &
		echo $! >>$TMP/pids
		n=0
		until grep -q ' on 127.0.0.1:' $TMP/serve.$i.log; do
			n=$((n + 1)); [ $n -le 200 ] || { cat $TMP/serve.$i.log; return 1; }; sleep 0.05
		done
		i=$((i + 1))
	done
}
off=0
for model in $next_models; do
	for stages in 1 2 3; do
		test_expect_success "$model over $stages stage(s) on TCP matches transformers" "
			serve_chain $model $stages $((base + off)) &&
			EXO_CONFIG=/dev/null exo-validate model $M/$model --reference $M/$model/reference \
				--connect 127.0.0.1:$((base + off)) -o json >$TMP/tcp.$model.$stages &&
			test \"\$(levels <$TMP/tcp.$model.$stages)\" = 'ok ok ok ok ok ok ok ' &&
			grep -q 'all 16 greedy tokens match' $TMP/tcp.$model.$stages
		"
		stop_stages
		off=$((off + 4))
	done
done

test_expect_success "panels of 32 columns through the experts (mixtral-tiny, 2 stages)" "
	EXO_PANEL_COLS=32 exo-validate model $M/mixtral-tiny --reference $M/mixtral-tiny/reference --stages 2 -o json >$TMP/mix.p32 &&
	test \"\$(levels <$TMP/mix.p32)\" = 'ok ok ok ok ok ok ok ok '
"
# Experts stacked as mlx-lm stores them (switch_mlp, [experts, rows, cols]):
# the same model, the same numbers.
for model in qwen3-moe-tiny mixtral-tiny; do
	test_expect_success "$model with its experts stacked as mlx-lm stores them matches transformers" "
		mkdir -p $TMP/stacked.$model && cp $M/$model/config.json $TMP/stacked.$model/ &&
		python3 tests/tools/stack-experts.py $M/$model $TMP/stacked.$model &&
		grep -q switch_mlp.down_proj $TMP/stacked.$model/model.safetensors &&
		! grep -q 'experts.0' $TMP/stacked.$model/model.safetensors &&
		exo-validate model $TMP/stacked.$model --reference $M/$model/reference --stages 2 -o json >$TMP/stacked.$model.out &&
		test \"\$(levels <$TMP/stacked.$model.out)\" = 'ok ok ok ok ok ok ok ok '
	"
	test_expect_success "$model stacked: the planner sizes it as the unstacked one" "
		EXO_CONFIG=/dev/null exo-partition --model $TMP/stacked.$model --profile --dtype bf16 -o json | sed 's/.*\"dtype\"//' >$TMP/prof.s &&
		EXO_CONFIG=/dev/null exo-partition --model $M/$model --profile --dtype bf16 -o json | sed 's/.*\"dtype\"//' >$TMP/prof.u &&
		grep -q expert_bytes_per_layer $TMP/prof.s && cmp $TMP/prof.s $TMP/prof.u
	"
done
test_expect_success "mlx-lm's 4-bit Qwen3-MoE (stacked, quantized experts): profiled with its experts" "
	EXO_CONFIG=/dev/null exo-partition --model $EXO_SHARED/fixtures/mlx/mlx-qwen3-moe-4bit --profile -o json >$TMP/mlxmoe.profile &&
	grep -q '\"experts\":8,\"experts_per_token\":2,\"expert_bytes_per_layer\":110592' $TMP/mlxmoe.profile
"
# Decode runs the chosen experts' rows split over the threads in one region.
for model in qwen3-moe-tiny mixtral-tiny; do
	test_expect_success "$model decoding on 2 threads, in panels of 32 columns" "
		EXO_PANEL_COLS=32 exo-validate model $M/$model --reference $M/$model/reference --threads 2 -o json >$TMP/$model.t2 &&
		test \"\$(levels <$TMP/$model.t2)\" = 'ok ok ok ok ok ok ok ok '
	"
done

# An f16 stage boundary costs what transformers measured (meta.json), within twice that.
for model in llama3-tiny qwen2-tiny mistral-tiny; do
	test_expect_success "$model with an f16 hand-over stays within 2x transformers' own figure" "
		bound=\$(sed -n 's/.*\"stage_boundary_hidden_rounded_to_f16_logits_max_abs\": \([0-9.e-]*\).*/\1/p' $M/$model/reference/meta.json) &&
		exo-validate model $M/$model --reference $M/$model/reference --stages 2 --handover f16 -o json >$TMP/h16 &&
		got=\$(grep prefill_logits $TMP/h16 | sed 's/.*\"max_abs\":\([0-9.e-]*\).*/\1/') &&
		awk -v g=\$got -v b=\$bound 'BEGIN { exit !(g > 0 && g <= 2 * b) }' &&
		grep -q 'all 16 greedy tokens match' $TMP/h16
	"
done

# Wide matrices are stored as panels of 2048 columns (engine/matrix.c); with
# panels of 32 every matrix of the fixture models is split, and the decode
# gemv, the prefill gemm and the embedding rows go through the panel paths.
for model in llama3-tiny qwen2-tiny mistral-tiny llama3-tiny-bf16; do
	test_expect_success "$model in panels of 32 columns still matches transformers" "
		EXO_PANEL_COLS=32 exo-validate model $M/$model --reference $M/$model/reference --stages 2 -o json >$TMP/$model.p32 &&
		test \"\$(levels <$TMP/$model.p32)\" = 'ok ok ok ok ok ok ok ' &&
		grep -q '\"all 16 greedy tokens match\"' $TMP/$model.p32
	"
done
test_expect_success "Q8_0 weights in panels of 64: top-1 agreement as in one panel" "
	EXO_PANEL_COLS=64 exo-validate model $M/llama3-tiny --reference $M/llama3-tiny/reference --dtype q8_0 -o json >$TMP/q8.p64 &&
	grep -q 'top-1 agrees with the f32 reference on 1[0-7] of 17 rows (Q8_0 weights' $TMP/q8.p64 &&
	grep -q 'all 16 greedy tokens match' $TMP/q8.p64
"
test_expect_success "Q8_0 weights: error and top-1 agreement reported" "
	exo-validate model $M/llama3-tiny --reference $M/llama3-tiny/reference --dtype q8_0 -o json >$TMP/q8 &&
	grep -q 'top-1 agrees with the f32 reference on 1[0-7] of 17 rows (Q8_0 weights' $TMP/q8
"
test_expect_success "Q4_0 weights: reported, exit status 0" "
	exo-validate model $M/mistral-tiny --reference $M/mistral-tiny/reference --dtype q4_0 -o json >$TMP/q4 &&
	grep -q 'Q4_0 weights' $TMP/q4
"
# The f16-rounded weights differ from mistral-tiny's by ~11x the tolerance:
# checked against the wrong reference, the f32 bound must fail.
test_expect_code 2 "f16-rounded weights against the f32 model's reference fail the bound" "
	exo-validate model $M/mistral-tiny-f16 --reference $M/mistral-tiny/reference -o json >$TMP/wrong
"
test_expect_success "the failure names the quantity and counts values beyond the tolerance" "
	grep '\"level\":\"fail\"' $TMP/wrong | grep -q 'prefill_logits.*beyond 0.001'
"
test_expect_success "a text report on request" "
	exo-validate model $M/qwen2-tiny --reference $M/qwen2-tiny/reference -o text >$TMP/text &&
	grep -q 'greedy' $TMP/text
"
test_done
