#!/usr/bin/env bash
# Canary rollouts end to end on the sandbox, replicas router: a commit that
# changes a governed Deployment goes through a canary, step by step; a manual
# gate, promotion, a canary that never gets ready (rolled back, remembered, not
# re-applied by the sync), abort, retry, a newer commit superseding, and the
# controller killed mid-rollout resuming where it was.
. "$(dirname "$0")/lib.sh"
if ! command -v kubectl >/dev/null; then
	skip "canary rollouts end to end" "kubectl not installed"
	exit 0
fi
tmp=$(mktemp -d)
sbx="$tmp/sandbox"
pid=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; tests/sandbox/sandbox down "$sbx" >/dev/null 2>&1; cp "$tmp"/ctl*.log /tmp/ 2>/dev/null; rm -rf "$tmp"' EXIT
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
    - setWeight: 25
    - pause: {duration: 3s}
    - setWeight: 50
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

start 1
until_ 30 phase_is Healthy
if [ "$(image web)" = web:1 ] && [ "$(ro .status.stable.commit)" = "$(git -C "$bare" rev-parse main)" ]; then
	ok "first sync: the Deployment runs web:1 and the Rollout is Healthy"
else
	not_ok "first sync: the Deployment runs web:1 and the Rollout is Healthy" "$(ro .status)" "$(tail -5 "$tmp/ctl1.log")"
fi

# v2: through the steps to the manual gate; stable untouched meanwhile
web web:2
push "web v2"
watch_weights Paused 60
if [ "${weights[*]}" = "0 25 50" ] && [ "$(image web)" = web:1 ] && [ "$(image web-canary)" = web:2 ] &&
	[ "$(ro .status.currentStep)" = 3 ] && [ "$(ro .status.actualWeight)" -gt 0 ]; then
	ok "a new template goes to a canary at 25 then 50 percent; the stable Deployment still runs web:1"
else
	not_ok "a new template goes to a canary at 25 then 50 percent" "weights: ${weights[*]}" "stable $(image web), canary $(image web-canary)" "$(ro .status)"
fi
kubectl annotate rollout web -n shop --overwrite "sluice.dev/action=promote $(date +%s%N)" >/dev/null
until_ 60 phase_is Healthy
until_ 20 'test "$(canary_replicas)" = 0'
if [ "$(image web)" = web:2 ] && [ "$(ro '.status.history[0].result')" = Promoted ] &&
	[ "$(kubectl get deploy web -n shop -o jsonpath='{.status.availableReplicas}')" = 4 ] &&
	[ "$(canary_replicas)" = 0 ]; then
	ok "promote at the gate: web:2 becomes stable, the canary is scaled to 0 after the delay"
else
	not_ok "promote at the gate: web:2 becomes stable" "stable $(image web)" "$(ro .status)"
fi

# v3 never gets ready: rolled back at the progress deadline, remembered, not re-applied
web web:3 unready
push "web v3 (never ready)"
until_ 60 phase_is RolledBack
sleep 3 # a few more rounds of sync and rollout
kubectl annotate application shop -n shop --overwrite "sluice.dev/sync-requested-at=$(date +%s%N)" >/dev/null
sleep 3
if [ "$(image web)" = web:2 ] && phase_is RolledBack &&
	[[ "$(ro .status.message)" == *"progress deadline"* ]] &&
	[ "$(canary_replicas)" = 0 ] &&
	[ "$(ro '.status.history[0].result')" = RolledBack ] &&
	[ "$(kubectl get application shop -n shop -o jsonpath='{.status.health.status}')" = Degraded ] &&
	[[ "$(kubectl get application shop -n shop -o jsonpath='{.status.health.message}')" == "Rollout shop/web: RolledBack: "* ]]; then
	ok "a canary that never gets ready is rolled back at the deadline; syncs do not re-apply it; the Application says so ($(kubectl get application shop -n shop -o jsonpath='{.status.health.message}'))"
else
	not_ok "a canary that never gets ready is rolled back at the deadline" "stable $(image web)" "$(ro .status)" "$(kubectl get application shop -n shop -o jsonpath='{.status.health}')"
fi

# v4, then v5 during v4's first pause: v5 supersedes, starting again at step 1
web web:4
push "web v4"
until_ 30 'test "$(ro .status.currentStep)" = 1'
web web:5
push "web v5"
until_ 30 'test "$(image web-canary)" = web:5'
until_ 30 'test "$(ro .status.canary.commit)" = "$(git -C "$bare" rev-parse main)"'
if [ "$(ro '.status.history[0].result')" = Superseded ] && [ "$(image web)" = web:2 ]; then
	ok "a newer commit mid-rollout supersedes it: its canary starts over, the old one is never promoted"
else
	not_ok "a newer commit mid-rollout supersedes it" "$(ro .status)"
fi

# killed inside the pause: resumes at the same step with the pause's remaining
# time, the weight never goes back, nothing starts over
web web:6
sed -i 's/duration: 3s/duration: 12s/' "$tmp/work/apps/rollout.yaml" # room to kill inside it
push "web v6, with a longer pause"
until_ 30 'test "$(image web-canary)" = web:6'
until_ 30 'test "$(ro .status.currentStep)" = 1'
step_before=$(ro .status.currentStep)
kill -9 $pid; wait $pid 2>/dev/null
weights=()
start 2
watch_weights Paused 60
if [ "$step_before" = 1 ] && [ "${weights[*]}" = "25 50" ] && [ "$(ro .status.currentStep)" = 3 ] &&
	! grep -q '"msg":"rollout started"' "$tmp/ctl2.log"; then
	ok "a controller killed mid-rollout resumes where it was (weights after restart: ${weights[*]})"
else
	not_ok "a controller killed mid-rollout resumes where it was" "before: step $step_before; after: ${weights[*]}" "$(ro .status)"
fi

# abort at the gate, then retry
kubectl annotate rollout web -n shop --overwrite "sluice.dev/action=abort $(date +%s%N)" >/dev/null
until_ 20 phase_is Aborted
aborted_ok=no
[ "$(image web)" = web:2 ] && [ "$(canary_replicas)" = 0 ] && aborted_ok=yes
kubectl annotate rollout web -n shop --overwrite "sluice.dev/action=retry $(date +%s%N)" >/dev/null
until_ 30 phase_is Paused
if [ $aborted_ok = yes ] && [ "$(image web-canary)" = web:6 ] && [ "$(ro .status.currentStep)" = 3 ]; then
	ok "abort returns all traffic to stable at once; retry runs the same commit's steps again"
else
	not_ok "abort, then retry" "aborted_ok=$aborted_ok" "$(ro .status)"
fi

# rollbackPolicy revertCommit: a rolled-back commit is reverted in Git, so Git
# says again what the cluster runs
kubectl annotate rollout web -n shop --overwrite "sluice.dev/action=promote-full $(date +%s%N)" >/dev/null
until_ 60 phase_is Healthy
sed -i 's/^  scaleDownDelaySeconds: 1$/  scaleDownDelaySeconds: 1\n  rollbackPolicy: revertCommit/' "$tmp/work/apps/rollout.yaml"
push "rollout: revert failed commits"
until_ 30 'test "$(ro .spec.rollbackPolicy)" = revertCommit'
web web:7 unready
push "web v7 (never ready)"
bad=$(git -C "$bare" rev-parse main)
until_ 60 phase_is RolledBack
until_ 30 'test -n "$(ro .status.revert.commit)$(ro .status.revert.error)"'
kubectl annotate application shop -n shop --overwrite "sluice.dev/sync-requested-at=$(date +%s%N)" >/dev/null
until_ 30 phase_is Healthy
if [ "$(git -C "$bare" log -1 --format=%s main)" = 'Revert "web v7 (never ready)"' ] &&
	[ "$(ro .status.revert.commit)" = "$(git -C "$bare" rev-parse main)" ] &&
	[ "$(ro .status.revert.reverted)" = "$bad" ] &&
	git -C "$bare" show main:apps/web.yaml | grep -q 'image: web:6' &&
	[ "$(image web)" = web:6 ] && phase_is Healthy; then
	ok "revertCommit: the rolled-back commit is reverted in Git and pushed; Git and cluster agree again"
else
	not_ok "revertCommit: the rolled-back commit is reverted in Git" "$(git -C "$bare" log -3 --format='%h %s' main)" "$(ro .status)"
fi
kill -TERM $pid; wait $pid 2>/dev/null; pid=
