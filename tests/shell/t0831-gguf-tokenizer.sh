#!/bin/sh
# The tokenizer exo builds from a GGUF file's tokenizer.ggml.* keys, held to
# the ids Hugging Face gives for the same vocabulary (the tokenizer fixtures'
# cases): tokenizer.json written as GGUF keys by tests/tools/tok2gguf, as
# llama.cpp's converter writes them.  Byte-level BPE with the pre-tokenizers
# gpt2 and llama-bpe (Llama 3, whole words kept), SentencePiece with scores
# and byte fallback (Mistral).
. tests/lib.sh
T=$EXO_SHARED/fixtures/tokenizers
TOK2GGUF=$EXO_BUILD/tools/tok2gguf

for case in "gpt2 gpt2" "llama3 llama-bpe" "llama3.2 llama-bpe" "mistral -"; do
	set -- $case
	test_expect_success "$1 as GGUF keys (pre $2): every case gives Hugging Face's ids" "
		$TOK2GGUF $T/$1/tokenizer.json $2 $TMP/$1.gguf &&
		exo-validate tokenizer $TMP/$1.gguf --cases $T/$1/cases.jsonl -o text >$TMP/$1.out 2>&1;
		cat $TMP/$1.out; grep -q 'cases.jsonl: \([0-9]*\) of \1 cases give exactly the expected ids' $TMP/$1.out
	"
done
# Phi-3's added tokens strip the whitespace after them (rstrip), which GGUF
# does not record: only the cases with text after <|user|> differ.
test_expect_success "phi3-mini as GGUF keys: all but the rstrip cases give Hugging Face's ids" "
	$TOK2GGUF $T/phi3-mini/tokenizer.json - $TMP/phi3.gguf &&
	exo-validate tokenizer $TMP/phi3.gguf --cases $T/phi3-mini/cases.jsonl -o text >$TMP/phi3.out 2>&1;
	grep -q 'cases.jsonl: 18[2-4] of 184 cases give exactly the expected ids' $TMP/phi3.out
"
# llama.cpp's own ids for the same GGUF keys (tests/fixtures-gguf/tok-llamacpp,
# made by make-tok-llamacpp.py with llama-cpp-python): equal.  Qwen2.5's
# vocabulary holds "</s>" as a plain token, which llama.cpp's heuristics
# for a file without eos_token_id make a control token: that one case differs.
for case in "gpt2 gpt-2 92" "llama3 llama-bpe 92" "mistral - 92" "qwen2.5 qwen2 91"; do
	set -- $case
	test_expect_success "$1 as GGUF keys (pre $2): llama.cpp's ids on $3 of 92 texts" "
		$TOK2GGUF $T/$1/tokenizer.json $2 $TMP/l-$1.gguf &&
		exo-validate tokenizer $TMP/l-$1.gguf --cases tests/fixtures-gguf/tok-llamacpp/$1.jsonl -o text \
			>$TMP/l-$1.out 2>&1; cat $TMP/l-$1.out;
		grep -q 'jsonl: $3 of 92 cases give exactly the expected ids' $TMP/l-$1.out
	"
done
test_expect_code 65 "an unknown tokenizer.ggml.pre is one line naming it" "
	$TOK2GGUF $T/gpt2/tokenizer.json nonesuch $TMP/bad.gguf &&
	exo-validate tokenizer $TMP/bad.gguf -o text >$TMP/bad.out 2>&1; rc=\$?; cat $TMP/bad.out
	grep -q \"tokenizer.ggml.pre 'nonesuch' is not supported\" $TMP/bad.out || exit 1
	exo-shard-serve --model $TMP/bad.gguf --layers 0:1 --listen 127.0.0.1:1 --api 127.0.0.1:2 2>$TMP/bad.err
"
test_done
