#!/bin/sh
# The API's errors against a real 3-stage pipeline with an API key (the
# head's context cut to 256 positions, so that prompts over it are short): each
# hostile or wrong request gets its OpenAI error object and status (400,
# 401, 404, 405, 413, 503 naming the stage that is down), and the server
# stays up.
. ./tests/lib.sh
. ./tests/shell/api-lib.sh

printf 'sekret-key\n' >"$TMP/key"
MODEL=$(demo_model) && start_pipeline "$MODEL" --api-key-file "$TMP/key" --timeout 3000 --ctx 256
AUTH='Authorization: Bearer sekret-key'

# err STATUS PARAM CODE ROUTE BODY: the answer is an OpenAI error object.
err() {
	want=$1 param=$2 code=$3 route=$4 body=$5
	post "$route" "$body" -H "$AUTH" >"$TMP/err.json"
	status_is "$want" && pycheck "
e = j[\"error\"]
assert set(e) == {\"message\", \"type\", \"param\", \"code\"}, e
assert isinstance(e[\"message\"], str) and e[\"message\"] and isinstance(e[\"type\"], str)
assert e[\"param\"] == ($([ -n "$param" ] && echo "\"$param\"" || echo None)), e
assert e[\"code\"] == \"$code\", e
" <"$TMP/err.json"
}

test_expect_success "with the right key the API answers" '
	test "$(curl -s -o /dev/null -w "%{http_code}" -H "$AUTH" "$BASE/v1/models")" = 200
'
test_expect_success "no key: 401 invalid_api_key" '
	curl -s -o "$TMP/e" -w "%{http_code}" "$BASE/v1/models" | grep -qx 401 &&
	pycheck "assert j[\"error\"][\"code\"] == \"invalid_api_key\"" <"$TMP/e"
'
test_expect_success "a wrong key: 401, on every /v1 route" '
	test "$(curl -s -o /dev/null -w "%{http_code}" -H "Authorization: Bearer sekret-kez" "$BASE/v1/models")" = 401 &&
	test "$(curl -s -o /dev/null -w "%{http_code}" -H "Authorization: Bearer sekret-key-and-more" "$BASE/v1/completions" -d "{}")" = 401 &&
	test "$(curl -s -o /dev/null -w "%{http_code}" -H "Authorization: sekret-key" "$BASE/v1/chat/completions" -d "{}")" = 401
'
test_expect_success "/healthz and /metrics need no key (probes)" '
	curl -sf "$BASE/healthz" >/dev/null && curl -sf "$BASE/metrics" >/dev/null
'

test_expect_success "bad JSON: 400 invalid_json" '
	err 400 "" invalid_json /v1/chat/completions "{\"model\": \"demo\", \"messages\": [" &&
	err 400 "" invalid_json /v1/completions "" &&
	err 400 "" invalid_type /v1/completions "[1, 2]"
'
test_expect_success "wrong field types: 400 naming the field" '
	err 400 messages invalid_type /v1/chat/completions "{\"model\":\"demo\",\"messages\":\"hi\"}" &&
	err 400 "messages[0].content" invalid_type /v1/chat/completions "{\"model\":\"demo\",\"messages\":[{\"role\":\"user\",\"content\":7}]}" &&
	err 400 "messages[1].role" invalid_value /v1/chat/completions "{\"model\":\"demo\",\"messages\":[{\"role\":\"user\",\"content\":\"a\"},{\"role\":\"robot\",\"content\":\"b\"}]}" &&
	err 400 max_tokens invalid_type /v1/completions "{\"model\":\"demo\",\"prompt\":\"a\",\"max_tokens\":\"8\"}" &&
	err 400 temperature invalid_value /v1/completions "{\"model\":\"demo\",\"prompt\":\"a\",\"temperature\":7}" &&
	err 400 stream invalid_type /v1/completions "{\"model\":\"demo\",\"prompt\":\"a\",\"stream\":\"yes\"}" &&
	err 400 "stop[0]" invalid_type /v1/completions "{\"model\":\"demo\",\"prompt\":\"a\",\"stop\":[1]}" &&
	err 400 prompt invalid_type /v1/completions "{\"model\":\"demo\",\"prompt\":{\"a\":1}}" &&
	err 400 model invalid_type /v1/completions "{\"model\":1,\"prompt\":\"a\"}" &&
	err 400 model missing_required_parameter /v1/completions "{\"prompt\":\"a\"}"
'
test_expect_success "n other than 1: 400" '
	err 400 n unsupported_value /v1/chat/completions "{\"model\":\"demo\",\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"n\":3}"
'
test_expect_success "an unknown model: 404 model_not_found" '
	err 404 model model_not_found /v1/chat/completions "{\"model\":\"gpt-4\",\"messages\":[{\"role\":\"user\",\"content\":\"a\"}]}" &&
	err 404 model model_not_found /v1/completions "{\"model\":\"gpt-4\",\"prompt\":\"a\",\"stream\":true}"
'
test_expect_success "an unknown route: 404; a wrong method: 405" '
	err 404 "" not_found /v2/chat "{}" &&
	test "$(curl -s -o /dev/null -w "%{http_code}" -H "$AUTH" "$BASE/v1/chat/completions")" = 405 &&
	test "$(curl -s -o /dev/null -w "%{http_code}" -X DELETE -H "$AUTH" "$BASE/v1/models")" = 405
'
test_expect_success "a body over 4 MiB: 413, announced or chunked" '
	head -c 5000000 /dev/zero | tr "\0" a >"$TMP/big" &&
	curl -s -o "$TMP/e" -w "%{http_code}" -H "$AUTH" "$BASE/v1/completions" --data-binary @"$TMP/big" | grep -qx 413 &&
	pycheck "assert j[\"error\"][\"code\"] == \"request_too_large\"" <"$TMP/e" &&
	curl -s -o /dev/null -w "%{http_code}" -H "$AUTH" -H "Transfer-Encoding: chunked" "$BASE/v1/completions" --data-binary @"$TMP/big" | grep -qx 413
'
test_expect_success "a prompt over the context: 400 context_length_exceeded" '
	ids=$(python3 -c "print(list(range(100, 400)))") &&
	err 400 prompt context_length_exceeded /v1/completions "{\"model\":\"demo\",\"prompt\":$ids}" &&
	long=$(python3 -c "print(\" \".join(\"word%d\" % i for i in range(300)))") &&
	err 400 messages context_length_exceeded /v1/chat/completions "{\"model\":\"demo\",\"messages\":[{\"role\":\"user\",\"content\":\"$long\"}]}"
'
test_expect_success "a token id outside the vocabulary: 400" '
	err 400 prompt invalid_value /v1/completions "{\"model\":\"demo\",\"prompt\":[1,99999999]}"
'
test_expect_success "a huge max_tokens is clamped to what the context has left" '
	ids=$(python3 -c "print(list(range(100, 350)))") &&
	post /v1/completions "{\"model\":\"demo\",\"prompt\":$ids,\"max_tokens\":1000000000}" -H "$AUTH" |
	pycheck "
u = j[\"usage\"]; f = j[\"choices\"][0][\"finish_reason\"]
assert u[\"prompt_tokens\"] == 250 and 0 < u[\"completion_tokens\"] <= 6, u
assert f == \"stop\" or u[\"completion_tokens\"] == 6, j
" && status_is 200
'
test_expect_success "after all that the pipeline is healthy" '
	curl -sf "$BASE/healthz" >/dev/null
'

# A stream under way when the last stage dies: an error event naming it,
# then [DONE], rather than a stream cut short.
cat >"$TMP/midstream.py" <<'PY'
import json, os, signal, sys, urllib.request
base, pid, port = sys.argv[1], int(sys.argv[2]), sys.argv[3]
r = urllib.request.urlopen(urllib.request.Request(base + "/v1/completions",
    data=b'{"model":"demo","prompt":[5,6,7],"max_tokens":240,"stream":true}',
    headers={"Authorization": "Bearer sekret-key"}), timeout=60)
assert r.status == 200
first = r.readline()
assert first.startswith(b"data: {"), first
os.kill(pid, signal.SIGKILL)
rest = r.read().decode()
events = [b[6:] for b in rest.strip().split("\n\n") if b.startswith("data: ")]
assert events[-1] == "[DONE]", rest[-500:]
err = json.loads(events[-2])
assert err["error"]["code"] == "stage_unavailable" and port in err["error"]["message"], err
PY
test_expect_success "the last stage killed mid-stream: an error event naming it, then [DONE]" '
	python3 "$TMP/midstream.py" "$BASE" $STAGE2 $P2
'
test_expect_success "the last stage down: /healthz and requests get 503 naming it" '
	while kill -0 $STAGE2 2>/dev/null; do sleep 0.1; done &&
	code=$(curl -s -o "$TMP/h" -w "%{http_code}" "$BASE/healthz") &&
	echo "healthz: $code $(cat "$TMP/h")" && test "$code" = 503 &&
	pycheck "assert \"$P2\" in j[\"error\"][\"message\"] and j[\"error\"][\"code\"] == \"stage_unavailable\", j" <"$TMP/h" &&
	err 503 "" stage_unavailable /v1/completions "{\"model\":\"demo\",\"prompt\":\"a\",\"stream\":true}" &&
	grep -q "$P2" "$TMP/err.json"
'
stop_pipeline
test_expect_success "the stages stopped without a sanitizer report" '
	! grep -n "Sanitizer\|runtime error" "$TMP"/stage*.log
'
test_done
