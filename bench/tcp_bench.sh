#!/usr/bin/env bash
# L4 benchmark: Legate's tcp_proxy beside HAProxy `mode tcp` (and nginx `stream` when its module
# is installed), one interleaved run, figures as ratios to HAProxy.
#
#   wrk ──▶ proxy under test (TCP byte pipe) ──▶ nginx upstream (HTTP)
#   CPU 1        CPU 0                              CPU 1
#
# The proxies do not parse HTTP: they pipe bytes. wrk's HTTP/1.1 only gives the load a shape:
#   rr    request rate: 64 keep-alive connections, GET / → 64-byte body (small reads and writes)
#   bulk  throughput: 8 keep-alive connections, GET /big → 1 MiB body (large transfers)
#   cps   new connections: 16 connections, `Connection: close` → one TCP connection per request
# For each, the median over rounds of the rate (req/s, MiB/s or conn/s) and of the proxy's user
# CPU time per unit (µs per request, per MiB, per connection; utime of the proxy's process tree
# from /proc, as scripts/bench.sh does for HTTP), each also as a ratio to HAProxy.
#
# Knobs (environment, all optional):
#   ROUNDS=3 DURATION=5 WARMUP=1      rounds, seconds per measured run, seconds of warm-up before it
#   SCENARIOS="rr bulk cps"           any subset
#   PROXIES="legate haproxy nginx"    nginx is skipped (with a note) when its stream module is missing
#   LEGATE_CMD                        default: dist/legate if executable, else `node_modules/.bin/bun src/main.ts`
#   LEGATE_CONCURRENCY=1              Legate's data-plane workers
#   LEGATE_NETWORK_FILTERS=0          1: rbac (ALLOW 127.0.0.0/8), connection_limit and local_ratelimit
#                                     (both far above the load) in front of tcp_proxy, to see their cost
#   PROXY_CPUS                        CPU(s) of the proxies (default: the first allowed CPU)
#   BENCH_DIR=.bench                  output goes to $BENCH_DIR/tcp/ (configs, logs, wrk output, results.md)
# Everything started here runs in its own process group and is stopped on exit, error or Ctrl-C.

set -Eeuo pipefail
set +m

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export PATH="$PATH:/usr/sbin:/sbin"

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
SCENARIOS=${SCENARIOS:-rr bulk cps}
PROXIES=${PROXIES:-legate haproxy nginx}
LEGATE_CONCURRENCY=${LEGATE_CONCURRENCY:-1}
LEGATE_NETWORK_FILTERS=${LEGATE_NETWORK_FILTERS:-0}
OUT=${BENCH_DIR:-$ROOT/.bench}/tcp
if [[ -z ${LEGATE_CMD:-} ]]; then
  if [[ -f dist/legate && -x dist/legate ]]; then LEGATE_CMD=dist/legate; else LEGATE_CMD="node_modules/.bin/bun src/main.ts"; fi
fi
BODY="legate-bench-64-byte-body:0123456789abcdefghijklmnopqrstuvwxyz.."
BIG_BYTES=1048576

say() { printf '[tcp-bench] %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

for v in ROUNDS DURATION WARMUP LEGATE_CONCURRENCY; do
  [[ ${!v} =~ ^[0-9]+$ && ${!v} -gt 0 ]] || die "$v must be a positive integer (got '${!v}')"
done
for s in $SCENARIOS; do case $s in rr | bulk | cps) ;; *) die "unknown scenario '$s' (rr, bulk, cps)" ;; esac; done
for p in $PROXIES; do case $p in legate | haproxy | nginx) ;; *) die "unknown proxy '$p' (legate, haproxy, nginx)" ;; esac; done

# ---- tools (installed with apt-get when missing, as scripts/bench.sh does) -------------------
pkgs=()
command -v nginx >/dev/null || pkgs+=(nginx)
command -v haproxy >/dev/null || pkgs+=(haproxy)
command -v wrk >/dev/null || pkgs+=(wrk)
command -v curl >/dev/null || pkgs+=(curl)
for t in taskset setsid getconf; do command -v "$t" >/dev/null || die "'$t' not found"; done
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
source "$ROOT/bench/lib.sh"
install_missing "$OUT/apt.log" "${pkgs[@]}"

# nginx stream: built in (--with-stream) or a dynamic module file that is present.
STREAM_LOAD=""
if [[ " $PROXIES " == *" nginx "* ]]; then
  if nginx -V 2>&1 | grep -q -- '--with-stream\( \|$\)'; then STREAM_LOAD=builtin
  else
    for f in /usr/lib/nginx/modules/ngx_stream_module.so /usr/share/nginx/modules/ngx_stream_module.so; do
      [[ -f $f ]] && { STREAM_LOAD="load_module $f;"; break; }
    done
  fi
  if [[ -z $STREAM_LOAD ]]; then
    say "note: nginx has no stream module here (libnginx-mod-stream not installed): nginx skipped"
    PROXIES=$(sed 's/\bnginx\b//g' <<<"$PROXIES")
  fi
  [[ $STREAM_LOAD == builtin ]] && STREAM_LOAD=""
fi
read -r -a PROXY_LIST <<<"$PROXIES"
((${#PROXY_LIST[@]})) || die "no proxy to run"
read -r -a SCENARIO_LIST <<<"$SCENARIOS"

rm -rf "$OUT/wrk" "$OUT/tmp"
mkdir -p "$OUT/wrk" "$OUT/tmp"
rm -f "$OUT"/*.log "$OUT/runs.tsv" "$OUT/results.md"

# ---- CPUs and ports ----------------------------------------------------------------------------
# CPUS, PROXY_CPU, LOAD_CPU, CLK_TCK and free_port come from bench/lib.sh.

# ---- processes -------------------------------------------------------------------------------
# "UTIME STIME" (ticks) of process group PG and every descendant, reaped children included.
group_ticks() { # PG
  { cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v pg="$1" '
    { pid = $1; s = $0; sub(/^.*\) /, "", s); split(s, f, " "); P[pid] = f[2]; G[pid] = f[3]; U[pid] = f[12] + f[14]; K[pid] = f[13] + f[15] }
    END { for (p in P) if (G[p] == pg) M[p] = 1
          do { c = 0; for (p in P) if (!(p in M) && (P[p] in M)) { M[p] = 1; c = 1 } } while (c)
          for (p in M) { u += U[p]; k += K[p] }
          printf "%d %d\n", u, k }'
}

PGIDS=()
EXTRA=()
cleanup() {
  local rc=$? pg i alive
  trap - EXIT INT TERM ERR
  for i in "${EXTRA[@]}"; do kill -TERM "$i" 2>/dev/null || true; done
  for pg in "${PGIDS[@]}"; do kill -TERM -- "-$pg" 2>/dev/null || true; done
  for i in $(seq 1 30); do
    alive=0
    for pg in "${PGIDS[@]}"; do kill -0 -- "-$pg" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.1
  done
  for pg in "${PGIDS[@]}"; do kill -KILL -- "-$pg" 2>/dev/null || true; done
  wait 2>/dev/null || true
  exit "$rc"
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT TERM

declare -A PG PORT LOGF
start_group() { # NAME CPU CMD...
  local name=$1 cpu=$2 i
  shift 2
  LOGF[$name]=$OUT/$name.log
  setsid taskset -c "$cpu" "$@" >"${LOGF[$name]}" 2>&1 </dev/null &
  PG[$name]=$!
  PGIDS+=("$!")
  for i in $(seq 1 100); do
    [[ $(awk '{ sub(/^.*\) /, ""); print $3 }' "/proc/${PG[$name]}/stat" 2>/dev/null) == "${PG[$name]}" ]] && break
    sleep 0.01
  done
}
alive() { kill -0 -- "-${PG[$1]}" 2>/dev/null; }

wait_body() { # NAME PORT TIMEOUT_S
  local deadline=$((SECONDS + $3)) got
  while ((SECONDS < deadline)); do
    alive "$1" || { tail -n 20 "${LOGF[$1]}" >&2; die "$1 exited during startup"; }
    got=$(curl -s --max-time 2 "http://127.0.0.1:$2/" 2>/dev/null || true)
    [[ $got == "$BODY" ]] && return 0
    sleep 0.1
  done
  tail -n 20 "${LOGF[$1]}" >&2
  die "$1 on 127.0.0.1:$2 did not pass the 64-byte body through within $3s"
}

# ---- upstream: nginx, 64-byte body on /, 1 MiB file on /big ----------------------------------
free_port UPSTREAM_PORT
head -c "$BIG_BYTES" /dev/zero | tr '\0' 'x' >"$OUT/tmp/big"
cat >"$OUT/upstream.nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $OUT/upstream.pid;
error_log $OUT/upstream.error.log warn;
events { worker_connections 4096; multi_accept on; }
http {
    access_log off;
    default_type text/plain;
    sendfile on;
    keepalive_timeout 300s;
    keepalive_requests 1000000000;
    client_body_temp_path $OUT/tmp/b; proxy_temp_path $OUT/tmp/p; fastcgi_temp_path $OUT/tmp/f;
    uwsgi_temp_path $OUT/tmp/u; scgi_temp_path $OUT/tmp/s;
    server {
        listen 127.0.0.1:$UPSTREAM_PORT backlog=4096;
        location = / { return 200 "$BODY"; }
        location = /big { alias $OUT/tmp/big; }
    }
}
EOF
start_group upstream "$LOAD_CPU" nginx -p "$OUT/tmp" -e "$OUT/upstream.error.log" -c "$OUT/upstream.nginx.conf"
wait_body upstream "$UPSTREAM_PORT" 10
[[ $(curl -s "http://127.0.0.1:$UPSTREAM_PORT/big" | wc -c) -eq $BIG_BYTES ]] || die "upstream /big is not $BIG_BYTES bytes"

# ---- proxies ---------------------------------------------------------------------------------
for p in "${PROXY_LIST[@]}"; do
  free_port "PORT[$p]"
  case $p in
    haproxy)
      cat >"$OUT/haproxy.cfg" <<EOF
global
    nbthread 1
    maxconn 8192
defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend bench
    bind 127.0.0.1:${PORT[$p]}
    default_backend upstream
backend upstream
    server s1 127.0.0.1:$UPSTREAM_PORT
EOF
      start_group haproxy "$PROXY_CPU" haproxy -db -f "$OUT/haproxy.cfg"
      ;;
    nginx)
      cat >"$OUT/nginx.conf" <<EOF
$STREAM_LOAD
worker_processes 1;
daemon off;
pid $OUT/nginx.pid;
error_log $OUT/nginx.error.log warn;
events { worker_connections 8192; multi_accept on; }
stream {
    server {
        listen 127.0.0.1:${PORT[$p]} backlog=4096;
        proxy_pass 127.0.0.1:$UPSTREAM_PORT;
    }
}
EOF
      start_group nginx "$PROXY_CPU" nginx -p "$OUT/tmp" -e "$OUT/nginx.error.log" -c "$OUT/nginx.conf"
      ;;
    legate)
      free_port ADMIN_PORT
      filters=""
      if [[ $LEGATE_NETWORK_FILTERS == 1 ]]; then
        filters='
      - name: envoy.filters.network.rbac
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC
          stat_prefix: bench.
          rules: { action: ALLOW, policies: { local: { permissions: [{ any: true }], principals: [{ remote_ip: { address_prefix: 127.0.0.0, prefix_len: 8 } }] } } }
      - name: envoy.filters.network.connection_limit
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.connection_limit.v3.ConnectionLimit
          stat_prefix: bench
          max_connections: 100000
      - name: envoy.filters.network.local_ratelimit
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.local_ratelimit.v3.LocalRateLimit
          stat_prefix: bench
          token_bucket: { max_tokens: 1000000000, tokens_per_fill: 1000000000, fill_interval: 1s }'
      fi
      cat >"$OUT/legate.yaml" <<EOF
admin:
  address: { socket_address: { address: 127.0.0.1, port_value: $ADMIN_PORT } }
static_resources:
  listeners:
  - name: bench
    address: { socket_address: { address: 127.0.0.1, port_value: ${PORT[$p]} } }
    filter_chains:
    - filters:$filters
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
          stat_prefix: bench
          cluster: upstream
  clusters:
  - name: upstream
    type: STATIC
    connect_timeout: 1s
    load_assignment:
      cluster_name: upstream
      endpoints:
      - lb_endpoints:
        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: $UPSTREAM_PORT } } }
EOF
      read -r -a LEGATE_ARGV <<<"$LEGATE_CMD"
      start_group legate "$PROXY_CPU" "${LEGATE_ARGV[@]}" -c "$OUT/legate.yaml" --concurrency "$LEGATE_CONCURRENCY"
      deadline=$((SECONDS + 20))
      until [[ $(curl -s --max-time 1 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$ADMIN_PORT/ready" 2>/dev/null || true) == 200 ]]; do
        alive legate || { tail -n 20 "${LOGF[legate]}" >&2; die "legate exited during startup ($LEGATE_CMD)"; }
        ((SECONDS < deadline)) || die "legate not ready after 20s"
        sleep 0.2
      done
      ;;
  esac
  wait_body "$p" "${PORT[$p]}" 10
  say "$p on 127.0.0.1:${PORT[$p]} (CPU $PROXY_CPU)"
done

# ---- runs ------------------------------------------------------------------------------------
# Rate in wrk's terms: requests/s; bulk turns it into MiB/s (1 MiB per request).
wrk_args() { # SCENARIO PORT SECONDS
  case $1 in
    rr) echo "-t1 -c64 -d$3s http://127.0.0.1:$2/" ;;
    bulk) echo "-t1 -c8 -d$3s http://127.0.0.1:$2/big" ;;
    cps) echo "-t1 -c16 -d$3s -H Connection:close http://127.0.0.1:$2/" ;;
  esac
}
run_wrk() { # OUTFILE ARGS...
  local out=$1 pid rc=0
  shift
  taskset -c "$LOAD_CPU" wrk "$@" >"$out" 2>&1 &
  pid=$!
  EXTRA+=("$pid")
  wait "$pid" || rc=$?
  return "$rc"
}

printf 'round\tscenario\tproxy\trate\tunits\tuser_us_per_unit\tcpu_us_per_unit\terrors\n' >"$OUT/runs.tsv"
NP=${#PROXY_LIST[@]}
FAILED=0
T0=$SECONDS
say "wrk + upstream on CPU $LOAD_CPU, proxies on CPU $PROXY_CPU; $ROUNDS rounds x ${#SCENARIO_LIST[@]} scenarios x $NP proxies x (${WARMUP}s + ${DURATION}s)"
for ((r = 0; r < ROUNDS; r++)); do
  for s in "${SCENARIO_LIST[@]}"; do
    for ((i = 0; i < NP; i++)); do
      p=${PROXY_LIST[$(((i + r) % NP))]}
      # shellcheck disable=SC2046
      run_wrk "$OUT/wrk/r$((r + 1))-$s-$p-warmup.txt" $(wrk_args "$s" "${PORT[$p]}" "$WARMUP") || true
      read -r u0 k0 < <(group_ticks "${PG[$p]}")
      out="$OUT/wrk/r$((r + 1))-$s-$p.txt"
      rc=0
      # shellcheck disable=SC2046
      run_wrk "$out" $(wrk_args "$s" "${PORT[$p]}" "$DURATION") || rc=$?
      read -r u1 k1 < <(group_ticks "${PG[$p]}")
      line=$(awk -v r=$((r + 1)) -v s="$s" -v p="$p" -v du=$((u1 - u0)) -v dk=$((k1 - k0)) -v hz="$CLK_TCK" -v big="$BIG_BYTES" -v rc="$rc" '
        / requests in / { req = $1 }
        /Socket errors:/ { gsub(",", ""); err = $4 + $6 + $8 + $10 }
        /Non-2xx or 3xx responses:/ { bad = $NF }
        /^Requests\/sec:/ { rps = $2 }
        END {
          units = (s == "bulk") ? req * big / 1048576 : req; rate = (s == "bulk") ? rps * big / 1048576 : rps
          n = units > 0 ? units : 1; us = 1e6 / hz
          # cps: wrk counts a connect/read error per closed connection on some builds; only
          # non-2xx and timeouts are failures there.
          printf "%d\t%s\t%s\t%.1f\t%.1f\t%.2f\t%.2f\t%d\n", r, s, p, rate, units, du * us / n, (du + dk) * us / n, bad + (s == "cps" ? 0 : err) + (rc != 0) }' "$out")
      printf '%s\n' "$line" >>"$OUT/runs.tsv"
      printf '%s\n' "$line" | awk -F '\t' '{ u = ($2 == "rr") ? "req/s" : ($2 == "bulk") ? "MiB/s" : "conn/s"; pu = ($2 == "bulk") ? "MiB" : ($2 == "rr") ? "req" : "conn"
        printf "[tcp-bench] round %d %-4s %-8s %10.1f %-6s user %7.2f us/%s  cpu %7.2f us/%s%s\n", $1, $2, $3, $4, u, $6, pu, $7, pu, ($8 ? "  ERRORS" : "") }' >&2
      [[ $(cut -f 8 <<<"$line") == 0 ]] || { FAILED=1; say "FAIL: $p $s had errors (see $out)"; }
      alive "$p" || { tail -n 20 "${LOGF[$p]}" >&2; die "$p died during the benchmark"; }
    done
  done
done
say "measured in $((SECONDS - T0))s"

# ---- report: medians and ratios to HAProxy ----------------------------------------------------
TABLE=$(awk -F '\t' -v order="${PROXY_LIST[*]}" -v scen="${SCENARIO_LIST[*]}" '
  NR == 1 { next }
  { k = $2 SUBSEP $3; n = ++cnt[k]; R[k, n] = $4; U[k, n] = $6; C[k, n] = $7 }
  function med(A, k,   n, i, j, t, v) { n = cnt[k]; for (i = 1; i <= n; i++) v[i] = A[k, i]
    for (i = 2; i <= n; i++) { t = v[i]; for (j = i - 1; j >= 1 && v[j] > t; j--) v[j + 1] = v[j]; v[j + 1] = t }
    return (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2 }
  function ratio(x, b) { return (b > 0) ? sprintf(" (%.2fx)", x / b) : "" }
  END {
    np = split(order, P, " "); ns = split(scen, S, " ")
    print "| scenario | proxy | rate | user us/unit | CPU us/unit |"
    print "| :--- | :--- | ---: | ---: | ---: |"
    for (a = 1; a <= ns; a++) { s = S[a]; unit = (s == "rr") ? "req" : (s == "bulk") ? "MiB" : "conn"; ru = (s == "rr") ? "req/s" : (s == "bulk") ? "MiB/s" : "conn/s"
      b = s SUBSEP "haproxy"; hb = (b in cnt)
      br = hb ? med(R, b) : 0; bu = hb ? med(U, b) : 0; bc = hb ? med(C, b) : 0
      for (i = 1; i <= np; i++) { k = s SUBSEP P[i]; if (!(k in cnt)) continue
        r = med(R, k); u = med(U, k); c = med(C, k)
        printf "| %s | %s | %.0f %s%s | %.2f /%s%s | %.2f /%s%s |\n", s, P[i], r, ru, ratio(r, br), u, unit, ratio(u, bu), c, unit, ratio(c, bc) } }
    printf "\nMedians of the rounds; (N.NNx) = this proxy / haproxy (rate: higher is better; CPU: lower is better).\n" }' "$OUT/runs.tsv")
REPRO="ROUNDS=$ROUNDS DURATION=$DURATION WARMUP=$WARMUP SCENARIOS=\"${SCENARIO_LIST[*]}\" PROXIES=\"${PROXY_LIST[*]}\" LEGATE_CONCURRENCY=$LEGATE_CONCURRENCY LEGATE_NETWORK_FILTERS=$LEGATE_NETWORK_FILTERS LEGATE_CMD=\"$LEGATE_CMD\" bash bench/tcp_bench.sh"
echo
echo "$TABLE"
echo
echo "Command: $REPRO"
{
  echo "# Legate L4 (tcp_proxy) benchmark"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M:%SZ'), git $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD 2>/dev/null || echo ' (dirty)'), $(nproc) CPUs, Linux $(uname -r)."
  echo
  echo "$TABLE"
  echo
  echo "- Command: \`$REPRO\`"
  echo "- Load (CPU $LOAD_CPU with the nginx upstream): rr \`wrk $(wrk_args rr PORT "$DURATION")\`, bulk \`wrk $(wrk_args bulk PORT "$DURATION")\`, cps \`wrk $(wrk_args cps PORT "$DURATION")\`."
  echo "- Proxies on CPU $PROXY_CPU: haproxy \`mode tcp\` nbthread 1$( [[ " ${PROXY_LIST[*]} " == *" nginx "* ]] && echo ", nginx \`stream\` 1 worker"), Legate tcp_proxy --concurrency $LEGATE_CONCURRENCY."
  echo
  echo "## All runs"
  echo
  echo "| round | scenario | proxy | rate | units | user us/unit | CPU us/unit | errors |"
  echo "| ---: | :--- | :--- | ---: | ---: | ---: | ---: | ---: |"
  awk -F '\t' 'NR > 1 { printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8 }' "$OUT/runs.tsv"
} >"$OUT/results.md"
echo "Results: $OUT/results.md"
((FAILED == 0)) || { say "FAILED: some runs had errors"; exit 1; }
