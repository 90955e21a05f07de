#!/usr/bin/env bash
# Canary rollouts end to end through NGINX Ingress: a `web-canary` Ingress,
# a copy of Git's routed to the `web-canary` Service, carries the canary's
# weight in nginx.ingress.kubernetes.io/canary-weight; Git's Ingress is left
# as Git wrote it; promotion and abort remove the canary's objects.
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
  progressDeadlineSeconds: 30
  scaleDownDelaySeconds: 1
  trafficRouting:
    nginx: {ingress: web}
  steps:
    - setWeight: 25
    - pause: {duration: 2s}
    - setWeight: 50
    - pause: {}
Y
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

start 1
until_ 30 phase_is Healthy
web web:2
push "web v2"
seen=()
for _ in $(seq 1 300); do
	w=$(canary_ingress '.metadata.annotations.nginx\.ingress\.kubernetes\.io/canary-weight')
	[ -n "$w" ] && [ "${seen[*]: -1}" != "$w" ] && seen+=("$w")
	phase_is Paused && break
	sleep 0.1
done
w=$(canary_ingress '.metadata.annotations.nginx\.ingress\.kubernetes\.io/canary-weight')
if [ "$w" = 50 ] && [[ " ${seen[*]} " == *" 25 "* ]] &&
	[ "$(canary_ingress '.metadata.annotations.nginx\.ingress\.kubernetes\.io/canary')" = true ] &&
	[ "$(canary_ingress '.spec.rules[0].http.paths[0].backend.service.name')" = web-canary ] &&
	[ "$(canary_ingress '.metadata.annotations.nginx\.ingress\.kubernetes\.io/proxy-body-size')" = 8m ] &&
	[ "$(kubectl get ingress web -n shop -o jsonpath='{.spec.rules[0].http.paths[0].backend.service.name}')" = web ] &&
	[ -z "$(kubectl get ingress web -n shop -o jsonpath='{.metadata.annotations.nginx\.ingress\.kubernetes\.io/canary}')" ]; then
	ok "a canary Ingress routes 25 then 50 percent to web-canary; Git's Ingress stays as Git wrote it"
else
	not_ok "a canary Ingress routes 25 then 50 percent" "seen: ${seen[*]}" "$(kubectl get ingress -n shop -o yaml | head -60)" "$(ro .status)"
fi

kubectl annotate application shop -n shop --overwrite "sluice.dev/sync-requested-at=$(date +%s%N)" >/dev/null
sleep 3
if [ "$(canary_ingress '.metadata.annotations.nginx\.ingress\.kubernetes\.io/canary-weight')" = 50 ]; then
	ok "a sync during the rollout leaves the canary Ingress alone"
else
	not_ok "a sync during the rollout leaves the canary Ingress alone" "$(ro .status)"
fi

kubectl annotate rollout web -n shop --overwrite "sluice.dev/action=promote $(date +%s%N)" >/dev/null
until_ 60 phase_is Healthy
until_ 20 '! kubectl get ingress web-canary -n shop >/dev/null 2>&1'
if [ "$(image web)" = web:2 ] && ! kubectl get ingress web-canary -n shop >/dev/null 2>&1 &&
	! kubectl get service web-canary -n shop >/dev/null 2>&1; then
	ok "promoted: web runs web:2; the canary Ingress and Service are gone"
else
	not_ok "promoted: the canary Ingress and Service are gone" "$(ro .status)"
fi

web web:3
push "web v3"
until_ 60 'test "$(canary_ingress ".metadata.annotations.nginx\\.ingress\\.kubernetes\\.io/canary-weight")" = 25'
kubectl annotate rollout web -n shop --overwrite "sluice.dev/action=abort $(date +%s%N)" >/dev/null
until_ 20 phase_is Aborted
if [ "$(image web)" = web:2 ] && ! kubectl get ingress web-canary -n shop >/dev/null 2>&1 &&
	[ "$(canary_replicas)" = 0 ]; then
	ok "abort: the canary Ingress is gone at once, the canary scaled to 0"
else
	not_ok "abort: the canary Ingress is gone at once" "$(ro .status)"
fi
kill -TERM $pid; wait $pid 2>/dev/null; pid=
