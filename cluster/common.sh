# shellcheck shell=bash
# Sourced by local.sh, ssh.sh and slurm.sbatch: how a launcher waits for one coordinator and its
# workers, and passes them their keys.
# Not a command of its own. Callers set PROG (for messages) and keep their children's pids.

# is_count VALUE: a whole number of at least 1.
is_count() {
    case $1 in '' | *[!0-9]*) return 1 ;; esac
    [ "$1" -ge 1 ]
}

# has_option NAME ARGS...: whether the user already gave --NAME (as "--NAME V" or "--NAME=V"),
# so that a launcher's default never shadows it.
has_option() {
    local name=$1 a
    shift
    for a in "$@"; do
        case $a in "$name" | "$name"=*) return 0 ;; esac
    done
    return 1
}

# supervise COORDINATOR_PID WORKER_PID...
# Waits for the coordinator and sets COORDINATOR_STATUS. Polls (rather than `wait -n`) so that it
# runs on the bash 3.2 of macOS too, and so that the INT/TERM traps run within half a second.
# - If every worker has exited with an error while the coordinator still waits for them (all
#   refused, binary missing on the hosts, ...), the run cannot go on: stop the coordinator, status 1.
#   Workers that leave cleanly said goodbye, so the coordinator is finishing: keep waiting.
# - After the coordinator, workers get LARGEVAE_WORKER_GRACE seconds (default 30) to leave on
#   their own; the caller's cleanup ends the rest. After a failed coordinator, no grace.
supervise() {
    local coordinator=$1 p status
    shift
    local -a workers=("$@") running=("$@")
    local failed=0
    COORDINATOR_STATUS=0
    while kill -0 "$coordinator" 2>/dev/null; do
        local -a still=()
        for p in ${running[@]+"${running[@]}"}; do
            if kill -0 "$p" 2>/dev/null; then
                still+=("$p")
                continue
            fi
            status=0
            wait "$p" || status=$?
            if [ "$status" -ne 0 ]; then
                failed=$((failed + 1))
                echo "$PROG: a worker (pid $p) exited with status $status" >&2
            fi
        done
        running=(${still[@]+"${still[@]}"})
        if [ "$failed" -eq "${#workers[@]}" ]; then
            echo "$PROG: every worker failed; stopping the coordinator" >&2
            kill "$coordinator" 2>/dev/null || true
            wait "$coordinator" 2>/dev/null || true
            COORDINATOR_STATUS=1
            return
        fi
        sleep 0.5
    done
    wait "$coordinator" || COORDINATOR_STATUS=$?
    local deadline=$((SECONDS + ${LARGEVAE_WORKER_GRACE:-30}))
    [ "$COORDINATOR_STATUS" -eq 0 ] || deadline=$SECONDS
    for p in ${running[@]+"${running[@]}"}; do
        while kill -0 "$p" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
    done
}

# stop_all PID...: SIGTERM, then SIGKILL for whatever is still there after 5 s.
stop_all() {
    [ $# -gt 0 ] || return 0
    local deadline=$((SECONDS + 5)) p
    kill "$@" 2>/dev/null || true
    for p in "$@"; do
        while kill -0 "$p" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
    done
    kill -KILL "$@" 2>/dev/null || true
    wait "$@" 2>/dev/null || true
}

# curve_flags ARGS...: the CurveZMQ flags for the coordinator and the workers, in the arrays
# CURVE_COORDINATOR and CURVE_WORKER. With LARGEVAE_CURVE_DIR, a directory (the same path on every
# host) holding coordinator.key/.pub and worker.key/.pub, made with
#   largevae keygen --out DIR/coordinator && largevae keygen --out DIR/worker
# the coordinator admits only the worker key, and traffic is encrypted. Without it, a coordinator
# that binds every address (need_keys=1) needs --insecure among ARGS, or this fails with a message.
curve_flags() {
    local need_keys=$1 dir=${LARGEVAE_CURVE_DIR:-} f
    shift
    CURVE_COORDINATOR=() CURVE_WORKER=()
    if [ -z "$dir" ]; then
        [ "$need_keys" = 1 ] || return 0
        has_option --insecure "$@" && return 0
        echo "$PROG: the coordinator binds every address, so it needs keys: set LARGEVAE_CURVE_DIR to a directory made with" >&2
        echo "  largevae keygen --out DIR/coordinator && largevae keygen --out DIR/worker" >&2
        echo "or pass --insecure to run unauthenticated and unencrypted on a network you trust" >&2
        return 1
    fi
    case $dir in /*) ;; *) dir=$PWD/$dir ;; esac
    for f in coordinator.key coordinator.pub worker.key worker.pub; do
        [ -r "$dir/$f" ] || {
            echo "$PROG: LARGEVAE_CURVE_DIR has no readable $f; make the keys with: largevae keygen --out $dir/coordinator && largevae keygen --out $dir/worker" >&2
            return 1
        }
    done
    # shellcheck disable=SC2034  # used by the scripts that source this file
    CURVE_COORDINATOR=(--curve-secret "$dir/coordinator.key" --allow "$dir/worker.pub")
    # shellcheck disable=SC2034
    CURVE_WORKER=(--curve-secret "$dir/worker.key" --server-key "$dir/coordinator.pub")
}
