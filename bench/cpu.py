#!/usr/bin/env python3
"""The CPU budget of a make bench phase, from /proc (standard library only).

  cpu.py snapshot OUT KIND=PID ...
      Writes to OUT (JSON) the wall clock and, for each KIND, the CPU seconds
      (utime + stime, all threads) its process has used so far. KIND may
      repeat (their CPU adds up). The kind "postgres" takes the postmaster's
      PID and counts the postmaster, every child alive now (backends,
      checkpointer, walwriter, autovacuum...) and the children it has already
      reaped (its cutime + cstime): a backend that ends between two snapshots
      is counted by the second in the postmaster's cutime, so backends that
      come and go are not lost. A process that is gone counts as null.

  cpu.py run OUT -- CMD [ARG ...]
      Runs CMD, then writes to OUT the CPU seconds it and its threads used
      (from wait4's rusage: exact, though it exits before the end snapshot);
      exits with CMD's status. For the load generator.

  cpu.py budget START END PAYMENTS [KIND=RUNFILE ...]
      Prints (stdout, JSON) the CPU microseconds per payment of each kind
      between two snapshots, plus those of the run files, their total, the
      wall time, the busy cores (CPU seconds / wall seconds), and the busy
      cores of the whole machine (/proc/stat: what else ran shows as the
      difference).

What it misses: processes not named (the bench's own psql polls, bash, the
kernel's own threads and interrupts not charged to a process).
"""
import json
import os
import subprocess
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")


def stat_fields(pid):
    """The fields of /proc/PID/stat after the command name (field 3 first)."""
    with open(f"/proc/{pid}/stat") as f:
        text = f.read()
    # The command name is in parentheses and may hold spaces or parentheses.
    return text[text.rindex(")") + 2:].split()


def own_ticks(fields):
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)


def process_cpu_s(pid):
    try:
        return own_ticks(stat_fields(pid)) / TICK
    except (FileNotFoundError, ProcessLookupError):
        return None


def postgres_cpu_s(postmaster):
    try:
        f = stat_fields(postmaster)
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The postmaster, and the children it reaped (cutime, cstime).
    ticks = own_ticks(f) + int(f[13]) + int(f[14])
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            c = stat_fields(entry)
        except (FileNotFoundError, ProcessLookupError):
            continue  # ended while we looked: its parent's cutime has it
        if int(c[1]) == postmaster:  # ppid, field 4
            ticks += own_ticks(c)
    return ticks / TICK


def machine_busy_s():
    """CPU seconds the whole machine spent busy so far (all processes, the
    kernel; not idle or iowait): says how much else ran on shared cores."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = v[:8]
    return (user + nice + system + irq + softirq + steal) / TICK


def snapshot(out, specs):
    cpu = {}
    for spec in specs:
        kind, pid = spec.split("=", 1)
        pid = int(pid)
        s = postgres_cpu_s(pid) if kind == "postgres" else process_cpu_s(pid)
        if kind in cpu:
            cpu[kind] = None if s is None or cpu[kind] is None else cpu[kind] + s
        else:
            cpu[kind] = s
    with open(out, "w") as f:
        json.dump({"t": time.time(), "machine_busy_s": machine_busy_s(), "cpu_s": cpu}, f)


def run(out, cmd):
    start = time.time()
    proc = subprocess.Popen(cmd)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    with open(out, "w") as f:
        json.dump({"cpu_s": usage.ru_utime + usage.ru_stime, "wall_s": time.time() - start}, f)
    return proc.returncode


def budget(start_file, end_file, payments, run_specs):
    with open(start_file) as f:
        start = json.load(f)
    with open(end_file) as f:
        end = json.load(f)
    cpu_s = {}
    for kind, s in start["cpu_s"].items():
        e = end["cpu_s"].get(kind)
        cpu_s[kind] = None if s is None or e is None else e - s
    for spec in run_specs:
        kind, path = spec.split("=", 1)
        with open(path) as f:
            cpu_s[kind] = json.load(f)["cpu_s"]
    wall_s = end["t"] - start["t"]
    known = [v for v in cpu_s.values() if v is not None]
    total_s = sum(known) if len(known) == len(cpu_s) else None

    def per_payment_us(v):
        return None if v is None or payments <= 0 else round(v * 1e6 / payments)

    us = {k: per_payment_us(v) for k, v in cpu_s.items()}
    us["total"] = per_payment_us(total_s)
    return {
        "us_per_payment": us,
        "cpu_s": {k: None if v is None else round(v, 2) for k, v in cpu_s.items()},
        "total_cpu_s": None if total_s is None else round(total_s, 2),
        "wall_s": round(wall_s, 2),
        "busy_cores": None if total_s is None or wall_s <= 0 else round(total_s / wall_s, 2),
        "machine_busy_cores": None if wall_s <= 0 else round(
            (end["machine_busy_s"] - start["machine_busy_s"]) / wall_s, 2),
        "payments": payments,
    }


def main(argv):
    if len(argv) >= 2 and argv[0] == "snapshot":
        snapshot(argv[1], argv[2:])
        return 0
    if len(argv) >= 4 and argv[0] == "run" and argv[2] == "--":
        return run(argv[1], argv[3:])
    if len(argv) >= 4 and argv[0] == "budget":
        json.dump(budget(argv[1], argv[2], int(argv[3]), argv[4:]), sys.stdout)
        print()
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
