#!/bin/sh
# Quantised GGUF files against transformers' own GGUF loader (which
# dequantises them with gguf-py: ggml's layouts): tests/fixtures-gguf/
# transformers/NAME/ holds what transformers computed on NAME.gguf (written
# by tests/fixtures-gguf/make-transformers-ref.py).  With the weights widened
# to f32 at load (--dtype f32: exo's own dequantiser, then f32 products, as
# transformers computes), every logit and hidden state is within
# 1e-3 + 1e-4*|ref| and the 16 greedy tokens are the same: with the
# reference kernels and with the best ones, whole and split into stages,
# and over TCP through two exo-shard-serve stages.
. tests/lib.sh
G=tests/fixtures-gguf
R=$G/transformers
trap 'stop_all; rm -rf "$TMP"' EXIT
export EXO_CONFIG=/dev/null

levels() { sed -n 's/.*"level":"\([a-z]*\)".*/\1/p' | tr '\n' ' '; }

# name:layers; the random-k files have 2 layers, so 2 stages is their split
for k in ref best; do
	for f in random-k-Q4_K_M:2 random-k-Q5_K_M:2 random-q-Q8_0:3 random-q-Q4_0:3 random-q-Q4_1:3 \
		random-q-Q5_0:3 random-q-Q5_1:3 random-q-Q6_K:3; do
		layers=${f#*:} f=${f%:*}
		for stages in 1 $layers; do
			test_expect_success "$f.gguf in $stages stage(s), $k kernels: transformers' logits, hidden states and tokens" "
				[ $k = ref ] && export EXO_KERNELS=ref
				exo-validate model $G/$f.gguf --reference $R/$f --dtype f32 --stages $stages --threads 1 \
					-o json >$TMP/$f.$k.$stages &&
				test \"\$(levels <$TMP/$f.$k.$stages)\" = 'ok ok ok ok ok ok ok ' &&
				grep -q '\"all 16 greedy tokens match\"' $TMP/$f.$k.$stages
			"
		done
	done
done

# over TCP: two exo-shard-serve stages (reference kernels, --dtype f32) on
# loopback; the logits of the prompt and of every decode step come back
base=$((10000 + $(od -An -N2 -tu2 /dev/urandom) % 22000))
for f in random-q-Q5_1:3 random-k-Q4_K_M:2; do
	layers=${f#*:} f=${f%:*} base=$((base + 2))
	test_expect_success "$f.gguf over 2 stages on loopback, reference kernels: transformers' logits and tokens through the wire" "
		export EXO_KERNELS=ref
		exo-shard-serve --model $G/$f.gguf --layers 1:$layers --stage 1 --listen 127.0.0.1:$((base + 1)) \
			--dtype f32 --threads 1 2>$TMP/s1.log & echo \$! >>$TMP/pids
		exo-shard-serve --model $G/$f.gguf --layers 0:1 --stage 0 --listen 127.0.0.1:$base \
			--next 127.0.0.1:$((base + 1)) --dtype f32 --threads 1 2>$TMP/s0.log & echo \$! >>$TMP/pids
		wait_for $TMP/s1.log ' on 127.0.0.1:' && wait_for $TMP/s0.log ' on 127.0.0.1:' &&
		exo-validate model $G/$f.gguf --reference $R/$f --connect 127.0.0.1:$base -o json >$TMP/wire.$f &&
		cat $TMP/wire.$f && ! grep -q '\"fail\"' $TMP/wire.$f &&
		grep '\"reference.prefill_logits\"' $TMP/wire.$f | grep -q '\"level\":\"ok\"' &&
		grep '\"reference.decode_logits\"' $TMP/wire.$f | grep -q '\"level\":\"ok\"' &&
		grep -q '\"all 16 greedy tokens match\"' $TMP/wire.$f
	"
	stop_all
done

# the files hold the types they are named for (gguf-py's counts in meta.json)
test_expect_success "the random-q files are llama-quantize --pure files of their type" "
	for t in Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q6_K; do
		grep -q \"\\\"\$t\\\": [1-9]\" $R/random-q-\$t/meta.json || { echo \"no \$t tensors in random-q-\$t\"; exit 1; }
	done
"
test_done
