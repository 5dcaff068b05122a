#!/usr/bin/env python3
"""Dispatch latencies from a distributed trace: how long after the coordinator logged a unit as
sent did its worker log the next receive, on the host's monotonic clock (both stamp it); and each
worker's median compute time per kind of unit and result part, as the coordinator logged it; and
each worker's idle time between consecutive units (from the end of one to the start of the next,
on its own stamps), by the pair of units: what the step's phase boundaries cost it; and the end
of each step on the coordinator's stamps: how far apart the last phase's results arrived, and
how long after the last one the reduction and the update ended and the new parameters were in
place on every worker.

    LARGEVAE_LOG=trace largevae bench --workers 2 --models vae/vampprior --runs 1 --steps 60 > trace.txt 2>&1
    python3 Tests/Benchmarks/trace_latency.py trace.txt

Prior-backward units are usually queued while their worker still computes a data unit, so their
figure is mostly that wait, not the message's trip."""
import re
from bisect import bisect_left
import statistics
import sys

SENT = re.compile(r"coordinator: \[Cluster\] [\d.]+ ms \(clock ([\d.]+) ms\): unit \d+ \((\w+)\) sent to (\S+)")
RECEIVED = re.compile(r"worker (\S+): \[Cluster\] [\d.]+ ms \(clock ([\d.]+) ms\): received")
FINISHED = re.compile(r"worker (\S+): \[Cluster\] [\d.]+ ms \(clock ([\d.]+) ms\): unit (\d+) of step (\d+) computed in ([\d.]+) ms")
# A result part's arrival: clock, kind, part, worker, the worker's compute time.
ARRIVED = re.compile(r"coordinator: \[Cluster\] [\d.]+ ms \(clock ([\d.]+) ms\): unit \d+ \((\w+)\) part (\d) from (\S+), computed in ([\d.]+) ms")
IN_PLACE = re.compile(r"worker (\S+): \[Cluster\] [\d.]+ ms \(clock ([\d.]+) ms\): parameters v\d+ in place")
ROUND = re.compile(r"coordinator: \[Cluster\] round (\d+)")
REDUCED = re.compile(r"coordinator: \[Cluster\] [\d.]+ ms \(clock ([\d.]+) ms\): reduced in")
PUBLISHED = re.compile(r"coordinator: \[Cluster\] [\d.]+ ms \(clock ([\d.]+) ms\): updated and published")


def latencies(lines, skip=5):
    sends, receives = [], {}
    for line in lines:
        if m := SENT.search(line):
            sends.append((float(m[1]), m[2], m[3]))
        elif m := RECEIVED.search(line):
            receives.setdefault(m[1], []).append(float(m[2]))
    out = {}
    for t, kind, worker in sends:
        later = [r for r in receives.get(worker, []) if r >= t]
        if later:
            out.setdefault((kind, worker), []).append(later[0] - t)
    return {k: v[skip:] or v for k, v in out.items()}


def compute_times(lines, skip=5):
    out = {}
    for line in lines:
        if m := ARRIVED.search(line):
            out.setdefault((m[2], int(m[3]), m[4]), []).append(float(m[5]))
    return {k: v[skip:] or v for k, v in out.items()}


def idle_gaps(lines, skip=5):
    """(worker, 'a->b' within a step or 'a->next b' across steps) -> idle ms before unit b began."""
    units = {}
    for line in lines:
        if m := FINISHED.search(line):
            end, took = float(m[2]), float(m[5])
            units.setdefault(m[1], []).append((int(m[4]), int(m[3]), end - took, end))
    out = {}
    for worker, done in units.items():
        done.sort(key=lambda u: u[2])
        for (step, unit, _, end), (next_step, next_unit, start, _) in zip(done, done[1:]):
            if step < skip:
                continue
            pair = f"{unit}->{next_unit}" if step == next_step else f"{unit}->next {next_unit}"
            out.setdefault((worker, pair), []).append(start - end)
    return out


def step_ends(lines, skip=5):
    """Per training step: the spread of the last phase's result arrivals (the prior's backward
    units with the VampPrior, else the data units' gradients), then the time from the last of them
    to the end of the reduction, to the end of the update, and to the new parameters being in place
    on every worker (each worker's first such stamp after the update's end)."""
    steps, current, in_place = [], None, {}
    for line in lines:
        if m := IN_PLACE.search(line):
            in_place.setdefault(m[1], []).append(float(m[2]))
        elif m := ROUND.search(line):
            current = {"last": [], "reduced": None, "published": None}
            steps.append(current)
        elif current is None:
            continue
        elif m := ARRIVED.search(line):
            kind, part = m[2], int(m[3])
            if kind == "priorBackward" or (kind == "data" and part == 1):
                current["last"].append((kind, float(m[1])))
        elif m := REDUCED.search(line):
            current["reduced"] = float(m[1])
        elif m := PUBLISHED.search(line):
            current["published"] = float(m[1])
    for stamps in in_place.values():
        stamps.sort()
    out = {"spread": [], "to reduced": [], "to published": [], "to in place": []}
    for step in steps[skip:]:
        kinds = {k for k, _ in step["last"]}
        times = [t for k, t in step["last"] if k == ("priorBackward" if "priorBackward" in kinds else "data")]
        if len(times) < 2 or step["reduced"] is None or step["published"] is None:
            continue   # an evaluation round, or a step with a single last unit
        out["spread"].append(max(times) - min(times))
        out["to reduced"].append(step["reduced"] - max(times))
        out["to published"].append(step["published"] - max(times))
        after = [v[i] for v in in_place.values() if (i := bisect_left(v, step["published"])) < len(v)]
        if after and len(after) == len(in_place):
            out["to in place"].append(max(after) - max(times))
    return out


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: trace_latency.py TRACE_FILE")
    with open(sys.argv[1], encoding="utf-8", errors="replace") as f:
        lines = f.readlines()
    found = latencies(lines)
    if not found:
        sys.exit("no 'sent to' lines with clock stamps: was the trace taken with LARGEVAE_LOG=trace?")
    print("unit kind       worker      median ms  90th pct ms  units")
    for (kind, worker), v in sorted(found.items()):
        v = sorted(v)
        print(f"{kind:<15} {worker:<10} {statistics.median(v):10.2f} {v[int(0.9 * (len(v) - 1))]:12.2f} {len(v):6d}")
    print()
    print("unit kind       part  worker      median compute ms  units")
    for (kind, part, worker), v in sorted(compute_times(lines).items()):
        print(f"{kind:<15} {part:4d}  {worker:<10} {statistics.median(v):18.2f} {len(v):6d}")
    print()
    print("worker      units         median idle ms  mean idle ms   gaps")
    for (worker, pair), v in sorted(idle_gaps(lines).items()):
        if len(v) >= 10:
            print(f"{worker:<10}  {pair:<12} {statistics.median(v):15.2f} {statistics.mean(v):13.2f} {len(v):6d}")
    ends = step_ends(lines)
    if ends["spread"]:
        print()
        print("step end (coordinator's stamps)               median ms  mean ms  steps")
        labels = {"spread": "last phase's results, first to last",
                  "to reduced": "last result to reduction's end",
                  "to published": "last result to update's end",
                  "to in place": "last result to parameters on every worker"}
        for key, label in labels.items():
            if not (v := ends[key]):
                continue
            print(f"{label:<44} {statistics.median(v):9.2f} {statistics.mean(v):8.2f} {len(v):6d}")


if __name__ == "__main__":
    main()
