#!/bin/sh
# exo-detect: fixture sysroots give exactly their expected node records; on
# this machine the record agrees with /proc and sysconf; output formats and
# error paths behave as exo-detect(1) says.
. "$(dirname "$0")/../lib.sh"
FIX=$(cd "$(dirname "$0")/../sysroots" && pwd)
export HF_HUB_CACHE=/data/hf/hub

# canonical JSON: sorted keys, so formatting and key order do not matter
# jv FILE EXPR: a Python expression over the record d (python3 is a build
# dependency; jq is not)
jv() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); r=eval(sys.argv[2]); print(str(r).lower() if isinstance(r, bool) else r)' "$1" "$2"; }
canon() { python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1])), sort_keys=True, indent=1))' "$1"; }

for f in "$FIX"/*.expected.json; do
	name=$(basename "$f" .expected.json)
	test_expect_success "sysroot $name gives its expected record" '
		exo-detect --sysroot "$FIX/$name" -o json --name fixed >"$TMP/$name.json" &&
		canon "$TMP/$name.json" >"$TMP/$name.got" && canon "$f" >"$TMP/$name.want" &&
		diff -u "$TMP/$name.want" "$TMP/$name.got"
	'
done

test_expect_success 'live: one JSON record of kind node, v 1' '
	exo-detect -o json >"$TMP/live.json" &&
	test "$(wc -l <"$TMP/live.json")" -eq 1 &&
	test "$(jv "$TMP/live.json" "d[\"kind\"] + \" \" + str(d[\"v\"])")" = "node 1"
'
test_expect_success 'live: mem_total is MemTotal of /proc/meminfo in bytes' '
	want=$(awk "/^MemTotal:/ { printf \"%.0f\", \$2 * 1024 }" /proc/meminfo) &&
	test "$(jv "$TMP/live.json" "d[\"mem_total\"]")" = "$want"
'
test_expect_success 'live: threads is the number of online CPUs' '
	test "$(jv "$TMP/live.json" "d[\"cpu\"][\"threads\"]")" = "$(getconf _NPROCESSORS_ONLN)"
'
test_expect_success 'live: swap_total is SwapTotal in bytes' '
	want=$(awk "/^SwapTotal:/ { printf \"%.0f\", \$2 * 1024 }" /proc/meminfo) &&
	test "$(jv "$TMP/live.json" "d[\"swap_total\"]")" = "$want"
'
test_expect_success 'live: every cpuid feature is also a /proc/cpuinfo flag' '
	flags=" $(grep -m1 -E "^(flags|Features)" /proc/cpuinfo | cut -d: -f2) " &&
	for f in $(jv "$TMP/live.json" "\" \".join(d[\"cpu\"][\"features\"])"); do
		case $f in neon) f=asimd ;; dotprod) f=asimddp ;; esac
		case $flags in *" $f "*) ;; *) echo "missing $f"; exit 1 ;; esac
	done
'
test_expect_success 'live: no GPU here is a note, not an error' '
	if [ "$(jv "$TMP/live.json" "len(d[\"gpus\"])")" -eq 0 ]; then
		test "$(jv "$TMP/live.json" "d[\"preferred_accelerator\"] == \"cpu\" and any(\"CPU-only\" in n for n in d[\"notes\"])")" = true
	fi
'
test_expect_success 'live: storage has total >= free > 0 and a device kind' '
	test "$(jv "$TMP/live.json" "d[\"storage\"][\"total\"] >= d[\"storage\"][\"free\"] > 0 and isinstance(d[\"storage\"][\"device_kind\"], str)")" = true
'
test_expect_success '--name and --advertise are carried' '
	exo-detect -o json --name n1 --advertise 10.0.0.2:52416 >"$TMP/named.json" &&
	test "$(jv "$TMP/named.json" "d[\"name\"] == \"n1\" and d[\"advertise\"] == \"10.0.0.2:52416\"")" = true
'
test_expect_success 'a pipe gets msgpack (first byte is a map marker)' '
	exo-detect | head -c1 | od -An -tx1 | grep -Eq "^ *(8[0-9a-f]|de|df)$"
'
test_expect_success 'a terminal gets a readable table' '
	script -qc "exo-detect" /dev/null >"$TMP/tty.txt" &&
	grep -q "preferred_accelerator" "$TMP/tty.txt" && grep -q "mem_total" "$TMP/tty.txt" &&
	! LC_ALL=C grep -q "[^[:print:][:space:]]" "$TMP/tty.txt"
'
test_expect_success 'yaml output has the same fields' '
	exo-detect -o yaml --sysroot "$FIX/cpu-only" | grep -q "^preferred_accelerator: cpu"
'
test_expect_success '--help prints the usage on stdout' '
	exo-detect --help >"$TMP/help" && grep -q "^usage: exo-detect" "$TMP/help"
'
test_expect_success '--version' 'exo-detect --version | grep -q "^exo-detect [0-9]"'
test_expect_code 64 'a bad option is a usage error' 'exo-detect --bogus'
test_expect_code 64 'a bad output format is a usage error' 'exo-detect -o xml'
test_expect_code 64 'an operand is a usage error' 'exo-detect extra'
test_expect_code 66 'a missing sysroot is status 66' 'exo-detect --sysroot "$TMP/nonexistent" -o json'
test_expect_success 'a missing sysroot gives one line naming it' '
	! exo-detect --sysroot "$TMP/nonexistent" 2>"$TMP/err" >/dev/null &&
	test "$(wc -l <"$TMP/err")" -eq 1 && grep -q "^exo-detect: .*nonexistent: No such file" "$TMP/err"
'
test_expect_success 'every long option is in the man page' '
	for o in name advertise sysroot output quiet help version; do
		grep -qF -- "\\-$o" "$FIX/../../man/exo-detect.1" || { echo "no --$o"; exit 1; }
	done
'
test_done
