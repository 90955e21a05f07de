#!/usr/bin/env bash
# sluiced in in-cluster mode, as the service account sluice-system:sluiced,
# with exactly the rights deploy/ grants: deploy/ renders with kubectl
# kustomize; its namespace, CRDs, service account and RBAC are applied to the
# sandbox (the Deployment only as a server-side dry run: the sandbox runs no
# real pods); then sluiced runs with the Deployment's own arguments, the
# service account's token and CA in the in-cluster files, through an
# Application sync (with Git credentials from a Secret) and a canary rollout
# through a Gateway API HTTPRoute, with analysis against a real Prometheus and
# promotion, without one Forbidden; the Grafana dashboard's metrics must be
# ones sluiced exports. Then one right is taken away and
# sluiced must say, in one line, which verb on which resource was refused.
. "$(dirname "$0")/lib.sh"
if ! command -v kubectl >/dev/null; then
	skip "$(basename "$0")" "kubectl not installed"
	exit 0
fi
tmp=$(mktemp -d)
sbx="$tmp/sandbox"
pid=
agg=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	[ -n "$agg" ] && kill "$agg" 2>/dev/null && wait "$agg" 2>/dev/null
	tests/sandbox/prometheus down "$tmp/prom" >/dev/null 2>&1
	tests/sandbox/sandbox down "$sbx" >/dev/null 2>&1
	cp "$tmp/ctl.log" /tmp/test_incluster-ctl.log 2>/dev/null
	cp "$tmp/metrics" /tmp/test_incluster-metrics.txt 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
G="git -c user.name=Dev -c user.email=dev@example.com -c init.defaultBranch=main"
bare="$tmp/shop.git"
until_() { # until_ SECONDS 'SHELL CONDITION': evaluate it every 0.2 s
	local k=$(($1 * 5)); shift
	for _ in $(seq 1 $k); do eval "$*" && return 0; sleep 0.2; done
	return 1
}

tests/sandbox/sandbox up "$sbx" >/dev/null || { not_ok "sandbox up"; exit 1; }
eval "$(tests/sandbox/sandbox env "$sbx")"
# The sandbox's controller manager runs no clusterrole-aggregation controller,
# which every real cluster runs and which fills in sluice-manage's rules: run
# the real one beside it.
kbin=$(tests/sandbox/build-kube)
"$kbin/kube-controller-manager" --kubeconfig "$KUBECONFIG" --controllers clusterrole-aggregation \
	--leader-elect=false --port 0 --secure-port 0 >"$tmp/aggregation.log" 2>&1 &
agg=$!

# --- deploy/ as kubectl renders it ---------------------------------------
split() { # split FILE: all but the Deployment to FILE.install, the Deployment to FILE.deployment
	python3 - "$1" <<'PY'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
with open(sys.argv[1] + ".install", "w") as f:
    yaml.safe_dump_all([d for d in docs if d["kind"] != "Deployment"], f)
with open(sys.argv[1] + ".deployment", "w") as f:
    yaml.safe_dump_all([d for d in docs if d["kind"] == "Deployment"], f)
PY
}
if kubectl kustomize deploy/ >"$tmp/deploy.yaml" 2>"$tmp/err" && split "$tmp/deploy.yaml" &&
	kubectl apply -f "$tmp/deploy.yaml.install" >"$tmp/apply.out" 2>>"$tmp/err" &&
	kubectl wait --for condition=established crd/applications.sluice.dev crd/rollouts.sluice.dev \
		crd/canarypolicies.sluice.dev --timeout=30s >/dev/null 2>>"$tmp/err" &&
	kubectl apply --dry-run=server -f "$tmp/deploy.yaml.deployment" >/dev/null 2>>"$tmp/err"; then
	ok "deploy/ renders; namespace, CRDs, service account and RBAC apply; the API server accepts the Deployment ($(grep -c . "$tmp/apply.out") objects)"
else
	not_ok "deploy/ renders and applies" "$(cat "$tmp/err")"
	exit 1
fi

# The webhook component renders in an overlay, and the API server takes its Deployment
mkdir -p "$tmp/overlay"
cp -r deploy "$tmp/overlay/deploy"
printf 'resources: [deploy]\ncomponents: [deploy/components/webhook]\n' >"$tmp/overlay/kustomization.yaml"
if kubectl kustomize "$tmp/overlay" >"$tmp/overlay.yaml" 2>"$tmp/err" && split "$tmp/overlay.yaml" &&
	grep -q -- '--webhook-secret-file=/etc/sluice/webhook/secret' "$tmp/overlay.yaml.deployment" &&
	kubectl apply --dry-run=server -f "$tmp/overlay.yaml.deployment" >/dev/null 2>>"$tmp/err"; then
	ok "components/webhook adds the secret file to the Deployment, which the API server accepts"
else
	not_ok "components/webhook renders" "$(cat "$tmp/err")"
fi

# What the install promises, read from the rendered objects
if out=$(python3 - "$tmp/deploy.yaml" <<'PY' 2>&1
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
bad = []
for d in docs:
    for i, r in enumerate(d.get("rules") or []):
        for k in ("apiGroups", "resources", "verbs", "nonResourceURLs"):
            if "*" in (r.get(k) or []):
                bad.append("%s %s rule %d: wildcard in %s" % (d["kind"], d["metadata"]["name"], i, k))
dep = [d for d in docs if d["kind"] == "Deployment"][0]
pod = dep["spec"]["template"]["spec"]
c = pod["containers"][0]
sc, psc = c.get("securityContext", {}), pod.get("securityContext", {})
args = c.get("args", [])
cache = [a.split("=", 1)[1] for a in args if a.startswith("--cache-dir=")]
mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
empty = {v["name"] for v in pod.get("volumes", []) if "emptyDir" in v}
need = {
    "2 replicas": dep["spec"].get("replicas") == 2,
    "--leader-elect": "--leader-elect" in args,
    "liveness /healthz on the http port": c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"},
    "readiness /readyz on the http port": c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"},
    "http port is --http-addr's": any(a.endswith(":%d" % c["ports"][0]["containerPort"]) for a in args if a.startswith("--http-addr=")),
    "runAsNonRoot": sc.get("runAsNonRoot") is True and psc.get("runAsNonRoot") is True,
    "readOnlyRootFilesystem": sc.get("readOnlyRootFilesystem") is True,
    "no privilege escalation": sc.get("allowPrivilegeEscalation") is False,
    "all capabilities dropped": sc.get("capabilities", {}).get("drop") == ["ALL"],
    "seccomp RuntimeDefault": psc.get("seccompProfile", {}).get("type") == "RuntimeDefault",
    "requests": "cpu" in c["resources"]["requests"] and "memory" in c["resources"]["requests"],
    "--cache-dir on an emptyDir": len(cache) == 1 and any(cache[0].startswith(p) and mounts[p] in empty for p in mounts),
    "/tmp on an emptyDir": mounts.get("/tmp") in empty,
    "service account sluiced": pod.get("serviceAccountName") == "sluiced",
}
bad += ["Deployment: " + k for k, v in need.items() if not v]
print("\n".join(bad))
sys.exit(1 if bad else 0)
PY
); then
	ok "no wildcard in any rule; the Deployment has 2 replicas, --leader-elect, probes, a non-root read-only hardened container"
else
	not_ok "no wildcard in any rule; the Deployment is hardened" "$out"
fi

# Gateway API's HTTPRoute kind, as a cluster's admin installs it
kubectl apply -f tests/data/crds/httproute.yaml >/dev/null
kubectl wait --for condition=established crd/httproutes.gateway.networking.k8s.io --timeout=30s >/dev/null

# The policy library goes into a namespace with the documented command
kubectl create namespace shop >/dev/null
if kubectl apply -n shop -k deploy/policies/ >/dev/null 2>"$tmp/err" &&
	[ "$(kubectl get canarypolicies -n shop -o name | wc -l)" = "$(ls deploy/policies/*.yaml | grep -vc /kustomization.yaml)" ]; then
	ok "kubectl apply -n shop -k deploy/policies/ installs every shipped CanaryPolicy into shop"
else
	not_ok "kubectl apply -n shop -k deploy/policies/ installs the library" "$(cat "$tmp/err")" "$(kubectl get canarypolicies -n shop 2>&1)"
fi
until_ 30 '[ -n "$(kubectl get clusterrole sluice-manage -o jsonpath="{.rules}")" ]' ||
	not_ok "the aggregation controller fills in sluice-manage" "$(tail -5 "$tmp/aggregation.log")"

# --- a repository, an Application with Git credentials --------------------
git init -q --bare "$bare"
$G init -q "$tmp/work"
mkdir -p "$tmp/work/apps"
web() { # web IMAGE REPLICAS
	cat >"$tmp/work/apps/web.yaml" <<Y
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: $2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: $1
Y
}
web web:1 4
site() { printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: site\ndata: {theme: %s}\n' "$1" >"$tmp/work/apps/site.yaml"; }
site light
cat >"$tmp/work/apps/svc.yaml" <<'Y'
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
    - {port: 80, targetPort: 8080, protocol: TCP}
Y
cat >"$tmp/work/apps/rollout.yaml" <<'Y'
apiVersion: sluice.dev/v1alpha1
kind: CanaryPolicy
metadata:
  name: half-then-gate
spec:
  steps:
    - setWeight: 50
    - pause: {}
  analysis:
    interval: 2s
    metrics:
      - name: scraped
        query: max(up{job="sluice-test"})
        min: 1
---
apiVersion: sluice.dev/v1alpha1
kind: Rollout
metadata:
  name: web
spec:
  targetRef: {name: web}
  service: web
  policyRef: {name: half-then-gate}
  progressDeadlineSeconds: 60
  scaleDownDelaySeconds: 1
  trafficRouting:
    gatewayAPI: {httpRoute: web}
Y
cat >"$tmp/work/apps/route.yaml" <<'Y'
apiVersion: gateway.networking.k8s.io/v1beta1
kind: HTTPRoute
metadata:
  name: web
spec:
  parentRefs: [{name: gateway}]
  rules:
    - backendRefs:
        - {name: web, port: 80}
Y
commit() { (cd "$tmp/work" && $G add -A && $G commit -q -m "$1" && git push -q "$bare" HEAD:main); }
commit "web v1"
git -C "$bare" symbolic-ref HEAD refs/heads/main
kubectl create secret generic git -n shop --from-literal=username=dev --from-literal=password=n0t-a-real-t0ken >/dev/null
cat <<Y | kubectl apply -f - >/dev/null
apiVersion: sluice.dev/v1alpha1
kind: Application
metadata: {name: shop, namespace: shop}
spec:
  source: {repoURL: "$bare", path: apps, secretRef: {name: git}}
  syncPolicy: {interval: 1h}
Y
app() { kubectl get application shop -n shop -o jsonpath="{$1}" 2>/dev/null; }
ro() { kubectl get rollout web -n shop -o jsonpath="{$1}" 2>/dev/null; }
weights() { kubectl get httproute web -n shop -o jsonpath='{range .spec.rules[0].backendRefs[*]}{.name}={.weight} {end}' 2>/dev/null; }
image() { kubectl get deploy "$1" -n shop -o jsonpath='{.spec.template.spec.containers[0].image}' 2>/dev/null; }
request_sync() { kubectl annotate application shop -n shop --overwrite "sluice.dev/sync-requested-at=$(date +%s%N)" >/dev/null; }

# --- sluiced in in-cluster mode ------------------------------------------
# The files a pod has: the service account's token, the cluster's CA, the namespace.
sa="$tmp/root/var/run/secrets/kubernetes.io/serviceaccount"
mkdir -p "$sa"
cp "$SANDBOX_CONTROLLER_TOKEN_FILE" "$sa/token"
cp "$SANDBOX_CA" "$sa/ca.crt"
printf sluice-system >"$sa/namespace"
# The Deployment's arguments, with a local cache and a free port
args=()
while read -r a; do
	case $a in
	--http-addr=*) args+=(--http-addr=127.0.0.1:0) ;;
	--cache-dir=*) args+=("--cache-dir=$tmp/cache") ;;
	*) args+=("$a") ;;
	esac
done < <(python3 -c 'import sys, yaml
d = yaml.safe_load(open(sys.argv[1]))
print("\n".join(d["spec"]["template"]["spec"]["containers"][0]["args"]))' "$tmp/deploy.yaml.deployment")
api_port=${SANDBOX_SERVER##*:}
# A real Prometheus, for the policy's analysis and the dashboard's queries;
# it scrapes sluiced once sluiced listens
prom_url=$(tests/sandbox/prometheus up "$tmp/prom" | tail -n 1)
env -u KUBECONFIG SLUICE_PROMETHEUS_URL="$prom_url" KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT="$api_port" \
	SLUICE_IN_CLUSTER_ROOT="$tmp/root" "$SLUICED" "${args[@]}" 2>"$tmp/ctl.log" &
pid=$!
until_ 10 'grep -q "\"msg\":\"http: listening\"" "$tmp/ctl.log"'
port=$(python3 -c 'import json,sys
for l in open(sys.argv[1]):
    d=json.loads(l)
    if d.get("msg")=="http: listening": print(d["port"])' "$tmp/ctl.log" 2>/dev/null)
tests/sandbox/prometheus up "$tmp/prom" "127.0.0.1:$port" >/dev/null
until_ 30 'curl -sf "$prom_url/api/v1/query" --data-urlencode "query=max(up{job=\"sluice-test\"}) == 1" | grep -q "\"value\""'

# Git credentials are readable only where a RoleBinding says so: not yet in shop
until_ 30 '[ "$(app .status.sync.status)" = Failed ]'
msg=$(app .status.sync.message)
if [[ "$msg" == *'secrets "git" is forbidden'*'cannot get resource "secrets"'*'"shop"'* ]] &&
	[ "$(wc -l <<<"$msg")" = 1 ] && ! kubectl get deploy web -n shop >/dev/null 2>&1; then
	ok "without a RoleBinding in shop, reading the Git credentials is refused, and the status says so in one line ($msg)"
else
	not_ok "reading the Git credentials outside sluice-system is refused until bound" "$msg" "$(tail -5 "$tmp/ctl.log")"
fi

# The command deploy/README.md gives; from here on, nothing may be forbidden
kubectl create rolebinding sluice-git-credentials -n shop --clusterrole=sluice-git-credentials \
	--serviceaccount=sluice-system:sluiced >/dev/null
until_ 30 'kubectl auth can-i get secrets -n shop --as system:serviceaccount:sluice-system:sluiced >/dev/null 2>&1'
sleep 1 # a retry of the refused sync that was on its way ends first
mark=$(wc -l <"$tmp/ctl.log")
request_sync
until_ 60 '[ "$(app .status.sync.status)" = Synced ] && [ "$(ro .status.phase)" = Healthy ]'
sha=$(git -C "$bare" rev-parse main)
if [ "$(app .status.sync.status)" = Synced ] && [ "$(app .status.sync.revision)" = "$sha" ] &&
	[ "$(image web)" = web:1 ] && [ "$(kubectl get configmap site -n shop -o jsonpath='{.data.theme}')" = light ] &&
	[ "$(ro .status.phase)" = Healthy ] && [ "$(weights)" = "web= " ] &&
	kubectl get events -n shop --field-selector involvedObject.kind=Application -o jsonpath='{.items[*].reason}' | grep -qw Synced; then
	ok "with the documented RoleBinding the Application syncs: Deployment, Service, ConfigMap, HTTPRoute, CanaryPolicy and Rollout applied, status and an Event written"
else
	not_ok "the Application syncs under deploy/'s RBAC" "$(app .status.sync)" "$(app .status.health)" "route: $(weights)" "$(ro .status)" "$(tail -n +"$mark" "$tmp/ctl.log" | tail -5)"
fi
holder=$(kubectl get lease sluiced -n sluice-system -o jsonpath='{.spec.holderIdentity}' 2>/dev/null)
if [ -n "$holder" ]; then
	ok "leader election: the Lease sluice-system/sluiced is held by $holder"
else
	not_ok "leader election: the Lease sluice-system/sluiced is held" "$(kubectl get leases -n sluice-system -o yaml 2>&1 | tail -5)" "$(grep -i lease "$tmp/ctl.log" | tail -3)"
fi

# The Deployment's probes: both paths answer 200 on the --http-addr port
hz=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/healthz")
rz=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz")
why=$(curl -s "http://127.0.0.1:$port/readyz" | tr -d '\n')
if [ "$hz" = 200 ] && [ "$rz" = 200 ]; then
	ok "the probes' paths answer: /healthz 200, /readyz 200 ($why)"
else
	not_ok "the probes' paths answer 200" "/healthz: $hz" "/readyz: $rz $why"
fi

# A canary through the HTTPRoute: web:2 at 50 percent, held at the gate, promoted
web web:2 4
commit "web v2"
request_sync
until_ 90 '[ "$(ro .status.phase)" = Paused ]'
if [ "$(ro .status.phase)" = Paused ] && [ "$(image web-canary)" = web:2 ] && [ "$(image web)" = web:1 ] &&
	[ "$(weights)" = "web=50 web-canary=50 " ] &&
	[ "$(kubectl get service web-canary -n shop -o jsonpath='{.metadata.name}' 2>/dev/null)" = web-canary ]; then
	ok "a new template goes to the canary Deployment and Service, the HTTPRoute at 50/50, held at the gate"
else
	not_ok "a new template goes to a canary at 50 percent" "$(ro .status)" "route: $(weights)" "stable $(image web), canary $(image web-canary)" "$(tail -n +"$mark" "$tmp/ctl.log" | tail -5)"
fi
kubectl annotate rollout web -n shop --overwrite "sluice.dev/action=promote $(date +%s%N)" >/dev/null
until_ 90 '[ "$(ro .status.phase)" = Healthy ] && [ "$(image web)" = web:2 ]'
until_ 30 '[ "$(kubectl get deploy web-canary -n shop -o jsonpath="{.spec.replicas}")" = 0 ]'
until_ 30 '! kubectl get service web-canary -n shop >/dev/null 2>&1'
if [ "$(ro .status.phase)" = Healthy ] && [ "$(image web)" = web:2 ] &&
	! kubectl get service web-canary -n shop >/dev/null 2>&1 && [[ "$(weights)" != *web-canary* ]] &&
	[ "$(ro '.status.history[0].result')" = Promoted ] &&
	[ "$(kubectl get deploy web-canary -n shop -o jsonpath='{.spec.replicas}')" = 0 ]; then
	ok "promoted: web:2 is stable, the canary scaled to 0, its Service deleted, the route Git's again (analysis runs: $(ro .status.analysis.runs))"
else
	not_ok "promotion under deploy/'s RBAC" "$(ro .status)" "route: $(weights)" "$(tail -n +"$mark" "$tmp/ctl.log" | tail -5)"
fi
refused=$(tail -n +"$((mark + 1))" "$tmp/ctl.log" | grep -i -E 'forbidden|cannot (get|list|watch|create|update|patch|delete) resource')
if [ -z "$refused" ]; then
	ok "no request was refused during the sync, the rollout and the promotion"
else
	not_ok "no request was refused during the sync, the rollout and the promotion" "$refused"
fi

# The dashboard: every sluice_* name in it is a family sluiced exports, and
# Prometheus accepts every query
if [ -n "$port" ] && curl -sf "http://127.0.0.1:$port/metrics" >"$tmp/metrics" &&
	out=$(python3 - deploy/grafana/sluice.json "$tmp/metrics" "$prom_url" <<'PY' 2>&1
import json, re, sys, urllib.parse, urllib.request
text = open(sys.argv[1]).read()
have = set(re.findall(r"^# TYPE (\w+)", open(sys.argv[2]).read(), re.M))
# rendered only once a series was dropped, which a healthy controller never does
have.add("sluice_metrics_series_dropped_total")
used = set(re.sub(r"_(bucket|sum|count)$", "", m) for m in re.findall(r"\bsluice_\w+", text))
bad = ["not exported: " + m for m in sorted(used - have)]
exprs = []
def walk(o):
    if isinstance(o, dict):
        for k, v in o.items():
            if k == "expr":
                exprs.append(v)
            else:
                walk(v)
    elif isinstance(o, list):
        for v in o:
            walk(v)
walk(json.loads(text))
for e in exprs:
    q = e.replace("$namespace", ".*").replace("$rollout", ".*").replace("$app", ".*")
    q = q.replace("$__rate_interval", "1m").replace("$__range_s", "3600").replace("$__range", "1h")
    if "$" in q:
        bad.append("a variable the test does not know: " + e)
        continue
    url = sys.argv[3] + "/api/v1/query?" + urllib.parse.urlencode({"query": q})
    try:
        r = json.load(urllib.request.urlopen(url, timeout=10))
        if r.get("status") != "success":
            bad.append("refused: %s: %s" % (e, r.get("error")))
    except Exception as x:
        bad.append("refused: %s: %s" % (e, x))
print("\n".join(bad) or "%d families, %d queries" % (len(used), len(exprs)))
sys.exit(1 if bad or not exprs else 0)
PY
	); then
	ok "deploy/grafana/sluice.json names only families sluiced exports, and Prometheus takes its queries ($out)"
else
	not_ok "deploy/grafana/sluice.json names only families sluiced exports, and Prometheus takes its queries" "${out:-no /metrics on port $port}"
fi

# --- one right taken away: patch on Deployments ---------------------------
# Both roles grant it (sluice-controller for canaries, sluice-manage-apps for
# what Git holds); RBAC adds rights up, so both lose it.
without_patch() { # without_patch CLUSTERROLE: its apps/deployments rule loses "patch"
	kubectl get clusterrole "$1" -o json | python3 -c 'import json, sys
r = json.load(sys.stdin)
for rule in r["rules"]:
    if "apps" in rule.get("apiGroups", []) and "deployments" in rule.get("resources", []):
        rule["verbs"] = [v for v in rule["verbs"] if v != "patch"]
json.dump(r, sys.stdout)' | kubectl replace -f - >/dev/null
}
without_patch sluice-controller
without_patch sluice-manage-apps
until_ 30 '! kubectl auth can-i patch deployments.apps -n shop --as system:serviceaccount:sluice-system:sluiced >/dev/null 2>&1'
web web:2 3
site dark
commit "web: 3 replicas; a dark theme"
request_sync
until_ 60 '[ "$(app .status.sync.status)" = Failed ]'
msg=$(app .status.sync.message)
if [ "$(app .status.sync.status)" = Failed ] && [ "$(wc -l <<<"$msg")" = 1 ] &&
	[[ "$msg" == *'cannot patch resource "deployments" in API group "apps"'* ]] &&
	[ "$(kubectl get deploy web -n shop -o jsonpath='{.spec.replicas}')" = 4 ] &&
	[ "$(kubectl get configmap site -n shop -o jsonpath='{.data.theme}')" = light ] &&
	grep -q 'cannot patch resource \\"deployments\\" in API group \\"apps\\"' "$tmp/ctl.log"; then
	ok "without patch on Deployments the sync fails, nothing of the commit applied, with one line naming the verb and resource ($msg)"
else
	not_ok "without patch on Deployments the sync fails with one line naming the verb and resource" "$msg" "theme: $(kubectl get configmap site -n shop -o jsonpath='{.data.theme}')" "$(tail -5 "$tmp/ctl.log")"
fi
if grep -q 'n0t-a-real-t0ken' "$tmp/ctl.log" ||
	kubectl get application shop -n shop -o yaml | grep -q 'n0t-a-real-t0ken' ||
	kubectl get events -n shop -o yaml | grep -q 'n0t-a-real-t0ken'; then
	not_ok "the Git password appears nowhere: not in the log, the status or Events"
else
	ok "the Git password appears nowhere: not in the log, the status or Events"
fi
kill -TERM "$pid"; wait "$pid" 2>/dev/null; pid=
if grep -q -E 'Sanitizer|runtime error' "$tmp/ctl.log"; then
	not_ok "sluiced stops on SIGTERM without a sanitizer report" "$(grep -m 5 -E 'Sanitizer|runtime error' "$tmp/ctl.log")"
elif grep -q '"msg":"leader election: released the Lease"' "$tmp/ctl.log"; then
	ok "sluiced stops on SIGTERM, releasing the Lease, without a sanitizer report"
else
	not_ok "sluiced releases the Lease on SIGTERM" "$(tail -3 "$tmp/ctl.log")"
fi
