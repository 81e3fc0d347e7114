#!/bin/sh
# exo-validate beyond the engine check: hardware against COMPAT.md's tables,
# model memory and cache hashes, plans, record streams, component tests and
# the stress test.  Each rule is broken on purpose and must give its level.
. tests/lib.sh
M=$EXO_SHARED/fixtures/models
G=1073741824

# A node record with RAM, cache space and optional GPUs / interfaces.
node() { # name arch mem_total free gpus_json net_json
	printf '{"kind":"node","v":1,"name":"%s","arch":"%s","mem_total":%s,"storage":{"path":"/c","free":%s},"gpus":%s,"net":%s}\n' \
		"$1" "$2" "$3" "$4" "${5:-[]}" "${6:-[]}"
}
level_of() { # code file -> levels of that code, space-separated
	grep "\"code\":\"$1\"" "$2" | sed -n 's/.*"level":"\([a-z]*\)".*/\1/p' | tr '\n' ' '
}

test_expect_success "hardware: x86_64 ok, riscv64 experimental warns, armv7l fails" "
	{ node a x86_64 $((16*G)) $((300*G)); node b riscv64 $((16*G)) $((300*G)); node c armv7l $((16*G)) $((300*G)); } |
		exo-validate hardware -o json >$TMP/arch; test \$? -eq 2 &&
	test \"\$(level_of hardware.arch $TMP/arch)\" = 'ok warn fail ' &&
	grep -q 'armv7l: unsupported (32-bit ARM: insufficient memory addressing)' $TMP/arch
"
test_expect_success "hardware: RAM below the table's minimum fails, below recommended warns" "
	{ node small x86_64 $((2*G)) $((300*G)); node mid x86_64 $((6*G)) $((300*G)); node big x86_64 $((16*G)) $((300*G)); } |
		exo-validate hardware $M/llama3-tiny -o json >$TMP/ram;
	test \"\$(level_of hardware.ram $TMP/ram)\" = 'fail warn ok ' &&
	grep -q '2.0 GiB of RAM for a 238k-parameter model (1B-3B parameters): minimum 4.0 GiB' $TMP/ram
"
test_expect_success "hardware: a GPU's support level from the series tables" "
	node g x86_64 $((32*G)) $((300*G)) '[{\"name\":\"GeForce GTX 1080\",\"backend\":\"cuda\",\"support\":\"limited\",\"reason\":\"older architecture, Pascal\",\"memory_total\":8589934592},{\"name\":\"Old\",\"backend\":\"cuda\",\"support\":\"unsupported\",\"memory_total\":1073741824}]' |
		exo-validate hardware $M/llama3-tiny -o json >$TMP/gpu;
	test \"\$(level_of hardware.gpu $TMP/gpu)\" = 'warn fail ' &&
	test \"\$(level_of hardware.vram $TMP/gpu)\" = 'ok fail ' &&
	grep -q 'GPU 1: 1.0 GiB of VRAM for a 1B-3B model: minimum 2.0 GiB' $TMP/gpu
"
test_expect_success "hardware: free space in the model cache against the storage table" "
	{ node full x86_64 $((16*G)) $((10*G)); node some x86_64 $((16*G)) $((100*G)); node lots x86_64 $((16*G)) $((300*G)); } |
		exo-validate hardware -o json >$TMP/disk;
	test \"\$(level_of hardware.storage $TMP/disk)\" = 'fail warn warn ' &&
	grep -q 'a multi-node cluster needs 100.0 GiB' $TMP/disk
"
test_expect_success "hardware: network speed is judged only with several nodes" "
	{ node fast x86_64 $((16*G)) $((600*G)) '[]' '[{\"name\":\"e0\",\"speed\":3125000000}]';
	  node gig x86_64 $((16*G)) $((600*G)) '[]' '[{\"name\":\"e0\",\"speed\":125000000}]';
	  node slow x86_64 $((16*G)) $((600*G)) '[]' '[{\"name\":\"e0\",\"speed\":12500000}]';
	  node unknown x86_64 $((16*G)) $((600*G)); } | exo-validate hardware -o json >$TMP/net;
	test \"\$(level_of hardware.network $TMP/net)\" = 'ok warn fail warn ' &&
	node one x86_64 $((16*G)) $((600*G)) | exo-validate hardware -o json >$TMP/one1 &&
	! grep -q hardware.network $TMP/one1
"
mkdir -p "$TMP/moe" "$TMP/nemo"
cp "$M/llama3-tiny/"* "$TMP/moe/" 2>/dev/null
sed 's/LlamaForCausalLM/MixtralForCausalLM/' "$M/llama3-tiny/config.json" >"$TMP/moe/config.json"
sed 's/LlamaForCausalLM/NemotronHForCausalLM/' "$M/llama3-tiny/config.json" >"$TMP/nemo/config.json"
test_expect_success "hardware: mixture-of-experts needs 24 GB of VRAM on CUDA and is refused by the engine" "
	node g x86_64 $((64*G)) $((600*G)) '[{\"name\":\"RTX 4080\",\"backend\":\"cuda\",\"support\":\"full\",\"memory_total\":17179869184}]' |
		exo-validate hardware $TMP/moe -o json >$TMP/moe.out;
	test \"\$(level_of hardware.backend $TMP/moe.out)\" = 'ok fail ' &&
	grep -q 'MixtralForCausalLM (mixture-of-experts) on cuda: full, performance medium: requires 24GB+ VRAM' $TMP/moe.out &&
	test \"\$(level_of model.engine $TMP/moe.out)\" = 'fail '
"
test_expect_success "hardware: NemotronH is judged as its hardest kind, and the engine says why not" "
	node m arm64 $((64*G)) $((600*G)) '[{\"name\":\"Apple M2\",\"backend\":\"mlx\",\"support\":\"full\",\"memory_total\":68719476736}]' |
		exo-validate hardware $TMP/nemo -o json >$TMP/nemo.out;
	grep -q 'NemotronHForCausalLM (mixture-of-experts) on mps: unsupported' $TMP/nemo.out &&
	grep '\"model.engine\"' $TMP/nemo.out | grep -q 'NemotronHForCausalLM'
"
# This machine's own facts (its free disk, its memory) decide the levels, so
# the test holds the exit status to the levels the checks printed.
test_expect_success "hardware: this machine when stdin is not a stream, its status from its levels" "
	exo-validate hardware -o json </dev/null >$TMP/live; st=\$? &&
	grep -q '\"code\":\"hardware.arch\"' $TMP/live &&
	if grep -q '\"level\":\"fail\"' $TMP/live; then want=2
	elif grep -q '\"level\":\"warn\"' $TMP/live; then want=1; else want=0; fi &&
	test \$st = \$want
"

test_expect_success "model: memory needs per weight type" "
	exo-validate model $M/llama3-tiny -o json >$TMP/mem &&
	grep '\"model.memory\"' $TMP/mem | grep -q '238k parameters: weights 465.1 KiB at F16/BF16'
"
# A cache entry whose blobs are named by their hashes, as huggingface_hub writes them.
cache=$TMP/hub/models--org--tiny
mkdir -p "$cache/blobs" "$cache/snapshots/abc123abc123abc123abc123abc123abc123abcd" "$cache/refs"
echo abc123abc123abc123abc123abc123abc123abcd >"$cache/refs/main"
for f in "$M/llama3-tiny/"*; do
	[ -f "$f" ] || continue
	b=$(basename "$f")
	case $b in
	*.safetensors) h=$(sha256sum "$f" | cut -d' ' -f1) ;;
	*) h=$(git hash-object "$f") ;;
	esac
	cp "$f" "$cache/blobs/$h"
	ln -s "../../blobs/$h" "$cache/snapshots/abc123abc123abc123abc123abc123abc123abcd/$b"
done
test_expect_success "model: files in the cache match the hashes their blobs are named by" "
	HF_HUB_CACHE=$TMP/hub exo-validate model org/tiny -o json >$TMP/hash &&
	grep '\"model.hashes\"' $TMP/hash | grep -q '\"ok\"'
"
test_expect_code 2 "model: a corrupted blob is a failure naming the file and both hashes" "
	blob=\$(readlink $cache/snapshots/abc123abc123abc123abc123abc123abc123abcd/config.json) &&
	chmod u+w $cache/snapshots/abc123abc123abc123abc123abc123abc123abcd/\$blob && echo ' ' >>$cache/snapshots/abc123abc123abc123abc123abc123abc123abcd/\$blob &&
	HF_HUB_CACHE=$TMP/hub exo-validate model org/tiny -o json >$TMP/hash2; rc=\$?;
	grep '\"model.hashes\"' $TMP/hash2 | grep -q 'config.json: content hashes to [0-9a-f]*, its blob is named' && exit \$rc
"

# Plans: records written by hand, nodes beside them.
plan() { # stages-json
	printf '{"kind":"plan","v":1,"model":"llama3-tiny","path":"%s","strategy":"latency","layers":4,"stages":%s}\n' "$M/llama3-tiny" "$1"
}
nodes="$(node a x86_64 $((16*G)) $((300*G)); node b x86_64 $((1*G)) $((300*G)))"
test_expect_success "plan: a good plan passes every check" "
	{ echo \"\$nodes\"; plan '[{\"index\":0,\"node\":\"a\",\"layer_start\":0,\"layer_end\":2,\"bytes\":1000},{\"index\":1,\"node\":\"b\",\"layer_start\":2,\"layer_end\":4,\"bytes\":1000}]'; } >$TMP/good.json &&
	exo-validate plan $TMP/good.json -o json >$TMP/good.out &&
	test \"\$(level_of plan.coverage $TMP/good.out)\" = 'ok ' && test \"\$(level_of plan.fit $TMP/good.out)\" = 'ok ok ' &&
	test \"\$(level_of plan.model $TMP/good.out)\" = 'ok '
"
test_expect_code 2 "plan: a gap is named with its layers" "
	plan '[{\"index\":0,\"node\":\"a\",\"layer_start\":0,\"layer_end\":1},{\"index\":1,\"node\":\"b\",\"layer_start\":2,\"layer_end\":4}]' >$TMP/gap.json &&
	exo-validate plan $TMP/gap.json --nodes /dev/null -o json >$TMP/gap.out; rc=\$?;
	grep -q 'gap: layers 1..1 are held by no stage (stage 1 starts at 2)' $TMP/gap.out && exit \$rc
"
test_expect_code 2 "plan: an overlap is named" "
	plan '[{\"index\":0,\"node\":\"a\",\"layer_start\":0,\"layer_end\":3},{\"index\":1,\"node\":\"b\",\"layer_start\":2,\"layer_end\":4}]' |
		exo-validate plan -o json >$TMP/ovl.out; rc=\$?;
	grep -q 'overlap: layers 2..2 are held by stage 1 and the stage before it' $TMP/ovl.out && exit \$rc
"
test_expect_code 2 "plan: missing last layers and a stage over its node's memory" "
	{ echo \"\$nodes\"; plan '[{\"index\":0,\"node\":\"a\",\"layer_start\":0,\"layer_end\":2},{\"index\":1,\"node\":\"b\",\"layer_start\":2,\"layer_end\":3,\"bytes\":2000000000}]'; } |
		exo-validate plan -o json >$TMP/over.out; rc=\$?;
	grep -q 'layers 3..3 are held by no stage (the model has 4)' $TMP/over.out &&
	grep '\"plan.fit\"' $TMP/over.out | grep -q 'stage 1 on b: needs 1.9 GiB (weights + KV), total RAM: 921.6 MiB' && exit \$rc
"
test_expect_code 2 "plan: a node not among the records, and stages out of chain order" "
	{ echo \"\$nodes\"; plan '[{\"index\":1,\"node\":\"zz\",\"layer_start\":0,\"layer_end\":2},{\"index\":0,\"node\":\"a\",\"layer_start\":2,\"layer_end\":4}]'; } |
		exo-validate plan -o json >$TMP/nn.out; rc=\$?;
	grep -q \"node 'zz' is not among the node records given\" $TMP/nn.out &&
	grep -q 'stages\\[0\\] has index 1' $TMP/nn.out && exit \$rc
"
test_expect_code 1 "plan: a stage asking for a GPU is warned about (no GPU backend in this build)" "
	{ echo \"\$nodes\"; plan '[{\"index\":0,\"node\":\"a\",\"device\":\"cuda:0\",\"layer_start\":0,\"layer_end\":2,\"bytes\":1000},{\"index\":1,\"node\":\"b\",\"device\":\"cpu\",\"layer_start\":2,\"layer_end\":4,\"bytes\":1000}]'; } |
		exo-validate plan -o json >$TMP/dev.out; rc=\$?;
	test \"\$(level_of plan.device $TMP/dev.out)\" = 'warn ' &&
	grep -q \"stage 0 asks for device 'cuda:0': this build runs stages on CPUs only\" $TMP/dev.out &&
	test \"\$(level_of plan.fit $TMP/dev.out)\" = 'ok ok ' &&
	test \"\$(level_of plan.device $TMP/good.out)\" = 'ok ' && exit \$rc
"
test_expect_code 1 "plan: a stage on a peer of networking.peers elsewhere than the peer is warned about" "
	printf 'networking:\\n  peers: [{name: b, address: 10.0.0.9:7000}, {name: a, address: 10.0.0.8:7000}]\\n' >$TMP/peers.yaml &&
	{ echo \"\$nodes\"; plan '[{\"index\":0,\"node\":\"a\",\"address\":\"10.0.0.8:7000\",\"layer_start\":0,\"layer_end\":2,\"bytes\":1000},{\"index\":1,\"node\":\"b\",\"address\":\"10.0.0.2:52417\",\"layer_start\":2,\"layer_end\":4,\"bytes\":1000}]'; } |
		EXO_CONFIG=$TMP/peers.yaml exo-validate plan -o json >$TMP/peers.out; rc=\$?;
	test \"\$(level_of plan.peers $TMP/peers.out)\" = 'warn ' &&
	grep -q \"stage 1 on peer 'b' is at 10.0.0.2:52417, but networking.peers puts 'b' at 10.0.0.9:7000\" $TMP/peers.out &&
	test -z \"\$(level_of plan.peers $TMP/good.out)\" && exit \$rc
"
test_expect_code 65 "plan: a stream without a plan is bad input" "echo \"\$nodes\" | exo-validate plan -o json"

test_expect_code 2 "records: each schema fault is reported with its record index, and reading goes on" "
	{ node a x86_64 1 1; echo '{\"kind\":\"node\",\"v\":1,\"name\":\"b\",\"arch\":\"x\",\"mem_total\":\"lots\"}';
	  echo '{\"kind\":\"plan\",\"v\":1}'; echo '{\"kind\":\"future\",\"v\":1}'; echo '{\"kind\":\"node\",\"v\":99,\"name\":\"c\",\"arch\":\"x\",\"mem_total\":1}'; } |
		exo-validate records -o json >$TMP/rec.out; rc=\$?;
	test \$(grep -c '\"records.schema\"' $TMP/rec.out) -eq 3 &&
	grep -q 'record 1 (node): field .mem_total.: expected integer' $TMP/rec.out &&
	grep '\"records.schema\"' $TMP/rec.out | grep -q '\"index\":2' &&
	grep '\"records.summary\"' $TMP/rec.out | grep -q '5 record(s), 3 with faults' && exit \$rc
"
test_expect_success "records: a clean msgpack stream from exo-detect passes" "
	exo-detect --name x | exo-validate records -o json >$TMP/clean.out &&
	grep -q '1 record(s), 0 with faults' $TMP/clean.out
"
test_expect_code 2 "records: a truncated stream stops with a decode failure" "
	exo-detect --name x | head -c 40 | exo-validate records -o json >$TMP/trunc.out; rc=\$?;
	grep -q '\"records.decode\"' $TMP/trunc.out && exit \$rc
"

test_expect_success "--test-component cpu: every kernel variant within tolerance of the reference" "
	exo-validate --test-component cpu -o json >$TMP/cpu.out &&
	grep -q \"kernels 'ref' against\" $TMP/cpu.out && ! grep -q '\"fail\"' $TMP/cpu.out
"
test_expect_success "--test-component network: encrypted loopback link, other key refused" "
	exo-validate --test-component network -o json >$TMP/netc.out &&
	grep -q '6 of 6 frames' $TMP/netc.out && grep -q 'another cluster key is refused' $TMP/netc.out
"
test_expect_success "--test-component storage: write, drop from cache, read back in the model cache" "
	HF_HUB_CACHE=$TMP/newcache exo-validate --test-component storage -o json >$TMP/st.out &&
	grep -q 'read back.*identical' $TMP/st.out && test -d $TMP/newcache && test -z \"\$(ls -A $TMP/newcache)\"
"
test_expect_code 64 "--test-component with an unknown part is a usage error" "exo-validate --test-component disk"

test_expect_success "--stress-test: repeated passes all matching the reference" "
	exo-validate --stress-test --model $M/qwen2-tiny --duration 1 --threads 1 -o json >$TMP/stress.out &&
	grep -q '\"failed_passes\":0' $TMP/stress.out && ! grep -q '\"passes\":0,' $TMP/stress.out
"
test_expect_code 2 "--stress-test: a wrong reference makes every pass fail" "
	cp -r $M/qwen2-tiny/reference $TMP/badref && chmod -R u+w $TMP/badref &&
	python3 -c \"import sys; b=bytearray(open('$TMP/badref/prefill_logits.f32','rb').read()); b[0:4]=b'\\\\x00\\\\x00\\\\x80\\\\x7f'; open('$TMP/badref/prefill_logits.f32','wb').write(b)\" &&
	exo-validate --stress-test --model $M/qwen2-tiny --reference $TMP/badref --duration 1 -o json >$TMP/bad.out; rc=\$?;
	grep -q 'first failure' $TMP/bad.out && exit \$rc
"
test_done
