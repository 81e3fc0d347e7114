#!/bin/sh
# exo-shard-serve security: keyed links between real processes; a wrong key,
# a plaintext peer, garbage, an oversized frame and a slow sender are each
# refused and logged while the stage keeps serving the others; a key file
# others can read and a non-loopback address without a key are refused.
. tests/lib.sh
M=$EXO_SHARED/fixtures/models
L=$M/llama3-tiny
CLIENT=$EXO_BUILD/tools/pipeline_client
trap 'stop_all; rm -rf "$TMP"' EXIT
export EXO_CONFIG=/dev/null EXO_DEBUG=3

base=$((10000 + $(od -An -N2 -tu2 /dev/urandom) % 22000))  # below the ephemeral range
P0=$base P1=$((base + 1)) P2=$((base + 2))
A0=127.0.0.1:$P0 A1=127.0.0.1:$P1 A2=127.0.0.1:$P2

start() { # NAME ARGS...
	name=$1
	shift
	exo-shard-serve --threads 1 "$@" 2>"$TMP/$name.log" &
	echo $! >>"$TMP/pids"
	wait_for "$TMP/$name.log" " on 127.0.0.1:"
}


# raw PORT MODE: a hostile peer (python): garbage, oversized, slow, hold, badforward.
cat >$TMP/raw.py <<'EOF'
import socket, struct, sys, time
port, mode = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port))
print("connected", flush=True)
def frame(b): return struct.pack(">I", len(b)) + b
def mp_str(x): return bytes([0xa0 | len(x)]) + x.encode()
hello = (b"\x87" + mp_str("op") + mp_str("hello") + mp_str("version") + b"\x02" + mp_str("model") +
         mp_str("llama3-tiny") + mp_str("revision") + mp_str(sys.argv[3] if len(sys.argv) > 3 else "x") +
         mp_str("layer_start") + b"\x00" + mp_str("layer_end") + b"\x00" + mp_str("role") + mp_str("head"))
if mode == "garbage":
    s.sendall(frame(bytes(range(0xc1, 0xd1))))
elif mode == "oversized":
    s.sendall(struct.pack(">I", 0x7fffffff) + b"x" * 64)
elif mode == "slow":
    s.sendall(struct.pack(">I", 200) + b"\x87")
    time.sleep(float(sys.argv[3]))
elif mode == "hold":  # half a frame, then go away
    s.sendall(struct.pack(">I", 200) + b"\x87")
    time.sleep(float(sys.argv[3]))
    sys.exit(0)
elif mode == "linked":  # a hello, then nothing for a while, then go away
    s.sendall(frame(hello))
    time.sleep(float(sys.argv[4]))
    sys.exit(0)
elif mode == "badforward":
    s.sendall(frame(hello))
    time.sleep(0.2)
    s.sendall(frame(b"\x82" + mp_str("op") + mp_str("forward") + mp_str("pos") + b"\xff"))
s.settimeout(5)
got = b""
try:
    while True:
        d = s.recv(65536)
        if not d: break
        got += d
except Exception as e:
    print("recv:", e)
print("closed after", len(got), "bytes:", got[:200])
EOF
raw() { python3 $TMP/raw.py "$@"; }

test_expect_success "--gen-key writes a 32-byte key of mode 0600 and will not overwrite it" "
	exo-shard-serve --gen-key $TMP/key && test \$(stat -c %a $TMP/key) = 600 &&
	test \$(stat -c %s $TMP/key) = 32 && cp $TMP/key $TMP/key.before &&
	! exo-shard-serve --gen-key $TMP/key 2>$TMP/err && grep -q exists $TMP/err &&
	cmp $TMP/key $TMP/key.before && exo-shard-serve --gen-key $TMP/other
"

test_expect_success "keyed stages serve the tokens of the plaintext engine" "
	start k1 --model $L --layers 2:4 --stage 1 --listen $A1 --key $TMP/key &&
	start k0 --model $L --layers 0:2 --stage 0 --listen $A0 --next $A1 --key $TMP/key &&
	$CLIENT --model $L --local 4 --tokens 8 --seed 3 --temperature 0.9 >$TMP/ref &&
	$CLIENT --model $L --next $A0 --key $TMP/key --tokens 8 --seed 3 --temperature 0.9 >$TMP/got &&
	cmp $TMP/ref $TMP/got
"

test_expect_success "a wrong key is refused and logged; the others keep being served" "
	! $CLIENT --model $L --next $A0 --key $TMP/other --tokens 2 --retry-ms 200 2>$TMP/err &&
	cat $TMP/err && grep -q 'handshake' $TMP/err &&
	grep -q 'stage 0: refused 127.0.0.1:[0-9]*: .*' $TMP/k0.log &&
	$CLIENT --model $L --next $A0 --key $TMP/key --tokens 8 --seed 3 --temperature 0.9 >$TMP/got2 &&
	cmp $TMP/ref $TMP/got2
"

test_expect_success "a plaintext peer of a keyed stage is refused and logged" "
	n=\$(grep -c refused $TMP/k0.log) &&
	! $CLIENT --model $L --next $A0 --tokens 2 --retry-ms 200 2>$TMP/err &&
	test \$(grep -c refused $TMP/k0.log) -gt \$n &&
	raw $P0 garbage && test \$(grep -c refused $TMP/k0.log) -gt \$((n + 1)) &&
	$CLIENT --model $L --next $A0 --key $TMP/key --tokens 8 --seed 3 --temperature 0.9 >$TMP/got3 &&
	cmp $TMP/ref $TMP/got3
"
stop_all

test_expect_success "plaintext stage: garbage, an oversized frame, a bad forward are refused, logged, survived" "
	start p0 --model $L --listen $A2 --timeout 700 &&
	raw $P2 garbage >$TMP/r1 && grep -q 'closed after' $TMP/r1 &&
	wait_for $TMP/p0.log 'refused 127.0.0.1:[0-9]*: frame.*not a msgpack map\\|refused 127.0.0.1:[0-9]*: .*map key' &&
	raw $P2 oversized >$TMP/r2 &&
	wait_for $TMP/p0.log 'more than the maximum' &&
	raw $P2 badforward \$(sed -n 's/.*llama3-tiny@\([0-9a-f]*\) on.*/\1/p' $TMP/p0.log) >$TMP/r3 &&
	grep -q bad_frame $TMP/r3 && wait_for $TMP/p0.log \"refused a frame from 127.0.0.1:[0-9]*: forward frame: field 'session'\" &&
	$CLIENT --model $L --next $A2 --tokens 8 --seed 3 --temperature 0.9 >$TMP/got4 && cmp $TMP/ref $TMP/got4
"

test_expect_success "a slow sender is cut off at the timeout while others are served" "
	{ raw $P2 slow 3 >$TMP/r4 & } && slow=\$! && sleep 0.2 &&
	$CLIENT --model $L --next $A2 --tokens 8 --seed 3 --temperature 0.9 >$TMP/got5 && cmp $TMP/ref $TMP/got5 &&
	wait_for $TMP/p0.log 'refused 127.0.0.1:[0-9]*: .*timed out' && wait \$slow
"
stop_all

test_expect_success "--max-connections 1: a second peer is refused and logged while the first holds it" "
	start mc --model $L --listen $A2 --max-connections 1 &&
	{ raw $P2 linked \$(sed -n 's/.*llama3-tiny@\([0-9a-f]*\) on.*/\1/p' $TMP/mc.log) 1.5 >$TMP/holder & } &&
	holder=\$! && wait_for $TMP/mc.log '(head) connected' &&
	! $CLIENT --model $L --next $A2 --tokens 2 --retry-ms 200 2>$TMP/err &&
	grep -q 'refused 127.0.0.1:[0-9]*: too many connections (--max-connections)' $TMP/mc.log &&
	wait \$holder && sleep 0.2 &&
	$CLIENT --model $L --next $A2 --tokens 8 --seed 3 --temperature 0.9 >$TMP/got7 && cmp $TMP/ref $TMP/got7
"
stop_all

test_expect_code 78 "listening on a non-loopback address without a key is refused" "
	exo-shard-serve --model $L --listen 0.0.0.0:$P1 2>$TMP/err; rc=\$?; cat $TMP/err >&2
	test \$(wc -l <$TMP/err) -eq 1 && grep -q 'refusing to listen on 0.0.0.0:$P1 without a cluster key' $TMP/err && exit \$rc
"

test_expect_success "... and allowed with --insecure" "
	exo-shard-serve --threads 1 --model $L --listen 0.0.0.0:$P1 --insecure 2>$TMP/ins.log & p=\$! &&
	wait_for $TMP/ins.log ' on 0.0.0.0:' && kill \$p && wait \$p
"

test_expect_code 77 "a key file others can read is refused, naming the file and mode" "
	cp $TMP/key $TMP/open.key && chmod 644 $TMP/open.key &&
	exo-shard-serve --model $L --listen $A1 --key $TMP/open.key 2>$TMP/err; rc=\$?; cat $TMP/err >&2
	grep -q 'open.key: mode 0644' $TMP/err && exit \$rc
"

test_expect_success "the key comes from networking.clusterKey of the configuration" "
	printf 'networking:\n  clusterKey: %s\n' $TMP/key >$TMP/exo.yaml &&
	EXO_CONFIG=$TMP/exo.yaml exo-shard-serve --threads 1 --model $L --listen 0.0.0.0:$P1 2>$TMP/c.log & p=\$! &&
	wait_for $TMP/c.log ' on 0.0.0.0:' &&
	$CLIENT --model $L --next $A1 --key $TMP/key --tokens 8 --seed 3 --temperature 0.9 >$TMP/got6 &&
	cmp $TMP/ref $TMP/got6 && kill \$p && wait \$p
"
test_expect_success "no sanitizer report in any stage's log" "
	! grep -l 'Sanitizer\\|runtime error' $TMP/*.log
"
test_done
