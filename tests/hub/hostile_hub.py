#!/usr/bin/env python3
"""A hostile Hugging Face hub on loopback, for the exo-fetch attack tests
(tests/shell/t0395-fetch-hostile.sh).  Next to the nginx hub of mkhub.py,
which plays a well-behaved hub, this one lies on purpose.

    hostile_hub.py PORT_FILE LOG [LIFETIME_S]

Serves one repository, o/n: config.json and sub/params.json (regular files,
ETag = git blob id) and model.safetensors (LFS: a 302 to /cdn/SHA256 with
X-Linked-Etag and X-Linked-Size 4096), the way the hub does.  HF_ENDPOINT is
http://127.0.0.1:PORT/MODE, where MODE picks the attack:

  good        a well-behaved hub (for the planted-link attacks)
  sha         /api answers "sha": "../../../../pwn..." (40 characters)
  xcommit     HEAD answers X-Repo-Commit: a path, not a commit
  etag        HEAD answers ETag and X-Linked-Etag: a path, not a blob id
  oversize    the CDN sends 64 MiB (no Content-Length) for the 4096 announced
  oversizecl  the same, announced with Content-Length: 67108864
  rangeclose  the CDN ignores Range and closes after 1 byte
  redirects   the CDN redirects to itself (at most 1000 times)
  trickle     the CDN sends 4 bytes/s
  slowapi     /api sends its answer at 4 bytes/s

Every loop is bounded; the server exits after LIFETIME_S (default 120).
LOG gets one line per request: MODE METHOD PATH STATUS BYTES_SENT.
"""
import hashlib
import http.server
import json
import os
import random
import sys
import threading
import time

REPO = "o/n"
LFS_SIZE = 4096
BIG = 64 << 20


def git_blob_id(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


FILES = {
    "config.json": json.dumps({"architectures": ["LlamaForCausalLM"], "model_type": "llama",
                               "num_hidden_layers": 2}).encode(),
    "sub/params.json": b'{"dim": 8}\n',
}
LFS = random.Random(7).randbytes(LFS_SIZE)
LFS_SHA = hashlib.sha256(LFS).hexdigest()
LFS_POINTER = b"version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %d\n" % (
    LFS_SHA.encode(), LFS_SIZE)
COMMIT = hashlib.sha1(b"hostile" + LFS).hexdigest()
# 40 characters, like a commit: snapshots/SHA climbs out of the cache
TRAVERSAL = "../../../../pwn"
TRAVERSAL += "w" * (40 - len(TRAVERSAL))


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def log(self, status, sent):
        with open(self.server.log, "a") as f:
            f.write("%s %s %s %d %d\n" % (self.mode, self.command, self.rest, status, sent))

    def send(self, status, body=b"", headers=(), length=True):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        if length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        sent = 0
        if self.command != "HEAD" and body:
            self.wfile.write(body)
            sent = len(body)
        self.log(status, sent)

    def stream(self, status, total, rate_delay, chunk, headers=()):
        """Send total bytes, chunk at a time, rate_delay seconds apart, until
        the client goes away; Connection: close ends the body."""
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Connection", "close")
        self.end_headers()
        sent = 0
        try:
            while sent < total:
                n = min(chunk, total - sent)
                self.wfile.write(b"\0" * n)
                self.wfile.flush()
                sent += n
                if rate_delay:
                    time.sleep(rate_delay)
        except OSError:
            pass
        self.close_connection = True
        self.log(status, sent)

    def split(self):
        parts = self.path.split("/", 2)     # "", MODE, REST
        self.mode = parts[1] if len(parts) > 1 else ""
        self.rest = "/" + parts[2] if len(parts) > 2 else "/"

    def api(self):
        sha = TRAVERSAL if self.mode == "sha" else COMMIT
        sib = [{"rfilename": n, "blobId": git_blob_id(d), "size": len(d)} for n, d in FILES.items()]
        sib.append({"rfilename": "model.safetensors", "blobId": git_blob_id(LFS_POINTER),
                    "size": len(LFS_POINTER), "lfs": {"sha256": LFS_SHA, "size": LFS_SIZE,
                                                      "pointerSize": len(LFS_POINTER)}})
        body = json.dumps({"id": REPO, "sha": sha, "siblings": sib}).encode()
        if self.mode == "slowapi":
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            sent = 0
            try:
                for i in range(len(body)):
                    self.wfile.write(body[i:i + 1])
                    self.wfile.flush()
                    sent += 1
                    time.sleep(0.25)
            except OSError:
                pass
            self.close_connection = True
            self.log(200, sent)
            return
        self.send(200, body, [("Content-Type", "application/json")])

    def resolve(self, name):
        commit = TRAVERSAL if self.mode in ("sha", "xcommit") else COMMIT
        bad = '"../../../../../../etc/passwd"' if self.mode == "etag" else None
        if name == "model.safetensors":
            host = self.headers.get("Host", "127.0.0.1")
            self.send(302, b"", [("Location", "http://%s/%s/cdn/%s" % (host, self.mode, LFS_SHA)),
                                 ("X-Repo-Commit", commit), ("X-Linked-Etag", bad or '"%s"' % LFS_SHA),
                                 ("X-Linked-Size", str(LFS_SIZE)), ("ETag", bad or '"%s"' % LFS_SHA)])
            return
        data = FILES.get(name)
        if data is None:
            self.send(404, b"not found")
            return
        self.send(200, data, [("ETag", bad or '"%s"' % git_blob_id(data)), ("X-Repo-Commit", commit)])

    def cdn(self):
        m = self.mode
        if m == "oversize":
            return self.stream(200, BIG, 0, 1 << 16)
        if m == "oversizecl":
            return self.stream(200, BIG, 0, 1 << 16, [("Content-Length", str(BIG))])
        if m == "rangeclose":
            return self.stream(200, 1, 0, 1, [("Content-Length", str(LFS_SIZE))])
        if m == "trickle":
            return self.stream(200, LFS_SIZE, 0.25, 1, [("Content-Length", str(LFS_SIZE))])
        if m == "redirects":
            n = int(self.rest.split("?n=")[1]) if "?n=" in self.rest else 0
            if n < 1000:
                base = self.rest.split("?")[0]
                return self.send(302, b"", [("Location", "/%s%s?n=%d" % (m, base, n + 1))])
            return self.send(404, b"enough")
        rng = self.headers.get("Range", "")
        start = int(rng[6:].split("-")[0]) if rng.startswith("bytes=") else 0
        if start:
            return self.send(206, LFS[start:], [("Content-Range", "bytes %d-%d/%d" % (
                start, LFS_SIZE - 1, LFS_SIZE))])
        self.send(200, LFS)

    def route(self):
        self.split()
        r = self.rest
        api = "/api/models/%s/revision/" % REPO
        res = "/%s/resolve/" % REPO
        if r.startswith(api):
            return self.api()
        if r.startswith(res):
            name = r[len(res):].split("/", 1)[1] if "/" in r[len(res):] else ""
            return self.resolve(name)
        if r.startswith("/cdn/"):
            return self.cdn()
        # curl squashes the "../" of a hostile commit in the URL: what is
        # left still names a file, which the lying hub serves
        for name in list(FILES) + ["model.safetensors"]:
            if self.path.endswith("/" + name):
                self.mode = "sha"
                return self.resolve(name)
        self.send(404, b"not found")

    def do_GET(self):
        self.route()

    def do_HEAD(self):
        self.route()


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


def main():
    port_file, log = sys.argv[1], sys.argv[2]
    lifetime = float(sys.argv[3]) if len(sys.argv) > 3 else 120
    srv = Server(("127.0.0.1", 0), Handler)
    srv.log = log
    open(log, "a").close()
    threading.Timer(lifetime, lambda: os._exit(0)).start()
    with open(port_file + ".tmp", "w") as f:
        f.write("%d\n%s\n%s\n" % (srv.server_address[1], COMMIT, LFS_SHA))
    os.rename(port_file + ".tmp", port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
