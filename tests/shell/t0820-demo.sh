#!/bin/sh
# The README's first command: scripts/demo (what make demo runs) plans a
# model across three local stages, streams a chat reply through the API and
# leaves nothing running.  Without the real model (EXO_DEMO_FETCH=0 here, so
# that tests never download) it says why and runs the random demo model;
# with build/smollm2's GGUF (make check-real fetches it) SmolLM2 answers.
. ./tests/lib.sh
. ./tests/shell/api-lib.sh

demo_model >/dev/null
port=$(free_ports 4)
api=$((port + 3))
offline="EXO_DEMO_FETCH=0 EXO_DEMO_GGUF=$TMP/none.gguf EXO_DEMO_PORT=$port EXO_DEMO_API=$api EXO_BUILD=$EXO_BUILD"

# demo_ok OUT: a plan of 3 stages, healthy, a streamed reply that finished
demo_ok() {
	grep -c "^[0-2]  *demo-[0-2]  *cpu  *127.0.0.1:" "$1" | grep -qx 3 &&
	grep -q "healthy: {\"status\":\"ok\"" "$1" &&
	grep -Eq "^\[finish_reason: (stop|length)\]$" "$1" &&
	awk "/^== curl/ { c = 1; next } /^\[finish_reason/ { exit !(n > 0) } c && length(\$0) > 0 { n++ }" "$1"
}

test_expect_success "without the real model: says why, then the random model's plan of 3 stages and a streamed reply" '
	env $offline sh scripts/demo >"$TMP/demo.out" 2>&1
	rc=$?
	cat "$TMP/demo.out" && test $rc = 0 && demo_ok "$TMP/demo.out" &&
	grep -q "^== no real model: EXO_DEMO_FETCH=0 and .*none.gguf is not there" "$TMP/demo.out" &&
	grep -q "gibberish, by design" "$TMP/demo.out"
'
test_expect_success "the demo stopped its stages" '
	! curl -s -m 2 "http://127.0.0.1:$api/healthz" &&
	! curl -s -m 2 "http://127.0.0.1:$port/"
'
# head takes the lines up to "starting the stages"; the demo's next line
# ("healthy") meets a closed pipe once the stages are up.
test_expect_success "a demo whose output pipe closes early stops its stages too" '
	env $offline sh scripts/demo 2>/dev/null |
		sed "/^== exo-shard-serve/q" >"$TMP/head.out" &&
	tail -n 1 "$TMP/head.out" | grep -q "^== exo-shard-serve" &&
	! curl -s -m 2 "http://127.0.0.1:$api/healthz" &&
	! curl -s -m 2 "http://127.0.0.1:$port/" &&
	! curl -s -m 2 "http://127.0.0.1:$((port + 2))/"
'
if gguf=$(smollm2_gguf); then
	test_expect_success "with the real model: SmolLM2-135M-Instruct across 3 stages answers about the blue sky" '
		EXO_DEMO_FETCH=0 EXO_DEMO_PORT=$port EXO_DEMO_API=$api EXO_BUILD=$EXO_BUILD \
			sh scripts/demo >"$TMP/real.out" 2>&1
		rc=$?
		cat "$TMP/real.out" && test $rc = 0 && demo_ok "$TMP/real.out" &&
		grep -q "^== the model: SmolLM2-135M-Instruct, Q4_1 GGUF" "$TMP/real.out" &&
		awk "/\}\]\}.\$/ { c = 1; next } /^\[finish_reason/ { c = 0 } c" "$TMP/real.out" >"$TMP/reply" &&
		grep -q " blue" "$TMP/reply" && ! grep -q "Why is the sky" "$TMP/reply" &&
		! curl -s -m 2 "http://127.0.0.1:$api/healthz"
	'
else
	test_skip "the real model is not in build/smollm2 (make check-real fetches it)"
fi
test_done
