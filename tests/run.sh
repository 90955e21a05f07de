#!/usr/bin/env bash
# Runs the cmocka test binaries given as arguments, then the shell tests in
# tests/cli/ and tests/e2e/ (or those SHELL_TESTS names), prints each one's
# output, and ends with "N passed, N failed".
# Exits non-zero when anything failed.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build/default}
export BUILD
# a test that crashed must not leave its control plane running
if [ -n "${SLUICE_SANDBOX_DIR:-}" ]; then
	trap 'tests/sandbox/sandbox down "$SLUICE_SANDBOX_DIR" >/dev/null 2>&1 || true' EXIT
fi
passed=0
failed=0
failures=()

for t in "$@"; do
	out=$("$t" 2>&1)
	rc=$?
	printf '%s\n' "$out"
	ok=$(printf '%s\n' "$out" | grep -c '^\[       OK \]')
	bad=$(printf '%s\n' "$out" | grep '^\[  FAILED  \]' | grep -vc 'test(s)')
	if [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; then
		bad=1 # crashed or a sanitizer stopped it
		failures+=("$(basename "$t") (exit $rc)")
	elif [ "$bad" -gt 0 ]; then
		failures+=("$(basename "$t")")
	fi
	passed=$((passed + ok))
	failed=$((failed + bad))
done

# SHELL_TESTS: the shell tests to run (globs), default every one
for t in ${SHELL_TESTS:-tests/cli/test_*.sh tests/e2e/test_*.sh}; do
	[ -e "$t" ] || continue
	echo "[==========] $t"
	out=$(bash "$t" 2>&1)
	rc=$?
	printf '%s\n' "$out"
	ok=$(printf '%s\n' "$out" | grep -c '^ok ')
	bad=$(printf '%s\n' "$out" | grep -c '^not ok ')
	if [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; then
		bad=1
	fi
	[ "$bad" -gt 0 ] && failures+=("$t")
	passed=$((passed + ok))
	failed=$((failed + bad))
done

if [ ${#failures[@]} -gt 0 ]; then
	echo "failed: ${failures[*]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
