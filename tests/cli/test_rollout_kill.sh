#!/usr/bin/env bash
# The kill matrix: sluiced killed with SIGKILL at every step boundary, inside
# each pause and during promotion of one rollout, restarted each time. The
# weights the Rollout moves through must be exactly the steps' (never back,
# none skipped), a pause must keep its remaining time, and the rollout must
# end promoted once, never started over.
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
    - setWeight: 20
    - pause: {duration: 5s}
    - setWeight: 40
    - pause: {duration: 5s}
    - setWeight: 60
    - pause: {}
Y
rollout_first_commit

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
sleep 1 # the poller sees the last state too
kill $poller; wait $poller 2>/dev/null
weights=$(grep -v '^$' "$tmp/seen" | cut -d/ -f2 | grep -v '^$' | uniq | tr '\n' ' ')
steps=$(grep -v '^$' "$tmp/seen" | cut -d/ -f1 | grep -v '^$' | uniq | tr '\n' ' ')
pause_ms=$(((t2 - t1) / 1000000))
starts=$(cat "$tmp"/ctl*.log | grep -c '"msg":"rollout started"')
if [ "$weights" = "0 20 40 60 0 " ] && [ "$steps" = "0 1 2 3 4 5 6 " ] && [ "$starts" = 1 ] &&
	[ "$(image web)" = web:2 ] && [ "$(ro '.status.history[0].result')" = Promoted ] &&
	[ "$(ro '.status.history[1].result')" = "" ] && [ $pause_ms -lt 9000 ] &&
	[ "$(ro .status.stable.commit)" = "$(git -C "$bare" rev-parse main)" ]; then
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
