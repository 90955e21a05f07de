#!/usr/bin/env python3
"""A webhook receiver for the notification tests: records each POST (path and
JSON body) as one line of JSON in --out, answers the first --fail requests
with 500, and writes its port to --port-file."""
import argparse
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ap = argparse.ArgumentParser()
ap.add_argument("--out", required=True)
ap.add_argument("--port-file", required=True)
ap.add_argument("--fail", type=int, default=0)
args = ap.parse_args()
lock = threading.Lock()
seen = {"n": 0}


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n).decode("utf-8", "replace")
        with lock:
            seen["n"] += 1
            failing = seen["n"] <= args.fail
            with open(args.out, "a") as f:
                f.write(json.dumps({"path": self.path, "status": 500 if failing else 200,
                                    "body": body}) + "\n")
        self.send_response(500 if failing else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *a):
        pass


srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(args.port_file, "w") as f:
    f.write(str(srv.server_address[1]))
srv.serve_forever()
