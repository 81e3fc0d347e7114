#!/bin/sh
# Fuzz targets: every committed corpus file still runs clean, and a short
# fuzzing run on a copy of the corpus (the committed one never grows).
. ./tests/lib.sh
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export UBSAN_OPTIONS
if [ -z "$EXO_FUZZ" ]; then
	test_skip "no fuzz targets built (clang with libFuzzer missing)"
fi
for f in $EXO_FUZZ; do
	name=$(basename "$f")
	corpus=tests/fuzz/corpus/$name
	test_expect_success "$name: every corpus file runs clean" "
		test -d $corpus && $f -runs=0 -artifact_prefix=$TMP/ $corpus
	"
	test_expect_success "$name: 8 s of fuzzing on a copy of the corpus" "
		mkdir -p $TMP/corpus-$name && cp $corpus/* $TMP/corpus-$name/ &&
		$f -max_total_time=8 -rss_limit_mb=2048 -artifact_prefix=$TMP/ $TMP/corpus-$name
	"
done
test_done
