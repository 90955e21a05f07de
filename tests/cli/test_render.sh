#!/usr/bin/env bash
# sluice render as a user runs it: the real binary, exit codes, every problem reported.
. "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

out=$("$SLUICE" render examples/web/ 2>"$tmp/err"); rc=$?
if [ $rc -eq 0 ] && [ "$(grep -c '^kind: ' <<<"$out")" -eq 5 ] && [ ! -s "$tmp/err" ]; then
	ok "render examples/web/ prints the 5 objects"
else
	not_ok "render examples/web/ prints the 5 objects" "rc=$rc" "$(cat "$tmp/err")"
fi

mkdir -p "$tmp/repo/apps"
printf 'apiVersion: v1\nkind: Service\nmetadata:\n  labels: {app: web}\n' >"$tmp/repo/apps/svc.yaml"
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n\tkey: v\n' >"$tmp/repo/apps/tabs.yaml"
printf 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n' >"$tmp/repo/dup.yaml"
printf 'apiVersion: v1\nkind: Namespace\nmetadata: {name: fine}\n' >"$tmp/repo/ok.yaml"
"$SLUICE" render "$tmp/repo" >"$tmp/out" 2>"$tmp/err"; rc=$?
want=("$tmp/repo/apps/svc.yaml:4: metadata.name is required"
	"$tmp/repo/apps/tabs.yaml:6:1: found character that cannot start any token"
	"$tmp/repo/dup.yaml:5: duplicate object apps/Deployment web: also defined at $tmp/repo/dup.yaml:1")
missing=()
for w in "${want[@]}"; do grep -qF -- "$w" "$tmp/err" || missing+=("missing: $w"); done
if [ $rc -eq 1 ] && [ ${#missing[@]} -eq 0 ] && [ ! -s "$tmp/out" ] &&
	grep -q '3 problems' "$tmp/err"; then
	ok "three broken files: all three reported with file:line, exit 1, nothing on stdout"
else
	not_ok "three broken files: all three reported with file:line, exit 1, nothing on stdout" \
		"rc=$rc" "${missing[@]}" "$(cat "$tmp/err")"
fi

"$SLUICE" render "$tmp/nope" >/dev/null 2>&1; rc=$?
[ $rc -eq 2 ] && ok "a missing folder exits 2" || not_ok "a missing folder exits 2" "rc=$rc"
"$SLUICE" render -o toml examples >/dev/null 2>&1; rc=$?
[ $rc -eq 2 ] && ok "a bad option exits 2" || not_ok "a bad option exits 2" "rc=$rc"

# sluiced logs JSON lines
line=$("$SLUICED" --check examples/web 2>&1 >/dev/null)
if python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["msg"]=="manifests valid" and d["objects"]=="5", d' "$line" 2>/dev/null; then
	ok "sluiced --check logs one JSON line"
else
	not_ok "sluiced --check logs one JSON line" "$line"
fi
"$SLUICED" --check "$tmp/repo" >/dev/null 2>"$tmp/log"; rc=$?
if [ $rc -eq 1 ] && [ "$(wc -l <"$tmp/log")" -eq 4 ] && python3 -c '
import json,sys
for l in open(sys.argv[1]): json.loads(l)' "$tmp/log"; then
	ok "sluiced --check on broken manifests: a JSON line per problem, exit 1"
else
	not_ok "sluiced --check on broken manifests: a JSON line per problem, exit 1" "rc=$rc" "$(cat "$tmp/log")"
fi
