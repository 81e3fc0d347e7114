# Helpers for the API tests (t08*): the demo model, a 3-stage pipeline on
# loopback with the API on the head, and JSON checks in python3.
# Source after tests/lib.sh.

export TMP

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# free_ports N: the first of N consecutive free ports on 127.0.0.1, drawn
# below the ephemeral range (32768 up) so that no client connection made
# meanwhile takes one of them.
free_ports() {
	python3 - "$1" <<'PY'
import random, socket, sys
n = int(sys.argv[1])
for _ in range(1000):
    base = random.randrange(20000, 32000 - n)
    try:
        socks = []
        for p in range(base, base + n):
            s = socket.socket()
            socks.append(s)
            s.bind(("127.0.0.1", p))
    except OSError:
        continue
    finally:
        for s in socks:
            s.close()
    print(base)
    break
else:
    sys.exit("free_ports: no %d consecutive free ports in 20000-32000" % n)
PY
}

# demo_model: the demo model (scripts/make-demo-model), made once into
# build/demo-model as make demo does; its path on stdout.
demo_model() {
	dm=$(dirname "$EXO_BUILD")/demo-model
	[ -d "$dm" ] || EXO_BUILD=$EXO_BUILD sh scripts/make-demo-model "$dm" >&2 || return 1
	echo "$dm"
}

# smollm2_gguf: the real model of make demo and make check-real
# (build/smollm2), its path on stdout; fails when it has not been fetched.
smollm2_gguf() {
	g=$(dirname "$EXO_BUILD")/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
	[ -f "$g" ] && echo "$g"
}

# start_pipeline MODEL [HEAD OPTIONS...]: stages 0 (layer 0), 1 (1-2), 2 (3)
# as three processes; the API of stage 0 on $API ($BASE is its URL).
# Their pids are in $TMP/pids, their logs in $TMP/stage{0,1,2}.log.
start_pipeline() {
	model=$1
	shift
	P0=$(free_port) P1=$(free_port) P2=$(free_port) APIPORT=$(free_port)
	API=127.0.0.1:$APIPORT
	BASE=http://$API
	exo-shard-serve --model "$model" --layers 3:4 --listen 127.0.0.1:$P2 --threads 1 \
		>"$TMP/stage2.log" 2>&1 &
	echo $! >>"$TMP/pids"
	exo-shard-serve --model "$model" --layers 1:3 --listen 127.0.0.1:$P1 \
		--next 127.0.0.1:$P2 --threads 1 >"$TMP/stage1.log" 2>&1 &
	echo $! >>"$TMP/pids"
	exo-shard-serve --model "$model" --layers 0:1 --listen 127.0.0.1:$P0 \
		--next 127.0.0.1:$P1 --threads 1 --api "$API" --model-name demo "$@" \
		>"$TMP/stage0.log" 2>&1 &
	echo $! >>"$TMP/pids"
	STAGE0=$! STAGE2=$(head -n 1 "$TMP/pids")
	wait_healthy 60
}

# wait_healthy N: until /healthz answers 200, for at most N half-seconds.
wait_healthy() {
	i=0
	while [ $i -lt "$1" ]; do
		[ "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/healthz")" = 200 ] && return 0
		sleep 0.5
		i=$((i + 1))
	done
	echo "the pipeline did not become healthy:" >&2
	cat "$TMP"/stage*.log >&2
	return 1
}

stop_pipeline() {
	[ -f "$TMP/pids" ] || return 0
	for p in $(cat "$TMP/pids"); do
		kill "$p" 2>/dev/null
	done
	for p in $(cat "$TMP/pids"); do
		wait "$p" 2>/dev/null
	done
	rm -f "$TMP/pids"
}
trap 'stop_pipeline; rm -rf "$TMP"' EXIT

# post ROUTE BODY [CURL OPTIONS...]: the answer's body on stdout, its status in $TMP/status.
post() {
	route=$1 body=$2
	shift 2
	curl -s -o "$TMP/body" -w '%{http_code}' "$@" "$BASE$route" \
		-H 'Content-Type: application/json' --data-binary "$body" >"$TMP/status"
	cat "$TMP/body"
}

# status_is N: the last post answered N.
status_is() {
	[ "$(cat "$TMP/status")" = "$1" ] || { echo "status $(cat "$TMP/status"), want $1" >&2; return 1; }
}

# pycheck 'PYTHON' < JSON: runs the code with j the parsed JSON; a false
# assertion prints the JSON.
pycheck() {
	python3 -c '
import json, sys
text = sys.stdin.read()
try:
    j = json.loads(text)
except ValueError:
    j = None
try:
    exec(sys.argv[1])
except AssertionError as e:
    print("assertion failed:", e, file=sys.stderr)
    print(text[:2000], file=sys.stderr)
    sys.exit(1)
' "$1"
}

# sse_check 'PYTHON' < STREAM: events (the parsed data: lines before
# [DONE]) and raw (the text) checked as in pycheck; the stream must end
# with data: [DONE] and every event must be JSON.
sse_check() {
	python3 -c '
import json, sys
raw = sys.stdin.read()
try:
    assert raw.endswith("data: [DONE]\n\n"), "the stream does not end with [DONE]"
    blocks = raw.split("\n\n")[:-2]
    assert all(b.startswith("data: ") for b in blocks), "an event is not a data: line"
    events = [json.loads(b[6:]) for b in blocks]
    exec(sys.argv[1])
except AssertionError as e:
    print("assertion failed:", e, file=sys.stderr)
    print(raw[:3000], file=sys.stderr)
    sys.exit(1)
' "$1"
}
