#!/usr/bin/env bash
# make demo: what sluice does today, on this machine, in under a minute.
# It renders the example application the way sluiced loads a Git checkout,
# then shows how a bad commit is reported: every problem, with file and line.
# Nothing is left running.
set -euo pipefail
cd "$(dirname "$0")/.."
sluice=bin/sluice
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

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

step "done"
echo "The Kubernetes sandbox, sync engine and canary rollouts join this demo as they land."
