#!/usr/bin/env bash
# One source for the man pages and the --help texts (docs/man/*.txt through
# tools/mkman.c): the committed outputs are what the sources give, the pages
# are clean roff, sluiced documents every option it takes, and completion
# works as kubectl (kubectl_complete-sluice) and bash run it. No cluster.
. "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# ---- the committed outputs are what the sources give
if ! ${CC:-cc} -std=c11 -D_GNU_SOURCE -O1 -o "$tmp/mkman" tools/mkman.c 2>"$tmp/cc.err"; then
	not_ok "tools/mkman.c builds" "$(cat "$tmp/cc.err")"
	exit 1
fi
for p in "sluice 1" "sluiced 8"; do
	set -- $p
	if ! "$tmp/mkman" "docs/man/$1.txt" "$tmp/$1.$2" "$tmp/help_$1.c" "cli_help_$1" 2>"$tmp/err"; then
		not_ok "docs/man/$1.txt generates" "$(cat "$tmp/err")"
		continue
	fi
	stale=()
	cmp -s "$tmp/$1.$2" "docs/$1.$2" || stale+=("docs/$1.$2")
	cmp -s "$tmp/help_$1.c" "src/cli/help_$1.c" || stale+=("src/cli/help_$1.c")
	if [ ${#stale[@]} -eq 0 ]; then
		ok "docs/$1.$2 and src/cli/help_$1.c are what docs/man/$1.txt gives"
	else
		not_ok "docs/$1.$2 and src/cli/help_$1.c are what docs/man/$1.txt gives" \
			"stale: ${stale[*]} (run make man)" "$(diff "docs/$1.$2" "$tmp/$1.$2" | head -20)"
	fi
done

# ---- a command without an example is refused by the generator
sed '/^@example sluice diff /d' docs/man/sluice.txt >"$tmp/noexample.txt"
if "$tmp/mkman" "$tmp/noexample.txt" "$tmp/x.1" "$tmp/x.c" x 2>"$tmp/err"; then
	not_ok "a command without an @example does not generate" "generated anyway"
elif grep -q 'noexample.txt:[0-9]*: @command diff has no @example' "$tmp/err"; then
	ok "a command without an @example does not generate ($(cat "$tmp/err"))"
else
	not_ok "a command without an @example does not generate" "$(cat "$tmp/err")"
fi

# ---- the pages are clean roff and keep their sections
if command -v groff >/dev/null; then
	warn=$(groff -man -Tutf8 -ww -z docs/sluice.1 docs/sluiced.8 2>&1)
	if [ -z "$warn" ]; then ok "groff -ww reads both pages without a warning"; else not_ok "groff warnings" "$warn"; fi
else
	skip "groff -ww reads both pages without a warning" "groff not installed"
fi
want1="NAME|SYNOPSIS|DESCRIPTION|COMMANDS|OPTIONS|ENVIRONMENT|EXIT STATUS|EXAMPLES|SEE ALSO"
want8="NAME|SYNOPSIS|DESCRIPTION|OPTIONS|ENVIRONMENT|SIGNALS|EXIT STATUS|SEE ALSO"
sections() { sed -n 's/^\.SH //p' "$1" | paste -sd'|'; }
if [ "$(sections docs/sluice.1)" = "$want1" ] && [ "$(sections docs/sluiced.8)" = "$want8" ]; then
	ok "sluice(1) and sluiced(8) have their sections"
else
	not_ok "sluice(1) and sluiced(8) have their sections" "$(sections docs/sluice.1)" "$(sections docs/sluiced.8)"
fi
examples=$(sed -n '/^\.SH EXAMPLES/,/^\.SH/p' docs/sluice.1 | grep -c '^sluice\|^kubectl sluice')
verbs=$("$SLUICE" __complete "" | grep -c $'\t')
if [ "$examples" -ge "$verbs" ]; then
	ok "sluice(1) EXAMPLES lists every command's examples ($examples lines, $verbs verbs)"
else
	not_ok "sluice(1) EXAMPLES" "$examples example lines for $verbs verbs"
fi

# ---- sluiced: every option of src/controller/main.c is documented, and its --help is the generated one
opts=$(sed -n 's/^[[:space:]]*{"\([a-z-]*\)", *[a-z_]*_argument.*/\1/p' src/controller/main.c | sort -u)
missing=()
for o in $opts; do
	grep -q -- "^@item .*--$o\b" docs/man/sluiced.txt || missing+=("--$o")
done
if [ -n "$opts" ] && [ ${#missing[@]} -eq 0 ]; then
	ok "docs/man/sluiced.txt documents every option of sluiced ($(echo $opts | wc -w))"
else
	not_ok "docs/man/sluiced.txt documents every option of sluiced" "missing: ${missing[*]:-(no options read)}"
fi
"$SLUICED" --help >"$tmp/sluiced.help" 2>&1
python3 - "$tmp/help_sluiced.c" >"$tmp/sluiced.want" <<'PY'
import re, sys
src = open(sys.argv[1]).read().split("\n", 5)[5]  # past the header
first = src.split("},", 1)[0]  # the program's entry
parts = re.findall(r'"((?:[^"\\]|\\.)*)"', first)
sys.stdout.write("".join(parts[2:]).encode().decode("unicode_escape"))
PY
if cmp -s "$tmp/sluiced.help" "$tmp/sluiced.want"; then
	ok "sluiced --help is the text docs/man/sluiced.txt gives"
else
	not_ok "sluiced --help is the text docs/man/sluiced.txt gives" "$(diff "$tmp/sluiced.want" "$tmp/sluiced.help" | head -20)"
fi

# ---- completion as kubectl runs it: kubectl_complete-sluice on PATH, offline
mkdir -p "$tmp/bin"
ln -s "$SLUICE" "$tmp/bin/kubectl-sluice"
ln -s "$SLUICE" "$tmp/bin/kubectl_complete-sluice"
if command -v kubectl >/dev/null; then
	got=$(PATH="$tmp/bin:$PATH" KUBECONFIG=/nonexistent kubectl __complete sluice st 2>/dev/null)
	want=$'stats\tdelivery figures (DORA) from rollout history\nstatus\ta rollout now: phase, step, weights, commits, pods, analysis\n:4'
	if [ "$got" = "$want" ]; then
		ok "kubectl sluice st<TAB>: kubectl asks kubectl_complete-sluice, which lists stats and status with their summaries"
	else
		not_ok "kubectl sluice st<TAB>" "got: $got"
	fi
	got=$(PATH="$tmp/bin:$PATH" KUBECONFIG=/nonexistent kubectl __complete sluice get -o "" 2>/dev/null | paste -sd' ')
	if [ "$got" = "wide json yaml :4" ]; then ok "kubectl sluice get -o <TAB>: wide json yaml"; else not_ok "kubectl sluice get -o <TAB>" "$got"; fi
else
	skip "kubectl sluice <TAB>" "kubectl not installed"
fi
got=$("$tmp/bin/kubectl_complete-sluice" "" | cut -f1 | paste -sd' ')
want="$(for v in get status history stats sync diff promote abort retry pause resume render version completion help; do echo "$v"; done | sort | paste -sd' ')"
have=$(printf '%s\n' $got | grep -v '^:' | sort | paste -sd' ')
if [ "$have" = "$want" ] && [ "${got##* }" = ":4" ]; then
	ok "kubectl_complete-sluice '' lists every verb (no file names)"
else
	not_ok "kubectl_complete-sluice '' lists every verb" "got: $got" "want: $want"
fi

# ---- bash: the script from `sluice completion bash` asks sluice __complete
out=$(PATH="$tmp/bin:$PATH" bash -c '
	eval "$("$1" completion bash)"
	COMP_WORDS=("$1" st); COMP_CWORD=1; _sluice; echo "${COMPREPLY[*]}"
	COMP_WORDS=("$1" status --w); COMP_CWORD=2; _sluice; echo "${COMPREPLY[*]}"
	COMP_WORDS=("$1" render ""); COMP_CWORD=2; cd "$2"; _sluice; echo "${COMPREPLY[*]}"
' _ "$SLUICE" "$tmp")
if [ "$out" = $'stats status\n--watch --wait\nbin' ]; then
	ok "bash completion: verbs, a verb's flags, directories for render"
else
	not_ok "bash completion" "$out"
fi
