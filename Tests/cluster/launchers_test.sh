#!/usr/bin/env bash
# Tests cluster/local.sh and cluster/ssh.sh (ssh replaced by Tests/cluster/fake_ssh.sh, which runs
# the "remote" command here), and checks the syntax of every launcher (bash -n, and shellcheck
# when it is installed or apt can install it).
#   bash Tests/cluster/launchers_test.sh                                        # real binary
#   LARGEVAE=Tests/cluster/fake_largevae.sh bash Tests/cluster/launchers_test.sh  # plumbing only
# LARGEVAE: the binary (default: .build/release/largevae). A real binary trains tiny MNIST runs
# ($LARGEVAE_TEST_ARGS overrides their arguments; run `largevae data fetch mnist` first). The
# stand-in also logs what each process was given, which adds checks of the arguments.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
started=$SECONDS

LARGEVAE=${LARGEVAE:-$repo/.build/release/largevae}
case $LARGEVAE in /*) ;; *) LARGEVAE=$repo/$LARGEVAE ;; esac
export LARGEVAE
tmp=$(mktemp -d /tmp/largevae-launchers-test.XXXXXX)
export TMPDIR=$tmp # local.sh makes its socket directory here, so leftovers are visible
export FAKE_LARGEVAE_LOG=$tmp/fake.log FAKE_LARGEVAE_RUNDIR=$tmp FAKE_SSH_LOG=$tmp/ssh.log
export LARGEVAE_SSH="$repo/Tests/cluster/fake_ssh.sh -o BatchMode=yes"
export LARGEVAE_WORKER_GRACE=10
bg=() # launchers started in the background (own process groups)
# shellcheck disable=SC2317  # (run by the EXIT trap)
cleanup() {
    trap - EXIT
    local p
    for p in ${bg[@]+"${bg[@]}"}; do kill -- "-$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok   $*"; }
bad() { failed=$((failed + 1)); echo "FAIL $*"; }
# check NAME COMMAND...: COMMAND must succeed.
check() {
    local name=$1
    shift
    if "$@"; then ok "$name"; else bad "$name"; fi
}
# status_is WANT NAME COMMAND...: COMMAND must exit with WANT (output in $tmp/last.out).
status_is() {
    local want=$1 name=$2 got=0
    shift 2
    timeout 300 "$@" >"$tmp/last.out" 2>&1 || got=$?
    if [ "$got" -eq "$want" ]; then ok "$name (exit $got)"; else bad "$name: exit $got, want $want"; sed 's/^/     /' "$tmp/last.out"; fi
}
fake() { [ -s "$FAKE_LARGEVAE_LOG" ]; } # the stand-in is in use and logged this run
# no_leftovers MARK: no coordinator or worker whose arguments match MARK (this test's temporary
# directory or port, so that other runs on the machine do not count) and no pid file of ssh.sh.
# Whatever is found is reported and ended.
no_leftovers() {
    local left
    sleep 0.5
    left=$(pgrep -f "$LARGEVAE (coordinator|worker) .*$1" || true)
    if [ -n "$left" ]; then
        ps -o pid=,args= -p "$(printf '%s' "$left" | tr '\n' ,)" | sed 's/^/     left: /'
        # shellcheck disable=SC2086  # one pid per word
        kill $left 2>/dev/null || true
        return 1
    fi
    [ -z "$(find "$tmp" -maxdepth 1 -name 'largevae-local.*')" ] \
        && [ -z "$(find /tmp -maxdepth 1 -name "largevae-$(hostname -s)-*.pid" 2>/dev/null)" ]
}
log_has() { grep -Eq -- "$1" "$FAKE_LARGEVAE_LOG"; }
log_count() { grep -Ec -- "$1" "$FAKE_LARGEVAE_LOG" || true; }
# start_bg OUT COMMAND...: in its own process group, with SIGINT not ignored, as from a terminal.
start_bg() {
    local out=$1
    shift
    set -m
    "$@" >"$out" 2>&1 &
    set +m
    bg+=($!)
}
# interrupt PID OUT PATTERN: once OUT shows PATTERN, Ctrl-C the group; the launcher must exit 130.
interrupt() {
    local pid=$1 out=$2 pattern=$3 got=0
    for _ in $(seq 200); do grep -q "$pattern" "$out" && break; sleep 0.1; done
    sleep 1
    kill -INT -- "-$pid"
    wait "$pid" || got=$?
    [ "$got" -eq 130 ] || { echo "     exit $got after Ctrl-C, want 130"; cat "$out"; return 1; }
}

echo "== syntax"
scripts=(cluster/common.sh cluster/local.sh cluster/ssh.sh cluster/slurm.sbatch cluster/setup.sh
    cluster/quickstart.sh Tests/cluster/fake_largevae.sh Tests/cluster/fake_ssh.sh
    Tests/cluster/launchers_test.sh Tests/cluster/slurm_test.sh)
for s in "${scripts[@]}"; do check "bash -n $s" bash -n "$s"; done
if ! command -v shellcheck >/dev/null && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq shellcheck >/dev/null 2>&1 \
        || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq shellcheck >/dev/null 2>&1; } || true
fi
if command -v shellcheck >/dev/null; then
    check "shellcheck" shellcheck -x -S warning "${scripts[@]}"
else
    echo "skip shellcheck: not installed and apt-get cannot install it"
fi

if ! "$LARGEVAE" coordinator --help >/dev/null 2>&1; then
    bad "$LARGEVAE has no 'coordinator' command (plumbing only: LARGEVAE=Tests/cluster/fake_largevae.sh)"
    echo "$passed passed, $failed failed"
    exit 1
fi
# shellcheck disable=SC2206  # words on purpose
args=(${LARGEVAE_TEST_ARGS:---dataset mnist --epochs 1 --warmup 1 --train-limit 1000 --test-limit 100 --importance-samples 10})
# The same with many epochs, so that it is still training when interrupted.
long=() prev=""
for a in "${args[@]}"; do
    if [ "$prev" = --epochs ]; then long+=(1000); else long+=("$a"); fi
    prev=$a
done

echo "== local.sh"
status_is 2 "local.sh without N" cluster/local.sh
status_is 2 "local.sh with N=0" cluster/local.sh 0
status_is 2 "local.sh with N=two" cluster/local.sh two
: >"$FAKE_LARGEVAE_LOG"
status_is 0 "local.sh 2 trains" cluster/local.sh 2 "${args[@]}" --run-dir "$tmp/run one"
if fake; then
    check "coordinator got --min-workers 2 and the args, spaces kept" \
        log_has "^coordinator .*--min-workers 2 .*--run-dir $tmp/run\\\\ one"
    check "2 workers, named, one BLAS thread" test "$(log_count '^worker .*openblas=1 .*--blas-threads 1 --name local-[12]')" -eq 2
    : >"$FAKE_LARGEVAE_LOG"
    status_is 0 "local.sh 1 --min-workers 1: the user's value is not doubled" cluster/local.sh 1 --min-workers 1
    check "only one --min-workers" test "$(grep -o -- '--min-workers' "$FAKE_LARGEVAE_LOG" | wc -l)" -eq 1
    FAKE_LARGEVAE_EXIT=7 status_is 7 "local.sh exits with the coordinator's status" cluster/local.sh 1
    FAKE_LARGEVAE_REFUSE=1 status_is 1 "local.sh stops when every worker is refused" cluster/local.sh 2
    check "  and says so" grep -q "every worker failed" "$tmp/last.out"
else
    check "run directory written" test -f "$tmp/run one/last.safetensors"
fi
check "local.sh left no process or socket directory" no_leftovers "$tmp"
export FAKE_LARGEVAE_TRAIN_SECONDS=100
start_bg "$tmp/int.out" cluster/local.sh 2 "${long[@]}" --run-dir "$tmp/run int"
check "local.sh exits 130 on Ctrl-C" interrupt "${bg[-1]}" "$tmp/int.out" "listening on"
check "  and leaves nothing behind" no_leftovers "$tmp"

echo "== ssh.sh"
export LARGEVAE_PORT=$((20000 + RANDOM % 20000))
# ssh.sh binds every address: without keys (or --insecure) it refuses to start.
printf 'localhost\n' >"$tmp/hosts1"
status_is 2 "ssh.sh without LARGEVAE_CURVE_DIR or --insecure" cluster/ssh.sh "$tmp/hosts1" 1 "${args[@]}"
check "  and says how to make keys" grep -q "LARGEVAE_CURVE_DIR.*keygen" <(tr '\n' ' ' <"$tmp/last.out")
mkdir -p "$tmp/keys"
"$LARGEVAE" keygen --out "$tmp/keys/coordinator" >/dev/null 2>&1 && "$LARGEVAE" keygen --out "$tmp/keys/worker" >/dev/null 2>&1
export LARGEVAE_CURVE_DIR=$tmp/keys
status_is 2 "ssh.sh with an incomplete LARGEVAE_CURVE_DIR" env LARGEVAE_CURVE_DIR="$tmp" cluster/ssh.sh "$tmp/hosts1" 1
status_is 2 "ssh.sh without args" cluster/ssh.sh
status_is 2 "ssh.sh with a missing hostfile" cluster/ssh.sh "$tmp/nope" 1
printf '# nothing\n\n' >"$tmp/empty"
status_is 2 "ssh.sh with an empty hostfile" cluster/ssh.sh "$tmp/empty" 1
printf '# coordinator here\nlocalhost   # this machine\n\n  user@nodeb\t\nnodec' >"$tmp/hosts"
status_is 2 "ssh.sh with WORKERS_PER_HOST=0" cluster/ssh.sh "$tmp/hosts" 0
: >"$FAKE_LARGEVAE_LOG"
: >"$FAKE_SSH_LOG"
unset FAKE_LARGEVAE_TRAIN_SECONDS
status_is 0 "ssh.sh, 3 hosts x 2 workers, coordinator here" cluster/ssh.sh "$tmp/hosts" 2 "${args[@]}" --run-dir "$tmp/run two"
check "6 workers through ssh to the 3 hosts, comments and blanks skipped" \
    test "$(grep ' worker --connect' "$FAKE_SSH_LOG" | cut -d' ' -f1 | sort | uniq -c | tr -s ' ' | tr '\n' ,)" \
    = " 2 localhost, 2 nodec, 2 user@nodeb,"
check "the coordinator ran here, not through ssh" test "$(grep -c ' coordinator ' "$FAKE_SSH_LOG")" -eq 0
check "workers connect to tcp://localhost:PORT with one BLAS thread" \
    test "$(grep -c "OPENBLAS_NUM_THREADS=1 .* worker --connect tcp://localhost:$LARGEVAE_PORT --blas-threads 1" "$FAKE_SSH_LOG")" -eq 6
check "workers got the worker key and the coordinator's public key" \
    test "$(grep -c -- "--curve-secret $tmp/keys/worker.key --server-key $tmp/keys/coordinator.pub" "$FAKE_SSH_LOG")" -eq 6
if fake; then
    check "coordinator bound tcp://0.0.0.0:PORT for 6 workers" log_has "^coordinator .*--bind tcp://0.0.0.0:$LARGEVAE_PORT --min-workers 6 "
    check "  with its secret key and the worker key as allow-list" \
        log_has "^coordinator .*--curve-secret $tmp/keys/coordinator.key --allow $tmp/keys/worker.pub "
    check "6 workers ran, named after their hosts" test "$(log_count '^worker .*openblas=1 .*--name (localhost|nodeb|nodec)-[1-6] ')" -eq 6
else
    check "run directory written" test -f "$tmp/run two/last.safetensors"
fi
check "ssh.sh left no process or pid file" no_leftovers ":$LARGEVAE_PORT"

printf 'nodea\nnodeb\n' >"$tmp/hosts2"
: >"$FAKE_LARGEVAE_LOG"
: >"$FAKE_SSH_LOG"
LARGEVAE_CONNECT_HOST=127.0.0.1 status_is 0 "ssh.sh with the coordinator on another host" \
    cluster/ssh.sh "$tmp/hosts2" 1 "${args[@]}" --run-dir "$tmp/run three"
check "the coordinator went through ssh to nodea, arguments quoted" \
    grep -q "^nodea cd .*coordinator --bind tcp://0.0.0.0:$LARGEVAE_PORT --min-workers 2 .*--run-dir $tmp/run\\\\ three" "$FAKE_SSH_LOG"
check "workers connect to LARGEVAE_CONNECT_HOST" test "$(grep -c "worker --connect tcp://127.0.0.1:$LARGEVAE_PORT " "$FAKE_SSH_LOG")" -eq 2
check "ssh.sh left no process or pid file" no_leftovers ":$LARGEVAE_PORT"

export FAKE_LARGEVAE_TRAIN_SECONDS=100
LARGEVAE_CONNECT_HOST=127.0.0.1 start_bg "$tmp/int2.out" cluster/ssh.sh "$tmp/hosts2" 1 "${long[@]}" --run-dir "$tmp/run int2"
check "ssh.sh exits 130 on Ctrl-C" interrupt "${bg[-1]}" "$tmp/int2.out" "listening on"
check "  and ends the remote coordinator and workers" no_leftovers ":$LARGEVAE_PORT"

echo "== k8s (no cluster here: structure only)"
if python3 -c 'import yaml' 2>/dev/null; then
    check "manifests parse and fit together" python3 - cluster/k8s/coordinator.yaml cluster/k8s/workers.yaml <<'EOF'
import sys, yaml
coord = {d["kind"]: d for d in yaml.safe_load_all(open(sys.argv[1]))}
workers = yaml.safe_load(open(sys.argv[2]))
svc, job = coord["Service"], coord["Job"]
pod = job["spec"]["template"]
assert svc["metadata"]["name"] == "largevae-coordinator" and svc["spec"]["ports"][0]["port"] == 5555
assert all(pod["metadata"]["labels"].get(k) == v for k, v in svc["spec"]["selector"].items()), "Service selects no coordinator pod"
cargs = pod["spec"]["containers"][0]["args"]
assert cargs[:3] == ["coordinator", "--bind", "tcp://0.0.0.0:5555"], cargs
claims = {v["persistentVolumeClaim"]["claimName"] for v in pod["spec"]["volumes"] if "persistentVolumeClaim" in v}
assert claims == {coord["PersistentVolumeClaim"]["metadata"]["name"]}
ws = workers["spec"]
assert ws["completionMode"] == "Indexed" and ws["parallelism"] == ws["completions"]
assert int(cargs[cargs.index("--min-workers") + 1]) <= ws["completions"], "--min-workers above the number of workers"
c = ws["template"]["spec"]["containers"][0]
wargs = " ".join(c["args"])
assert "worker --connect tcp://largevae-coordinator:5555" in wargs and "--name worker-$(JOB_COMPLETION_INDEX)" in wargs, wargs
assert {e["name"]: e.get("value") for e in c["env"]}["OPENBLAS_NUM_THREADS"] == "1"
EOF
else
    echo "skip manifest checks: python3 has no yaml module"
fi
if command -v kubernetes-validate >/dev/null; then
    check "manifests validate against the Kubernetes schemas" \
        kubernetes-validate --strict --quiet cluster/k8s/coordinator.yaml cluster/k8s/workers.yaml
else
    echo "skip schema validation: kubernetes-validate (PyPI) is not installed"
fi

echo "launchers: $((SECONDS - started)) s"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
