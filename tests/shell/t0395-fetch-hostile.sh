#!/bin/sh
# exo-fetch against a hostile hub (tests/hub/hostile_hub.py, loopback only):
# names from the network that would become paths outside the cache, sizes
# and servers that lie, and links planted in the cache.  Each attack is
# refused with the documented status and nothing is written outside.
. "$(dirname "$0")/../lib.sh"
if ! command -v python3 >/dev/null; then
	test_skip "python3 missing"; test_done; exit 0
fi
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3   # starts faster than a pyenv shim
HOME=$TMP
: >"$TMP/defaults.yaml"
export HOME EXO_CONFIG=$TMP/defaults.yaml HF_HOME=$TMP/hfhome HF_HUB_DOWNLOAD_TIMEOUT=1
unset HF_TOKEN HUGGING_FACE_HUB_TOKEN HF_HUB_OFFLINE TRANSFORMERS_OFFLINE HF_HUB_CACHE
LOG=$TMP/hub.log
"$PY" "$(dirname "$0")/../hub/hostile_hub.py" "$TMP/port" "$LOG" 120 >/dev/null 2>&1 &
HH=$!
trap 'kill $HH $TR $SA $RC 2>/dev/null; rm -rf "$TMP"' EXIT
n=0; while ! test -s "$TMP/port" && [ $n -lt 100 ]; do sleep 0.05; n=$((n + 1)); done
test -s "$TMP/port" || { echo "Bail out! the hostile hub did not start"; exit 1; }
PORT=$(sed -n 1p "$TMP/port") C=$(sed -n 2p "$TMP/port") SHA=$(sed -n 3p "$TMP/port")
hub() { echo "http://127.0.0.1:$PORT/$1"; }
repo() { echo "$TMP/$1/cache/models--o--n"; }
# fetch MODE CACHE_NAME [ARGS]: exo-fetch o/n from that hub, bounded in time
fetch() {
	mode=$1 c=$2; shift 2
	HF_ENDPOINT=$(hub "$mode") timeout 60 exo-fetch -q --cache "$TMP/$c/cache" "$@" o/n
}
# requests MODE METHOD PATTERN: how many the hub saw
requests() { awk -v m="$1" -v x="$2" -v p="$3" '$1 == m && $2 == x && $3 ~ p { n++ } END { print n + 0 }' "$LOG"; }

# the slow attacks (each ends at its deadline, 6 s here, or after its
# retries' backoff) run in the background while the others are tried
start=$(date +%s)
fetch trickle tr --min-rate 1M >/dev/null 2>"$TMP/err.tr" & TR=$!
fetch slowapi sa --retries 0 >/dev/null 2>"$TMP/err.sa" & SA=$!
fetch rangeclose rc --retries 2 >/dev/null 2>"$TMP/err.rc" & RC=$!

test_expect_success 'a well-behaved hub: the hostile hub serves a fetchable repository' '
	fetch good ok >/dev/null && test -L "$(repo ok)/snapshots/$C/model.safetensors" &&
	test "$(cat "$(repo ok)/refs/main")" = "$C"
'

# 23.1: names from the network
test_expect_code 65 'a commit id climbing out of the cache: exit 65 naming field sha, nothing outside' '
	fetch sha sha >/dev/null 2>"$TMP/err"; rc=$?
	cat "$TMP/err"; test "$(wc -l <"$TMP/err")" -eq 1 && grep -q "field .sha.: not a commit id" "$TMP/err" &&
	! ls -d "$TMP"/pwn* 2>/dev/null && ! test -e "$(repo sha)/refs/main" &&
	! find "$TMP/sha" -name "pwn*" | grep -q . && exit $rc
'

test_expect_code 65 'an X-Repo-Commit that is not a commit: exit 65 naming the header' '
	fetch xcommit xc >/dev/null 2>"$TMP/err"; rc=$?
	cat "$TMP/err"; grep -q "header X-Repo-Commit: not a commit id" "$TMP/err" &&
	! test -e "$(repo xc)/snapshots" && exit $rc
'

test_expect_code 65 'an etag that is a path: exit 65 naming the header, no blob or link made' '
	fetch etag et >/dev/null 2>"$TMP/err"; rc=$?
	cat "$TMP/err"; grep -q "header ETag: not a blob id (\"../../../../../../etc/passwd\")" "$TMP/err" &&
	! test -e "$(repo et)/snapshots" && exit $rc
'

test_expect_code 65 'a plan naming a climbing revision: exit 65 naming the field' '
	printf "%s\n" "{\"kind\":\"plan\",\"v\":1,\"model\":\"o/n\",\"revision\":\"../../x\",\"strategy\":\"manual\",\"layers\":2,\"stages\":[{\"index\":0,\"node\":\"a\",\"layer_start\":0,\"layer_end\":2}]}" >"$TMP/plan.json" &&
	HF_ENDPOINT=$(hub good) exo-fetch --cache "$TMP/pl" --plan "$TMP/plan.json" --stage 0 2>"$TMP/err" >/dev/null; rc=$?
	cat "$TMP/err"; grep -q "field .revision.: .../../x. is not a branch" "$TMP/err" && exit $rc
'

# 23.6: sizes and servers that lie
test_expect_code 65 'the CDN sends 64 MiB for 4096 announced: stopped at the announced size, nothing left' '
	start=$(date +%s%N)
	/usr/bin/time -f "%M" -o "$TMP/rss" sh -c "HF_ENDPOINT=$(hub oversize) timeout 60 exo-fetch -q --cache $TMP/big/cache o/n" >/dev/null 2>"$TMP/err"; rc=$?
	ms=$(( ($(date +%s%N) - start) / 1000000 ))
	cat "$TMP/err"; sent=$(awk "\$1 == \"oversize\" && \$3 ~ /cdn/ { s += \$5 } END { print s + 0 }" "$LOG")
	echo "oversize: exit $rc in $ms ms, max RSS $(tail -1 "$TMP/rss") KiB, the server got $sent bytes out"
	grep -q "more than the 4096 bytes announced" "$TMP/err" &&
	! test -e "$(repo big)/blobs/$SHA.incomplete" && ! test -e "$(repo big)/blobs/$SHA" &&
	test "$sent" -lt $((32 << 20)) && exit $rc
'

test_expect_code 65 'the same with a Content-Length of 64 MiB: refused before a byte is written' '
	fetch oversizecl bigcl >/dev/null 2>"$TMP/err"; rc=$?
	cat "$TMP/err"; grep -q "more than the 4096 bytes announced" "$TMP/err" &&
	! test -e "$(repo bigcl)/blobs/$SHA.incomplete" && exit $rc
'

wait $RC; RC_RC=$?
test_expect_code 69 'a CDN that ignores Range and closes after 1 byte: --retries 2 is 3 requests' '
	cat "$TMP/err.rc"; n=$(requests rangeclose GET "^/cdn/"); echo "$n requests"
	test "$n" -eq 3 && grep -q "rangeclose/cdn/$SHA: Transferred a partial file" "$TMP/err.rc" && exit $RC_RC
'

test_expect_code 69 'a CDN that redirects forever: 10 redirects followed, then exit 69' '
	fetch redirects rd >/dev/null 2>"$TMP/err"; rc=$?
	cat "$TMP/err"; n=$(requests redirects GET "^/cdn/"); echo "$n requests"
	test "$n" -le 11 && grep -qi "redirect" "$TMP/err" && exit $rc
'

wait $TR; TR_RC=$? TR_S=$(( $(date +%s) - start ))
wait $SA; SA_RC=$? SA_S=$(( $(date +%s) - start ))
test_expect_code 69 'a 4 B/s trickle: the file deadline ends it, the prefix kept to resume' '
	cat "$TMP/err.tr"; echo "trickle: exit $TR_RC after $TR_S s"
	grep -q "not complete after" "$TMP/err.tr" && test -e "$(repo tr)/blobs/$SHA.incomplete" && exit $TR_RC
'
test_expect_code 69 'an /api answer at 4 B/s: the request deadline ends it' '
	cat "$TMP/err.sa"; echo "slow api: exit $SA_RC after $SA_S s"
	grep -q "api/models/o/n.*Timeout" "$TMP/err.sa" && exit $SA_RC
'

# 23.7: links planted in the cache
echo keep >"$TMP/victim"
test_expect_code 65 'blobs/ETAG.incomplete planted as a link: exit 65 naming it, the target untouched' '
	mkdir -p "$(repo inc)/blobs" && ln -s "$TMP/victim" "$(repo inc)/blobs/$SHA.incomplete" &&
	fetch good inc >/dev/null 2>"$TMP/err"; rc=$?
	cat "$TMP/err"; grep -q "blobs/$SHA.incomplete: a symbolic link" "$TMP/err" &&
	test "$(cat "$TMP/victim")" = keep && exit $rc
'

test_expect_success 'blobs/ETAG planted as a link to a file of the right size: not trusted, replaced' '
	head -c 4096 /dev/zero >"$TMP/zeros" && mkdir -p "$(repo bl)/blobs" &&
	ln -s "$TMP/zeros" "$(repo bl)/blobs/$SHA" &&
	fetch good bl >/dev/null && ! test -L "$(repo bl)/blobs/$SHA" &&
	test "$(sha256sum <"$(repo bl)/snapshots/$C/model.safetensors" | cut -d" " -f1)" = "$SHA" &&
	cmp -s "$TMP/zeros" /dev/zero -n 4096
'

test_expect_code 65 'snapshots/COMMIT planted as a link to a directory outside: nothing written there' '
	mkdir -p "$(repo snap)/snapshots" "$TMP/outside-snap" && ln -s "$TMP/outside-snap" "$(repo snap)/snapshots/$C" &&
	fetch good snap >/dev/null 2>"$TMP/err"; rc=$?
	cat "$TMP/err"; grep -q "snapshots/$C: a symbolic link" "$TMP/err" &&
	test -z "$(ls -A "$TMP/outside-snap")" && exit $rc
'

test_expect_code 65 'the repository folder planted as a link: refused' '
	mkdir -p "$TMP/rf/cache" "$TMP/outside-repo" && ln -s "$TMP/outside-repo" "$(repo rf)" &&
	fetch good rf >/dev/null 2>"$TMP/err"; rc=$?
	cat "$TMP/err"; grep -q "models--o--n: a symbolic link" "$TMP/err" &&
	test -z "$(ls -A "$TMP/outside-repo")" && exit $rc
'

test_expect_code 65 'a lock file planted as a link: refused, nothing created at its target' '
	mkdir -p "$TMP/lk/cache/.locks/models--o--n" && ln -s "$TMP/made-by-lock" "$TMP/lk/cache/.locks/models--o--n/repo.lock" &&
	fetch good lk >/dev/null 2>"$TMP/err"; rc=$?
	cat "$TMP/err"; grep -q "repo.lock: a symbolic link" "$TMP/err" && ! test -e "$TMP/made-by-lock" && exit $rc
'

test_expect_code 65 '--local-dir with a subdirectory linked outside: refused, nothing written outside' '
	mkdir -p "$TMP/ld" "$TMP/outside-ld" && ln -s "$TMP/outside-ld" "$TMP/ld/sub" &&
	HF_ENDPOINT=$(hub good) timeout 60 exo-fetch -q --local-dir "$TMP/ld" o/n >/dev/null 2>"$TMP/err"; rc=$?
	cat "$TMP/err"; grep -q "ld/sub: a symbolic link" "$TMP/err" && test -z "$(ls -A "$TMP/outside-ld")" && exit $rc
'

test_expect_success 'gc never evicts what a planted snapshot link points to outside the cache' '
	fetch good gc >/dev/null && ln -s "$TMP/victim" "$(repo gc)/snapshots/$C/planted" &&
	exo-fetch --cache "$TMP/gc/cache" --gc --max-size 1 >/dev/null &&
	test "$(cat "$TMP/victim")" = keep && ! test -e "$(repo gc)/snapshots/$C"
'
test_done
