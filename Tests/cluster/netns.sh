#!/usr/bin/env bash
# Network namespaces as separate "machines" for the cluster tests, in a star around the
# coordinator's namespace (no bridge module needed):
#
#   lv-coord  10.77.I.1/30 ── veth ── 10.77.I.2/30  lv-wI      (I = 1..N)
#
# Usage: netns.sh up N [RATE]   create lv-coord and lv-w1..lv-wN; with RATE (e.g. 1gbit), cap
#                               every link with tc tbf on both ends
#        netns.sh down          remove every lv-* namespace (their veths go with them)
#        netns.sh check         exit 0 if namespaces can be made here, else print why and exit 77
set -euo pipefail

check() {
    if [ "$(id -u)" != 0 ]; then echo "network namespaces need root (running as uid $(id -u))"; exit 77; fi
    if ! command -v ip >/dev/null; then echo "iproute2's ip is not installed"; exit 77; fi
    if ! ip netns add lv-probe 2>/dev/null; then echo "ip netns add is not permitted here"; exit 77; fi
    ip netns del lv-probe
}

down() {
    for ns in $(ip netns list 2>/dev/null | awk '/^lv-/{print $1}'); do ip netns del "$ns" 2>/dev/null || true; done
}

up() {
    local n=$1 rate=${2:-}
    down
    ip netns add lv-coord
    ip -n lv-coord link set lo up
    for i in $(seq 1 "$n"); do
        ip netns add "lv-w$i"
        ip -n "lv-w$i" link set lo up
        ip link add "lvc$i" netns lv-coord type veth peer name "lvw$i" netns "lv-w$i"
        ip -n lv-coord addr add "10.77.$i.1/30" dev "lvc$i"
        ip -n "lv-w$i" addr add "10.77.$i.2/30" dev "lvw$i"
        ip -n lv-coord link set "lvc$i" up
        ip -n "lv-w$i" link set "lvw$i" up
        if [ -n "$rate" ]; then
            ip netns exec lv-coord tc qdisc add dev "lvc$i" root tbf rate "$rate" burst 1mb latency 50ms
            ip netns exec "lv-w$i" tc qdisc add dev "lvw$i" root tbf rate "$rate" burst 1mb latency 50ms
        fi
    done
}

case "${1:-}" in
    check) check ;;
    up) [ $# -ge 2 ] || { echo "usage: $0 up N [RATE]" >&2; exit 2; }; check; up "$2" "${3:-}" ;;
    down) down ;;
    *) echo "usage: $0 check | up N [RATE] | down" >&2; exit 2 ;;
esac
