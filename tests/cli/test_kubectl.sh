#!/usr/bin/env bash
# Re-check the YAML corpus against kubectl itself, when kubectl is on the machine:
# the stored expected output must still be what kubectl gives, and sluice's
# `render -o json` must print exactly kubectl's text for every single-object case.
. "$(dirname "$0")/lib.sh"
if ! command -v kubectl >/dev/null; then
	skip "corpus re-checked against kubectl" "kubectl not installed"
	exit 0
fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
export KUBECONFIG="$tmp/kubeconfig"; : >"$KUBECONFIG"

if out=$(tests/tools/mkcorpus.sh --check 2>&1); then
	ok "stored corpus outputs are what kubectl gives now"
else
	not_ok "stored corpus outputs are what kubectl gives now" "$out"
fi

same=0; differ=(); cases=0
for d in tests/data/yaml/*/; do
	[ -f "$d/expected.json" ] && [ ! -f "$d/expected.err" ] || continue
	[ "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$d/expected.json" 2>/dev/null)" = 1 ] || continue
	cases=$((cases + 1))
	(cd "$d" && kubectl label --local -f input.yaml x- -o json 2>/dev/null) |
		sed '/^        "labels": {},$/d' >"$tmp/k.json"
	"$SLUICE" render "$d/input.yaml" -o json >"$tmp/s.json" 2>&1
	if cmp -s "$tmp/k.json" "$tmp/s.json"; then same=$((same + 1)); else differ+=("$(basename "$d")"); fi
done
echo "# $same of $cases single-object cases print byte-for-byte as kubectl prints them"
if [ ${#differ[@]} -eq 0 ] && [ "$cases" -gt 50 ]; then
	ok "render -o json prints exactly kubectl's text"
else
	not_ok "render -o json prints exactly kubectl's text" "differ: ${differ[*]}"
fi
