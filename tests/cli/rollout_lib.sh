# Shared by the rollout tests (sourced after lib.sh): a sandbox with sluice's
# CRDs, a Git repository of one app (Deployment web, Service web, and the
# Rollout the test writes), an Application syncing it, and helpers to run
# sluiced, push commits through its signed webhook and read the Rollout.
#
#   rollout_setup NAME [CRD FILE...]  sandbox up, CRDs, the repository with
#                                     web:1 and the Service; then the test
#                                     writes $tmp/work/apps/rollout.yaml
#   rollout_first_commit              commit, namespace shop, the Application
#   cleanup_extra                     define it to stop what the test started
#
# Opt-in, for tests that need them: set repo_url (default $bare: where the
# Application fetches from and what push's webhook names) and source_extra
# (appended to the Application's spec.source, e.g. ", secretRef: {name: x}")
# before rollout_first_commit; define rollout_before_app to create what the
# Application needs in namespace shop (a Secret); record FILE KIND NAME
# JSONPATH keeps one line per write of an object (a watch; a plain path, as
# kubectl's watch prints a {range} template only once), and lines_since FILE
# MARK prints its lines from line MARK on (MARK=$(wc -l <FILE): the state at
# the mark, then each write after it), repeats of a line dropped.
if ! command -v kubectl >/dev/null; then
	skip "$(basename "$0")" "kubectl not installed"
	exit 0
fi
tmp=$(mktemp -d)
sbx="$tmp/sandbox"
pid=
port=
G="git -c user.name=Dev -c user.email=dev@example.com -c init.defaultBranch=main"
bare="$tmp/shop.git"
repo_url=
source_extra=
recorders=()
cleanup_extra() { :; }
rollout_before_app() { :; }
rollout_cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null
	local r
	for r in "${recorders[@]}"; do kill "$r" 2>/dev/null; done
	cleanup_extra
	tests/sandbox/sandbox down "$sbx" >/dev/null 2>&1
	cat "$tmp"/ctl*.log >"/tmp/$(basename "$0" .sh)-ctl.log" 2>/dev/null
	rm -rf "$tmp"
}
trap rollout_cleanup EXIT

rollout_setup() {
	local crds=(-f deploy/crds/) names=(crd/applications.sluice.dev crd/rollouts.sluice.dev
		crd/canarypolicies.sluice.dev) f
	shift
	for f in "$@"; do
		crds+=(-f "$f")
		names+=("crd/$(sed -n 's/^  name: //p' "$f" | head -n 1)")
	done
	tests/sandbox/sandbox up "$sbx" >/dev/null || { not_ok "sandbox up"; exit 1; }
	eval "$(tests/sandbox/sandbox env "$sbx")"
	kubectl apply "${crds[@]}" >/dev/null
	kubectl wait --for condition=established "${names[@]}" --timeout=30s >/dev/null
	git init -q --bare "$bare"
	$G init -q "$tmp/work"
	mkdir -p "$tmp/work/apps"
	web web:1
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
}

web() { # web IMAGE [unready]: the Deployment, as Git holds it
	cat >"$tmp/work/apps/web.yaml" <<Y
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 4
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
$([ "${2:-}" = unready ] && printf '      annotations: {sandbox.sluice.dev/ready: "false"}\n')
    spec:
      containers:
        - name: web
          image: $1
Y
}

commit() { (cd "$tmp/work" && $G add -A && $G commit -q -m "$1" && git push -q "$bare" HEAD:main); }

rollout_first_commit() {
	commit "web v1"
	git -C "$bare" symbolic-ref HEAD refs/heads/main
	kubectl create namespace shop >/dev/null
	rollout_before_app
	cat <<Y | kubectl apply -f - >/dev/null
apiVersion: sluice.dev/v1alpha1
kind: Application
metadata: {name: shop, namespace: shop}
spec:
  source: {repoURL: "${repo_url:-$bare}", path: apps$source_extra}
  syncPolicy: {interval: 1h}
Y
}

start() { # start N: sluiced in Application mode, logging to $tmp/ctlN.log
	"$SLUICED" --cache-dir "$tmp/cache" --kubeconfig "$KUBECONFIG" --http-addr 127.0.0.1:0 \
		--webhook-secret-file <(printf s3cret) 2>>"$tmp/ctl$1.log" &
	pid=$!
	for _ in $(seq 1 100); do grep -q '"msg":"http: listening"' "$tmp/ctl$1.log" && break; sleep 0.1; done
	port=$(python3 -c 'import json,sys
for l in open(sys.argv[1]):
    d=json.loads(l)
    if d.get("msg")=="http: listening": p=d["port"]
print(p)' "$tmp/ctl$1.log")
}

push() { # push MESSAGE: commit and tell sluiced through its signed webhook
	commit "$1"
	notify
}

notify() { # tell sluiced through its signed webhook that main moved, as a Git server would
	local body sig
	body="{\"ref\":\"refs/heads/main\",\"repository\":{\"clone_url\":\"${repo_url:-$bare}\"}}"
	sig=$(printf '%s' "$body" | openssl dgst -sha256 -hmac s3cret | sed 's/^.*= //')
	curl -s -o /dev/null -H "X-Hub-Signature-256: sha256=$sig" --data-binary "$body" "http://127.0.0.1:$port/hooks/git"
}

ro() { kubectl get rollout web -n shop -o jsonpath="{$1}" 2>/dev/null; }
image() { kubectl get deploy "$1" -n shop -o jsonpath='{.spec.template.spec.containers[0].image}' 2>/dev/null; }
canary_replicas() { kubectl get deploy web-canary -n shop -o jsonpath='{.spec.replicas}' 2>/dev/null; }
phase_is() { [ "$(ro .status.phase)" = "$1" ]; }
until_() { # until_ SECONDS 'SHELL CONDITION': evaluate it every 0.2 s
	local n=$(($1 * 5)); shift
	for _ in $(seq 1 $n); do eval "$*" && return 0; sleep 0.2; done
	return 1
}
weights=()
watch_weights() { # record each distinct status.desiredWeight until phase is $1 (max $2 s)
	local w p last=x
	for _ in $(seq 1 $(($2 * 10))); do
		IFS=/ read -r p w < <(ro '.status.phase}/{.status.desiredWeight')
		[ -n "$w" ] && [ "$w" != "$last" ] && { weights+=("$w"); last=$w; }
		[ "$p" = "$1" ] && return 0
		sleep 0.1
	done
	return 1
}

record() { # record FILE KIND NAME JSONPATH: a line into FILE for each write of the object in shop
	local file=$1
	kubectl get "$2" "$3" -n shop -w -o jsonpath="$4{\"\\n\"}" >"$file" 2>/dev/null &
	recorders+=($!)
	until_ 10 'test -s "$file"' # the object as it is now: the first line
}
lines_since() { # lines_since FILE MARK: the lines from line MARK on, repeats of a line dropped
	tail -n +"$2" "$1" | uniq
}

# analysis_setup QUERY: the exporter (healthy: web 100 rps, web-canary 50,
# no errors) and a Prometheus scraping it; sets eport, prom_url, exp and
# SLUICE_PROMETHEUS_URL, defines control JSON (the exporter's knobs), and
# waits until QUERY has a value. Stop them with analysis_cleanup.
analysis_setup() {
	python3 tests/sandbox/exporter.py --port-file "$tmp/exporter.port" >"$tmp/exporter.log" 2>&1 &
	exp=$!
	for _ in $(seq 1 50); do [ -s "$tmp/exporter.port" ] && break; sleep 0.1; done
	eport=$(cat "$tmp/exporter.port")
	control '{"version":"web-canary","rps":50,"error_rate":0.0,"latency_ms":20}'
	control '{"version":"web","rps":100,"error_rate":0.0,"latency_ms":20}'
	prom_url=$(tests/sandbox/prometheus up "$tmp/prom" "127.0.0.1:$eport" | tail -n 1)
	export SLUICE_PROMETHEUS_URL=$prom_url
	for _ in $(seq 1 100); do
		curl -sf "$prom_url/api/v1/query" --data-urlencode "query=$1" | grep -q '"value"' && break
		sleep 0.2
	done
}
control() { curl -sf -X POST -d "$1" "http://127.0.0.1:$eport/control" >/dev/null; }
analysis_cleanup() {
	[ -n "${exp:-}" ] && kill "$exp" 2>/dev/null
	tests/sandbox/prometheus down "$tmp/prom" >/dev/null 2>&1
}

# The canary's weight as a router's own objects hold it, for the routers that
# write weights (gatewayAPI, nginx), one word per state: the web-canary
# weight; "-" when the router routes nothing to a canary (no web-canary
# backendRef in HTTPRoute web, no Ingress web-canary); anything else verbatim
# (e.g. "web=70 web-canary=20", "notcanary:20"), so it fails any comparison.
#
#   canary_record ROUTER   a watch: a line into $tmp/canary.ROUTER.log for each write
#   canary_now ROUTER      the state as the API holds it now
#   canary_mark ROUTER     the log's line count, once its last line is the state now
#   canary_since ROUTER MARK  the states from MARK on ("A B C"), repeats dropped
canary_record() {
	case $1 in
	gatewayAPI) record "$tmp/canary.$1.log" httproute web '{.spec.rules[0].backendRefs}' ;;
	nginx) # a watch on the name: the Ingress comes and goes, and DELETED must show
		kubectl get ingress -n shop --field-selector metadata.name=web-canary -w --output-watch-events \
			-o jsonpath='{.type} {.object.metadata.annotations.nginx\.ingress\.kubernetes\.io/canary}/{.object.metadata.annotations.nginx\.ingress\.kubernetes\.io/canary-weight}{"\n"}' \
			>"$tmp/canary.$1.log" 2>/dev/null &
		recorders+=($!)
		sleep 1 # the watch is open (an Ingress there now is its first line)
		;;
	esac
}
canary_words() { # the log lines on stdin, one word each (see above)
	case $1 in
	gatewayAPI) jq -r '(map({(.name): (.weight // "")}) | add // {}) as $w |
		if $w["web-canary"] == null then (if ($w.web // "") == "" then "-" else "web=\($w.web)" end)
		elif ($w["web-canary"] | type) == "number" and $w.web == 100 - $w["web-canary"] then "\($w["web-canary"])"
		else "web=\($w.web) web-canary=\($w["web-canary"])" end' ;;
	nginx) awk '$1 == "DELETED" { print "-"; next }
		{ split($2, a, "/"); print (a[1] == "true" ? a[2] : "notcanary:" a[2]) }' ;;
	esac
}
canary_now() {
	local v
	case $1 in
	gatewayAPI) kubectl get httproute web -n shop -o jsonpath='{.spec.rules[0].backendRefs}' 2>/dev/null | canary_words "$1" ;;
	nginx)
		if v=$(kubectl get ingress web-canary -n shop -o jsonpath='ADDED {.metadata.annotations.nginx\.ingress\.kubernetes\.io/canary}/{.metadata.annotations.nginx\.ingress\.kubernetes\.io/canary-weight}' 2>/dev/null); then
			echo "$v" | canary_words nginx
		else
			echo -
		fi
		;;
	esac
}
canary_last() { # the log's state at line $2 (0: before its first line, nothing routed)
	if [ "$2" = 0 ]; then echo -; else sed -n "$2p" "$tmp/canary.$1.log" | canary_words "$1"; fi
}
canary_mark() {
	local m
	for _ in $(seq 1 25); do
		m=$(wc -l <"$tmp/canary.$1.log")
		[ "$(canary_last "$1" "$m")" = "$(canary_now "$1")" ] && break
		sleep 0.2
	done
	echo "$m"
}
canary_since() {
	{
		canary_last "$1" "$2"
		tail -n +"$(($2 + 1))" "$tmp/canary.$1.log" | canary_words "$1"
	} | uniq | tr '\n' ' ' | sed 's/ $//'
}

# revert_case ROUTER BAD GOOD: with rollbackPolicy revertCommit, a commit of
# image BAD whose pods never get ready is rolled back at the deadline (no
# canary traffic left), reverted in Git and pushed, and synced back: Git and
# the cluster (image GOOD) agree again. The running rollout is promoted first.
revert_case() {
	local router=$1 bad_img=$2 good_img=$3 bad
	kubectl annotate rollout web -n shop --overwrite "sluice.dev/action=promote-full $(date +%s%N)" >/dev/null
	until_ 60 phase_is Healthy
	sed -i 's/^  scaleDownDelaySeconds: 1$/  scaleDownDelaySeconds: 1\n  rollbackPolicy: revertCommit/' "$tmp/work/apps/rollout.yaml"
	push "rollout: revert failed commits"
	until_ 30 'test "$(ro .spec.rollbackPolicy)" = revertCommit'
	web "$bad_img" unready
	push "$bad_img (never ready)"
	bad=$(git -C "$bare" rev-parse main)
	until_ 60 phase_is RolledBack
	until_ 30 'test -n "$(ro .status.revert.commit)$(ro .status.revert.error)"'
	kubectl annotate application shop -n shop --overwrite "sluice.dev/sync-requested-at=$(date +%s%N)" >/dev/null
	until_ 30 phase_is Healthy
	until_ 10 'test "$(canary_now "$router")" = -'
	if [ "$(git -C "$bare" log -1 --format=%s main)" = "Revert \"$bad_img (never ready)\"" ] &&
		[ "$(ro .status.revert.commit)" = "$(git -C "$bare" rev-parse main)" ] &&
		[ "$(ro .status.revert.reverted)" = "$bad" ] && [ "$(image web)" = "$good_img" ] &&
		[ "$(canary_now "$router")" = - ] && phase_is Healthy; then
		ok "$router: revertCommit: the rolled-back commit is reverted in Git and pushed, no canary traffic left; Git and cluster agree again ($good_img)"
	else
		not_ok "$router: revertCommit" "$(git -C "$bare" log -3 --format='%h %s' main)" "canary: $(canary_now "$router")" "$(ro .status)"
	fi
}
