#!/usr/bin/env bash
# Canary rollouts end to end on the sandbox, replicas router: a commit that
# changes a governed Deployment goes through a canary, step by step; a manual
# gate, promotion, a canary that never gets ready (rolled back, remembered, not
# re-applied by the sync), abort, retry, a newer commit superseding, and the
# controller killed mid-rollout resuming where it was.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/rollout_lib.sh"
rollout_setup "$0"
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
rollout_first_commit

# notifications go to a receiver that fails its first request (retried), with a
# token in the URLs that must never be logged
python3 tests/sandbox/receiver.py --out "$tmp/notices" --port-file "$tmp/recv.port" --fail 1 &
recv=$!
cleanup_extra() { kill "$recv" 2>/dev/null; }
for _ in $(seq 1 50); do [ -s "$tmp/recv.port" ] && break; sleep 0.1; done
export SLUICE_NOTIFY_WEBHOOK_URL="http://127.0.0.1:$(cat "$tmp/recv.port")/hook?token=n0tify-s3cret"
export SLUICE_NOTIFY_SLACK_URL="http://127.0.0.1:$(cat "$tmp/recv.port")/slack/n0tify-s3cret"
export SLUICE_NOTIFY_BACKOFF_MS=100

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
# the commit's subject and time travel with the rollout: status, history, lead time
ctime=$(git -C "$bare" log -1 --format=%ct main)
htime=$(ro '.status.history[0].commitTime')
if [ "$(ro '.status.history[0].subject')" = "web v2" ] && [ "$(ro .status.stable.subject)" = "web v2" ] &&
	[ -n "$htime" ] && [ "$(date -d "$htime" +%s)" = "$ctime" ] &&
	"$SLUICE" stats -n shop --kubeconfig "$KUBECONFIG" -o json | python3 -c 'import json,sys
lead = json.load(sys.stdin)["leadTime"]
sys.exit(0 if lead["samples"] >= 1 and lead["medianSeconds"] is not None and lead["medianSeconds"] >= 0 else 1)'; then
	ok "the promoted commit's subject and time are in status and history; sluice stats reports its lead time"
else
	not_ok "commit subject and time in status" "$(ro .status.history)" "$("$SLUICE" stats -n shop --kubeconfig "$KUBECONFIG" -o json 2>&1)"
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
# ... and a notification to each webhook: generic JSON and Slack's, the first
# one retried after the receiver's 500; the URLs' token in no log line
notices=$(python3 -c 'import json,sys
for l in open(sys.argv[1]):
    d = json.loads(l)
    b = json.loads(d["body"])
    if d["path"].startswith("/hook"):
        print(d["status"], "generic", b["kind"], b["name"], b["type"], b["reason"])
    else:
        print(d["status"], "slack", b["text"][:60])' "$tmp/notices" 2>&1)
if grep -q '^200 generic Rollout web Warning RolledBack$' <<<"$notices" &&
	grep -q '^200 slack :x: Rollout shop/web: RolledBack' <<<"$notices" &&
	grep -q '^500 ' <<<"$notices" && grep -q '^200 generic Rollout web Normal RolloutStarted$' <<<"$notices" &&
	! grep -q 'n0tify-s3cret' "$tmp"/ctl*.log; then
	ok "decisions are posted to the webhooks (generic JSON and Slack), retried after a 500; the URLs stay out of the logs"
else
	not_ok "decisions are posted to the webhooks" "$notices" "$(grep -c n0tify-s3cret "$tmp"/ctl*.log)"
fi
# each decision is a Kubernetes Event on the Rollout; undoing a release is a Warning
events=$(kubectl get events -n shop --field-selector involvedObject.kind=Rollout,involvedObject.name=web \
	-o jsonpath='{range .items[*]}{.type} {.reason} {.message}{"\n"}{end}')
if grep -q '^Normal RolloutStarted ' <<<"$events" && grep -q '^Normal Promoted ' <<<"$events" &&
	grep -q '^Warning RolledBack RolledBack: progress deadline' <<<"$events"; then
	ok "decisions are Events on the Rollout: RolloutStarted, Promoted, and a Warning for the rollback"
else
	not_ok "decisions are Events on the Rollout" "$events"
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
