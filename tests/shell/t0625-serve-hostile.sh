#!/bin/sh
# exo-shard-serve against peers that hold its slots (issue 23, item 5):
# 70 looping clients that never finish a handshake, from one address and
# from eight, do not keep a key holder out (handshakes have a budget of
# their own, 8 per address, the oldest cut off for a newer one); 64 plain
# links that sent their hello and nothing more are closed at the idle
# timeout, and a real client is then served.  The time a real client took
# under each attack is printed.
. tests/lib.sh
M=$EXO_SHARED/fixtures/models
L=$M/llama3-tiny
CLIENT=$EXO_BUILD/tools/pipeline_client
trap 'stop_all; rm -rf "$TMP"' EXIT
export EXO_CONFIG=/dev/null EXO_DEBUG=3

base=$((10000 + $(od -An -N2 -tu2 /dev/urandom) % 22000))  # below the ephemeral range
P0=$base P1=$((base + 1))
A0=127.0.0.1:$P0 A1=127.0.0.1:$P1

start() { # NAME ARGS...
	name=$1
	shift
	exo-shard-serve --threads 1 "$@" 2>"$TMP/$name.log" &
	echo $! >>"$TMP/pids"
	wait_for "$TMP/$name.log" " on 127.0.0.1:"
}


# attack PORT SECONDS MODE ADDR...: 70 clients spread over the source
# addresses for SECONDS; MODE silent: connect and send nothing, again when
# cut off; MODE hello REVISION: send a hello, read the answer, then nothing.
# (the hello speaks protocol version 2, net/proto.h PROTO_VERSION)
# Prints how many connections the stage closed.
cat >$TMP/attack.py <<'PY'
import selectors, socket, struct, sys, time
port, seconds, mode = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
rev = sys.argv[4] if mode == "hello" else None
addrs = sys.argv[5:] if mode == "hello" else sys.argv[4:]
def mp_str(x): return bytes([0xa0 | len(x)]) + x.encode()
hello = (b"\x87" + mp_str("op") + mp_str("hello") + mp_str("version") + b"\x02" + mp_str("model") +
         mp_str("llama3-tiny") + mp_str("revision") + mp_str(rev or "x") +
         mp_str("layer_start") + b"\x00" + mp_str("layer_end") + b"\x00" + mp_str("role") + mp_str("head"))
sel = selectors.DefaultSelector()
closed = 0
def connect(addr):
    s = socket.socket()
    s.bind((addr, 0))
    try:
        s.connect(("127.0.0.1", port))
        if mode == "hello":  # one link at a time: each hello answered before the next
            s.sendall(struct.pack(">I", len(hello)) + hello)
            s.settimeout(5)
            s.recv(65536)
    except OSError:
        s.close()
        return
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ, addr)
for i in range(70):
    connect(addrs[i % len(addrs)])
end = time.time() + seconds
while time.time() < end:
    for key, _ in sel.select(0.2):
        try:
            data = key.fileobj.recv(65536)
        except OSError:
            data = b""
        if data:
            continue
        sel.unregister(key.fileobj)
        key.fileobj.close()
        closed += 1
        if mode == "silent":
            connect(key.data)
print(closed)
PY

# served N ARGS...: N clients in a row with the key holder's arguments;
# prints how many got their tokens and the slowest one's seconds.
served() {
	n=$1
	shift
	python3 - "$n" "$CLIENT" "$@" <<'PY'
import subprocess, sys, time
n, args = int(sys.argv[1]), sys.argv[2:]
good, slowest = 0, 0.0
for _ in range(n):
    t = time.time()
    r = subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
    slowest = max(slowest, time.time() - t)
    good += r.returncode == 0
print(good, "%.3f" % slowest)
PY
}

hwm_of() { # PID: its peak resident set in KiB
	awk "/^VmHWM:/ { print \$2 }" /proc/$1/status
}

exo-shard-serve --gen-key $TMP/key >/dev/null
KEYED="--model $L --next $A0 --key $TMP/key --tokens 2 --retry-ms 300"

test_expect_success "70 clients that never finish a handshake, from one address: a key holder served 5 times in 5" '
	start k0 --model $L --listen $A0 --key $TMP/key &&
	hwm_of $(head -n 1 $TMP/pids) >$TMP/hwm0 &&
	python3 $TMP/attack.py $P0 3 silent 127.0.0.2 >$TMP/cut1 & attack=$! &&
	sleep 1 &&
	served 5 $KEYED >$TMP/one &&
	wait $attack &&
	echo "$(cat $TMP/one) $(cat $TMP/cut1)" >$TMP/one &&
	read good slowest cut <$TMP/one && test "$good" = 5 && test "$cut" -gt 70
'
read good slowest cut <$TMP/one 2>/dev/null
echo "# one address: the key holder served $good times in 5, the slowest in ${slowest:-?} s; $cut handshakes cut off in 3 s"
test_expect_success "... and from eight addresses" '
	python3 $TMP/attack.py $P0 3 silent 127.0.0.2 127.0.0.3 127.0.0.4 127.0.0.5 127.0.0.6 127.0.0.7 \
		127.0.0.8 127.0.0.9 >$TMP/cut8 & attack=$! &&
	sleep 1 &&
	served 5 $KEYED >$TMP/eight &&
	wait $attack &&
	echo "$(cat $TMP/eight) $(cat $TMP/cut8)" >$TMP/eight &&
	read good slowest cut <$TMP/eight && test "$good" = 5
'
read good slowest cut <$TMP/eight 2>/dev/null
echo "# eight addresses: the key holder served $good times in 5, the slowest in ${slowest:-?} s; $cut handshakes cut off in 3 s"
test_expect_success "the stage logged the handshakes it cut off, and serves after the attack" '
	grep -q "cut off [0-9]* handshakes that had not finished, for newer connections (the latest from 127.0.0.[2-9])" $TMP/k0.log &&
	set -- $(served 1 $KEYED) && test "$1" = 1
'
echo "# peak RSS (VmHWM) of the keyed stage: $(cat $TMP/hwm0 2>/dev/null) KiB before the attacks, $(hwm_of $(head -n 1 $TMP/pids)) KiB after"
stop_all

test_expect_success "64 plain links that sent their hello and nothing more: closed at the idle timeout, a client served" '
	start p0 --model $L --listen $A1 --idle-timeout 1 &&
	rev=$(sed -n "s/.*llama3-tiny@\([0-9a-f]*\) on.*/\1/p" $TMP/p0.log) &&
	python3 $TMP/attack.py $P1 3 hello $rev 127.0.0.2 >$TMP/idle & attack=$! &&
	wait_for $TMP/p0.log "refused 127.0.0.2:[0-9]*: too many connections" &&
	set -- $(served 1 --model $L --next $A1 --tokens 2 --retry-ms 5000) &&
	echo "$1 $2" >$TMP/plain &&
	wait $attack && test "$1" = 1 && test "$(cat $TMP/idle)" -ge 64 &&
	grep -q "closed 127.0.0.2:[0-9]*: idle for 1 s (--idle-timeout)" $TMP/p0.log
'
read good slowest <$TMP/plain 2>/dev/null
echo "# 64 idle links, --idle-timeout 1: a client served in ${slowest:-?} s"
stop_all
test_expect_success "no sanitizer report in any stage's log" "
	! grep -l 'Sanitizer\\|runtime error' $TMP/*.log
"
test_done
