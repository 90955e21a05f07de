#!/usr/bin/env bash
# Canary rollouts end to end through NGINX Ingress: a `web-canary` Ingress,
# a copy of Git's routed to the `web-canary` Service, carries the canary's
# weight in nginx.ingress.kubernetes.io/canary-weight; Git's Ingress is left
# as Git wrote it; promotion and abort remove the canary's objects. Then abort
# and retry, a newer commit superseding the canary, a canary that never gets
# ready, and sluice pause / resume. A watch on the canary Ingress records
# every write of its weight (and its deletion), so the sequences asserted are
# the ones the API held, not samples.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/rollout_lib.sh"
rollout_setup "$0"
rollout_yaml() { # rollout_yaml PAUSE: the Rollout, its timed pause PAUSE long
	cat >"$tmp/work/apps/rollout.yaml" <<Y
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
    nginx: {ingress: web}
  steps:
    - setWeight: 25
    - pause: {duration: $1}
    - setWeight: 50
    - pause: {}
Y
}
rollout_yaml 2s
cat >"$tmp/work/apps/ingress.yaml" <<'Y'
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
  annotations: {nginx.ingress.kubernetes.io/proxy-body-size: 8m}
spec:
  ingressClassName: nginx
  rules:
    - host: shop.example
      http:
        paths:
          - path: /
            pathType: Prefix
            backend: {service: {name: web, port: {number: 80}}}
Y
rollout_first_commit
canary_ingress() { kubectl get ingress web-canary -n shop -o jsonpath="{$1}" 2>/dev/null; }

weight() { canary_ingress '.metadata.annotations.nginx\.ingress\.kubernetes\.io/canary-weight'; }
selector() { kubectl get service "$1" -n shop -o jsonpath='{.spec.selector}' 2>/dev/null; }
pods_hash() { kubectl get pods -n shop -l "$1" -o jsonpath='{.items[0].metadata.labels.pod-template-hash}' 2>/dev/null; }
now_is() { [ "$(canary_now nginx)" = "$1" ]; }

start 1
until_ 30 phase_is Healthy
canary_record nginx
m=$(canary_mark nginx)
web web:2
push "web v2"
until_ 60 phase_is Paused
until_ 10 'now_is 50'
seq=$(canary_since nginx "$m")
canary_hash=$(pods_hash sluice.dev/canary=true)
if [ "$seq" = "- 0 25 50" ] && [ "$(weight)" = 50 ] &&
	[ "$(canary_ingress '.metadata.annotations.nginx\.ingress\.kubernetes\.io/canary')" = true ] &&
	[ "$(canary_ingress '.spec.rules[0].http.paths[0].backend.service.name')" = web-canary ] &&
	[ "$(canary_ingress '.metadata.annotations.nginx\.ingress\.kubernetes\.io/proxy-body-size')" = 8m ] &&
	[ "$(kubectl get ingress web -n shop -o jsonpath='{.spec.rules[0].http.paths[0].backend.service.name}')" = web ] &&
	[ -z "$(kubectl get ingress web -n shop -o jsonpath='{.metadata.annotations.nginx\.ingress\.kubernetes\.io/canary}')" ] &&
	[[ "$(selector web-canary)" == *"\"pod-template-hash\":\"$canary_hash\""* ]] &&
	[[ "$(selector web)" == *pod-template-hash* ]] && [ "$(image web)" = web:1 ]; then
	ok "a canary Ingress routes exactly 0, 25, 50 percent to web-canary (pinned to the canary pods); Git's Ingress stays as Git wrote it"
else
	not_ok "a canary Ingress routes 0, 25, 50 percent" "canary-weight since the push: $seq" "web-canary: $(selector web-canary) want $canary_hash" "$(kubectl get ingress -n shop -o yaml | head -60)" "$(ro .status)"
fi

kubectl annotate application shop -n shop --overwrite "sluice.dev/sync-requested-at=$(date +%s%N)" >/dev/null
sleep 3
if [ "$(weight)" = 50 ] && [ "$(canary_since nginx "$m")" = "- 0 25 50" ]; then
	ok "a sync during the rollout leaves the canary Ingress alone"
else
	not_ok "a sync during the rollout leaves the canary Ingress alone" "$(canary_since nginx "$m")" "$(ro .status)"
fi

m=$(canary_mark nginx)
kubectl annotate rollout web -n shop --overwrite "sluice.dev/action=promote $(date +%s%N)" >/dev/null
until_ 60 phase_is Healthy
until_ 20 'now_is -'
seq=$(canary_since nginx "$m")
if [ "$seq" = "50 100 0 -" ] && [ "$(image web)" = web:2 ] &&
	! kubectl get ingress web-canary -n shop >/dev/null 2>&1 &&
	! kubectl get service web-canary -n shop >/dev/null 2>&1; then
	ok "promoted: all traffic to the full canary (100), then back to web (0); web runs web:2; the canary Ingress and Service are gone"
else
	not_ok "promoted: the canary Ingress and Service are gone" "canary-weight since the promote: $seq" "$(ro .status)"
fi

web web:3
push "web v3"
until_ 60 'now_is 25'
m=$(canary_mark nginx)
"$SLUICE" abort web -n shop --kubeconfig "$KUBECONFIG" >/dev/null 2>&1
until_ 20 phase_is Aborted
until_ 10 'now_is -'
seq=$(canary_since nginx "$m")
if { [ "$seq" = "25 0 -" ] || [ "$seq" = "50 0 -" ]; } && [ "$(image web)" = web:2 ] && [ "$(canary_replicas)" = 0 ] &&
	[ "$(ro .status.desiredWeight)/$(ro .status.actualWeight)" = 0/0 ] &&
	! kubectl get service web-canary -n shop >/dev/null 2>&1; then
	ok "abort: canary-weight $seq: 0 at once, then the canary Ingress is gone; the canary scaled to 0"
else
	not_ok "abort: the canary Ingress at 0 at once, then gone" "canary-weight since the abort: $seq" "$(ro .status)"
fi

# retry: the same commit's steps again, from nothing routed
m=$(canary_mark nginx)
"$SLUICE" retry web -n shop --kubeconfig "$KUBECONFIG" >/dev/null 2>&1
until_ 60 phase_is Paused
until_ 10 'now_is 50'
seq=$(canary_since nginx "$m")
if [ "$seq" = "- 0 25 50" ] && [ "$(image web-canary)" = web:3 ] && [ "$(image web)" = web:2 ] &&
	[ "$(ro .status.canary.commit)" = "$(git -C "$bare" rev-parse main)" ] &&
	[ "$(ro .status.currentStep)" = 3 ]; then
	ok "retry: web:3's steps again, canary-weight $seq"
else
	not_ok "retry: web:3's steps again" "canary-weight since the retry: $seq" "$(ro .status)"
fi

# web:4 while web:3 waits at the gate: web:3 is never promoted, web:4 starts at step 1
m=$(canary_mark nginx)
web web:4
push "web v4"
until_ 30 'test "$(image web-canary)" = web:4'
until_ 60 phase_is Paused
until_ 10 'now_is 50'
seq=$(canary_since nginx "$m")
if [ "$seq" = "50 0 25 50" ] && [ "$(ro '.status.history[0].result')" = Superseded ] &&
	[ "$(image web)" = web:2 ] && [ "$(ro .status.canary.commit)" = "$(git -C "$bare" rev-parse main)" ] &&
	[ "$(ro .status.currentStep)" = 3 ]; then
	ok "supersede: canary-weight $seq: web:3 drops to 0 before web:4 starts again at step 1; stable stays web:2"
else
	not_ok "supersede: web:4 starts again at step 1" "canary-weight since the push: $seq" "stable $(image web), canary $(image web-canary)" "$(ro .status)"
fi

# web:5 never gets ready: no weight ever reaches it; rolled back at the deadline
m=$(canary_mark nginx)
web web:5 unready
push "web v5 (never ready)"
unready_pods() { kubectl get pods -n shop -l sluice.dev/canary=true -o jsonpath='{range .items[*]}{.metadata.annotations.sandbox\.sluice\.dev/ready}{" "}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' 2>/dev/null | grep -c '^false ' || true; }
until_ 20 'test "$(unready_pods)" -gt 0'
unready=$(unready_pods)
at_unready=$(canary_since nginx "$m") # web:4 gave its weight up before web:5's pods came
until_ 60 phase_is RolledBack
until_ 10 'now_is -'
seq=$(canary_since nginx "$m")
if [ "$seq" = "50 0 -" ] && [ "$at_unready" = "50 0" ] && [ "$unready" -gt 0 ] && [ "$(image web)" = web:2 ] &&
	[[ "$(ro .status.message)" == *"progress deadline"* ]] &&
	[ "$(ro '.status.history[0].result')" = RolledBack ] && [ "$(canary_replicas)" = 0 ]; then
	ok "a canary whose $unready pod(s) never get ready gets no weight (canary-weight since the push: $seq) and is rolled back at the deadline"
else
	not_ok "a canary that never gets ready gets no weight" "canary-weight since the push: $seq ($at_unready when its pods came)" "unready canary pods: $unready" "$(ro .status)"
fi

# sluice pause / resume: a paused rollout holds its weight past its timed
# pause's end, and resume finishes the time that pause had left
rollout_yaml 5s
push "rollout: a 5 s pause"
until_ 30 'test "$(ro ".spec.steps[1].pause.duration")" = 5s'
m=$(canary_mark nginx)
web web:6
push "web v6"
until_ 60 'test "$(ro .status.currentStep)" = 1'
sleep 2
"$SLUICE" pause web -n shop --kubeconfig "$KUBECONFIG" >"$tmp/out" 2>&1; rc1=$?
until_ 10 phase_is Paused
sleep 6 # longer than the whole pause
held="$(ro .status.currentStep) $(ro .status.phase) $(canary_since nginx "$m")"
msg=$(ro .status.message)
t0=$(date +%s%N)
"$SLUICE" resume web -n shop --kubeconfig "$KUBECONFIG" >>"$tmp/out" 2>&1; rc2=$?
until_ 30 'test "$(ro .status.currentStep)" -ge 2'
left_ms=$((($(date +%s%N) - t0) / 1000000))
until_ 60 phase_is Paused
until_ 10 'now_is 50'
seq=$(canary_since nginx "$m")
if [ $rc1 = 0 ] && [ $rc2 = 0 ] && [ "$held" = "1 Paused - 0 25" ] && [[ "$msg" == "paused by request"* ]] &&
	[ $left_ms -gt 1000 ] && [ $left_ms -lt 4500 ] && [ "$seq" = "- 0 25 50" ] &&
	[ "$(ro .status.currentStep)" = 3 ]; then
	ok "sluice pause holds canary-weight at 25 past the pause's end; resume finishes its remaining time (${left_ms} ms of 5 s), then 50"
else
	not_ok "sluice pause / resume" "rc=$rc1/$rc2 held: $held ($msg) left=${left_ms} ms" "canary-weight since the push: $seq" "$(cat "$tmp/out")" "$(ro .status)"
fi

# revertCommit through this router
revert_case nginx web:7 web:6
kill -TERM $pid; wait $pid 2>/dev/null; pid=
