# Shell helpers for the exo-fetch tests: a real nginx on loopback serving
# the fixture checkpoints the way the Hugging Face hub serves repositories
# (tests/hub/mkhub.py builds the tree and the configuration).
# Source after tests/lib.sh.  hub_start ORG/NAME=DIR... sets HUB (its
# directory), HUB_URL (the plain endpoint), HUB_LOG (the access log) and
# hub_commit ORG/NAME prints a repository's commit.
HUB_DIR_SRC=${HUB_DIR_SRC:-$(cd "$(dirname "$0")/../hub" && pwd)}
HUB_TOKEN=hf_exotest
# The system's python3 starts in a fraction of the time a pyenv shim takes.
if [ -x /usr/bin/python3 ]; then
	python3() { /usr/bin/python3 "$@"; }
fi

hub_free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

hub_start() {
	HUB=$TMP/hub
	mkdir -p "$HUB"
	for try in 1 2 3; do
		HUB_PORT=$(hub_free_port) || return 1
		python3 "$HUB_DIR_SRC/mkhub.py" "$HUB" "$HUB_PORT" "$@" >"$HUB/commits" || return 1
		/usr/sbin/nginx -p "$HUB" -c "$HUB/nginx.conf" -e "$HUB/error.log" 2>>"$HUB/error.log" &
		HUB_PID=$!
		trap 'hub_stop; rm -rf "$TMP"' EXIT
		for i in $(seq 50); do
			if curl -s -o /dev/null "http://127.0.0.1:$HUB_PORT/"; then
				HUB_URL=http://127.0.0.1:$HUB_PORT
				HUB_LOG=$HUB/access.log
				export HF_ENDPOINT=$HUB_URL HF_HUB_CACHE=$TMP/cache HF_HOME=$TMP/hfhome
				unset HF_TOKEN HUGGING_FACE_HUB_TOKEN HF_HUB_OFFLINE TRANSFORMERS_OFFLINE EXO_CONFIG
				return 0
			fi
			kill -0 "$HUB_PID" 2>/dev/null || break
			sleep 0.1
		done
		hub_stop
	done
	cat "$HUB/error.log" >&2
	return 1
}

hub_stop() {
	[ -n "${HUB_PID:-}" ] && kill "$HUB_PID" 2>/dev/null && wait "$HUB_PID" 2>/dev/null
	HUB_PID=
}

hub_commit() {
	awk -v r="$1" '$1 == r { print $2 }' "$HUB/commits"
}

# Bytes of body nginx sent for URIs matching the pattern.
hub_bytes_sent() {
	awk -v p="$1" '$2 ~ p { s += $4 } END { print s + 0 }' "$HUB_LOG"
}

# Number of requests (method, URI pattern) in the access log.
hub_requests() {
	awk -v m="$1" -v p="$2" '$1 == m && $2 ~ p { n++ } END { print n + 0 }' "$HUB_LOG"
}

# Skip the whole test with a reason unless nginx is there.
hub_require() {
	if [ ! -x /usr/sbin/nginx ] || ! command -v python3 >/dev/null; then
		test_skip "nginx or python3 missing"
		test_done
		exit 0
	fi
}
