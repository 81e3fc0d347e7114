#!/usr/bin/env python3
"""Build a hub-shaped tree and an nginx configuration serving it, for the
exo-fetch tests (tests/shell/t035*-t039*).

    mkhub.py OUT PORT ORG/NAME=DIR [ORG/NAME=DIR ...]

OUT/nginx.conf serves, under several endpoint prefixes (HF_ENDPOINT is
http://127.0.0.1:PORT/PREFIX), what the Hugging Face hub serves:

  /api/models/ORG/NAME/revision/{main,COMMIT}  {"sha", "siblings": [...]} with
                                               sizes, blobId and lfs info
  /api/models/ORG/NAME/tree/{main,COMMIT}      the recursive tree listing
  /ORG/NAME/resolve/{main,COMMIT}/FILE         regular files: 200, ETag = the
                                               git blob id, X-Repo-Commit;
                                               *.safetensors, *.gguf (LFS): 302 to
                                               http://localhost:PORT/PREFIX/cdn/SHA256 (another host, as the CDN is) with
                                               X-Linked-Etag, X-Linked-Size
  /cdn/SHA256                                  the LFS content (Range works)

Prefixes: "" (the plain hub), /norange (the CDN ignores Range), /flaky (every
other CDN request is a 500), /private (401 without "Bearer hf_exotest"),
/corrupt (the CDN serves content with one byte changed), /slow (the CDN sends
200 KB/s).  /api/models/evil/repo/revision/main lists a file named
../../../../escaped.json.  Access log: OUT/access.log, one line per request:
METHOD URI STATUS BODY_BYTES RANGE.  Prints "ORG/NAME COMMIT" per repository.
"""
import hashlib
import json
import os
import shutil
import sys

TOKEN = "hf_exotest"
PREFIXES = {
    "": "",
    "/norange": "max_ranges 0;",
    "/flaky": None,  # proxied to an upstream that alternates 500 and the file
    "/private": "",
    "/corrupt": "",
    "/slow": "limit_rate 200k;",
}


def git_blob_id(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def is_lfs(name):
    return name.endswith((".safetensors", ".gguf"))  # both in the hub's default .gitattributes


def collect(src):
    files = []
    for root, dirs, names in os.walk(src):
        dirs[:] = sorted(d for d in dirs if d != "reference")
        for n in sorted(names):
            path = os.path.join(root, n)
            files.append((os.path.relpath(path, src), path))
    return files


def build_repo(out, repo, src):
    entries = []
    for name, path in collect(src):
        data = open(path, "rb").read()
        e = {"name": name, "size": len(data), "blob": git_blob_id(data), "path": path}
        if is_lfs(name):
            e["sha256"] = hashlib.sha256(data).hexdigest()
            e["blob"] = git_blob_id(b"version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %d\n"
                                    % (e["sha256"].encode(), len(data)))
            shutil.copyfile(path, os.path.join(out, "root/cdn", e["sha256"]))
            bad = bytearray(data)
            bad[len(bad) // 2] ^= 0xFF
            open(os.path.join(out, "root/cdn-corrupt", e["sha256"]), "wb").write(bad)
        else:
            dst = os.path.join(out, "root/files", repo, name)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copyfile(path, dst)
        entries.append(e)
    commit = hashlib.sha1((repo + "".join(e["name"] + e["blob"] for e in entries)).encode()).hexdigest()
    api = os.path.join(out, "root/api", repo)
    os.makedirs(api, exist_ok=True)
    siblings, tree = [], []
    for e in entries:
        s = {"rfilename": e["name"], "size": e["size"], "blobId": e["blob"]}
        t = {"type": "file", "oid": e["blob"], "size": e["size"], "path": e["name"]}
        if "sha256" in e:
            s["lfs"] = {"sha256": e["sha256"], "size": e["size"], "pointerSize": 134}
            t["lfs"] = {"oid": e["sha256"], "size": e["size"], "pointerSize": 134}
        siblings.append(s)
        tree.append(t)
    info = {"_id": commit[:24], "id": repo, "modelId": repo, "sha": commit, "private": False,
            "gated": False, "disabled": False, "downloads": 0, "likes": 0, "tags": [],
            "siblings": siblings}
    json.dump(info, open(os.path.join(api, "revision.json"), "w"))
    json.dump(tree, open(os.path.join(api, "tree.json"), "w"))
    return commit, entries


def auth_check(prefix):
    if prefix != "/private":
        return ""
    return ('if ($http_authorization != "Bearer %s") { add_header X-Error-Code GatedRepo always; '
            'return 401; }\n' % TOKEN)


def locations(out, prefix, repo, commit, entries):
    root = os.path.join(out, "root")
    conf = []
    for rev in ("main", commit):
        base = "%s/api/models/%s" % (prefix, repo)
        for kind, f in (("revision", "revision.json"), ("tree", "tree.json")):
            conf.append("location = %s/%s/%s { %s default_type application/json; alias %s/api/%s/%s; }"
                        % (base, kind, rev, auth_check(prefix), root, repo, f))
        for e in entries:
            loc = "%s/%s/resolve/%s/%s" % (prefix, repo, rev, e["name"])
            head = ('add_header X-Repo-Commit %s always; '
                    % commit)
            if "sha256" in e:
                conf.append('location = %s { %s %s add_header X-Linked-Etag "\\"%s\\"" always; '
                            'add_header X-Linked-Size %d always; add_header ETag "\\"%s\\"" always; '
                            'return 302 http://localhost:$server_port%s/cdn/%s; }'
                            % (loc, auth_check(prefix), head, e["sha256"], e["size"], e["sha256"],
                               prefix, e["sha256"]))
            else:
                conf.append('location = %s { %s %s etag off; add_header ETag "\\"%s\\"" always; '
                            'default_type application/octet-stream; alias %s/files/%s/%s; }'
                            % (loc, auth_check(prefix), head, e["blob"], root, repo, e["name"]))
    return conf


def cdn_location(out, prefix, extra):
    root = os.path.join(out, "root")
    if prefix == "/flaky":
        return "location /flaky/cdn/ { proxy_pass http://flaky; proxy_next_upstream off; }"
    blobs = "cdn-corrupt" if prefix == "/corrupt" else "cdn"
    return "location %s/cdn/ { %s alias %s/%s/; }" % (prefix, extra, root, blobs)


def main():
    out, port, specs = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    for d in ("root/cdn", "root/cdn-corrupt", "root/files", "root/api", "logs"):
        os.makedirs(os.path.join(out, d), exist_ok=True)
    out = os.path.abspath(out)
    locs = []
    for spec in specs:
        repo, src = spec.split("=", 1)
        commit, entries = build_repo(out, repo, src)
        print(repo, commit)
        for prefix in PREFIXES:
            locs += locations(out, prefix, repo, commit, entries)
    for prefix, extra in PREFIXES.items():
        locs.append(cdn_location(out, prefix, extra or ""))
    # a hostile repository: a file name that climbs out of the snapshot
    evil = os.path.join(out, "root/api/evil/repo")
    os.makedirs(evil, exist_ok=True)
    json.dump({"id": "evil/repo", "sha": "e" * 40, "siblings": [
        {"rfilename": "config.json"}, {"rfilename": "../../../../escaped.json"}]},
        open(os.path.join(evil, "revision.json"), "w"))
    locs.append("location = /api/models/evil/repo/revision/main { default_type application/json; "
                "alias %s/revision.json; }" % evil)
    conf = """daemon off;
master_process off;
worker_processes 1;
pid %(out)s/nginx.pid;
error_log %(out)s/error.log warn;
events { worker_connections 256; }
http {
    log_format hub '$request_method $uri $status $body_bytes_sent $http_range';
    access_log %(out)s/access.log hub;
    client_body_temp_path %(out)s/logs; proxy_temp_path %(out)s/logs;
    fastcgi_temp_path %(out)s/logs; uwsgi_temp_path %(out)s/logs; scgi_temp_path %(out)s/logs;
    default_type application/octet-stream;
    sendfile on;
    upstream flaky { server unix:%(out)s/bad.sock; server unix:%(out)s/good.sock; }
    server { listen unix:%(out)s/bad.sock; access_log off; location / { return 500; } }
    server { listen unix:%(out)s/good.sock; access_log off;
             location /flaky/cdn/ { alias %(out)s/root/cdn/; } }
    server {
        listen 127.0.0.1:%(port)d;
%(locs)s
    }
}
""" % {"out": out, "port": port, "locs": "\n".join("        " + l for l in locs)}
    open(os.path.join(out, "nginx.conf"), "w").write(conf)


if __name__ == "__main__":
    main()
