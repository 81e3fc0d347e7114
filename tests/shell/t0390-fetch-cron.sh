#!/bin/sh
# The nightly prefetch examples work as written: the commands of
# scripts/exo-fetch.cron and of scripts/systemd/exo-fetch.service, run with
# their own variables (only the paths pointed at this test's hub, cache and
# plan), fetch the plan's stage and keep the cache; a second run while the
# first holds the lock is not a failure.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../hub/lib-hub.sh"
hub_require
HOME=$TMP
: >"$TMP/defaults.yaml"
export HOME EXO_CONFIG=$TMP/defaults.yaml
M=$EXO_SHARED/fixtures/models
SCRIPTS=$(cd "$(dirname "$0")/../../scripts" && pwd)
hub_start llama/sharded=$M/llama3-tiny-sharded || { echo "Bail out! nginx did not start"; exit 1; }
C=$(hub_commit llama/sharded)
S=$TMP/cache/models--llama--sharded/snapshots/$C
printf '%s\n' '{"kind":"plan","v":1,"model":"llama/sharded","strategy":"manual","layers":4,"stages":[{"index":0,"node":"a","layer_start":0,"layer_end":2},{"index":1,"node":"b","layer_start":2,"layer_end":4}]}' >"$TMP/plan.json"
"$EXO_BUILD/tools/exo-rec" -i json -o msgpack "$TMP/plan.json" >"$TMP/plan.mp"

# The file's variable lines with this test's paths, as shell assignments.
cron_env() {
	sed -n 's/^\([A-Z_]*\)=\(.*\)$/\1=\2/p' "$SCRIPTS/exo-fetch.cron" | sed \
		-e "s|^PATH=\\(.*\\)|PATH=$EXO_BIN:\\1|" -e "s|^HF_HUB_CACHE=.*|HF_HUB_CACHE=$TMP/cache|" \
		-e "s|^EXO_PLAN=.*|EXO_PLAN=$TMP/plan.mp|" | sed 's/^/export /'
}
# Command N of the file (after the five time fields and the user).
cron_cmd() {
	grep -v '^#' "$SCRIPTS/exo-fetch.cron" | grep -v '^[A-Z_]*=' | grep . | sed -n "${1}p" |
		sed 's/^\([^ ]* *\)\{6\}//'
}

test_expect_success 'the cron file has a prefetch and a gc line, each for a user' '
	cron_cmd 1 | grep -q "^exo-fetch .*--plan" && cron_cmd 2 | grep -q "^exo-fetch --gc"
'

test_expect_success 'cron: the prefetch line fetches stage 1 (second shard only)' '
	cron_env >"$TMP/env.sh" && cat "$TMP/env.sh" &&
	sh -c ". \"$TMP/env.sh\"; $(cron_cmd 1)" &&
	test -e "$S/model-00002-of-00002.safetensors" && ! test -e "$S/model-00001-of-00002.safetensors"
'

test_expect_success 'cron: while another run holds the repository the line still succeeds' '
	HF_ENDPOINT=$HUB_URL/slow exo-fetch -q --cache "$TMP/cache" --layers 0:2 llama/sharded >/dev/null 2>&1 & a=$!
	n=0; while flock -n "$TMP/cache/.locks/models--llama--sharded/repo.lock" true && [ $n -lt 100 ]; do
		sleep 0.05; n=$((n + 1)); done
	sh -c ". \"$TMP/env.sh\"; $(cron_cmd 1)" 2>"$TMP/err"; rc=$?
	wait $a; test $rc -eq 0 && grep -q "locked by another process" "$TMP/err"
'

test_expect_success 'cron: the gc line keeps a cache under its size' '
	sh -c ". \"$TMP/env.sh\"; $(cron_cmd 2)" && test -e "$S/config.json"
'

test_expect_success 'systemd: ExecStart and ExecStartPost of exo-fetch.service succeed' '
	svc=$SCRIPTS/systemd/exo-fetch.service && rm -rf "$TMP/cache" &&
	sed -n "s/^Environment=/export /p" "$svc" | sed -e "s|HF_HUB_CACHE=.*|HF_HUB_CACHE=$TMP/cache|" \
		-e "s|EXO_PLAN=.*|EXO_PLAN=$TMP/plan.mp|" >"$TMP/svc.sh" &&
	for k in ExecStart ExecStartPost; do
		sed -n "s|^$k=/usr/local/bin/|PATH=$EXO_BIN:\$PATH |p" "$svc" >>"$TMP/svc.sh"; done &&
	cat "$TMP/svc.sh" && sh -e "$TMP/svc.sh" && test -e "$S/model-00002-of-00002.safetensors"
'

if command -v systemd-analyze >/dev/null 2>&1; then
	test_expect_success 'systemd: the timer calendar parses' '
		systemd-analyze calendar "$(sed -n "s/^OnCalendar=//p" "$SCRIPTS/systemd/exo-fetch.timer")" >/dev/null
	'
fi
test_done
