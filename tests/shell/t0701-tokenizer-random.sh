#!/bin/sh
# Random texts in many scripts, with added tokens sprinkled in, against the
# ids of Hugging Face's tokenizers library (tests/fixtures-tokenizer, made by
# its make-cases.py), and their decode round trips, for every fixture tokenizer.
. ./tests/lib.sh
T=$EXO_SHARED/fixtures/tokenizers

for cases in tests/fixtures-tokenizer/*.jsonl; do
	name=$(basename "$cases" .jsonl)
	test_expect_success "$name: 100 random texts give HF tokenizers' ids" "
		exo-validate tokenizer $T/$name --cases $cases -o json >\$TMP/$name.out &&
		grep -q '\"code\":\"tokenizer.cases\",\"level\":\"ok\",\"message\":\"[^\"]*: 100 of 100 cases' \$TMP/$name.out
	"
done
test_done
