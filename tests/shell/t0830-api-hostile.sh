#!/bin/sh
# Hostile HTTP clients against the API of a real 3-stage pipeline with a
# key (issue 23, items 3, 4 and 8): what can be refused from the headers
# is refused before a byte of the body is read, so unauthenticated floods
# cost no memory; slow clients are cut off at the header deadline
# (EXO_API_HEADER_TIMEOUT, 2 s here) and one address holds at most a
# half of the connections (EXO_API_MAX_CONNECTIONS, 16 here); a key
# with a NUL in it or a second Authorization header is refused.  The
# figures measured are printed.  A new client served while slow clients
# hold every slot: tests/hostile/h0830-api-slow-clients.sh (make
# check-hostile).
. ./tests/lib.sh
. ./tests/shell/api-lib.sh

ATTACK="python3 tests/shell/api-attack.py"
printf 'sekret-key\n' >"$TMP/key"
EXO_API_HEADER_TIMEOUT=2 EXO_API_MAX_CONNECTIONS=16
export EXO_API_HEADER_TIMEOUT EXO_API_MAX_CONNECTIONS
MODEL=$(demo_model) && start_pipeline "$MODEL" --api-key-file "$TMP/key" --timeout 3000
AUTH='Authorization: Bearer sekret-key'

test_expect_success "no key: 401 from the headers, before the 4 MiB body is sent" '
	test "$($ATTACK early 127.0.0.1 $APIPORT POST /v1/completions)" = 401 &&
	test "$($ATTACK early 127.0.0.1 $APIPORT POST /v1/chat/completions "Authorization: Bearer nope")" = 401
'
test_expect_success "an unknown route, a wrong method, an announced body over the limit: at once" '
	test "$($ATTACK early 127.0.0.1 $APIPORT POST /v2/x "$AUTH")" = 404 &&
	test "$($ATTACK early 127.0.0.1 $APIPORT PUT /v1/completions "$AUTH")" = 405 &&
	test "$($ATTACK early 127.0.0.1 $APIPORT POST /v1/models "$AUTH")" = 405 &&
	test "$($ATTACK early 127.0.0.1 $APIPORT POST /healthz)" = 405 &&
	test "$($ATTACK early 127.0.0.1 $APIPORT POST /v1/completions "$AUTH" "Content-Length: 99999999")" = 413
'
test_expect_success "64 unauthenticated 4 MiB POSTs at once: the peak RSS grows by less than 64 MiB" '
	set -- $($ATTACK flood 127.0.0.1 $APIPORT 64 $STAGE0) &&
	echo "$1 $2" >"$TMP/flood" &&
	test $(($2 - $1)) -lt 65536
'
echo "# peak RSS (VmHWM) of the head before and after the flood: $(cat "$TMP/flood" 2>/dev/null) KiB"
test_expect_success "the key holder is still served" '
	post /v1/completions "{\"model\":\"demo\",\"prompt\":\"a\",\"max_tokens\":2}" -H "$AUTH" >/dev/null &&
	status_is 200
'

# GET /v1/models with the given Authorization header lines, as hex.
models_with() {
	printf "GET /v1/models HTTP/1.1\r\nHost: x\r\n${1}Connection: close\r\n\r\n" | od -An -v -tx1 | tr -d " \n"
}
test_expect_success "Bearer KEY followed by a NUL and more: 401" '
	test "$($ATTACK raw 127.0.0.1 $APIPORT "$(models_with "Authorization: Bearer sekret-key\r\n")")" = 200 &&
	hex=$(printf "GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sekret-key" | od -An -v -tx1 | tr -d " \n")0078$(printf "\r\nConnection: close\r\n\r\n" | od -An -v -tx1 | tr -d " \n") &&
	code=$($ATTACK raw 127.0.0.1 $APIPORT "$hex") && echo "with a NUL: $code" &&
	test "$code" = 401 -o "$code" = 400
'
test_expect_success "a second Authorization header: 401, whichever comes first" '
	test "$($ATTACK raw 127.0.0.1 $APIPORT "$(models_with "Authorization: Bearer sekret-key\r\nAuthorization: Bearer other\r\n")")" = 401 &&
	test "$($ATTACK raw 127.0.0.1 $APIPORT "$(models_with "Authorization: Bearer other\r\nAuthorization: Bearer sekret-key\r\n")")" = 401
'

test_expect_success "a client sending a header byte every 0.5 s is cut off at the header deadline" '
	test "$($ATTACK drip 127.0.0.1 $APIPORT 5 1 127.0.0.2)" -ge 1
'
test_expect_success "a key holder sending its body a byte every 0.5 s is cut off at the body deadline" '
	set -- $($ATTACK slowbody 127.0.0.1 $APIPORT 8 "$AUTH") && echo "$*" && test "$1" = cut
'
test_expect_success "after all that the pipeline is healthy" '
	curl -sf "$BASE/healthz" >/dev/null
'
stop_pipeline
test_expect_success "the stages stopped without a sanitizer report" '
	! grep -n "Sanitizer\|runtime error" "$TMP"/stage*.log
'
test_done
