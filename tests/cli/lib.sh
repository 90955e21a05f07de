# Shared by the shell tests: TAP-like "ok N - name" / "not ok N - name" lines.
# BUILD names the build folder of the binaries under test (build/san in make test);
# PLAIN is the build without sanitizers, for time and memory figures.
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
BUILD=${BUILD:-build/default}
PLAIN=${PLAIN:-build/default}
SLUICE="$PWD/$BUILD/bin/sluice"
SLUICED="$PWD/$BUILD/bin/sluiced"
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $1"; shift; for l in "$@"; do echo "#   $l"; done; }
skip() { n=$((n + 1)); echo "ok $n - $1 # skip $2"; }
check() { # check NAME CMD...: ok when CMD succeeds
	local name=$1; shift
	if out=$("$@" 2>&1); then ok "$name"; else not_ok "$name" "$out"; fi
}
require() { # require PROGRAM...: the whole test is skipped (ok # skip) when one is missing
	local b
	for b in "$@"; do
		if ! command -v "$b" >/dev/null; then
			skip "$(basename "$0")" "$b not installed"
			exit 0
		fi
	done
}
