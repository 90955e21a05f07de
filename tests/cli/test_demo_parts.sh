#!/usr/bin/env bash
# The parts `make demo` and `make e2e` stand on, working together: demoapp
# alone (its error rate, latency, metrics and drain on SIGTERM); then in a
# sandbox whose kubelet stand-in runs a real demoapp process per pod, a
# Deployment web (v1, two pods) and web-canary (v2, 30% errors) behind an
# HTTPRoute whose weights this test writes; the gateway stand-in programs nginx
# from it, the load generator sends 50 requests a second through nginx, and the
# shares each version served and the failures are measured at the client; the
# weights change and the shares follow; Prometheus scrapes the pods from the
# stand-in's file_sd targets; the canary Ingress form; pods deleted, and the
# stand-in stopping, stop their processes.
. "$(dirname "$0")/lib.sh"
require kubectl /usr/sbin/nginx /usr/bin/prometheus
DEMOAPP="$PWD/$BUILD/examples/demoapp"
LOAD=tests/sandbox/load
[ -x "$DEMOAPP" ] || make --no-print-directory BUILD="$BUILD" "$BUILD/examples/demoapp" >/dev/null
tmp=$(mktemp -d)
sbx="$tmp/sandbox"
app_pid=
load_pid=
cleanup() {
	[ -n "$app_pid" ] && kill "$app_pid" 2>/dev/null
	[ -n "$load_pid" ] && kill "$load_pid" 2>/dev/null
	tests/sandbox/gateway down "$tmp/gw" >/dev/null 2>&1
	tests/sandbox/gateway down "$tmp/gw2" >/dev/null 2>&1
	tests/sandbox/prometheus down "$tmp/prom" >/dev/null 2>&1
	tests/sandbox/sandbox down "$sbx" >/dev/null 2>&1
	cp "$sbx/kubelet.log" /tmp/test_demo_parts-kubelet.log 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

until_() { # until_ SECONDS 'SHELL CONDITION': evaluate it every 0.2 s
	local n=$(($1 * 5)); shift
	for _ in $(seq 1 $n); do eval "$*" && return 0; sleep 0.2; done
	return 1
}
# within VALUE LO HI: LO <= VALUE <= HI (decimals)
within() { python3 -c 'import sys; v,lo,hi=map(float,sys.argv[1:]); sys.exit(0 if lo<=v<=hi else 1)' "$@"; }
jget() { python3 -c 'import json,sys; d=json.load(sys.stdin)
for k in sys.argv[1].split("."):
    d=d.get(k, {}) if isinstance(d, dict) else {}
print(d if d != {} else 0)' "$1"; }
metric() { # metric PORT SERIES: a sample's value from demoapp's /metrics, 0 when absent
	curl -sf "http://127.0.0.1:$1/metrics" | awk -v s="$2" '$1 == s { print $2; f=1 } END { if (!f) print 0 }'
}
answers() { curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$1/healthz"; }

# ---- demoapp alone ---------------------------------------------------------
DEMO_VERSION=v9 DEMO_ERROR_RATE=0.3 DEMO_LATENCY_MS=30 DEMO_LATENCY_JITTER_MS=5 \
	"$DEMOAPP" --port 0 2>"$tmp/app.log" &
app_pid=$!
until_ 10 'grep -q listening "$tmp/app.log"'
aport=$(sed -n 's/^demoapp: listening on 127.0.0.1:\([0-9]*\) .*/\1/p' "$tmp/app.log")
$LOAD run "http://127.0.0.1:$aport/" --rps 100 --duration 3 --out "$tmp/app.load"
rep=$($LOAD report "$tmp/app.load")
napp=$(jget requests <<<"$rep")
fails=$(metric "$aport" 'http_requests_total{code="500",version="v9"}')
oks=$(metric "$aport" 'http_requests_total{code="200",version="v9"}')
count=$(metric "$aport" 'http_request_duration_seconds_count{version="v9"}')
fast=$(metric "$aport" 'http_request_duration_seconds_bucket{version="v9",le="0.025"}')
sum=$(metric "$aport" 'http_request_duration_seconds_sum{version="v9"}')
if [ "$napp" -ge 250 ] && within "$(jget failed <<<"$rep")" 0.2 0.4 &&
	[ "$(jget versions.v9.requests <<<"$rep")" = "$napp" ] &&
	[ "$fails" = "$(jget codes.500 <<<"$rep")" ] && [ $((oks + fails)) = "$napp" ] &&
	[ "$count" = "$napp" ] && [ "$fast" = 0 ] && within "$(python3 -c "print($sum/$count)")" 0.025 0.5; then
	ok "demoapp: $napp requests, $(jget failed <<<"$rep") failed (rate 0.3), none under 25 ms (latency 30+-5), metrics count them"
else
	not_ok "demoapp: error rate, latency and metrics" "$rep" "200=$oks 500=$fails count=$count le0.025=$fast sum=$sum"
fi
kill "$app_pid"
wait "$app_pid" 2>/dev/null
app_pid=

out=$(DEMO_ERROR_RATE=1.5 "$DEMOAPP" --port 0 2>&1)
rc=$?
if [ "$rc" = 2 ] && [ "$out" = 'demoapp: DEMO_ERROR_RATE: "1.5" is not a number within 0..1' ]; then
	ok "demoapp: a bad DEMO_ERROR_RATE is refused in one line"
else
	not_ok "demoapp: a bad DEMO_ERROR_RATE is refused" "rc=$rc" "$out"
fi

DEMO_IMAGE=registry.example/shop/demoapp:v4 DEMO_LATENCY_MS=800 "$DEMOAPP" --port 0 2>"$tmp/app.log" &
app_pid=$!
until_ 10 'grep -q listening "$tmp/app.log"'
aport=$(sed -n 's/^demoapp: listening on 127.0.0.1:\([0-9]*\) .*/\1/p' "$tmp/app.log")
curl -s -D "$tmp/inflight.h" -o "$tmp/inflight.body" "http://127.0.0.1:$aport/" &
curl_pid=$!
sleep 0.3
t0=$(date +%s%N)
kill -TERM "$app_pid"
wait "$app_pid"
rc=$?
took=$((($(date +%s%N) - t0) / 1000000))
wait "$curl_pid"
app_pid=
if [ "$rc" = 0 ] && [ "$took" -lt 2500 ] && grep -q '^HTTP/1.1 200' "$tmp/inflight.h" &&
	grep -qi '^X-Demo-Version: v4' "$tmp/inflight.h" && ! answers "$aport"; then
	ok "demoapp: SIGTERM lets the request in flight finish (version v4 from the image tag), exits 0 in ${took} ms"
else
	not_ok "demoapp: SIGTERM drains and exits" "rc=$rc took=${took}ms" "$(cat "$tmp/inflight.h")" "$(cat "$tmp/app.log")"
fi

# ---- the sandbox with demoapp processes ----------------------------------------
tests/sandbox/sandbox up "$sbx" >/dev/null || { not_ok "sandbox up"; exit 1; }
eval "$(tests/sandbox/sandbox env "$sbx")"
kubectl apply -f tests/data/crds/httproute.yaml >/dev/null
kubectl wait --for condition=established crd/httproutes.gateway.networking.k8s.io --timeout=30s >/dev/null
kubectl create namespace demo >/dev/null
deployment() { # deployment NAME TRACK REPLICAS IMAGE ENV-YAML
	cat <<Y
apiVersion: apps/v1
kind: Deployment
metadata: {name: $1, namespace: demo}
spec:
  replicas: $3
  selector: {matchLabels: {app: web, track: $2}}
  template:
    metadata:
      labels: {app: web, track: $2}
      annotations: {sandbox.sluice.dev/process: demoapp}
    spec:
      containers:
        - name: web
          image: $4
          env: $5
---
apiVersion: v1
kind: Service
metadata: {name: $1, namespace: demo}
spec:
  selector: {app: web, track: $2}
  ports: [{port: 80, targetPort: 8080}]
---
Y
}
route() { # route STABLE-WEIGHT CANARY-WEIGHT
	cat <<Y | kubectl apply -f - >/dev/null
apiVersion: gateway.networking.k8s.io/v1beta1
kind: HTTPRoute
metadata: {name: web, namespace: demo}
spec:
  parentRefs: [{name: gateway}]
  rules:
    - backendRefs:
        - {name: web, port: 80, weight: $1}
        - {name: web-canary, port: 80, weight: $2}
Y
}
{
	deployment web stable 2 demoapp:v1 '[{name: DEMO_LATENCY_MS, value: "5"}]'
	deployment web-canary canary 1 demoapp:v2 '[{name: DEMO_ERROR_RATE, value: "0.3"}, {name: DEMO_LATENCY_MS, value: "5"}]'
	cat <<Y
apiVersion: apps/v1
kind: Deployment
metadata: {name: plain, namespace: demo}
spec:
  replicas: 1
  selector: {matchLabels: {app: plain}}
  template:
    metadata: {labels: {app: plain}}
    spec:
      containers: [{name: plain, image: plain:1}]
Y
} | kubectl apply -f - >/dev/null
route 75 25
kubectl rollout status -n demo deploy/web deploy/web-canary deploy/plain --timeout=90s >/dev/null 2>&1
pods() { # pods SELECTOR: name=port of each pod
	kubectl get pods -n demo -l "$1" -o jsonpath='{range .items[*]}{.metadata.name}={.metadata.annotations.sandbox\.sluice\.dev/port} {end}'
}
web_pods=$(pods track=stable)
canary_pods=$(pods track=canary)
plain_pods=$(pods app=plain)
ports_of() { local p; for p in $1; do echo "${p#*=}"; done; }
good=1
for p in $(ports_of "$web_pods"); do
	[ -n "$p" ] && [ "$(curl -s -o /dev/null -w '%{http_code} ' -D - "http://127.0.0.1:$p/" | tr -d '\r' | grep -i '^x-demo-version')" = "X-Demo-Version: v1" ] || good=0
done
cport=$(ports_of "$canary_pods")
[ "$(metric "$cport" 'http_requests_total{code="200",version="v2"}')" = 0 ] || good=0
if [ "$good" = 1 ] && [ "$(wc -w <<<"$web_pods")" = 2 ] && [ -n "$cport" ] &&
	[[ "$plain_pods" =~ ^plain-[a-z0-9-]+=\ $ ]] &&
	[ "$(kubectl get deploy plain -n demo -o jsonpath='{.status.readyReplicas}')" = 1 ]; then
	ok "process mode: each demo pod runs demoapp on its annotated port (v1 x2, v2 x1), Ready; a pod without the annotation as before"
else
	not_ok "process mode: demo pods run demoapp" "web: $web_pods" "canary: $canary_pods" "plain: $plain_pods" \
		"$(kubectl get pods -n demo -o wide 2>&1)" "$(tail -n 20 "$sbx/kubelet.log")"
fi

# ---- the gateway, the load and the weights --------------------------------------
gw_url=$(tests/sandbox/gateway up "$tmp/gw" --httproute demo/web 2>&1 | tail -n 1)
programmed() { # programmed DIR STABLE CANARY: nginx routes those weights to 2 and 1 endpoints
	python3 - "$1/state.json" "$2" "$3" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
b = {x["service"]: x for x in s["rules"][0]["backends"]}
ok = (b["web"]["weight"], b["web-canary"]["weight"]) == (int(sys.argv[2]), int(sys.argv[3])) \
    and len(b["web"]["endpoints"]) == 2 and len(b["web-canary"]["endpoints"]) == 1
sys.exit(0 if ok else 1)
PY
}
if until_ 10 'programmed "$tmp/gw" 75 25 2>/dev/null'; then
	ok "gateway: nginx on $gw_url routes web 75 (2 pods) / web-canary 25 (1 pod)"
else
	not_ok "gateway: programmed from the HTTPRoute" "$gw_url" "$(cat "$tmp/gw/gateway.log" "$tmp/gw/runner.log" 2>&1)"
fi

$LOAD run "$gw_url/" --rps 50 --duration 24 --out "$tmp/load.jsonl" &
load_pid=$!
sleep 11
t_change=$(date +%s)
t_applied=$(date +%s.%N)
route 50 50
until_ 10 'programmed "$tmp/gw" 50 50 2>/dev/null'
# from the route's write (kubectl's time included) to nginx's reload, as the gateway noted it
followed_ms=$(python3 -c 'import json,sys; print(int((json.load(open(sys.argv[1]))["time"] - float(sys.argv[2])) * 1000))' \
	"$tmp/gw/state.json" "$t_applied")
wait "$load_pid"
load_pid=
t_first=$(head -n 1 "$tmp/load.jsonl" | jget t)
before=$($LOAD report "$tmp/load.jsonl" --since $((t_first + 1)) --until "$t_change")
after=$($LOAD report "$tmp/load.jsonl" --since $((t_change + 2)))
all=$($LOAD report "$tmp/load.jsonl")
echo "# 75/25: $before"
echo "# 50/50 (from 2 s after the change): $after"
n1=$(jget requests <<<"$before")
v2_share=$(jget versions.v2.share <<<"$before")
# tolerances: about 3.5 standard deviations of the binomial counts at these sizes
if [ "$n1" -ge 350 ] && within "$v2_share" 0.17 0.33 && within "$(jget failed <<<"$before")" 0.03 0.12 &&
	within "$(jget versions.v2.failed <<<"$before")" 0.15 0.45 && within "$(jget versions.v1.failed <<<"$before")" 0 0; then
	ok "75/25: v2 served $v2_share of $n1 requests through nginx, $(jget failed <<<"$before") failed (0.25 x 0.30 = 0.075), v1 none"
else
	not_ok "75/25: shares and failures at the client" "$before"
fi
n2=$(jget requests <<<"$after")
hist=$(python3 -c 'import json,sys; print(" ".join("%d/%d" % (l["weights"][0]["web"], l["weights"][0]["web-canary"]) for l in map(json.loads, open(sys.argv[1]))))' "$tmp/gw/history.jsonl")
if [ "$followed_ms" -lt 3000 ] && [ "$n2" -ge 350 ] && [[ "$hist" == *"75/25 50/50" ]] && within "$(jget versions.v2.share <<<"$after")" 0.42 0.58 &&
	within "$(jget failed <<<"$after")" 0.09 0.21; then
	ok "50/50: nginx reloaded ${followed_ms} ms after the test began writing the route; v2 served $(jget versions.v2.share <<<"$after") of $n2, $(jget failed <<<"$after") failed"
else
	not_ok "50/50: the shares follow the weights" "followed in ${followed_ms} ms" "history: $hist" "$after" "$(cat "$tmp/gw/gateway.log")"
fi
lost=$(python3 -c 'import json,sys; d=json.loads(sys.argv[1])["codes"]; print(sum(v for k,v in d.items() if k not in ("200","500")))' "$all")
v2_served=$(metric "$cport" 'http_requests_total{code="200",version="v2"}')
v2_served=$((v2_served + $(metric "$cport" 'http_requests_total{code="500",version="v2"}')))
v2_counted=$(jget versions.v2.requests <<<"$all")
if [ "$lost" = 0 ] && [ "$((v2_served - v2_counted))" -ge 0 ] && [ "$((v2_served - v2_counted))" -le 2 ]; then
	ok "no request lost across the reload; the v2 pod counted $v2_served, the client $v2_counted"
else
	not_ok "every request answered by the app that counted it" "codes: $all" "v2 pod: $v2_served, client: $v2_counted"
fi

# ---- Prometheus scrapes the pods ----------------------------------------------
prom_url=$(tests/sandbox/prometheus up "$tmp/prom" --file-sd "$sbx/targets.json" | tail -n 1)
q() { curl -sf "$prom_url/api/v1/query" --data-urlencode "query=$1"; }
pods_up() { q 'count(up{job="sandbox-pods",namespace="demo"} == 1)' | python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else 0)'; }
v2_series() { q 'sum by (pod, namespace) (http_requests_total{version="v2"})' | python3 -c 'import json,sys
r=json.load(sys.stdin)["data"]["result"]
print(" ".join("%s/%s=%s" % (x["metric"]["namespace"], x["metric"]["pod"], x["value"][1]) for x in r))'; }
until_ 30 '[ "$(pods_up)" = 3 ] && [ -n "$(v2_series)" ]'
series=$(v2_series)
if [ "$(pods_up)" = 3 ] && [[ "$series" =~ ^demo/web-canary-[a-z0-9-]+=([0-9]+)$ ]] && [ "${BASH_REMATCH[1]}" -ge "$v2_counted" ]; then
	ok "Prometheus scrapes the 3 Ready demo pods from the stand-in's targets: http_requests_total{version=\"v2\"} $series"
else
	not_ok "Prometheus sees the pods" "up: $(pods_up)" "v2: $series" "$(cat "$sbx/targets.json")"
fi

# ---- the canary Ingress form ------------------------------------------------------
cat <<'Y' | kubectl apply -f - >/dev/null
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web, namespace: demo}
spec:
  rules:
    - http:
        paths:
          - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web-canary
  namespace: demo
  annotations:
    nginx.ingress.kubernetes.io/canary: "true"
    nginx.ingress.kubernetes.io/canary-weight: "40"
spec:
  rules:
    - http:
        paths:
          - {path: /, pathType: Prefix, backend: {service: {name: web-canary, port: {number: 80}}}}
Y
gw2_url=$(tests/sandbox/gateway up "$tmp/gw2" --ingress demo/web 2>&1 | tail -n 1)
until_ 10 'programmed "$tmp/gw2" 60 40 2>/dev/null'
$LOAD run "$gw2_url/" --rps 50 --duration 6 --out "$tmp/load2.jsonl"
ing=$($LOAD report "$tmp/load2.jsonl")
if programmed "$tmp/gw2" 60 40 && within "$(jget versions.v2.share <<<"$ing")" 0.28 0.52; then
	ok "gateway from the canary Ingress (canary-weight 40): v2 served $(jget versions.v2.share <<<"$ing") of $(jget requests <<<"$ing")"
else
	not_ok "gateway from the canary Ingress" "$ing" "$(cat "$tmp/gw2/gateway.log" "$tmp/gw2/runner.log" 2>&1)"
fi
tests/sandbox/gateway down "$tmp/gw2" >/dev/null

# ---- pods going away stop their processes ------------------------------------------
victim=$(set -- $web_pods; echo "$1")
vport=${victim#*=}
kubectl delete pod -n demo "${victim%%=*}" --wait=true >/dev/null
until_ 10 '! answers "$vport"'
gone=$?
kubectl rollout status -n demo deploy/web --timeout=60s >/dev/null 2>&1
routed() { # routed PORT...: nginx routes to each (and the test knows 2 ports)
	[ $# = 2 ] || return 1
	local p
	for p in "$@"; do grep -q "\"127.0.0.1:$p\"" "$tmp/gw/state.json" || return 1; done
}
until_ 10 'programmed "$tmp/gw" 50 50 2>/dev/null && routed $(ports_of "$(pods track=stable)") &&
	! grep -q "\"127.0.0.1:$vport\"" "$tmp/gw/state.json"'
new_web=$(pods track=stable)
if [ "$gone" = 0 ] && [ "$(wc -w <<<"$new_web")" = 2 ] && [[ " $new_web " != *" $victim "* ]] &&
	routed $(ports_of "$new_web") && ! grep -q "\"127.0.0.1:$vport\"" "$tmp/gw/state.json"; then
	ok "a deleted pod's process stops; its replacement runs on a new port and nginx routes to it"
else
	not_ok "a deleted pod's process stops and nginx follows" "gone=$gone" "before: $web_pods" "after: $new_web" \
		"$(cat "$tmp/gw/state.json")"
fi

# a process that dies: its pod NotReady, the process started again on the same port, Ready again
rpod=$(set -- $new_web; echo "${1%%=*}")
rport=$(set -- $new_web; echo "${1#*=}")
proc_of() { # proc_of POD: the pid of the stand-in's process for the pod
	python3 - "$(cat "$sbx/kubelet.pid")" "$1" <<'PY'
import os, sys
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        ppid = open("/proc/%s/stat" % pid).read().rsplit(")", 1)[1].split()[1]
        env = open("/proc/%s/environ" % pid, "rb").read().split(b"\0")
    except OSError:
        continue
    if ppid == sys.argv[1] and ("POD_NAME=" + sys.argv[2]).encode() in env:
        print(pid)
PY
}
rpid=$(proc_of "$rpod")
pod_ready() { kubectl get pod -n demo "$rpod" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}/{.status.containerStatuses[0].restartCount}'; }
kubectl get pod -n demo "$rpod" -w -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}/{.status.containerStatuses[0].restartCount}{"\n"}' >"$tmp/restart.log" 2>/dev/null &
rec=$!
until_ 10 'test -s "$tmp/restart.log"'
[ -n "$rpid" ] && kill -KILL "$rpid"
until_ 15 '[ "$(pod_ready)" = True/1 ]'
back=$?
sleep 0.5
kill "$rec" 2>/dev/null
went=1
grep -qx False/1 "$tmp/restart.log" && [ "$(grep -x -A100 False/1 "$tmp/restart.log" | tail -n 1)" = True/1 ] && went=0
npid=$(proc_of "$rpod")
if [ -n "$rpid" ] && [ "$went" = 0 ] && [ "$back" = 0 ] && [ -n "$npid" ] && [ "$npid" != "$rpid" ] && answers "$rport"; then
	ok "a process killed: its pod NotReady, then Ready again with restartCount 1, a new process on port $rport"
else
	not_ok "a killed process is restarted" "pid $rpid -> $npid" "went=$went back=$back now $(pod_ready)" \
		"$(tr '\n' ' ' <"$tmp/restart.log")" "$(tail -n 5 "$sbx/kubelet.log")"
fi

kubectl scale deploy web-canary -n demo --replicas=0 >/dev/null
until_ 10 '! answers "$cport"'
gone=$?
until_ 10 'python3 -c "import json,sys; s=json.load(open(sys.argv[1])); sys.exit(0 if [b for b in s[\"rules\"][0][\"backends\"] if b[\"service\"]==\"web-canary\" and not b[\"endpoints\"]] else 1)" "$tmp/gw/state.json"'
codes=$(for _ in $(seq 1 30); do curl -s -o /dev/null -w '%{http_code}\n' "$gw_url/"; done | sort | uniq -c | tr -s ' \n' ' ')
if [ "$gone" = 0 ] && [[ "$codes" == *" 503"* ]] && [[ "$codes" == *" 200"* ]]; then
	ok "web-canary scaled to 0: its process stops, and nginx answers its share 503 ($codes)"
else
	not_ok "web-canary scaled to 0" "gone=$gone" "$codes" "$(cat "$tmp/gw/gateway.log")"
fi

all_ports=$(ports_of "$(pods app=web)")
tests/sandbox/gateway down "$tmp/gw" >/dev/null
tests/sandbox/sandbox down "$sbx" >/dev/null
still=
for p in $all_ports; do answers "$p" && still="$still $p"; done
if [ -n "$all_ports" ] && [ -z "$still" ] && grep -q 'standin: process stopped' "$sbx/kubelet.log"; then
	ok "the stand-in stopping stops every demoapp process (ports $(echo $all_ports))"
else
	not_ok "the stand-in stops its processes" "ports $all_ports; still answering:$still"
fi
