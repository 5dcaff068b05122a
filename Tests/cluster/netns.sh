#!/usr/bin/env bash
# Network namespaces as separate "machines" for the cluster tests and the scaling bench. The
# coordinator has one link, to a routing "switch" namespace that every worker hangs off, so a
# bandwidth cap on that link is a cap on the coordinator's NIC:
#
#   lv-coord 10.77.0.1 ──(capped)── 10.77.0.2 lv-switch 10.77.I.1 ── 10.77.I.2 lv-wI   (I = 1..N)
#
# Workers connect to tcp://10.77.0.1:PORT.
#
# Usage: netns.sh up N [RATE]   create the namespaces; with RATE (e.g. 1gbit) cap the
#                               coordinator's link in both directions with tc tbf
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

link() {   # link NS_A DEV_A ADDR_A NS_B DEV_B ADDR_B
    ip link add "$2" netns "$1" type veth peer name "$5" netns "$4"
    ip -n "$1" addr add "$3" dev "$2"
    ip -n "$4" addr add "$6" dev "$5"
    ip -n "$1" link set "$2" up
    ip -n "$4" link set "$5" up
}

up() {
    local n=$1 rate=${2:-}
    down
    for ns in lv-coord lv-switch; do ip netns add "$ns"; ip -n "$ns" link set lo up; done
    ip netns exec lv-switch sh -c 'echo 1 > /proc/sys/net/ipv4/ip_forward'
    link lv-coord lvc0 10.77.0.1/30 lv-switch lvs0 10.77.0.2/30
    ip -n lv-coord route add default via 10.77.0.2
    if [ -n "$rate" ]; then
        ip netns exec lv-coord tc qdisc add dev lvc0 root tbf rate "$rate" burst 256kb latency 100ms
        ip netns exec lv-switch tc qdisc add dev lvs0 root tbf rate "$rate" burst 256kb latency 100ms
    fi
    for i in $(seq 1 "$n"); do
        ip netns add "lv-w$i"
        ip -n "lv-w$i" link set lo up
        link lv-switch "lvs$i" "10.77.$i.1/30" "lv-w$i" "lvw$i" "10.77.$i.2/30"
        ip -n "lv-w$i" route add default via "10.77.$i.1"
    done
}

case "${1:-}" in
    check) check ;;
    up) [ $# -ge 2 ] || { echo "usage: $0 up N [RATE]" >&2; exit 2; }; check; up "$2" "${3:-}" ;;
    down) down ;;
    *) echo "usage: $0 check | up N [RATE] | down" >&2; exit 2 ;;
esac
