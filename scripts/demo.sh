#!/usr/bin/env bash
# make demo: what sluice does today, on this machine, in a few minutes (the
# first run also builds the control plane once).
# It renders the example application the way sluiced loads a Git checkout,
# shows how bad input is reported, then runs the GitOps loop against a real
# control plane: a commit applied, drift healed, a bad commit rejected with
# the cluster untouched, a fix applied and what left Git pruned.
# Nothing is left running.
set -euo pipefail
cd "$(dirname "$0")/.."
sluice=bin/sluice
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
make --no-print-directory build/default/tests/kubelet-standin >/dev/null

if [ -t 1 ]; then b=$'\033[1m' n=$'\033[0m'; else b= n=; fi
step() { printf '\n%s== %s%s\n' "$b" "$*" "$n"; }

step "sluice version"
$sluice version

step "sluice render examples/   (the manifests a Git repository would hold)"
$sluice render examples/

step "sluice render examples/ -o json | the object list, as kubectl prints it"
$sluice render examples/ -o json | head -n 12
echo "    ..."

step "a bad commit: three broken files in a copy of examples/"
cp -r examples "$tmp/repo"
sed -i '0,/^  name: web$/s//  labels: {}/' "$tmp/repo/web/service.yaml"          # Service loses its name
printf '  extra: [unclosed\n' >>"$tmp/repo/web/config.yaml"                   # YAML syntax error
cp "$tmp/repo/web/deployment.yaml" "$tmp/repo/web/deployment-copy.yaml"      # the same Deployment twice
set +e
$sluice render "$tmp/repo" >/dev/null 2>"$tmp/err"
rc=$?
set -e
sed "s|$tmp/||g" "$tmp/err"
echo "exit status: $rc (1 = invalid manifests; a bad commit changes nothing)"

step "hostile input is bounded: a billion-laughs document"
{
	printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: lol}\ndata:\n'
	printf '  a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n'
	for i in 1 2 3 4 5 6 7 8 9; do
		p=$((i - 1))
		printf '  a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n' \
			$i $i $p $p $p $p $p $p $p $p $p $p
	done
} >"$tmp/bomb.yaml"
set +e
/usr/bin/time -f 'rejected in %e s, peak memory %M KiB' $sluice render "$tmp/bomb.yaml" 2>&1 >/dev/null | sed "s|$tmp/||g"
set -e

step "GitOps on a real control plane: starting the sandbox (etcd, kube-apiserver, controller-manager)"
sbx="$tmp/sandbox"
trap 'tests/sandbox/sandbox down "$sbx" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
tests/sandbox/sandbox up "$sbx"
eval "$(tests/sandbox/sandbox env "$sbx")"
G="git -c user.name=Demo -c user.email=demo@example.com -c init.defaultBranch=main"
git init -q --bare "$tmp/shop.git"
$G init -q "$tmp/work"
cp -r examples/web "$tmp/work/web"
# the sandbox has no Gateway API: the repository brings a minimal HTTPRoute CRD,
# which sluice applies (and waits for) before the HTTPRoute itself
cat >"$tmp/work/web/crd-httproute.yaml" <<'Y'
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: httproutes.gateway.networking.k8s.io
  annotations:
    api-approved.kubernetes.io: https://github.com/kubernetes-sigs/gateway-api/pull/1538
spec:
  group: gateway.networking.k8s.io
  names: {kind: HTTPRoute, listKind: HTTPRouteList, plural: httproutes, singular: httproute}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
Y
commit() { (cd "$tmp/work" && $G add -A && $G commit -q -m "$1" && git push -q "$tmp/shop.git" HEAD:main); }
commit "web 1.4.2"
git -C "$tmp/shop.git" symbolic-ref HEAD refs/heads/main
sync() {
	bin/sluiced --repo "$tmp/shop.git" --path web --app shop --once --cache-dir "$tmp/cache" \
		--kubeconfig "$KUBECONFIG" 2>&1 | python3 -c '
import json, sys
for line in sys.stdin:
    d = json.loads(line)
    extra = " ".join("%s=%s" % (k, v) for k, v in d.items() if k not in ("ts", "level", "msg", "app"))
    print("  sluiced: %-5s %s %s" % (d["level"], d["msg"], extra))'
}

step "sluiced --repo shop.git --path web --once   (commit: web 1.4.2)"
sync
kubectl rollout status deployment/web -n web --timeout=60s
kubectl get deployments,services,configmaps,httproutes -n web -l sluice.dev/app=shop

step "drift: someone scales by hand; the next sync puts back what Git says"
kubectl scale deployment/web -n web --replicas=9
sync
echo "  replicas now: $(kubectl get deployment web -n web -o jsonpath='{.spec.replicas}')"

step "a bad commit (replicas: -1): rejected by validation, the cluster keeps running 1.4.2"
sed -i 's/replicas: 4/replicas: -1/; s/web:1.4.2/web:1.5.0/' "$tmp/work/web/deployment.yaml"
commit "web 1.5.0 with a typo"
sync || true
echo "  image still: $(kubectl get deployment web -n web -o jsonpath='{.spec.template.spec.containers[0].image}')"

step "the fix, and the ConfigMap removed from Git: applied and pruned"
sed -i 's/replicas: -1/replicas: 4/' "$tmp/work/web/deployment.yaml"
rm "$tmp/work/web/config.yaml"
commit "web 1.5.0; settings moved out"
sync
echo "  image now: $(kubectl get deployment web -n web -o jsonpath='{.spec.template.spec.containers[0].image}')"
kubectl get configmaps -n web -l sluice.dev/app=shop 2>&1 | sed 's/^/  /'

step "done"
tests/sandbox/sandbox down "$sbx"
echo "Canary rollouts and Prometheus analysis join this demo as they land."
