#!/usr/bin/env bash
# Leader election on the sandbox: sluiced replicas in Application mode with
# --leader-elect share the Lease sluice-system/sluiced. One leads and writes;
# the other stands by and writes nothing, even when a push webhook reaches
# it. kill -9 of the leader: the standby takes over within lease duration +
# retry period (17 s), then syncs what it was told of. SIGTERM of the leader:
# it releases the Lease and the standby takes over within 2 s. The leader cut
# off from the API (through a proxy the test cuts): it stops writing within
# the renew deadline (10 s), before the standby takes over (15 s), and stands
# by once it can reach the API again. kill -9 of the leader mid-rollout: the
# standby finishes the rollout, weights intact.
# Takeover times are measured from the signal to the new leader's
# "leader election: leading" log line.
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
  progressDeadlineSeconds: 60
  scaleDownDelaySeconds: 1
  trafficRouting: {replicas: {}}
  steps:
    - setWeight: 20
    - pause: {duration: 4s}
    - setWeight: 40
    - pause: {duration: 4s}
    - setWeight: 60
    - pause: {duration: 2s}
Y
rollout_first_commit
kubectl create namespace sluice-system >/dev/null # the Lease's default namespace out of a cluster

# a TCP proxy to the API server (tests/sandbox/relay.py): SIGUSR1 cuts every
# connection and refuses new ones, SIGUSR2 listens again on the same port
api_port=$(sed -n 's|^ *server: https://127.0.0.1:||p' "$KUBECONFIG")
python3 tests/sandbox/relay.py "$api_port" "$tmp/proxy.port" &
proxy=$!
until_ 10 'test -s "$tmp/proxy.port"'
sed "s|https://127.0.0.1:$api_port|https://127.0.0.1:$(cat "$tmp/proxy.port")|" "$KUBECONFIG" >"$tmp/proxied.kubeconfig"

declare -A rpid rport
cleanup_extra() {
	local p
	for p in "${rpid[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${rpid[@]}"; do wait "$p" 2>/dev/null; done
	kill "$proxy" 2>/dev/null
}
start_replica() { # start_replica ID [KUBECONFIG]: sluiced --leader-elect as ID, logging to $tmp/ctl-ID.log
	"$SLUICED" --cache-dir "$tmp/cache-$1" --kubeconfig "${2:-$KUBECONFIG}" --http-addr 127.0.0.1:0 \
		--webhook-secret-file <(printf s3cret) --leader-elect --leader-elect-id "$1" \
		2>>"$tmp/ctl-$1.log" &
	rpid[$1]=$!
	for _ in $(seq 1 100); do grep -q '"msg":"http: listening"' "$tmp/ctl-$1.log" && break; sleep 0.1; done
	rport[$1]=$(jq -r 'select(.msg == "http: listening") | .port' "$tmp/ctl-$1.log" | tail -n 1)
}
holder() { kubectl get lease sluiced -n sluice-system -o jsonpath='{.spec.holderIdentity}' 2>/dev/null; }
log_has() { grep -q "\"msg\":\"$2\"" "$tmp/ctl-$1.log"; }
# ms from $2 (ms since the epoch) to ID's first "leading" line (or $3) after it
took() {
	python3 - "$tmp/ctl-$1.log" "$2" "${3:-leader election: leading}" <<'P'
import datetime, json, sys
t0 = int(sys.argv[2])
for line in open(sys.argv[1]):
    d = json.loads(line)
    if d.get("msg") != sys.argv[3]:
        continue
    t = datetime.datetime.strptime(d["ts"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
    ms = round(t.timestamp() * 1000) - t0
    if ms >= 0:
        print(ms)
        break
P
}
readyz() { curl -s -w ' %{http_code}' "http://127.0.0.1:${rport[$1]}/readyz" | tr -d '\n'; }
leading_gauge() {
	curl -s "http://127.0.0.1:${rport[$1]}/metrics" |
		sed -n 's/^sluice_leader_election_leading{lease="sluice-system\/sluiced"} //p'
}
app_rev() { kubectl get application shop -n shop -o jsonpath='{.status.sync.revision}'; }
rvs() { kubectl get application/shop rollout/web -n shop -o jsonpath='{.items[*].metadata.resourceVersion}'; }

# ---- one leads, the other stands by and writes nothing ----
start_replica a
start_replica b
until_ 30 'test -n "$(holder)"'
lead=$(holder)
if [ "$lead" = a ]; then other=b; else other=a; fi
until_ 60 'phase_is Healthy && test "$(app_rev)" = "$(git -C "$bare" rev-parse main)"'
until_ 10 "log_has $other 'leader election: standing by'"
r_lead=$(readyz "$lead")
r_other=$(readyz "$other")
if [[ $lead =~ ^[ab]$ ]] && log_has "$lead" 'leader election: leading' && log_has "$lead" synced &&
	grep -q "\"msg\":\"leader election: standing by\".*\"holder\":\"$lead\"" "$tmp/ctl-$other.log" &&
	! log_has "$other" 'leader election: leading' &&
	[ "$r_lead" = "ok: leading (Lease sluice-system/sluiced) 200" ] &&
	[ "$r_other" = "ok: standing by (Lease sluice-system/sluiced held by $lead) 200" ] &&
	[ "$(leading_gauge "$lead")" = 1 ] && [ "$(leading_gauge "$other")" = 0 ]; then
	ok "two replicas: $lead holds the Lease and synced; $other stands by; both Ready (/readyz: '$r_other')"
else
	not_ok "two replicas: one leads, one stands by" "holder: $lead" "/readyz: '$r_lead' / '$r_other'" \
		"gauge: $(leading_gauge "$lead") / $(leading_gauge "$other")" "$(cat "$tmp/ctl-$other.log")"
fi

# a commit, and its push webhook sent to the standby only: the standby syncs
# nothing itself; it passes the push on as a sync request, and the leader syncs
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: told\ndata: {by: webhook}\n' >"$tmp/work/apps/told.yaml"
port=${rport[$other]}
t0=$(date +%s%3N)
push "told: a ConfigMap"
sha=$(git -C "$bare" rev-parse main)
until_ 20 'test "$(app_rev)" = '"$sha"
ms=$(($(date +%s%3N) - t0))
requested=$(kubectl get application shop -n shop -o jsonpath='{.metadata.annotations.sluice\.dev/sync-requested-at}')
if [ "$(app_rev)" = "$sha" ] && kubectl get configmap told -n shop >/dev/null 2>&1 && [ -n "$requested" ] &&
	log_has "$other" 'webhook: push received' && log_has "$other" 'standby: push passed on to the leader' &&
	! log_has "$other" synced && ! grep -q '"msg":"sync\|"rollout":"' "$tmp/ctl-$other.log"; then
	ok "a push sent to the standby reaches the leader as a sync request: synced in $ms ms; the standby synced nothing itself"
else
	not_ok "a push sent to the standby reaches the leader" "revision: $(app_rev), want $sha" "requested: $requested" \
		"$(grep -v '"leader election' "$tmp/ctl-$other.log" | tail -n 5)"
fi

# ---- kill -9 the leader: the standby takes over within 17 s ----
t0=$(date +%s%3N)
kill -9 "${rpid[$lead]}"
wait "${rpid[$lead]}" 2>/dev/null
unset "rpid[$lead]"
until_ 30 'test "$(holder)" = '"$other"
ms=$(took "$other" "$t0")
until_ 30 'test "$(app_rev)" = '"$sha"
if [ -n "$ms" ] && [ "$ms" -le 17000 ] && [ "$(holder)" = "$other" ] && [ "$(app_rev)" = "$sha" ] &&
	kubectl get configmap told -n shop >/dev/null 2>&1 && log_has "$other" synced; then
	ok "kill -9 of the leader: $other took over in $ms ms (at most 17000), holding the synced commit"
else
	not_ok "kill -9 of the leader: the standby takes over within 17 s" "took: ${ms:-never} ms" \
		"holder: $(holder)" "revision: $(app_rev) (want $sha)" "$(tail -n 5 "$tmp/ctl-$other.log")"
fi

# ---- SIGTERM the leader: it releases the Lease, the standby takes over within 2 s ----
lead=$other
start_replica c "$tmp/proxied.kubeconfig"
until_ 15 "log_has c 'leader election: standing by'"
t0=$(date +%s%3N)
kill -TERM "${rpid[$lead]}"
wait "${rpid[$lead]}"
rc=$?
unset "rpid[$lead]"
until_ 10 'test "$(holder)" = c'
ms=$(took c "$t0")
if [ -n "$ms" ] && [ "$ms" -le 2000 ] && [ $rc = 0 ] && log_has "$lead" 'leader election: released the Lease' &&
	[ "$(holder)" = c ]; then
	ok "SIGTERM of the leader: it released the Lease and exited 0; c took over in $ms ms (at most 2000)"
else
	not_ok "SIGTERM of the leader: the standby takes over within 2 s" "took: ${ms:-never} ms" "rc=$rc" \
		"holder: $(holder)" "$(tail -n 5 "$tmp/ctl-$lead.log")"
fi

# ---- the leader cut off from the API stops writing before the standby takes over ----
start_replica d
until_ 15 "log_has d 'leader election: standing by'"
t0=$(date +%s%3N)
kill -USR1 "$proxy"
until_ 30 'test "$(holder)" = d'
stop_ms=$(took c "$t0" 'leader election: stopped leading; no more writes')
ms=$(took d "$t0")
gauge_c=$(leading_gauge c)
r_c=$(readyz c)
kill -USR2 "$proxy"
until_ 15 "grep -q '\"msg\":\"leader election: standing by\".*\"holder\":\"d\"' \"\$tmp/ctl-c.log\""
if [ -n "$stop_ms" ] && [ -n "$ms" ] && [ "$stop_ms" -le 10500 ] && [ "$stop_ms" -lt "$ms" ] && [ "$ms" -le 17000 ] &&
	[ "$gauge_c" = 0 ] && [[ $r_c == "not ready: no answer about Lease sluice-system/sluiced for "*" 503" ]] &&
	grep -q '"msg":"leader election: standing by".*"holder":"d"' "$tmp/ctl-c.log"; then
	ok "the leader cut off from the API stopped writing $stop_ms ms after the cut (renew deadline 10 s), before d took over at $ms ms; reconnected, it stands by"
else
	not_ok "the leader cut off from the API stops writing before the standby takes over" \
		"stopped: ${stop_ms:-never} ms, d leading: ${ms:-never} ms" "gauge: $gauge_c" "/readyz: $r_c" \
		"$(grep '"leader election' "$tmp/ctl-c.log" | tail -n 4)"
fi

# ---- kill -9 the leader mid-rollout: the standby finishes it ----
(while :; do ro '.status.currentStep}/{.status.desiredWeight}/{.status.phase' 2>/dev/null; echo; sleep 0.1; done) >"$tmp/seen" &
poller=$!
recorders+=("$poller")
port=${rport[d]}
web web:2
push "web v2"
until_ 60 'test "$(ro .status.currentStep)" = 1' # weight 20, in the first pause
t0=$(date +%s%3N)
kill -9 "${rpid[d]}"
wait "${rpid[d]}" 2>/dev/null
unset "rpid[d]"
until_ 30 'test "$(holder)" = c'
ms=$(took c "$t0")
until_ 90 'phase_is Healthy && test "$(image web)" = web:2'
sleep 1 # the poller sees the last state too
kill "$poller"
weights=$(grep -v '^$' "$tmp/seen" | cut -d/ -f2 | grep -v '^$' | uniq | tr '\n' ' ')
if [ -n "$ms" ] && [ "$ms" -le 17000 ] && [[ $weights =~ ^(0 )?"20 40 60 0 "$ ]] && [ "$(image web)" = web:2 ] &&
	[ "$(ro '.status.history[0].result')" = Promoted ] && grep -q '"msg":"rollout started"' "$tmp/ctl-d.log" &&
	! grep -q '"msg":"rollout started"' "$tmp/ctl-c.log" && grep -q '"rollout":"web"' "$tmp/ctl-c.log"; then
	ok "kill -9 of the leader mid-rollout: c took over in $ms ms and finished it: weights $weights, promoted, not restarted"
else
	not_ok "kill -9 of the leader mid-rollout: the standby finishes the rollout" "took: ${ms:-never} ms" \
		"weights: $weights (want 0 20 40 60 0)" "image: $(image web)" "$(ro .status)" "$(tail -n 5 "$tmp/ctl-c.log")"
fi

# ---- single-app mode: the same election, on a Lease of its own ----
sbare="$tmp/single.git"
git init -q --bare "$sbare"
$G init -q "$tmp/single"
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: one\ndata: {v: "1"}\n' >"$tmp/single/one.yaml"
(cd "$tmp/single" && $G add -A && $G commit -q -m one && git push -q "$sbare" HEAD:main)
git -C "$sbare" symbolic-ref HEAD refs/heads/main
kubectl create namespace single >/dev/null
single() { # single ID: sluiced --repo as ID, logging to $tmp/ctl-ID.log
	"$SLUICED" --repo "$sbare" --namespace single --interval 2 --cache-dir "$tmp/cache-$1" \
		--kubeconfig "$KUBECONFIG" --leader-elect --leader-elect-lease-name sluiced-single \
		--leader-elect-id "$1" 2>>"$tmp/ctl-$1.log" &
	rpid[$1]=$!
}
single s1
until_ 30 'kubectl get lease sluiced-single -n sluice-system >/dev/null 2>&1 && log_has s1 synced'
single s2
until_ 15 "log_has s2 'leader election: standing by'"
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: one\ndata: {v: "2"}\n' >"$tmp/single/one.yaml"
(cd "$tmp/single" && $G add -A && $G commit -q -m two && git push -q "$sbare" HEAD:main)
until_ 15 'test "$(kubectl get configmap one -n single -o jsonpath={.data.v})" = 2'
standby_synced=$(grep -c '"msg":"synced"' "$tmp/ctl-s2.log")
t0=$(date +%s%3N)
kill -TERM "${rpid[s1]}"
wait "${rpid[s1]}"
rc=$?
unset "rpid[s1]"
until_ 10 "log_has s2 synced"
ms=$(took s2 "$t0")
if [ "$standby_synced" = 0 ] && [ "$(kubectl get configmap one -n single -o jsonpath={.data.v})" = 2 ] &&
	[ $rc = 0 ] && [ -n "$ms" ] && [ "$ms" -le 2000 ] && log_has s2 synced &&
	[ "$(kubectl get lease sluiced-single -n sluice-system -o jsonpath='{.spec.holderIdentity}')" = s2 ]; then
	ok "single-app mode: s1 leads and syncs each commit, s2 syncs nothing; SIGTERM of s1: s2 took over in $ms ms and synced"
else
	not_ok "single-app mode: one replica syncs; SIGTERM hands over" "standby syncs: $standby_synced" \
		"took: ${ms:-never} ms" "rc=$rc" "$(tail -n 5 "$tmp/ctl-s2.log")"
fi
