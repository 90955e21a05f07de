#!/usr/bin/env bash
# The C sources are in the project's clang-format style.
. "$(dirname "$0")/lib.sh"
if ! command -v clang-format >/dev/null; then
	not_ok "clang-format style" "clang-format is not installed (scripts/deps.sh installs it)"
	exit 1
fi
files=$(git ls-files '*.c' '*.h' 2>/dev/null || find src cmd include tests -name '*.[ch]')
bad=()
for f in $files; do
	clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
[ ${#bad[@]} -eq 0 ] && ok "clang-format style" || not_ok "clang-format style" "run 'make format': ${bad[*]}"
