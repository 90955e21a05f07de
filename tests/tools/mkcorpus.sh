#!/usr/bin/env bash
# Regenerate (or --check) the YAML->JSON corpus in tests/data/yaml from kubectl.
#
# For every tests/data/yaml/NNN-name/input.yaml this runs
#     kubectl label --local -f input.yaml x=y -o json
# (from inside the case folder, so error messages name "input.yaml") and
#   - on success writes expected.json: a JSON array of the printed objects
#     (a printed kind: List is flattened into its items), with the added label
#     x=y removed again (and metadata.labels dropped if it becomes empty),
#     keys sorted, 2-space indent, number text kept exactly as kubectl printed it;
#   - on failure writes kubectl.err: kubectl's stderr trimmed to one line.
# Exactly one of expected.json / kubectl.err exists per case afterwards.
#
# Usage: tests/tools/mkcorpus.sh [--check] [CASE...]
#   --check  do not write anything; exit 1 (listing the cases) if a stored
#            expected.json/kubectl.err differs from what kubectl gives now.
#   CASE     restrict to these case folder names (default: all).
# Environment: KUBECTL (default: kubectl).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
corpus=$(cd "$here/../data/yaml" && pwd)
kubectl=${KUBECTL:-kubectl}
check=0
if [[ ${1:-} == --check ]]; then check=1; shift; fi

command -v "$kubectl" >/dev/null || { echo "mkcorpus: $kubectl not found" >&2; exit 2; }
command -v python3 >/dev/null || { echo "mkcorpus: python3 not found" >&2; exit 2; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Keep kubectl away from any user kubeconfig; --local needs no server.
: >"$tmp/kubeconfig"
export KUBECONFIG="$tmp/kubeconfig"

# normalise RAWJSON OUT: kubectl -o json output (a stream of JSON values) -> array
normalise() {
python3 - "$1" "$2" <<'PY'
import json, sys

class Num:
    """A JSON number kept as the exact text kubectl printed."""
    __slots__ = ("text",)
    def __init__(self, text): self.text = text

def load_stream(text):
    dec = json.JSONDecoder(parse_int=Num, parse_float=Num,
                           parse_constant=lambda s: Num(s))
    out, i, n = [], 0, len(text)
    while True:
        while i < n and text[i] in " \t\r\n":
            i += 1
        if i >= n:
            return out
        v, i = dec.raw_decode(text, i)
        out.append(v)

def dump(v, ind=0):
    pad = "  " * (ind + 1)
    if isinstance(v, Num):
        return v.text
    if isinstance(v, dict):
        if not v:
            return "{}"
        items = [pad + json.dumps(k, ensure_ascii=False) + ": " + dump(v[k], ind + 1)
                 for k in sorted(v)]
        return "{\n" + ",\n".join(items) + "\n" + "  " * ind + "}"
    if isinstance(v, list):
        if not v:
            return "[]"
        return "[\n" + ",\n".join(pad + dump(x, ind + 1) for x in v) + "\n" + "  " * ind + "]"
    return json.dumps(v, ensure_ascii=False)

with open(sys.argv[1], encoding="utf-8") as f:
    values = load_stream(f.read())
objs = []
for v in values:
    if isinstance(v, dict) and v.get("kind") == "List" and isinstance(v.get("items"), list) \
            and set(v) <= {"apiVersion", "kind", "items", "metadata"}:
        objs.extend(v["items"])
    else:
        objs.append(v)
for o in objs:
    md = o.get("metadata") if isinstance(o, dict) else None
    labels = md.get("labels") if isinstance(md, dict) else None
    if isinstance(labels, dict) and labels.get("x") == "y":
        del labels["x"]
        if not labels:
            del md["labels"]
with open(sys.argv[2], "w", encoding="utf-8") as f:
    f.write(dump(objs) + "\n")
PY
}

# run_case DIR OUTDIR: writes OUTDIR/expected.json or OUTDIR/kubectl.err
run_case() {
    local dir=$1 out=$2 rc=0
    mkdir -p "$out"
    (cd "$dir" && "$kubectl" label --local -f input.yaml x=y -o json) \
        >"$out/stdout" 2>"$out/stderr" || rc=$?
    if [[ $rc -eq 0 ]]; then
        normalise "$out/stdout" "$out/expected.json"
    else
        # one line: trim each line, join non-empty lines with a space
        local msg
        msg=$(sed -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//' "$out/stderr" | grep -v '^$' | paste -sd' ' -)
        [[ -n $msg ]] || msg="kubectl exited with status $rc"
        printf '%s\n' "$msg" >"$out/kubectl.err"
    fi
    rm -f "$out/stdout" "$out/stderr"
}

cases=()
if [[ $# -gt 0 ]]; then
    for c in "$@"; do cases+=("$corpus/${c%/}"); done
else
    for d in "$corpus"/*/; do [[ -f $d/input.yaml ]] && cases+=("${d%/}"); done
fi

fail=0 n=0
for dir in "${cases[@]}"; do
    name=$(basename "$dir")
    [[ -f $dir/input.yaml ]] || { echo "mkcorpus: $name: no input.yaml" >&2; fail=1; continue; }
    n=$((n + 1))
    out="$tmp/$name"
    run_case "$dir" "$out"
    if [[ $check -eq 1 ]]; then
        for f in expected.json kubectl.err; do
            if [[ -f $out/$f ]]; then
                if [[ ! -f $dir/$f ]]; then echo "$name: $f missing"; fail=1
                elif ! cmp -s "$out/$f" "$dir/$f"; then echo "$name: $f differs"; fail=1; fi
            elif [[ -f $dir/$f ]]; then
                echo "$name: stale $f (kubectl now gives the other outcome)"; fail=1
            fi
        done
    else
        rm -f "$dir/expected.json" "$dir/kubectl.err"
        cp "$out"/* "$dir/"
    fi
done

if [[ $check -eq 1 ]]; then
    if [[ $fail -ne 0 ]]; then echo "mkcorpus --check: FAILED" >&2; exit 1; fi
    echo "mkcorpus --check: $n cases OK"
else
    echo "mkcorpus: regenerated $n cases"
    exit $fail
fi
