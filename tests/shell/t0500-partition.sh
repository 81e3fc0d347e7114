#!/bin/sh
# exo-partition: plans the tiny checkpoints on this machine's record with
# every strategy, prints profiles, reads node records in msgpack, JSON and
# YAML, gives byte-identical output, and fails as exo-partition(1) says:
# 65 for bad records, 66 for missing files, 1 with one line when nothing fits.
. "$(dirname "$0")/../lib.sh"
M=$EXO_SHARED/fixtures/models/llama3-tiny
HOME=$TMP
: >"$TMP/defaults.yaml"
EXO_CONFIG=$TMP/defaults.yaml
HF_HUB_CACHE=$TMP/hub
export HOME EXO_CONFIG HF_HUB_CACHE

jv() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); r=eval(sys.argv[2]); print(str(r).lower() if isinstance(r, bool) else r)' "$1" "$2"; }

# node NAME MEM_BYTES BANDWIDTH [ADDRESS]: a CPU node record as JSON
node() {
	printf '{"kind":"node","v":1,"name":"%s","arch":"x86_64","mem_total":%s,"mem_available":%s,"mem_bandwidth":%s,"net":[{"name":"eth0","state":"up","addresses":["%s/24"]}]}\n' \
		"$1" "$2" "$2" "$3" "${4:-10.0.0.1}"
}

for s in latency throughput ring-memory; do
	test_expect_success "exo-detect | exo-partition --strategy $s: one local stage of 4 layers" '
		exo-detect | exo-partition --model "$M" --strategy '$s' -o json >"$TMP/'$s'.json" &&
		test "$(jv "$TMP/'$s'.json" "d[\"kind\"], d[\"strategy\"], d[\"layers\"], len(d[\"stages\"])")" = "('"'plan', '$s'"', 4, 1)" &&
		test "$(jv "$TMP/'$s'.json" "[(s[\"layer_start\"], s[\"layer_end\"], s[\"device\"], s[\"address\"]) for s in d[\"stages\"]]")" = "[(0, 4, '"'cpu', '127.0.0.1:52416'"')]" &&
		test "$(jv "$TMP/'$s'.json" "d[\"path\"]")" = "$(cd "$M" && pwd -P)" &&
		test "$(jv "$TMP/'$s'.json" "d[\"stages\"][0][\"bytes\"]")" = 952576
	'
done

test_expect_success 'msgpack on a pipe, and byte-identical twice' '
	exo-detect >"$TMP/node.mp" &&
	exo-partition --model "$M" "$TMP/node.mp" >"$TMP/p1.mp" &&
	exo-partition --model "$M" <"$TMP/node.mp" >"$TMP/p2.mp" &&
	cmp "$TMP/p1.mp" "$TMP/p2.mp" &&
	first=$(od -An -tx1 -N1 "$TMP/p1.mp" | tr -d " ") &&
	case $first in 8?|de|df) ;; *) echo "first byte $first"; false ;; esac
'

test_expect_success '--profile: sizes of llama3-tiny at f32 and q4_0' '
	exo-partition --model "$M" --profile -o json >"$TMP/prof.json" &&
	test "$(jv "$TMP/prof.json" "d[\"kind\"], d[\"layers\"], d[\"bytes_per_layer\"], d[\"total_bytes\"], d[\"kv_bytes_per_token\"]")" = "('"'model'"', 4, 172544, 952576, 1024)" &&
	exo-partition --model "$M" --profile --dtype q4_0 -o json >"$TMP/prof4.json" &&
	test "$(jv "$TMP/prof4.json" "d[\"dtype\"], d[\"bytes_per_layer\"]")" = "('"'q4_0'"', 24704)"
'

test_expect_success '--profile output planned back gives the same stages' '
	exo-partition --model "$M" --profile >"$TMP/prof.mp" &&
	cat "$TMP/prof.mp" "$TMP/node.mp" | exo-partition -o json >"$TMP/fromrec.json" &&
	exo-partition --model "$M" -o json "$TMP/node.mp" >"$TMP/fromdir.json" &&
	test "$(jv "$TMP/fromrec.json" "d[\"stages\"]")" = "$(jv "$TMP/fromdir.json" "d[\"stages\"]")"
'

# Two nodes of 1 MB: neither holds llama3-tiny (1.4 MB with KV and
# activations at --ctx 256), together they do.
node a 1048576 20000000000 10.0.0.1 >"$TMP/two.json"
node b 1048576 10000000000 10.0.0.2 >>"$TMP/two.json"
test_expect_success 'JSON node records from a file: two stages, the faster last' '
	exo-partition --model "$M" -o json "$TMP/two.json" >"$TMP/two.out" &&
	test "$(jv "$TMP/two.out" "[(s[\"node\"], s[\"layer_start\"], s[\"layer_end\"], s[\"address\"]) for s in d[\"stages\"]]")" = "[('"'b', 0, 2, '10.0.0.2:52416'), ('a', 2, 4, '10.0.0.1:52417'"')]"
'
test_expect_success 'ring-memory: equal memory, name descending first (exo)' '
	exo-partition --model "$M" --strategy ring-memory -o json "$TMP/two.json" >"$TMP/ring.out" &&
	test "$(jv "$TMP/ring.out" "[(s[\"node\"], s[\"layer_start\"], s[\"layer_end\"]) for s in d[\"stages\"]]")" = "[('"'b', 0, 2), ('a', 2, 4"')]"
'
test_expect_success 'YAML node records give the same plan as JSON' '
	python3 -c "import json,sys
for l in open(sys.argv[1]):
    d = json.loads(l); print(\"---\")
    for k, v in d.items(): print(k + \": \" + json.dumps(v))" "$TMP/two.json" >"$TMP/two.yaml" &&
	exo-partition --model "$M" -o json "$TMP/two.yaml" >"$TMP/two-yaml.out" &&
	cmp "$TMP/two.out" "$TMP/two-yaml.out"
'
test_expect_success 'a bench record makes the bandwidth measured' '
	{ cat "$TMP/two.json"; echo "{\"kind\":\"bench\",\"v\":1,\"node\":\"a\",\"suite\":\"memory\",\"name\":\"triad\",\"value\":3e10}"; } >"$TMP/bench.json" &&
	exo-partition --model "$M" -o json "$TMP/bench.json" >"$TMP/bench.out" &&
	test "$(jv "$TMP/bench.out" "[(s[\"node\"], s[\"bandwidth\"], s[\"bandwidth_source\"]) for s in d[\"stages\"]]")" = "[('"'b', 10000000000.0, 'detected'), ('a', 30000000000.0, 'measured'"')]"
'
test_expect_success "exo-bench's names: the best of its per-thread triad records is used" '
	{ cat "$TMP/two.json"
	  echo "{\"kind\":\"bench\",\"v\":1,\"node\":\"a\",\"suite\":\"memory\",\"name\":\"triad_bytes_per_s\",\"threads\":1,\"value\":2e10}"
	  echo "{\"kind\":\"bench\",\"v\":1,\"node\":\"a\",\"suite\":\"memory\",\"name\":\"triad_bytes_per_s\",\"threads\":2,\"value\":3.5e10}"; } >"$TMP/bench2.json" &&
	exo-partition --model "$M" -o json "$TMP/bench2.json" >"$TMP/bench2.out" &&
	test "$(jv "$TMP/bench2.out" "[(s[\"node\"], s[\"bandwidth\"], s[\"bandwidth_source\"]) for s in d[\"stages\"] if s[\"node\"] == \"a\"]")" = "[('"'a', 35000000000.0, 'measured'"')]"
'
test_expect_success 'text on request: the table and a summary line' '
	exo-partition --model "$M" -o text "$TMP/two.json" >"$TMP/two.txt" &&
	head -1 "$TMP/two.txt" | grep -q "^stage  node  device  address" &&
	grep -q "^llama3-tiny f32 latency, --ctx 256: 2 stages, .* tokens/s predicted" "$TMP/two.txt"
'
test_expect_success 'ORG/NAME from the Hugging Face cache: id and revision' '
	mkdir -p "$TMP/hub/models--org--tiny/snapshots/0123abcd0123abcd0123abcd0123abcd0123abcd" "$TMP/hub/models--org--tiny/refs" &&
	for f in config.json model.safetensors; do ln -s "$M/$f" "$TMP/hub/models--org--tiny/snapshots/0123abcd0123abcd0123abcd0123abcd0123abcd/$f"; done &&
	printf 0123abcd0123abcd0123abcd0123abcd0123abcd >"$TMP/hub/models--org--tiny/refs/main" &&
	exo-partition --model org/tiny -o json "$TMP/two.json" >"$TMP/hub.out" &&
	test "$(jv "$TMP/hub.out" "d[\"model\"], d[\"revision\"]")" = "('"'org/tiny', '0123abcd0123abcd0123abcd0123abcd0123abcd'"')"
'

test_expect_code 1 'infeasible: exit 1' '
	node small 1048576 1e10 | exo-partition --model "$M" >/dev/null 2>"$TMP/inf.err"
'
test_expect_success 'infeasible: one line with the need, the offer and the remedies' '
	test "$(wc -l <"$TMP/inf.err")" -eq 1 &&
	grep -q "^exo-partition: llama3-tiny at f32, --ctx 256 x 1 session: needs 1.4 MiB" "$TMP/inf.err" &&
	grep -q "offers 921.6 KiB within the memory fraction" "$TMP/inf.err" &&
	grep -q "it would fit with --dtype q8_0 or 1 more device like .small. (cpu)$" "$TMP/inf.err"
'

printf '{"kind":"node","v":1,"name":"x","arch":"x86_64","mem_total":' >"$TMP/trunc.json"
test_expect_code 65 'truncated JSON: exit 65' 'exo-partition --model "$M" "$TMP/trunc.json"'
printf '{"kind":"node","v":1,"name":"x","arch":"x86_64","mem_total":"big"}\n' >"$TMP/type.json"
test_expect_code 65 'mem_total of the wrong type: exit 65' '
	exo-partition --model "$M" "$TMP/type.json" 2>"$TMP/type.err"
'
test_expect_success '... with one line naming the record and the field' '
	test "$(wc -l <"$TMP/type.err")" -eq 1 &&
	grep -q "type.json: record 0 (node): field .mem_total.: expected integer, got string" "$TMP/type.err"
'
printf '{"kind":"bench","v":1,"suite":"memory","name":"triad","value":1e10}\n' >"$TMP/nonode.json"
test_expect_code 65 'no node record: exit 65' '
	exo-partition --model "$M" "$TMP/nonode.json" 2>"$TMP/nonode.err" &&
	test "$(wc -l <"$TMP/nonode.err")" -eq 1
'
printf 'kind: node\nv: 1\nname: [unclosed\n' >"$TMP/bad.yaml"
test_expect_code 65 'malformed YAML: exit 65' 'exo-partition --model "$M" "$TMP/bad.yaml"'
test_expect_code 65 'two node records with one name: exit 65' '
	{ node a 1048576 1e10; node a 1048576 1e10; } | exo-partition --model "$M"
'
test_expect_code 66 'a missing file: exit 66' 'exo-partition --model "$M" "$TMP/nope.json"'
test_expect_code 66 'a missing model: exit 66' 'exo-partition --model "$TMP/nomodel" "$TMP/two.json"'
test_expect_code 64 'no model at all: exit 64' 'exo-partition "$TMP/two.json"'
test_expect_code 64 'an unknown strategy: exit 64' 'exo-partition --model "$M" --strategy fastest "$TMP/two.json"'
test_expect_code 64 '--ctx beyond the model: exit 64' 'exo-partition --model "$M" --ctx 1000 "$TMP/two.json"'

# Hostile node records (issue 23): figures beyond any machine overflowed the
# ring's sum into a plan with layers past the model; 20,000 records took
# minutes and then said "0 devices".
for n in a b c; do node $n 9223372036854775807 1e10; done >"$TMP/huge.json"
test_expect_code 65 'three nodes of 2^63-1 bytes: exit 65 (ring-memory)' '
	exo-partition --model "$M" --strategy ring-memory -o json "$TMP/huge.json" >"$TMP/huge.out" 2>"$TMP/huge.err"
'
test_expect_success '... naming the record and the field, and no plan written' '
	cat "$TMP/huge.err" && test ! -s "$TMP/huge.out" && test "$(wc -l <"$TMP/huge.err")" -eq 1 &&
	grep -q "record 0 (node .a.): field .mem_total.: 9223372036854775807 is beyond any real machine" "$TMP/huge.err"
'
for n in a b c; do node $n 8070450532247928832 1e10; done >"$TMP/huge7.json"
test_expect_code 65 'three nodes of 7 x 2^60 bytes: exit 65 (latency)' '
	exo-partition --model "$M" -o json "$TMP/huge7.json" >/dev/null
'
test_expect_code 65 'a bench record of 1e300 bytes/s: exit 65' '
	{ node a 1048576 1e10; echo "{\"kind\":\"bench\",\"v\":1,\"node\":\"a\",\"suite\":\"memory\",\"name\":\"triad\",\"value\":1e300}"; } |
	exo-partition --model "$M" -o json 2>"$TMP/bw.err" >/dev/null; rc=$?; cat "$TMP/bw.err";
	grep -q "record 1 (bench .triad. of node .a.): field .value." "$TMP/bw.err" && exit $rc
'
python3 -c "
for i in range(20000):
    print('{\"kind\":\"node\",\"v\":1,\"name\":\"n%d\",\"arch\":\"x86_64\",\"mem_total\":1048576}' % i)" >"$TMP/many.json"
test_expect_code 65 '20,000 node records: exit 65' '
	exo-partition --model "$M" "$TMP/many.json" 2>"$TMP/many.err" >/dev/null
'
test_expect_success '... said at the first record too many, naming the file' '
	cat "$TMP/many.err" && test "$(wc -l <"$TMP/many.err")" -eq 1 &&
	grep -q "many.json: record 256: more than 256 node records: at most 256 can be planned" "$TMP/many.err"
'

# No GPU backend in this build: a node's GPUs stay in its record, its stage
# is planned on the CPU with the node's RAM, and a note says so.
printf '{"kind":"node","v":1,"name":"g","arch":"x86_64","mem_total":4194304,"mem_available":4194304,"gpus":[{"name":"NVIDIA H100","backend":"cuda","used":true,"device_ordinal":0,"memory_total":85899345920}]}\n' >"$TMP/gpu.json"
test_expect_success 'a node with a used CUDA GPU: a cpu stage sized to its RAM, and a note' '
	exo-partition --model "$M" -o json "$TMP/gpu.json" >"$TMP/gpu.out" &&
	test "$(jv "$TMP/gpu.out" "[(s[\"device\"], s[\"memory\"]) for s in d[\"stages\"]]")" = "[('"'cpu'"', 3774873)]" &&
	test "$(jv "$TMP/gpu.out" "any(\"H100 (cuda) not planned: this build has no GPU backend\" in n for n in d[\"notes\"])")" = true
'

test_done
