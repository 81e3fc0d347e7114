#!/bin/sh
# exo.yaml(5): every key the page documents is read by a program (its
# binding, the field of struct exo_config it fills, is used outside the
# config layer), and the keys that once were read by nothing do what the page
# says: hardware.cpu.threads and .affinity, hardware.memory.hugepages,
# networking.listen and .api, networking.peers, monitoring.prometheus.*.
. tests/lib.sh
. tests/shell/api-lib.sh
trap 'stop_pipeline; rm -rf "$TMP"' EXIT
M=$EXO_SHARED/fixtures/models/llama3-tiny
export HOME=$TMP EXO_DEBUG=3

# The keys of the page: ".It Ic a.b.c Pq ..." lines; a key's binding is its
# path with each camelCase part in snake_case (modelCache -> model_cache).
sed -n 's/^\.It Ic \([a-zA-Z.]*\) Pq .*/\1/p' man/exo.yaml.5 >"$TMP/keys"
test_expect_success 'the page documents the keys (at least the 19 of today)' '
	test "$(wc -l <"$TMP/keys")" -ge 19 && grep -qx hardware.cpu.affinity "$TMP/keys" &&
	grep -qx monitoring.prometheus.path "$TMP/keys"
'
test_expect_success 'every documented key is read by a program outside the config layer' '
	missing= &&
	for key in $(cat "$TMP/keys"); do
		field=$(echo "$key" | sed "s/\([a-z0-9]\)\([A-Z]\)/\1_\2/g" | tr A-Z a-z)
		grep -rqE "(\.|->)$(echo "$field" | sed "s/\./\\\\./g")([^a-z_]|$)" cmd libcommon \
			--include=*.c --exclude-dir=config || missing="$missing $key"
	done &&
	{ [ -z "$missing" ] || { echo "read by no program:$missing"; false; }; }
'

# A stage of llama3-tiny started with only a configuration: its threads,
# CPUs, pages and address come from the file.
P=$(free_port)
cpu=$(sed -n 's/^Cpus_allowed_list:[[:space:]]*\([0-9]*\).*/\1/p' /proc/self/status)
cat >"$TMP/stage.yaml" <<YAML
hardware:
  cpu: {threads: 1, affinity: [$cpu]}
  memory: {hugepages: false}
networking: {listen: 127.0.0.1:$P}
YAML
test_expect_success 'listen, threads, affinity, hugepages: a stage started with no flags for them' '
	EXO_CONFIG=$TMP/stage.yaml exo-shard-serve --model "$M" 2>"$TMP/stage.log" &
	pid=$! && echo $pid >>"$TMP/pids" &&
	i=0 && while ! grep -q " on 127.0.0.1:$P" "$TMP/stage.log"; do
		i=$((i + 1)); [ $i -le 200 ] || { cat "$TMP/stage.log"; false; }; sleep 0.05; done &&
	grep -q "1 threads" "$TMP/stage.log" &&
	grep -q "^Cpus_allowed_list:[[:space:]]*$cpu$" /proc/$pid/status &&
	{ [ ! -e /sys/kernel/mm/transparent_hugepage/enabled ] ||
	  { grep "^VmFlags" /proc/$pid/smaps | grep -q " nh" &&
	    ! grep "^VmFlags" /proc/$pid/smaps | grep -q " hg"; }; }
'
stop_pipeline
thp=/sys/kernel/mm/transparent_hugepage/enabled
[ -e $thp ] || test_skip "no transparent huge pages in this kernel"
[ -e $thp ] && test_expect_success 'hugepages true (the default): the weights arena asks for huge pages' '
	P2=$(free_port) &&
	EXO_CONFIG=/dev/null exo-shard-serve --model "$M" --threads 1 --listen 127.0.0.1:$P2 2>"$TMP/hp.log" &
	pid=$! && echo $pid >>"$TMP/pids" &&
	i=0 && while ! grep -q " on 127.0.0.1:" "$TMP/hp.log"; do
		i=$((i + 1)); [ $i -le 200 ] || { cat "$TMP/hp.log"; false; }; sleep 0.05; done &&
	grep "^VmFlags" /proc/$pid/smaps | grep -q " hg"
'
stop_pipeline
printf 'hardware:\n  cpu: {affinity: [4000]}\n' >"$TMP/badcpu.yaml"
test_expect_code 78 'affinity: a CPU this process may not run on is a configuration error' '
	EXO_CONFIG=$TMP/badcpu.yaml exo-shard-serve --model "$M" --listen 127.0.0.1:1 2>"$TMP/err"; rc=$?;
	cat "$TMP/err"; grep -q "badcpu.yaml: key .hardware.cpu.affinity.: CPU 4000" "$TMP/err" && exit $rc
'
test_expect_code 78 'exo-bench applies the affinity too' '
	EXO_CONFIG=$TMP/badcpu.yaml exo-bench -s memory -d 1 -o json >/dev/null
'

# The API and its metrics: networking.api on the stage holding layer 0,
# monitoring.prometheus on a port of their own.
if dm=$(demo_model); then
	A=$(free_port) Q=$(free_port) S=$(free_port)
	cat >"$TMP/api.yaml" <<YAML
networking: {listen: 127.0.0.1:$S, api: 127.0.0.1:$A}
monitoring:
  prometheus: {enable: true, port: $Q, path: /scrape}
YAML
	test_expect_success 'networking.api: the head stage serves the API there without --api' '
		EXO_CONFIG=$TMP/api.yaml exo-shard-serve --model "$dm" --threads 1 2>"$TMP/api.log" &
		echo $! >>"$TMP/pids" && BASE=http://127.0.0.1:$A && wait_healthy 60
	'
	test_expect_success 'monitoring.prometheus: the metrics on their own port and path' '
		curl -s "http://127.0.0.1:$A/v1/models" >/dev/null &&
		curl -sf "http://127.0.0.1:$Q/scrape" >"$TMP/metrics" &&
		grep -q "^exo_" "$TMP/metrics" &&
		test "$(curl -s -o /dev/null -w "%{http_code}" "http://127.0.0.1:$Q/metrics")" = 404 &&
		test "$(curl -s -o /dev/null -w "%{http_code}" -X POST "http://127.0.0.1:$Q/scrape")" = 405
	'
	stop_pipeline
	test_expect_success 'without networking.api no API is served' '
		S2=$(free_port) &&
		EXO_CONFIG=/dev/null exo-shard-serve --model "$dm" --threads 1 --listen 127.0.0.1:$S2 2>"$TMP/noapi.log" &
		echo $! >>"$TMP/pids" &&
		i=0 && while ! grep -q " on 127.0.0.1:$S2" "$TMP/noapi.log"; do
			i=$((i + 1)); [ $i -le 200 ] || { cat "$TMP/noapi.log"; false; }; sleep 0.05; done &&
		! grep -q "api: listening" "$TMP/noapi.log" && grep -q "api: listening" "$TMP/api.log"
	'
	stop_pipeline
else
	test_skip "no demo model"
	test_skip "no demo model"
	test_skip "no demo model"
fi

# networking.peers: where exo-partition reaches a node that advertises no
# address, and the stages exo-bench measures without --nodes.
cat >"$TMP/peers.yaml" <<YAML
networking:
  peers: [{name: b, address: 10.9.9.9:7000}, {name: c, address: 127.0.0.1:1}]
YAML
test_expect_success 'peers: exo-partition takes a peer'"'"'s address for a node that advertises none' '
	{ for n in a b; do printf "{\"kind\":\"node\",\"v\":1,\"name\":\"%s\",\"arch\":\"x86_64\",\"mem_total\":1048576,\"mem_available\":1048576,\"net\":[{\"name\":\"eth0\",\"state\":\"up\",\"addresses\":[\"10.0.0.1/24\"]}]}\n" $n; done; } >"$TMP/two.json" &&
	EXO_CONFIG=$TMP/peers.yaml exo-partition --model "$M" -o json "$TMP/two.json" >"$TMP/plan.json" &&
	python3 -c "import json,sys; d=json.load(open(sys.argv[1])); a={s[\"node\"]: s[\"address\"] for s in d[\"stages\"]}; print(a); assert a[\"b\"] == \"10.9.9.9:7000\" and a[\"a\"] != \"10.9.9.9:7000\"" "$TMP/plan.json"
'
test_expect_code 1 'peers: exo-bench measures them when no --nodes is given' '
	EXO_CONFIG=$TMP/peers.yaml exo-bench -s network -d 1 -o json >/dev/null 2>"$TMP/err"; rc=$?;
	cat "$TMP/err"; grep -q "network: 127.0.0.1:1: connect" "$TMP/err" &&
	grep -q "network: 10.9.9.9:7000: " "$TMP/err" && exit $rc
'
test_done
