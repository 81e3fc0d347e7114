#!/bin/sh
# The head's own hop (its local layers to the next stage) goes in the
# --handover type, as the stages' hops do: with bf16 the next stage reads
# about half the bytes it reads with f32.
. ./tests/lib.sh
. ./tests/shell/api-lib.sh

MODEL=$(demo_model) || exit 1

# bytes_in HANDOVER: the bytes stage 1 read from the head for one completion.
bytes_in() {
	P0=$(free_port) P1=$(free_port) APIPORT=$(free_port)
	BASE=http://127.0.0.1:$APIPORT
	exo-shard-serve --model "$MODEL" --layers 2:4 --listen 127.0.0.1:$P1 --threads 1 \
		2>"$TMP/s1-$1.log" &
	echo $! >>"$TMP/pids"
	exo-shard-serve --model "$MODEL" --layers 0:2 --listen 127.0.0.1:$P0 --threads 1 \
		--next 127.0.0.1:$P1 --handover "$1" --api 127.0.0.1:$APIPORT --model-name demo \
		2>"$TMP/s0-$1.log" &
	echo $! >>"$TMP/pids"
	wait_healthy 60 >&2 &&
	post /v1/completions '{"model":"demo","prompt":"The pipeline splits the layers","max_tokens":8,"temperature":0}' >&2 &&
	status_is 200 >&2 && stop_pipeline &&
	sed -n 's/.* closed after [0-9]* frames: \([0-9]*\) bytes in.*/\1/p' "$TMP/s1-$1.log" |
		awk '{ s += $1 } END { print s + 0 }'
}

test_expect_success "--handover bf16 on the head: its hop carries half the bytes of f32" '
	bf16=$(bytes_in bf16) && f32=$(bytes_in f32) && echo "# bf16 $bf16 f32 $f32" &&
	test "$bf16" -gt 0 && test $((bf16 * 3)) -lt $((f32 * 2))
'

test_done
