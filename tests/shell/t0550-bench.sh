# exo-bench: each suite, run briefly, writes well-formed bench records with
# positive figures; --duration bounds the run; --merge passes the node
# through with the figures attached; bad --nodes are named one by one while
# the other suites still report.  No speed is asserted: only that figures
# exist and are consistent (min <= median <= max, value among them).
. tests/lib.sh

model=$EXO_SHARED/fixtures/models/llama3-tiny
rec=$EXO_BUILD/tools/exo-rec

# check FILE SUITE NAME...: every line of FILE is a valid bench record of
# SUITE with positive, ordered figures, and every NAME is among them.
check() {
	"$rec" -i json -o json "$1" >/dev/null || return 1
	python3 - "$@" <<-'EOF'
	import json, sys
	path, suite, names = sys.argv[1], sys.argv[2], sys.argv[3:]
	recs = [json.loads(l) for l in open(path)]
	assert recs, "no records"
	units = ("_bytes_per_s", "_flop_per_s", "_tokens_per_s", "_seconds")
	for r in recs:
	    assert r["kind"] == "bench" and r["v"] == 1 and r["suite"] == suite, r
	    assert r["name"].endswith(units), r["name"]
	    assert r["node"] and r["samples"] >= 1 and r["seconds"] > 0, r
	    assert 0 < r["min"] <= r["median"] <= r["max"], r
	    assert r["value"] in (r["min"], r["median"], r["max"]), r
	have = {r["name"] for r in recs}
	missing = [n for n in names if n not in have]
	assert not missing, "missing %s in %s" % (missing, sorted(have))
	EOF
}

# One thread where the test does not need more: on a machine shared with
# parallel builds, threads that wait for each other's CPU make runs slow.
test_expect_success 'memory: STREAM kernels and a read pass' '
	exo-bench -s memory -d 3 -t 1 -o json >"$TMP/mem" &&
	check "$TMP/mem" memory copy_bytes_per_s scale_bytes_per_s add_bytes_per_s \
		triad_bytes_per_s read_bytes_per_s &&
	grep "\"name\":\"triad_bytes_per_s\"" "$TMP/mem" | grep -q "\"threads\":1," &&
	grep -q "\"array_bytes\":" "$TMP/mem"
'
# A large last-level cache (260 MiB on some Xeons) made 4x-LLC arrays take
# the whole of a short run to fault in: no memory record at -d 3, no sgemm at
# -d 10.  --llc plays such a machine here; sizes are bounded by the time and
# each record says what it used.
test_expect_success 'a 1 GiB cache: -d 3 still gives every memory figure, its size recorded' '
	exo-bench -s memory -d 3 -t 1 --llc 1G -o json >"$TMP/bigllc" &&
	check "$TMP/bigllc" memory copy_bytes_per_s scale_bytes_per_s add_bytes_per_s \
		triad_bytes_per_s read_bytes_per_s &&
	python3 - "$TMP/bigllc" <<-EOF
	import json, sys
	for r in map(json.loads, open(sys.argv[1])):
	    assert r["llc_bytes"] == 1 << 30, r
	    assert r["sized_by"] in ("4x_llc", "time", "memory"), r
	    assert r["array_bytes"] >= 8 << 20, r
	    assert (r["sized_by"] == "4x_llc") == (r["array_bytes"] == 4 << 30), r
	EOF
'
test_expect_success 'a 260 MiB cache: every suite reports within -d 4, memory and sgemm at 2 threads included' '
	head -c 8388608 /dev/urandom >"$TMP/small" &&
	exo-bench -d 4 -t 2 --llc 260M --file "$TMP/small" -o json >"$TMP/bigall" 2>"$TMP/err" &&
	python3 - "$TMP/bigall" <<-EOF
	import json, sys
	recs = [json.loads(l) for l in open(sys.argv[1])]
	have = {(r["suite"], r["name"], r.get("threads")) for r in recs}
	for want in [("memory", "triad_bytes_per_s", 1), ("memory", "triad_bytes_per_s", 2),
	             ("compute", "sgemm_flop_per_s", 1), ("compute", "sgemm_flop_per_s", 2),
	             ("compute", "gemv_f32_bytes_per_s", 1), ("storage", "read_cached_bytes_per_s", None)]:
	    assert want in have, (want, sorted(have))
	EOF
'
# exo-bench(1), Time: every memory, compute and storage figure is measured
# at least once, past the end at its floor, and the run ends within two
# seconds of the duration; the bound is the option's correctness, not a speed.
test_expect_success '-d 0.1: every machine figure still measured, no working set under its floor, within 2 s' '
	start=$(date +%s.%N) &&
	exo-bench -s memory,compute,storage -d 0.1 -t 2 --llc 260M --file "$TMP/small" -o json \
		>"$TMP/floor" 2>"$TMP/err" &&
	end=$(date +%s.%N) &&
	python3 -c "import sys; t = $end - $start; print(t); sys.exit(t > 2.1)" &&
	python3 - "$TMP/floor" <<-EOF
	import json, sys
	recs = [json.loads(l) for l in open(sys.argv[1])]
	have = {(r["suite"], r["name"], r.get("threads")) for r in recs}
	want = [("memory", k + "_bytes_per_s", t) for k in ("copy", "scale", "add", "triad", "read")
	        for t in (1, 2)]
	want += [("compute", "gemv_" + d + "_bytes_per_s", t) for d in
	         ("f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q4_k", "q5_k", "q6_k")
	         for t in (1, 2)]
	want += [("compute", "sgemm_flop_per_s", 1), ("compute", "sgemm_flop_per_s", 2),
	         ("storage", "read_uncached_bytes_per_s", None), ("storage", "read_cached_bytes_per_s", None)]
	missing = [w for w in want if w not in have]
	assert not missing, (missing, sorted(have))
	for r in recs:
	    assert r["samples"] >= 1 and r["seconds"] > 0, r
	    if r["suite"] == "memory":
	        assert r["array_bytes"] >= 8 << 20, r
	    elif r["name"].startswith("gemv_"):
	        assert r["bytes"] >= 4 << 20 and r["rows"] % 16 == 0, r
	    elif r["name"] == "sgemm_flop_per_s":
	        assert r["size"] >= 256 and r["size"] % 256 == 0, r
	    else:
	        assert r["bytes"] >= 4 << 20, r
	EOF
'
test_expect_code 64 '--llc of 0 is a usage error' 'exo-bench -s memory --llc 0'
test_expect_success 'compute: sgemm and a GEMV figure per weight type' '
	exo-bench -s compute -d 3 -t 1 -o json >"$TMP/cpu" &&
	check "$TMP/cpu" compute sgemm_flop_per_s gemv_f32_bytes_per_s gemv_f16_bytes_per_s \
		gemv_bf16_bytes_per_s gemv_q8_0_bytes_per_s gemv_q4_0_bytes_per_s
'
test_expect_success 'storage: uncached and cached reads of --file' '
	head -c 33554432 /dev/urandom >"$TMP/big" &&
	exo-bench -s storage -d 2 --file "$TMP/big" -o json >"$TMP/disk" &&
	check "$TMP/disk" storage read_uncached_bytes_per_s read_cached_bytes_per_s &&
	grep -q "\"file\":\"$TMP/big\"" "$TMP/disk"
'
if [ -d "$model" ]; then
	test_expect_success 'inference: ppN per batch size and tgN on a tiny model' '
		exo-bench -s inference -d 3 -t 1 --model "$model" -p 16 -b 8,16 -n 8 -o json >"$TMP/inf" &&
		check "$TMP/inf" inference pp16_tokens_per_s tg8_tokens_per_s &&
		test "$(grep -c "\"name\":\"pp16_tokens_per_s\"" "$TMP/inf")" -eq 2 &&
		grep -q "\"batch\":8[,}]" "$TMP/inf"
	'
	test_expect_code 1 'inference: a model that is not there is named, exit 1' '
		exo-bench -s inference -d 1 --model "$TMP/nothing" -o json >"$TMP/none" 2>"$TMP/err";
		rc=$?; cat "$TMP/err"; grep -q "inference: .*nothing" "$TMP/err" && test ! -s "$TMP/none" &&
		exit $rc
	'
else
	test_skip "no model fixture at $model"
	test_skip "no model fixture at $model"
fi

# date +%s.%N: the bound on --duration is a correctness bound on the option
# (duration + 2 s), not a speed assertion.
test_expect_success '--duration 3 over every suite that applies ends within 5 s' '
	start=$(date +%s.%N) &&
	exo-bench -d 3 -t 1 --file "$TMP/big" --model "$model" -p 16 -n 8 -o json >"$TMP/all" 2>"$TMP/err" &&
	end=$(date +%s.%N) &&
	python3 -c "import sys; t = $end - $start; print(t); sys.exit(t > 5)" &&
	grep -q "\"suite\":\"memory\"" "$TMP/all"
'
test_expect_success '--merge passes the node through with measured figures' '
	exo-detect -o json >"$TMP/node.json" &&
	"$rec" -i json -o msgpack "$TMP/node.json" >"$TMP/node.mp" &&
	exo-bench --merge -s memory -d 2 -o json <"$TMP/node.mp" >"$TMP/merged" &&
	python3 - "$TMP/merged" "$TMP/node.json" <<-EOF
	import json, sys
	recs = [json.loads(l) for l in open(sys.argv[1])]
	node = json.load(open(sys.argv[2]))
	assert recs[0]["kind"] == "node" and recs[0]["name"] == node["name"]
	assert recs[0]["mem_bandwidth"] > 0 and recs[0]["bench"]["triad_bytes_per_s_t1"] > 0
	assert all(r["kind"] == "bench" and r["node"] == node["name"] for r in recs[1:])
	assert len(recs) > 1
	EOF
'
if command -v exo-partition >/dev/null && [ -d "$model" ]; then
	test_expect_success 'exo-partition plans with the best measured triad of the merged stream' '
		"$rec" -i json -o msgpack "$TMP/merged" >"$TMP/merged.mp" &&
		exo-partition --model "$model" -o json "$TMP/merged.mp" >"$TMP/plan" &&
		python3 - "$TMP/merged" "$TMP/plan" <<-EOF
		import json, sys
		recs = [json.loads(l) for l in open(sys.argv[1])]
		triad = max(r["value"] for r in recs if r.get("kind") == "bench" and r.get("name") == "triad_bytes_per_s")
		stage = json.load(open(sys.argv[2]))["stages"][0]
		assert stage["bandwidth"] == triad and stage["bandwidth_source"] == "measured", (stage, triad)
		EOF
	'
else
	test_skip "no exo-partition or no model fixture"
fi
test_expect_code 65 '--merge refuses a malformed record' '
	printf "\x81\xa4kind\xa4node" | exo-bench --merge -s memory -d 1 -o json
'
test_expect_success 'bad --nodes: one error per node, the other suites still report, exit 1' '
	exo-bench -s memory,network -d 2 --nodes "127.0.0.1:1,no-such-host.invalid:7,oops" \
		-o json >"$TMP/net" 2>"$TMP/err"; rc=$? &&
	cat "$TMP/err" && test $rc -eq 1 &&
	grep -q "network: 127.0.0.1:1: connect: " "$TMP/err" &&
	grep -q "network: no-such-host.invalid:7: .*resolve" "$TMP/err" &&
	grep -q "network: oops: bad address" "$TMP/err" &&
	check "$TMP/net" memory triad_bytes_per_s
'
# A real stage on loopback: its port chosen at random below the ephemeral range.
stage_port=$((10000 + $(od -An -N2 -tu2 /dev/urandom) % 22000))
if [ -d "$model" ] && command -v exo-shard-serve >/dev/null; then
	# serve NAME LAYERS PORT [ARGS]: a keyed stage in the background, up when it logs its address.
	serve() {
		name=$1 layers=$2 port=$3
		shift 3
		{ exo-shard-serve --threads 1 --model "$model" --layers $layers --key "$TMP/key" \
			--listen 127.0.0.1:$port "$@" 2>"$TMP/$name.log" & echo $! >>"$TMP/stage.pids"; } &&
		i=0 && while ! grep -q " on 127.0.0.1:" "$TMP/$name.log"; do
			i=$((i + 1)); [ $i -le 200 ] || { cat "$TMP/$name.log"; return 1; }; sleep 0.05
		done
	}
	p0=$stage_port p1=$((stage_port + 1))
	test_expect_success 'network: rtt and echo bandwidth to two running stages, keyed' '
		export EXO_CONFIG=/dev/null &&
		exo-shard-serve --gen-key "$TMP/key" && exo-shard-serve --gen-key "$TMP/other" &&
		serve s1 2:4 $p1 && serve s0 0:2 $p0 --next 127.0.0.1:$p1 &&
		exo-bench -s network -d 1 --nodes 127.0.0.1:$p0,127.0.0.1:$p1 --key "$TMP/key" \
			-o json >"$TMP/ping" &&
		check "$TMP/ping" network rtt_seconds echo_bytes_per_s &&
		grep -q "\"peer\":\"127.0.0.1:$p0\",\"encrypted\":true" "$TMP/ping" &&
		grep -q "\"peer\":\"127.0.0.1:$p1\",\"encrypted\":true" "$TMP/ping" &&
		{ exo-bench -s network -d 1 --nodes 127.0.0.1:$p1 --key "$TMP/other" \
			-o json 2>"$TMP/err"; test $? -eq 1; } &&
		grep -q "network: 127.0.0.1:$p1: .*different cluster key" "$TMP/err"
	'
	test_expect_success 'inference --connect: ppN and tgN through the pipeline' '
		exo-bench -s inference -d 2 --model "$model" --connect 127.0.0.1:$p0 --key "$TMP/key" \
			-p 16 -n 8 -o json >"$TMP/remote" &&
		check "$TMP/remote" inference pp16_tokens_per_s tg8_tokens_per_s &&
		grep -q "\"peer\":\"127.0.0.1:$p0\"" "$TMP/remote"
	'
	[ -f "$TMP/stage.pids" ] && kill $(cat "$TMP/stage.pids") 2>/dev/null
else
	test_skip "no model fixture or no exo-shard-serve"
	test_skip "no model fixture or no exo-shard-serve"
fi
if [ -e /dev/nvidiactl ] || [ -e /proc/driver/nvidia/version ]; then
	test_skip "a CUDA device is present"
else
	test_expect_success 'gpu: without a CUDA device the suite is skipped cleanly' '
		exo-bench -s gpu -d 1 -o json >"$TMP/gpu" 2>"$TMP/err" &&
		grep -q "gpu: skipped: no CUDA device" "$TMP/err" && test ! -s "$TMP/gpu"
	'
fi
test_expect_success '-o csv: a header and one line per figure' '
	exo-bench -s storage -d 1 --file "$TMP/big" -o csv >"$TMP/csv" &&
	head -n 1 "$TMP/csv" | grep -q "^suite,name,value,min,median,max,samples,seconds,threads,bytes," &&
	test "$(grep -c "^storage,read_" "$TMP/csv")" -eq 2
'
test_expect_success '-o text: the table' '
	exo-bench -s storage -d 1 --file "$TMP/big" -o text >"$TMP/table" &&
	grep -q "^| suite *| test *| threads *| *value *| *min *| *median *| *max *| unit *| samples |" "$TMP/table" &&
	grep -q "^| storage .*| read_cached .*GB/s" "$TMP/table"
'
test_expect_success '--help and --version' '
	exo-bench --help | grep -q "^usage: exo-bench" &&
	exo-bench --version | grep -q "^exo-bench [0-9]"
'
test_expect_code 64 'an unknown suite is a usage error' 'exo-bench -s memroy'
test_expect_code 64 'a duration of 0 is a usage error' 'exo-bench -d 0'
test_expect_code 64 'a bad length list is a usage error' 'exo-bench -p 512,x'
test_done
