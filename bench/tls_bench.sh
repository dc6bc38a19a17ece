#!/usr/bin/env bash
# TLS benchmark: Legate terminating TLS (envoy.transport_sockets.tls → HCM → router) beside
# HAProxy (`bind … ssl crt`, mode http), the same ECDSA P-256 certificate
# (tests/fixtures/tls/server.pem), one interleaved run, figures as ratios to HAProxy.
#
#   wrk (https) ──▶ proxy under test (TLS termination) ──▶ nginx upstream (plain HTTP, 64-byte body)
#   CPU 1            CPU 0                                   CPU 1
#
# Scenarios:
#   hs   TLS handshakes/s: 16 connections, `Connection: close`: one handshake per request (wrk
#        resumes sessions when it can: see HAPROXY_RESUMPTION)
#   rr   TLS request throughput: 64 keep-alive connections, GET / → 64-byte body
# For each, the median over rounds of the rate and of the proxy's user CPU µs per request
# (utime of the proxy's process tree from /proc).
#
# Knobs (environment, all optional):
#   ROUNDS=3 DURATION=5 WARMUP=1   rounds, seconds per measured run, seconds of warm-up before it
#   SCENARIOS="hs rr"  PROXIES="legate haproxy"
#   LEGATE_CMD   default: dist/legate if executable, else `node_modules/.bin/bun src/main.ts`
#   LEGATE_CONCURRENCY=1           Legate's data-plane workers
#   LEGATE_INSPECTOR=0             1: put the TLS inspector in front (the peek-then-replay path)
#   HAPROXY_RESUMPTION=1           0: no session tickets / cache on HAProxy. wrk resumes sessions
#                                  when the server allows, and both servers issue session tickets
#                                  by default (Legate: the runtime's TLS defaults), so `hs` is the
#                                  rate of new TLS connections, mostly resumed, not full handshakes.
#   BENCH_DIR=.bench               output goes to $BENCH_DIR/tls/ (configs, logs, wrk output, results.md)
# Everything started here runs in its own process group and is stopped on exit, error or Ctrl-C.
set -Eeuo pipefail
set +m

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export PATH="$PATH:/usr/sbin:/sbin"

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
SCENARIOS=${SCENARIOS:-hs rr}
PROXIES=${PROXIES:-legate haproxy}
LEGATE_CONCURRENCY=${LEGATE_CONCURRENCY:-1}
LEGATE_INSPECTOR=${LEGATE_INSPECTOR:-0}
HAPROXY_RESUMPTION=${HAPROXY_RESUMPTION:-1}
HAPROXY_NO_RESUME_OPT=" no-tls-tickets"
HAPROXY_CACHE_LINE="tune.ssl.cachesize 0"
if [[ $HAPROXY_RESUMPTION == 1 ]]; then HAPROXY_NO_RESUME_OPT=""; HAPROXY_CACHE_LINE=""; fi
OUT=${BENCH_DIR:-$ROOT/.bench}/tls
if [[ -z ${LEGATE_CMD:-} ]]; then
  if [[ -f dist/legate && -x dist/legate ]]; then LEGATE_CMD=dist/legate; else LEGATE_CMD="node_modules/.bin/bun src/main.ts"; fi
fi
BODY="legate-bench-64-byte-body:0123456789abcdefghijklmnopqrstuvwxyz.."
FIX=$ROOT/tests/fixtures/tls

say() { printf '[tls-bench] %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

for v in ROUNDS DURATION WARMUP LEGATE_CONCURRENCY; do
  [[ ${!v} =~ ^[0-9]+$ && ${!v} -gt 0 ]] || die "$v must be a positive integer (got '${!v}')"
done
for s in $SCENARIOS; do case $s in hs | rr) ;; *) die "unknown scenario '$s' (hs, rr)" ;; esac; done
for p in $PROXIES; do case $p in legate | haproxy) ;; *) die "unknown proxy '$p' (legate, haproxy)" ;; esac; done

# ---- tools (apt-get when missing, as scripts/bench.sh does) ---------------------------------
pkgs=()
command -v nginx >/dev/null || pkgs+=(nginx)
[[ " $PROXIES " == *" haproxy "* ]] && ! command -v haproxy >/dev/null && pkgs+=(haproxy)
command -v wrk >/dev/null || pkgs+=(wrk)
command -v curl >/dev/null || pkgs+=(curl)
for t in taskset setsid getconf; do command -v "$t" >/dev/null || die "'$t' not found"; done
mkdir -p "$OUT/tmp"
OUT=$(cd "$OUT" && pwd)
source "$ROOT/bench/lib.sh"
install_missing "$OUT/apt.log" "${pkgs[@]}"
[[ -f $FIX/server.pem ]] || die "missing $FIX/server.pem (run tests/fixtures/tls/gen.sh)"

# CPUS, PROXY_CPU, LOAD_CPU, CLK_TCK and free_port come from bench/lib.sh.

# ---- process groups ----------------------------------------------------------------------------
declare -A PG=()
cleanup() {
  local g
  for g in "${PG[@]}"; do kill -TERM -- "-$g" 2>/dev/null || true; done
  sleep 0.3
  for g in "${PG[@]}"; do kill -KILL -- "-$g" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_group() { # NAME LOG CPU CMD...
  local name=$1 log=$2 cpu=$3
  shift 3
  setsid taskset -c "$cpu" "$@" >"$log" 2>&1 </dev/null &
  PG[$name]=$!
}

# utime (ticks) of process group PG and its descendants.
group_utime() {
  { cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v pg="$1" '
    { pid = $1; s = $0; sub(/^.*\) /, "", s); split(s, f, " "); P[pid] = f[2]; G[pid] = f[3]; U[pid] = f[12] + f[14] }
    END { for (p in P) if (G[p] == pg) M[p] = 1
          do { c = 0; for (p in P) if (!(p in M) && (P[p] in M)) { M[p] = 1; c = 1 } } while (c)
          for (p in M) u += U[p]; print u + 0 }'
}


wait_https() { # PORT NAME
  local i
  for i in $(seq 1 100); do
    [[ $(curl -s --max-time 1 --cacert "$FIX/ca.pem" --resolve "a.test:$1:127.0.0.1" -o /dev/null -w '%{http_code}' "https://a.test:$1/" 2>/dev/null) == 200 ]] && return 0
    sleep 0.1
  done
  tail -n 20 "$OUT/$2.log" >&2 || true
  die "$2 does not answer https://a.test:$1/"
}

# ---- upstream: nginx, plain HTTP -----------------------------------------------------------
free_port UP_PORT
cat >"$OUT/upstream.conf" <<EOF
worker_processes 1;
pid $OUT/upstream.pid;
daemon off;
error_log $OUT/upstream.error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  server { listen 127.0.0.1:$UP_PORT; location / { return 200 "$BODY"; } }
}
EOF
start_group upstream "$OUT/upstream.log" "$LOAD_CPU" nginx -p "$OUT/tmp" -c "$OUT/upstream.conf"

declare -A PORT=()
for p in $PROXIES; do
  free_port "PORT[$p]"
  case $p in
    haproxy)
      cat "$FIX/server.pem" "$FIX/server.key" >"$OUT/haproxy.pem"
      cat >"$OUT/haproxy.cfg" <<EOF
global
  nbthread 1
  maxconn 4096
  ssl-default-bind-options ssl-min-ver TLSv1.2$HAPROXY_NO_RESUME_OPT
  $HAPROXY_CACHE_LINE
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  http-reuse always
frontend fe
  bind 127.0.0.1:${PORT[$p]} ssl crt $OUT/haproxy.pem alpn http/1.1
  default_backend be
backend be
  server up 127.0.0.1:$UP_PORT
EOF
      start_group haproxy "$OUT/haproxy.log" "$PROXY_CPU" haproxy -db -f "$OUT/haproxy.cfg"
      ;;
    legate)
      INSPECTOR=""
      [[ $LEGATE_INSPECTOR == 1 ]] && INSPECTOR='
    listener_filters:
    - name: envoy.filters.listener.tls_inspector
      typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector }'
      cat >"$OUT/legate.yaml" <<EOF
static_resources:
  listeners:
  - name: https
    address: { socket_address: { address: 127.0.0.1, port_value: ${PORT[$p]} } }$INSPECTOR
    filter_chains:
    - transport_socket:
        name: envoy.transport_sockets.tls
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext
          common_tls_context:
            alpn_protocols: [http/1.1]
            tls_certificates:
            - certificate_chain: { filename: $FIX/server.pem }
              private_key: { filename: $FIX/server.key }
      filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: https
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes: [{ match: { prefix: "/" }, route: { cluster: upstream } }]
          http_filters:
          - name: envoy.filters.http.router
            typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }
  clusters:
  - name: upstream
    type: STATIC
    connect_timeout: 1s
    load_assignment:
      cluster_name: upstream
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: $UP_PORT } } } }] }]
EOF
      read -r -a LEGATE_ARGV <<<"$LEGATE_CMD"
      start_group legate "$OUT/legate.log" "$PROXY_CPU" "${LEGATE_ARGV[@]}" -c "$OUT/legate.yaml" --concurrency "$LEGATE_CONCURRENCY" --disable-hot-restart
      ;;
  esac
  wait_https "${PORT[$p]}" "$p"
  say "$p: https://127.0.0.1:${PORT[$p]} (CPU $PROXY_CPU)"
done

# ---- runs --------------------------------------------------------------------------------------
printf 'round\tscenario\tproxy\trate\tuser_us_per_req\tnon2xx_or_errors\n' >"$OUT/runs.tsv"
wrk_args() { # SCENARIO
  case $1 in
    hs) echo "-t1 -c16 -H Connection:close" ;;
    rr) echo "-t1 -c64" ;;
  esac
}
for r in $(seq 1 "$ROUNDS"); do
  for s in $SCENARIOS; do
    for p in $PROXIES; do
      url="https://127.0.0.1:${PORT[$p]}/"
      # shellcheck disable=SC2046
      taskset -c "$LOAD_CPU" wrk $(wrk_args "$s") -d"${WARMUP}s" "$url" >/dev/null 2>&1 || true
      u0=$(group_utime "${PG[$p]}")
      out="$OUT/wrk.$r.$s.$p.txt"
      # shellcheck disable=SC2046
      taskset -c "$LOAD_CPU" wrk $(wrk_args "$s") -d"${DURATION}s" "$url" >"$out" 2>&1 || true
      u1=$(group_utime "${PG[$p]}")
      awk -v r="$r" -v s="$s" -v p="$p" -v du=$((u1 - u0)) -v tck="$CLK_TCK" '
        / requests in / { req = $1 } /^Requests\/sec:/ { rps = $2 }
        /Socket errors:/ { gsub(",", ""); err = $4 + $6 + $8 + $10 } /Non-2xx/ { bad = $NF }
        END { printf "%d\t%s\t%s\t%.0f\t%.1f\t%d\n", r, s, p, rps, req ? du * 1e6 / tck / req : 0, bad + err }' "$out" >>"$OUT/runs.tsv"
      say "round $r $s $p: $(tail -n 1 "$OUT/runs.tsv" | cut -f4-)"
    done
  done
done

# ---- medians and ratios to HAProxy -------------------------------------------------------------
{
  echo "# TLS bench ($(date -u +%Y-%m-%dT%H:%MZ), $ROUNDS rounds × ${DURATION}s, proxy on CPU $PROXY_CPU, wrk+upstream on CPU $LOAD_CPU)"
  echo
  echo "| scenario | proxy | rate (median) | vs haproxy | user µs/req (median) | vs haproxy |"
  echo "| --- | --- | --- | --- | --- | --- |"
  awk -F'\t' 'NR > 1 { k = $2 SUBSEP $3; n[k]++; R[k, n[k]] = $4; U[k, n[k]] = $5; S[$2] = 1; P[$3] = 1 }
    function med(A, k, m,   i, j, t, v) { for (i = 1; i <= m; i++) v[i] = A[k, i]
      for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
      return m % 2 ? v[(m + 1) / 2] : (v[m / 2] + v[m / 2 + 1]) / 2 }
    END { for (s in S) { hr = ("haproxy" in P) ? med(R, s SUBSEP "haproxy", n[s, "haproxy"]) : 0
                         hu = ("haproxy" in P) ? med(U, s SUBSEP "haproxy", n[s, "haproxy"]) : 0
      for (p in P) { k = s SUBSEP p; r = med(R, k, n[k]); u = med(U, k, n[k])
        printf "| %s | %s | %.0f %s | %s | %.1f | %s |\n", s, p, r, s == "hs" ? "handshakes/s" : "req/s",
          hr ? sprintf("%.2fx", r / hr) : "-", u, hu ? sprintf("%.2fx", u / hu) : "-" } } }' "$OUT/runs.tsv" | sort
  echo
  echo "Legate: $LEGATE_CMD, --concurrency $LEGATE_CONCURRENCY, TLS inspector: $LEGATE_INSPECTOR. HAProxy session resumption: $HAPROXY_RESUMPTION. HAProxy: $(haproxy -v 2>/dev/null | head -n 1 || echo -)."
} | tee "$OUT/results.md"
