#!/bin/sh
# GGUF checkpoints (tests/fixtures-gguf: the model fixtures written by
# llama.cpp's gguf writer) against transformers' reference outputs of the
# same weights: whole, split into 3 stages in one process, and over TCP
# through exo-shard-serve; planned by exo-partition; refusals by name.
. tests/lib.sh
G=tests/fixtures-gguf
M=$EXO_SHARED/fixtures/models
trap 'stop_all; rm -rf "$TMP"' EXIT
export EXO_CONFIG=/dev/null

levels() { sed -n 's/.*"level":"\([a-z]*\)".*/\1/p' | tr '\n' ' '; }

# the MoE files add one check: every position chose the reference's experts
for model in llama3-tiny qwen2-tiny mistral-tiny-f16 qwen3-tiny qwen3-moe-tiny mixtral-tiny; do
	want='ok ok ok ok ok ok ok '
	case $model in *moe*|mixtral*) want="${want}ok " ;; esac
	for stages in 1 3; do
		test_expect_success "$model.gguf in $stages stage(s) matches transformers on the same weights" "
			exo-validate model $G/$model.gguf --reference $M/$model/reference --stages $stages -o json >$TMP/$model.$stages &&
			test \"\$(levels <$TMP/$model.$stages)\" = '$want' &&
			grep -q '\"all 16 greedy tokens match\"' $TMP/$model.$stages
		"
	done
done
test_expect_success "qwen3-moe-tiny.gguf loads as Qwen3-MoE (layer 1, without a router, dense) and routes as the reference" "
	grep -q 'positions x sparse layers chose the reference' $TMP/qwen3-moe-tiny.3 &&
	grep '\"model.load\"' $TMP/qwen3-moe-tiny.3 | grep -q Qwen3MoeForCausalLM
"

base=$((10000 + $(od -An -N2 -tu2 /dev/urandom) % 22000))
for model in llama3-tiny:4 qwen3-moe-tiny:3; do
	layers=${model#*:} model=${model%:*} base=$((base + 2))
	test_expect_success "$model.gguf over 2 stages on loopback matches transformers through the wire" "
		exo-shard-serve --model $G/$model.gguf --layers 2:$layers --stage 1 --listen 127.0.0.1:$((base + 1)) \
			--threads 1 2>$TMP/s1.log & echo \$! >>$TMP/pids
		exo-shard-serve --model $G/$model.gguf --layers 0:2 --stage 0 --listen 127.0.0.1:$base \
			--next 127.0.0.1:$((base + 1)) --threads 1 2>$TMP/s0.log & echo \$! >>$TMP/pids
		wait_for $TMP/s1.log ' on 127.0.0.1:' && wait_for $TMP/s0.log ' on 127.0.0.1:' &&
		exo-validate model $G/$model.gguf --reference $M/$model/reference \
			--connect 127.0.0.1:$base -o json >$TMP/wire.$model &&
		grep -q 'all 16 greedy tokens match' $TMP/wire.$model && ! grep -q '\"fail\"' $TMP/wire.$model
	"
	stop_all
done

test_expect_success "exo-partition plans a GGUF file from its tensor infos" "
	exo-detect -o json >$TMP/node.json &&
	exo-partition --model $G/qwen2-tiny.gguf -o json <$TMP/node.json >$TMP/plan.json &&
	grep -q '\"layers\":3' $TMP/plan.json && grep -q '\"dtype\":\"f32\"' $TMP/plan.json
"

test_expect_success "ORG/NAME in the HF cache whose snapshot holds one .gguf (exo-fetch --include '*.gguf'): that file" "
	snap=$TMP/hub/models--acme--tiny-GGUF/snapshots/0123456789abcdef0123456789abcdef01234567 &&
	mkdir -p \$snap $TMP/hub/models--acme--tiny-GGUF/refs &&
	echo 0123456789abcdef0123456789abcdef01234567 >$TMP/hub/models--acme--tiny-GGUF/refs/main &&
	cp $G/qwen2-tiny.gguf \$snap/tiny-Q8_0.gguf &&
	HF_HUB_CACHE=$TMP/hub exo-validate model acme/tiny-GGUF --reference $M/qwen2-tiny/reference -o json >$TMP/hub.out &&
	grep -q 'all 16 greedy tokens match' $TMP/hub.out
"

# a copy with the architecture renamed (qwen2 -> gemma everywhere): refused by name
test_expect_code 65 "an unknown GGUF architecture is one line naming it" "
	python3 - $G/qwen2-tiny.gguf $TMP/q9.gguf <<'PY'
import sys
b = open(sys.argv[1], 'rb').read().replace(b'qwen2', b'gemma')
open(sys.argv[2], 'wb').write(b)
PY
	exo-validate model $TMP/q9.gguf -o text 2>&1 >$TMP/q9.out; rc=\$?; cat $TMP/q9.out
	grep -q \"GGUF architecture 'gemma' is not supported\" $TMP/q9.out || exit 1
	exo-shard-serve --model $TMP/q9.gguf --layers 0:3 --listen 127.0.0.1:$((base + 5)) 2>$TMP/q9.err; rc=\$?
	test \$(wc -l <$TMP/q9.err) -eq 1 && grep -q \"q9.gguf: GGUF architecture 'gemma' is not supported\" $TMP/q9.err && exit \$rc
"
test_done
