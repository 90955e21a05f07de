#!/usr/bin/env bash
# rollbackPolicy revertCommit end to end against a real HTTPS Git server
# (nginx + git-http-backend from tests/sandbox/gitservers: basic auth, a
# self-signed CA): the Application syncs over HTTPS with a Secret's
# credentials; a canary that never gets ready is rolled back at the progress
# deadline, sluice pushes a revert of the failed commit to the server's branch
# with those credentials, the Application syncs the revert, and the cluster
# stays on the stable template throughout. The password is in no log line,
# status or event.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/rollout_lib.sh"
git_up=$(tests/sandbox/gitservers up "$tmp/git" 2>&1)
case $? in
0) ;;
2) skip "$(basename "$0")" "$git_up"; exit 0 ;; # nginx, sshd or fcgiwrap not installed
*) not_ok "gitservers up" "$git_up"; exit 1 ;;
esac
cleanup_extra() { tests/sandbox/gitservers down "$tmp/git" >/dev/null 2>&1; }
eval "$(tests/sandbox/gitservers env "$tmp/git")"
password=$(cat "$GIT_HTTPS_PASSWORD_FILE")
bare="$GIT_REPOS/shop.git" # the server's repository; developers push to it directly
repo_url="$GIT_HTTPS_URL/shop.git"
source_extra=", secretRef: {name: shop-git}"
rollout_before_app() {
	kubectl create secret generic shop-git -n shop --from-literal=username="$GIT_HTTPS_USER" \
		--from-file=password="$GIT_HTTPS_PASSWORD_FILE" --from-file=caCert="$GIT_HTTPS_CA" >/dev/null
}
rollout_setup "$0"
cat >"$tmp/work/apps/rollout.yaml" <<'Y'
apiVersion: sluice.dev/v1alpha1
kind: Rollout
metadata:
  name: web
spec:
  targetRef: {name: web}
  service: web
  progressDeadlineSeconds: 8
  scaleDownDelaySeconds: 1
  rollbackPolicy: revertCommit
  steps:
    - setWeight: 50
    - pause: {}
Y
rollout_first_commit
app() { kubectl get application shop -n shop -o jsonpath="{$1}" 2>/dev/null; }
server() { git --git-dir="$bare" "$@" 2>/dev/null; }

start 1
until_ 60 phase_is Healthy
v1=$(server rev-parse main)
if [ "$(image web)" = web:1 ] && [ "$(app .status.sync.revision)" = "$v1" ] &&
	[ "$(ro .status.stable.commit)" = "$v1" ]; then
	ok "the Application syncs over HTTPS with the Secret's basic auth and CA"
else
	not_ok "the Application syncs over HTTPS" "$(app .status)" "$(ro .status)" "$(tail -n 5 "$tmp/ctl1.log")"
fi
# every write of web's pod template from here on, and what runs it now
record "$tmp/template.log" deploy web '{.spec.template}'
revision=$(kubectl get deploy web -n shop -o jsonpath='{.metadata.annotations.deployment\.kubernetes\.io/revision}')
stable_rs() { kubectl get rs -n shop -l 'app=web,!sluice.dev/canary' -o name 2>/dev/null; }
rs_before=$(stable_rs)

# web:2 never gets ready: rolled back at the deadline and reverted on the server
web web:2 unready
push "web v2 (never ready)"
bad=$(server rev-parse main)
until_ 60 phase_is RolledBack
until_ 30 'test -n "$(ro .status.revert.commit)$(ro .status.revert.error)"'
tip=$(server rev-parse main)
if [ "$(server log -1 --format=%s main)" = 'Revert "web v2 (never ready)"' ] &&
	[ "$(server log -1 --format=%an main)" = sluice ] &&
	[ "$(server rev-parse main~1)" = "$bad" ] &&
	server log -1 --format=%b main | grep -qx "This reverts commit $bad." &&
	server log -1 --format=%b main | grep -q '^sluice rolled it back: progress deadline' &&
	[ "$(ro .status.revert.commit)" = "$tip" ] && [ "$(ro .status.revert.reverted)" = "$bad" ] &&
	[ "$(server show main:apps/web.yaml)" = "$(server show "$v1:apps/web.yaml")" ]; then
	ok "the failed commit is reverted on the HTTPS server's main, with the Application's credentials ($(server log -1 --format='%h %s' main))"
else
	not_ok "the failed commit is reverted on the HTTPS server's main" "$(server log -3 --format='%h %an %s;' main | tr '\n' ' ')" "revert: $(ro .status.revert)" "$(grep -i revert "$tmp/ctl1.log" | tail -n 3)"
fi

# the server tells sluiced about the push, as a Git host's webhook would: the
# Application syncs the revert, and the cluster never left the stable template
notify
until_ 30 'test "$(app .status.sync.revision)" = "$tip"'
until_ 30 phase_is Healthy
templates=$(uniq "$tmp/template.log")
if [ "$(app .status.sync.revision)" = "$tip" ] && phase_is Healthy && [ "$(image web)" = web:1 ] &&
	[ "$(printf '%s\n' "$templates" | wc -l)" = 1 ] && [[ "$templates" != *web:2* ]] &&
	[ "$(kubectl get deploy web -n shop -o jsonpath='{.metadata.annotations.deployment\.kubernetes\.io/revision}')" = "$revision" ] &&
	[ "$(stable_rs)" = "$rs_before" ] &&
	[ "$(kubectl get deploy web -n shop -o jsonpath='{.status.availableReplicas}')" = 4 ] &&
	[ "$(canary_replicas)" = 0 ] && [ "$(ro .status.stable.commit)" = "$v1" ]; then
	ok "the Application syncs the revert; the Rollout is Healthy; web's pod template never changed (web:1, its first ReplicaSet)"
else
	not_ok "the Application syncs the revert; web stays on web:1" "app revision $(app .status.sync.revision), want $tip" "web's templates: $templates" "ReplicaSets: $(stable_rs | tr '\n' ' ') (were $rs_before)" "$(ro .status)"
fi
kill -TERM $pid; wait $pid 2>/dev/null; pid=

# the planted secret (the Git password) is nowhere: logs, status, events, and
# every CLI view of the app and the rollout (sluice diff reads the Git source
# with the same credentials)
cli() { "$SLUICE" "$@" --kubeconfig "$KUBECONFIG" 2>&1; }
views=$(cli get apps -A -o yaml; cli get rollouts -n shop -o json; cli status web -n shop;
	cli status web -n shop -o json; cli history web -n shop; cli stats -n shop -o json;
	cli diff shop -n shop; cli get apps -n shop -o wide)
leaks=$( (cat "$tmp"/ctl*.log; kubectl get rollout,application,events -n shop -o json; printf '%s\n' "$views") 2>/dev/null | grep -c -F "$password")
if [ "$leaks" = 0 ] && grep -q "$tip" <<<"$views"; then
	ok "the Git password is in no log line, status, event or CLI output (get, status, history, stats, diff)"
else
	not_ok "the Git password is in no log line, status, event or CLI output" "$leaks lines hold it" "$(head -c 2000 <<<"$views")"
fi
