"""Hostile HTTP clients for the API tests (t0830): bounded loops on
loopback that print what they measured.  Every mode ends on its own.

  early HOST PORT METHOD PATH [HEADER...]   announce a 4 MiB body, send none:
        the status line must come back anyway (the server decided from the
        headers); prints the status
  flood HOST PORT N PID                     N unauthenticated POSTs of 4 MiB at
        once; prints the server's peak RSS (VmHWM) before and after, in KiB
  slowbody HOST PORT SECONDS [HEADER...]   a body of 1000 bytes sent a byte
        every 0.5 s: prints "cut SECONDS" when the server closed it, else "held"
  raw HOST PORT HEX                         one request given as hex bytes
        (to send what curl cannot: a NUL in a header); prints the status
  drip HOST PORT SECONDS N ADDR...          slow clients: from each source ADDR
        N connections, each sending one header
        byte every 0.5 s, reconnecting when cut off; prints how many the
        server cut off after they had been open for a second or more
  serve HOST PORT SECONDS PATH [HEADER...]  a legitimate client, trying again
        when refused: prints the status, seconds taken and tries
"""
import socket, sys, threading, time


def status_of(sock, timeout=10):
    sock.settimeout(timeout)
    data = b""
    while b"\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data.split(b" ")[1].decode() if data.startswith(b"HTTP/") else "none"


def early(host, port, method, path, *headers):
    s = socket.create_connection((host, int(port)))
    head = "%s %s HTTP/1.1\r\nHost: x\r\n" % (method, path)
    if not any(h.lower().startswith("content-length:") for h in headers):
        head += "Content-Length: %d\r\n" % (4 << 20)
    head += "".join(h + "\r\n" for h in headers) + "\r\n"
    s.sendall(head.encode())
    try:
        print(status_of(s, 5))
    except socket.timeout:
        print("timeout")


def slowbody(host, port, seconds, *headers):
    """A POST announcing 1000 bytes of body that sends one byte every
    0.5 s: prints "cut" with the seconds when the server closed it, or
    "held" after SECONDS."""
    s = socket.create_connection((host, int(port)))
    s.sendall(("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n%s\r\n" %
               "".join(h + "\r\n" for h in headers)).encode())
    start = time.time()
    s.setblocking(False)
    while time.time() - start < float(seconds):
        time.sleep(0.5)
        try:
            if s.recv(4096) == b"":
                print("cut", "%.1f" % (time.time() - start))
                return
        except BlockingIOError:
            pass
        except OSError:
            print("cut", "%.1f" % (time.time() - start))
            return
        try:
            s.sendall(b" ")
        except OSError:
            print("cut", "%.1f" % (time.time() - start))
            return
    print("held")


def rss_peak(pid):
    for line in open("/proc/%s/status" % pid):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])


def flood(host, port, n, pid):
    n = int(n)
    before = rss_peak(pid)
    body = b"a" * ((4 << 20) - 1)
    barrier = threading.Barrier(n)
    def one():
        try:
            s = socket.create_connection((host, int(port)))
            s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: %d\r\n\r\n" % (4 << 20))
            try:
                s.sendall(body)     # refused at the headers: the server stops reading
            except OSError:
                pass
        except OSError:
            s = None
        try:
            barrier.wait(30)        # every body in flight at once, then the last byte
        except threading.BrokenBarrierError:
            pass
        if s:
            try:
                s.sendall(b"}")
                status_of(s, 10)
            except OSError:
                pass
            s.close()
    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(before, rss_peak(pid))


def raw(host, port, hexed):
    s = socket.create_connection((host, int(port)))
    s.sendall(bytes.fromhex(hexed))
    print(status_of(s, 10))


def drip(host, port, seconds, per_address, *addrs):
    per_address = int(per_address)
    end = time.time() + float(seconds)
    socks, cut = [], 0
    def connect(addr):
        s = socket.socket()
        s.bind((addr, 0))
        s.settimeout(0.2)
        try:
            s.connect((host, int(port)))
            s.sendall(b"G")
            s.setblocking(False)
            return [s, time.time(), False]
        except OSError:
            s.close()
            return None
    def closed(s):
        try:
            return s.recv(1, socket.MSG_DONTWAIT) == b""
        except BlockingIOError:
            return False
        except OSError:
            return True
    for addr in addrs:
        for _ in range(per_address):
            c = connect(addr)
            if c:
                socks.append([addr] + c)
    while time.time() < end:
        time.sleep(0.5)
        kept = []
        for c in socks:
            addr, s, since, seen_open = c
            if not closed(s):
                try:
                    s.sendall(b"E")
                    c[3] = seen_open or time.time() - since >= 1.0
                    kept.append(c)
                    continue
                except OSError:
                    pass
            # one refused over a limit is closed at once; one cut off at
            # the deadline had been seen open a second after it started
            cut += seen_open
            s.close()
            again = connect(addr)
            if again:
                kept.append([addr] + again)
        socks = kept
    print(cut)


def serve(host, port, seconds, path, *headers):
    """A legitimate client: GET path until it is answered (a connection
    refused or reset is tried again after 0.1 s); prints the status, the
    seconds it took and the tries."""
    start = time.time()
    tries = 0
    while time.time() - start < float(seconds):
        tries += 1
        try:
            s = socket.create_connection((host, int(port)), timeout=float(seconds))
            s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n%sConnection: close\r\n\r\n" %
                       (path, "".join(h + "\r\n" for h in headers))).encode())
            status = status_of(s, float(seconds))
            s.close()
            if status != "none":
                print(status, "%.3f" % (time.time() - start), tries)
                return
        except OSError:
            pass
        time.sleep(0.1)
    print("none", "%.3f" % (time.time() - start), tries)


if __name__ == "__main__":
    {"early": early, "flood": flood, "raw": raw, "drip": drip, "serve": serve,
     "slowbody": slowbody}[sys.argv[1]](*sys.argv[2:])
