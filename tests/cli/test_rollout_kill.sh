#!/usr/bin/env bash
# The kill matrix, for each traffic router: sluiced killed with SIGKILL at
# every step boundary, inside each pause and during promotion of one rollout,
# restarted each time. The weights the Rollout moves through must be exactly
# the steps' (never back, none skipped), a pause must keep its remaining time,
# and the rollout must end promoted once, never started over. For gatewayAPI
# and nginx, a watch on the router's own object (HTTPRoute web's backendRefs,
# Ingress web-canary) records every weight the API held, asserted exact too.
# One sandbox: replicas first (then sluice pause / resume and promote --full),
# then the Rollout is switched to each router in turn. ROUTERS picks a subset.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/rollout_lib.sh"
ROUTERS=${ROUTERS:-replicas gatewayAPI nginx}
rollout_setup "$0" tests/data/crds/httproute.yaml
rollout_yaml() { # rollout_yaml ROUTER
	local routing
	case $1 in
	replicas) routing="replicas: {}" ;;
	gatewayAPI) routing="gatewayAPI: {httpRoute: web}" ;;
	nginx) routing="nginx: {ingress: web}" ;;
	esac
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
    $routing
  steps:
    - setWeight: 20
    - pause: {duration: 5s}
    - setWeight: 40
    - pause: {duration: 5s}
    - setWeight: 60
    - pause: {}
Y
}
set -- $ROUTERS
rollout_yaml "$1"
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
cat >"$tmp/work/apps/ingress.yaml" <<'Y'
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
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

kills=0
start 0
until_ 30 phase_is Healthy
relaunch() { # SIGKILL sluiced, start another
	kill -9 $pid; wait $pid 2>/dev/null
	kills=$((kills + 1))
	start $kills
}
starts() { cat "$tmp"/ctl*.log | grep -c '"msg":"rollout started"'; }

# kill_matrix ROUTER IMAGE: one rollout of IMAGE through every kill
kill_matrix() {
	local router=$1 image=$2 k0=$kills s0 n0 h0 m=0 step t1='' t2='' poller weights steps want_steps
	local pause_ms starts_ seq='' want_seq="- 0 20 40 60 100 0 -"
	s0=$(ro .status.currentStep)
	n0=$(starts)
	h0=$(kubectl get rollout web -n shop -o json | jq '.status.history // [] | length')
	if [ "$router" != replicas ]; then
		canary_record "$router"
		m=$(canary_mark "$router")
	fi
	# a poller records every weight and step the status shows, for the whole rollout
	(while :; do ro '.status.currentStep}/{.status.desiredWeight}/{.status.phase' 2>/dev/null; echo; sleep 0.05; done) >"$tmp/seen.$router" &
	poller=$!
	web "$image"
	push "web $image"
	for step in 1 2 3 4 5; do
		until_ 60 'test "$(ro .status.currentStep)" = '$step
		[ $step = 1 ] && t1=$(date +%s%N)
		[ $step = 2 ] && t2=$(date +%s%N)
		relaunch
	done
	until_ 30 phase_is Paused
	kubectl annotate rollout web -n shop --overwrite "sluice.dev/action=promote $(date +%s%N)" >/dev/null
	until_ 30 'test -n "$(ro .status.promotion)"'
	relaunch
	until_ 90 phase_is Healthy
	sleep 1 # the poller sees the last state too
	kill $poller; wait $poller 2>/dev/null
	weights=$(grep -v '^$' "$tmp/seen.$router" | cut -d/ -f2 | grep -v '^$' | uniq | tr '\n' ' ')
	steps=$(grep -v '^$' "$tmp/seen.$router" | cut -d/ -f1 | grep -v '^$' | uniq | tr '\n' ' ')
	want_steps="0 1 2 3 4 5 6 "
	[ -n "$s0" ] && [ "$s0" != 0 ] && want_steps="$s0 $want_steps" # the last rollout's, until this one starts
	pause_ms=$(((t2 - t1) / 1000000))
	starts_=$(($(starts) - n0))
	[ "$router" != replicas ] && seq=$(canary_since "$router" "$m")
	local api=${seq:+"(the canary weight in the API: $seq) "}
	if [ "$weights" = "0 20 40 60 0 " ] && [ "$steps" = "$want_steps" ] && [ "$starts_" = 1 ] &&
		[ "$(image web)" = "$image" ] && [ "$(ro '.status.history[0].result')" = Promoted ] &&
		[ "$(kubectl get rollout web -n shop -o json | jq '.status.history | length')" = $((h0 + 1)) ] &&
		[ $pause_ms -lt 9000 ] && [ "$(ro .status.stable.commit)" = "$(git -C "$bare" rev-parse main)" ] &&
		{ [ "$router" = replicas ] || [ "$seq" = "$want_seq" ]; }; then
		ok "$router: killed $((kills - k0)) times (each step boundary, inside each pause, during promotion): weights $weights${api}steps $steps one start, promoted; a 5 s pause took ${pause_ms} ms across a kill"
	else
		not_ok "$router: the kill matrix" "weights: $weights" "the canary weight in the API: $seq (want $want_seq)" "steps: $steps (want $want_steps)" "starts: $starts_" "pause: ${pause_ms} ms" "$(ro .status)"
	fi
}

# The Rollout through another router, by a commit alone. Server-side apply
# keeps `replicas: {}` (kube-apiserver records no owner for an empty object),
# and 1.20 keeps `gatewayAPI: {}` once it removed httpRoute, so the CRD's
# maxProperties: 1 refuses the merge; the sync then removes those leftovers
# and applies again. The Rollout is the same object: its history stays.
routing() { kubectl get rollout web -n shop -o json 2>/dev/null | jq -c '.spec.trafficRouting // {} | keys'; }
switch_router() {
	local uid0 hist0
	uid0=$(ro .metadata.uid)
	hist0=$(kubectl get rollout web -n shop -o json | jq '.status.history | length')
	rollout_yaml "$1"
	commit "rollout: $1"
	notify
	want_routing="[\"$1\"]"
	if until_ 30 'test "$(routing)" = "$want_routing"' && until_ 30 phase_is Healthy &&
		[ "$(ro .metadata.uid)" = "$uid0" ] &&
		[ "$(kubectl get rollout web -n shop -o json | jq '.status.history | length')" = "$hist0" ]; then
		ok "a commit moves the Rollout to $1: the same object (its $hist0 history entries kept), Healthy"
	else
		not_ok "a commit moves the Rollout to $1" "routing: $(routing)" "$(ro .status)" \
			"$(grep -h 'sync' "$tmp"/ctl*.log | tail -3)"
	fi
}

img=2
first=1
for router in $ROUTERS; do
	[ $first = 1 ] || switch_router "$router"
	first=0
	kill_matrix "$router" "web:$img"
	img=$((img + 1))
	[ "$router" = replicas ] || continue

	# sluice pause / resume (the CLI, through the API): a paused rollout holds,
	# and its timed pause resumes with the time it had left; then promote --full
	web "web:$img"
	push "web v$img"
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
	"$SLUICE" promote web --full -n shop --kubeconfig "$KUBECONFIG" >/dev/null 2>&1
	until_ 60 phase_is Healthy
	if [ "$(image web)" = "web:$img" ] && [ "$(ro '.status.history[0].result')" = Promoted ]; then
		ok "sluice promote --full skips the remaining steps: web:$img promoted"
	else
		not_ok "sluice promote --full" "stable $(image web)" "$(ro .status)"
	fi
	img=$((img + 1))
done

"$SLUICE" promote nope -n shop --kubeconfig "$KUBECONFIG" >/dev/null 2>"$tmp/err"; rc=$?
if [ $rc = 2 ] && [ "$(wc -l <"$tmp/err")" = 1 ] && grep -q 'not found' "$tmp/err"; then
	ok "sluice promote of an unknown rollout is one line and exit 2"
else
	not_ok "sluice promote of an unknown rollout is one line and exit 2" "rc=$rc" "$(cat "$tmp/err")"
fi
kill -TERM $pid; wait $pid 2>/dev/null; pid=
