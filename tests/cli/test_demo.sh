#!/usr/bin/env bash
# make demo, as a newcomer runs it: scripts/demo.sh brings up the sandbox,
# Prometheus, nginx and the load, syncs examples/shop, promotes a healthy v2
# through 10/25/50/100%, rolls back v3 (30% errors) by the analysis, rejects a
# broken commit, prints the summary, and leaves nothing running. (The figures
# at nginx are asserted by tests/e2e/.)
. "$(dirname "$0")/lib.sh"
require kubectl /usr/sbin/nginx /usr/bin/prometheus
out=$(mktemp)
trap 'rm -f "$out"' EXIT
t0=$(date +%s)
scripts/demo.sh >"$out" 2>&1
rc=$?
secs=$(($(date +%s) - t0))
dir=$(sed -n 's|^ *sandbox: up in \(/tmp/sluice-demo\.[A-Za-z0-9]*\)/sandbox .*|\1|p' "$out")
if [ "$rc" = 0 ] && [ "$secs" -lt 600 ] &&
	grep -q '^   v2 (healthy): *Promoted in [0-9]* s' "$out" &&
	grep -q '^   v3 (30% errors): *RolledBack in [0-9]* s' "$out" &&
	grep -q 'RolledBack in [0-9]* s.*: analysis: error-rate 0\.[0-9]* > max 0\.05' "$out" &&
	grep -q '^   Failed at [0-9a-f]*: apps/service.yaml:10:1: ' "$out" &&
	grep -q '^   v2: 10% ' "$out" && grep -q 'Change failure rate: *50% (1 of 2 rolled back' "$out" &&
	! grep -q ' [1-9][0-9]* inconclusive' "$out"; then
	ok "make demo: v2 promoted (no analysis run before the canary had traffic), v3 rolled back by the analysis, the broken commit rejected, in ${secs} s"
else
	not_ok "make demo runs through" "exit $rc after ${secs} s" "$(tail -n 40 "$out")"
fi
left=$(pgrep -af -- "${dir:-/nonexistent}" | grep -v pgrep)
if [ -n "$dir" ] && [ ! -e "$dir" ] && [ -z "$left" ]; then
	ok "make demo leaves nothing running and removes $dir"
else
	not_ok "make demo leaves nothing running" "dir=$dir" "$left"
fi
