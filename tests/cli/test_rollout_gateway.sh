#!/usr/bin/env bash
# Canary rollouts end to end through a Gateway API HTTPRoute: the route's
# backendRefs carry the weights between the stable Service and web-canary, the
# sync leaves them alone while the rollout runs, Services are pinned to their
# pods, and the route is Git's again after promotion; then abort and retry, a
# newer commit superseding the canary, a canary that never gets ready, and
# sluice pause / resume. A
# watch on the route records every write of its weights, so the sequences
# asserted are the ones the API held, not samples.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/rollout_lib.sh"
rollout_setup "$0" tests/data/crds/httproute.yaml
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
    gatewayAPI: {httpRoute: web}
  steps:
    - setWeight: 25
    - pause: {duration: $1}
    - setWeight: 50
    - pause: {}
Y
}
rollout_yaml 2s
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
rollout_first_commit
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
record "$tmp/route.log" httproute web '{.spec.rules[0].backendRefs}'
mark() { # the record's line count, once its last line is the route as the API holds it now
	until_ 5 'test "$(route_lines "$(wc -l <"$tmp/route.log")")" = "$(weights_at)"'
	wc -l <"$tmp/route.log"
}
route_lines() { # the route's weights from line $1 of the record on, as weights_at writes them
	lines_since "$tmp/route.log" "$1" | jq -r 'map("\(.name)=\(.weight // "")") | join(" ") + " "' | uniq
}
route_since() { route_lines "$1" | tr '\n' '|'; }

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
m=$(mark)
kubectl annotate rollout web -n shop --overwrite "sluice.dev/action=abort $(date +%s%N)" >/dev/null
until_ 20 phase_is Aborted
until_ 10 'test "$(route_lines "$m" | tail -n 1)" = "web= "'
seq=$(route_since "$m")
case "$seq" in # the abort lands at 25 or, past the 2 s pause, at 50
"web=75 web-canary=25 |web=100 web-canary=0 |web= |" | "web=50 web-canary=50 |web=100 web-canary=0 |web= |") abort_seq=yes ;;
*) abort_seq=no ;;
esac
if [ "$(weights_at)" = "web= " ] && [ "$(image web)" = web:2 ] &&
	[ "$(canary_replicas)" = 0 ] && [ $abort_seq = yes ] &&
	! kubectl get service web-canary -n shop >/dev/null 2>&1; then
	ok "abort: weight 0 to web-canary at once, then the route is Git's again; the canary scaled to 0"
else
	not_ok "abort: all traffic back to web at once" "route since the abort: $seq" "$(ro .status)"
fi

# retry: the same commit's steps again, from weight 0
m=$(mark)
kubectl annotate rollout web -n shop --overwrite "sluice.dev/action=retry $(date +%s%N)" >/dev/null
until_ 60 phase_is Paused
until_ 10 'test "$(weights_at)" = "web=50 web-canary=50 "'
seq=$(route_since "$m")
if [ "$seq" = "web= |web=100 web-canary=0 |web=75 web-canary=25 |web=50 web-canary=50 |" ] &&
	[ "$(image web-canary)" = web:3 ] && [ "$(image web)" = web:2 ] &&
	[ "$(ro .status.canary.commit)" = "$(git -C "$bare" rev-parse main)" ] &&
	[ "$(ro .status.currentStep)" = 3 ]; then
	ok "retry: web:3's steps again, the route at 0, 25, 50 for web-canary"
else
	not_ok "retry: web:3's steps again" "route since the retry: $seq" "$(ro .status)"
fi

# web:4 while web:3 waits at the gate: web:3 is never promoted, web:4 starts at step 1
m=$(mark)
web web:4
push "web v4"
until_ 30 'test "$(image web-canary)" = web:4'
until_ 60 phase_is Paused
until_ 10 'test "$(weights_at)" = "web=50 web-canary=50 "'
seq=$(route_since "$m")
if [ "$seq" = "web=50 web-canary=50 |web=100 web-canary=0 |web=75 web-canary=25 |web=50 web-canary=50 |" ] &&
	[ "$(ro '.status.history[0].result')" = Superseded ] && [ "$(image web)" = web:2 ] &&
	[ "$(ro .status.canary.commit)" = "$(git -C "$bare" rev-parse main)" ] &&
	[ "$(ro .status.currentStep)" = 3 ]; then
	ok "supersede: web-canary drops to weight 0, then web:4 starts again at step 1 (25, 50); web:3 never promoted, stable stays web:2"
else
	not_ok "supersede: web:4 starts again at step 1" "route since the push: $seq" "stable $(image web), canary $(image web-canary)" "$(ro .status)"
fi

# web:5 never gets ready: no weight ever reaches it; rolled back at the deadline
m=$(mark)
web web:5 unready
push "web v5 (never ready)"
unready_pods() { kubectl get pods -n shop -l sluice.dev/canary=true -o jsonpath='{range .items[*]}{.metadata.annotations.sandbox\.sluice\.dev/ready}{" "}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' 2>/dev/null | grep -c '^false ' || true; }
until_ 20 'test "$(unready_pods)" -gt 0'
unready=$(unready_pods)
at_unready=$(route_since "$m") # web:4 gave its weight up before web:5's pods came
until_ 60 phase_is RolledBack
until_ 10 'test "$(route_lines "$m" | tail -n 1)" = "web= "'
seq=$(route_since "$m")
if [ "$seq" = "web=50 web-canary=50 |web=100 web-canary=0 |web= |" ] &&
	[ "$at_unready" = "web=50 web-canary=50 |web=100 web-canary=0 |" ] && [ "$unready" -gt 0 ] && [ "$(image web)" = web:2 ] &&
	[[ "$(ro .status.message)" == *"progress deadline"* ]] &&
	[ "$(ro '.status.history[0].result')" = RolledBack ] && [ "$(canary_replicas)" = 0 ]; then
	ok "a canary whose $unready pod(s) never get ready gets no weight (route since the push: $seq) and is rolled back at the deadline"
else
	not_ok "a canary that never gets ready gets no weight" "route since the push: $seq ($at_unready when its pods came)" "unready canary pods: $unready" "$(ro .status)"
fi

# sluice pause / resume: a paused rollout holds its weights past its timed
# pause's end, and resume finishes the time that pause had left
rollout_yaml 5s
push "rollout: a 5 s pause"
until_ 30 'test "$(ro ".spec.steps[1].pause.duration")" = 5s'
m=$(mark)
web web:6
push "web v6"
until_ 60 'test "$(ro .status.currentStep)" = 1'
sleep 2
"$SLUICE" pause web -n shop --kubeconfig "$KUBECONFIG" >"$tmp/out" 2>&1; rc1=$?
until_ 10 phase_is Paused
sleep 6 # longer than the whole pause
held="$(ro .status.currentStep) $(ro .status.phase) $(route_since "$m")"
msg=$(ro .status.message)
t0=$(date +%s%N)
"$SLUICE" resume web -n shop --kubeconfig "$KUBECONFIG" >>"$tmp/out" 2>&1; rc2=$?
until_ 30 'test "$(ro .status.currentStep)" -ge 2'
left_ms=$((($(date +%s%N) - t0) / 1000000))
until_ 60 phase_is Paused
until_ 10 'test "$(weights_at)" = "web=50 web-canary=50 "'
seq=$(route_since "$m")
if [ $rc1 = 0 ] && [ $rc2 = 0 ] && [ "$held" = "1 Paused web= |web=100 web-canary=0 |web=75 web-canary=25 |" ] &&
	[[ "$msg" == "paused by request"* ]] && [ $left_ms -gt 1000 ] && [ $left_ms -lt 4500 ] &&
	[ "$seq" = "web= |web=100 web-canary=0 |web=75 web-canary=25 |web=50 web-canary=50 |" ] &&
	[ "$(ro .status.currentStep)" = 3 ]; then
	ok "sluice pause holds the route at 75/25 past the pause's end; resume finishes its remaining time (${left_ms} ms of 5 s), then 50/50"
else
	not_ok "sluice pause / resume" "rc=$rc1/$rc2 held: $held ($msg) left=${left_ms} ms" "route since the push: $seq" "$(cat "$tmp/out")" "$(ro .status)"
fi

# revertCommit through this router
revert_case gatewayAPI web:7 web:6
kill -TERM $pid; wait $pid 2>/dev/null; pid=
