#!/bin/sh
# The README's first command: scripts/demo (what make demo runs) plans the
# demo model across three local stages, streams a chat reply through the API
# and leaves nothing running.
. ./tests/lib.sh
. ./tests/shell/api-lib.sh

demo_model >/dev/null
port=$(free_ports 4)
api=$((port + 3))
test_expect_success "scripts/demo prints a plan of 3 stages and a streamed reply" '
	EXO_DEMO_PORT=$port EXO_DEMO_API=$api EXO_BUILD=$EXO_BUILD sh scripts/demo >"$TMP/demo.out" 2>&1
	rc=$?
	cat "$TMP/demo.out" && test $rc = 0 &&
	grep -c "^[0-2]  *demo-[0-2]  *cpu  *127.0.0.1:" "$TMP/demo.out" | grep -qx 3 &&
	grep -q "healthy: {\"status\":\"ok\"" "$TMP/demo.out" &&
	grep -Eq "^\[finish_reason: (stop|length)\]$" "$TMP/demo.out" &&
	awk "/^== curl/ { c = 1; next } /^\[finish_reason/ { exit !(n > 0) } c && length(\$0) > 0 { n++ }" "$TMP/demo.out"
'
test_expect_success "the demo stopped its stages" '
	! curl -s -m 2 "http://127.0.0.1:$api/healthz" &&
	! curl -s -m 2 "http://127.0.0.1:$port/"
'
# head takes the lines up to "starting the stages"; the demo's next line
# ("healthy") meets a closed pipe once the stages are up.
test_expect_success "a demo whose output pipe closes early stops its stages too" '
	EXO_DEMO_PORT=$port EXO_DEMO_API=$api EXO_BUILD=$EXO_BUILD sh scripts/demo 2>/dev/null |
		sed "/^== exo-shard-serve/q" >"$TMP/head.out" &&
	tail -n 1 "$TMP/head.out" | grep -q "^== exo-shard-serve" &&
	! curl -s -m 2 "http://127.0.0.1:$api/healthz" &&
	! curl -s -m 2 "http://127.0.0.1:$port/" &&
	! curl -s -m 2 "http://127.0.0.1:$((port + 2))/"
'
test_done
