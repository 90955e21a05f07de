#!/usr/bin/env bash
# Canary analysis end to end: a real Prometheus (Debian's, on loopback)
# scraping an exporter whose error rate per version the test sets. A healthy
# canary is promoted after passing runs; a canary failing 30% of requests is
# rolled back by the analysis, naming the metric, its value and the
# threshold, and the controller's /metrics shows the measurement as status
# has it; Prometheus down holds the rollout (never promoted); the judge
# promotes an innocent canary during a global incident and rolls back one
# clearly worse than stable, exporting both sides' medians.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/rollout_lib.sh"
if ! [ -x /usr/bin/prometheus ]; then
	skip "canary analysis end to end" "prometheus not installed"
	exit 0
fi
rollout_setup "$0"
exp=
cleanup_extra() {
	analysis_cleanup
}
# ready once Prometheus has scraped enough for a rate over [5s]
analysis_setup 'sum(rate(http_requests_total[5s]))'
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
    - pause: {duration: 4s}
    - setWeight: 50
    - pause: {duration: 4s}
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

# healthy: promoted after passing runs
web web:2
push "web v2"
until_ 90 'test "$(ro ".status.history[0].result")" = Promoted'
runs=$(ro .status.analysis.runs)
if [ "$(image web)" = web:2 ] && [ "$(ro '.status.history[0].result')" = Promoted ] && [ "${runs:-0}" -ge 2 ] &&
	[ "$(ro '.status.analysis.measurements[0].metric')" = error-rate ] &&
	[ "$(ro '.status.analysis.measurements[0].verdict')" = Passed ] &&
	[[ "$(ro '.status.analysis.measurements[0].query')" == *'version="web-canary"'* ]]; then
	ok "a healthy canary is promoted after $runs passing analysis runs, each measurement kept with the query as sent"
else
	not_ok "a healthy canary is promoted after passing analysis runs" "$(ro .status)"
fi

# 30% errors: rolled back by the analysis, naming metric, value and threshold
control '{"version":"web-canary","rps":50,"error_rate":0.3,"latency_ms":20}'
web web:3
push "web v3 (fails 30% of requests)"
t0=$(date +%s%N)
until_ 60 phase_is RolledBack
ms=$((($(date +%s%N) - t0) / 1000000))
msg=$(ro .status.message)
if phase_is RolledBack && [ "$(image web)" = web:2 ] &&
	[[ "$msg" =~ analysis:\ error-rate\ 0\.[0-9]+\ \>\ max\ 0\.05\ \(1\ of\ [0-9]+\ runs\ failed\) ]] &&
	[ "$(canary_replicas)" = 0 ]; then
	ok "a canary failing 30% of requests is rolled back by the analysis in ${ms} ms ($msg)"
else
	not_ok "a canary failing 30% of requests is rolled back by the analysis" "$msg" "$(ro .status)"
fi

# the controller exports each measurement: /metrics holds the failing value as status has it
curl -sf "http://127.0.0.1:$port/metrics" >"$tmp/metrics.txt"
sample() { # sample NAME LABELS: the value of that series in the scrape
	awk -v k="$1{$2}" 'index($0, k " ") == 1 { print substr($0, length(k) + 2) }' "$tmp/metrics.txt"
}
l='namespace="shop",rollout="web",metric="error-rate"'
got=$(sample sluice_analysis_metric_value "$l,side=\"canary\"")
want=$(ro '.status.analysis.measurements[0].value')
failed=$(sample sluice_analysis_measurements_total "$l,verdict=\"Failed\"")
passed=$(sample sluice_analysis_runs_total 'namespace="shop",rollout="web",verdict="Passed"')
if [ -n "$got" ] && [ -n "$want" ] &&
	python3 -c 'import sys; g, w = float(sys.argv[1]), float(sys.argv[2]); sys.exit(not (abs(g - w) < 1e-9 and 0.05 < g < 0.4))' "$got" "$want" &&
	[ "$(sample sluice_analysis_metric_threshold "$l,bound=\"max\"")" = 0.05 ] &&
	[ "${failed:-0}" -ge 1 ] && [ "${passed:-0}" -ge 2 ] &&
	{ ! command -v promtool >/dev/null || promtool check metrics <"$tmp/metrics.txt" >/dev/null 2>&1; }; then
	ok "/metrics shows the failing measurement ($got, as in status), its threshold, $failed failed measurement(s) and $passed passed runs"
else
	not_ok "/metrics shows the analysis measurements" "value $got, status $want, failed $failed, passed $passed" "$(grep sluice_analysis "$tmp/metrics.txt")"
fi
r='namespace="shop",rollout="web"'
promoted=$(sample sluice_rollouts_total "$r,result=\"Promoted\"")
rolled=$(sample sluice_rollouts_total "$r,result=\"RolledBack\"")
leads=$(sample sluice_rollout_lead_time_seconds_count "$r")
if [ "$(sample sluice_rollout_phase "$r,phase=\"RolledBack\"")" = 1 ] &&
	[ "$(sample sluice_rollout_phase "$r,phase=\"Healthy\"")" = 0 ] &&
	[ "$(sample sluice_rollout_weight "$r,kind=\"actual\"")" = 0 ] &&
	[ "${promoted:-0}" -ge 1 ] && [ "${rolled:-0}" -ge 1 ] && [ "${leads:-0}" -ge 1 ]; then
	ok "/metrics shows the rollout: phase RolledBack, weight 0, rollouts by result ($promoted promoted, $rolled rolled back), lead time observed"
else
	not_ok "/metrics shows the rollout's phase and results" "promoted=$promoted rolled=$rolled leads=$leads" "$(grep sluice_rollout "$tmp/metrics.txt")"
fi

# Prometheus down: the rollout holds, never promoted
control '{"version":"web-canary","rps":50,"error_rate":0.0,"latency_ms":20}'
tests/sandbox/prometheus down "$tmp/prom" >/dev/null
web web:4
push "web v4 (Prometheus down)"
until_ 60 'test -n "$(ro .status.analysisHold)"'
sleep 10 # longer than the steps take
if phase_is Paused && [ "$(image web)" = web:2 ] &&
	[[ "$(ro .status.analysisHold)" == *"Prometheus failed"* ]]; then
	ok "Prometheus down: the rollout holds for a person and is never promoted ($(ro .status.message))"
else
	not_ok "Prometheus down: the rollout holds" "$(ro .status)"
fi

# the comparative judge: canary against stable over the same window
# Prometheus comes back on a new port: sluiced is told so
SLUICE_PROMETHEUS_URL=$(tests/sandbox/prometheus up "$tmp/prom" "127.0.0.1:$eport" | tail -n 1)
export SLUICE_PROMETHEUS_URL
kill -TERM $pid; wait $pid 2>/dev/null
start 2
kubectl annotate rollout web -n shop --overwrite "sluice.dev/action=abort $(date +%s%N)" >/dev/null
until_ 30 phase_is Aborted
python3 - "$tmp/work/apps/rollout.yaml" <<'PY'
import sys
p = sys.argv[1]
s = open(p).read()
i = s.index("  analysis:")
s = s[:i] + """  analysis:
    interval: 2s
    metrics:
      - name: error-rate
        query: >-
          sum(rate(http_requests_total{version="{{canary}}",code=~"5.."}[5s]))
          / sum(rate(http_requests_total{version="{{canary}}"}[5s]))
        judge:
          baseline: >-
            sum(rate(http_requests_total{version="{{stable}}",code=~"5.."}[5s]))
            / sum(rate(http_requests_total{version="{{stable}}"}[5s]))
          lookback: 20s
"""
open(p, "w").write(s)
PY
# a global incident: stable fails as much as the canary; no fixed threshold here,
# and the judge must not blame the canary
control '{"version":"web","rps":100,"error_rate":0.2,"latency_ms":20}'
control '{"version":"web-canary","rps":50,"error_rate":0.2,"latency_ms":20}'
sleep 6
web web:5
push "web v5 (during a global incident)"
until_ 90 'test "$(ro ".status.history[0].result")" = Promoted'
if [ "$(image web)" = web:5 ] && [ "$(ro '.status.history[0].result')" = Promoted ] &&
	[[ "$(ro '.status.analysis.measurements[0].baseline')" == *'version="web"'* ]]; then
	ok "during a global incident (stable and canary both failing 20%) the judge promotes the innocent canary"
else
	not_ok "during a global incident the judge promotes the innocent canary" "$(ro .status)"
fi
# a canary clearly worse than stable is caught
control '{"version":"web","rps":100,"error_rate":0.01,"latency_ms":20}'
sleep 6
web web:6
push "web v6 (worse than stable)"
until_ 60 phase_is RolledBack
if phase_is RolledBack && [ "$(image web)" = web:5 ] &&
	[[ "$(ro .status.message)" == *"the canary is higher than stable beyond the noise"* ]]; then
	ok "a canary failing 20% against a stable failing 1% is rolled back by the judge ($(ro .status.message))"
else
	not_ok "a canary worse than stable is rolled back by the judge" "$(ro .status)"
fi
# a judged metric exports the median of each side's samples
curl -sf "http://127.0.0.1:$port/metrics" >"$tmp/metrics.txt"
jc=$(sample sluice_analysis_metric_value "$l,side=\"canary\"")
js=$(sample sluice_analysis_metric_value "$l,side=\"stable\"")
if [ -n "$jc" ] && [ -n "$js" ] && python3 -c 'import sys; c, s = map(float, sys.argv[1:3]); sys.exit(not (0 <= s < c))' "$jc" "$js"; then
	ok "/metrics shows the judged metric on both sides: canary median $jc above stable median $js"
else
	not_ok "/metrics shows the judged metric on both sides" "canary '$jc', stable '$js'" "$(grep sluice_analysis_metric_value "$tmp/metrics.txt")"
fi
kill -TERM $pid; wait $pid 2>/dev/null; pid=
