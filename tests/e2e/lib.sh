# The end-to-end suite's setup (sourced by tests/e2e/test_*.sh, after which
# the test runs scenarios in sequence on ONE sandbox): the shop example
# (examples/shop: Deployment web running demoapp x4 as real processes,
# Service, HTTPRoute, Rollout with gatewayAPI router and analysis) in a Git
# repository, an Application syncing it, sluiced told of each push through its
# signed webhook; a real nginx programmed from the HTTPRoute (the gateway
# stand-in), steady load through nginx counted per second by version and
# status, and a real Prometheus scraping the demoapp pods (file_sd from the
# kubelet stand-in), reached through a TCP relay on a fixed port (as a
# Service in front of Prometheus would be), so Prometheus can be stopped and
# started again on a new port while sluiced keeps its URL.
#
#   e2e_setup                 all of the above, v1 Healthy, load running
#   shop_version VER [ERR [LATENCY_MS]]
#                             write apps/deployment.yaml: image demoapp:VER, env
#   push MESSAGE              commit, push to the bare repo, signed webhook
#   start_ctl ID [ARGS...]    a sluiced (log $tmp/ctl-ID.log); sets port, pid
#   hist_words [SINCE]        the canary weights nginx was programmed with
#                             (from the gateway's history.jsonl), one word per
#                             reload: N = web-canary's weight, "-" none
#   api_since MARK            the same from the API (a watch on the route)
#   shares FROM UNTIL [MARGIN] the load's report over the whole seconds inside
#                             [FROM+MARGIN, UNTIL-MARGIN] (epoch s; margin 1)
#   on any not_ok, the logs are kept in /tmp/e2e-NAME/ (NAME: the test's name)
. "$(dirname "${BASH_SOURCE[0]}")/../cli/lib.sh"
for b in kubectl jq openssl curl /usr/sbin/nginx /usr/bin/prometheus; do
	if ! command -v "$b" >/dev/null; then
		skip "$(basename "$0")" "$b not installed"
		exit 0
	fi
done
. tests/cli/rollout_lib.sh # tmp, sbx, bare, G, commit, notify, ro, image, until_, record, canary_*

E2E_NAME=$(basename "$0" .sh)
DEMOAPP="$PWD/$BUILD/examples/demoapp"
[ -x "$DEMOAPP" ] || make --no-print-directory BUILD="$BUILD" "$BUILD/examples/demoapp" >/dev/null
export SANDBOX_DEMOAPP=$DEMOAPP
LOAD=tests/sandbox/load
RPS=${E2E_RPS:-100}
failures=0
not_ok() {
	failures=$((failures + 1))
	n=$((n + 1))
	echo "not ok $n - $1"
	shift
	local l
	for l in "$@"; do printf '%s\n' "${l:0:4000}" | sed 's/^/#   /'; done
}
declare -A cpid
load_pid=
relay_pid=
cleanup_extra() {
	local p keep="/tmp/e2e-$E2E_NAME"
	[ -n "$load_pid" ] && kill "$load_pid" 2>/dev/null
	for p in "${cpid[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${cpid[@]}"; do wait "$p" 2>/dev/null; done
	tests/sandbox/gateway down "$tmp/gw" >/dev/null 2>&1
	tests/sandbox/prometheus down "$tmp/prom" >/dev/null 2>&1
	[ -n "$relay_pid" ] && kill "$relay_pid" 2>/dev/null
	if [ "$failures" -gt 0 ]; then
		rm -rf "$keep"
		mkdir -p "$keep"
		cp "$tmp"/ctl*.log "$tmp/load.jsonl" "$tmp"/*.log "$keep/" 2>/dev/null
		cp "$tmp/gw/history.jsonl" "$tmp/gw/gateway.log" "$sbx/kubelet.log" "$keep/" 2>/dev/null
		echo "# logs kept in $keep"
	fi
	[ -n "$load_pid" ] && wait "$load_pid" 2>/dev/null
}

# ---- the shop in Git ----------------------------------------------------------
shop_version() { # shop_version VER [ERROR_RATE [LATENCY_MS]]
	sed -i -e "s|image: demoapp:.*|image: demoapp:$1|" \
		-e "s|{name: DEMO_ERROR_RATE, value: \"[^\"]*\"}|{name: DEMO_ERROR_RATE, value: \"${2:-0}\"}|" \
		-e "s|{name: DEMO_LATENCY_MS, value: \"[^\"]*\"}|{name: DEMO_LATENCY_MS, value: \"${3:-20}\"}|" \
		"$tmp/work/apps/deployment.yaml"
}
push() { commit "$1" && notify; }

# ---- controllers ------------------------------------------------------------------
start_ctl() { # start_ctl ID [ARGS...]: sluiced in Application mode; port and pid are the newest
	local id=$1
	shift
	"$SLUICED" --cache-dir "$tmp/cache-$id" --kubeconfig "$KUBECONFIG" --http-addr 127.0.0.1:0 \
		--webhook-secret-file <(printf s3cret) "$@" 2>>"$tmp/ctl-$id.log" &
	cpid[$id]=$!
	pid=
	until_ 20 "grep -q '\"msg\":\"http: listening\"' '$tmp/ctl-$id.log'"
	cport[$id]=$(jq -r 'select(.msg == "http: listening") | .port' "$tmp/ctl-$id.log" | tail -n 1)
	port=${cport[$id]}
}
declare -A cport
kill_ctl() { # kill_ctl ID SIGNAL
	kill "-$2" "${cpid[$1]}" 2>/dev/null
	wait "${cpid[$1]}" 2>/dev/null
	unset "cpid[$1]"
}
holder() { kubectl get lease sluiced -n sluice-system -o jsonpath='{.spec.holderIdentity}' 2>/dev/null; }
log_ms() { # log_ms ID MSG T0MS: ms from T0MS to ID's first log line MSG after it
	python3 - "$tmp/ctl-$1.log" "$2" "$3" <<'P'
import datetime, json, sys
t0 = int(sys.argv[3])
for line in open(sys.argv[1]):
    try:
        d = json.loads(line)
    except ValueError:
        continue
    if d.get("msg") != sys.argv[2]:
        continue
    t = datetime.datetime.strptime(d["ts"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
    if round(t.timestamp() * 1000) >= t0:
        print(round(t.timestamp() * 1000) - t0)
        break
P
}

# ---- Prometheus behind a relay on a fixed port ------------------------------------
prom_relay() { # a TCP relay on a free port to whatever port $tmp/prom/prometheus.port names now
	python3 tests/sandbox/relay.py "@$tmp/prom/prometheus.port" "$tmp/relay.port" &
	relay_pid=$!
	until_ 10 'test -s "$tmp/relay.port"'
	export SLUICE_PROMETHEUS_URL="http://127.0.0.1:$(cat "$tmp/relay.port")"
}
prom_up() { tests/sandbox/prometheus up "$tmp/prom" --file-sd "$sbx/targets.json" >/dev/null; }
promq() { # promq QUERY: the value of a one-series result, empty when none
	curl -sf --max-time 5 "$SLUICE_PROMETHEUS_URL/api/v1/query" --data-urlencode "query=$1" 2>/dev/null |
		jq -r '.data.result[0].value[1] // empty' 2>/dev/null
}

# ---- what nginx routed, what the client saw ------------------------------------------
# hist_lines [SINCE]: "TIME WORD" per reload of nginx (WORD as canary_words: the
# web-canary weight, "-" when the route has no canary backend), reloads that
# left the weights as they were dropped
hist_lines() {
	jq -r --argjson since "${1:-0}" 'select(.time >= $since) | "\(.time) " +
		(.weights[0] as $w | if $w["web-canary"] == null then "-"
		 elif $w.web == 100 - $w["web-canary"] then "\($w["web-canary"])"
		 else "web=\($w.web)/web-canary=\($w["web-canary"])" end)' "$tmp/gw/history.jsonl" |
		awk '$2 != last { print; last = $2 }'
}
hist_words() { hist_lines "${1:-0}" | awk '{ print $2 }' | tr '\n' ' ' | sed 's/ $//'; }
# the route's weights as the API held them, from the watch's line MARK on
api_since() { canary_since gatewayAPI "$1"; }
api_mark() { canary_mark gatewayAPI; }
# shares FROM UNTIL [MARGIN]: the load's totals over the whole seconds inside
# [FROM+MARGIN, UNTIL-MARGIN] (default 1 s: nginx's reload, answers in flight)
shares() {
	local s u
	s=$(python3 -c 'import math,sys; print(math.ceil(float(sys.argv[1]) + float(sys.argv[2])))' "$1" "${3:-1}")
	u=$(python3 -c 'import math,sys; print(math.floor(float(sys.argv[1]) - float(sys.argv[2])))' "$2" "${3:-1}")
	$LOAD report "$tmp/load.jsonl" --since "$s" --until "$u"
}
jget() { # jget PATH: a field of the JSON on stdin (dot path), 0 when absent
	jq -r "(.${1}) // 0"
}
# within VALUE EXPECTED TOL: |VALUE - EXPECTED| <= TOL (decimals)
within() { python3 -c 'import sys; v,e,t=map(float,sys.argv[1:]); sys.exit(0 if abs(v-e)<=t else 1)' "$@"; }
# binom_tol P N K: K standard deviations of a share P measured over N requests
binom_tol() { python3 -c 'import math,sys; p,n,k=map(float,sys.argv[1:]); print(round(k*math.sqrt(p*(1-p)/max(n,1)), 4))' "$@"; }
now() { date +%s.%N; }

# ---- setup ----------------------------------------------------------------------------
e2e_setup() {
	local t0=$SECONDS
	tests/sandbox/sandbox up "$sbx" >/dev/null || { not_ok "sandbox up" "$(tail -n 20 "$sbx"/*.log 2>/dev/null)"; exit 1; }
	eval "$(tests/sandbox/sandbox env "$sbx")"
	kubectl apply -f deploy/crds/ -f tests/data/crds/httproute.yaml >/dev/null
	kubectl wait --for condition=established crd/applications.sluice.dev crd/rollouts.sluice.dev \
		crd/canarypolicies.sluice.dev crd/httproutes.gateway.networking.k8s.io --timeout=30s >/dev/null
	kubectl create namespace sluice-system >/dev/null # the Lease's namespace out of a cluster
	prom_relay
	prom_up || { not_ok "Prometheus up" "$(tail -n 20 "$tmp/prom/prometheus.log")"; exit 1; }

	git init -q --bare "$bare"
	$G init -q "$tmp/work"
	mkdir -p "$tmp/work/apps"
	cp examples/shop/*.yaml "$tmp/work/apps/"
	e2e_shop_edit # the test's changes to its copy (e.g. shorter pauses)
	commit "shop v1"
	git -C "$bare" symbolic-ref HEAD refs/heads/main
	kubectl create namespace shop >/dev/null
	cat <<Y | kubectl apply -f - >/dev/null
apiVersion: sluice.dev/v1alpha1
kind: Application
metadata: {name: shop, namespace: shop}
spec:
  source: {repoURL: "$bare", path: apps}
  syncPolicy: {interval: 1h}
Y
	start_ctl 1
	until_ 90 'phase_is Healthy && test "$(kubectl get deploy web -n shop -o jsonpath={.status.readyReplicas})" = 4'
	gw_url=$(tests/sandbox/gateway up "$tmp/gw" --httproute shop/web 2>"$tmp/gw-up.log" | tail -n 1)
	[ -n "$gw_url" ] || { not_ok "gateway up" "$(cat "$tmp/gw-up.log")"; exit 1; }
	until_ 20 'test "$(curl -s -o /dev/null -w %{http_code} "$gw_url/")" = 200'
	$LOAD run "$gw_url/" --rps "$RPS" --timeout 5 --out "$tmp/load.jsonl" &
	load_pid=$!
	record "$tmp/canary.gatewayAPI.log" httproute web '{.spec.rules[0].backendRefs}'
	until_ 30 'test -n "$(promq "sum(rate(http_requests_total{namespace=\"shop\",pod=~\"web-.*\"}[10s]))")"'
	until_ 10 'test -s "$tmp/load.jsonl"'
	setup_s=$((SECONDS - t0))
	local up
	up=$(promq 'count(up{job="sandbox-pods",namespace="shop"} == 1)')
	if phase_is Healthy && [ "$(image web)" = demoapp:v1 ] && [ "$up" = 4 ] && [ -s "$tmp/load.jsonl" ] &&
		[ "$(hist_words)" = - ]; then
		ok "setup in ${setup_s} s: shop v1 Healthy (4 demoapp pods), nginx on $gw_url, $RPS req/s through it, Prometheus scraping 4 pods"
	else
		not_ok "setup: shop v1 Healthy behind nginx, load, Prometheus" "prometheus up: $up" "nginx: $(hist_words)" \
			"$(ro .status)" "$(kubectl get pods -n shop 2>&1)" "$(tail -n 5 "$tmp/gw-up.log")"
		exit 1
	fi
}
e2e_shop_edit() { :; }
