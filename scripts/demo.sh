#!/usr/bin/env bash
# make demo: the whole pipeline on this machine, with real parts.
#
# A local control plane (etcd, kube-apiserver, controller-manager and a kubelet
# stand-in that runs a real demoapp process per pod), Prometheus scraping those
# pods, nginx routing real requests by the HTTPRoute's weights, and a load
# generator sending 40 requests a second through nginx. A Git repository holds
# examples/shop/ (Deployment, Service, HTTPRoute, Rollout); sluiced syncs it.
# Then two commits:
#   v2, healthy: a canary taking 10%, 25%, 50%, 100% of the requests, promoted;
#   v3, failing 30% of its requests: rolled back by the analysis;
# and a broken commit that changes nothing. It ends with what happened, how
# long each part took, the share of requests each version served at each step
# (counted by the load generator, not read from sluice) and `sluice stats`.
#
#   make demo                  # or scripts/demo.sh (BUILD=build/default)
#   DEMO_KEEP=1 make demo      # leave it all running; prints how to stop it
#   scripts/demo.sh down DIR   # stop what a DEMO_KEEP=1 run left in DIR
#
# Nothing is left running unless DEMO_KEEP=1.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
BUILD=${BUILD:-build/default}

down() { # down DIR: stop everything a run started in DIR, and remove DIR
	local d=$1 p
	for p in load sluiced; do
		[ -s "$d/$p.pid" ] && kill "$(cat "$d/$p.pid")" 2>/dev/null || true
	done
	tests/sandbox/gateway down "$d/gateway" >/dev/null 2>&1 || true
	tests/sandbox/prometheus down "$d/prometheus" >/dev/null 2>&1 || true
	tests/sandbox/sandbox down "$d/sandbox" >/dev/null 2>&1 || true
	rm -rf "$d"
}
if [ "${1:-}" = down ]; then
	[ -d "${2:-}" ] || { echo "usage: scripts/demo.sh down DIR (the folder a DEMO_KEEP=1 run printed)" >&2; exit 2; }
	down "$2"
	exit 0
fi

for b in kubectl /usr/sbin/nginx /usr/bin/prometheus python3 git; do
	command -v "$b" >/dev/null || { echo "demo: $b is not installed (make demo installs it as root)" >&2; exit 2; }
done
# what is missing is built (make demo has built it all already)
for f in bin/sluice bin/sluiced tests/kubelet-standin examples/demoapp; do
	[ -x "$BUILD/$f" ] || make --no-print-directory BUILD="$BUILD" "$BUILD/$f" >/dev/null
done
sluice=$root/$BUILD/bin/sluice
export SANDBOX_STANDIN=${SANDBOX_STANDIN:-$root/$BUILD/tests/kubelet-standin}

d=$(mktemp -d /tmp/sluice-demo.XXXXXX)
keep=${DEMO_KEEP:-0}
finish() {
	local rc=$?
	if [ "$keep" = 1 ] && [ "$rc" = 0 ]; then return; fi
	[ -n "${watch_pid:-}" ] && kill "$watch_pid" 2>/dev/null
	if [ "$rc" != 0 ]; then
		echo "demo: failed; sluiced's last log lines:" >&2
		tail -n 15 "$d/sluiced.log" >&2 2>/dev/null || true
	fi
	down "$d"
}
trap finish EXIT
trap 'exit 130' INT TERM

if [ -t 1 ]; then b=$'\033[1m' dim=$'\033[2m' n=$'\033[0m'; else b= dim= n=; fi
t_start=$(date +%s)
step() { printf '\n%s== %s%s  %s(%ss)%s\n' "$b" "$*" "$n" "$dim" "$(($(date +%s) - t_start))" "$n"; }
say() { printf '   %s\n' "$*"; }
ro() { kubectl get rollout web -n shop -o jsonpath="{$1}" 2>/dev/null; }
until_() { # until_ SECONDS 'CONDITION'
	local i
	for i in $(seq 1 $(($1 * 5))); do eval "$2" && return 0; sleep 0.2; done
	echo "demo: timed out after $1 s waiting for: $2" >&2
	return 1
}
now_ms() { date +%s%3N; }

# ---------------------------------------------------------------------------
step "a local Kubernetes: etcd, kube-apiserver, controller-manager, a kubelet stand-in"
tests/sandbox/sandbox up "$d/sandbox" | sed 's/^/   /'
eval "$(tests/sandbox/sandbox env "$d/sandbox")"
kubectl apply -f deploy/crds/ -f tests/data/crds/httproute.yaml >/dev/null
kubectl wait --for condition=established --timeout=30s crd/applications.sluice.dev \
	crd/rollouts.sluice.dev crd/canarypolicies.sluice.dev crd/httproutes.gateway.networking.k8s.io >/dev/null
say "kubectl talks to it: KUBECONFIG=$KUBECONFIG"

step "Prometheus, scraping every demo pod once a second"
prom=$(tests/sandbox/prometheus up "$d/prometheus" --file-sd "$d/sandbox/targets.json" | tail -n 1)
say "$prom"

step "a Git repository with the shop: examples/shop/ (Deployment, Service, HTTPRoute, Rollout)"
G="git -c user.name=Demo -c user.email=demo@example.com -c init.defaultBranch=main"
git init -q --bare "$d/shop.git"
$G init -q "$d/work"
mkdir "$d/work/apps"
cp examples/shop/*.yaml "$d/work/apps/"
commit() { (cd "$d/work" && $G add -A && $G commit -q -m "$1" && git push -q "$d/shop.git" HEAD:main); }
commit "web v1"
git -C "$d/shop.git" symbolic-ref HEAD refs/heads/main
(cd "$d/work" && git log --oneline | sed 's/^/   /' && ls apps | sed 's/^/     apps\//')
kubectl create namespace shop >/dev/null
cat <<Y | tee "$d/application.yaml" | sed 's/^/   | /'
apiVersion: sluice.dev/v1alpha1
kind: Application
metadata: {name: shop, namespace: shop}
spec:
  source: {repoURL: "$d/shop.git", path: apps}
  syncPolicy: {interval: 1m}
Y
kubectl apply -f "$d/application.yaml" >/dev/null

step "sluiced: syncs the Application and runs its rollouts"
"$root/$BUILD/bin/sluiced" --cache-dir "$d/cache" --kubeconfig "$KUBECONFIG" --http-addr 127.0.0.1:0 \
	--prometheus-url "$prom" 2>"$d/sluiced.log" &
echo $! >"$d/sluiced.pid"
until_ 60 '[ "$(ro .status.phase)" = Healthy ]'
kubectl rollout status deployment/web -n shop --timeout=90s >/dev/null
kubectl get deployments,services,httproutes,rollouts -n shop 2>&1 | sed 's/^/   /'

step "nginx, programmed from the HTTPRoute, and 40 requests a second through it"
url=$(tests/sandbox/gateway up "$d/gateway" --httproute shop/web | tail -n 1)
tests/sandbox/load run "$url/" --rps 40 --out "$d/load.jsonl" 2>"$d/load.log" &
echo $! >"$d/load.pid"
say "$url -> $(curl -s -D - -o /dev/null "$url/" | tr -d '\r' | awk -F': ' 'tolower($1) == "x-sandbox-version" { print "answered by " $2 }')"

follow() {
	local last= cur
	while sleep 0.5; do
		cur=$(ro '.status.phase} {.status.currentStep} {.status.desiredWeight} {.status.actualWeight')
		[ "$cur" = "$last" ] && continue
		last=$cur
		echo
		"$sluice" status web -n shop --no-color | sed 's/^/   | /'
	done
}

# rollout VERSION MESSAGE [ENV-SED]: commit a new image, have it synced, watch it
rollout() {
	local v=$1 msg=$2 extra=${3:-}
	sed -i "s|image: demoapp:.*|image: demoapp:$v|$extra" "$d/work/apps/deployment.yaml"
	(cd "$d/work" && git diff --stat | sed 's/^/   /' && git diff -U0 | grep '^[-+] ' | sed 's/^/   /')
	commit "$msg"
	say "git commit -m \"$msg\"; sluice sync shop --wait"
	t_commit=$(now_ms)
	"$sluice" sync shop -n shop --wait --timeout 60s | sed 's/^/   /'
	if [ -t 1 ]; then
		say "sluice status web --watch:"
		"$sluice" status web -n shop --watch &
	else # a log, not a screen: sluice status at each change of phase, step or weight
		follow &
	fi
	watch_pid=$!
	set +e
	"$sluice" status web -n shop --wait --timeout 5m >/dev/null
	wait_rc=$?
	set -e
	sleep 1.5 # the watch's last screen
	kill "$watch_pid" 2>/dev/null
	wait "$watch_pid" 2>/dev/null || true
	watch_pid=
	t_end=$(now_ms)
	echo
}

# ---------------------------------------------------------------------------
step "v2, healthy: 10% -> 25% -> 50% -> 100%, the analysis passing, promoted"
rollout v2 "web v2: faster checkout"
v2_rc=$wait_rc v2_ms=$((t_end - t_commit))
v2_phase=$(ro .status.phase) v2_result=$(ro '.status.history[0].result')
say "${b}$v2_result in $((v2_ms / 1000)) s${n}: the stable Deployment runs $(kubectl get deploy web -n shop -o jsonpath='{.spec.template.spec.containers[0].image}')"
[ "$v2_rc" = 0 ] && [ "$v2_result" = Promoted ] || { echo "demo: v2 was not promoted: $(ro .status.message)" >&2; exit 1; }
v2_window="$((t_commit / 1000)) $((t_end / 1000))"

step "v3, failing 30% of its requests: rolled back by the analysis"
rollout v3 "web v3: new payment client" '; s|{name: DEMO_ERROR_RATE, value: "0"}|{name: DEMO_ERROR_RATE, value: "0.3"}|'
v3_rc=$wait_rc v3_ms=$((t_end - t_commit))
v3_result=$(ro '.status.history[0].result')
say "${b}$v3_result in $((v3_ms / 1000)) s${n}: $(ro .status.message | sed 's/^RolledBack: //')"
say "the stable Deployment still runs $(kubectl get deploy web -n shop -o jsonpath='{.spec.template.spec.containers[0].image}')"
[ "$v3_rc" = 1 ] && [ "$v3_result" = RolledBack ] || { echo "demo: v3 was not rolled back: $(ro .status.message)" >&2; exit 1; }
v3_window="$((t_commit / 1000)) $((t_end / 1000))"

step "a broken commit: rejected, nothing applied"
# the rolled-back canary has gone (its pods stay a moment, for requests
# nginx sent before it took weight 0 in)
until_ 60 '[ -z "$(ro .status.scaleDownAt)" ]'
# what Git's objects hold: the specs' generations and the Service (controllers
# still write the retired canary's status meanwhile, which is not Git's)
git_objects() {
	kubectl get deployment/web httproute/web rollout/web service/web -n shop \
		-o jsonpath='{range .items[*]}{.kind}/{.metadata.generation}/{.spec.template.spec.containers[0].image}/{.spec.selector} {end}'
}
git_before=$(git_objects)
printf '  extra: [unclosed\n' >>"$d/work/apps/service.yaml"
sed -i "s|image: demoapp:.*|image: demoapp:v4|" "$d/work/apps/deployment.yaml"
commit "web v4 (and a typo)"
say "git commit -m \"web v4 (and a typo)\"; sluice sync shop --wait"
set +e
"$sluice" sync shop -n shop --wait --timeout 60s 2>&1 | sed 's/^/   /'
set -e
git_after=$(git_objects)
if [ "$git_before" = "$git_after" ]; then
	say "no object of the shop changed (generations, image, Service selector); the stable Deployment runs $(kubectl get deploy web -n shop -o jsonpath='{.spec.template.spec.containers[0].image}')"
else
	echo "demo: the broken commit changed the cluster" >&2
	exit 1
fi
(cd "$d/work" && $G revert --no-edit HEAD >/dev/null && git push -q "$d/shop.git" HEAD:main)
"$sluice" sync shop -n shop --wait --timeout 60s >/dev/null
say "reverted in Git; synced again"

# ---------------------------------------------------------------------------
step "what the clients saw (counted by the load generator at nginx)"
kill "$(cat "$d/load.pid")"
wait "$(cat "$d/load.pid")" 2>/dev/null || true
python3 - "$d/gateway/history.jsonl" "$d/load.jsonl" $v2_window $v3_window <<'PY'
import json, sys
hist = [json.loads(l) for l in open(sys.argv[1])]
load = [json.loads(l) for l in open(sys.argv[2])]
v2 = (int(sys.argv[3]), int(sys.argv[4]))
v3 = (int(sys.argv[5]), int(sys.argv[6]))

def count(since, until):
    by, n, bad = {}, 0, 0
    for l in load:
        if since <= l["t"] < until:
            for v, codes in l["versions"].items():
                for code, k in codes.items():
                    by[v] = by.get(v, 0) + k
                    n += k
                    if not code.startswith("2"):
                        bad += k
    return by, n, bad

def steps(window, new):
    # each reload of nginx inside the window: its canary weight, until the next
    out = []
    for i, h in enumerate(hist):
        if not window[0] <= h["time"] <= window[1] + 5:
            continue
        w = h["weights"][0] if h["weights"] else {}
        canary = w.get("web-canary", 0)
        total = sum(w.values()) or 1
        end = hist[i + 1]["time"] if i + 1 < len(hist) else window[1]
        # whole seconds inside the period, the reload's own second left out
        a, b = int(h["time"]) + 1, int(end)
        if b - a < 2:
            continue
        by, n, bad = count(a, b)
        out.append((100.0 * canary / total, by.get(new, 0) / n if n else 0, n, bad / n if n else 0, b - a))
    return out

print("   %-28s %10s %10s %9s %9s" % ("nginx routed to the canary", "served by", "requests", "failed", "seconds"))
for name, window, new in (("v2", v2, "v2"), ("v3", v3, "v3")):
    for w, share, n, bad, secs in steps(window, new):
        label = "%s: %g%%" % (name, w) if w else "%s: stable only" % name
        print("   %-28s %9.1f%% %10d %8.1f%% %9d" % (label, 100 * share, n, 100 * bad, secs))
served = [h["time"] for h in hist if v3[0] <= h["time"] <= v3[1] + 5 and h["weights"]
          and h["weights"][0].get("web-canary", 0) > 0]
ended = [h["time"] for h in hist if served and h["time"] > served[0] and h["weights"]
         and h["weights"][0].get("web-canary", 0) == 0]
if served and ended:
    print("\n   nginx sent requests to v3 for %.1f s (from its first reload with v3 to the one without)"
          % (ended[0] - served[0]))
by, n, bad = count(v3[0], v3[1] + 1)
print("\n   during the v3 rollout %d requests, %.1f%% failed; without the canary analysis every" % (n, 100.0 * bad / n if n else 0))
print("   request would have met v3's 30% failure rate once it was promoted.")
PY

step "sluice history web, sluice stats"
"$sluice" history web -n shop | sed 's/^/   /'
echo
"$sluice" stats -n shop | sed 's/^/   /'

step "summary"
say "v2 (healthy):          $v2_result in $((v2_ms / 1000)) s, from the commit to 100% on the stable Deployment"
say "v3 (30% errors):       $v3_result in $((v3_ms / 1000)) s, from the commit; the stable Deployment never changed"
say "v4 (broken manifest):  rejected in one line, no object changed"
say "the whole demo:        $(($(date +%s) - t_start)) s"
if [ "$keep" = 1 ]; then
	cat <<T

   Still running (DEMO_KEEP=1):
     export KUBECONFIG=$KUBECONFIG
     $sluice status web -n shop --watch
     git -C $d/work commit ...; git -C $d/work push $d/shop.git HEAD:main
     $url                                         # nginx
     $prom                                        # Prometheus
   Stop it all: scripts/demo.sh down $d
T
else
	say "stopping everything"
fi
