#!/usr/bin/env python3
"""CPU time of the processes in a benchmark, to say who used the cores during a timed run.

Usage: cpu_usage.py snap LABEL=PID ... LABEL=+PID ...   (PID: that process; +PID: that process and its children,
                                                            live or reaped: the postmaster and every backend) → one JSON line
       cpu_usage.py diff BEFORE_JSON AFTER_JSON          → one JSON line: core-seconds per label, the machine's busy
                                                            core-seconds and cores, the wall seconds between the snapshots
Also imported by drain.py (snapshot, difference). Linux /proc only; standard library only.
A PID process that exited between the two snapshots is not counted; with +PID, children that ended are (the parent's
cutime/cstime holds them once reaped).
"""
import json
import os
import sys
import time

TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid, reaped=False):
    """(ppid, utime + stime in ticks) of one process — plus cutime + cstime, the CPU of the children it has reaped,
    when `reaped` — or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            text = handle.read()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    own = int(fields[11]) + int(fields[12])
    return int(fields[1]), own + (int(fields[13]) + int(fields[14]) if reaped else 0)


def _children(parent):
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            stat = _stat(int(name))
            if stat and stat[0] == parent:
                found.append(int(name))
    return found


def _machine():
    with open("/proc/stat") as handle:
        values = [int(v) for v in handle.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return sum(values[:8]), idle  # user nice system idle iowait irq softirq steal (guest is inside user)


def snapshot(groups):
    """groups: {label: [pid, …] or ("children", pid)} → {"at", "machine": [total, idle], "ticks": {label: {pid: ticks}}}"""
    total, idle = _machine()
    ticks = {}
    for label, spec in groups.items():
        ticks[label] = {}
        if isinstance(spec, tuple):
            # The parent (a postmaster) with the CPU of the children it reaped (backends that ended between the
            # snapshots), plus its live children.
            pids = _children(spec[1])
            stat = _stat(spec[1], reaped=True)
            if stat:
                ticks[label][str(spec[1])] = stat[1]
        else:
            pids = spec
        for pid in pids:
            stat = _stat(pid)
            if stat:
                ticks[label][str(pid)] = stat[1]
    return {"at": time.monotonic(), "machine": [total, idle], "ticks": ticks}


def difference(before, after):
    """Core-seconds per label between two snapshots, the machine's busy core-seconds, and the wall seconds."""
    out = {"wall_seconds": round(after["at"] - before["at"], 3)}
    for label, pids in after["ticks"].items():
        earlier = before["ticks"].get(label, {})
        out[label] = round(sum(t - earlier.get(pid, 0) for pid, t in pids.items()) / TICKS, 2)
    total = after["machine"][0] - before["machine"][0]
    idle = after["machine"][1] - before["machine"][1]
    out["machine_busy"] = round((total - idle) / TICKS, 2)
    out["machine_cores"] = os.cpu_count()
    return out


def _parse(arguments):
    groups = {}
    for argument in arguments:
        label, _, pid = argument.partition("=")
        if pid.startswith("+"):
            groups[label] = ("children", int(pid[1:]))
        else:
            groups.setdefault(label, []).extend(int(p) for p in pid.split(",") if p)
    return groups


def main():
    if len(sys.argv) >= 2 and sys.argv[1] in ("-h", "--help"):
        print(__doc__.strip())
    elif len(sys.argv) >= 2 and sys.argv[1] == "snap":
        print(json.dumps(snapshot(_parse(sys.argv[2:]))))
    elif len(sys.argv) == 4 and sys.argv[1] == "diff":
        print(json.dumps(difference(json.loads(sys.argv[2]), json.loads(sys.argv[3]))))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
