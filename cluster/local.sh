#!/usr/bin/env bash
# cluster/local.sh N [coordinator args...]
# Data-parallel training on this machine with separate processes: one `largevae coordinator` and
# N `largevae worker`s, talking over ZeroMQ on a private ipc socket in a temporary directory (no
# port to pick, nothing reachable from outside). The same processes as on a cluster, so this is
# the way to try the distributed path; `largevae train --workers N` does the same in one command.
# Ctrl-C or SIGTERM stops every process it started; it exits with the coordinator's status.
#   LARGEVAE           the binary (default: .build/release/largevae of this repository)
#   LARGEVAE_ENDPOINT  another endpoint, e.g. tcp://127.0.0.1:5555
#   LARGEVAE_WORKER_GRACE  seconds workers get to leave after the coordinator (default 30)
#   LARGEVAE_CURVE_DIR     CurveZMQ keys (see curve_flags in common.sh); not needed on ipc or loopback
#   LARGEVAE_PIN_WORKERS   1 (default): with no more workers than CPUs, worker i runs only on the
#                          i-th CPU this script may use (`largevae worker --cpu`), and workers that
#                          fill every CPU compute at idle priority (`--idle-priority`), so that the
#                          coordinator runs the moment it wakes, and (one per CPU) poll for their
#                          next message for 20 ms after each unit (`--poll-ms 20`) instead of
#                          letting their CPU halt; 0 leaves them to the scheduler
set -euo pipefail
PROG=local.sh
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=cluster/common.sh
. "$here/common.sh"

usage() {
    echo "usage: cluster/local.sh N [coordinator args...]" >&2
    echo "  e.g. cluster/local.sh 2 --dataset mnist --schedule quick" >&2
    exit 2
}
[ $# -ge 1 ] || usage
is_count "$1" || { echo "$PROG: N must be a whole number of workers, at least 1 (got '$1')" >&2; usage; }
n=$1
shift
curve_flags 0 "$@" || exit 2

bin=${LARGEVAE:-$here/../.build/release/largevae}
[ -x "$bin" ] || {
    echo "$PROG: no largevae at $bin: build it (swift build -c release) or set LARGEVAE" >&2
    exit 1
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/largevae-local.XXXXXX")
endpoint=${LARGEVAE_ENDPOINT:-ipc://$tmp/coordinator.sock}
pids=()
# shellcheck disable=SC2317  # (run by the EXIT trap)
cleanup() {
    trap - EXIT INT TERM
    stop_all ${pids[@]+"${pids[@]}"}
    rm -rf "$tmp"
}
trap cleanup EXIT
# Background children of a script ignore SIGINT, so Ctrl-C reaches only us: forward it by
# exiting, which runs cleanup (SIGTERM to every child).
trap 'exit 130' INT
trap 'exit 143' TERM

extra=()
has_option --min-workers "$@" || extra=(--min-workers "$n")
extra+=(${CURVE_COORDINATOR[@]+"${CURVE_COORDINATOR[@]}"})
"$bin" coordinator --bind "$endpoint" ${extra[@]+"${extra[@]}"} "$@" &
coordinator=$!
pids+=("$coordinator")
echo "$PROG: coordinator (pid $coordinator) at $endpoint; progress: $bin status --connect $endpoint" >&2

# The CPUs this script may run on, one per line (none where /proc does not say).
allowed_cpus() {
    local list part parts
    list=$(sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' /proc/self/status 2>/dev/null || true)
    IFS=, read -ra parts <<< "$list"
    for part in ${parts[@]+"${parts[@]}"}; do
        if [[ $part == *-* ]]; then seq "${part%-*}" "${part#*-}"; else echo "$part"; fi
    done
}
cpus=()
if [ "${LARGEVAE_PIN_WORKERS:-1}" = 1 ]; then mapfile -t cpus < <(allowed_cpus); fi

workers=()
for i in $(seq "$n"); do
    pin=()
    [ "$n" -le "${#cpus[@]}" ] && pin=(--cpu "${cpus[i - 1]}")
    [ "${#cpus[@]}" -gt 0 ] && [ "$n" -ge "${#cpus[@]}" ] && pin+=(--idle-priority)
    # A CPU each and every CPU taken: poll for the next message rather than let the CPU halt.
    [ "$n" -eq "${#cpus[@]}" ] && pin+=(--poll-ms 20)
    # One BLAS thread per worker: parallelism comes from the processes, and a fixed thread
    # count keeps the GEMM results (and so the trained weights) bit-identical.
    OPENBLAS_NUM_THREADS=1 "$bin" worker --connect "$endpoint" --blas-threads 1 --name "local-$i" ${pin[@]+"${pin[@]}"} ${CURVE_WORKER[@]+"${CURVE_WORKER[@]}"} &
    workers+=($!)
    pids+=($!)
done

supervise "$coordinator" "${workers[@]}"
exit "$COORDINATOR_STATUS"
