# Sourced by scripts/test_all.sh and tests/scripts/suite_test.ts. `suite NAME CMD…` runs one
# runtime's suite (CMD gets --from=N) into "$out/NAME.log"; needs $out set. Deno 2.9's node:http2 can abort the whole process inside nghttp2 when a
# GOAWAY is processed (denoland/deno#36788: "find_stream_on_goaway_func: Assertion
# `stream->closed_next == NULL'", or a bare SIGSEGV); the xDS tests use node:http2 (gRPC), so
# that known crash is reported and the suite resumes at the case that was running, twice at
# most. Any other crash, or a third one, fails the run.
suite() {
  local name=$1 log="$out/$1.log" from=0 retries=0 rc; shift
  : >"$log"
  while :; do
    "$@" --from=$from 2>&1 | tee -a "$log"; rc=${PIPESTATUS[0]}
    grep -qE "^$name: [0-9]+ passed" "$log" && return "$rc"
    if [ "$name" = deno ] && ((retries < 2)) &&
      { [ "$rc" = 139 ] || { [ "$rc" = 134 ] && tail -n 20 "$log" | grep -q 'nghttp2.*find_stream_on_goaway_func'; }; }; then
      retries=$((retries + 1))
      from=$(grep -cE '^(ok  |FAIL|SKIP) [^ ]+_test\.ts > ' "$log")
      echo "== $name crashed (exit $rc) in node:http2's nghttp2 (denoland/deno#36788); resuming at case $from (retry $retries of 2)" | tee -a "$log"
      continue
    fi
    echo "== $name crashed (exit $rc) before its summary" | tee -a "$log"
    return 1
  done
}
# Counted from the per-case lines of every log in $out, so a resumed suite adds up its parts.
count() { grep -hcE "^$1 [^ ]+_test\.ts > " "$out"/*.log | awk '{s+=$1} END {print s+0}'; }
