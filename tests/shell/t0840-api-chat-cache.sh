#!/bin/sh
# A chat's next turn continues the session its history left in the stages:
# usage.prompt_tokens_details.cached_tokens says how much of the prompt the
# chain already held, and the answer is the one a fresh pipeline gives.
. ./tests/lib.sh
. ./tests/shell/api-lib.sh

MODEL=$(demo_model) && start_pipeline "$MODEL"
export BASE

# chat.py CONVERSATION TURNS: greedy turns of one conversation (continued
# from $TMP/CONVERSATION.msgs when it exists); each line of
# $TMP/CONVERSATION.log is "prompt_tokens cached_tokens content".
cat >"$TMP/chat.py" <<'PY'
import json, os, sys, urllib.request
name, turns = sys.argv[1], int(sys.argv[2])
base, tmp = os.environ["BASE"], os.environ["TMP"]
saved = tmp + "/" + name + ".msgs"
msgs = json.load(open(saved)) if os.path.exists(saved) else \
    [{"role": "system", "content": "You answer in one line. Conversation " + name}]
with open(tmp + "/" + name + ".log", "a") as log:
    for k in range(turns):
        msgs.append({"role": "user", "content": "Question %d of %s: tell me about pipelines" % (k, name)})
        body = json.dumps({"model": "demo", "messages": msgs, "max_tokens": 12, "temperature": 0}).encode()
        req = urllib.request.Request(base + "/v1/chat/completions", body, {"Content-Type": "application/json"})
        j = json.load(urllib.request.urlopen(req))
        u, text = j["usage"], j["choices"][0]["message"]["content"]
        log.write("%d %d %s\n" % (u["prompt_tokens"], u["prompt_tokens_details"]["cached_tokens"], json.dumps(text)))
        msgs.append({"role": "assistant", "content": text})
json.dump(msgs, open(saved, "w"))
PY

test_expect_success "a 4-turn chat: the first turn computes everything, each next one only what is new" '
	python3 "$TMP/chat.py" a 4 && sed "s/^/# /" "$TMP/a.log" &&
	python3 - "$TMP/a.log" <<-PY
	import sys
	rows = [l.split(" ", 2) for l in open(sys.argv[1])]
	p = [int(r[0]) for r in rows]; c = [int(r[1]) for r in rows]
	assert c[0] == 0, c
	for k in range(1, 4):
	    # the previous turn'"'"'s prompt at least (its reply may tokenize differently)
	    assert p[k - 1] - 2 <= c[k] < p[k], (k, p, c)
	PY
'

test_expect_success "another conversation beside it keeps its own session" '
	python3 "$TMP/chat.py" b 1 && python3 "$TMP/chat.py" a 1 &&
	tail -n 1 "$TMP/a.log" >"$TMP/a5" && cat "$TMP/a5" >&2 &&
	set -- $(cat "$TMP/a5") && test "$2" -gt 0 &&
	set -- $(cat "$TMP/b.log") && test "$2" -eq 0
'

test_expect_success "the last turn answers as a fresh pipeline does" '
	stop_pipeline && start_pipeline "$MODEL" && export BASE &&
	python3 - <<-PY
	import json, os, urllib.request
	t = os.environ["TMP"]
	msgs = json.load(open(t + "/a.msgs"))
	want = msgs.pop()["content"]
	body = json.dumps({"model": "demo", "messages": msgs, "max_tokens": 12, "temperature": 0}).encode()
	req = urllib.request.Request(os.environ["BASE"] + "/v1/chat/completions", body, {"Content-Type": "application/json"})
	j = json.load(urllib.request.urlopen(req))
	assert j["usage"]["prompt_tokens_details"]["cached_tokens"] == 0, j["usage"]
	assert j["choices"][0]["message"]["content"] == want, (j["choices"][0]["message"]["content"], want)
	PY
'

test_done
