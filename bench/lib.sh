# Shared by scripts/bench.sh, bench/tcp_bench.sh and bench/tls_bench.sh (sourced after each has
# defined say() and die()): tools, CPUs and ports, the same way in every benchmark.

# install_missing LOG PKG...: apt-get install the packages (none: nothing), as root or through
# sudo -n; on failure, apt-get update and try again; the log goes to LOG.
install_missing() {
  local log=$1; shift
  (($#)) || return 0
  local sudo=()
  if [[ $(id -u) != 0 ]]; then
    command -v sudo >/dev/null || die "need root (or sudo) to apt-get install $*"
    sudo=(sudo -n)
  fi
  say "installing $* with apt-get (log: $log)"
  if ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >"$log" 2>&1; then
    "${sudo[@]}" apt-get update -qq >>"$log" 2>&1 || true
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >>"$log" 2>&1 ||
      { tail -n 20 "$log" >&2; die "apt-get install $* failed"; }
  fi
}

# CPUS: the CPUs this process may run on. Proxies go on the first (or PROXY_CPUS), wrk and the
# upstream on the second (if there is one).
read -r -a CPUS <<<"$(awk '/^Cpus_allowed_list:/ { n = split($2, r, ","); for (i = 1; i <= n; i++) {
  if (split(r[i], ab, "-") == 2) { for (c = ab[1]; c <= ab[2]; c++) printf "%d ", c } else printf "%d ", r[i] } }' /proc/self/status)"
PROXY_CPU=${PROXY_CPUS:-${CPUS[0]}}
LOAD_CPU=${CPUS[1]:-${CPUS[0]}}
CLK_TCK=$(getconf CLK_TCK)

# Ports: random, outside the ephemeral range (a later bind to port 0 cannot take one), not
# listening now, distinct from each other.
read -r EPH_LO EPH_HI </proc/sys/net/ipv4/ip_local_port_range
if ((EPH_LO > 21000)); then PORT_LO=10000 PORT_SPAN=$((EPH_LO - 10000)); else PORT_LO=$((EPH_HI + 1)) PORT_SPAN=$((65535 - EPH_HI)); fi
PICKED=" "
listening_ports() {
  awk 'FNR > 1 && $4 == "0A" { n = split($2, a, ":"); print a[n] }' /proc/net/tcp /proc/net/tcp6 2>/dev/null |
    while read -r h; do echo $((16#$h)); done
}
free_port() { # VAR: assigns a free port to VAR
  local used p i
  used=" $(listening_ports | tr '\n' ' ') "
  for i in $(seq 1 500); do
    p=$((PORT_LO + (RANDOM * 32768 + RANDOM) % PORT_SPAN))
    [[ $used == *" $p "* || $PICKED == *" $p "* ]] && continue
    PICKED+="$p "
    printf -v "$1" '%s' "$p"
    return 0
  done
  die "no free port found"
}
