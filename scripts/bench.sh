#!/usr/bin/env bash
# Legate benchmark harness (`make bench`): Legate beside nginx and HAProxy, one interleaved run.
#
#   wrk ──▶ proxy under test ──▶ nginx upstream (GET / → 200, 64-byte body)
#   CPU 1        CPU 0                CPU 1          (CPU 1 is the "load" core, shared)
#
# Reports, per proxy, the median over rounds of requests/s, p50/p99 latency, user and total CPU
# time per request (from /proc/<pid>/stat of the proxy's whole process tree), RSS after the run,
# and each figure as a ratio to HAProxy. See bench/README.md for how to read the numbers.
#
# Environment knobs (all optional):
#   ROUNDS=3            rounds; each round runs every proxy once, in a rotating order
#   DURATION=10         seconds of each measured wrk run
#   WARMUP=2            seconds of wrk warm-up right before each measured run (not recorded)
#   CONNECTIONS=64      wrk connections (-c)
#   THREADS=1           wrk threads (-t)
#   PROXIES="legate nginx haproxy"   the proxies to run (any subset, any order)
#   LEGATE_CMD          how to start Legate; run as `$LEGATE_CMD -c .bench/legate.yaml --concurrency $LEGATE_CONCURRENCY`
#   LEGATE_CONCURRENCY=1   Legate's data-plane worker threads
#   PROXY_CPUS=0        CPUs the proxies are pinned to (e.g. "0,1" to let a 2-worker Legate use both)
#   LEGATE_ROUTES=1     routes in Legate's table; the match is the last one (e.g. 40)
#   LEGATE_ACCESS_LOG=0 1: Legate writes an access log (Envoy's default format) to .bench/
#   RELOAD_EVERY_MS=0   >0: POST /reload to Legate this often during its measured runs (snapshot
#                       pushes under load; compare p99 with a run without)
#                       (default: dist/legate if executable, else `node_modules/.bin/bun src/main.ts`)
#   LEGATE_READY_TIMEOUT=20   seconds to wait for Legate's admin GET /ready to answer 200
#   BENCH_DIR=.bench    where generated configs, logs, raw wrk output and results.md go
#
# Exit status: 0 if every proxy started, served the expected body, and every measured run had
# only 2xx responses and no socket errors; 1 otherwise. Everything started here is stopped on
# exit, Ctrl-C or error (each process runs in its own process group, which is killed whole).

set -Eeuo pipefail
set +m # no job control: `setsid` below must exec in place so that $! is the process-group id

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export PATH="$PATH:/usr/sbin:/sbin"

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-1}
PROXIES=${PROXIES:-legate nginx haproxy}
LEGATE_READY_TIMEOUT=${LEGATE_READY_TIMEOUT:-20}
RUN_DIR=${BENCH_DIR:-$ROOT/.bench}
if [[ -z ${LEGATE_CMD:-} ]]; then
  if [[ -f dist/legate && -x dist/legate ]]; then LEGATE_CMD=dist/legate
  else LEGATE_CMD="node_modules/.bin/bun src/main.ts"; fi
fi
BASELINE=haproxy
# Exactly 64 bytes; the upstream returns it and every proxy must pass it through unchanged.
BODY="legate-bench-64-byte-body:0123456789abcdefghijklmnopqrstuvwxyz.."

say() { printf '[bench] %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

for v in ROUNDS DURATION WARMUP CONNECTIONS THREADS LEGATE_READY_TIMEOUT; do
  [[ ${!v} =~ ^[0-9]+$ && ${!v} -gt 0 ]] || die "$v must be a positive integer (got '${!v}')"
done
read -r -a PROXY_LIST <<<"$PROXIES"
((${#PROXY_LIST[@]})) || die "PROXIES is empty"
seen=" "
for p in "${PROXY_LIST[@]}"; do
  case $p in legate | nginx | haproxy) ;; *) die "unknown proxy '$p' in PROXIES (legate, nginx, haproxy)" ;; esac
  [[ $seen != *" $p "* ]] || die "'$p' appears twice in PROXIES"
  seen+="$p "
done
((${#BODY} == 64)) || die "internal: body is ${#BODY} bytes, not 64"
has_proxy() { [[ " ${PROXY_LIST[*]} " == *" $1 "* ]]; }

mkdir -p "$RUN_DIR"
RUN_DIR=$(cd "$RUN_DIR" && pwd)
rm -rf "$RUN_DIR/tmp" "$RUN_DIR/wrk"
for f in upstream nginx haproxy legate; do rm -f "$RUN_DIR/$f.log" "$RUN_DIR/$f.error.log" "$RUN_DIR/$f.pid"; done
rm -f "$RUN_DIR/apt.log" "$RUN_DIR/runs.tsv" "$RUN_DIR/results.md"
mkdir -p "$RUN_DIR/tmp" "$RUN_DIR/wrk"

# ---------------------------------------------------------------------------------------------
# "UTIME STIME RSS_KB NPROC" summed over the process group PG and all its descendants (a
# descendant may have started its own group); utime/stime include reaped children (cutime/cstime).
# With a second argument "pids", prints the pids of that process tree instead.
group_usage() { # PG [pids]
  { cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v pg="$1" -v mode="${2:-usage}" '
    { pid = $1; s = $0; sub(/^.*\) /, "", s); split(s, f, " ")
      P[pid] = f[2]; G[pid] = f[3]; U[pid] = f[12] + f[14]; K[pid] = f[13] + f[15] }
    END {
      for (p in P) if (G[p] == pg) M[p] = 1
      do { c = 0; for (p in P) if (!(p in M) && (P[p] in M)) { M[p] = 1; c = 1 } } while (c)
      if (mode == "pids") { for (p in M) print p; exit }
      for (p in M) {
        u += U[p]; k += K[p]; n++
        file = "/proc/" p "/status"
        while ((getline line < file) > 0) if (line ~ /^VmRSS:/) { split(line, r, " "); rss += r[2] }
        close(file)
      }
      printf "%d %d %d %d\n", u, k, rss, n
    }'
}

# Cleanup: kill every process group we started (TERM, then KILL), and any descendant that left
# its group, also on Ctrl-C and errors.
PGIDS=()    # process groups of long-lived servers (upstream and proxies)
EXTRA=()    # short-lived helpers (wrk, sleep) in our own process group, while they run
untrack() { local keep=() x; for x in "${EXTRA[@]}"; do [[ $x == "$1" ]] || keep+=("$x"); done; EXTRA=("${keep[@]}"); }
cleanup() {
  local rc=$? pg i alive tree=()
  trap - EXIT INT TERM ERR
  for i in "${EXTRA[@]}"; do kill -TERM "$i" 2>/dev/null || true; done
  for pg in "${PGIDS[@]}"; do mapfile -t -O "${#tree[@]}" tree < <(group_usage "$pg" pids); done
  for pg in "${PGIDS[@]}"; do kill -TERM -- "-$pg" 2>/dev/null || true; done
  for i in "${tree[@]}"; do kill -TERM "$i" 2>/dev/null || true; done
  for i in $(seq 1 30); do
    alive=0
    for pg in "${PGIDS[@]}"; do kill -0 -- "-$pg" 2>/dev/null && alive=1; done
    for pg in "${tree[@]}"; do kill -0 "$pg" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.1
  done
  for pg in "${PGIDS[@]}"; do kill -KILL -- "-$pg" 2>/dev/null || true; done
  for i in "${tree[@]}"; do kill -KILL "$i" 2>/dev/null || true; done
  wait 2>/dev/null || true
  exit "$rc"
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT TERM
trap 'say "failed at line $LINENO: $BASH_COMMAND"' ERR

# ---------------------------------------------------------------------------------------------
# Tools: install nginx, haproxy, wrk (and curl) with apt-get when missing.
pkgs=()
command -v nginx >/dev/null || pkgs+=(nginx)
has_proxy haproxy && ! command -v haproxy >/dev/null && pkgs+=(haproxy)
command -v wrk >/dev/null || pkgs+=(wrk)
command -v curl >/dev/null || pkgs+=(curl)
for t in taskset setsid getconf; do command -v "$t" >/dev/null || die "'$t' not found (util-linux/libc-bin)"; done
source "$ROOT/bench/lib.sh"
install_missing "$RUN_DIR/apt.log" "${pkgs[@]}"

# ---------------------------------------------------------------------------------------------
# CPUs: proxies on the first allowed CPU, wrk and the upstream on the second (if there is one).
if ((${#CPUS[@]} < 2)); then
  say "WARNING: only one CPU available; proxy, upstream and wrk share CPU $PROXY_CPU (numbers will be poor)"
fi

render() { # TEMPLATE OUTPUT NAME=VALUE...: replace @@NAME@@ placeholders
  local tmpl=$1 out=$2 kv expr=()
  shift 2
  for kv in "$@"; do expr+=(-e "s|@@${kv%%=*}@@|${kv#*=}|g"); done
  sed "${expr[@]}" "$tmpl" >"$out"
  ! grep -n '^[^#]*@@[A-Z_]*@@' "$out" >&2 || die "unfilled placeholder in $out"
}

declare -A PG PORT LOGF CMDLINE
start_group() { # NAME LOG CPU CMD...: start CMD in its own session/process group, pinned to CPU
  local name=$1 log=$2 cpu=$3
  shift 3
  setsid taskset -c "$cpu" "$@" >"$log" 2>&1 </dev/null &
  local pid=$! i
  PG[$name]=$pid
  PGIDS+=("$pid")
  # The forked child calls setsid() a moment later; until then the group does not exist.
  for i in $(seq 1 100); do
    [[ $(awk '{ sub(/^.*\) /, ""); print $3 }' "/proc/$pid/stat" 2>/dev/null) == "$pid" ]] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.01
  done
  LOGF[$name]=$log
  CMDLINE[$name]="taskset -c $cpu $*"
}

alive() { kill -0 -- "-${PG[$1]}" 2>/dev/null; }

log_tail() { # NAME
  say "last lines of ${LOGF[$1]}:"
  tail -n 30 "${LOGF[$1]}" | sed 's/^/    /' >&2 || true
}

# GET / through PORT; succeed only on a 2xx with exactly the 64-byte body.
check_body() { # PORT
  local out="$RUN_DIR/tmp/check.$1" code
  code=$(curl -sS --max-time 2 -o "$out" -w '%{http_code}' "http://127.0.0.1:$1/" 2>/dev/null) || code="curl failed"
  printf '%s' "$code" >"$out.code"
  [[ $code == 2?? && $(cat "$out") == "$BODY" && $(wc -c <"$out") -eq 64 ]]
}

wait_body() { # NAME PORT TIMEOUT_S
  local name=$1 port=$2 deadline=$((SECONDS + $3))
  while ((SECONDS < deadline)); do
    alive "$name" || { log_tail "$name"; die "$name exited during startup"; }
    check_body "$port" && return 0
    sleep 0.1
  done
  log_tail "$name"
  if [[ -s $RUN_DIR/tmp/check.$port ]]; then
    say "last response: status $(cat "$RUN_DIR/tmp/check.$port.code"), body: $(head -c 200 "$RUN_DIR/tmp/check.$port")"
  fi
  die "$name on 127.0.0.1:$port did not return the expected 64-byte body within $3s"
}

# ---------------------------------------------------------------------------------------------
# Start the upstream and the proxies.
free_port UPSTREAM_PORT
render bench/upstream.nginx.conf.tmpl "$RUN_DIR/upstream.nginx.conf" \
  "RUN_DIR=$RUN_DIR" "UPSTREAM_PORT=$UPSTREAM_PORT" "BODY=$BODY"
start_group upstream "$RUN_DIR/upstream.log" "$LOAD_CPU" \
  nginx -p "$RUN_DIR/tmp" -e "$RUN_DIR/upstream.error.log" -c "$RUN_DIR/upstream.nginx.conf"
wait_body upstream "$UPSTREAM_PORT" 10
say "upstream: nginx on 127.0.0.1:$UPSTREAM_PORT (CPU $LOAD_CPU)"

for p in "${PROXY_LIST[@]}"; do
  free_port "PORT[$p]"
  case $p in
    nginx)
      render bench/nginx.conf.tmpl "$RUN_DIR/nginx.conf" \
        "RUN_DIR=$RUN_DIR" "UPSTREAM_PORT=$UPSTREAM_PORT" "PROXY_PORT=${PORT[$p]}"
      start_group nginx "$RUN_DIR/nginx.log" "$PROXY_CPU" \
        nginx -p "$RUN_DIR/tmp" -e "$RUN_DIR/nginx.error.log" -c "$RUN_DIR/nginx.conf"
      wait_body nginx "${PORT[$p]}" 10
      ;;
    haproxy)
      render bench/haproxy.cfg.tmpl "$RUN_DIR/haproxy.cfg" \
        "UPSTREAM_PORT=$UPSTREAM_PORT" "PROXY_PORT=${PORT[$p]}"
      start_group haproxy "$RUN_DIR/haproxy.log" "$PROXY_CPU" haproxy -db -f "$RUN_DIR/haproxy.cfg"
      wait_body haproxy "${PORT[$p]}" 10
      ;;
    legate)
      free_port ADMIN_PORT
      render bench/legate.yaml.tmpl "$RUN_DIR/legate.yaml" \
        "UPSTREAM_PORT=$UPSTREAM_PORT" "PROXY_PORT=${PORT[$p]}" "ADMIN_PORT=$ADMIN_PORT"
      # Variants: N-1 non-matching routes before the catch-all (the lookup scans them all), and
      # an access log to a file (the default format), to measure what each costs.
      awk -v routes="${LEGATE_ROUTES:-1}" -v alog="${LEGATE_ACCESS_LOG:-0}" -v logpath="$RUN_DIR/access.log" '
        /codec_type: AUTO/ && alog == "1" { print; print "          access_log:"; print "          - name: envoy.access_loggers.file";
          print "            typed_config:"; print "              \"@type\": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog";
          print "              path: " logpath; next }
        /- match: \{ prefix: "\/" \}/ { for (i = 1; i < routes; i++) { print "              - match: { prefix: \"/no-such-prefix-" i "/\" }"; print "                route: { cluster: upstream }" } }
        { print }' "$RUN_DIR/legate.yaml" >"$RUN_DIR/legate.yaml.tmp" && mv "$RUN_DIR/legate.yaml.tmp" "$RUN_DIR/legate.yaml"
      read -r -a LEGATE_ARGV <<<"$LEGATE_CMD"
      [[ -x ${LEGATE_ARGV[0]} ]] || command -v "${LEGATE_ARGV[0]}" >/dev/null ||
        die "LEGATE_CMD: '${LEGATE_ARGV[0]}' is not executable"
      start_group legate "$RUN_DIR/legate.log" "$PROXY_CPU" \
        "${LEGATE_ARGV[@]}" -c "$RUN_DIR/legate.yaml" --concurrency "${LEGATE_CONCURRENCY:-1}"
      deadline=$((SECONDS + LEGATE_READY_TIMEOUT))
      code=000
      while :; do
        alive legate || { log_tail legate; die "legate exited during startup (${CMDLINE[legate]})"; }
        code=$(curl -s --max-time 1 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$ADMIN_PORT/ready" 2>/dev/null) || true
        [[ $code == 200 ]] && break
        if ((SECONDS >= deadline)); then
          log_tail legate
          die "legate not ready: GET http://127.0.0.1:$ADMIN_PORT/ready gave '$code' (want 200) after ${LEGATE_READY_TIMEOUT}s (${CMDLINE[legate]})"
        fi
        sleep 0.2
      done
      wait_body legate "${PORT[$p]}" 5
      ;;
  esac
  say "$p: 127.0.0.1:${PORT[$p]} (CPU $PROXY_CPU): ${CMDLINE[$p]}"
done

# ---------------------------------------------------------------------------------------------
# Measurement helpers.

# "BUSY TOTAL" jiffies of one CPU from /proc/stat (busy = all but idle and iowait). Softirq time
# (loopback delivery) appears both here and in the stime of the process it interrupted.
cpu_jiffies() { # CPU or comma-separated CPUs: busy and total jiffies, summed
  awk -v l="$1" 'BEGIN { n = split(l, cs, ","); for (k = 1; k <= n; k++) want["cpu" cs[k]] = 1 }
    ($1 in want) { t = 0; for (i = 2; i <= NF; i++) t += $i; busy += t - $5 - $6; tot += t }
    END { print busy, tot }' /proc/stat
}

# Parse wrk --latency output: "RPS P50_MS P99_MS REQUESTS NON2XX SOCKET_ERRORS"
parse_wrk() { # FILE
  awk '
    function ms(v) {
      if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0
      if (v ~ /m$/) return v * 60000; if (v ~ /s$/) return v * 1000; return v + 0 }
    /^ +50%/ { p50 = ms($2) } /^ +99%/ { p99 = ms($2) }
    / requests in / { req = $1 }
    /Socket errors:/ { gsub(",", ""); err = $4 + $6 + $8 + $10 }
    /Non-2xx or 3xx responses:/ { bad = $NF }
    /^Requests\/sec:/ { rps = $2 }
    END { printf "%.2f %.3f %.3f %d %d %d\n", rps, p50, p99, req, bad, err }' "$1"
}

WRK_ARGS=(-t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency)
run_wrk() { # SECONDS URL OUT: wrk in the background so that a signal interrupts the wait
  taskset -c "$LOAD_CPU" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$1s" --latency "$2" >"$3" 2>&1 &
  local pid=$! rc=0
  EXTRA+=("$pid")
  wait "$pid" || rc=$?
  untrack "$pid"
  return "$rc"
}

sleep_i() { sleep "$1" & local pid=$!; EXTRA+=("$pid"); wait "$pid" || true; untrack "$pid"; }

# ---------------------------------------------------------------------------------------------
# Interleaved rounds.
printf 'round\tproxy\trps\tp50_ms\tp99_ms\trequests\tutime_ticks\tstime_ticks\tuser_us_req\tcpu_us_req\trss_load_kb\trss_after_kb\tproxy_cpu_pct\tproxy_core_busy_pct\tload_core_busy_pct\tnon2xx\tsock_err\n' >"$RUN_DIR/runs.tsv"
FAILED=0
SUSPECT=0
OTHER_MAX=15 # % of the proxy core used by anything else before a run counts as suspect
IDLE_MAX=10  # % idle on both cores before a run counts as suspect (64 busy connections saturate one)
NP=${#PROXY_LIST[@]}
T0=$SECONDS
say "wrk and the upstream on CPU $LOAD_CPU, proxies on CPU $PROXY_CPU; $ROUNDS rounds x $NP proxies x (${WARMUP}s warm-up + ${DURATION}s)"
for ((r = 0; r < ROUNDS; r++)); do
  for ((i = 0; i < NP; i++)); do
    p=${PROXY_LIST[$(((i + r) % NP))]}
    url="http://127.0.0.1:${PORT[$p]}/"
    run_wrk "$WARMUP" "$url" "$RUN_DIR/wrk/r$((r + 1))-$p-warmup.txt" || true
    out="$RUN_DIR/wrk/r$((r + 1))-$p.txt"
    read -r u0 k0 _ _ < <(group_usage "${PG[$p]}")
    read -r lb0 lt0 < <(cpu_jiffies "$LOAD_CPU")
    read -r pb0 pt0 < <(cpu_jiffies "$PROXY_CPU")
    taskset -c "$LOAD_CPU" wrk "${WRK_ARGS[@]}" "$url" >"$out" 2>&1 &
    wpid=$!
    EXTRA+=("$wpid")
    rpid=""
    if [[ $p == legate && ${RELOAD_EVERY_MS:-0} -gt 0 ]]; then
      # Push a new config snapshot to the data plane every RELOAD_EVERY_MS while wrk runs.
      (while kill -0 "$wpid" 2>/dev/null; do
        curl -s -o /dev/null -X POST "http://127.0.0.1:$ADMIN_PORT/reload" || true
        sleep "$(awk -v m="$RELOAD_EVERY_MS" 'BEGIN { print m / 1000 }')"
      done) &
      rpid=$!
      EXTRA+=("$rpid")
    fi
    sleep_i "$(awk -v d="$DURATION" 'BEGIN { print d / 2 }')"
    read -r _ _ rss_load _ < <(group_usage "${PG[$p]}")
    wrc=0
    wait "$wpid" || wrc=$?
    untrack "$wpid"
    if [[ -n $rpid ]]; then
      wait "$rpid" 2>/dev/null || true
      untrack "$rpid"
      say "legate: $(curl -s "http://127.0.0.1:$ADMIN_PORT/stats?filter=server.config_reload$" | tr -d '\n') during the run"
    fi
    read -r u1 k1 rss_after _ < <(group_usage "${PG[$p]}")
    read -r lb1 lt1 < <(cpu_jiffies "$LOAD_CPU")
    read -r pb1 pt1 < <(cpu_jiffies "$PROXY_CPU")
    read -r rps p50 p99 req bad err < <(parse_wrk "$out")
    line=$(awk -v r=$((r + 1)) -v p="$p" -v rps="$rps" -v p50="$p50" -v p99="$p99" -v req="$req" \
      -v du=$((u1 - u0)) -v dk=$((k1 - k0)) -v hz="$CLK_TCK" -v rl="$rss_load" -v ra="$rss_after" \
      -v pb=$((pb1 - pb0)) -v pt=$((pt1 - pt0)) -v lb=$((lb1 - lb0)) -v lt=$((lt1 - lt0)) \
      -v bad="$bad" -v err="$err" 'BEGIN {
        us = 1e6 / hz; n = (req > 0) ? req : 1; pt = pt ? pt : 1; lt = lt ? lt : 1
        printf "%d\t%s\t%.0f\t%.3f\t%.3f\t%d\t%d\t%d\t%.2f\t%.2f\t%d\t%d\t%.0f\t%.0f\t%.0f\t%d\t%d\n", r, p, rps, p50, p99, req,
          du, dk, du * us / n, (du + dk) * us / n, rl, ra, 100 * (du + dk) / pt, 100 * pb / pt, 100 * lb / lt, bad, err }')
    printf '%s\n' "$line" >>"$RUN_DIR/runs.tsv"
    printf '%s\n' "$line" | awk -F '\t' -v R="$ROUNDS" '{ printf "[bench] round %d/%d %-8s %9.0f req/s  p50 %7.3f ms  p99 %7.3f ms  user %6.2f us/req  cpu %6.2f us/req  rss %6.1f MiB  proxy %3d%% of a core (its core %3d%% busy, load core %3d%%)\n",
      $1, R, $2, $3, $4, $5, $9, $10, $12 / 1024, $13, $14, $15 }' >&2
    IFS=$'\t' read -r own busy load < <(printf '%s\n' "$line" | cut -f 13-15)
    if ((busy - own > OTHER_MAX)); then
      SUSPECT=$((SUSPECT + 1))
      say "note: other processes took ~$((busy - own))% of CPU $PROXY_CPU during this run: its req/s and latency are suspect"
    elif ((100 - busy > IDLE_MAX && 100 - load > IDLE_MAX)); then
      SUSPECT=$((SUSPECT + 1))
      say "note: neither core was saturated (CPU $PROXY_CPU ~$((100 - busy))% idle, CPU $LOAD_CPU ~$((100 - load))% idle):" \
        "the host probably throttled this VM, or the proxy waited on something; req/s and latency are suspect"
    fi
    problem=""
    ((wrc == 0)) || problem+=" wrk exited with $wrc;"
    ((req > 0)) || problem+=" no requests completed;"
    ((bad == 0)) || problem+=" $bad non-2xx/3xx responses;"
    ((err == 0)) || problem+=" socket errors: $(grep -h 'Socket errors' "$out" | sed 's/^ *//');"
    alive "$p" || problem+=" process exited;"
    if [[ -n $problem ]]; then
      FAILED=1
      say "FAIL: $p:$problem (see $out)"
      alive "$p" || { log_tail "$p"; die "$p died during the benchmark"; }
    fi
  done
done
say "measured in $((SECONDS - T0))s"
if ((SUSPECT)); then
  say "note: $SUSPECT of $((ROUNDS * NP)) runs were disturbed; trust their CPU us/req more than their req/s (see bench/README.md)"
fi

# ---------------------------------------------------------------------------------------------
# Report: medians over rounds, ratios to HAProxy, as an aligned Markdown table.
has_proxy "$BASELINE" || say "note: $BASELINE is not in PROXIES, so no ratios are shown"
REPRO="ROUNDS=$ROUNDS DURATION=$DURATION WARMUP=$WARMUP CONNECTIONS=$CONNECTIONS THREADS=$THREADS PROXIES=\"${PROXY_LIST[*]}\" LEGATE_CONCURRENCY=${LEGATE_CONCURRENCY:-1} PROXY_CPUS=$PROXY_CPU LEGATE_ROUTES=${LEGATE_ROUTES:-1} LEGATE_ACCESS_LOG=${LEGATE_ACCESS_LOG:-0}"
has_proxy legate && REPRO+=" LEGATE_CMD=\"$LEGATE_CMD\""
REPRO+=" bash scripts/bench.sh"
WRK_CMD="taskset -c $LOAD_CPU wrk ${WRK_ARGS[*]} http://127.0.0.1:<proxy port>/"

summary() {
  awk -F '\t' -v order="${PROXY_LIST[*]}" -v base="$BASELINE" -v rounds="$ROUNDS" '
    NR == 1 { next }
    { k = $2 SUBSEP (++cnt[$2]); rps[k] = $3; p50[k] = $4; p99[k] = $5; uu[k] = $9; cu[k] = $10; rss[k] = $12 / 1024 }
    function median(arr, name,   n, i, j, t, v) {
      n = cnt[name]; for (i = 1; i <= n; i++) v[i] = arr[name SUBSEP i]
      for (i = 2; i <= n; i++) { t = v[i]; for (j = i - 1; j >= 1 && v[j] > t; j--) v[j + 1] = v[j]; v[j + 1] = t }
      return (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2 }
    function cell(x, b, fmt) { return sprintf(fmt, x) ((b > 0 && haveBase) ? sprintf(" (%.2fx)", x / b) : "") }
    END {
      n = split(order, names, " "); haveBase = (base in cnt)
      if (haveBase) { B[1] = median(rps, base); B[2] = median(p50, base); B[3] = median(p99, base)
                      B[4] = median(uu, base); B[5] = median(cu, base); B[6] = median(rss, base) }
      H[0] = "proxy"; H[1] = "req/s"; H[2] = "p50 ms"; H[3] = "p99 ms"
      H[4] = "user us/req"; H[5] = "CPU us/req"; H[6] = "RSS MiB"
      for (c = 0; c <= 6; c++) W[c] = length(H[c])
      for (i = 1; i <= n; i++) { p = names[i]
        C[i, 0] = p
        C[i, 1] = cell(median(rps, p), B[1], "%.0f"); C[i, 2] = cell(median(p50, p), B[2], "%.3f")
        C[i, 3] = cell(median(p99, p), B[3], "%.3f"); C[i, 4] = cell(median(uu, p), B[4], "%.2f")
        C[i, 5] = cell(median(cu, p), B[5], "%.2f");  C[i, 6] = cell(median(rss, p), B[6], "%.1f")
        for (c = 0; c <= 6; c++) if (length(C[i, c]) > W[c]) W[c] = length(C[i, c]) }
      row = "|"; for (c = 0; c <= 6; c++) row = row sprintf(c ? " %" W[c] "s |" : " %-" W[c] "s |", H[c]); print row
      row = "|"; for (c = 0; c <= 6; c++) { d = ""; for (j = 0; j < W[c]; j++) d = d "-"; row = row (c ? " " substr(d, 2) ": |" : " " d " |") }; print row
      for (i = 1; i <= n; i++) { row = "|"; for (c = 0; c <= 6; c++) row = row sprintf(c ? " %" W[c] "s |" : " %-" W[c] "s |", C[i, c]); print row }
      print ""
      printf "Medians of %d rounds.", rounds
      if (haveBase) printf " (N.NNx) = this proxy / %s, for every column: req/s higher is better; latency, CPU and RSS lower are better.", base
      print ""
    }' "$RUN_DIR/runs.tsv"
}

SUMMARY=$(summary)
echo
echo "$SUMMARY"
echo
echo "Command:  $REPRO"
echo "Load:     $WRK_CMD  (wrk and the nginx upstream pinned together to CPU $LOAD_CPU; each proxy pinned to CPU $PROXY_CPU)"
echo "Results:  $RUN_DIR/results.md (raw wrk output in $RUN_DIR/wrk/)"

# Per-pick cost of each load balancer (issue 4: least request and maglev within 5% of round
# robin per request). Pinned to the proxy CPU, after the proxies have stopped using it.
LB_TABLE=""
if has_proxy legate; then
  echo
  LB_TABLE=$(taskset -c "$PROXY_CPU" node_modules/.bin/bun bench/lb_bench.ts 2>&1) || LB_TABLE="(lb_bench failed: $LB_TABLE)"
  echo "$LB_TABLE"
fi

{
  echo "# Legate benchmark"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M:%SZ'), git $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD 2>/dev/null || echo ' (dirty)'),"\
       "$(nproc) CPUs ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)), Linux $(uname -r)."
  echo
  echo "$SUMMARY"
  echo
  if ((SUSPECT)); then
    echo "**Note:** $SUSPECT of $((ROUNDS * NP)) runs were disturbed: other processes took more than $OTHER_MAX% of the proxy's"
    echo "core, or both cores were more than $IDLE_MAX% idle (host throttling). Their req/s and latency are suspect;"
    echo "CPU per request holds up better. See the table of all runs below."
    echo
  fi
  echo "- Command: \`$REPRO\`"
  echo "- Load: \`$WRK_CMD\`; wrk and the upstream share CPU $LOAD_CPU, each proxy runs alone on CPU $PROXY_CPU."
  echo "  Each measured run is preceded by a ${WARMUP}s warm-up; proxies are interleaved in a rotating order per round."
  echo "- Upstream: \`${CMDLINE[upstream]}\` ($(nginx -v 2>&1 | sed 's/.*: //')), 64-byte body, keep-alive."
  for p in "${PROXY_LIST[@]}"; do
    case $p in
      nginx) v=$(nginx -v 2>&1 | sed 's/.*: //') ;;
      haproxy) v=$(haproxy -v 2>&1 | awk 'NR == 1 { print "HAProxy " $3 }') ;;
      legate) v="Legate" ;;
    esac
    echo "- $p: \`${CMDLINE[$p]}\` ($v)"
  done
  echo "- wrk: $({ wrk -v 2>&1 || true; } | awk 'NR == 1 { print $1, $2 }'). CPU figures: utime/stime of the proxy's process tree from /proc, CLK_TCK=$CLK_TCK."
  echo
  echo "## All runs"
  echo
  echo "| round | proxy | req/s | p50 ms | p99 ms | requests | user us/req | CPU us/req | RSS MiB (mid-run) | RSS MiB (after) | proxy CPU % | CPU $PROXY_CPU busy % | CPU $LOAD_CPU busy % | non-2xx | socket errors |"
  echo "| ---: | :--- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
  awk -F '\t' 'NR > 1 { printf "| %d | %s | %d | %.3f | %.3f | %d | %.2f | %.2f | %.1f | %.1f | %d | %d | %d | %d | %d |\n",
    $1, $2, $3, $4, $5, $6, $9, $10, $11 / 1024, $12 / 1024, $13, $14, $15, $16, $17 }' "$RUN_DIR/runs.tsv"
} >"$RUN_DIR/results.md"

if ((FAILED)); then
  say "FAILED: at least one run had non-2xx responses, socket errors or a dead proxy (see above)"
  exit 1
fi
[[ ${BENCH_TCP:-1} == 0 ]] || bash "$ROOT/bench/tcp_bench.sh"
[[ ${BENCH_TLS:-1} == 0 ]] || bash "$ROOT/bench/tls_bench.sh"
