#!/usr/bin/env python3
"""bench/export_cost.sh's report: from what it measured in DIR (raw.tsv,
rounds.tsv, exports.tsv, roundN.wrk.json, roundN.cpu.json), the figures,
printed and written to OUT (export_cost.json; its keys are listed in
bench/export_cost_keys.txt).

  export_cost.py DIR OUT

"spread" is (max - min) / median of a side's rounds, in %: the noise the
difference between the sides is to be read against.
"""
import json
import os
import statistics
import sys

# The readers of make bench's report, shared (bench/report.py).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from report import load_json, load_raw, rnd  # noqa: E402


def pct(a, b):
    return None if a is None or not b else round(100.0 * (a - b) / b, 1)


def side_stats(values, digits=1):
    values = [v for v in values if v is not None]
    if not values:
        return {"median": None, "min": None, "max": None, "spread_pct": None}
    med = statistics.median(values)
    return {"median": rnd(med, digits), "min": rnd(min(values), digits),
            "max": rnd(max(values), digits),
            "spread_pct": rnd(100.0 * (max(values) - min(values)) / med) if med else None}


def overlap(a0, a1, b0, b1):
    return max(0.0, min(a1, b1) - max(a0, b0))


def main(d, out):
    raw = load_raw(os.path.join(d, "raw.tsv"))
    exports = []
    with open(os.path.join(d, "exports.tsv")) as f:
        for line in f:
            label, eid, status, rows, nbytes, started, finished = line.rstrip("\n").split("\t")
            exports.append({"label": label, "id": eid, "status": status, "rows": int(rows),
                            "bytes": int(nbytes),
                            "started": float(started) if started else None,
                            "finished": float(finished) if finished else None})
    for e in exports:
        e["duration_s"] = (rnd(e["finished"] - e["started"], 2)
                           if e["started"] is not None and e["finished"] is not None else None)

    rounds = []
    with open(os.path.join(d, "rounds.tsv")) as f:
        for line in f:
            n, side, t0, t1, created, waited, running_at_end, rss, block = \
                line.rstrip("\n").split("\t")
            t0, t1 = float(t0), float(t1)
            w = load_json(os.path.join(d, f"round{n}.wrk.json")) or {}
            cpu = load_json(os.path.join(d, f"round{n}.cpu.json")) or {}
            ok = w.get("requests", 0) - w.get("errors_status", 0)
            mine = [e for e in exports if e["label"] == f"round{n}"]
            covered = sum(overlap(t0, t1, e["started"] or t1, e["finished"] or t1) for e in mine)
            cpu_s = cpu.get("cpu_s", {})
            wall = cpu.get("wall_s") or (t1 - t0)

            def cores(kind):
                v = cpu_s.get(kind)
                return None if v is None or not wall else round(v / wall, 2)

            pg, backend = cpu_s.get("postgres"), cpu_s.get("export_backend")
            rounds.append({
                "round": int(n),
                "block": int(block),
                "side": side,
                "export": side != "without",
                "payments_per_s": rnd(ok / w["duration_s"]) if w.get("duration_s") else None,
                "p50_ms": rnd(w.get("p50_ms"), 2),
                "p99_ms": rnd(w.get("p99_ms"), 2),
                "requests": w.get("requests"),
                "non_2xx": w.get("errors_status"),
                "socket_errors": w.get("errors_socket"),
                "payments_created": int(created),
                "settled_before_s": float(waited),
                "exports_started": len(mine),
                "export_coverage": round(covered / (t1 - t0), 2) if side != "without" else 0.0,
                "export_running_at_end": running_at_end == "1",
                "worker_rss_kb_max": int(rss),
                # CPU cores busy on average during the round ("postgres" is
                # every backend, the export's among them).
                "cores": {
                    "postgres_other": (None if pg is None or backend is None or not wall
                                       else round((pg - backend) / wall, 2)),
                    "export_backend": cores("export_backend"),
                    "server": cores("server"),
                    "worker": cores("worker"),
                    "wrk": cores("wrk"),
                    "machine": cpu.get("machine_busy_cores"),
                },
            })

    res = {}
    sides = [x for x in ("without", "with", "unniced") if any(r["side"] == x for r in rounds)]
    for name in sides:
        rs = [r for r in rounds if r["side"] == name]
        res[name] = {
            "rounds": len(rs),
            "payments_per_s": side_stats([r["payments_per_s"] for r in rs]),
            "p99_ms": side_stats([r["p99_ms"] for r in rs]),
            "p50_ms": side_stats([r["p50_ms"] for r in rs]),
            "export_backend_cores": side_stats([r["cores"]["export_backend"] for r in rs], 2),
            "postgres_other_cores": side_stats([r["cores"]["postgres_other"] for r in rs], 2),
            "worker_cores": side_stats([r["cores"]["worker"] for r in rs], 2),
            "machine_cores": side_stats([r["cores"]["machine"] for r in rs], 2),
        }

    def paired(name, key):
        """The median, over the blocks, of the side's round against the
        without-round of the same block (measured next to it, in turn
        first and last), in %: cancels the drift of the machine's other
        load."""
        diffs = []
        for b in sorted({r["block"] for r in rounds}):
            x = [r for r in rounds if r["block"] == b and r["side"] == name]
            base = [r for r in rounds if r["block"] == b and r["side"] == "without"]
            if x and base:
                d = pct(x[0][key], base[0][key])
                if d is not None:
                    diffs.append(d)
        return rnd(statistics.median(diffs)) if diffs else None

    for name in sides[1:]:
        tp, base = res[name]["payments_per_s"], res["without"]["payments_per_s"]
        res[name].update({
            "payments_per_s_diff_pct": pct(tp["median"], base["median"]),
            "p99_diff_pct": pct(res[name]["p99_ms"]["median"], res["without"]["p99_ms"]["median"]),
            "paired_payments_per_s_diff_pct": paired(name, "payments_per_s"),
            "paired_p99_diff_pct": paired(name, "p99_ms"),
            # Noticeable: the typical round of the side slower than every
            # without-round.
            "slower_beyond_spread": (tp["median"] is not None and base["min"] is not None
                                     and tp["median"] < base["min"]),
        })
    with_ = [r for r in rounds if r["side"] != "without"]

    alone = next((e for e in exports if e["label"] == "alone"), None)
    loaded = [e["duration_s"] for e in exports
              if e["label"] != "alone" and e["status"] == "succeeded" and e["duration_s"]]
    hwm_before = raw.get("worker_hwm_kb_before")
    hwm_alone = raw.get("worker_hwm_kb_after_alone")
    csv_bytes = alone["bytes"] if alone else None
    res.update({
        "rows": alone["rows"] if alone else None,
        "rows_seeded": raw.get("rows_seeded"),
        "rounds_per_side": raw.get("rounds_per_side"),
        "round_s": raw.get("round_s"),
        "connections": raw.get("connections"),
        "payments_per_s_diff_pct": res["with"]["payments_per_s_diff_pct"],
        "p99_diff_pct": res["with"]["p99_diff_pct"],
        "paired_payments_per_s_diff_pct": res["with"]["paired_payments_per_s_diff_pct"],
        "paired_p99_diff_pct": res["with"]["paired_p99_diff_pct"],
        "slower_beyond_spread": res["with"]["slower_beyond_spread"],
        "export": {
            "csv_bytes": csv_bytes,
            "csv_mb": rnd(csv_bytes / 1048576) if csv_bytes is not None else None,
            "alone_s": alone["duration_s"] if alone else None,
            "alone_rows_per_s": (round(alone["rows"] / alone["duration_s"])
                                 if alone and alone["duration_s"] else None),
            "under_load_s": side_stats(loaded),
            "exports_in_rounds": len(loaded),
            "worker_hwm_kb_before": hwm_before,
            "worker_hwm_kb_after_alone": hwm_alone,
            "worker_hwm_growth_kb": (hwm_alone - hwm_before
                                     if hwm_alone is not None and hwm_before is not None
                                     else None),
            "worker_rss_kb_max_alone": raw.get("worker_rss_kb_max_alone"),
            "worker_hwm_kb_end": raw.get("worker_hwm_kb_end"),
            "backend_nice": raw.get("export_backend_nice"),
            "backend_autogroup_nice": raw.get("export_backend_autogroup_nice"),
            "thread_nice": raw.get("export_thread_nice"),
            "coverage_min": min((r["export_coverage"] for r in with_), default=None),
        },
        "table_mb": raw.get("table_mb"),
        "seed_s": raw.get("seed_s"),
        "rounds": rounds,
        "exports": exports,
    })
    with open(out, "w") as f:
        json.dump(res, f, indent=2)
        f.write("\n")

    def line(name, s, unit):
        return (f"  {name:<8} median {s['median']} {unit} (min {s['min']}, max {s['max']}, "
                f"spread {s['spread_pct']}%)")

    ex = res["export"]
    print(f"export cost: {res['rows']} rows, {ex['csv_mb']} MB of CSV; "
          f"{len(rounds)} rounds of {res['round_s']:.0f} s, {res['connections']:.0f} connections")
    print(f"  export alone: {ex['alone_s']} s ({ex['alone_rows_per_s']} rows/s); during the load: "
          f"median {ex['under_load_s']['median']} s ({ex['exports_in_rounds']} exports); "
          f"ran through at least {ex['coverage_min']} of each round with one")
    print(f"  worker memory: VmHWM {hwm_before} kB before, {hwm_alone} kB after the export alone "
          f"(grew {ex['worker_hwm_growth_kb']} kB for a {ex['csv_mb']} MB file); "
          f"VmRSS at most {ex['worker_rss_kb_max_alone']} kB during it")
    print(f"  nice: export thread {ex['thread_nice']}, its PostgreSQL backend {ex['backend_nice']} "
          f"(its autogroup {ex['backend_autogroup_nice']})")
    for key, title, unit in (("payments_per_s", "payments/s", "/s"), ("p99_ms", "p99", "ms")):
        print(title)
        for name in sides:
            print(line(name, res[name][key], unit))
    for name in sides[1:]:
        r = res[name]
        print(f"{name} vs without: payments/s {r['payments_per_s_diff_pct']}% "
              f"(paired {r['paired_payments_per_s_diff_pct']}%), p99 {r['p99_diff_pct']}% "
              f"(paired {r['paired_p99_diff_pct']}%); slower beyond the spread: "
              f"{r['slower_beyond_spread']}")
    print("cores busy (medians of the rounds): " + "; ".join(
        f"{name}: export backend {res[name]['export_backend_cores']['median']}, other backends "
        f"{res[name]['postgres_other_cores']['median']}, worker "
        f"{res[name]['worker_cores']['median']}, machine {res[name]['machine_cores']['median']}"
        for name in sides))
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2]))
