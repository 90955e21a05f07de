#!/usr/bin/env bash
# sluiced in Application mode, end to end on the sandbox: an Application
# resource names a Git repository; its status tells what happened.
. "$(dirname "$0")/lib.sh"
if ! command -v kubectl >/dev/null; then
	skip "sluiced Application mode end to end" "kubectl not installed"
	exit 0
fi
tmp=$(mktemp -d)
sbx="$tmp/sandbox"
trap 'tests/sandbox/sandbox down "$sbx" >/dev/null 2>&1; cp "$tmp"/loop.log /tmp/last-loop.log 2>/dev/null; rm -rf "$tmp"' EXIT
tests/sandbox/sandbox up "$sbx" >/dev/null || { not_ok "sandbox up"; exit 1; }
eval "$(tests/sandbox/sandbox env "$sbx")"
kubectl apply -f deploy/crds/application.yaml >/dev/null
kubectl wait --for condition=established crd/applications.sluice.dev --timeout=30s >/dev/null
G="git -c user.name=Dev -c user.email=dev@example.com -c init.defaultBranch=main"
bare="$tmp/site.git"
git init -q --bare "$bare"
$G init -q "$tmp/work"
mkdir -p "$tmp/work/deploy"
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: site\ndata: {theme: light}\n' >"$tmp/work/deploy/site.yaml"
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n' >"$tmp/work/deploy/extra.yaml"
commit() { (cd "$tmp/work" && $G add -A && $G commit -q -m "$1" && git push -q "$bare" HEAD:main); }
commit "site v1"
git -C "$bare" symbolic-ref HEAD refs/heads/main
kubectl create namespace team >/dev/null
kubectl create namespace web >/dev/null
cat <<Y | kubectl apply -f - >/dev/null
apiVersion: sluice.dev/v1alpha1
kind: Application
metadata:
  name: site
  namespace: team
spec:
  source:
    repoURL: $bare
    path: deploy
  destination:
    namespace: web
  syncPolicy:
    interval: 1m
Y
run_once() { "$SLUICED" --once --cache-dir "$tmp/cache" --kubeconfig "$KUBECONFIG" 2>"$tmp/log"; }
st() { kubectl get application site -n team -o jsonpath="{$1}"; }

run_once; rc=$?
sha=$(git -C "$bare" rev-parse main)
if [ $rc -eq 0 ] && [ "$(st .status.sync.status)" = Synced ] && [ "$(st .status.sync.revision)" = "$sha" ] &&
	[ "$(st '.status.conditions[0].status')" = True ] &&
	[ "$(kubectl get configmap site -n web -o jsonpath='{.metadata.labels.sluice\.dev/app}')" = site ]; then
	ok "an Application syncs its repository and reports Synced with the revision"
else
	not_ok "an Application syncs its repository and reports Synced with the revision" "rc=$rc" "$(cat "$tmp/log")" "$(st .status)"
fi
if [ "$(st .status.health.status)" = Healthy ] && [ "$(st '.status.resources[*].name')" = "extra site" ] &&
	[ "$(st '.status.resources[*].health')" = "Healthy Healthy" ]; then
	ok "status lists each managed object with its health, and the app's"
else
	not_ok "status lists each managed object with its health, and the app's" "$(st .status.resources)" "$(st .status.health)"
fi
if kubectl get applications -n team | grep -q "^site *Synced *Healthy *$sha"; then
	ok "kubectl get applications shows sync status and revision"
else
	not_ok "kubectl get applications shows sync status and revision" "$(kubectl get applications -n team)"
fi

printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: site\n  labels: [oops\n' >"$tmp/work/deploy/site.yaml"
commit "site v2 (broken)"
run_once; rc=$?
msg=$(st .status.sync.message)
if [ $rc -eq 1 ] && [ "$(st .status.sync.status)" = Failed ] && [[ "$msg" == deploy/site.yaml:* ]] &&
	[ "$(st '.status.conditions[0].status')" = False ] &&
	[ "$(kubectl get configmap site -n web -o jsonpath='{.data.theme}')" = light ]; then
	ok "a broken commit: status Failed with file:line, the cluster untouched ($msg)"
else
	not_ok "a broken commit: status Failed with file:line, the cluster untouched" "rc=$rc" "$msg" "$(cat "$tmp/log")"
fi

events=$(kubectl get events -n team --field-selector involvedObject.name=site -o jsonpath='{range .items[*]}{.reason}: {.message}{"\n"}{end}')
if grep -q '^Synced: synced ' <<<"$events" && grep -q '^SyncFailed: sync of .* failed: deploy/site.yaml:6:1: ' <<<"$events"; then
	ok "Events record each change of outcome, naming file:line on failure"
else
	not_ok "Events record each change of outcome, naming file:line on failure" "$events"
fi

printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: site\ndata: {theme: dark}\n' >"$tmp/work/deploy/site.yaml"
rm "$tmp/work/deploy/extra.yaml"
commit "site v3"
run_once; rc=$?
if [ $rc -eq 0 ] && [ "$(st .status.sync.status)" = Synced ] &&
	[ "$(kubectl get configmap site -n web -o jsonpath='{.data.theme}')" = dark ] &&
	! kubectl get configmap extra -n web >/dev/null 2>&1 &&
	[ "$(st '.status.history[*].result')" = "Synced Failed Synced" ]; then
	ok "the next good commit syncs and prunes; history keeps each sync"
else
	not_ok "the next good commit syncs and prunes; history keeps each sync" "rc=$rc" "$(st .status.history)" "$(cat "$tmp/log")"
fi

# a signed push webhook starts a sync at once, whatever the interval
printf 'hook-secret\n' >"$tmp/secret"
kubectl patch application site -n team --type merge -p '{"spec":{"syncPolicy":{"interval":"1h"}}}' >/dev/null
"$SLUICED" --cache-dir "$tmp/cache" --kubeconfig "$KUBECONFIG" --http-addr 127.0.0.1:0 \
	--webhook-secret-file "$tmp/secret" 2>"$tmp/loop.log" &
pid=$!
for _ in $(seq 1 100); do grep -q '"msg":"synced"' "$tmp/loop.log" && break; sleep 0.1; done
port=$(python3 -c 'import json,sys
for l in open(sys.argv[1]):
    d=json.loads(l)
    if d.get("msg")=="http: listening": print(d["port"])' "$tmp/loop.log")
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: site\ndata: {theme: solarized}\n' >"$tmp/work/deploy/site.yaml"
# and a Deployment, whose pods take a while: the app's health must follow them
# to Healthy without another sync request, though the interval is an hour
cat >"$tmp/work/deploy/front.yaml" <<'Y'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: front
spec:
  replicas: 2
  selector: {matchLabels: {app: front}}
  template:
    metadata: {labels: {app: front}}
    spec:
      containers: [{name: front, image: front:1}]
Y
commit "site v4"
body="{\"ref\":\"refs/heads/main\",\"repository\":{\"clone_url\":\"$bare\"}}"
sig=$(printf '%s' "$body" | openssl dgst -sha256 -hmac hook-secret | sed 's/^.*= //')
bad=$(curl -s -o /dev/null -w '%{http_code}' -H "X-Hub-Signature-256: sha256=0000$sig" \
	--data-binary "$body" "http://127.0.0.1:$port/hooks/git")
t0=$(date +%s%N)
code=$(curl -s -o /dev/null -w '%{http_code}' -H "X-Hub-Signature-256: sha256=$sig" \
	--data-binary "$body" "http://127.0.0.1:$port/hooks/git")
ms=-1
for _ in $(seq 1 100); do
	if [ "$(kubectl get configmap site -n web -o jsonpath='{.data.theme}')" = solarized ]; then
		ms=$((($(date +%s%N) - t0) / 1000000))
		break
	fi
	sleep 0.05
done
sleep 0.3 # the sync's own accounting follows its last write
curl -s "http://127.0.0.1:$port/metrics" >"$tmp/metrics"
health_ms=-1
for _ in $(seq 1 300); do
	if [ "$(st .status.health.status)" = Healthy ] &&
		[ "$(kubectl get deploy front -n web -o jsonpath='{.status.availableReplicas}')" = 2 ]; then
		health_ms=$((($(date +%s%N) - t0) / 1000000))
		break
	fi
	sleep 0.1
done
kill -TERM $pid
wait $pid
echo "# webhook to applied: ${ms} ms"
if [ "$bad" = 401 ] && [ "$code" = 202 ] && [ $ms -ge 0 ] && [ $ms -lt 3000 ]; then
	ok "a signed webhook syncs at once (${ms} ms); a bad signature is refused"
else
	not_ok "a signed webhook syncs at once; a bad signature is refused" "bad=$bad code=$code ms=$ms" "$(tail -5 "$tmp/loop.log")"
fi
if [ $health_ms -ge 0 ] && [ $health_ms -lt 20000 ]; then
	ok "the app's health follows a rolling Deployment to Healthy within seconds (${health_ms} ms), not an interval (1 h) later"
else
	not_ok "the app's health follows a rolling Deployment to Healthy" "$(st .status.health)" "$(kubectl get deploy front -n web -o jsonpath='{.status}')"
fi
# what the controller did is on /metrics: syncs, objects written, Git, API requests
metric() { # metric REGEX: the sum of the samples whose name and labels match
	awk -v re="^$1 " '$0 ~ re { s += $NF } END { print s + 0 }' "$tmp/metrics"
}
synced=$(metric 'sluice_syncs_total[{][^}]*result="Synced"[}]')
applied=$(metric 'sluice_sync_objects_total[{][^}]*action="applied"[}]')
fetches=$(metric 'sluice_git_fetch_duration_seconds_count[{]op="fetch"[}]')
patches=$(metric 'sluice_kube_requests_total[{]verb="patch",code="200"[}]')
lat=$(metric 'sluice_kube_request_duration_seconds_count[{]verb="patch"[}]')
promtool_ok=yes
if command -v promtool >/dev/null && ! promtool check metrics <"$tmp/metrics" >/dev/null 2>&1; then promtool_ok=no; fi
if [ "$synced" -ge 2 ] && [ "$applied" -ge 1 ] && [ "$fetches" -ge 2 ] && [ "$patches" -ge 1 ] &&
	[ "$lat" -ge "$patches" ] && [ $promtool_ok = yes ]; then
	ok "/metrics counts syncs ($synced), objects applied ($applied), Git fetches ($fetches) and API requests by verb and code with latency ($patches patches)"
else
	not_ok "/metrics counts syncs, objects, fetches and API requests" "synced=$synced applied=$applied fetches=$fetches patches=$patches lat=$lat promtool=$promtool_ok" "$(grep -v '^#' "$tmp/metrics" | head -30)"
fi

# the CLI: get apps, and sync on request through the API
out=$("$SLUICE" get apps -n team --kubeconfig "$KUBECONFIG")
if grep -q '^NAME *SYNC *HEALTH *REVISION' <<<"$out" && grep -q "^site *Synced *Healthy *${sha:0:0}" <<<"$out"; then
	ok "sluice get apps lists the Application with sync and health"
else
	not_ok "sluice get apps lists the Application with sync and health" "$out"
fi
if "$SLUICE" get apps -A -o json --kubeconfig "$KUBECONFIG" | python3 -c '
import json,sys; d=json.load(sys.stdin); assert d["kind"]=="List" and d["items"][0]["metadata"]["name"]=="site"'; then
	ok "sluice get apps -A -o json prints a List"
else
	not_ok "sluice get apps -A -o json prints a List"
fi
"$SLUICED" --cache-dir "$tmp/cache" --kubeconfig "$KUBECONFIG" 2>"$tmp/loop2.log" &
pid=$!
for _ in $(seq 1 100); do grep -q '"msg":"watching Applications"' "$tmp/loop2.log" && break; sleep 0.1; done
sleep 1
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: site\ndata: {theme: requested}\n' >"$tmp/work/deploy/site.yaml"
commit "site v5"
out=$("$SLUICE" sync site -n team --wait --timeout 30 --kubeconfig "$KUBECONFIG"); rc=$?
kill -TERM $pid; wait $pid
if [ $rc -eq 0 ] && grep -q '^Synced at' <<<"$out" &&
	[ "$(kubectl get configmap site -n web -o jsonpath='{.data.theme}')" = requested ]; then
	ok "sluice sync --wait asks for a sync and reports Synced"
else
	not_ok "sluice sync --wait asks for a sync and reports Synced" "rc=$rc" "$out" "$(tail -3 "$tmp/loop2.log")"
fi
"$SLUICE" sync nope -n team --kubeconfig "$KUBECONFIG" >/dev/null 2>"$tmp/err"; rc=$?
if [ $rc -eq 2 ] && grep -q 'not found' "$tmp/err" && [ "$(wc -l <"$tmp/err")" -eq 1 ]; then
	ok "an unknown Application is one line and exit 2"
else
	not_ok "an unknown Application is one line and exit 2" "rc=$rc" "$(cat "$tmp/err")"
fi

# a resync that finds nothing to do writes nothing: not the objects, not the status
rv_app=$(kubectl get application site -n team -o jsonpath='{.metadata.resourceVersion}')
rv_cm=$(kubectl get configmap site -n web -o jsonpath='{.metadata.resourceVersion}')
run_once; rc=$?
reqs=$(python3 -c 'import json,sys
for l in open(sys.argv[1]):
    d=json.loads(l)
    if d.get("msg")=="synced": print(d.get("api_requests"), d.get("applied"), d.get("unchanged"))' "$tmp/log")
if [ $rc -eq 0 ] && [ "$(kubectl get application site -n team -o jsonpath='{.metadata.resourceVersion}')" = "$rv_app" ] &&
	[ "$(kubectl get configmap site -n web -o jsonpath='{.metadata.resourceVersion}')" = "$rv_cm" ] &&
	[ "$(cut -d' ' -f2- <<<"$reqs")" = "0 2" ]; then
	ok "a no-op resync writes nothing (requests, applied, unchanged: $reqs)"
else
	not_ok "a no-op resync writes nothing" "rc=$rc" "$reqs" "$(cat "$tmp/log")"
fi

# sluice diff: what a sync would change, through a server-side dry-run
out=$("$SLUICE" diff site -n team --kubeconfig "$KUBECONFIG" 2>&1); rc=$?
if [ $rc -eq 0 ] && [ -z "$out" ]; then
	ok "sluice diff of an app in sync prints nothing and exits 0"
else
	not_ok "sluice diff of an app in sync prints nothing and exits 0" "rc=$rc" "$out"
fi
kubectl patch configmap site -n web --type merge -p '{"data":{"theme":"by-hand"}}' >/dev/null
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: added\ndata: {x: "1"}\n' >"$tmp/work/deploy/added.yaml"
commit "site v6"
out=$("$SLUICE" diff site -n team --kubeconfig "$KUBECONFIG" 2>&1); rc=$?
if [ $rc -eq 1 ] && grep -q '^--- live/ConfigMap/web/site' <<<"$out" && grep -q '^-  theme: by-hand' <<<"$out" &&
	grep -q '^+  theme: requested' <<<"$out" && grep -q '^+++ git/ConfigMap/web/added' <<<"$out" &&
	! grep -q 'managedFields\|resourceVersion' <<<"$out" &&
	[ "$(kubectl get configmap site -n web -o jsonpath='{.data.theme}')" = by-hand ] &&
	! kubectl get configmap added -n web >/dev/null 2>&1; then
	ok "sluice diff shows drift and new objects, changes nothing, exits 1"
else
	not_ok "sluice diff shows drift and new objects, changes nothing, exits 1" "rc=$rc" "$out"
fi
"$SLUICE" diff nope -n team --kubeconfig "$KUBECONFIG" >/dev/null 2>"$tmp/err"; rc=$?
if [ $rc -eq 2 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ]; then
	ok "sluice diff of an unknown app is one line and exit 2"
else
	not_ok "sluice diff of an unknown app is one line and exit 2" "rc=$rc" "$(cat "$tmp/err")"
fi

# two Applications, one repository: synced at once by two workers, each into its own namespace
mkdir -p "$tmp/work/blog"
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: blog\ndata: {posts: "3"}\n' >"$tmp/work/blog/blog.yaml"
commit "blog v1"
kubectl create namespace blog >/dev/null
cat <<Y | kubectl apply -f - >/dev/null
apiVersion: sluice.dev/v1alpha1
kind: Application
metadata:
  name: blog
  namespace: team
spec:
  source:
    repoURL: $bare
    path: blog
  destination:
    namespace: blog
Y
"$SLUICED" --once --concurrency 2 --cache-dir "$tmp/cache" --kubeconfig "$KUBECONFIG" 2>"$tmp/log"; rc=$?
if [ $rc -eq 0 ] && grep -q '"workers":"2"' "$tmp/log" &&
	[ "$(kubectl get application blog -n team -o jsonpath='{.status.sync.status}')" = Synced ] &&
	[ "$(kubectl get configmap blog -n blog -o jsonpath='{.data.posts}')" = 3 ] &&
	[ "$(kubectl get configmap added -n web -o jsonpath='{.data.x}')" = 1 ] &&
	[ "$(kubectl get configmap site -n web -o jsonpath='{.data.theme}')" = requested ]; then
	ok "two Applications of one repository sync at once, each into its namespace"
else
	not_ok "two Applications of one repository sync at once, each into its namespace" "rc=$rc" "$(cat "$tmp/log")"
fi
