#!/usr/bin/env python3
"""make bench's report: from what scripts/bench.sh measured in DIR (raw.tsv,
api.wrk.json, cpu-api.json, cpu-settle.json, the flood's rounds), the
figures, written to OUT (latest.json; its keys are listed in bench/keys.txt)
and printed with the CPU budget tables and the targets of issues 10 and 13.

  report.py DIR OUT
  report.py --flood-round DIR ROUND SIDE   (one line on a round of (b2))
"""
import json
import os
import sys


def load_raw(path):
    raw = {}
    with open(path) as f:
        for line in f:
            name, _, value = line.rstrip("\n").partition("\t")
            try:
                raw[name] = float(value)
            except ValueError:  # empty: not measured
                raw[name] = None
    return raw


def load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (FileNotFoundError, json.JSONDecodeError):
        return None


# The target of (b1) (issue 13): what a reader may take of the ingest on the
# two cores it shares with everything, itself included (docs/operations.md,
# "Reads"). Two runs measured 66.2% and 67.8% while the reader's refusals
# were answered as fast as it sent them (3,300-10,000 a second); with them
# held a second, 89.0% and 79.4%: what is left is the reads' CPU (106-109
# answered a second), the server's rendering of their pages and the
# reader's own wrk on the same cores.
READS_INGEST_PCT_MIN = 75


def rnd(x, digits=1):
    return None if x is None else round(x, digits)


def ratio(a, b):
    return None if a is None or not b else round(a / b, 2)


def ab_rounds(d):
    """The rules' A/B rounds (ab.txt: side, payments, seconds, CPU s of every
    process, wrk's CPU s, wrk's requests), each with the machine's speed in
    it: wrk's CPU a request over its median in the run. wrk does the same
    work in every round, rules or not; in one of this machine's slow spells
    (20-60 s in which every process, wrk too, takes a fifth to a half more
    CPU for the same work) it rises with the rest, so a round's payments/s
    times its factor, and its CPU a payment over it, are what the round
    would have measured at the run's usual speed."""
    rounds = []
    try:
        with open(os.path.join(d, "ab.txt")) as f:
            for line in f:
                p = line.split()
                if len(p) < 6:
                    return []
                side, n, secs, cpu, wrk_cpu, reqs = p[0], int(p[1]), float(p[2]), \
                    float(p[3]), float(p[4]), int(p[5])
                if not n or not secs or not reqs or not wrk_cpu:
                    return []
                rounds.append({"side": side, "pps": n / secs, "cpu_us": 1e6 * cpu / n,
                               "wrk_us": 1e6 * wrk_cpu / reqs})
    except FileNotFoundError:
        return []
    ref = sorted(r["wrk_us"] for r in rounds)
    mid = len(ref) // 2
    median = ref[mid] if len(ref) % 2 else (ref[mid - 1] + ref[mid]) / 2
    for r in rounds:
        r["speed"] = r["wrk_us"] / median
    return rounds


def ab_cost(rounds):
    """From ab_rounds: the share of payments/s and the CPU (us) a payment
    the rules take, each round at the run's usual speed; None, None without
    rounds of both sides."""
    mean = lambda xs: sum(xs) / len(xs) if xs else None  # noqa: E731
    off = [r for r in rounds if r["side"] == "off"]
    on = [r for r in rounds if r["side"] == "on"]
    if not off or not on:
        return None, None
    pps_off = mean([r["pps"] * r["speed"] for r in off])
    pps_on = mean([r["pps"] * r["speed"] for r in on])
    cpu_off = mean([r["cpu_us"] / r["speed"] for r in off])
    cpu_on = mean([r["cpu_us"] / r["speed"] for r in on])
    return 100 * (1 - pps_on / pps_off), cpu_on - cpu_off


def figures(d):
    raw = load_raw(os.path.join(d, "raw.tsv"))
    wrk = load_json(os.path.join(d, "api.wrk.json")) or {}
    cpu_api = load_json(os.path.join(d, "cpu-api.json")) or {}
    cpu_settle = load_json(os.path.join(d, "cpu-settle.json")) or {}
    g = raw.get
    pgbench = g("pgbench_tps")
    created = g("api_payments")
    duration = wrk.get("duration_s")
    pps = created / duration if created is not None and duration else None
    per_s = lambda n, s: n / s if n is not None and s else None  # noqa: E731
    nr_pps = per_s(g("norules_payments"), g("norules_s"))
    ab_pps = per_s(g("rules_ab_payments"), g("rules_ab_s"))
    nr_cpu = per_s(g("norules_cpu_s"), g("norules_payments"))
    ab_cpu = per_s(g("rules_ab_cpu_s"), g("rules_ab_payments"))
    risk_raw_us = 1e6 * (ab_cpu - nr_cpu) if nr_cpu is not None and ab_cpu is not None else None
    risk_raw_pct = None if ab_pps is None or not nr_pps else 100 * (1 - ab_pps / nr_pps)
    rounds = ab_rounds(d)
    risk_pct, risk_us = ab_cost(rounds)
    if risk_pct is None:  # rounds without wrk's figures: as measured
        risk_pct, risk_us = risk_raw_pct, risk_raw_us
    nd_pps = per_s(g("noreader_payments"), g("noreader_s"))
    rd_pps = per_s(g("reader_payments"), g("reader_s"))
    settle_us = cpu_settle.get("us_per_payment", {}).get("total")
    span = g("settle_span_s")
    final = g("settle_final")
    settled_per_s = final / span if final is not None and span else None
    events, delivered = g("webhook_events"), g("webhook_delivered")
    backlog, backlog_s = g("readers_backlog_events"), g("readers_backlog_s")
    kb = lambda name: rnd(g(name) / 1024) if g(name) is not None else None  # noqa: E731
    out = {
        # (b) ingest: POST /v1/payments as `make run` serves it
        "payments_per_s": rnd(pps, 0),
        "pgbench_tps": pgbench,
        "pgbench_clients": g("pgbench_clients"),
        "ratio": ratio(pps, pgbench),
        "ingest_ratio": ratio(pps, pgbench),
        "p50_ms": rnd(wrk.get("p50_ms"), 2),
        "p99_ms": rnd(wrk.get("p99_ms"), 2),
        "server_peak_rss_mb": kb("server_rss_kb"),
        "requests": wrk.get("requests"),
        "payments_created": created,
        "non_2xx": wrk.get("errors_status"),
        "socket_errors": wrk.get("errors_socket"),
        # live risk rules evaluated on every payment (BENCH_RISK; docs/risk.md)
        "risk_rules": g("risk_rules"),
        # rounds of the same ingest without and with them (BENCH_RISK_AB), and
        # what they cost: the share of payments/s they take
        "norules_payments_per_s": rnd(nr_pps, 0),
        "rules_ab_payments_per_s": rnd(ab_pps, 0),
        # ... each round at the run's usual speed (ab_rounds), and as measured
        "risk_ingest_cost_pct": rnd(risk_pct, 1),
        "risk_ingest_cost_raw_pct": rnd(risk_raw_pct, 1),
        "risk_ab_speed": [rnd(r["speed"], 3) for r in rounds] or None,
        # the CPU they add to a payment (every process and wrk, from those
        # rounds), and the share of a settled payment's CPU that is: the
        # worker evaluates no rules, and the life cycle is CPU-bound (its
        # busy cores), so its rate loses that share
        "risk_cpu_us_per_payment": rnd(risk_us, 0),
        "risk_cpu_raw_us_per_payment": rnd(risk_raw_us, 0),
        "risk_settle_cost_pct": (None if risk_us is None or not settle_us
                                 else rnd(100 * risk_us / settle_us, 1)),
        # rounds of the same ingest without and with a hostile tenant's reader
        # (BENCH_READS, issue 13): the ingest with it as a share of without,
        # and the reader's rate and answers (summed over its rounds)
        "noreader_payments_per_s": rnd(nd_pps, 0),
        "reader_payments_per_s": rnd(rd_pps, 0),
        "reads_ingest_pct": (None if rd_pps is None or not nd_pps
                             else rnd(100 * rd_pps / nd_pps, 1)),
        "reads_reader_requests_per_s": rnd(per_s(g("reader_requests"), g("reader_requests_s")), 0),
        "reads_reader_200": g("reader_200"),
        "reads_reader_429": g("reader_429"),
        "reads_reader_503": g("reader_503"),
        "reads_reader_other": g("reader_other"),
        # (c) the life cycle: created, settled, indexed, receipted, delivered
        "settled_per_s": rnd(settled_per_s, 0),
        "settle_ratio": ratio(settled_per_s, pgbench),
        "settle_p50_ms": rnd(g("settle_p50_ms")),
        "settle_p99_ms": rnd(g("settle_p99_ms")),
        "settle_payments": g("settle_payments"),
        "settled_payments": final,
        "all_final": final is not None and final == g("settle_payments"),
        "worker_peak_rss_mb": kb("worker_rss_kb"),
        "server_settle_peak_rss_mb": kb("server_settle_rss_kb"),
        "index_lag_p50_ms": rnd(g("index_lag_p50_ms")),
        "index_lag_p99_ms": rnd(g("index_lag_p99_ms")),
        "index_lag_max_ms": rnd(g("index_lag_max_ms")),
        "receipt_lag_p50_ms": rnd(g("receipt_lag_p50_ms")),
        "receipt_lag_p99_ms": rnd(g("receipt_lag_p99_ms")),
        "readers_caught_up": g("readers_behind") == 0,
        "webhook_lag_p50_ms": rnd(g("webhook_lag_p50_ms")),
        "webhook_lag_p99_ms": rnd(g("webhook_lag_p99_ms")),
        "webhook_events": events,
        "webhook_delivered": delivered,
        "webhook_attempts": g("webhook_attempts"),
        "webhook_sink_received": g("webhook_sink_received"),
        "webhooks_all_delivered": events is not None and delivered == events,
        # before (c): the readers working through (b)'s events
        "readers_backlog_events": backlog,
        "readers_backlog_s": backlog_s,
        "readers_backlog_events_per_s": (
            None if backlog is None or backlog_s is None else round(backlog / max(backlog_s, 0.1))),
        "readers_backlog_done": g("readers_backlog_behind") == 0,
    }
    for phase, cpu in (("api", cpu_api), ("settle", cpu_settle)):
        out[f"cpu_budget_{phase}_us"] = cpu.get("us_per_payment")
        out[f"cpu_budget_{phase}_cpu_s"] = cpu.get("cpu_s")
        out[f"cpu_budget_{phase}_wall_s"] = cpu.get("wall_s")
        out[f"cpu_budget_{phase}_busy_cores"] = cpu.get("busy_cores")
        out[f"cpu_budget_{phase}_machine_busy_cores"] = cpu.get("machine_busy_cores")
        out[f"cpu_budget_{phase}_payments"] = cpu.get("payments")
    out.update(flood_figures(d, raw))
    # Counts and rates rounded to units are integers.
    for k in ("payments_per_s", "norules_payments_per_s", "rules_ab_payments_per_s",
              "noreader_payments_per_s", "reader_payments_per_s", "reads_reader_requests_per_s",
              "reads_reader_200", "reads_reader_429", "reads_reader_503", "reads_reader_other",
              "risk_cpu_us_per_payment", "risk_cpu_raw_us_per_payment",
              "pgbench_tps", "pgbench_clients",
              "payments_created",
              "risk_rules", "settled_per_s", "settle_payments", "settled_payments", "webhook_events",
              "webhook_delivered", "webhook_attempts", "webhook_sink_received",
              "readers_backlog_events", "flood_legit_per_s_without", "flood_legit_per_s_with",
              "flood_per_s", "flood_requests", "flood_401", "flood_other", "flood_errors",
              "flood_db_lookups"):
        if out[k] is not None:
            out[k] = int(out[k])
    return out


# --- (b2) the flood of made-up keys (issue 13) -------------------------------

FLOOD_KINDS = ("server", "redis", "postgres", "nats", "wrk", "flooder")


def flood_round(d, n):
    """A round of (b2): its wrk summary, CPU budget and flooder's result."""
    return (load_json(os.path.join(d, f"fl{n}.wrk.json")) or {},
            load_json(os.path.join(d, f"cpu-fl{n}.json")) or {},
            load_json(os.path.join(d, f"fl{n}.flood.json")))


def flood_figures(d, raw):
    rounds = {"off": [], "on": []}
    try:
        with open(os.path.join(d, "flood_rounds.tsv")) as f:
            for line in f:
                side, n = line.split()
                rounds[side].append(flood_round(d, n))
    except FileNotFoundError:
        pass

    def side(rs):
        """The side's legit p99 (the mean of its rounds'), legit requests
        and seconds, CPU seconds by process and the seconds of load."""
        p99s = [w["p99_ms"] for w, _, _ in rs if w.get("p99_ms") is not None]
        reqs = sum(w.get("requests", 0) for w, _, _ in rs)
        secs = sum(w.get("duration_s", 0) for w, _, _ in rs)
        # The seconds the load ran (the flood's, which spans wrk's, or
        # wrk's): the snapshots' wall time adds the tools' start and end,
        # idle, which would dilute the busy cores.
        cpu, wall = {}, sum((f or w).get("duration_s", 0) for w, _, f in rs)
        for _, c, _ in rs:
            for k, v in (c.get("cpu_s") or {}).items():
                cpu[k] = None if v is None or cpu.get(k, 0) is None else cpu.get(k, 0) + v
        return (sum(p99s) / len(p99s) if p99s else None), reqs, secs, cpu, wall

    p99_off, req_off, s_off, cpu_off, wall_off = side(rounds["off"])
    p99_on, req_on, s_on, cpu_on, wall_on = side(rounds["on"])
    floods = [f for _, _, f in rounds["on"] if f]
    fsum = lambda k: sum(f.get(k, 0) for f in floods)  # noqa: E731
    f_req, f_s = fsum("requests"), fsum("duration_s")

    def cores(cpu, wall):
        if not cpu or not wall:
            return None
        out = {k: (None if v is None else round(v / wall, 2)) for k, v in cpu.items()}
        known = [v for v in cpu.values() if v is not None]
        out["total"] = round(sum(known) / wall, 2) if len(known) == len(cpu) else None
        return out

    # What a flood request costs each process: its CPU in the rounds with
    # the flood, less what the legit requests of those rounds cost at the
    # rate of the rounds without (per legit request), over the flood's
    # requests.
    extra = None
    if cpu_on and f_req and req_off:
        extra = {}
        for k in FLOOD_KINDS:
            on, off = cpu_on.get(k), cpu_off.get(k, 0)
            if on is None or off is None:
                extra[k] = None
                continue
            extra[k] = round(1e6 * (on - off / req_off * req_on) / f_req, 1)
        known = [v for v in extra.values() if v is not None]
        extra["total"] = round(sum(known), 1) if len(known) == len(extra) else None
    return {
        "flood_legit_p99_ms_without": rnd(p99_off, 2),
        "flood_legit_p99_ms_with": rnd(p99_on, 2),
        "flood_p99_ratio": ratio(p99_on, p99_off),
        "flood_legit_per_s_without": rnd(req_off / s_off, 0) if s_off else None,
        "flood_legit_per_s_with": rnd(req_on / s_on, 0) if s_on else None,
        "flood_per_s": rnd(f_req / f_s, 0) if f_s else None,
        "flood_requests": f_req if floods else None,
        "flood_429_pct": rnd(100 * fsum("status_429") / f_req, 2) if f_req else None,
        "flood_401": fsum("status_401") if floods else None,
        "flood_other": fsum("status_other") + fsum("status_2xx") if floods else None,
        "flood_errors": fsum("errors") if floods else None,
        "flood_db_lookups": raw.get("flood_db_lookups"),
        "flood_cpu_cores": cores(cpu_on, wall_on),
        "noflood_cpu_cores": cores(cpu_off, wall_off),
        "flood_cpu_us_per_request": extra,
    }


def print_flood_round(d, n, side_name):
    w, c, f = flood_round(d, n)
    line = (f"  round {n}, flood {side_name}: legit {w.get('requests', '?')} requests, "
            f"p99 {w.get('p99_ms', '?')} ms")
    if f:
        line += (f"; flood {f['per_s']}/s: {f['status_429']} 429s, {f['status_401']} 401s, "
                 f"{f['status_other'] + f['status_2xx']} other, {f['errors']} errors")
    cpu = c.get("cpu_s") or {}
    wall = (f or w).get("duration_s") or 0
    if wall:
        line += "; cores: " + " ".join(f"{k} {v / wall:.2f}" for k, v in cpu.items()
                                       if v is not None)
    print(line, flush=True)


def print_flood(out):
    if out["flood_p99_ratio"] is None:
        return
    on, off = out["flood_cpu_cores"] or {}, out["noflood_cpu_cores"] or {}
    per = out["flood_cpu_us_per_request"] or {}
    print()
    print("Flood of made-up keys (b2): busy cores by process, and the CPU (us) a flood "
          "request costs each")
    print("  (the last is the legit load's noise over the flood's requests when the flood is "
          "small: read the cores)")
    print(f"  {'process':<10} {'no flood':>9} {'flood':>9} {'us/request':>11}")
    for k in list(FLOOD_KINDS) + ["total"]:
        print(f"  {k:<10} {fmt(off.get(k)):>9} {fmt(on.get(k)):>9} {fmt(per.get(k)):>11}")
    print(f"  flood: {fmt(out['flood_per_s'])} requests/s, {fmt(out['flood_429_pct'])}% "
          f"answered 429, {fmt(out['flood_401'])} 401s, {fmt(out['flood_db_lookups'])} "
          f"unknown-key lookups in the database")


def fmt(x):
    if x is None:
        return "-"
    if isinstance(x, int):
        return f"{x:,}"
    return f"{x:,.2f}" if abs(x) < 10 else f"{x:,.1f}"


def print_cpu(out):
    api, settle = out["cpu_budget_api_us"] or {}, out["cpu_budget_settle_us"] or {}
    kinds = list(dict.fromkeys([k for k in list(settle) + list(api) if k != "total"]))
    print()
    print("CPU budget, microseconds of CPU per payment (utime + stime from /proc):")
    print(f"  {'process':<14} {'ingest (b)':>12} {'life cycle (c)':>15}")
    for k in kinds + ["total"]:
        print(f"  {k:<14} {fmt(api.get(k)):>12} {fmt(settle.get(k)):>15}")
    for phase, label, what in (("api", "ingest (b)", "created"), ("settle", "life cycle (c)",
                                                                  "settled")):
        print(f"  {label}: {fmt(out[f'cpu_budget_{phase}_payments'])} payments {what} in "
              f"{fmt(out[f'cpu_budget_{phase}_wall_s'])} s wall, "
              f"{fmt(out[f'cpu_budget_{phase}_busy_cores'])} cores busy (the whole machine: "
              f"{fmt(out[f'cpu_budget_{phase}_machine_busy_cores'])})")


def le(x, limit):
    return x is not None and x <= limit


def ge(x, limit):
    return x is not None and x >= limit


def print_targets(out):
    rss = [out["server_peak_rss_mb"], out["server_settle_peak_rss_mb"], out["worker_peak_rss_mb"]]
    rows = [
        ("ingest ratio >= 4 (payments/s / pgbench tps)", out["ingest_ratio"], ge(out["ingest_ratio"], 4)),
        ("ingest p99 <= 25 ms", out["p99_ms"], le(out["p99_ms"], 25)),
        ("settled ratio >= 2 (settled/s / pgbench tps)", out["settle_ratio"], ge(out["settle_ratio"], 2)),
        ("201 -> final p99 <= 1 s (ms)", out["settle_p99_ms"], le(out["settle_p99_ms"], 1000)),
        ("receipt lag p99 <= 2 s (ms)", out["receipt_lag_p99_ms"], le(out["receipt_lag_p99_ms"], 2000)),
        ("index lag p99 <= 1 s (ms)", out["index_lag_p99_ms"], le(out["index_lag_p99_ms"], 1000)),
        ("server and worker peak RSS <= 150 MB (the largest)",
         max((r for r in rss if r is not None), default=None),
         all(le(r, 150) for r in rss)),
        ("every payment final", out["all_final"], out["all_final"]),
        ("readers done with every payment", out["readers_caught_up"], out["readers_caught_up"]),
        ("every webhook delivered", out["webhooks_all_delivered"], out["webhooks_all_delivered"]),
    ]
    if out["risk_ingest_cost_pct"] is not None:
        rows.append(("risk rules cost <= 10% of ingest (%, at the run's usual speed; as measured "
                     f"{fmt(out['risk_ingest_cost_raw_pct'])}: "
                     f"{fmt(out['rules_ab_payments_per_s'])}/s with, "
                     f"{fmt(out['norules_payments_per_s'])}/s without)", out["risk_ingest_cost_pct"],
                     le(out["risk_ingest_cost_pct"], 10)))
    if out["reads_ingest_pct"] is not None:
        rows.append((f"ingest with a reader running >= {READS_INGEST_PCT_MIN}% of without (%: "
                     f"{fmt(out['reader_payments_per_s'])}/s with, "
                     f"{fmt(out['noreader_payments_per_s'])}/s without; the reader "
                     f"{fmt(out['reads_reader_requests_per_s'])} requests/s, "
                     f"{fmt(out['reads_reader_200'])} 200, {fmt(out['reads_reader_429'])} 429, "
                     f"{fmt(out['reads_reader_503'])} 503, {fmt(out['reads_reader_other'])} other)",
                     out["reads_ingest_pct"], ge(out["reads_ingest_pct"], READS_INGEST_PCT_MIN)))
    if out["risk_settle_cost_pct"] is not None:
        rows.append(("risk rules cost <= 10% of settlement (%: "
                     f"{fmt(out['risk_cpu_us_per_payment'])} us of CPU a payment, of "
                     f"{fmt((out['cpu_budget_settle_us'] or {}).get('total'))} a settled one)",
                     out["risk_settle_cost_pct"], le(out["risk_settle_cost_pct"], 10)))
    if out["flood_p99_ratio"] is not None:
        rows.append(("legit p99 with a random-key flood <= 2x without (ratio: "
                     f"{fmt(out['flood_legit_p99_ms_with'])} ms with, "
                     f"{fmt(out['flood_legit_p99_ms_without'])} ms without)",
                     out["flood_p99_ratio"], le(out["flood_p99_ratio"], 2)))
        rows.append(("a random-key flood answered 429 >= 90% (% of its requests)",
                     out["flood_429_pct"], ge(out["flood_429_pct"], 90)))
    print()
    for name, value, ok in rows:
        shown = value if isinstance(value, bool) else fmt(value)
        print(f"target {name}: {shown}: {'met' if ok else 'NOT met'}")
    print(f"webhook lag p50 / p99 (no target): {fmt(out['webhook_lag_p50_ms'])} / "
          f"{fmt(out['webhook_lag_p99_ms'])} ms")


def main(d, path):
    out = figures(d)
    with open(path, "w") as f:
        json.dump(out, f, indent=2)
        f.write("\n")
    shown = {k: v for k, v in out.items()
             if not k.startswith("cpu_budget_") and "cpu_cores" not in k
             and k != "flood_cpu_us_per_request"}
    print(json.dumps(shown, indent=2))
    print_cpu(out)
    print_flood(out)
    print_targets(out)
    print(f"written to {path}; where the database's time went in (b): "
          f"{os.path.join(os.path.dirname(path), 'statements.txt')}")


if __name__ == "__main__":
    if sys.argv[1] == "--flood-round":
        print_flood_round(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        main(sys.argv[1], sys.argv[2])
