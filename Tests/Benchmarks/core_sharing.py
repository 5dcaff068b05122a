#!/usr/bin/env python3
"""What else ran on a worker's core while it computed a unit, from a system-wide CPU profile
taken around a distributed trace (both stamp the host's monotonic clock):

    perf record -k mono -F 4999 -g -a -o perf.data -- \\
        env LARGEVAE_LOG=trace largevae bench --workers 2 --models vae/vampprior --runs 1 --steps 200 > trace.txt 2>&1
    perf script -i perf.data -F comm,tid,cpu,time,ip,sym > samples.txt
    python3 Tests/Benchmarks/core_sharing.py samples.txt trace.txt

A unit's interval ends when the coordinator logged its last result part and starts its compute
time before that (the worker's own 'sent' stamp can come late: a worker at idle priority is
preempted right after it sends). Each sample taken on the worker's usual CPU inside one of its
intervals, by another thread, is time taken from that unit. Prints, per thread, the milliseconds
per step so taken from all workers together, and the libzmq I/O threads' share."""
import re
import sys
from bisect import bisect_right
from collections import Counter, defaultdict

from trace_latency import ARRIVED, ROUND   # the same trace lines, read the same way

HEADER = re.compile(r"^\s*(.+?)\s+(\d+)\s+\[(\d+)\]\s+([\d.]+):")
JOINED = re.compile(r"worker (\S+) \(pid (\d+)\) joined")


def samples(path):
    """(comm, tid, cpu, time ms) of every sample."""
    out = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if not line.startswith("\t") and (m := HEADER.match(line)):   # call-chain lines start with a tab
                out.append((m[1], int(m[2]), int(m[3]), float(m[4]) * 1000))
    return out


def intervals(path, skip=20):
    """Worker pids by name, each worker's unit intervals after the first `skip` steps, and the
    number of steps counted."""
    pids, units, steps = {}, defaultdict(list), 0
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if m := JOINED.search(line):
                pids[m[1]] = int(m[2])
            elif ROUND.search(line):
                steps += 1
            elif steps > skip and (m := ARRIVED.search(line)):
                kind, part = m[2], int(m[3])
                if kind != "data" or part == 1:   # a data unit's last part carries its whole time
                    end = float(m[1])
                    units[m[4]].append((end - float(m[5]), end))
    return pids, units, max(steps - skip, 1)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: core_sharing.py SAMPLES TRACE")
    every = samples(sys.argv[1])
    pids, units, counted = intervals(sys.argv[2])
    if not pids or not every:
        sys.exit("no workers or no samples: see the usage at the top of this file")
    cpus = len({cpu for _, _, cpu, _ in every})   # -a samples every CPU, idle ones too
    period = (every[-1][3] - every[0][3]) * cpus / len(every)
    usual = {}
    for w, pid in pids.items():
        seen = Counter(cpu for _, tid, cpu, _ in every if tid == pid)
        usual[w] = seen.most_common(1)[0][0] if seen else None
    spans = sorted((a, b, usual[w]) for w, v in units.items() for a, b in v if w in usual)
    starts = [s[0] for s in spans]
    taken = Counter()
    worker_tids = set(pids.values())
    for comm, tid, cpu, t in every:
        if tid in worker_tids:
            continue
        i = bisect_right(starts, t) - 1
        if any(spans[j][0] <= t <= spans[j][1] and spans[j][2] == cpu for j in range(max(0, i - 3), i + 1)):
            taken[(comm, tid)] += 1
    total = sum(taken.values())
    print(f"{counted} steps, {len(units)} workers, a sample every {period:.2f} ms per CPU")
    print("thread                         ms per step taken from the workers")
    for (comm, tid), n in taken.most_common(10):
        print(f"{comm + ' ' + str(tid):<30} {n * period / counted:8.2f}")
    io = sum(n for (comm, _), n in taken.items() if comm.startswith("ZMQbg"))
    print(f"{'all':<30} {total * period / counted:8.2f}   (libzmq I/O threads {100 * io / max(total, 1):.0f} %)")


if __name__ == "__main__":
    main()
