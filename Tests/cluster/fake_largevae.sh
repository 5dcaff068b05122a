#!/usr/bin/env bash
# A stand-in for `largevae coordinator|worker|status|keygen`, for testing the launchers in cluster/
# before (or without) the real binary. It speaks the same command line, but coordinator and
# workers meet through a directory instead of ZeroMQ, so it only works when they share a
# file system (one machine, as in every test here):
#   $FAKE_LARGEVAE_RUNDIR/fake-largevae-KEY/   KEY: the tcp port, or the ipc path
#     listening        the coordinator is up        workers/NAME   a worker joined
#     bye              training is over             done/NAME      a worker left
# Knobs: FAKE_LARGEVAE_LOG (append one line per process: what it was given and where it ran),
# FAKE_LARGEVAE_TRAIN_SECONDS (default 1), FAKE_LARGEVAE_EXIT (the coordinator's status),
# FAKE_LARGEVAE_REFUSE=1 (workers are refused and exit 3).
set -euo pipefail

cmd=${1:-}
[ $# -gt 0 ] && shift
host=$(hostname -s)

log() {
    if [ -n "${FAKE_LARGEVAE_LOG:-}" ]; then
        printf '%s host=%s pid=%s slurm_node=%s openblas=%s args=%s\n' "$cmd" "$host" "$$" \
            "${SLURMD_NODENAME:-}" "${OPENBLAS_NUM_THREADS:-unset}" "$*" >>"$FAKE_LARGEVAE_LOG"
    fi
}

# tcp://0.0.0.0:5555 (bind) and tcp://node1:5555 (connect) must meet: key on the port alone.
rendezvous() {
    local key
    case $1 in
        tcp://*) key=tcp-${1##*:} ;;
        ipc://*) key=ipc$(printf '%s' "${1#ipc://}" | tr -c 'A-Za-z0-9' '-') ;;
        *) echo "fake largevae: unsupported endpoint '$1'" >&2; exit 2 ;;
    esac
    printf '%s/fake-largevae-%s' "${FAKE_LARGEVAE_RUNDIR:-${TMPDIR:-/tmp}}" "$key"
}

count() { find "$1" -mindepth 1 -maxdepth 1 | wc -l; }

case $cmd in
coordinator)
    bind="" min=1
    all=$(printf "%q " "$@")
    while [ $# -gt 0 ]; do
        case $1 in
            --help) echo "usage: largevae coordinator --bind ENDPOINT [--min-workers N] [train options]"; exit 0 ;;
            --bind) bind=$2; shift ;;
            --min-workers) min=$2; shift ;;
        esac
        shift
    done
    [ -n "$bind" ] || { echo "coordinator: --bind is required" >&2; exit 2; }
    log "$all"
    dir=$(rendezvous "$bind")
    sleeper=""
    trap 'rm -rf "$dir"; [ -z "$sleeper" ] || kill "$sleeper" 2>/dev/null || true' EXIT
    trap 'exit 143' TERM
    trap 'exit 130' INT
    rm -rf "$dir"
    mkdir -p "$dir/workers" "$dir/done"
    echo "listening on $bind"
    touch "$dir/listening"
    while [ "$(count "$dir/workers")" -lt "$min" ]; do sleep 0.1; done
    echo "training with $(count "$dir/workers") workers: $(cd "$dir/workers" && echo *)"
    # In the background, so that SIGTERM/SIGINT end the "training" at once (the traps run).
    sleep "${FAKE_LARGEVAE_TRAIN_SECONDS:-1}" &
    sleeper=$!
    wait "$sleeper"
    sleeper=""
    touch "$dir/bye"
    # Like the real one, say bye and give the workers a moment to hear it before leaving.
    for _ in $(seq 50); do
        [ "$(count "$dir/done")" -ge "$(count "$dir/workers")" ] && break
        sleep 0.1
    done
    echo "done: $(count "$dir/done") workers said goodbye"
    exit "${FAKE_LARGEVAE_EXIT:-0}"
    ;;
worker)
    connect="" name="" timeout=120
    all=$(printf "%q " "$@")
    while [ $# -gt 0 ]; do
        case $1 in
            --help) echo "usage: largevae worker --connect ENDPOINT [--blas-threads 1] [--name NAME] [--connect-timeout S]"; exit 0 ;;
            --connect) connect=$2; shift ;;
            --name) name=$2; shift ;;
            --connect-timeout) timeout=$2; shift ;;
            --blas-threads) shift ;;
        esac
        shift
    done
    [ -n "$connect" ] || { echo "worker: --connect is required" >&2; exit 2; }
    log "$all"
    name=${name:-$host-$$}
    dir=$(rendezvous "$connect")
    deadline=$((SECONDS + timeout))
    until [ -f "$dir/listening" ]; do
        [ "$SECONDS" -lt "$deadline" ] || { echo "worker $name: no coordinator at $connect after ${timeout}s" >&2; exit 1; }
        sleep 0.1
    done
    if [ "${FAKE_LARGEVAE_REFUSE:-0}" = 1 ]; then
        echo "worker $name: refused by the coordinator at $connect" >&2; exit 3
    fi
    touch "$dir/workers/$name"
    echo "worker $name joined $connect from $host (OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-unset})"
    until [ -f "$dir/bye" ]; do
        [ -d "$dir" ] || { echo "worker $name: lost the coordinator" >&2; exit 1; }
        sleep 0.1
    done
    touch "$dir/done/$name" 2>/dev/null || true
    echo "worker $name: bye"
    ;;
keygen)
    # Placeholder key files (the launchers only pass their paths on).
    [ "${1:-}" = --out ] && [ -n "${2:-}" ] || { echo "usage: largevae keygen --out PREFIX" >&2; exit 2; }
    echo "fake-secret" >"$2.key" && chmod 600 "$2.key"
    echo "fake-public" >"$2.pub"
    echo "fake-public"
    ;;
status)
    [ "${1:-}" = --connect ] || { echo "usage: largevae status --connect ENDPOINT" >&2; exit 2; }
    dir=$(rendezvous "$2")
    [ -d "$dir" ] || { echo "status: no coordinator at $2" >&2; exit 1; }
    echo "worker"; ls "$dir/workers"
    ;;
*)
    echo "fake largevae: only coordinator, worker, status and keygen (got '$cmd')" >&2; exit 2 ;;
esac
