#!/usr/bin/env bash
# make bench: sluice's figures beside its peer's, measured in the same run.
#
# 1. Loading manifests: 1,000 objects (500 ConfigMaps, 500 Deployments in 100
#    files) read, checked and printed as JSON, by `sluice render` and by
#    kubectl reading the same folder locally (`kubectl label --local -R -o json`,
#    the closest thing kubectl has to a render). Wall time (median of 5) and
#    peak RSS.
set -euo pipefail
cd "$(dirname "$0")/.."
sluice=$PWD/bin/sluice
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export KUBECONFIG="$tmp/kubeconfig"
: >"$KUBECONFIG"
runs=5

mkdir -p "$tmp/repo"
for f in $(seq 1 100); do
	{
		for i in $(seq 1 5); do
			n=$(((f - 1) * 5 + i))
			cat <<YAML
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings-$n
  namespace: bench
  labels: {app: app-$n, tier: backend}
data:
  LOG_LEVEL: info
  TIMEOUT: "30s"
  config.yaml: |
    server:
      port: 8080
      workers: 4
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-$n
  namespace: bench
  labels: &labels {app: app-$n, tier: backend}
spec:
  replicas: 3
  selector:
    matchLabels: *labels
  template:
    metadata:
      labels: *labels
    spec:
      containers:
      - name: app
        image: registry.example/app:1.$n.0
        ports: [{containerPort: 8080, name: http}]
        env:
        - {name: MODE, value: "on"}
        resources:
          requests: {cpu: 100m, memory: 64Mi}
          limits: {memory: 128Mi}
YAML
		done
	} >"$tmp/repo/file-$f.yaml"
done

# measure NAME CMD...: prints "median_ms peak_kib" over $runs runs
measure() {
	local times=() rss=0 t k
	for _ in $(seq 1 $runs); do
		/usr/bin/time -f '%e %M' -o "$tmp/t" "$@" >"$tmp/out" 2>"$tmp/err" || {
			echo "bench: $* failed: $(head -3 "$tmp/err")" >&2
			return 1
		}
		read -r t k < <(tail -n 1 "$tmp/t")
		times+=("$(awk -v s="$t" 'BEGIN { printf "%d", s * 1000 }')")
		[ "$k" -gt "$rss" ] && rss=$k
	done
	printf '%s %s\n' "$(printf '%s\n' "${times[@]}" | sort -n | sed -n "$(((runs + 1) / 2))p")" "$rss"
}

echo "bench: loading 1,000 objects from 100 files (median of $runs runs)"
read -r s_ms s_kib < <(measure "$sluice" render "$tmp/repo" -o json)
objs=$("$sluice" render "$tmp/repo" -o json | grep -c '"kind": "Deployment"\|"kind": "ConfigMap"' || true)
printf '  %-28s %8s ms %10s KiB peak RSS   (%s objects)\n' "sluice render -o json" "$s_ms" "$s_kib" "$objs"
if command -v kubectl >/dev/null; then
	read -r k_ms k_kib < <(measure kubectl label --local -R -f "$tmp/repo" x- -o json)
	printf '  %-28s %8s ms %10s KiB peak RSS\n' "kubectl label --local -o json" "$k_ms" "$k_kib"
	awk -v a="$s_ms" -v b="$k_ms" -v c="$s_kib" -v d="$k_kib" 'BEGIN {
		printf "  sluice: %.1fx the speed of kubectl, %.1f%% of its memory\n",
		       (a > 0 ? b / a : b), 100 * c / d }'
else
	echo "  kubectl: not installed, no peer figure"
fi
