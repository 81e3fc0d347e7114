#!/bin/sh
# exo-shard-serve across three network namespaces, each a host with its own
# address on a bridge (a fourth namespace holds it), keyed links: a 3-stage
# pipeline gives the single-process tokens, and keeps giving them when the
# middle host's link is cut with `ip link set down` in the middle of a
# generation and restored a second later.  Needs root and ip netns.
. tests/lib.sh
M=$EXO_SHARED/fixtures/models
L=$M/llama3-tiny
CLIENT=$EXO_BUILD/tools/pipeline_client
export EXO_CONFIG=/dev/null EXO_DEBUG=3

id=$(($$ % 10000))
NS="exoA$id exoB$id exoC$id exoS$id"
cleanup() {
	for ns in $NS; do
		for p in $(ip netns pids $ns 2>/dev/null); do kill $p 2>/dev/null; done
	done
	sleep 0.2
	for ns in $NS; do ip netns del $ns 2>/dev/null; done
	rm -rf "$TMP"
}

if [ "$(id -u)" != 0 ] || ! ip netns add exoS$id 2>/dev/null; then
	test_skip "needs root and ip netns"
	test_done
	exit
fi
trap cleanup EXIT

net=10.$((100 + $$ % 100)).$((id % 250))
in_ns() { ns=$1; shift; ip netns exec $ns "$@"; }

# The switch namespace holds a bridge; each host a veth whose peer is on it.
setup() {
	in_ns exoS$id ip link add br0 type bridge && in_ns exoS$id ip link set br0 up &&
	n=1
	for h in A B C; do
		ip netns add exo$h$id && in_ns exo$h$id ip link set lo up &&
		ip link add v$h$id type veth peer name s$h$id &&
		ip link set v$h$id netns exo$h$id && ip link set s$h$id netns exoS$id &&
		in_ns exoS$id ip link set s$h$id master br0 && in_ns exoS$id ip link set s$h$id up &&
		in_ns exo$h$id ip addr add $net.$n/24 dev v$h$id && in_ns exo$h$id ip link set v$h$id up ||
			return 1
		n=$((n + 1))
	done
}

PORT=52416
test_expect_success "three namespaces, each with its own address on a bridge" "
	setup && in_ns exoB$id ip -4 addr show dev vB$id | grep -q 'inet $net.2/24' &&
	in_ns exoA$id ip route get $net.3 | grep -q 'dev vA$id'
"

test_expect_success "a keyed 3-stage pipeline across the namespaces gives the single-process tokens" "
	exo-shard-serve --gen-key $TMP/key &&
	{ in_ns exoC$id exo-shard-serve --threads 1 --key $TMP/key --model $L --layers 3:4 --stage 2 \
		--listen $net.3:$PORT 2>$TMP/c.log & } &&
	{ in_ns exoB$id exo-shard-serve --threads 1 --key $TMP/key --model $L --layers 2:3 --stage 1 \
		--listen $net.2:$PORT --next $net.3:$PORT 2>$TMP/b.log & } &&
	{ in_ns exoA$id exo-shard-serve --threads 1 --key $TMP/key --model $L --layers 0:2 --stage 0 \
		--listen $net.1:$PORT --next $net.2:$PORT 2>$TMP/a.log & } &&
	wait_for $TMP/a.log ' on $net.1' && wait_for $TMP/b.log ' on $net.2' && wait_for $TMP/c.log ' on $net.3' &&
	$CLIENT --model $L --local 4 --tokens 16 --seed 5 --temperature 0.9 >$TMP/ref &&
	in_ns exoA$id $CLIENT --model $L --next $net.1:$PORT --key $TMP/key --tokens 16 --seed 5 \
		--temperature 0.9 >$TMP/got &&
	cmp $TMP/ref $TMP/got && grep -q '(stage) connected' $TMP/c.log
"

test_expect_success "the middle host's link down for a second mid-generation: the same tokens" "
	{ in_ns exoA$id $CLIENT --model $L --next $net.1:$PORT --key $TMP/key --tokens 16 --seed 5 \
		--temperature 0.9 --pause-ms 100 --stats >$TMP/cut 2>$TMP/cut.err & } && client=\$! &&
	while [ \$(wc -w <$TMP/cut) -lt 4 ]; do sleep 0.02; done &&
	in_ns exoB$id ip link set vB$id down && sleep 1 && in_ns exoB$id ip link set vB$id up &&
	wait \$client && cat $TMP/cut.err $TMP/b.log && test \$(wc -w <$TMP/cut) -eq 16 && cmp $TMP/ref $TMP/cut
"
test_expect_success "no sanitizer report in any stage's log" "
	! grep -l 'Sanitizer\\|runtime error' $TMP/*.log
"
test_done
