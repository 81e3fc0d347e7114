#!/bin/sh
# exo-detect: fixture sysroots give exactly their expected node records; on
# this machine the record agrees with /proc and sysconf; output formats and
# error paths behave as exo-detect(1) says.
. "$(dirname "$0")/../lib.sh"
FIX=$(cd "$(dirname "$0")/../sysroots" && pwd)
export HF_HUB_CACHE=/data/hf/hub
# never the user's exo.yaml: HOME is the scratch dir, and EXO_CONFIG names an
# empty file (all defaults) unless a test says otherwise, so /etc is not read
HOME=$TMP
: >"$TMP/defaults.yaml"
EXO_CONFIG=$TMP/defaults.yaml
export HOME EXO_CONFIG
unset XDG_CONFIG_HOME

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
# configuration: EXO_CONFIG or --config over the fixture sysroots
# cfg NAME YAML: write $TMP/NAME.yaml
cfg() { printf "%s\n" "$2" >"$TMP/$1.yaml"; }
cfg order "hardware: {detectionOrder: [intel, cpu, rocm]}"
cfg order2 "hardware: {detectionOrder: [intel, rocm]}"
cfg prefintel "hardware: {autoDetect: false, preferredAccelerator: intel}"
cfg prefcpu "hardware: {autoDetect: false, preferredAccelerator: cpu}"
cfg rocm1 "hardware: {rocm: {devices: [1]}}"
cfg half "hardware: {cuda: {memoryFraction: 0.5}}"
cfg cache "storage: {modelCache: {path: /srv/exo/models}}"
printf "hardware:\n  cuda:\n    memoryFraction: abc\n" >"$TMP/bad.yaml"
amd() { EXO_CONFIG=$TMP/$1.yaml exo-detect --sysroot "$FIX/amd-rocm" -o json >"$TMP/amd-$1.json"; }

test_expect_success 'defaults: rocm preferred, both GPUs used at 0.9 of their memory' '
	amd defaults &&
	test "$(jv "$TMP/amd-defaults.json" "d[\"preferred_accelerator\"] + \" \" + str(d[\"memory_fraction\"])")" = "rocm 0.9" &&
	test "$(jv "$TMP/amd-defaults.json" "all(g[\"used\"] and g[\"memory_usable\"] == int(g[\"memory_total\"] * 0.9) for g in d[\"gpus\"])")" = true
'
test_expect_success 'detectionOrder [intel, cpu, rocm]: cpu comes first among those present' '
	amd order &&
	test "$(jv "$TMP/amd-order.json" "d[\"preferred_accelerator\"]")" = cpu &&
	test "$(jv "$TMP/amd-order.json" "[g[\"used\"] for g in d[\"gpus\"]] == [False, False]")" = true &&
	test "$(jv "$TMP/amd-order.json" "[g[\"memory_usable\"] for g in d[\"gpus\"]] == [0, 0]")" = true
'
test_expect_success 'detectionOrder [intel, rocm]: the absent intel is skipped' '
	amd order2 && test "$(jv "$TMP/amd-order2.json" "d[\"preferred_accelerator\"]")" = rocm
'
test_expect_success 'autoDetect false, preferredAccelerator intel on AMD: detection, with a note' '
	amd prefintel &&
	test "$(jv "$TMP/amd-prefintel.json" "d[\"preferred_accelerator\"]")" = rocm &&
	test "$(jv "$TMP/amd-prefintel.json" "sum(\"preferredAccelerator intel\" in n and \"detectionOrder\" in n for n in d[\"notes\"])")" = 1
'
test_expect_success 'autoDetect false, preferredAccelerator intel on Intel Arc: intel, no note' '
	exo-detect --config "$TMP/prefintel.yaml" --sysroot "$FIX/intel-arc" -o json >"$TMP/arc-pref.json" &&
	test "$(jv "$TMP/arc-pref.json" "d[\"preferred_accelerator\"]")" = intel &&
	test "$(jv "$TMP/arc-pref.json" "any(\"preferredAccelerator\" in n for n in d[\"notes\"])")" = false
'
test_expect_success 'autoDetect false, preferredAccelerator cpu: the GPUs are not used' '
	amd prefcpu &&
	test "$(jv "$TMP/amd-prefcpu.json" "d[\"preferred_accelerator\"] == \"cpu\" and not any(g[\"used\"] for g in d[\"gpus\"])")" = true
'
test_expect_success 'rocm.devices [1]: GPU 0 is listed but not used, with a note' '
	amd rocm1 &&
	test "$(jv "$TMP/amd-rocm1.json" "[(g[\"device_ordinal\"], g[\"used\"]) for g in d[\"gpus\"]] == [(0, False), (1, True)]")" = true &&
	test "$(jv "$TMP/amd-rocm1.json" "d[\"gpus\"][0][\"memory_usable\"]")" = 0 &&
	test "$(jv "$TMP/amd-rocm1.json" "d[\"preferred_accelerator\"]")" = rocm &&
	jv "$TMP/amd-rocm1.json" "d[\"notes\"]" | grep -q "rocm.devices does not list device 0"
'
test_expect_success 'memoryFraction 0.5 halves the usable memory' '
	amd half &&
	test "$(jv "$TMP/amd-half.json" "d[\"memory_fraction\"]")" = 0.5 &&
	test "$(jv "$TMP/amd-half.json" "[g[\"memory_usable\"] * 2 for g in d[\"gpus\"]] == [g[\"memory_total\"] for g in d[\"gpus\"]]")" = true
'
test_expect_success 'storage.modelCache.path is the storage path' '
	amd cache && test "$(jv "$TMP/amd-cache.json" "d[\"storage\"][\"path\"]")" = /srv/exo/models
'
test_expect_success 'without a config file the cache is HF_HUB_CACHE and HOME has none' '
	EXO_CONFIG= exo-detect --sysroot "$FIX/amd-rocm" -o json >"$TMP/amd-none.json" &&
	test "$(jv "$TMP/amd-none.json" "d[\"storage\"][\"path\"]")" = /data/hf/hub &&
	test ! -e "$HOME/.config/exo/exo.yaml"
'
test_expect_success '--config overrides EXO_CONFIG' '
	EXO_CONFIG=$TMP/bad.yaml exo-detect --config "$TMP/half.yaml" --sysroot "$FIX/amd-rocm" -o json >"$TMP/amd-flag.json" &&
	test "$(jv "$TMP/amd-flag.json" "d[\"memory_fraction\"]")" = 0.5
'
test_expect_code 78 'a bad config file is status 78' 'EXO_CONFIG=$TMP/bad.yaml exo-detect --sysroot "$FIX/amd-rocm" -o json'
test_expect_success 'a bad config file gives one line naming file:line:col and the key' '
	! exo-detect --config "$TMP/bad.yaml" -o json >"$TMP/bad.out" 2>"$TMP/err" &&
	test "$(wc -l <"$TMP/err")" -eq 1 && test ! -s "$TMP/bad.out" &&
	grep -q "^exo-detect: $TMP/bad.yaml:3:21: key .hardware.cuda.memoryFraction.:" "$TMP/err"
'
test_expect_code 78 'a missing --config file is status 78' 'exo-detect --config "$TMP/nonexistent.yaml" -o json'
test_expect_success 'the user config in HOME is read when EXO_CONFIG is unset' '
	mkdir -p "$TMP/home/.config/exo" && cp "$TMP/half.yaml" "$TMP/home/.config/exo/exo.yaml" &&
	(unset EXO_CONFIG; HOME=$TMP/home exo-detect --sysroot "$FIX/amd-rocm" -o json) >"$TMP/amd-home.json" &&
	test "$(jv "$TMP/amd-home.json" "d[\"memory_fraction\"]")" = 0.5
'
test_expect_success 'every long option is in the man page' '
	for o in name advertise sysroot config output quiet help version; do
		grep -qF -- "\\-$o" "$FIX/../../man/exo-detect.1" || { echo "no --$o"; exit 1; }
	done
'
test_done
