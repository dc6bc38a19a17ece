#!/usr/bin/env bash
# `make test`: typecheck, portability check, then the whole suite on Bun and on Deno.
# Ends with one line "N passed, N failed" summing both runtimes.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=node_modules/.bin
status=0
# Real clients some tests drive (wrk, curl, openssl): installed with apt-get when missing.
pkgs=()
for t in wrk curl openssl; do command -v "$t" >/dev/null || pkgs+=("$t"); done
if ((${#pkgs[@]})); then
  SUDO=(); [ "$(id -u)" = 0 ] || SUDO=(sudo -n)
  echo "== installing ${pkgs[*]} with apt-get"
  { "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" ||
    { "${SUDO[@]}" apt-get update -qq && "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}"; }; } >/dev/null 2>&1 ||
    echo "warning: could not install ${pkgs[*]}; the tests that drive them will fail"
fi
echo "== typecheck"; $BIN/tsc -p . || status=1
echo "== portability (only src/runtime/ may name Bun, Deno or node:*)"; $BIN/bun scripts/check_imports.ts || status=1
echo "== build dist/legate (the end-to-end tests drive it)"; bash scripts/build.sh || status=1
out=$(mktemp -d)
source scripts/suite.sh
echo "== bun"; suite bun $BIN/bun scripts/test.ts || status=1
echo "== deno"; suite deno $BIN/deno run -A scripts/test.ts || status=1
passed=$(count 'ok  '); failed=$(count FAIL); skipped=$(count SKIP)
# A runtime that crashed before printing its summary counts as a failure.
[ "$(grep -chE '^(bun|deno): [0-9]+ passed' "$out"/*.log | awk '{s+=$1} END {print s}')" = 2 ] || { failed=$((failed+1)); status=1; }
[ $status = 0 ] || [ "$failed" -gt 0 ] || failed=1
rm -rf "$out"
echo
echo "$passed passed, $failed failed, $skipped skipped"
exit $status
