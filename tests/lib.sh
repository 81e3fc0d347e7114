# Shell test helpers: TAP output.  Source from tests/shell/tNNNN-*.sh.
# EXO_BIN points at the binaries under test (make sets it).
: "${EXO_BIN:=$(pwd)/bin}"
: "${EXO_BUILD:=$(pwd)/build/rel}"
: "${EXO_SHARED:=$(cd .. && pwd)/shared}"
PATH=$EXO_BIN:$PATH
export EXO_BIN EXO_BUILD EXO_SHARED PATH
test_count=0
test_failed=0
TMP=$(mktemp -d "${TMPDIR:-/tmp}/exo-test.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

# test_expect_success "description" 'commands'
test_expect_success() {
	test_count=$((test_count + 1))
	if (eval "$2") >"$TMP/out.$test_count" 2>&1; then
		echo "ok $test_count - $1"
	else
		test_failed=$((test_failed + 1))
		echo "not ok $test_count - $1"
		sed 's/^/# /' "$TMP/out.$test_count"
	fi
}

# test_expect_code STATUS "description" 'commands': the commands must exit STATUS.
test_expect_code() {
	test_count=$((test_count + 1))
	(eval "$3") >"$TMP/out.$test_count" 2>&1
	rc=$?
	if [ "$rc" -eq "$1" ]; then
		echo "ok $test_count - $2"
	else
		test_failed=$((test_failed + 1))
		echo "not ok $test_count - $2 (exit $rc, want $1)"
		sed 's/^/# /' "$TMP/out.$test_count"
	fi
}

test_skip() {
	test_count=$((test_count + 1))
	echo "ok $test_count # SKIP $1"
}

test_done() {
	echo "1..$test_count"
	[ "$test_failed" -eq 0 ]
}

# wait_for FILE TEXT [COUNT]: until FILE holds TEXT (COUNT times, once unless
# given), 10 s at most.  grep reads stdin, so a file not made yet counts 0
# (grep -c FILE prints nothing for a missing file, and a test went on before
# its stage was up).
wait_for() {
	i=0
	while [ "$(cat "$1" 2>/dev/null | grep -c "$2")" -lt "${3:-1}" ]; do
		i=$((i + 1))
		[ $i -le 200 ] || { echo "timed out waiting for '$2' in $1"; cat "$1"; return 1; }
		sleep 0.05
	done
}

# stop_all: kill the servers a test started (their pids, first field of
# each line of $TMP/pids) and wait until each is gone.
stop_all() {
	[ -f "$TMP/pids" ] || return 0
	for p in $(cut -d' ' -f1 "$TMP/pids"); do kill $p 2>/dev/null; done
	for p in $(cut -d' ' -f1 "$TMP/pids"); do
		while kill -0 $p 2>/dev/null; do sleep 0.05; done
	done
	rm -f "$TMP/pids"
}
