#!/usr/bin/env bash
# sluiced in single-app mode, end to end: commits to a real Git repository
# become the state of a real cluster (the sandbox): apply, drift healed, prune,
# a bad commit changes nothing, a graceful stop.
. "$(dirname "$0")/lib.sh"
if ! command -v kubectl >/dev/null; then
	skip "sluiced single-app mode end to end" "kubectl not installed"
	exit 0
fi
tmp=$(mktemp -d)
sbx="$tmp/sandbox"
trap 'tests/sandbox/sandbox down "$sbx" >/dev/null 2>&1; rm -rf "$tmp"' EXIT
tests/sandbox/sandbox up "$sbx" >/dev/null || { not_ok "sandbox up"; exit 1; }
eval "$(tests/sandbox/sandbox env "$sbx")"
G="git -c user.name=Dev -c user.email=dev@example.com -c init.defaultBranch=main"
bare="$tmp/shop.git"
git init -q --bare "$bare"
$G init -q "$tmp/work"
cd "$tmp/work"
mkdir apps
cat >apps/namespace.yaml <<'Y'
apiVersion: v1
kind: Namespace
metadata:
  name: demo
Y
cat >apps/config.yaml <<'Y'
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  mode: blue
Y
cat >apps/web.yaml <<'Y'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: web:1
Y
commit() { $G add -A && $G commit -q -m "$1" && git push -q "$bare" HEAD:main; }
commit "v1: namespace, config, web"
git -C "$bare" symbolic-ref HEAD refs/heads/main
cd - >/dev/null

sync_once() {
	"$SLUICED" --repo "$bare" --path apps --namespace demo --app shop --once \
		--cache-dir "$tmp/cache" --kubeconfig "$KUBECONFIG" 2>"$tmp/log"
}

sync_once; rc=$?
if [ $rc -eq 0 ] && [ "$(kubectl get deploy web -n demo -o jsonpath='{.metadata.labels.sluice\.dev/app}')" = shop ] &&
	kubectl get configmap settings -n demo >/dev/null 2>&1; then
	ok "first commit applied, objects carry the tracking label"
else
	not_ok "first commit applied, objects carry the tracking label" "rc=$rc" "$(cat "$tmp/log")"
fi
if kubectl rollout status deploy/web -n demo --timeout=60s >/dev/null 2>&1; then
	ok "the Deployment becomes available"
else
	not_ok "the Deployment becomes available"
fi

kubectl scale deploy web -n demo --replicas=5 >/dev/null
kubectl patch configmap settings -n demo --type merge -p '{"data":{"mode":"hacked"}}' >/dev/null
sync_once; rc=$?
if [ $rc -eq 0 ] && [ "$(kubectl get deploy web -n demo -o jsonpath='{.spec.replicas}')" = 2 ] &&
	[ "$(kubectl get configmap settings -n demo -o jsonpath='{.data.mode}')" = blue ]; then
	ok "drift is healed: replicas and data back to what Git says"
else
	not_ok "drift is healed" "rc=$rc" "$(cat "$tmp/log")"
fi

cd "$tmp/work"
git rm -q apps/config.yaml
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings-v2\ndata: {mode: green}\n' >apps/config-v2.yaml
commit "v2: settings renamed"
cd - >/dev/null
sync_once; rc=$?
if [ $rc -eq 0 ] && ! kubectl get configmap settings -n demo >/dev/null 2>&1 &&
	kubectl get configmap settings-v2 -n demo >/dev/null 2>&1; then
	ok "what left Git is pruned, what arrived is applied"
else
	not_ok "what left Git is pruned, what arrived is applied" "rc=$rc" "$(cat "$tmp/log")"
fi

cd "$tmp/work"
sed -i 's/replicas: 2/replicas: -1/; s/web:1/web:2/' apps/web.yaml
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: sneaky\n' >apps/sneaky.yaml
commit "v3: a bad commit"
cd - >/dev/null
sync_once; rc=$?
if [ $rc -eq 1 ] && grep -q 'apps/web.yaml:6: Deployment demo/web: .*spec.replicas' "$tmp/log" &&
	! kubectl get configmap sneaky -n demo >/dev/null 2>&1 &&
	[ "$(kubectl get deploy web -n demo -o jsonpath='{.spec.template.spec.containers[0].image}')" = web:1 ]; then
	ok "a commit the API rejects applies nothing and names the line of the field (web.yaml:6)"
else
	not_ok "a commit the API rejects applies nothing and names the line of the field (web.yaml:6)" "rc=$rc" "$(cat "$tmp/log")"
fi

cd "$tmp/work"
sed -i 's/replicas: -1/replicas: 3/' apps/web.yaml
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: broken\ndata:\n  key: "unterminated\n' >apps/broken.yaml
commit "v4: a YAML error"
cd - >/dev/null
sync_once; rc=$?
if [ $rc -eq 1 ] && grep -q 'apps/broken.yaml:7:1: found unexpected end of stream' "$tmp/log" &&
	[ "$(kubectl get deploy web -n demo -o jsonpath='{.spec.replicas}')" = 2 ]; then
	ok "a YAML error applies nothing and names file:line:column"
else
	not_ok "a YAML error applies nothing and names file:line:column" "rc=$rc" "$(cat "$tmp/log")"
fi

cd "$tmp/work"
git rm -q apps/broken.yaml
commit "v5: fixed"
cd - >/dev/null
"$SLUICED" --repo "$bare" --path apps --namespace demo --app shop --interval 1 \
	--cache-dir "$tmp/cache" --kubeconfig "$KUBECONFIG" 2>"$tmp/loop.log" &
pid=$!
for _ in $(seq 1 100); do grep -q '"msg":"synced"' "$tmp/loop.log" && break; sleep 0.1; done

# the API server goes down: one error line a round, the loop lives on, and a
# commit made meanwhile is applied once the server is back
tests/sandbox/sandbox api-stop "$sbx" >/dev/null
cd "$tmp/work"
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: later\ndata: {made: while-down}\n' >apps/later.yaml
commit "v6: made while the API was down"
cd - >/dev/null
sleep 10 # each request is retried for a few seconds before the round gives up
down_errors=$(grep -c '"level":"error"' "$tmp/loop.log")
# a round ends on its first failure: reading the inventory, or (when the server
# went away mid-round) saving it
rounds_down=$(grep -c -e '"msg":"cannot read the inventory; nothing synced this round"' \
	-e '"msg":"cannot save the inventory"' "$tmp/loop.log")
alive=no; kill -0 $pid 2>/dev/null && alive=yes
tests/sandbox/sandbox api-start "$sbx" >/dev/null
t_up=$(date +%s%N)
ms_back=-1
for _ in $(seq 1 300); do
	if [ "$(kubectl get configmap later -n demo -o jsonpath='{.data.made}' 2>/dev/null)" = while-down ]; then
		ms_back=$((($(date +%s%N) - t_up) / 1000000)); break
	fi
	sleep 0.1
done
if [ $alive = yes ] && [ "$rounds_down" -ge 1 ] && [ "$down_errors" -eq "$rounds_down" ] && [ $ms_back -ge 0 ]; then
	ok "API server down: one error line a round ($rounds_down), and the commit made meanwhile applied ${ms_back} ms after it is back"
else
	not_ok "API server down: one error line a round, then the commit is applied" "alive=$alive rounds=$rounds_down errors=$down_errors back=$ms_back" "$(grep error "$tmp/loop.log" | head -5)"
fi

kill -TERM $pid
t0=$(date +%s%N)
wait $pid; rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
if [ $rc -eq 0 ] && [ "$(kubectl get deploy web -n demo -o jsonpath='{.spec.replicas}')" = 3 ] &&
	kubectl get configmap sneaky -n demo >/dev/null 2>&1 && grep -q '"msg":"stopped"' "$tmp/loop.log" &&
	[ $ms -lt 3000 ]; then
	ok "the fixed commit syncs; SIGTERM stops the loop cleanly (${ms} ms)"
else
	not_ok "the fixed commit syncs; SIGTERM stops the loop cleanly" "rc=$rc ms=$ms" "$(tail -5 "$tmp/loop.log")"
fi
if grep -q '[^"]*"level":"info","msg":"synced"' "$tmp/loop.log" && python3 -c '
import json,sys
for l in open(sys.argv[1]): json.loads(l)' "$tmp/loop.log"; then
	ok "the controller logs one JSON object per line"
else
	not_ok "the controller logs one JSON object per line" "$(head -3 "$tmp/loop.log")"
fi
