#!/usr/bin/env bash
# Runs the README's command block (between the "readme commands" markers)
# exactly as written, from the repository's top: the commands a newcomer
# copies must work.
set -euo pipefail
cd "$(dirname "$0")/.."
block=$(sed -n '/<!-- readme commands: run by make e2e -->/,/<!-- end of readme commands -->/p' README.md | grep -v '^<!--' | grep -v '^```')
[ -n "$block" ] || { echo "readme: no command block found"; exit 1; }
n=0
while IFS= read -r cmd; do
  [ -n "$cmd" ] || continue
  n=$((n + 1))
  if ! out=$(bash -c "$cmd" 2>&1); then
    echo "readme: command failed: $cmd"; echo "$out" | tail -20; exit 1
  fi
done < <(printf '%s\n' "$block" | sed -e ':a' -e '/\\$/N; s/\\\n//; ta')
echo "readme: all $n commands ran"
