#!/usr/bin/env python3
"""A fake application for canary analysis tests: it exports the metrics a web
service would, as if traffic were flowing, without any real traffic.

  exporter.py [--port N] [--port-file FILE]

Listens on 127.0.0.1:N (N=0 or none: a free port, written to FILE). Paths:
  GET  /metrics   Prometheus text format:
                    http_requests_total{code="200"|"500",version}
                    http_request_duration_seconds_bucket{version,le}
                      (le 0.005 .. 10 and +Inf), _sum, _count
  POST /control   JSON {"version":"v2","rps":50,"error_rate":0.2,
                        "latency_ms":300,"latency_spread":0.5}
                  sets one version's traffic (fields left out keep their
                  value; a new version starts at rps 0, error_rate 0,
                  latency_ms 50, spread 0.5); {"version":"v2","remove":true}
                  stops exporting it. Answers the whole state.
  GET  /control   the whole state.

Counters advance by elapsed seconds x rps whenever they are read or the
traffic changes, so the rate Prometheus computes is the rps that was set:
errors advance by error_rate x requests, and latencies follow a log-normal
distribution with median latency_ms and shape latency_spread (0: every
request takes exactly latency_ms), its expected bucket fractions added
exactly. Values are floats, so ratios are exact. A version with rps 0 is
still exported (its rates are 0, so errors/total is 0/0 = NaN).
"""
import argparse
import http.server
import json
import math
import os
import threading
import time

BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
lock = threading.Lock()
versions = {}  # name -> state dict


def new_version():
    return {"rps": 0.0, "error_rate": 0.0, "latency_ms": 50.0, "latency_spread": 0.5,
            "ok": 0.0, "errors": 0.0, "buckets": [0.0] * len(BUCKETS), "sum": 0.0,
            "t": time.monotonic()}


def fraction_below(le, median_s, spread):
    """P(latency <= le) for a log-normal with this median and shape."""
    if spread <= 0:
        return 1.0 if median_s <= le else 0.0
    z = (math.log(le) - math.log(median_s)) / spread
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))


def advance(v, now):
    dt = max(0.0, now - v["t"])
    v["t"] = now
    n = dt * v["rps"]
    if n <= 0:
        return
    v["errors"] += n * v["error_rate"]
    v["ok"] += n * (1 - v["error_rate"])
    median = max(v["latency_ms"], 1e-6) / 1000.0
    for i, le in enumerate(BUCKETS):
        v["buckets"][i] += n * fraction_below(le, median, v["latency_spread"])
    v["sum"] += n * median * math.exp(v["latency_spread"] ** 2 / 2)


def public(v):
    return {k: v[k] for k in ("rps", "error_rate", "latency_ms", "latency_spread")}


def fmt(x):
    return repr(float(x))


def render():
    now = time.monotonic()
    out = ["# HELP http_requests_total Requests served, by status code and version.",
           "# TYPE http_requests_total counter"]
    with lock:
        for name in sorted(versions):
            advance(versions[name], now)
        snap = {k: dict(v, buckets=list(v["buckets"])) for k, v in versions.items()}
    for name in sorted(snap):
        v = snap[name]
        out.append('http_requests_total{code="200",version="%s"} %s' % (name, fmt(v["ok"])))
        out.append('http_requests_total{code="500",version="%s"} %s' % (name, fmt(v["errors"])))
    out += ["# HELP http_request_duration_seconds Request latency, by version.",
            "# TYPE http_request_duration_seconds histogram"]
    for name in sorted(snap):
        v = snap[name]
        total = v["ok"] + v["errors"]
        for le, c in zip(BUCKETS, v["buckets"]):
            out.append('http_request_duration_seconds_bucket{version="%s",le="%s"} %s'
                       % (name, repr(le), fmt(min(c, total))))
        out.append('http_request_duration_seconds_bucket{version="%s",le="+Inf"} %s'
                   % (name, fmt(total)))
        out.append('http_request_duration_seconds_sum{version="%s"} %s' % (name, fmt(v["sum"])))
        out.append('http_request_duration_seconds_count{version="%s"} %s' % (name, fmt(total)))
    return ("\n".join(out) + "\n").encode()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, code, data, ctype="application/json"):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def state(self):
        with lock:
            return json.dumps({k: public(v) for k, v in versions.items()}).encode()

    def do_GET(self):
        if self.path.split("?")[0] == "/metrics":
            return self.reply(200, render(), "text/plain; version=0.0.4")
        if self.path == "/control":
            return self.reply(200, self.state())
        self.reply(404, b'{"error":"not found"}')

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        if self.path != "/control":
            return self.reply(404, b'{"error":"not found"}')
        try:
            req = json.loads(body or b"{}")
            name = str(req["version"])
            if not name or any(c in name for c in '"\\\n'):
                raise ValueError("bad version name")
            now = time.monotonic()
            with lock:
                if req.get("remove"):
                    versions.pop(name, None)
                else:
                    v = versions.get(name) or new_version()
                    want = dict(public(v))
                    for k in want:
                        if k in req:
                            want[k] = float(req[k])
                    if not (want["rps"] >= 0 and 0 <= want["error_rate"] <= 1
                            and want["latency_ms"] > 0 and want["latency_spread"] >= 0
                            and all(math.isfinite(x) for x in want.values())):
                        raise ValueError("want rps >= 0, 0 <= error_rate <= 1, "
                                         "latency_ms > 0, latency_spread >= 0")
                    advance(v, now)  # the old traffic up to now
                    v.update(want)
                    versions[name] = v
        except (KeyError, ValueError, TypeError) as e:
            return self.reply(400, json.dumps({"error": str(e)}).encode())
        self.reply(200, self.state())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    a = ap.parse_args()
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    srv.daemon_threads = True
    if a.port_file:
        with open(a.port_file + ".tmp", "w") as f:
            f.write("%d\n" % srv.server_address[1])
        os.rename(a.port_file + ".tmp", a.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
