#!/usr/bin/env bash
# Canary rollouts end to end through a Gateway API HTTPRoute: the route's
# backendRefs carry the weights between the stable Service and web-canary, the
# sync leaves them alone while the rollout runs, Services are pinned to their
# pods, and the route is Git's again after promotion; then an abort.
. "$(dirname "$0")/lib.sh"
if ! command -v kubectl >/dev/null; then
	skip "canary rollouts end to end" "kubectl not installed"
	exit 0
fi
tmp=$(mktemp -d)
sbx="$tmp/sandbox"
pid=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; tests/sandbox/sandbox down "$sbx" >/dev/null 2>&1; cp "$tmp"/ctl1.log /tmp/gw-ctl1.log 2>/dev/null; rm -rf "$tmp"' EXIT
tests/sandbox/sandbox up "$sbx" >/dev/null || { not_ok "sandbox up"; exit 1; }
eval "$(tests/sandbox/sandbox env "$sbx")"
kubectl apply -f deploy/crds/ -f tests/data/crds/httproute.yaml >/dev/null
kubectl wait --for condition=established crd/applications.sluice.dev crd/rollouts.sluice.dev \
	crd/canarypolicies.sluice.dev crd/httproutes.gateway.networking.k8s.io --timeout=30s >/dev/null
G="git -c user.name=Dev -c user.email=dev@example.com -c init.defaultBranch=main"
bare="$tmp/shop.git"
git init -q --bare "$bare"
$G init -q "$tmp/work"
mkdir -p "$tmp/work/apps"
web() { # web IMAGE [unready]: the Deployment, as Git holds it
	cat >"$tmp/work/apps/web.yaml" <<Y
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 4
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
$([ "${2:-}" = unready ] && printf '      annotations: {sandbox.sluice.dev/ready: "false"}\n')
    spec:
      containers:
        - name: web
          image: $1
Y
}
web web:1
cat >"$tmp/work/apps/svc.yaml" <<'Y'
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
    - {port: 80, targetPort: 8080, protocol: TCP}
Y
cat >"$tmp/work/apps/rollout.yaml" <<'Y'
apiVersion: sluice.dev/v1alpha1
kind: Rollout
metadata:
  name: web
spec:
  targetRef: {name: web}
  service: web
  progressDeadlineSeconds: 8
  scaleDownDelaySeconds: 1
  trafficRouting:
    gatewayAPI: {httpRoute: web}
  steps:
    - setWeight: 25
    - pause: {duration: 2s}
    - setWeight: 50
    - pause: {}
Y
cat >"$tmp/work/apps/route.yaml" <<'Y'
apiVersion: gateway.networking.k8s.io/v1beta1
kind: HTTPRoute
metadata:
  name: web
spec:
  parentRefs: [{name: gateway}]
  rules:
    - backendRefs:
        - {name: web, port: 80}
Y
commit() { (cd "$tmp/work" && $G add -A && $G commit -q -m "$1" && git push -q "$bare" HEAD:main); }
commit "web v1"
git -C "$bare" symbolic-ref HEAD refs/heads/main
kubectl create namespace shop >/dev/null
cat <<Y | kubectl apply -f - >/dev/null
apiVersion: sluice.dev/v1alpha1
kind: Application
metadata: {name: shop, namespace: shop}
spec:
  source: {repoURL: "$bare", path: apps}
  syncPolicy: {interval: 1h}
Y
start() {
	"$SLUICED" --cache-dir "$tmp/cache" --kubeconfig "$KUBECONFIG" --http-addr 127.0.0.1:0 \
		--webhook-secret-file <(printf s3cret) 2>>"$tmp/ctl$1.log" &
	pid=$!
	for _ in $(seq 1 100); do grep -q '"msg":"http: listening"' "$tmp/ctl$1.log" && break; sleep 0.1; done
	port=$(python3 -c 'import json,sys
for l in open(sys.argv[1]):
    d=json.loads(l)
    if d.get("msg")=="http: listening": p=d["port"]
print(p)' "$tmp/ctl$1.log")
}
push() { # push MESSAGE: commit and tell sluiced through its signed webhook
	commit "$1"
	local body sig
	body="{\"ref\":\"refs/heads/main\",\"repository\":{\"clone_url\":\"$bare\"}}"
	sig=$(printf '%s' "$body" | openssl dgst -sha256 -hmac s3cret | sed 's/^.*= //')
	curl -s -o /dev/null -H "X-Hub-Signature-256: sha256=$sig" --data-binary "$body" "http://127.0.0.1:$port/hooks/git"
}
ro() { kubectl get rollout web -n shop -o jsonpath="{$1}" 2>/dev/null; }
image() { kubectl get deploy "$1" -n shop -o jsonpath='{.spec.template.spec.containers[0].image}' 2>/dev/null; }
until_() { # until_ SECONDS 'SHELL CONDITION': evaluate it every 0.2 s
	local n=$(($1 * 5)); shift
	for _ in $(seq 1 $n); do eval "$*" && return 0; sleep 0.2; done
	return 1
}
canary_replicas() { kubectl get deploy web-canary -n shop -o jsonpath='{.spec.replicas}' 2>/dev/null; }
phase_is() { [ "$(ro .status.phase)" = "$1" ]; }
weights=()
watch_weights() { # record each distinct status.desiredWeight until phase is $1 (max $2 s)
	local w p last=x
	for _ in $(seq 1 $(($2 * 10))); do
		IFS=/ read -r p w < <(ro '.status.phase}/{.status.desiredWeight')
		[ -n "$w" ] && [ "$w" != "$last" ] && { weights+=("$w"); last=$w; }
		[ "$p" = "$1" ] && return 0
		sleep 0.1
	done
	return 1
}

weights_at() { kubectl get httproute web -n shop -o jsonpath='{range .spec.rules[0].backendRefs[*]}{.name}={.weight} {end}' 2>/dev/null; }
selector() { kubectl get service "$1" -n shop -o jsonpath='{.spec.selector}' 2>/dev/null; }
pods_hash() { kubectl get pods -n shop -l "$1" -o jsonpath='{.items[0].metadata.labels.pod-template-hash}' 2>/dev/null; }

start 1
until_ 30 phase_is Healthy
if [ "$(weights_at)" = "web= " ] && [ "$(image web)" = web:1 ]; then
	ok "first sync: the route as Git wrote it, the Rollout Healthy"
else
	not_ok "first sync: the route as Git wrote it" "$(weights_at)" "$(ro .status)"
fi

web web:2
push "web v2"
seen=()
for _ in $(seq 1 300); do
	w=$(weights_at)
	[ -n "$w" ] && [ "${seen[*]: -1}" != "$w" ] && [ "${#seen[@]}" -lt 20 ] && seen+=("$w")
	phase_is Paused && break
	sleep 0.1
done
w=$(weights_at)
canary_hash=$(pods_hash sluice.dev/canary=true)
if [ "$w" = "web=50 web-canary=50 " ] && [[ " ${seen[*]} " == *"web=75 web-canary=25 "* ]] &&
	[[ "$(selector web-canary)" == *"\"pod-template-hash\":\"$canary_hash\""* ]] &&
	[[ "$(selector web)" == *pod-template-hash* ]] && [ "$(image web)" = web:1 ]; then
	ok "the route carries 75/25 then 50/50; web-canary is pinned to the canary pods, web to the stable ones"
else
	not_ok "the route carries 75/25 then 50/50" "seen: ${seen[*]}" "now: $w" "web-canary: $(selector web-canary)" "web: $(selector web)" "$(ro .status)"
fi

# a sync while the rollout runs leaves the weights alone
kubectl annotate application shop -n shop --overwrite "sluice.dev/sync-requested-at=$(date +%s%N)" >/dev/null
sleep 3
if [ "$(weights_at)" = "web=50 web-canary=50 " ]; then
	ok "a sync during the rollout does not take the canary's weight away"
else
	not_ok "a sync during the rollout does not take the canary's weight away" "$(weights_at)" "$(grep route "$tmp/ctl1.log" | tail -3)"
fi

kubectl annotate rollout web -n shop --overwrite "sluice.dev/action=promote $(date +%s%N)" >/dev/null
until_ 60 phase_is Healthy
stable_hash=$(kubectl get rs -n shop -l app=web,'!sluice.dev/canary' -o jsonpath='{range .items[?(@.spec.replicas>0)]}{.metadata.labels.pod-template-hash}{end}')
if [ "$(image web)" = web:2 ] && [ "$(weights_at)" = "web= " ] &&
	! kubectl get service web-canary -n shop >/dev/null 2>&1 &&
	[[ "$(selector web)" == *"\"pod-template-hash\":\"$stable_hash\""* ]]; then
	ok "promoted: web runs web:2 and is pinned to its new pods; the route is Git's again, web-canary gone"
else
	not_ok "promoted: the route is Git's again" "$(weights_at)" "web: $(selector web) want $stable_hash" "$(ro .status)"
fi

web web:3
push "web v3"
until_ 60 'test "$(weights_at)" = "web=75 web-canary=25 "'
kubectl annotate rollout web -n shop --overwrite "sluice.dev/action=abort $(date +%s%N)" >/dev/null
until_ 20 phase_is Aborted
if [ "$(weights_at)" = "web= " ] && [ "$(image web)" = web:2 ] &&
	[ "$(canary_replicas)" = 0 ]; then
	ok "abort: all traffic back to web at once, the canary scaled to 0"
else
	not_ok "abort: all traffic back to web at once" "$(weights_at)" "$(ro .status)"
fi
kill -TERM $pid; wait $pid 2>/dev/null; pid=
