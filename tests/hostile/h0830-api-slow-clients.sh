#!/bin/sh
# Slow clients against the API (issue 23, item 4), longer than make check
# allows (make check-hostile): clients sending a header byte every 0.5 s
# from one address hold at most a half of the connections, so a client
# from elsewhere is served at once; from 8 addresses they take every slot,
# are cut off at the header deadline (EXO_API_HEADER_TIMEOUT, 2 s here) and
# a new client, trying again when refused, is served.  Prints the time it
# took.
. ./tests/lib.sh
. ./tests/shell/api-lib.sh

ATTACK="python3 tests/shell/api-attack.py"
printf 'sekret-key\n' >"$TMP/key"
EXO_API_HEADER_TIMEOUT=2 EXO_API_MAX_CONNECTIONS=16
export EXO_API_HEADER_TIMEOUT EXO_API_MAX_CONNECTIONS
MODEL=$(demo_model) && start_pipeline "$MODEL" --api-key-file "$TMP/key" --timeout 3000
AUTH='Authorization: Bearer sekret-key'
hwm() { awk '/^VmHWM:/ { print $2 }' /proc/$STAGE0/status; }
HWM0=$(hwm)

test_expect_success "slow clients from one address: a new client from another is served at once" '
	$ATTACK drip 127.0.0.1 $APIPORT 4 64 127.0.0.2 >"$TMP/cut" &
	drip=$! &&
	sleep 1 &&
	set -- $($ATTACK serve 127.0.0.1 $APIPORT 20 /v1/models "$AUTH") &&
	wait $drip &&
	echo "$*" >"$TMP/one-address" &&
	test "$1" = 200 && test "$3" = 1
'
echo "# one slow address: a new client answered $(cut -d" " -f1 "$TMP/one-address") after $(cut -d" " -f2 "$TMP/one-address") s"
test_expect_success "slow clients from 8 addresses take every slot: cut off at the header deadline, a new client served" '
	$ATTACK drip 127.0.0.1 $APIPORT 8 6 127.0.0.2 127.0.0.3 127.0.0.4 127.0.0.5 \
		127.0.0.6 127.0.0.7 127.0.0.8 127.0.0.9 >"$TMP/cut" &
	drip=$! &&
	sleep 1 &&
	set -- $($ATTACK serve 127.0.0.1 $APIPORT 20 /v1/models "$AUTH") &&
	wait $drip &&
	set -- "$@" $(cat "$TMP/cut") &&
	echo "$*" >"$TMP/eight" &&
	test "$1" = 200 && test "$4" -gt 0
'
set -- $(cat "$TMP/eight" 2>/dev/null)
echo "# every slot held: a new client answered $1 after ${2:-?} s ($3 tries); $4 slow connections cut off in 8 s"
echo "# peak RSS (VmHWM) of the head: $HWM0 KiB before the slow clients, $(hwm) KiB after"
test_expect_success "after all that the pipeline is healthy" '
	curl -sf "$BASE/healthz" >/dev/null
'
stop_pipeline
test_expect_success "the stages stopped without a sanitizer report" '
	! grep -n "Sanitizer\|runtime error" "$TMP"/stage*.log
'
test_done
