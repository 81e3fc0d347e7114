#!/bin/sh
# The OpenAI-compatible API of exo-shard-serve with real clients (curl, the
# openai package) against a real pipeline: the demo model in three stages,
# three processes on loopback.  Streaming and not, completions from text
# and from ids, models, health, metrics, seeds, stop sequences split across
# tokens, a client that goes away, concurrent requests, idle connections.
. ./tests/lib.sh
. ./tests/shell/api-lib.sh

CHAT='{"model":"demo","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Say hello"}],"max_tokens":24,"temperature":0.8,"seed":11'

MODEL=$(demo_model) && start_pipeline "$MODEL"

test_expect_success "a 3-stage pipeline of the demo model answers /healthz" '
	curl -sf "$BASE/healthz" | pycheck "assert j[\"status\"] == \"ok\""
'

test_expect_success "/v1/models lists the served model" '
	curl -sf "$BASE/v1/models" |
	pycheck "assert j[\"object\"] == \"list\" and [m[\"id\"] for m in j[\"data\"]] == [\"demo\"]" &&
	curl -sf "$BASE/v1/models/demo" | pycheck "assert j[\"id\"] == \"demo\" and j[\"object\"] == \"model\"" &&
	test "$(curl -s -o /dev/null -w "%{http_code}" "$BASE/v1/models/other")" = 404
'

test_expect_success "chat completion: message, finish_reason, consistent usage" '
	post /v1/chat/completions "$CHAT}" >"$TMP/chat.json" && status_is 200 &&
	pycheck "
c = j[\"choices\"][0]; u = j[\"usage\"]
assert j[\"object\"] == \"chat.completion\" and j[\"model\"] == \"demo\" and j[\"id\"].startswith(\"chatcmpl-\")
assert c[\"message\"][\"role\"] == \"assistant\" and isinstance(c[\"message\"][\"content\"], str)
assert c[\"finish_reason\"] in (\"stop\", \"length\")
assert u[\"total_tokens\"] == u[\"prompt_tokens\"] + u[\"completion_tokens\"]
assert 0 < u[\"completion_tokens\"] <= 24 and u[\"prompt_tokens\"] > 5
assert c[\"finish_reason\"] == \"stop\" or u[\"completion_tokens\"] == 24
" <"$TMP/chat.json"
'

test_expect_success "chat streaming: role first, content pieces, finish_reason, [DONE]; same text as without" '
	curl -sN "$BASE/v1/chat/completions" -d "$CHAT,\"stream\":true}" >"$TMP/chat.sse" &&
	sse_check "
import os
want = json.load(open(os.environ[\"TMP\"] + \"/chat.json\"))
assert len(events) >= 3
assert all(e[\"object\"] == \"chat.completion.chunk\" and e[\"id\"] == events[0][\"id\"] for e in events)
assert events[0][\"choices\"][0][\"delta\"][\"role\"] == \"assistant\"
assert all(e[\"choices\"][0][\"finish_reason\"] is None for e in events[:-1])
assert events[-1][\"choices\"][0][\"finish_reason\"] == want[\"choices\"][0][\"finish_reason\"]
text = \"\".join(e[\"choices\"][0][\"delta\"].get(\"content\", \"\") for e in events)
assert text == want[\"choices\"][0][\"message\"][\"content\"], (text, want)
" <"$TMP/chat.sse"
'

test_expect_success "chat streaming with include_usage: a usage chunk with empty choices" '
	curl -sN "$BASE/v1/chat/completions" \
		-d "$CHAT,\"stream\":true,\"stream_options\":{\"include_usage\":true}}" |
	sse_check "
u = [e for e in events if e[\"choices\"] == []]
assert len(u) == 1 and u[0][\"usage\"][\"total_tokens\"] == u[0][\"usage\"][\"prompt_tokens\"] + u[0][\"usage\"][\"completion_tokens\"]
"
'

test_expect_success "the same seed gives the same text, another seed another text (temperature 0.8)" '
	post /v1/chat/completions "$CHAT}" >"$TMP/again.json" &&
	post /v1/chat/completions "$(echo "$CHAT" | sed "s/\"seed\":11/\"seed\":12/")}" >"$TMP/other.json" &&
	python3 -c "
import json, os
t = os.environ[\"TMP\"]
text = lambda f: json.load(open(t + f))[\"choices\"][0][\"message\"][\"content\"]
assert text(\"/chat.json\") == text(\"/again.json\")
assert text(\"/chat.json\") != text(\"/other.json\")
"
'

test_expect_success "completion from text" '
	post /v1/completions "{\"model\":\"demo\",\"prompt\":\"The pipeline\",\"max_tokens\":12,\"seed\":3}" |
	pycheck "
c = j[\"choices\"][0]; u = j[\"usage\"]
assert j[\"object\"] == \"text_completion\" and isinstance(c[\"text\"], str)
assert 0 < u[\"completion_tokens\"] <= 12 and u[\"prompt_tokens\"] >= 2
assert u[\"total_tokens\"] == u[\"prompt_tokens\"] + u[\"completion_tokens\"]
" && status_is 200
'

test_expect_success "completion from token ids, streaming and not" '
	post /v1/completions "{\"model\":\"demo\",\"prompt\":[10,20,30,40],\"max_tokens\":8,\"seed\":5}" >"$TMP/ids.json" &&
	status_is 200 &&
	pycheck "assert j[\"usage\"][\"prompt_tokens\"] == 4" <"$TMP/ids.json" &&
	curl -sN "$BASE/v1/completions" -d "{\"model\":\"demo\",\"prompt\":[10,20,30,40],\"max_tokens\":8,\"seed\":5,\"stream\":true}" |
	sse_check "
import os
want = json.load(open(os.environ[\"TMP\"] + \"/ids.json\"))[\"choices\"][0]
assert all(e[\"object\"] == \"text_completion\" for e in events)
assert \"\".join(e[\"choices\"][0][\"text\"] for e in events) == want[\"text\"]
assert events[-1][\"choices\"][0][\"finish_reason\"] == want[\"finish_reason\"]
"
'

# A stop sequence made of the end of one streamed piece and the start of the
# next: the text must end before it, streaming or not, and no event may
# carry any of it.
cat >"$TMP/stop.py" <<'PY'
import json, os, sys, urllib.request
base = sys.argv[1]
def call(body):
    r = urllib.request.urlopen(urllib.request.Request(base + "/v1/completions",
        data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}), timeout=60)
    return r.read().decode()
def pieces(body):
    raw = call(dict(body, stream=True))
    ev = [json.loads(b[6:]) for b in raw.split("\n\n") if b.startswith("data: {")]
    return [e["choices"][0]["text"] for e in ev], ev[-1]["choices"][0]["finish_reason"]
body = {"model": "demo", "prompt": "Stop here", "max_tokens": 60, "temperature": 0.9, "seed": 21}
p, _ = pieces(body)
text = "".join(p)
for i in range(len(p) - 1):
    a, b = p[i], p[i + 1]
    if len(a) >= 2 and len(b) >= 2 and "\ufffd" not in a + b:
        stop = a[-2:] + b[:2]
        if text.find(stop) == len("".join(p[:i + 1])) - 2:
            break
else:
    sys.exit("no two pieces to make a stop sequence of: %r" % p)
want = text[:text.find(stop)]
j = json.loads(call(dict(body, stop=["never-there", stop])))
assert j["choices"][0]["text"] == want, (j, want, stop)
assert j["choices"][0]["finish_reason"] == "stop", j
sp, finish = pieces(dict(body, stop=stop))
assert "".join(sp) == want and finish == "stop", (sp, want, stop)
assert all(stop[:2] not in x for x in sp[-1:]), sp
print("stop %r cut %d chars to %d" % (stop, len(text), len(want)))
PY
test_expect_success "a stop sequence spanning two tokens cuts the text before it" '
	python3 "$TMP/stop.py" "$BASE"
'

# Several sessions at once: each gives what it gives alone.
test_expect_success "concurrent requests each run their own generation" '
	for s in 1 2 3 4; do
		post /v1/completions "{\"model\":\"demo\",\"prompt\":\"Together\",\"max_tokens\":20,\"seed\":$s}" >"$TMP/seq$s.json" || exit 1
	done &&
	for s in 1 2 3 4; do
		curl -s "$BASE/v1/completions" -d "{\"model\":\"demo\",\"prompt\":\"Together\",\"max_tokens\":20,\"seed\":$s}" >"$TMP/par$s.json" &
	done &&
	wait &&
	python3 -c "
import json, os
t = os.environ[\"TMP\"]
for s in range(1, 5):
    a = json.load(open(\"%s/seq%d.json\" % (t, s))); b = json.load(open(\"%s/par%d.json\" % (t, s)))
    assert a[\"choices\"][0][\"text\"] == b[\"choices\"][0][\"text\"], (s, a, b)
    assert a[\"id\"] != b[\"id\"]
"
'

cat >"$TMP/gone.py" <<'PY'
import socket, sys
host, port = sys.argv[1].split(":")
s = socket.create_connection((host, int(port)))
body = b'{"model":"demo","prompt":"Long","max_tokens":1900,"stream":true}'
s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
          b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
got = b""
while b'"text"' not in got:
    got += s.recv(4096)
s.close()
PY
test_expect_success "a client that goes away mid-stream stops its generation" '
	python3 "$TMP/gone.py" "$API" &&
	i=0 && while [ $i -lt 50 ]; do
		curl -s "$BASE/metrics" | grep -q "^exo_generations_cancelled_total [1-9]" && break
		sleep 0.2; i=$((i + 1))
	done &&
	curl -s "$BASE/metrics" | grep "^exo_generations_cancelled_total [1-9]" &&
	curl -s "$BASE/metrics" | awk "/^exo_tokens_total{kind=\"completion\"}/ { exit !(\$2 < 1500) }"
'

cat >"$TMP/idle.py" <<'PY'
import json, socket, sys, urllib.request
host, port = sys.argv[1].split(":")
idle = []
for i in range(300):
    s = socket.create_connection((host, int(port)))
    if i % 2:
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")   # headers never finished
    idle.append(s)
r = urllib.request.urlopen(urllib.request.Request("http://%s/v1/completions" % sys.argv[1],
    data=b'{"model":"demo","prompt":"Still here","max_tokens":4}',
    headers={"Content-Type": "application/json"}), timeout=30)
j = json.loads(r.read())
assert r.status == 200 and j["usage"]["completion_tokens"] > 0, j
for s in idle:
    s.close()
PY
test_expect_success "300 idle connections, a request still succeeds" '
	python3 "$TMP/idle.py" "$API"
'

test_expect_success "/metrics: requests by route and status, tokens, speed, latency" '
	curl -sf "$BASE/metrics" >"$TMP/metrics" &&
	grep -E "^exo_requests_total\{route=\"/v1/chat/completions\",status=\"200\"\} [0-9]+" "$TMP/metrics" &&
	grep -E "^exo_requests_total\{route=\"/v1/completions\",status=\"200\"\} [0-9]+" "$TMP/metrics" &&
	awk "/^exo_tokens_total{kind=\"prompt\"}/ { p = \$2 } /^exo_tokens_total{kind=\"completion\"}/ { c = \$2 }
	     /^exo_tokens_per_second / { t = \$2 } END { exit !(p > 0 && c > 0 && t > 0) }" "$TMP/metrics" &&
	grep -E "^exo_stage_latency_seconds_count\{stage=\"0\"\} [1-9]" "$TMP/metrics" &&
	grep -E "^# TYPE exo_prefill_seconds histogram" "$TMP/metrics"
'

# The openai package from PyPI, in a venv under build/ (made once).
VENV=$(dirname "$EXO_BUILD")/venv
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import openai' 2>/dev/null; then
	python3 -m venv "$VENV" >/dev/null 2>&1 &&
	"$VENV/bin/pip" install -q --disable-pip-version-check --timeout 30 openai >/dev/null 2>&1
fi
cat >"$TMP/client.py" <<'PY'
import sys
from openai import OpenAI
c = OpenAI(base_url=sys.argv[1] + "/v1", api_key="unused", max_retries=0)
assert [m.id for m in c.models.list()] == ["demo"]
msgs = [{"role": "user", "content": "Say hello"}]
r = c.chat.completions.create(model="demo", messages=msgs, max_tokens=16, seed=4, temperature=0.7)
text = r.choices[0].message.content
assert r.choices[0].finish_reason in ("stop", "length") and r.usage.completion_tokens <= 16
assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
parts, finish = [], None
for ch in c.chat.completions.create(model="demo", messages=msgs, max_tokens=16, seed=4,
                                    temperature=0.7, stream=True):
    if ch.choices:
        parts.append(ch.choices[0].delta.content or "")
        finish = ch.choices[0].finish_reason or finish
assert "".join(parts) == text and finish == r.choices[0].finish_reason, (parts, text)
t = c.completions.create(model="demo", prompt="Once", max_tokens=5, seed=1)
assert t.choices[0].text is not None and t.usage.completion_tokens <= 5
try:
    c.chat.completions.create(model="nope", messages=msgs)
    raise AssertionError("an unknown model was accepted")
except Exception as e:
    assert getattr(e, "status_code", None) == 404, e
print("openai", __import__("openai").__version__, "ok")
PY
if "$VENV/bin/python" -c 'import openai' 2>/dev/null; then
	test_expect_success "the openai package: models, chat streaming and not, completions, 404" '
		"$VENV/bin/python" "$TMP/client.py" "$BASE"
	'
else
	test_skip "the openai package could not be installed from PyPI into $VENV (offline?)"
fi

test_expect_success "SIGTERM stops the head and its API" '
	kill $STAGE0 && i=0 && while kill -0 $STAGE0 2>/dev/null && [ $i -lt 50 ]; do sleep 0.2; i=$((i + 1)); done &&
	! kill -0 $STAGE0 2>/dev/null &&
	! curl -s -m 2 "$BASE/healthz"
'
stop_pipeline
test_expect_success "the stages stopped without a sanitizer report" '
	! grep -n "Sanitizer\|runtime error" "$TMP"/stage*.log
'
test_done
