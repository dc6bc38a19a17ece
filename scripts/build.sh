#!/usr/bin/env bash
# Builds dist/legate, one self-contained executable (bun build --compile).
# LEGATE_VERSION overrides the version string (used to build a "different" binary for upgrades).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-dist/legate}
mkdir -p "$(dirname "$out")"
define=()
if [ -n "${LEGATE_VERSION:-}" ]; then
  # Bake the version in without touching the source tree.
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  cp -r src "$tmp/src"
  printf '/** Legate version (set at build time). */\nexport const VERSION: string = "%s";\n' "$LEGATE_VERSION" > "$tmp/src/version.ts"
  ln -s "$PWD/node_modules" "$tmp/node_modules"
  node_modules/.bin/bun build --compile --minify-syntax "$tmp/src/main.ts" "$tmp/src/worker/worker_main.ts" --outfile "$out" >/dev/null
else
  node_modules/.bin/bun build --compile --minify-syntax src/main.ts src/worker/worker_main.ts --outfile "$out" >/dev/null
fi
echo "built $out ($(du -h "$out" | cut -f1))"
