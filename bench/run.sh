#!/usr/bin/env bash
# make bench: sluice's figures beside its peer's, measured in the same run.
#
# 1. Loading manifests: 1,000 objects (500 ConfigMaps, 500 Deployments in 100
#    files) read, checked and printed as JSON, by `sluice render` and by
#    kubectl reading the same folder locally (`kubectl label --local -R -o json`,
#    the closest thing kubectl has to a render). Wall time (median of 5) and
#    peak RSS.
# 2. Server-side apply of 1,000 objects: sluice's client, kubectl, raw curl.
# 3. A GitOps sync of those objects from Git and a no-op resync, beside
#    `kubectl apply --prune` (requests, writes, CPU).
# 4. Commit to applied through a signed webhook and through polling.
# 5. Canary analysis: time to detect a canary failing 20% of requests
#    (interval 10 s) beside a Prometheus alerting rule on the same query, and
#    the comparative judge's false rollbacks on simulated canaries.
# 6. sluiced's memory: resident set idle (Application mode, no Applications)
#    and with 1,000 managed objects (single-app mode and one Application),
#    beside kubectl watching; and the OCI image's size (make image).
# Each part is described again where it runs. BENCH_PARTS selects parts, e.g.
# BENCH_PARTS=5 or BENCH_PARTS="5 6"; parts 1 to 4 build on each other and run
# together when any of them is asked for.
set -euo pipefail
cd "$(dirname "$0")/.."
sluice=$PWD/bin/sluice
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export KUBECONFIG="$tmp/kubeconfig"
: >"$KUBECONFIG"
runs=5
want() { # want N: part N was asked for (BENCH_PARTS, default all)
	case " $(tr ',' ' ' <<<"${BENCH_PARTS:-all}") " in *" all "* | *" $1 "*) return 0 ;; esac
	return 1
}

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

if want 1 || want 2 || want 3 || want 4; then
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

# 3. A GitOps sync of the same 1,000 objects from a Git repository: the first
#    sync (sluiced --once) beside `kubectl apply --prune` of the same folder
#    (kubectl cannot prune what it applied server-side), then a no-op resync by each: wall and CPU time, API requests
#    (sluiced's own count), and objects written (resourceVersion moved; target 0).
echo
echo "bench: GitOps sync of 1,000 objects from Git"
G="git -c user.name=Bench -c user.email=bench@example.com -c init.defaultBranch=main"
mkdir -p "$tmp/gitwork/objs" "$tmp/kprune"
for f in "$tmp"/apply-sluice/*.json; do
	sed 's/bench-sluice/bench-git/g; s/^/---\n/' "$f" >"$tmp/gitwork/objs/$(basename "$f" .json).yaml"
	sed 's/bench-sluice/bench-kprune/g' "$f" >"$tmp/kprune/$(basename "$f")"
done
kubectl create namespace bench-git >/dev/null
kubectl create namespace bench-kprune >/dev/null
(cd "$tmp/gitwork" && $G init -q . && $G add -A && $G commit -q -m bench)
git clone -q --bare "$tmp/gitwork" "$tmp/bench.git"
sluiced=$PWD/bin/sluiced
sync_git=("$sluiced" --repo "$tmp/bench.git" --path objs --app bench --namespace bench-git --once
	--cache-dir "$tmp/gitcache" --kubeconfig "$KUBECONFIG")
# kubectl cannot prune server-side applied objects ("--prune is in alpha and
# doesn't currently work on objects created by server-side apply"): its GitOps
# equivalent is a client-side apply with --prune
kprune=(kubectl apply --prune -l 'sluice-bench!=none' --prune-allowlist=core/v1/ConfigMap
	--prune-allowlist=apps/v1/Deployment -n bench-kprune -f "$tmp/kprune")
rv() { kubectl get configmaps,deployments -n "$1" -o jsonpath='{range .items[*]}{.metadata.name}={.metadata.resourceVersion}{"\n"}{end}' | sort; }
cputime() { # cputime OUTFILE CMD...: prints "wall_ms cpu_ms kib"
	local out=$1; shift
	/usr/bin/time -f '%e %U %S %M' -o "$tmp/t" "$@" >"$out" 2>&1 || { echo "bench: $1 failed:" >&2; tail -n 5 "$out" >&2; return 1; }
	read -r w u s k < <(tail -n 1 "$tmp/t")
	awk -v w="$w" -v u="$u" -v s="$s" -v k="$k" 'BEGIN { printf "%d %d %s\n", w * 1000, (u + s) * 1000, k }'
}
requests() { python3 -c 'import json,sys
for l in open(sys.argv[1]):
    try: d=json.loads(l)
    except ValueError: continue
    if d.get("msg")=="synced": print(d.get("api_requests","?"), d.get("cpu_ms","?"))' "$1"; }
read -r s1_ms s1_cpu s1_kib < <(cputime "$tmp/s1" "${sync_git[@]}")
read -r k1_ms k1_cpu k1_kib < <(cputime "$tmp/k1" "${kprune[@]}")
rv bench-git >"$tmp/rv-s1"; rv bench-kprune >"$tmp/rv-k1"
read -r s2_ms s2_cpu s2_kib < <(cputime "$tmp/s2" "${sync_git[@]}")
read -r k2_ms k2_cpu k2_kib < <(cputime "$tmp/k2" "${kprune[@]}")
rv bench-git >"$tmp/rv-s2"; rv bench-kprune >"$tmp/rv-k2"
ws=$(diff "$tmp/rv-s1" "$tmp/rv-s2" | grep -c '^>' || true)
wk=$(diff "$tmp/rv-k1" "$tmp/rv-k2" | grep -c '^>' || true)
read -r r1 c1 < <(requests "$tmp/s1")
printf '  %-44s %7s ms wall %6s ms CPU %8s KiB  %5s API requests\n' "sluiced --once, first sync" "$s1_ms" "$s1_cpu" "$s1_kib" "$r1"
printf '  %-44s %7s ms wall %6s ms CPU %8s KiB\n' "kubectl apply --prune, first" "$k1_ms" "$k1_cpu" "$k1_kib"
read -r r2 c2 < <(requests "$tmp/s2")
printf '  %-44s %7s ms wall %6s ms CPU %8s KiB  %5s API requests (discovery included), %s objects written\n' "sluiced --once, no-op resync" "$s2_ms" "$s2_cpu" "$s2_kib" "$r2" "$ws"
printf '  %-44s %7s ms wall %6s ms CPU %8s KiB  %5s objects written\n' "kubectl apply --prune, again" "$k2_ms" "$k2_cpu" "$k2_kib" "$wk"
# the same resync inside a running controller (discovery cached): its rounds' own figures
"$sluiced" --repo "$tmp/bench.git" --path objs --app bench --namespace bench-git --interval 1 \
	--cache-dir "$tmp/gitcache" --kubeconfig "$KUBECONFIG" 2>"$tmp/s3" &
s3_pid=$!
for _ in $(seq 1 300); do [ "$(grep -c '"msg":"synced"' "$tmp/s3")" -ge 4 ] && break; sleep 0.1; done
kill $s3_pid; wait $s3_pid 2>/dev/null || true
rv bench-git >"$tmp/rv-s3"
w3=$(diff "$tmp/rv-s1" "$tmp/rv-s3" | grep -c '^>' || true)
read -r r3 c3 m3 < <(python3 -c 'import json,sys
rounds=[json.loads(l) for l in open(sys.argv[1]) if l.startswith("{") and "\"synced\"" in l][1:]
rounds.sort(key=lambda d: float(d["cpu_ms"]))
d=rounds[len(rounds)//2]
print(d["api_requests"], d["cpu_ms"], d["wall_ms"])' "$tmp/s3")
printf '  %-44s %7s ms wall %6s ms CPU %8s      %5s API requests, %s objects written (targets: CPU < 50 ms, 0 writes)\n' "no-op round in a running sluiced (median)" "$m3" "$c3" "" "$r3" "$w3"
awk -v a="$s1_ms" -v b="$k1_ms" -v c="$s2_ms" -v d="$k2_ms" 'BEGIN {
	printf "  first sync: sluice %.1fx faster than kubectl; no-op resync: %.1fx faster\n", b / a, d / c }'

# 4. Commit to applied: a commit is pushed, then the time until the change is
#    in the cluster, through a signed webhook and through polling (interval
#    5 s), with sluiced in Application mode. Median of 9 (webhook), 5 (polling).
echo
echo "bench: commit to applied (sluiced in Application mode)"
kubectl apply -f deploy/crds/application.yaml >/dev/null
kubectl wait --for condition=established crd/applications.sluice.dev --timeout=30s >/dev/null
mkdir -p "$tmp/lat/cfg"
git init -q --bare "$tmp/lat.git"
(cd "$tmp/lat" && $G init -q . && printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: lat\ndata: {count: "0"}\n' >cfg/lat.yaml &&
	$G add -A && $G commit -q -m lat0 && git push -q "$tmp/lat.git" HEAD:main)
git -C "$tmp/lat.git" symbolic-ref HEAD refs/heads/main
kubectl create namespace bench-lat >/dev/null
printf 'bench-secret' >"$tmp/hook.secret"
cat <<Y | kubectl apply -f - >/dev/null
apiVersion: sluice.dev/v1alpha1
kind: Application
metadata: {name: lat, namespace: bench-lat}
spec:
  source: {repoURL: "$tmp/lat.git", path: cfg}
  syncPolicy: {interval: 5s}
Y
"$sluiced" --cache-dir "$tmp/latcache" --kubeconfig "$KUBECONFIG" --http-addr 127.0.0.1:0 \
	--webhook-secret-file "$tmp/hook.secret" 2>"$tmp/lat.log" &
lat_pid=$!
trap 'kill $lat_pid 2>/dev/null || true; tests/sandbox/sandbox down "$sbx" >/dev/null 2>&1; rm -rf "$tmp"' EXIT
for _ in $(seq 1 100); do grep -q '"msg":"synced"' "$tmp/lat.log" && break; sleep 0.1; done
hport=$(python3 -c 'import json,sys
for l in open(sys.argv[1]):
    d=json.loads(l)
    if d.get("msg")=="http: listening": print(d["port"])' "$tmp/lat.log")
api="$SANDBOX_SERVER/api/v1/namespaces/bench-lat/configmaps/lat"
value() { curl -sf --cacert "$SANDBOX_CA" -H "Authorization: Bearer $token" "$api" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["count"])' 2>/dev/null || true; }
n=0
one() { # one webhook|poll: prints ms from push to applied
	n=$((n + 1))
	(cd "$tmp/lat" && sed -i "s/count: \"[0-9]*\"/count: \"$n\"/" cfg/lat.yaml && $G commit -qam "lat$n" && git push -q "$tmp/lat.git" HEAD:main)
	local t0 body sig
	t0=$(date +%s%N)
	if [ "$1" = webhook ]; then
		body="{\"ref\":\"refs/heads/main\",\"repository\":{\"clone_url\":\"$tmp/lat.git\"}}"
		sig=$(printf '%s' "$body" | openssl dgst -sha256 -hmac bench-secret | sed 's/^.*= //')
		curl -s -o /dev/null -H "X-Hub-Signature-256: sha256=$sig" --data-binary "$body" "http://127.0.0.1:$hport/hooks/git"
	fi
	for _ in $(seq 1 2000); do
		[ "$(value)" = "$n" ] && break
		sleep 0.01
	done
	echo $((($(date +%s%N) - t0) / 1000000))
}
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
wh=$(for _ in $(seq 1 9); do one webhook; sleep 0.3; done | median)
po=$(for _ in $(seq 1 5); do one poll; sleep "0.$((RANDOM % 9))"; done | median)
kill $lat_pid; wait $lat_pid 2>/dev/null || true
printf '  %-44s %7s ms (target p50 < 1000 ms)\n' "push -> applied, signed webhook (p50 of 9)" "$wh"
printf '  %-44s %7s ms (interval 5 s: expect about half of it)\n' "push -> applied, polling (p50 of 5)" "$po"
echo "  peers' defaults: Argo CD polls every 180 s, Flux every 60 s (both take webhooks too)"
fi # BENCH_PARTS

# 5. Canary analysis.
#    (a) Time to detect: a canary Rollout (analysis interval 10 s, error rate
#    over [10s] at most 0.05) whose exporter (tests/sandbox/exporter.py) starts
#    failing 20% of the canary's requests at a measured moment T, a random
#    time into the analysis interval. From T: the failing analysis run
#    (status.analysis.lastRun) and RolledBack in the Rollout's status (read
#    every 0.1 s). Beside it, Prometheus's own detection in the same run: an
#    alerting rule with `for: 0s` on the same expression (scrape and rule
#    evaluation every 1 s), its activeAt from /api/v1/alerts. 5 rollouts, p50
#    and max. Target: at most one interval plus the scrape interval (11 s).
#    (b) The comparative judge on simulated canaries (bench/judge.c): false
#    rollbacks of healthy canaries during a global incident (target 0), and
#    canaries really worse than stable caught.
#    BENCH_SLUICED and BENCH_JUDGE name other builds of sluiced and bench/judge.
if want 5; then
echo
echo "bench: canary analysis, time to detect a canary failing 20% of requests (interval 10 s)"
if ! [ -x /usr/bin/prometheus ]; then
	echo "  prometheus: not installed, no figure"
else
	if [ -z "${sbx:-}" ]; then # part 2 did not run
		sbx="$tmp/sandbox"
		tests/sandbox/sandbox up "$sbx" >/dev/null
		eval "$(tests/sandbox/sandbox env "$sbx")"
		export KUBECONFIG
		token=$(cat "$SANDBOX_ADMIN_TOKEN_FILE")
	fi
	an_pid=
	exp_pid=
	trap 'kill ${lat_pid:-} $an_pid $exp_pid 2>/dev/null || true; tests/sandbox/prometheus down "$tmp/prom" >/dev/null 2>&1
		tests/sandbox/sandbox down "$sbx" >/dev/null 2>&1; rm -rf "$tmp"' EXIT
	python3 tests/sandbox/exporter.py --port-file "$tmp/exp.port" >/dev/null 2>&1 &
	exp_pid=$!
	for _ in $(seq 1 50); do [ -s "$tmp/exp.port" ] && break; sleep 0.1; done
	eport=$(cat "$tmp/exp.port")
	control() { curl -sf -X POST -d "$1" "http://127.0.0.1:$eport/control" >/dev/null; }
	control '{"version":"web","rps":75,"error_rate":0.0,"latency_ms":20}'
	control '{"version":"web-canary","rps":25,"error_rate":0.0,"latency_ms":20}'
	prom=$(tests/sandbox/prometheus up "$tmp/prom" "127.0.0.1:$eport" | tail -n 1)
	expr='sum(rate(http_requests_total{version="web-canary",code=~"5.."}[10s])) / sum(rate(http_requests_total{version="web-canary"}[10s]))'
	printf 'groups:\n  - name: bench\n    rules:\n      - alert: CanaryErrorRate\n        expr: %s > 0.05\n        for: 0s\n' \
		"$expr" >"$tmp/prom/rules.yml"
	printf 'rule_files: ["%s"]\n' "$tmp/prom/rules.yml" >>"$tmp/prom/prometheus.yml"
	curl -sf -X POST "$prom/-/reload" >/dev/null
	kubectl apply -f deploy/crds/ >/dev/null
	kubectl wait --for condition=established crd/rollouts.sluice.dev crd/applications.sluice.dev --timeout=30s >/dev/null
	AG="git -c user.name=Bench -c user.email=bench@example.com -c init.defaultBranch=main"
	mkdir -p "$tmp/an/apps"
	git init -q --bare "$tmp/an.git"
	anweb() {
		printf 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 4\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n        - {name: web, image: "%s"}\n' \
			"$1" >"$tmp/an/apps/web.yaml"
	}
	anweb web:1
	printf 'apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  selector: {app: web}\n  ports: [{port: 80, targetPort: 8080, protocol: TCP}]\n' >"$tmp/an/apps/svc.yaml"
	cat >"$tmp/an/apps/rollout.yaml" <<Y
apiVersion: sluice.dev/v1alpha1
kind: Rollout
metadata: {name: web}
spec:
  targetRef: {name: web}
  service: web
  progressDeadlineSeconds: 60
  scaleDownDelaySeconds: 1
  steps:
    - setWeight: 25
    - pause: {duration: 10m}
  analysis:
    interval: 10s
    metrics:
      - name: error-rate
        query: >-
          sum(rate(http_requests_total{version="{{canary}}",code=~"5.."}[10s]))
          / sum(rate(http_requests_total{version="{{canary}}"}[10s]))
        max: 0.05
Y
	(cd "$tmp/an" && $AG init -q . && $AG add -A && $AG commit -q -m an1 && git push -q "$tmp/an.git" HEAD:main)
	git -C "$tmp/an.git" symbolic-ref HEAD refs/heads/main
	kubectl create namespace bench-an >/dev/null
	cat <<Y | kubectl apply -f - >/dev/null
apiVersion: sluice.dev/v1alpha1
kind: Application
metadata: {name: an, namespace: bench-an}
spec:
  source: {repoURL: "$tmp/an.git", path: apps}
  syncPolicy: {interval: 1h}
Y
	printf 'bench-secret' >"$tmp/an.secret"
	SLUICE_PROMETHEUS_URL=$prom "${BENCH_SLUICED:-$PWD/bin/sluiced}" --cache-dir "$tmp/ancache" \
		--kubeconfig "$KUBECONFIG" --http-addr 127.0.0.1:0 --webhook-secret-file "$tmp/an.secret" 2>"$tmp/an.log" &
	an_pid=$!
	for _ in $(seq 1 100); do grep -q '"msg":"http: listening"' "$tmp/an.log" && break; sleep 0.1; done
	aport=$(python3 -c 'import json,sys
for l in open(sys.argv[1]):
    d=json.loads(l)
    if d.get("msg")=="http: listening": print(d["port"])' "$tmp/an.log")
	rapi="$SANDBOX_SERVER/apis/sluice.dev/v1alpha1/namespaces/bench-an/rollouts/web"
	rget() { curl -sf --cacert "$SANDBOX_CA" -H "Authorization: Bearer $token" "$rapi" || true; }
	rfield() { rget | python3 -c 'import json,sys
d=json.load(sys.stdin).get("status") or {}
for k in sys.argv[1].split("."):
    d=d[int(k)] if isinstance(d,list) else (d or {}).get(k)
print("" if d is None else d)' "$1" 2>/dev/null || true; }
	for _ in $(seq 1 300); do [ "$(rfield phase)" = Healthy ] && break; sleep 0.1; done
	firing() { [[ "$(curl -sf "$prom/api/v1/alerts")" == *'"alertname":"CanaryErrorRate"'* ]]; }
	ms_of() { python3 -c 'import calendar,re,sys,time
m=re.match(r"(\d+-\d+-\d+T\d+:\d+:\d+)(?:\.(\d+))?Z$", sys.argv[1])
print(calendar.timegm(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S")) * 1000 + int(((m.group(2) or "") + "000")[:3]))' "$1"; }
	: >"$tmp/detect"
	for i in 1 2 3 4 5; do
		control '{"version":"web-canary","error_rate":0.0}'
		for _ in $(seq 1 300); do firing || break; sleep 0.1; done
		anweb "web:$((i + 1))"
		(cd "$tmp/an" && $AG commit -qam "an$((i + 1))" && git push -q "$tmp/an.git" HEAD:main)
		body="{\"ref\":\"refs/heads/main\",\"repository\":{\"clone_url\":\"$tmp/an.git\"}}"
		sig=$(printf '%s' "$body" | openssl dgst -sha256 -hmac bench-secret | sed 's/^.*= //')
		curl -s -o /dev/null -H "X-Hub-Signature-256: sha256=$sig" --data-binary "$body" "http://127.0.0.1:$aport/hooks/git"
		# the canary runs and has passed an analysis run
		for _ in $(seq 1 600); do
			[ "$(rfield analysis.lastVerdict)" = Passed ] && [ "$(rfield phase)" != RolledBack ] &&
				[ "$(rfield analysis.runs)" -ge 1 ] 2>/dev/null && break
			sleep 0.1
		done
		sleep "$((RANDOM % 10)).$((RANDOM % 10))" # T falls anywhere in the interval
		t0=$(($(date +%s%N) / 1000000))
		control '{"version":"web-canary","error_rate":0.2}'
		rolled=
		for _ in $(seq 1 600); do
			if [[ "$(rget)" =~ \"phase\":\ *\"RolledBack\" ]]; then
				rolled=$(($(date +%s%N) / 1000000 - t0))
				break
			fi
			sleep 0.1
		done
		for _ in $(seq 1 300); do firing && break; sleep 0.1; done
		active=$(curl -sf "$prom/api/v1/alerts" | python3 -c 'import json,sys
a=[x for x in json.load(sys.stdin)["data"]["alerts"] if x["labels"].get("alertname")=="CanaryErrorRate"]
print(a[0]["activeAt"] if a else "")')
		last=$(rfield analysis.lastRun)
		a_ms=$([ -n "$last" ] && echo $(($(ms_of "$last") - t0)) || echo "")
		p_ms=$([ -n "$active" ] && echo $(($(ms_of "$active") - t0)) || echo "")
		echo "${a_ms:-x} ${rolled:-x} ${p_ms:-x}" >>"$tmp/detect"
	done
	kill $an_pid; wait $an_pid 2>/dev/null || true
	an_pid=
	col() { awk -v c="$1" '$c != "x" { print $c }' "$tmp/detect" | sort -n | awk '
		{ a[NR] = $1 } END { if (NR) printf "p50 %6.1f s  max %6.1f s  (%d of 5)", a[int((NR + 1) / 2)] / 1000, a[NR] / 1000, NR; else printf "none detected" }'; }
	printf '  %-52s %s\n' "sluice: the analysis run that fails, from T" "$(col 1)"
	printf '  %-52s %s (target <= 11 s: interval 10 s + scrape 1 s)\n' "sluice: RolledBack in the Rollout's status, from T" "$(col 2)"
	printf '  %-52s %s\n' "Prometheus alerting rule, for: 0s, eval every 1 s" "$(col 3)"
	echo "  (each row: $(tr '\n' ';' <"$tmp/detect" | sed 's/;$//; s/;/; /g') ms: analysis, RolledBack, alert)"
fi
echo
echo "bench: the comparative judge on simulated canaries (bench/judge.c)"
"${BENCH_JUDGE:-$PWD/build/default/bench/judge}"
fi # want 5

# 6. sluiced's memory and the image. The resident set (VmRSS, and VmHWM, its
#    peak) of the controller process from /proc/PID/status, with its anonymous
#    part (heap, stacks) and its file part (the mapped binary and libraries),
#    in three states: idle (Application mode watching an empty namespace,
#    /metrics served, read after 5 s); with 1,000 managed objects (500
#    ConfigMaps, 500 Deployments in 100 files) in single-app mode, read after
#    4 no-op rounds (interval 1 s) following the first sync; and the same
#    1,000 objects as one Application (whose status lists them). Targets:
#    idle < 10 MiB, 1,000 objects < 32 MiB. Beside it, the peer: kubectl
#    watching an empty namespace (`kubectl get configmaps --watch`), after 5 s,
#    and the floor: `sluiced --version`, which only loads the libraries.
#    The Git fetch runs in a short-lived child process, not counted here.
#    Then the image: scripts/image.sh into a scratch folder (umoci, root).
if want 6; then
echo
echo "bench: sluiced's memory (resident set from /proc/PID/status) and the image"
rss_sluiced=${BENCH_SLUICED:-$PWD/bin/sluiced}
rss_pids=
if [ -z "${sbx:-}" ]; then # no earlier part started the sandbox
	sbx="$tmp/sandbox"
	tests/sandbox/sandbox up "$sbx" >/dev/null
	eval "$(tests/sandbox/sandbox env "$sbx")"
	export KUBECONFIG
fi
trap 'kill $rss_pids ${lat_pid:-} ${an_pid:-} ${exp_pid:-} 2>/dev/null || true; tests/sandbox/prometheus down "$tmp/prom" >/dev/null 2>&1 || true
	tests/sandbox/sandbox down "$sbx" >/dev/null 2>&1; rm -rf "$tmp"' EXIT
kubectl apply -f deploy/crds/ >/dev/null
kubectl wait --for condition=established crd/applications.sluice.dev crd/rollouts.sluice.dev --timeout=30s >/dev/null
for ns in bench-idle bench-rss bench-rss-app; do kubectl create namespace "$ns" >/dev/null; done
# mem PID: "rss_kib hwm_kib anon_kib file_kib" of a live process
mem() { awk '/^VmRSS:/ { r = $2 } /^VmHWM:/ { h = $2 } /^RssAnon:/ { a = $2 } /^RssFile:/ { f = $2 }
	END { print r, h, a, f }' "/proc/$1/status"; }
row() { # row LABEL RSS HWM ANON FILE TARGET_MIB
	awk -v l="$1" -v r="$2" -v h="$3" -v a="$4" -v f="$5" -v t="$6" 'BEGIN {
		printf "  %-46s %6.1f MiB RSS (anon %5.1f, files %5.1f)  peak %6.1f MiB", l, r / 1024, a / 1024, f / 1024, h / 1024
		if (t != "") printf "  target < %d MiB: %s", t, (r / 1024 < t ? "met" : "NOT met")
		printf "\n" }'
}
synced() { grep -c '"msg":"synced"' "$1" || true; }

"$rss_sluiced" --watch-namespace bench-idle --cache-dir "$tmp/rss-idle" --kubeconfig "$KUBECONFIG" \
	--http-addr 127.0.0.1:0 2>"$tmp/rss-idle.log" &
idle_pid=$!
kubectl get configmaps -n bench-idle --watch >/dev/null 2>&1 &
kw_pid=$!
rss_pids="$idle_pid $kw_pid"
sleep 5
read -r i_rss i_hwm i_anon i_file < <(mem $idle_pid)
read -r w_rss w_hwm w_anon w_file < <(mem $kw_pid)
kill $idle_pid $kw_pid; wait $idle_pid $kw_pid 2>/dev/null || true
row "sluiced idle (Application mode, /metrics on)" "$i_rss" "$i_hwm" "$i_anon" "$i_file" 10
row "kubectl get --watch, idle (the peer)" "$w_rss" "$w_hwm" "$w_anon" "$w_file" ""
# the floor: the binary and its libraries loaded, nothing done
/usr/bin/time -f '%M' -o "$tmp/t" "$rss_sluiced" --version >/dev/null
awk -v k="$(tail -n 1 "$tmp/t")" -v n="$(ldd "$rss_sluiced" | grep -c '=> /')" 'BEGIN {
	printf "  %-46s %6.1f MiB peak RSS (%d libraries)\n", "floor: sluiced --version", k / 1024, n }'

# the 1,000 objects, replicas 0 (no pods), in Git
python3 - "$tmp/rss-work" <<'PY'
import json, os, sys
d = os.path.join(sys.argv[1], "objs")
os.makedirs(d)
for f in range(100):
    with open(os.path.join(d, "file-%03d.yaml" % f), "w") as out:
        for i in range(f * 5, f * 5 + 5):
            labels = {"app": "app-%d" % i}
            for o in ({"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": "settings-%d" % i, "labels": labels},
                       "data": {"LOG_LEVEL": "info", "TIMEOUT": "30s", "config.yaml": "server:\n  port: 8080\n"}},
                      {"apiVersion": "apps/v1", "kind": "Deployment",
                       "metadata": {"name": "app-%d" % i, "labels": labels},
                       "spec": {"replicas": 0, "selector": {"matchLabels": labels},
                                "template": {"metadata": {"labels": labels},
                                             "spec": {"containers": [{"name": "app", "image": "app:1.%d" % i,
                                                                      "ports": [{"containerPort": 8080}]}]}}}}):
                out.write("---\n" + json.dumps(o) + "\n")
PY
RG="git -c user.name=Bench -c user.email=bench@example.com -c init.defaultBranch=main"
(cd "$tmp/rss-work" && $RG init -q . && $RG add -A && $RG commit -q -m rss)
git clone -q --bare "$tmp/rss-work" "$tmp/rss.git"

"$rss_sluiced" --repo "$tmp/rss.git" --path objs --app rss --namespace bench-rss --interval 1 \
	--cache-dir "$tmp/rss-single" --kubeconfig "$KUBECONFIG" 2>"$tmp/rss-single.log" &
single_pid=$!
rss_pids=$single_pid
for _ in $(seq 1 1200); do [ "$(synced "$tmp/rss-single.log")" -ge 5 ] && break; sleep 0.1; done
read -r s_rss s_hwm s_anon s_file < <(mem $single_pid)
kill $single_pid; wait $single_pid 2>/dev/null || true
n_single=$(kubectl get configmaps,deployments -n bench-rss -l sluice.dev/app=rss --no-headers 2>/dev/null | wc -l)
row "sluiced, 1,000 objects, single-app mode" "$s_rss" "$s_hwm" "$s_anon" "$s_file" 32
echo "    ($n_single objects in the cluster, $(synced "$tmp/rss-single.log") rounds)"

cat <<Y | kubectl apply -f - >/dev/null
apiVersion: sluice.dev/v1alpha1
kind: Application
metadata: {name: rss, namespace: bench-rss-app}
spec:
  source: {repoURL: "$tmp/rss.git", path: objs}
  syncPolicy: {interval: 1s}
Y
"$rss_sluiced" --watch-namespace bench-rss-app --cache-dir "$tmp/rss-app" --kubeconfig "$KUBECONFIG" \
	--http-addr 127.0.0.1:0 2>"$tmp/rss-app.log" &
app_pid=$!
rss_pids=$app_pid
for _ in $(seq 1 1200); do [ "$(synced "$tmp/rss-app.log")" -ge 5 ] && break; sleep 0.1; done
read -r a_rss a_hwm a_anon a_file < <(mem $app_pid)
kill $app_pid; wait $app_pid 2>/dev/null || true
rss_pids=
n_app=$(kubectl get configmaps,deployments -n bench-rss-app --no-headers 2>/dev/null | wc -l)
row "sluiced, 1,000 objects, one Application" "$a_rss" "$a_hwm" "$a_anon" "$a_file" 32
echo "    ($n_app objects in the cluster, $(synced "$tmp/rss-app.log") rounds)"

if ! command -v umoci >/dev/null || [ "$(id -u)" -ne 0 ]; then
	echo "  image: needs umoci and root (scripts/deps.sh), no figure"
elif IMAGE_BUILD=${BENCH_IMAGE_BUILD:-build/default} IMAGE_DIR="$tmp/image" scripts/image.sh >"$tmp/image.log" 2>&1; then
	sed -n 's/^image: layer /  image: layer /p' "$tmp/image.log"
else
	echo "bench: scripts/image.sh failed: $(tail -n 3 "$tmp/image.log")" >&2
fi
fi # want 6
