#!/usr/bin/env bash
# The end-to-end suite (issue 9 part 5): the shop example (examples/shop)
# delivered by sluice from Git on one sandbox, with real traffic through a
# real nginx and real metrics in a real Prometheus, commit after commit:
#   v2  healthy: promoted through 10, 25, 50, 100, measured at nginx (each
#       version's share of the requests per step) and at the API (a watch)
#   v3  30% errors: rolled back by error-rate about one analysis interval
#       after the canary takes traffic; the failed share of all requests in
#       that window near 0.10 x 0.30; the commit reverted by hand afterwards
#   a commit of broken YAML, and one the API server refuses: Failed with
#   file:line, the cluster untouched, no canary started
#   v5  sluiced killed (SIGKILL) at 10% and started again: it resumes the step
#       (its pause not restarted); then two replicas with --leader-elect, the
#       leader killed at 50%: the standby finishes, weights intact
#   v6  Prometheus stopped at 10%: held (Paused), neither promoted nor rolled
#       back, past the time the steps would take; Prometheus back and
#       `sluice promote`: promoted
#   v7  400 ms latency with rollbackPolicy revertCommit: rolled back by
#       latency-p95, the commit reverted in Git and pushed, the revert synced
# Shares are judged within 4 binomial standard deviations of the weight: nginx
# splits each request independently (split_clients on $request_id), so a
# step's count of canary answers is binomial(n, w) (500 to 2,800 requests per
# step at the default 100 req/s). The pauses after 25% and 50% are shortened
# for v5 on. tests/e2e/README.md lists what each scenario asserts.
. "$(dirname "$0")/lib.sh"
suite_t0=$SECONDS
e2e_setup

appst() { kubectl get application shop -n shop -o jsonpath="{$1}" 2>/dev/null; }
head_sha() { git -C "$bare" rev-parse main; }
done_with() { # done_with SHA: the Rollout's newest history entry is SHA's
	[ "$(ro '.status.history[0].commit')" = "$1" ] && [ -n "$(ro '.status.history[0].result')" ]
}
synced_at() { [ "$(appst .status.sync.revision)" = "$1" ] && [ "$(appst .status.sync.status)" = Synced ]; }
seg() { # seg LINES WORD: "START END" of the first reload to WORD in LINES and the reload after it
	awk -v w="$2" 'f { print s, $1; exit } $2 == w { s = $1; f = 1 }' <<<"$1"
}
# check_steps LINES LABEL: each canary step's share of the requests at nginx;
# sets steps_ok and steps_fig
check_steps() {
	local lines=$1 w se rep n v2 tol fail
	steps_ok=1
	steps_fig=
	steps_diag=
	for w in 10 25 50 100; do
		se=$(seg "$lines" "$w")
		if [ -z "$se" ] || [ "$(wc -w <<<"$se")" != 2 ]; then
			steps_ok=0
			steps_diag="$steps_diag | $w%: no such reload"
			continue
		fi
		rep=$(shares $se)
		n=$(jget requests <<<"$rep")
		v2=$(jget "versions.$2.share" <<<"$rep")
		fail=$(jget failed <<<"$rep")
		tol=$(binom_tol "$(python3 -c "print($w/100)")" "$n" 4)
		if [ "$w" = 100 ]; then
			[ "$v2" = 1 ] || steps_ok=0
		else
			{ [ "$n" -ge 150 ] && within "$v2" "$(python3 -c "print($w/100)")" "$tol"; } || steps_ok=0
		fi
		[ "$fail" = 0 ] || steps_ok=0
		steps_fig="$steps_fig $w%: $v2 of $n (+-$tol);"
		steps_diag="$steps_diag | $w% [$se] want $(python3 -c "print($w/100)") +-$tol, failed 0: $rep"
	done
}
api_words_ok() { # api_words_ok SEQ: the route went - 0 10 25 50 100 ... back to Git's (-)
	[[ "$1" =~ ^(- )?(0 )?"10 25 50 100 "(0 )?-$ ]]
}
nginx_words_ok() { # the same at nginx, which may miss a state shorter than its 0.5 s poll
	[[ "$1" =~ ^(- )?(0 )?"10 25 50 100 "(0 )?-$ ]]
}
nginx_last() { hist_words | awk '{ print $NF }'; }
api_last() { api_since "$1" | awk '{ print $NF }'; }
# settled: nginx and the API (since mark $m) both have Git's route again (a
# rollout's history entry may be written before the gateway's next poll)
settled() { until_ 30 '[ "$(nginx_last)" = - ] && [ "$(api_last "$m")" = - ]'; }
# final_traffic VER: once nginx routes Git's route again to pods of VER only, the
# load's 3 s after: every answer VER's, none failed
final_traffic() {
	local t
	until_ 60 "[ \"\$(nginx_last)\" = - ] &&
		jq -e '[.rules[0].backends[] | select(.service == \"web\") | .endpoints[].version] | length == 4 and all(. == \"$1\")' \"\$tmp/gw/state.json\" >/dev/null"
	t=$(now)
	sleep 5
	shares "$t" "$(now)"
}

timing=
lap() { timing="$timing $1 $((SECONDS - lap_t0)) s;"; lap_t0=$SECONDS; }
lap_t0=$SECONDS

# ---- 1. v2, healthy: promoted through 10, 25, 50, 100 ------------------------------------
m=$(api_mark)
t_push=$(now)
shop_version v2
push "web v2"
sha=$(head_sha)
until_ 240 'done_with "$sha"'
t_done=$(now)
settled
final=$(final_traffic v2)
api=$(api_since "$m")
lines=$(hist_lines "$t_push")
words=$(hist_words "$t_push")
check_steps "$lines" v2
all=$(shares "$t_push" "$t_done")
if [ "$(ro '.status.history[0].result')" = Promoted ] && phase_is Healthy && [ "$(image web)" = demoapp:v2 ] &&
	api_words_ok "$api" && nginx_words_ok "$words" && [ $steps_ok = 1 ]; then
	ok "v2 promoted in $(python3 -c "print(round($t_done - $t_push))") s; route (API): $api; nginx: $words; v2's share at nginx per step:$steps_fig"
else
	not_ok "v2: promoted through 10, 25, 50, 100, at the API and at nginx" "API: $api" "nginx: $words" \
		"shares:$steps_fig" "$steps_diag" "$(ro .status)"
fi
if [ "$(jget 'versions.v2.share' <<<"$final")" = 1 ] && [ "$(jget failed <<<"$final")" = 0 ] &&
	[ "$(jget requests <<<"$final")" -ge 150 ] && [ "$(jget failed <<<"$all")" = 0 ]; then
	ok "after v2's promotion all traffic is v2 ($(jget requests <<<"$final") requests in $(jget seconds <<<"$final") s); none of $(jget requests <<<"$all") requests failed during the rollout"
else
	not_ok "after v2's promotion all traffic is v2, none failed" "after: $final" "during: $all"
fi

lap v2

# ---- 2 and 3. v3 fails 30%: rolled back by error-rate ---------------------------------------
m=$(api_mark)
t_push=$(now)
shop_version v3 0.3
push "web v3 (30% errors)"
sha=$(head_sha)
until_ 120 'done_with "$sha"'
settled
final=$(final_traffic v2)
api=$(api_since "$m")
lines=$(hist_lines "$t_push")
words=$(hist_words "$t_push")
se=$(seg "$lines" 10)
msg=$(ro .status.message)
rb_s=$(python3 -c 'import sys; a=sys.argv[1].split(); print(round(float(a[1]) - float(a[0]), 1) if len(a) == 2 else 999)' "$se")
# answers neither 200 nor 500 (502: a canary pod gone while nginx still routed to it)
lost=$(shares "$t_push" "$(now)" 0 | jq -r '[.codes | to_entries[] | select(.key != "200" and .key != "500") | "\(.value) x \(.key)"] | join(", ") | if . == "" then "none" else . end')
if [ "$(ro '.status.history[0].result')" = RolledBack ] && [[ "$msg" == *error-rate* ]] &&
	[ "$(image web)" = demoapp:v2 ] && [[ "$api" =~ ^(- )?"0 10 "(0 )?-$ ]] && [[ "$words" =~ ^(- )?(0 )?"10 "(0 )?-$ ]] &&
	within "$rb_s" 10 10 && [ "$(jget 'versions.v2.share' <<<"$final")" = 1 ] && [ "$(jget failed <<<"$final")" = 0 ] &&
	[ "$lost" = none ]; then
	ok "v3 (30% errors) rolled back ${rb_s} s after nginx gave it 10% (analysis every 10 s): $msg; stable still v2, all traffic v2 again ($(jget requests <<<"$final") requests); no request lost to the rollback (other failures: $lost)"
else
	not_ok "v3: rolled back by error-rate within about one analysis interval" "canary took traffic for ${rb_s} s [$se]" \
		"API: $api" "nginx: $words" "message: $msg" "after: $final" "other failures: $lost" "$(ro .status)"
fi
win=$(shares $se 0.5)
n3=$(jget requests <<<"$win")
failed=$(jget failed <<<"$win")
tol=$(binom_tol 0.03 "$n3" 4)
if [ "$n3" -ge 300 ] && within "$failed" 0.03 "$tol" && [ "$(jget 'versions.v2.failed' <<<"$win")" = 0 ]; then
	ok "during v3's canary $failed of $n3 requests failed at the client (0.10 x 0.30 = 0.03 +- $tol); v3 served $(jget 'versions.v3.share' <<<"$win"), failing $(jget 'versions.v3.failed' <<<"$win")"
else
	not_ok "the failed share during v3's canary near 0.03" "window $se: $win" "tolerance $tol"
fi
# the person's part under revertInCluster: Git back to what runs
(cd "$tmp/work" && $G revert --no-edit HEAD >/dev/null) && git -C "$tmp/work" push -q "$bare" HEAD:main && notify
sha=$(head_sha)
until_ 30 'synced_at "$sha"'

lap v3

# ---- 8. a broken commit: Failed with file:line, nothing changed ----------------------------
rvs() { kubectl get deploy,svc,httproute,rollout,replicaset,configmap,secret -n shop -o jsonpath='{range .items[*]}{.kind}/{.metadata.name}={.metadata.resourceVersion} {end}' 2>/dev/null; }
cp "$tmp/work/apps/deployment.yaml" "$tmp/deployment.good"
# the cluster at rest first: the rollout engine may still be writing the
# Rollout's status after the good commit before (e.g. its failed template gone)
before=$(rvs)
for _ in $(seq 1 10); do
	sleep 2
	[ "$(rvs)" = "$before" ] && break
	before=$(rvs)
done
sed -i 's/^  replicas: 4$/  replicas: [4/' "$tmp/work/apps/deployment.yaml"
push "web: a broken manifest"
sha=$(head_sha)
until_ 30 'test "$(appst .status.sync.status)" = Failed'
sleep 3
msg=$(appst .status.sync.message)
after=$(rvs)
if [ "$(appst .status.sync.status)" = Failed ] && [[ "$msg" =~ ^apps/deployment.yaml:[0-9]+:[0-9]+:\ [^$'\n']+$ ]] &&
	[ "$before" = "$after" ] && phase_is Healthy; then
	ok "a broken commit: Application Failed ($msg); no object changed ($(wc -w <<<"$after") resourceVersions compared)"
else
	not_ok "a broken commit: Failed with file:line, the cluster untouched" "status: $(appst .status.sync.status)" "message: $msg" \
		"before: $before" "after:  $after"
fi
cp "$tmp/deployment.good" "$tmp/work/apps/deployment.yaml"
push "web: the manifest fixed"
sha=$(head_sha)
until_ 30 'synced_at "$sha"'

# a commit that parses but that the API server refuses (a Service port out of
# range) and that also changes the image: the whole commit is validated
# before anything changes, so no canary starts either
cp "$tmp/work/apps/service.yaml" "$tmp/service.good"
before=$(rvs)
shop_version v9
sed -i 's/port: 80,/port: 70000,/' "$tmp/work/apps/service.yaml"
push "web v9 with a bad Service port"
until_ 30 'test "$(appst .status.sync.status)" = Failed'
sleep 3
msg=$(appst .status.sync.message)
after=$(rvs)
if [ "$(appst .status.sync.status)" = Failed ] &&
	[[ "$msg" =~ ^apps/service.yaml:[0-9]+:\ Service\ shop/web:\ .*spec.ports\[0\].port ]] &&
	[ "$before" = "$after" ] && phase_is Healthy && [ "$(image web)" = demoapp:v2 ] &&
	[ -z "$(ro .status.canary.commit)" ]; then
	ok "a commit the API server refuses (with a new image): Failed ($msg); no object changed, no canary started"
else
	not_ok "a commit the API server refuses: Failed, the cluster untouched, no canary" "status: $(appst .status.sync.status)" \
		"message: $msg" "image: $(image web)" "before: $before" "after:  $after" "$(ro .status)"
fi
cp "$tmp/deployment.good" "$tmp/work/apps/deployment.yaml"
cp "$tmp/service.good" "$tmp/work/apps/service.yaml"
push "web: the Service fixed, v9 withdrawn"
sha=$(head_sha)
until_ 30 'synced_at "$sha"'

lap broken

# ---- 5 and 6. v5: sluiced killed at 10% and restarted; then a leader failover at 50% -------------
sed -i -e 's/duration: 15s/duration: 8s/' -e 's/duration: 5s/duration: 2s/' "$tmp/work/apps/rollout.yaml"
push "rollout: shorter pauses after 25% and 50%"
until_ 30 'test "$(ro ".spec.steps[3].pause.duration")" = 8s'
m=$(api_mark)
t_push=$(now)
shop_version v5
push "web v5"
sha=$(head_sha)
until_ 60 'test "$(ro .status.currentStep)" = 1 && test "$(ro .status.desiredWeight)" = 10'
sleep 4
kill_ctl 1 KILL
at_kill="$(ro .status.currentStep)/$(ro .status.desiredWeight)/$(ro .status.phase)"
sleep 3 # down for a while
start_ctl a --leader-elect --leader-elect-id a
until_ 20 'test "$(holder)" = a'
start_ctl b --leader-elect --leader-elect-id b
port=${cport[a]}
until_ 60 'test "$(ro .status.currentStep)" = 5' # weight 50, its pause
kill_ctl a KILL
t_kill2=$(date +%s%3N)
port=${cport[b]}
until_ 30 'test "$(holder)" = b'
took=$(log_ms b "leader election: leading" "$t_kill2")
until_ 120 'done_with "$sha"'
settled
api=$(api_since "$m")
lines=$(hist_lines "$t_push")
words=$(hist_words "$t_push")
se10=$(seg "$lines" 10)
d10=$(python3 -c 'import sys; a=sys.argv[1].split(); print(round(float(a[1]) - float(a[0]), 1) if len(a) == 2 else 999)' "$se10")
if [ "$(ro '.status.history[0].result')" = Promoted ] && [ "$(image web)" = demoapp:v5 ] && api_words_ok "$api" &&
	nginx_words_ok "$words" && [[ "$at_kill" == 1/10/* ]] && within "$d10" 31 2.5 &&
	! grep -q '"msg":"rollout started"' "$tmp/ctl-a.log"; then
	ok "v5: sluiced killed at 10% (step/weight/phase $at_kill) and started again 3 s later: 10% lasted $d10 s at nginx (its pause 30 s, not started again), route $api, promoted"
else
	not_ok "v5: sluiced killed mid-rollout resumes the step it was on" "at kill: $at_kill" "10% at nginx for $d10 s [$se10]" \
		"API: $api" "nginx: $words" "the restarted sluiced started a rollout: $(grep -c '"msg":"rollout started"' "$tmp/ctl-a.log")" "$(ro .status)"
fi
if [ -n "$took" ] && [ "$took" -le 20000 ] && [ "$(ro '.status.history[0].result')" = Promoted ] && api_words_ok "$api" &&
	grep -q '"rollout":"web"' "$tmp/ctl-b.log" && ! grep -q '"msg":"rollout started"' "$tmp/ctl-b.log"; then
	ok "leader failover at 50%: b took over in $took ms and finished v5's rollout, weights $api"
else
	not_ok "leader failover mid-rollout: the standby finishes with the weights intact" "took: ${took:-never} ms" \
		"API: $api" "holder: $(holder)" "$(tail -n 5 "$tmp/ctl-b.log")"
fi

lap v5

# ---- 7. v6 with Prometheus down: held, never promoted nor rolled back --------------------------
m=$(api_mark)
shop_version v6
push "web v6"
sha=$(head_sha)
until_ 60 'test "$(ro .status.currentStep)" = 1 && test "$(ro .status.analysis.lastVerdict)" = Passed'
tests/sandbox/prometheus down "$tmp/prom" >/dev/null
t_stop=$(now)
# 19 s of pause left at most, 8 + 8 + 2 after: held well past 40 s
(while :; do echo "$(ro '.status.phase}/{.status.currentStep}/{.status.desiredWeight')/$(image web)"; sleep 0.5; done) >"$tmp/seen7" &
poller=$!
recorders+=("$poller")
until_ 120 'test -n "$(ro .status.analysisHold)"'
hold_s=$(python3 -c "print(round($(now) - $t_stop))")
left=$(python3 -c "print(max(0, round(60 - ($(now) - $t_stop), 1)))")
sleep "$left"
kill "$poller"
held_s=$(python3 -c "print(round($(now) - $t_stop))")
seen=$(cut -d/ -f1 "$tmp/seen7" | sort -u | tr '\n' ' ')
imgs=$(cut -d/ -f4 "$tmp/seen7" | sort -u | tr '\n' ' ')
hold=$(ro .status.analysisHold)
held_at="step $(ro .status.currentStep), weight $(ro .status.desiredWeight)"
if phase_is Paused && [[ "$hold" == *"Prometheus failed"* ]] && [ "$imgs" = "demoapp:v5 " ] &&
	[[ "$seen" != *RolledBack* ]] && [[ "$seen" != *Healthy* ]] && ! done_with "$sha"; then
	ok "v6 with Prometheus down at 10%: held after $hold_s s at $held_at, still held at $held_s s (phases seen: $seen), stable v5: $(ro .status.message)"
else
	not_ok "Prometheus down: held, neither promoted nor rolled back" "phases: $seen images: $imgs" "hold after $hold_s s: $hold" \
		"$(ro .status)"
fi
prom_up
until_ 40 'test -n "$(promq "sum(rate(http_requests_total{namespace=\"shop\",pod=~\"web-canary-.*\"}[10s]))")"'
"$SLUICE" promote web -n shop --kubeconfig "$KUBECONFIG" >"$tmp/promote.out" 2>&1
rc=$?
t_prom=$(now)
until_ 90 'done_with "$sha"'
settled
api=$(api_since "$m")
if [ $rc = 0 ] && [ "$(ro '.status.history[0].result')" = Promoted ] && [ "$(image web)" = demoapp:v6 ] && api_words_ok "$api"; then
	ok "Prometheus back and sluice promote: v6 promoted $(python3 -c "print(round($(now) - $t_prom))") s later, route $api"
else
	not_ok "Prometheus back and sluice promote: the rollout goes on" "rc=$rc $(cat "$tmp/promote.out")" "API: $api" "$(ro .status)"
fi

lap v6

# ---- 4 and 9. v7: 400 ms latency, rollbackPolicy revertCommit ----------------------------------
sed -i 's/^  scaleDownDelaySeconds: 2$/  scaleDownDelaySeconds: 2\n  rollbackPolicy: revertCommit/' "$tmp/work/apps/rollout.yaml"
push "rollout: revert failed commits"
until_ 30 'test "$(ro .spec.rollbackPolicy)" = revertCommit'
m=$(api_mark)
t_push=$(now)
shop_version v7 0 400
push "web v7 (slow)"
sha=$(head_sha)
until_ 120 'done_with "$sha"'
settled
msg=$(ro .status.message)
lines=$(hist_lines "$t_push")
se=$(seg "$lines" 10)
rb_s=$(python3 -c 'import sys; a=sys.argv[1].split(); print(round(float(a[1]) - float(a[0]), 1) if len(a) == 2 else 999)' "$se")
api=$(api_since "$m")
lost=$(shares "$t_push" "$(now)" 0 | jq -r '[.codes | to_entries[] | select(.key != "200" and .key != "500") | "\(.value) x \(.key)"] | join(", ") | if . == "" then "none" else . end')
if [ "$(ro '.status.history[0].result')" = RolledBack ] && [[ "$msg" == *latency-p95* ]] && [ "$(image web)" = demoapp:v6 ] &&
	[[ "$api" =~ ^(- )?"0 10 "(0 )?-$ ]] && within "$rb_s" 10 10 && [ "$lost" = none ]; then
	ok "v7 (400 ms) rolled back ${rb_s} s after nginx gave it 10%: $msg; no request lost to the rollback (failures: $lost)"
else
	not_ok "v7: rolled back by latency-p95, no request lost" "canary took traffic for ${rb_s} s [$se]" "API: $api" "message: $msg" "failures: $lost" "$(ro .status)"
fi
until_ 30 'test -n "$(ro .status.revert.commit)$(ro .status.revert.error)"'
rev=$(ro .status.revert.commit)
notify # the Git host's push webhook for sluice's own push
until_ 30 'synced_at "$rev"'
final=$(final_traffic v6)
subject=$(git -C "$bare" log -1 --format=%s main)
if [ -n "$rev" ] && [ "$rev" = "$(head_sha)" ] && [ "$subject" = 'Revert "web v7 (slow)"' ] &&
	[ "$(ro .status.revert.reverted)" = "$sha" ] && synced_at "$rev" &&
	grep -q 'image: demoapp:v6' <(git -C "$bare" show main:apps/deployment.yaml) && [ "$(image web)" = demoapp:v6 ] &&
	[ "$(jget 'versions.v6.share' <<<"$final")" = 1 ]; then
	ok "revertCommit: sluice pushed \"$subject\" (${rev:0:8}) to the repository, the Application synced it; Git and the cluster say v6, all traffic v6"
else
	not_ok "revertCommit: the revert pushed and synced" "$(git -C "$bare" log -3 --format='%h %s' main)" \
		"revert: $(ro .status.revert)" "app: $(appst .status.sync)" "after: $final"
fi

lap v7

# the sanitized controllers and stand-in (and demoapp) reported nothing
for id in "${!cpid[@]}"; do kill_ctl "$id" TERM; done
san=$(grep -h -A3 'ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:' "$tmp"/ctl-*.log "$sbx/kubelet.log" 2>/dev/null | head -n 20)
if [ -z "$san" ]; then
	ok "no sanitizer report from sluiced (3 processes) or the kubelet stand-in and its demoapp processes"
else
	not_ok "a sanitizer report" "$san"
fi
echo "# e2e suite: $((SECONDS - suite_t0)) s (setup $setup_s s;$timing), load $(jq -s 'map(.n) | add' "$tmp/load.jsonl") requests"
