#!/usr/bin/env bash
# make bench: sluice's figures beside its peer's, measured in the same run.
#
# 1. Loading manifests: 1,000 objects (500 ConfigMaps, 500 Deployments in 100
#    files) read, checked and printed as JSON, by `sluice render` and by
#    kubectl reading the same folder locally (`kubectl label --local -R -o json`,
#    the closest thing kubectl has to a render). Wall time (median of 5) and
#    peak RSS.
set -euo pipefail
cd "$(dirname "$0")/.."
sluice=$PWD/bin/sluice
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export KUBECONFIG="$tmp/kubeconfig"
: >"$KUBECONFIG"
runs=5

mkdir -p "$tmp/repo"
for f in $(seq 1 100); do
	{
		for i in $(seq 1 5); do
			n=$(((f - 1) * 5 + i))
			cat <<YAML
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings-$n
  namespace: bench
  labels: {app: app-$n, tier: backend}
data:
  LOG_LEVEL: info
  TIMEOUT: "30s"
  config.yaml: |
    server:
      port: 8080
      workers: 4
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-$n
  namespace: bench
  labels: &labels {app: app-$n, tier: backend}
spec:
  replicas: 3
  selector:
    matchLabels: *labels
  template:
    metadata:
      labels: *labels
    spec:
      containers:
      - name: app
        image: registry.example/app:1.$n.0
        ports: [{containerPort: 8080, name: http}]
        env:
        - {name: MODE, value: "on"}
        resources:
          requests: {cpu: 100m, memory: 64Mi}
          limits: {memory: 128Mi}
YAML
		done
	} >"$tmp/repo/file-$f.yaml"
done

# measure NAME CMD...: prints "median_ms peak_kib" over $runs runs
measure() {
	local times=() rss=0 t k
	for _ in $(seq 1 $runs); do
		/usr/bin/time -f '%e %M' -o "$tmp/t" "$@" >"$tmp/out" 2>"$tmp/err" || {
			echo "bench: $* failed: $(head -3 "$tmp/err")" >&2
			return 1
		}
		read -r t k < <(tail -n 1 "$tmp/t")
		times+=("$(awk -v s="$t" 'BEGIN { printf "%d", s * 1000 }')")
		[ "$k" -gt "$rss" ] && rss=$k
	done
	printf '%s %s\n' "$(printf '%s\n' "${times[@]}" | sort -n | sed -n "$(((runs + 1) / 2))p")" "$rss"
}

echo "bench: loading 1,000 objects from 100 files (median of $runs runs)"
read -r s_ms s_kib < <(measure "$sluice" render "$tmp/repo" -o json)
objs=$("$sluice" render "$tmp/repo" -o json | grep -c '"kind": "Deployment"\|"kind": "ConfigMap"' || true)
printf '  %-28s %8s ms %10s KiB peak RSS   (%s objects)\n' "sluice render -o json" "$s_ms" "$s_kib" "$objs"
if command -v kubectl >/dev/null; then
	read -r k_ms k_kib < <(measure kubectl label --local -R -f "$tmp/repo" x- -o json)
	printf '  %-28s %8s ms %10s KiB peak RSS\n' "kubectl label --local -o json" "$k_ms" "$k_kib"
	awk -v a="$s_ms" -v b="$k_ms" -v c="$s_kib" -v d="$k_kib" 'BEGIN {
		printf "  sluice: %.1fx the speed of kubectl, %.1f%% of its memory\n",
		       (a > 0 ? b / a : b), 100 * c / d }'
else
	echo "  kubectl: not installed, no peer figure"
fi

# 2. Applying to a real API server: 1,000 objects (500 ConfigMaps, 500
#    Deployments) server-side applied into the sandbox by sluice's client, by
#    `kubectl apply --server-side -f DIR`, and by a parallel raw-curl loop (the
#    server's ceiling: curl --parallel over HTTP/2, 64 at once). Each tool
#    applies into its own namespace, so each creates its 1,000 objects.
echo
echo "bench: server-side apply of 1,000 objects into the sandbox"
apply=${BENCH_APPLY:-$PWD/build/default/bench/apply}
sbx="$tmp/sandbox"
tests/sandbox/sandbox up "$sbx" >/dev/null
trap 'tests/sandbox/sandbox down "$sbx" >/dev/null 2>&1; rm -rf "$tmp"' EXIT
eval "$(tests/sandbox/sandbox env "$sbx")"
export KUBECONFIG
port=${SANDBOX_SERVER##*:}
token=$(cat "$SANDBOX_ADMIN_TOKEN_FILE")
python3 - "$tmp" "$port" "$SANDBOX_CA" "$token" <<'PY'
import json, os, sys
tmp, port, ca, token = sys.argv[1:5]
for tool in ("sluice", "kubectl", "curl"):
    ns = "bench-" + tool
    d = os.path.join(tmp, "apply-" + tool)
    os.makedirs(d, exist_ok=True)
    objs = []
    for i in range(500):
        objs.append({"apiVersion": "v1", "kind": "ConfigMap",
                     "metadata": {"name": "settings-%d" % i, "namespace": ns, "labels": {"app": "app-%d" % i}},
                     "data": {"LOG_LEVEL": "info", "TIMEOUT": "30s", "config.yaml": "server:\n  port: 8080\n"}})
        labels = {"app": "app-%d" % i}
        objs.append({"apiVersion": "apps/v1", "kind": "Deployment",
                     "metadata": {"name": "app-%d" % i, "namespace": ns, "labels": labels},
                     "spec": {"replicas": 0, "selector": {"matchLabels": labels},
                              "template": {"metadata": {"labels": labels},
                                           "spec": {"containers": [{"name": "app", "image": "app:1.%d" % i,
                                                                    "ports": [{"containerPort": 8080}]}]}}}})
    for f in range(100):
        with open(os.path.join(d, "file-%03d.json" % f), "w") as out:
            for o in objs[f * 10:(f + 1) * 10]:
                out.write(json.dumps(o) + "\n")
    if tool == "curl":
        with open(os.path.join(tmp, "curl.cfg"), "w") as cfg:
            for k, o in enumerate(objs):
                path = "/api/v1/namespaces/%s/configmaps/%s" if o["kind"] == "ConfigMap" else "/apis/apps/v1/namespaces/%s/deployments/%s"
                body = os.path.join(tmp, "curl-body-%d.json" % k)
                with open(body, "w") as b:
                    json.dump(o, b)
                cfg.write('url = "https://127.0.0.1:%s%s?fieldManager=curl&force=true"\n' % (port, path % (ns, o["metadata"]["name"])))
                cfg.write('request = "PATCH"\ncacert = "%s"\n' % ca)
                cfg.write('header = "Content-Type: application/apply-patch+yaml"\n')
                cfg.write('header = "Authorization: Bearer %s"\n' % token)
                cfg.write('data-binary = "@%s"\noutput = "/dev/null"\nwrite-out = "%%{http_code}\\n"\n' % body)
                if k + 1 < len(objs):
                    cfg.write("next\n")
PY
for ns in bench-sluice bench-kubectl bench-curl; do
	kubectl create namespace "$ns" >/dev/null
done

timed() { # timed OUTFILE CMD...: prints "ms kib"
	local out=$1; shift
	/usr/bin/time -f '%e %M' -o "$tmp/t" "$@" >"$out" 2>&1 || { echo "bench: $1 failed:" >&2; tail -n 5 "$out" >&2; return 1; }
	read -r t k < <(tail -n 1 "$tmp/t")
	printf '%s %s\n' "$(awk -v s="$t" 'BEGIN { printf "%d", s * 1000 }')" "$k"
}
read -r a_ms a_kib < <(timed "$tmp/o1" "$apply" "$tmp/apply-sluice")
read -r k_ms k_kib < <(timed "$tmp/o2" kubectl apply --server-side -f "$tmp/apply-kubectl")
read -r c_ms c_kib < <(timed "$tmp/o3" curl --parallel --parallel-max 64 --http2 -sS -K "$tmp/curl.cfg")
ok_curl=$(grep -c '^20[01]$' "$tmp/o3" || true)
count() { kubectl get configmaps,deployments -n "$1" --no-headers 2>/dev/null | grep -vc kube-root-ca || true; }
printf '  %-40s %7s ms %9s KiB peak RSS  (%s objects in the namespace)\n' "sluice client (bench/apply)" "$a_ms" "$a_kib" "$(count bench-sluice)"
printf '  %-40s %7s ms %9s KiB peak RSS  (%s objects)\n' "kubectl apply --server-side -f DIR" "$k_ms" "$k_kib" "$(count bench-kubectl)"
printf '  %-40s %7s ms %9s KiB peak RSS  (%s of 1000 answered 200/201)\n' "curl --parallel (64 at once, HTTP/2)" "$c_ms" "$c_kib" "$ok_curl"
awk -v a="$a_ms" -v k="$k_ms" -v c="$c_ms" -v ar="$a_kib" -v kr="$k_kib" 'BEGIN {
	printf "  sluice vs kubectl: %.1fx faster (target >= 3x); vs the curl ceiling: %.2fx its time (target <= 1.5x); RSS %.0f%% of kubectl (target < 25%%)\n",
	       k / a, a / c, 100 * ar / kr }'
