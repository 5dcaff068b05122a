#!/usr/bin/env bash
# cluster/ssh.sh HOSTFILE WORKERS_PER_HOST [coordinator args...]
# Data-parallel training over ssh. HOSTFILE: one host per line ([user@]name), `#` comments and
# blank lines ignored. The coordinator runs on the first host (directly if that is this machine)
# and binds tcp://0.0.0.0:PORT; every host, the first included, runs WORKERS_PER_HOST workers
# that connect to tcp://FIRSTHOST:PORT, so the first name must resolve on every host.
# Ctrl-C or SIGTERM stops everything, remote processes included; exits with the coordinator's status.
#   LARGEVAE              binary here (default: .build/release/largevae of this repository)
#   LARGEVAE_REMOTE       binary path on the hosts (default: the same absolute path)
#   LARGEVAE_PORT         coordinator port (default 5555)
#   LARGEVAE_CONNECT_HOST address workers connect to (default: the first host's name)
#   LARGEVAE_SSH          ssh command with options (default: ssh -o BatchMode=yes -o ConnectTimeout=10)
#   LARGEVAE_WORKER_GRACE seconds workers get to leave after the coordinator (default 30)
#   LARGEVAE_CURVE_DIR    CurveZMQ keys, the same path on every host (see curve_flags in common.sh);
#                         without it the coordinator args must include --insecure
set -euo pipefail
PROG=ssh.sh
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=cluster/common.sh
. "$here/common.sh"

usage() {
    echo "usage: cluster/ssh.sh HOSTFILE WORKERS_PER_HOST [coordinator args...]" >&2
    echo "  e.g. cluster/ssh.sh hosts.txt 2 --dataset mnist --prior vampprior" >&2
    exit 2
}
[ $# -ge 2 ] || usage
[ -r "$1" ] || { echo "$PROG: cannot read hostfile '$1'" >&2; usage; }
is_count "$2" || { echo "$PROG: WORKERS_PER_HOST must be a whole number, at least 1 (got '$2')" >&2; usage; }
hostfile=$1 per_host=$2
shift 2
curve_flags 1 "$@" || exit 2

hosts=()
while IFS= read -r line || [ -n "$line" ]; do
    line=${line%%#*}
    read -r host _ <<<"$line" || true # trims blanks; a blank line leaves host empty
    [ -z "${host:-}" ] || hosts+=("$host")
done <"$hostfile"
[ ${#hosts[@]} -ge 1 ] || { echo "$PROG: no hosts in $hostfile" >&2; exit 2; }

bin=${LARGEVAE:-$here/../.build/release/largevae}
case $bin in /*) ;; *) bin=$PWD/$bin ;; esac
remote_bin=${LARGEVAE_REMOTE:-$bin}
port=${LARGEVAE_PORT:-5555}
first=${hosts[0]}
endpoint=tcp://${LARGEVAE_CONNECT_HOST:-${first#*@}}:$port
read -ra ssh <<<"${LARGEVAE_SSH:-ssh -o BatchMode=yes -o ConnectTimeout=10}"
total=$((${#hosts[@]} * per_host))
# Remote processes outlive their ssh client (no tty, so no SIGHUP): each leaves its pid in
# /tmp/RUNID-NAME.pid on its host, which cleanup uses to end it.
runid=largevae-$(hostname -s)-$$-$RANDOM

is_this_host() {
    case ${1#*@} in localhost | 127.0.0.1 | ::1 | "$(hostname)" | "$(hostname -s)") return 0 ;; esac
    return 1
}

# remote_line NAME ARGV...: a POSIX sh line that runs ARGV, keeping its pid file while it runs.
remote_line() {
    local name=$1
    shift
    # shellcheck disable=SC2016  # $! and $? are for the remote shell
    printf 'p=/tmp/%s-%s.pid; %s& echo $! >"$p"; wait $!; s=$?; rm -f "$p"; exit $s' \
        "$runid" "$name" "$(printf '%q ' "$@")"
}

pids=()
# shellcheck disable=SC2317  # (run by the EXIT trap)
cleanup() {
    trap - EXIT INT TERM
    local h killers=()
    for h in $(printf '%s\n' "${hosts[@]}" | sort -u); do
        "${ssh[@]}" "$h" "for p in /tmp/$runid-*.pid; do [ -f \"\$p\" ] && kill \"\$(cat \"\$p\")\" 2>/dev/null; rm -f \"\$p\"; done; true" </dev/null &
        killers+=($!)
    done
    wait "${killers[@]}" || true
    stop_all ${pids[@]+"${pids[@]}"}
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

coordinator_args=(coordinator --bind "tcp://0.0.0.0:$port")
has_option --min-workers "$@" || coordinator_args+=(--min-workers "$total")
coordinator_args+=(${CURVE_COORDINATOR[@]+"${CURVE_COORDINATOR[@]}"} "$@")
if is_this_host "$first"; then
    [ -x "$bin" ] || { echo "$PROG: no largevae at $bin: build it or set LARGEVAE" >&2; exit 1; }
    "$bin" "${coordinator_args[@]}" </dev/null &
else
    # Relative paths (the run directory, runs/...) mean the same directory there, if it exists.
    "${ssh[@]}" "$first" "cd $(printf '%q' "$PWD") 2>/dev/null; $(remote_line coordinator "$remote_bin" "${coordinator_args[@]}")" </dev/null &
fi
coordinator=$!
pids+=("$coordinator")
echo "$PROG: coordinator on $first, $total workers on ${#hosts[@]} hosts, connecting to $endpoint" >&2

workers=()
k=0
for h in "${hosts[@]}"; do
    for _ in $(seq "$per_host"); do
        k=$((k + 1))
        # One BLAS thread per worker: a fixed thread count keeps the results bit-identical.
        "${ssh[@]}" "$h" "$(remote_line "w$k" env OPENBLAS_NUM_THREADS=1 "$remote_bin" worker \
            --connect "$endpoint" --blas-threads 1 --name "${h#*@}-$k" ${CURVE_WORKER[@]+"${CURVE_WORKER[@]}"})" </dev/null &
        workers+=($!)
        pids+=($!)
    done
done

supervise "$coordinator" "${workers[@]}"
exit "$COORDINATOR_STATUS"
