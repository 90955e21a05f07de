#!/usr/bin/env bash
# The rollout CLI against real sandbox states, produced by sluiced itself
# (replicas router, analysis against a real Prometheus): sluice get rollouts,
# status (healthy, paused mid-canary at a manual gate, rolled back by a failing
# analysis), status --watch on a terminal (tmux, reading the screen) and off
# one, --wait's exit codes, history, stats, completion of names from the
# cluster (kubectl sluice <TAB>), and the one-line errors (unknown rollout, bad
# kubeconfig, unreachable server, Forbidden).
# Golden text masks what moves: ages ("T ago"), run counts, commits (by value).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/rollout_lib.sh"
if ! [ -x /usr/bin/prometheus ]; then
	skip "sluice status against the sandbox" "prometheus not installed"
	exit 0
fi
have_tmux=no
command -v tmux >/dev/null && have_tmux=yes
rollout_setup "$0"
exp=
tsock="sluice-test-$$"
cleanup_extra() {
	tmux -L "$tsock" kill-server 2>/dev/null
	analysis_cleanup
}
analysis_setup 'sum(rate(http_requests_total{version="web-canary"}[5s]))'
cat >"$tmp/work/apps/rollout.yaml" <<'Y'
apiVersion: sluice.dev/v1alpha1
kind: Rollout
metadata:
  name: web
spec:
  targetRef: {name: web}
  service: web
  progressDeadlineSeconds: 30
  scaleDownDelaySeconds: 1
  steps:
    - setWeight: 25
    - pause: {duration: 2s}
    - setWeight: 50
    - pause: {}
  analysis:
    interval: 2s
    consecutiveErrorLimit: 1
    metrics:
      - name: error-rate
        query: >-
          sum(rate(http_requests_total{version="{{canary}}",code=~"5.."}[5s]))
          / sum(rate(http_requests_total{version="{{canary}}"}[5s]))
        max: 0.05
        unit: ratio
Y
rollout_first_commit
start 1
until_ 30 phase_is Healthy

# sanitizer reports of the CLI go to files, checked at the end
cli_env=(env "ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}log_path=$tmp/asan-cli")
S() { "${cli_env[@]}" "$SLUICE" "$@"; }
mask() { sed -E 's/[0-9]+(y|d|h|m|s)([0-9]+(d|h|m|s))? ago/T ago/g; s/[0-9]+ runs:/N runs:/'; }
short() { git -C "$bare" rev-parse --short=7 "${1:-main}"; }
same() { # same NAME WANT GOT: ok when equal, else both shown
	if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1" "want:" "$(printf '%s\n' "$2" | sed 's/^/  /')" "got:" "$(printf '%s\n' "$3" | sed 's/^/  /')"; fi
}
c1=$(short)

# ---- healthy: the first sync
until_ 20 'S status web -n shop | grep -q "pods 4/4 ready"'
same "status of a healthy Rollout: stable commit with its subject (from the Application), pods, message" \
	"Rollout:   shop/web
Phase:     Healthy
Stable:    $c1  pods 4/4 ready  web v1
Message:   stable runs $(git -C "$bare" rev-parse main | cut -c1-12) (T ago)" "$(S status web -n shop | mask)"
out=$(S get rollouts -n shop)
same "get rollouts: one row under kubectl-like columns" \
	"NAME PHASE STEP WEIGHT STABLE CANARY AGE|web Healthy - 0% $c1 - T" \
	"$(printf '%s\n' "$out" | sed -E 's/ +/ /g; s/ $//; 2s/ [0-9]+[smhd][0-9]*[smhd]?$/ T/' | paste -sd'|')"
if S get rollouts -A -o json | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["kind"] == "List" and d["apiVersion"] == "v1"
assert [(i["metadata"]["namespace"], i["metadata"]["name"], i["status"]["phase"]) for i in d["items"]] == [("shop", "web", "Healthy")]
' && S get rollouts -n shop -o wide | grep -q "  web  stable runs "; then
	ok "get rollouts -A -o json is a v1 List of the Rollouts; -o wide adds target and message"
else
	not_ok "get rollouts -A -o json / -o wide" "$(S get rollouts -A -o json | head -20)" "$(S get rollouts -n shop -o wide)"
fi

# ---- completion from the cluster: as kubectl runs it (kubectl_complete-sluice on PATH), and sluice __complete
mkdir -p "$tmp/kbin"
ln -sf "$SLUICE" "$tmp/kbin/kubectl-sluice"
ln -sf "$SLUICE" "$tmp/kbin/kubectl_complete-sluice"
if command -v kubectl >/dev/null; then
	got=$("${cli_env[@]}" PATH="$tmp/kbin:$PATH" kubectl __complete sluice status -n shop "" 2>/dev/null | paste -sd' ')
	same "kubectl sluice status -n shop <TAB>: the Rollouts' names, read from the cluster" "web :4" "$got"
else
	skip "kubectl sluice status -n shop <TAB>" "kubectl not installed"
fi
same "sluice __complete: namespaces after -n, Applications for sync, Rollouts for promote" \
	"shop :4|shop :4|web :4" \
	"$(S __complete status -n sh | paste -sd' ')|$(S __complete sync --namespace=shop "" | paste -sd' ')|$(S __complete promote -n shop w | paste -sd' ')"

# ---- paused mid-canary at the manual gate, analysis passing
web web:2
push "web v2"
until_ 60 phase_is Paused
c2=$(short)
until_ 20 'S status web -n shop | grep -q "Canary:    $c2  pods 4/4 ready"'
until_ 20 'S status web -n shop | grep -q "error-rate.*Passed"'
same "status mid-canary, paused at the gate: step 4 of 4, the steps, weight bars, both sides, the measurement against its threshold" \
	"Rollout:   shop/web
Phase:     Paused
Step:      4 of 4
Steps:     25% > pause 2s > 50% > [pause]
Weight:    desired   50%  [##########..........]
           actual    50%  [##########..........]
Stable:    $c1  pods 4/4 ready
Canary:    $c2  pods 4/4 ready  web v2
Analysis:  N runs: 0 failed, 0 inconclusive, 0 errors in a row; last Passed T ago
           error-rate       0          max 0.05           Passed  T ago
Message:   step 4 of 4: waiting for promote (T ago)
Started:   T ago; this step T ago" "$(S status web -n shop | mask)"
if S status web -n shop -o json | python3 -c '
import json, sys
v = json.load(sys.stdin)
assert v["phase"] == "Paused" and v["step"] == {"index": 3, "count": 4}, v["step"]
assert v["weight"] == {"desired": 50, "actual": 50}
assert v["canary"]["commit"] == sys.argv[1] and v["canary"]["subject"] == "web v2"
assert v["canary"]["pods"]["ready"] == 4 and v["stable"]["pods"]["desired"] == 4
m = v["analysis"]["measurements"][0]
assert m["metric"] == "error-rate" and m["max"] == 0.05 and m["verdict"] == "Passed" and m["value"] == 0
assert v["steps"][1] == {"pause": {"duration": "2s"}} and v["steps"][3] == {"pause": {}}
' "$(git -C "$bare" rev-parse main)"; then
	ok "status -o json holds the same facts under the documented keys"
else
	not_ok "status -o json" "$(S status web -n shop -o json)"
fi
t0=$(date +%s)
S status web -n shop --wait --timeout 3s >"$tmp/wait.out" 2>"$tmp/wait.err"
rc=$?
if [ $rc = 2 ] && [ "$(cat "$tmp/wait.err")" = "sluice status: shop/web still Paused after 3s" ] &&
	grep -q '^Phase:     Paused$' "$tmp/wait.out" && [ $(($(date +%s) - t0)) -le 8 ]; then
	ok "status --wait --timeout 3s at a gate: exit 2 with one line, the status as it stands"
else
	not_ok "status --wait --timeout at a gate" "rc $rc" "$(cat "$tmp/wait.err")"
fi
# off a terminal, --watch prints a block when something in it changed (here
# each analysis run, every 2 s), never two alike but for their ages
out=$(timeout 20 "${cli_env[@]}" "$SLUICE" status web -n shop --watch --timeout 5s 2>&1)
rc=$?
blocks=$(printf '%s\n' "$out" | grep -c '^Rollout:')
alike=$(printf '%s\n' "$out" | sed -E 's/[0-9]+[smhdy]([0-9]+[smhd])? ago/T ago/g' | awk -v RS= 'prev == $0 { n++ } { prev = $0 } END { print n + 0 }')
if [ $rc = 0 ] && [ "$blocks" -ge 2 ] && [ "$alike" = 0 ] && ! printf '%s' "$out" | grep -q $'\033'; then
	ok "status --watch off a terminal: a new block at each change ($blocks in 5 s while analysis runs), no colour"
else
	not_ok "status --watch off a terminal: a new block at each change" "rc $rc, $blocks blocks, $alike alike" "$out"
fi

# ---- --watch on a terminal: redrawn in place through the promotion; --wait exits 0
screen() { tmux -L "$tsock" capture-pane -p -t "$1"; }
if [ $have_tmux = yes ]; then
	tmux -L "$tsock" new-session -d -s t -x 120 -y 40 "env KUBECONFIG='$KUBECONFIG' '$SLUICE' status web -n shop --watch; sleep 60"
	tmux -L "$tsock" new-window -d -t t:1 "env KUBECONFIG='$KUBECONFIG' NO_COLOR=1 '$SLUICE' status web -n shop; sleep 60"
	until_ 20 'screen t:0 | grep -q "Paused"'
	until_ 20 'screen t:1 | grep -q "Paused"'
	first=$(screen t:0)
	colour=$(tmux -L "$tsock" capture-pane -e -p -t t:0)
	nocolour=$(tmux -L "$tsock" capture-pane -e -p -t t:1)
fi
S status web -n shop --wait --timeout 90s >"$tmp/wait.out" 2>&1 &
waiter=$!
S promote web -n shop >/dev/null
wait $waiter
rc=$?
if [ $have_tmux = yes ]; then
	until_ 20 'screen t:0 | grep -q "Healthy"'
	last=$(screen t:0)
	if [[ "$first" == *"████████"* ]] && [[ "$first" == *"‖ Paused"* ]] && [[ "$first" == *"▶pause"* ]] &&
		[[ "$last" == *"✔ Healthy"* ]] && [ "$(printf '%s\n' "$last" | grep -c 'Rollout:')" = 1 ] &&
		! grep -q 'Paused' <<<"$last" && [[ "$last" == *"Stable:    $c2  pods 4/4 ready"* ]]; then
		ok "status --watch on a terminal redraws in place: bars and marks while paused, then one block saying Healthy"
	else
		not_ok "status --watch on a terminal redraws in place" "first:" "$first" "last:" "$last"
	fi
	if [[ "$colour" == *$'\033['*m* ]] && [[ "$nocolour" != *$'\033['*m* ]] && [[ "$nocolour" == *"Phase:"* ]]; then
		ok "colour on a terminal; none with NO_COLOR"
	else
		not_ok "colour on a terminal; none with NO_COLOR" "$(printf '%q' "$colour" | head -c 300)" "$(printf '%q' "$nocolour" | head -c 300)"
	fi
else
	skip "status --watch on a terminal redraws in place" "tmux not installed"
	skip "colour on a terminal; none with NO_COLOR" "tmux not installed"
fi
if [ $rc = 0 ] && grep -q '^Phase:     Healthy$' "$tmp/wait.out"; then
	ok "status --wait started at the gate exits 0 once the promotion ends Healthy"
else
	not_ok "status --wait exits 0 when promoted" "rc $rc" "$(cat "$tmp/wait.out")"
fi
tmux -L "$tsock" kill-server 2>/dev/null

# ---- rolled back by a failing analysis: --wait exits 1; status says why
control '{"version":"web-canary","rps":50,"error_rate":0.3,"latency_ms":20}'
web web:3
push "web v3 (fails 30% of requests)"
until_ 30 'phase_is Progressing || phase_is RolledBack'
c3=$(short)
S status web -n shop --wait --timeout 90s >"$tmp/wait.out" 2>&1
rc=$?
# the canary's last pod goes a moment after the rollback; sluiced looks again
# until its status says weight 0 (without it, "actual 20%" stayed until a resync)
until_ 15 '[ "$(kubectl get rollout web -n shop -o jsonpath={.status.actualWeight})" = 0 ]'
got=$(S status web -n shop | mask | sed -E 's/^( +error-rate) +0\.[0-9]+ +max 0.05 +/\1 V max 0.05 /; s/error-rate 0\.[0-9]+ > max/error-rate V > max/g; s/\(1 of [0-9]+ runs failed\)/(1 of N runs failed)/')
want="Rollout:   shop/web
Phase:     RolledBack
Stable:    $c2  pods 4/4 ready  web v2
Canary:    $c3  pods 0/0 ready  web v3 (fails 30% of requests)
Failed:    $c3 analysis: error-rate V > max 0.05 (1 of N runs failed) (not applied again while Git names it)
Analysis:  N runs: 1 failed, 0 inconclusive, 0 errors in a row; last Failed T ago
           error-rate V max 0.05 Failed  T ago
             error-rate V > max 0.05
Message:   RolledBack: analysis: error-rate V > max 0.05 (1 of N runs failed) (T ago)"
if [ $rc = 1 ] && grep -q '^Phase:     RolledBack$' "$tmp/wait.out"; then
	ok "status --wait exits 1 when the analysis rolls the canary back"
else
	not_ok "status --wait exits 1 when rolled back" "rc $rc" "$(cat "$tmp/wait.out")"
fi
same "status after an analysis rollback: the failed commit and why, the failing measurement against max, the message's age" "$want" "$got"
out=$(timeout 20 "${cli_env[@]}" "$SLUICE" status web -n shop --watch --timeout 4s 2>&1)
if [ "$(printf '%s\n' "$out" | grep -c '^Rollout:')" = 1 ]; then
	ok "status --watch off a terminal prints nothing more while nothing changes (one block in 4 s)"
else
	not_ok "status --watch off a terminal prints nothing more while nothing changes" "$out"
fi

# ---- recovery: v4 promoted; history and stats
control '{"version":"web-canary","rps":50,"error_rate":0.0,"latency_ms":20}'
error_rate() { # the canary's error rate as Prometheus sees it now
	curl -sf "$prom_url/api/v1/query" --data-urlencode 'query=sum(rate(http_requests_total{version="web-canary",code=~"5.."}[5s])) / sum(rate(http_requests_total{version="web-canary"}[5s]))' |
		python3 -c 'import json, sys; r = json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "none")'
}
until_ 30 'python3 -c "import sys; sys.exit(not float(sys.argv[1]) < 0.01)" "$(error_rate)" 2>/dev/null'
web web:4
push "web v4"
until_ 60 phase_is Paused
c4=$(short)
S promote web -n shop --full >/dev/null
S status web -n shop --wait --timeout 90s >/dev/null 2>&1
rc=$?
got=$(S history web -n shop | sed -E 's/ +/ /g; s/ [0-9]+[smhd]([0-9]+[smhd])? ([0-9]+[smhd]([0-9]+[smhd])? ago)/ D \2/; s/[0-9]+[smhd]([0-9]+[smhd])? ago/T ago/; s/error-rate 0\.[0-9]+/error-rate V/; s/\(1 of [0-9]+ runs/(1 of N runs/')
same "history: newest first, commit, its subject (cut to 22 characters), result, duration, when it ended, reason (--wait exit $rc)" \
	"COMMIT SUBJECT RESULT DURATION ENDED REASON
$c4 web v4 Promoted D T ago all steps passed
$c3 web v3 (fails 30% o... RolledBack D T ago analysis: error-rate V > max 0.05 (1 of N runs failed)
$c2 web v2 Promoted D T ago all steps passed" "$got"
kubectl get rollout web -n shop -o json >"$tmp/ro.json"
S stats -n shop -o json >"$tmp/stats.json"
S stats -n shop >"$tmp/stats.txt"
if python3 - "$tmp/ro.json" "$tmp/stats.json" <<'PY'; then
import json, sys, datetime
ro, st = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
def t(s): return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()
h = ro["status"]["history"]
assert [e["result"] for e in h] == ["Promoted", "RolledBack", "Promoted"], h
assert st["deployments"]["promoted"] == 2 and st["changeFailure"]["failed"] == 1
assert abs(st["changeFailure"]["rate"] - 1 / 3) < 1e-9
# recovery: from the end of the rollback to the end of the next promotion
assert st["recovery"] == {"recovered": 1, "open": 0, "meanSeconds": int((t(h[0]["end"]) - t(h[1]["end"])))}, st["recovery"]
# lead time: from each promoted commit's committer time to its promotion's end
leads = sorted(t(e["end"]) - datetime.datetime.strptime(e["commitTime"], "%Y-%m-%dT%H:%M:%S.%fZ" if "." in e["commitTime"] else "%Y-%m-%dT%H:%M:%SZ").timestamp() for e in h if e["result"] == "Promoted")
assert st["leadTime"]["samples"] == 2, st["leadTime"]
assert abs(st["leadTime"]["medianSeconds"] - sum(leads) / 2) <= 1, (st["leadTime"], leads)
durs = sorted(t(e["end"]) - t(e["start"]) for e in h if e["result"] == "Promoted")
assert st["rolloutDuration"]["medianSeconds"] == int(sum(durs) / 2), (st, durs)
assert abs(st["deployments"]["perDay"] - 2 / 30) < 1e-9
PY
	ok "stats -o json: 2 promoted, change failure 1/3, recovery = rollback end to next promotion end, lead time = commit time to promotion"
else
	not_ok "stats -o json" "$(cat "$tmp/stats.json")" "$(cat "$tmp/ro.json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"]["history"])')"
fi
if grep -q '^  Change failure rate:   33% (1 of 3 rolled back or aborted)$' "$tmp/stats.txt" &&
	grep -q '^  Deployment frequency:  2 promoted (0.07 a day)$' "$tmp/stats.txt" &&
	grep -Eq '^  Lead time:             [0-9][0-9hms]* \(median of 2\)$' "$tmp/stats.txt" &&
	grep -Eq '^  Time to recovery:      [0-9]+s \(mean of 1 recovery\)$' "$tmp/stats.txt"; then
	ok "stats prints the four figures for people"
else
	not_ok "stats prints the four figures" "$(cat "$tmp/stats.txt")"
fi

# ---- errors: one line, exit 2
err_is() { # err_is NAME PATTERN CMD...: exit 2, nothing on stdout, one line matching PATTERN
	local name=$1 pat=$2 o e rc
	shift 2
	o=$("$@" 2>"$tmp/err")
	rc=$?
	e=$(cat "$tmp/err")
	if [ $rc = 2 ] && [ -z "$o" ] && [ "$(printf '%s\n' "$e" | wc -l)" = 1 ] && [[ "$e" =~ $pat ]]; then
		ok "$name ($e)"
	else
		not_ok "$name" "rc $rc" "stdout: $o" "stderr: $e"
	fi
}
err_is "status of an unknown rollout" '^sluice status: rollouts.sluice.dev "nope" not found$' S status nope -n shop
err_is "history of an unknown rollout" '^sluice history: rollouts.sluice.dev "nope" not found$' S history nope -n shop
printf 'apiVersion: v1\nkind: Config\nclusters: [\n' >"$tmp/bad.kubeconfig"
err_is "a kubeconfig that does not parse" "^sluice status: $tmp/bad.kubeconfig" S status web -n shop --kubeconfig "$tmp/bad.kubeconfig"
err_is "a kubeconfig that does not exist" '^sluice get: /nonexistent/kubeconfig: ' S get rollouts --kubeconfig /nonexistent/kubeconfig
free=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
sed -E "s#(server: https://127.0.0.1:)[0-9]+#\1$free#" "$KUBECONFIG" >"$tmp/down.kubeconfig"
t0=$(date +%s)
err_is "an unreachable API server" 'cannot reach the API server' S status web -n shop --kubeconfig "$tmp/down.kubeconfig"
secs=$(($(date +%s) - t0))
if [ $secs -le 10 ]; then ok "an unreachable server fails within ${secs} s (a few quick retries)"; else not_ok "an unreachable server fails quickly" "${secs} s"; fi
err_is "status without RBAC rights: Forbidden" '^sluice status: .*forbidden' S status web -n shop --kubeconfig "$sbx/controller.kubeconfig"
err_is "get rollouts without RBAC rights: Forbidden" '^sluice get rollouts: .*forbidden' S get rollouts -A --kubeconfig "$sbx/controller.kubeconfig"
err_is "stats without RBAC rights: Forbidden" '^sluice stats: .*forbidden' S stats -n shop --kubeconfig "$sbx/controller.kubeconfig"
err_is "--timeout that is not a duration" "^sluice status: --timeout 'soon': " S status web --wait --timeout soon
if ls "$tmp"/asan-cli* >/dev/null 2>&1; then
	not_ok "no sanitizer report from any sluice command" "$(cat "$tmp"/asan-cli* | head -40)"
else
	ok "no sanitizer report from any sluice command"
fi
kill -TERM $pid
wait $pid 2>/dev/null
pid=
