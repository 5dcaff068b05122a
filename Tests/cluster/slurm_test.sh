#!/usr/bin/env bash
# Runs cluster/slurm.sbatch on a real, throw-away, single-node Slurm cluster on this machine:
# installs slurm-wlm and munge if missing (Debian/Ubuntu, as root), starts munged, slurmctld and
# slurmd with everything under a temporary directory (own ports, own munge socket; /etc is not
# touched), submits the job with `sbatch --wait -N1 -n3` (coordinator + 2 workers), checks its
# exit status and output, then stops every daemon it started and removes its files.
#   bash Tests/cluster/slurm_test.sh
#   LARGEVAE=Tests/cluster/fake_largevae.sh bash Tests/cluster/slurm_test.sh   # plumbing only
# LARGEVAE: the binary (default: .build/release/largevae). With a real binary the job trains a
# tiny MNIST run ($LARGEVAE_TEST_ARGS overrides its arguments; `largevae data fetch mnist` first).
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
started=$SECONDS

skip() { echo "SKIP: $*"; exit 0; }
fail() { echo "FAIL: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || skip "needs root (it starts slurmd and munged)"
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null \
    || ! command -v munged >/dev/null; then
    command -v apt-get >/dev/null || skip "Slurm is not installed and there is no apt-get to install it"
    echo "installing slurm-wlm and munge"
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -qq && apt-get install -y -qq slurm-wlm munge >/dev/null; } \
        || skip "apt-get could not install slurm-wlm munge"
fi

LARGEVAE=${LARGEVAE:-$repo/.build/release/largevae}
case $LARGEVAE in /*) ;; *) LARGEVAE=$repo/$LARGEVAE ;; esac
export LARGEVAE
"$LARGEVAE" coordinator --help >/dev/null 2>&1 || fail "$LARGEVAE has no 'coordinator' command
  (to test the Slurm plumbing alone: LARGEVAE=Tests/cluster/fake_largevae.sh bash $0)"

tmp=$(mktemp -d /tmp/largevae-slurm-test.XXXXXX)
daemons=()
# shellcheck disable=SC2317  # (run by the EXIT trap)
cleanup() {
    local p deadline
    trap - EXIT INT TERM
    scancel --quiet --user=root 2>/dev/null || true
    [ ${#daemons[@]} -eq 0 ] || kill "${daemons[@]}" 2>/dev/null || true
    deadline=$((SECONDS + 10))
    for p in ${daemons[@]+"${daemons[@]}"}; do
        while kill -0 "$p" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
    done
    [ ${#daemons[@]} -eq 0 ] || kill -KILL "${daemons[@]}" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

host=$(hostname -s)
export SLURM_CONF=$tmp/slurm.conf
mkdir -p "$tmp/munge" "$tmp/state" "$tmp/spool" "$tmp/job"
chmod 700 "$tmp/munge"

# munge: a fresh key and a private socket, so a system munged (if any) is left alone.
dd if=/dev/urandom of="$tmp/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$tmp/munge/munge.key"
munged --foreground --force --key-file="$tmp/munge/munge.key" --socket="$tmp/munge/socket" \
    --pid-file="$tmp/munge/munged.pid" --log-file="$tmp/munge/munged.log" \
    --seed-file="$tmp/munge/seed" >"$tmp/munge/stdout" 2>&1 &
daemons+=($!)

# One node, the smallest configuration that runs steps: no cgroups (proctrack/linuxproc,
# task/none), no accounting. CPUs=3 (config_overrides: more than the 2 cores here) so that the
# job's 3 tasks (coordinator + 2 workers, one CPU each) fit side by side as on a real cluster.
cat >"$SLURM_CONF" <<EOF
ClusterName=largevae-test
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=16817
SlurmdPort=16818
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$tmp/munge/socket
CredType=cred/munge
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool
SlurmctldPidFile=$tmp/slurmctld.pid
SlurmdPidFile=$tmp/slurmd.pid
SlurmctldLogFile=$tmp/slurmctld.log
SlurmdLogFile=$tmp/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
MailProg=/bin/true
KillWait=5
NodeName=$host NodeAddr=127.0.0.1 CPUs=3 State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=10 State=UP
EOF

slurmctld -D -i -f "$SLURM_CONF" >"$tmp/slurmctld.stdout" 2>&1 &
daemons+=($!)
slurmd -D -f "$SLURM_CONF" -N "$host" >"$tmp/slurmd.stdout" 2>&1 &
daemons+=($!)

echo "waiting for node $host to be idle"
state=""
for _ in $(seq 60); do
    state=$(sinfo -h -N -n "$host" -o '%t' 2>/dev/null || true)
    [ "$state" = idle ] && break
    sleep 1
done
if [ "$state" != idle ]; then
    tail -n 20 "$tmp"/*.log "$tmp"/*.stdout "$tmp/munge/munged.log" >&2 || true
    fail "node $host is '${state:-not reported}', not idle, after 60 s"
fi
echo "slurm up after $((SECONDS - started)) s"

# A tiny real run (ignored by the fake): 1 epoch on 1,000 images, a short evaluation.
# shellcheck disable=SC2206  # words on purpose
args=(${LARGEVAE_TEST_ARGS:---dataset mnist --epochs 1 --warmup 1 --train-limit 1000 --test-limit 100 --importance-samples 10 --run-dir $tmp/run})
export FAKE_LARGEVAE_LOG=$tmp/fake.log FAKE_LARGEVAE_RUNDIR=$tmp
export LARGEVAE_PORT=$((20000 + RANDOM % 20000))
# The coordinator binds every address: CurveZMQ keys for it and the workers.
mkdir -p "$tmp/keys"
"$LARGEVAE" keygen --out "$tmp/keys/coordinator" >/dev/null && "$LARGEVAE" keygen --out "$tmp/keys/worker" >/dev/null
export LARGEVAE_CURVE_DIR=$tmp/keys
out=$tmp/job/out
submitted=$SECONDS
status=0
timeout 600 sbatch --wait -N1 -n3 --chdir="$tmp/job" --output="$out" cluster/slurm.sbatch "${args[@]}" \
    || status=$?
echo "--- job output ($((SECONDS - submitted)) s, sbatch status $status)"
cat "$out" 2>/dev/null || true
echo "---"
[ "$status" -eq 0 ] || { tail -n 30 "$tmp/slurmctld.log" "$tmp/slurmd.log" >&2; fail "sbatch --wait exited with $status"; }
grep -q "coordinator on $host, 2 workers" "$out" || fail "the job did not put the coordinator on $host with 2 workers"
grep -q "listening on tcp://0.0.0.0:$LARGEVAE_PORT" "$out" || fail "no 'listening on' from the coordinator"
grep -q "coordinator exited with status 0" "$out" || fail "the coordinator did not exit 0"

if [ -s "$FAKE_LARGEVAE_LOG" ]; then
    # The stand-in logs each process: where it ran, its environment and arguments.
    cat "$FAKE_LARGEVAE_LOG"
    [ "$(grep -c '^coordinator ' "$FAKE_LARGEVAE_LOG")" -eq 1 ] || fail "expected exactly 1 coordinator"
    grep -q "^coordinator host=$host .*slurm_node=$host .*--min-workers 2 " "$FAKE_LARGEVAE_LOG" \
        || fail "the coordinator did not run on the first node with --min-workers 2"
    [ "$(grep -c '^worker .*openblas=1 .*--name worker-[01]' "$FAKE_LARGEVAE_LOG")" -eq 2 ] \
        || fail "expected 2 workers worker-0, worker-1 with OPENBLAS_NUM_THREADS=1"
    grep -q "^worker .*--connect tcp://$host:$LARGEVAE_PORT " "$FAKE_LARGEVAE_LOG" \
        || fail "workers did not connect to tcp://$host:$LARGEVAE_PORT"
    # A job whose workers are all refused must fail instead of waiting for its time limit.
    status=0
    FAKE_LARGEVAE_REFUSE=1 timeout 300 sbatch --wait -N1 -n3 --chdir="$tmp/job" --output="$out.refused" \
        cluster/slurm.sbatch "${args[@]}" >/dev/null || status=$?
    [ "$status" -ne 0 ] || fail "a job whose workers were all refused exited 0"
    grep -q "the worker step failed" "$out.refused" || { cat "$out.refused"; fail "no 'worker step failed' message"; }
    echo "refused workers: the job failed with status $status, as it should"
elif [ -z "${LARGEVAE_TEST_ARGS:-}" ]; then
    [ -f "$tmp/run/last.safetensors" ] || fail "no $tmp/run/last.safetensors after the run"
fi

# Nothing of the job may outlive it.
sleep 1
if pgrep -f "$LARGEVAE (coordinator|worker) .*:$LARGEVAE_PORT" >/dev/null; then
    pgrep -af "$LARGEVAE (coordinator|worker) .*:$LARGEVAE_PORT" >&2
    fail "job processes left behind"
fi
echo "PASS: slurm.sbatch on a local Slurm $(sinfo -V | cut -d' ' -f2): coordinator + 2 workers, $((SECONDS - started)) s in all"
echo "1 passed, 0 failed"
