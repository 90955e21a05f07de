#!/usr/bin/env bash
# Hostile YAML is rejected quickly and in little memory, measured on the
# binary built without sanitizers (PLAIN), as a user runs it.
. "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
bin="$PWD/$PLAIN/bin/sluice"
[ -x "$bin" ] || { not_ok "plain build present" "$bin missing"; exit 1; }

{
	echo "apiVersion: v1"
	echo "kind: ConfigMap"
	echo "metadata: {name: lol}"
	echo "data:"
	echo "  a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"
	for i in 1 2 3 4 5 6 7 8 9; do
		p=$((i - 1))
		echo "  a$i: &a$i [*a$p, *a$p, *a$p, *a$p, *a$p, *a$p, *a$p, *a$p, *a$p, *a$p]"
	done
} >"$tmp/bomb.yaml"

/usr/bin/time -f '%e %M' -o "$tmp/time" "$bin" render "$tmp/bomb.yaml" >/dev/null 2>"$tmp/err"
rc=$?
read -r secs kib < <(tail -n 1 "$tmp/time")
ms=$(awk -v s="$secs" 'BEGIN { printf "%d", s * 1000 }')
echo "# billion laughs: exit $rc in ${ms} ms, peak RSS ${kib} KiB"
if [ $rc -eq 1 ] && grep -q "bomb.yaml:[0-9]*:[0-9]*: document expands to more than" "$tmp/err" &&
	[ "$ms" -lt 100 ] && [ "$kib" -lt 16384 ]; then
	ok "billion laughs rejected with file:line:column in under 100 ms and 16 MiB"
else
	not_ok "billion laughs rejected with file:line:column in under 100 ms and 16 MiB" "$(cat "$tmp/err")"
fi

python3 -c 'print("a: " + "[" * 100000 + "]" * 100000)' >"$tmp/deep.yaml"
/usr/bin/time -f '%e %M' -o "$tmp/time" "$bin" render "$tmp/deep.yaml" >/dev/null 2>"$tmp/err"
rc=$?
read -r secs kib < <(tail -n 1 "$tmp/time")
if [ $rc -eq 1 ] && grep -q "deep.yaml:1:[0-9]*: nesting deeper than 256 levels" "$tmp/err"; then
	ok "100,000 nested brackets rejected at depth 256 (${kib} KiB)"
else
	not_ok "100,000 nested brackets rejected at depth 256" "rc=$rc" "$(cat "$tmp/err")"
fi

head -c 9000000 /dev/zero | tr '\0' 'a' >"$tmp/huge.yaml"
"$bin" render "$tmp/huge.yaml" >/dev/null 2>"$tmp/err"; rc=$?
if [ $rc -eq 1 ] && grep -q "huge.yaml:1: file of 9000000 bytes exceeds the limit of 8388608 bytes" "$tmp/err"; then
	ok "a 9 MB file is rejected unread"
else
	not_ok "a 9 MB file is rejected unread" "rc=$rc" "$(cat "$tmp/err")"
fi
