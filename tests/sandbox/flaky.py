#!/usr/bin/env python3
"""A small HTTP server on loopback that fails on purpose, for the client's
retry tests. It writes its port to the file named by argv[1] and serves until
killed. Paths:
  /count/NAME        how many requests NAME has had (JSON)
  /fail/NAME/N/CODE  answer CODE (with Retry-After: 0) N times, then 200
  /after/NAME/SECS   always 429 with Retry-After: SECS
  /status/CODE       always CODE with a Kubernetes Status body
  /api, /apis, /api/v1   discovery of one kind, v1 ConfigMap
  /api/v1/namespaces/silent/configmaps   an empty list; with watch=1, a
                     stream that sends nothing (a silent watch), counted as
                     "watch", the resourceVersions asked for kept in order
"""
import time
import http.server
import json
import sys
import threading

counts = {}
lock = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, code, body, headers=()):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        path, _, query = self.path.partition("?")
        if path == "/api":
            return self.reply(200, {"kind": "APIVersions", "versions": ["v1"]})
        if path == "/apis":
            return self.reply(200, {"kind": "APIGroupList", "groups": []})
        if path == "/api/v1":
            return self.reply(200, {"kind": "APIResourceList", "groupVersion": "v1", "resources": [
                {"name": "configmaps", "kind": "ConfigMap", "namespaced": True}]})
        if path == "/api/v1/namespaces/silent/configmaps":
            if "watch=1" not in query:
                return self.reply(200, {"kind": "ConfigMapList", "items": [],
                                        "metadata": {"resourceVersion": "42"}})
            rv = [q.split("=", 1)[1] for q in query.split("&") if q.startswith("resourceVersion=")]
            with lock:
                counts["watch"] = counts.get("watch", 0) + 1
                counts.setdefault("watch-rvs", []).append(rv[0] if rv else "")
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.flush()
            time.sleep(30)  # say nothing
            return
        parts = path.strip("/").split("/")
        if parts[0] == "count":
            with lock:
                return self.reply(200, {"count": counts.get(parts[1], 0)})
        name = parts[1] if len(parts) > 1 else ""
        with lock:
            counts[name] = counts.get(name, 0) + 1
            seen = counts[name]
        if parts[0] == "fail":
            times, code = int(parts[2]), int(parts[3])
            if seen <= times:
                return self.reply(code, {"kind": "Status", "status": "Failure",
                                         "message": "try again", "code": code},
                                  [("Retry-After", "0")])
            return self.reply(200, {"ok": True, "attempts": seen})
        if parts[0] == "after":
            return self.reply(429, {"kind": "Status", "message": "slow down", "code": 429,
                                    "reason": "TooManyRequests"},
                              [("Retry-After", parts[2])])
        if parts[0] == "status":
            code = int(parts[1])
            return self.reply(code, {"kind": "Status", "status": "Failure", "code": code,
                                     "reason": parts[2] if len(parts) > 2 else "",
                                     "message": "status %d" % code})
        return self.reply(404, {"kind": "Status", "reason": "NotFound", "message": "no such path"})

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = handle_any


srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
import os
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
srv.serve_forever()
