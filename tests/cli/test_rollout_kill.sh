#!/usr/bin/env bash
# The kill matrix: sluiced killed with SIGKILL at every step boundary, inside
# each pause and during promotion of one rollout, restarted each time. The
# weights the Rollout moves through must be exactly the steps' (never back,
# none skipped), a pause must keep its remaining time, and the rollout must
# end promoted once, never started over.
. "$(dirname "$0")/lib.sh"
if ! command -v kubectl >/dev/null; then
	skip "canary rollouts end to end" "kubectl not installed"
	exit 0
fi
tmp=$(mktemp -d)
sbx="$tmp/sandbox"
pid=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; tests/sandbox/sandbox down "$sbx" >/dev/null 2>&1; cat "$tmp"/ctl*.log > /tmp/kill-ctl.log 2>/dev/null; rm -rf "$tmp"' EXIT
tests/sandbox/sandbox up "$sbx" >/dev/null || { not_ok "sandbox up"; exit 1; }
eval "$(tests/sandbox/sandbox env "$sbx")"
kubectl apply -f deploy/crds/ >/dev/null
kubectl wait --for condition=established crd/applications.sluice.dev crd/rollouts.sluice.dev \
	crd/canarypolicies.sluice.dev --timeout=30s >/dev/null
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
  steps:
    - setWeight: 20
    - pause: {duration: 5s}
    - setWeight: 40
    - pause: {duration: 5s}
    - setWeight: 60
    - pause: {}
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

start 0
until_ 30 phase_is Healthy
# a poller records every weight and step the status shows, for the whole rollout
( while :; do ro '.status.currentStep}/{.status.desiredWeight}/{.status.phase' 2>/dev/null; echo; sleep 0.05; done ) >"$tmp/seen" &
poller=$!
web web:2
push "web v2"
kills=0
step_time() { date +%s%N; }
for step in 1 2 3 4 5; do
	until_ 60 'test "$(ro .status.currentStep)" = '$step
	[ $step = 1 ] && t1=$(step_time)
	[ $step = 2 ] && t2=$(step_time)
	kill -9 $pid; wait $pid 2>/dev/null
	kills=$((kills + 1))
	start $kills
done
until_ 30 phase_is Paused
kubectl annotate rollout web -n shop --overwrite "sluice.dev/action=promote $(date +%s%N)" >/dev/null
until_ 30 'test -n "$(ro .status.promotion)"'
kill -9 $pid; wait $pid 2>/dev/null
kills=$((kills + 1))
start $kills
until_ 90 phase_is Healthy
kill $poller; wait $poller 2>/dev/null
weights=$(grep -v '^$' "$tmp/seen" | cut -d/ -f2 | grep -v '^$' | uniq | tr '\n' ' ')
steps=$(grep -v '^$' "$tmp/seen" | cut -d/ -f1 | grep -v '^$' | uniq | tr '\n' ' ')
pause_ms=$(((t2 - t1) / 1000000))
starts=$(cat "$tmp"/ctl*.log | grep -c '"msg":"rollout started"')
if [ "$weights" = "0 20 40 60 0 " ] && [ "$steps" = "0 1 2 3 4 5 6 " ] && [ "$starts" = 1 ] &&
	[ "$(image web)" = web:2 ] && [ "$(ro '.status.history[0].result')" = Promoted ] &&
	[ "$(ro '.status.history[1].result')" = "" ] && [ $pause_ms -lt 9000 ]; then
	ok "killed $kills times (each step boundary, inside each pause, during promotion): weights $weights, steps $steps, one start, promoted; a 5 s pause took ${pause_ms} ms across a kill"
else
	not_ok "the kill matrix" "weights: $weights" "steps: $steps" "starts: $starts" "pause: ${pause_ms} ms" "$(ro .status)"
fi

# sluice pause / resume (the CLI, through the API): a paused rollout holds,
# and its timed pause resumes with the time it had left
web web:3
push "web v3"
until_ 60 'test "$(ro .status.currentStep)" = 1'
sleep 2
"$SLUICE" pause web -n shop --kubeconfig "$KUBECONFIG" >"$tmp/out" 2>&1; rc1=$?
until_ 10 phase_is Paused
sleep 7 # longer than the whole pause
held=$(ro .status.currentStep)
t0=$(date +%s%N)
"$SLUICE" resume web -n shop --kubeconfig "$KUBECONFIG" >>"$tmp/out" 2>&1; rc2=$?
until_ 30 'test "$(ro .status.currentStep)" = 2'
left_ms=$((($(date +%s%N) - t0) / 1000000))
if [ $rc1 = 0 ] && [ $rc2 = 0 ] && [ "$held" = 1 ] && [ $left_ms -lt 4500 ] && [ $left_ms -gt 1000 ] &&
	grep -q '^pause requested for rollout shop/web' "$tmp/out"; then
	ok "sluice pause holds the rollout; resume finishes the pause's remaining time (${left_ms} ms of 5 s)"
else
	not_ok "sluice pause / resume" "rc=$rc1/$rc2 held=$held left=${left_ms} ms" "$(cat "$tmp/out")" "$(ro .status)"
fi
"$SLUICE" promote nope -n shop --kubeconfig "$KUBECONFIG" >/dev/null 2>"$tmp/err"; rc=$?
if [ $rc = 2 ] && [ "$(wc -l <"$tmp/err")" = 1 ] && grep -q 'not found' "$tmp/err"; then
	ok "sluice promote of an unknown rollout is one line and exit 2"
else
	not_ok "sluice promote of an unknown rollout is one line and exit 2" "rc=$rc" "$(cat "$tmp/err")"
fi
kill -TERM $pid; wait $pid 2>/dev/null; pid=
