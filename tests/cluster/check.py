#!/usr/bin/env python3
"""make test-cluster's payments, through the cluster's HAProxy.

check.py smoke VAR N     N payments with Idempotency-Keys, each seen final;
                         the same key again answers the same payment
check.py faults VAR      payments under load: first one server drained
                         through HAProxy's admin socket, stopped and started
                         again (an upgrade's step: no answer but 201 allowed),
                         then one server, one worker, one NATS node and the
                         PostgreSQL primary killed (kill -9) one after
                         another, and the killed PostgreSQL node started
                         again until it streams as the synchronous standby;
                         then every 201 is there and final, the provider
                         charged each payment at most once and agrees with
                         FinSys

VAR is the cluster's directory (scripts/cluster.sh: ready, ports.env,
*.pid). Both end by comparing FinSys with the provider's record. Prints what
it measured; exits 1 on a failure."""
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid

MODE, VAR = sys.argv[1], sys.argv[2]
READY = dict(line.split("=", 1) for line in open(os.path.join(VAR, "ready")).read().split())
PORTS = dict(line.strip().split("=", 1) for line in open(os.path.join(VAR, "ports.env")))
URL, KEY = READY["url"], READY["key"]
PROVIDER = f"http://127.0.0.1:{PORTS['P_PROVIDER']}"
FINAL = ("succeeded", "failed", "canceled")
# The killed PostgreSQL node must stream again within this many seconds of
# its Patroni's start (measured 5-7 s with pg_rewind; a base backup from
# scratch would take longer and is a failure here).
REJOIN_MAX_S = 45


def request(method, url, body=None, idem=None, timeout=30):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Authorization", "Bearer " + KEY)
    if data is not None:
        req.add_header("Content-Type", "application/json")
        req.add_header("Idempotency-Key", idem or str(uuid.uuid4()))
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        try:
            return e.code, json.loads(e.read() or b"null")
        except ValueError:
            return e.code, None
    except (OSError, ValueError) as e:  # refused, reset, timed out
        return 0, str(e)


def api(method, path, body=None, idem=None):
    return request(method, URL + path, body, idem)


def ok(cond, what):
    if not cond:
        print("FAIL:", what, flush=True)
        sys.exit(1)


def accounts():
    st, src = api("POST", "/v1/accounts", {"currency": "USD", "name": "cluster-src"})
    ok(st == 201, f"account: {st} {src}")
    st, dst = api("POST", "/v1/accounts", {"currency": "USD", "name": "cluster-dst"})
    ok(st == 201, f"account: {st} {dst}")
    st, dep = api("POST", f"/v1/accounts/{src['id']}/deposits", {"amount": 10 ** 10})
    ok(st == 201, f"deposit: {st} {dep}")
    return src["id"], dst["id"]


def pay(src, dst, amount, key, deadline_s=90):
    """A client that retries with the same key until it gets its 201:
    returns (payment, answers that were not 201 before it)."""
    others = []
    end = time.monotonic() + deadline_s
    while True:
        st, p = api("POST", "/v1/payments", {"from_account": src, "to_account": dst,
                                             "amount": amount, "currency": "USD"}, idem=key)
        if st in (200, 201):
            return p, others
        code = p.get("error", {}).get("code") if isinstance(p, dict) else None
        others.append((time.monotonic(), f"{st} {code}" if code else st))
        ok(time.monotonic() < end, f"payment {key}: no 201 in {deadline_s} s: {others[-5:]}")
        time.sleep(0.2)


def wait_final(ids, seconds):
    status = {}
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for pid in ids:
            if status.get(pid) in FINAL:
                continue
            st, p = api("GET", f"/v1/payments/{pid}")
            if st == 200:
                status[pid] = p["status"]
        if len(status) == len(ids) and all(s in FINAL for s in status.values()):
            break
        time.sleep(0.3)
    return status


def provider_charges():
    """payment_id -> [status of each charge] from today's settlement report
    (and yesterday's, around midnight)."""
    out = {}
    for day in {time.strftime("%Y-%m-%d", time.gmtime(t)) for t in (time.time() - 600, time.time())}:
        after = ""
        while True:
            st, page = request("GET", f"{PROVIDER}/reports/settlements?date={day}&limit=1000"
                               + (f"&after={after}" if after else ""))
            ok(st == 200, f"provider report: {st} {page}")
            for line in page["data"]:
                if line["type"] == "charge":
                    out.setdefault(line["payment_id"], []).append(line["status"])
            if not page.get("has_more"):
                break
            after = page["next_after"]
    return out


def compare(status):
    counts = {}
    for s in status.values():
        counts[s] = counts.get(s, 0) + 1
    ok(all(s in FINAL for s in status.values()), f"not all final: {counts}")
    charges = provider_charges()
    twice = {p: c for p, c in charges.items() if p in status and len(c) > 1}
    ok(not twice, f"charged more than once at the provider: {list(twice.items())[:5]}")
    want = {"succeeded": "approved", "failed": "declined"}
    differ = [(p, s, charges.get(p)) for p, s in status.items()
              if s in want and charges.get(p, [None])[0] != want[s]]
    ok(not differ, f"FinSys and the provider differ: {differ[:5]}")
    print(f"final: {counts}; the provider charged each at most once and agrees", flush=True)


def smoke(n):
    src, dst = accounts()
    ids = []
    t0 = time.monotonic()
    first_key = None
    for i in range(n):
        key = f"cluster-smoke-{uuid.uuid4()}"
        first_key = first_key or key
        p, others = pay(src, dst, 100 + i, key, deadline_s=10)
        ok(not others, f"payment {i}: answers before the 201: {others}")
        ids.append(p["id"])
    st, again = api("POST", "/v1/payments", {"from_account": src, "to_account": dst,
                                             "amount": 100, "currency": "USD"}, idem=first_key)
    ok(st in (200, 201) and again["id"] == ids[0], f"replay: {st} {again}")
    status = wait_final(ids, 120)
    print(f"{n} payments through HAProxy, final {time.monotonic() - t0:.1f} s after the first",
          flush=True)
    ok(len(status) == n, f"payments missing: {len(status)} of {n}")
    compare(status)
    reads_on_replica()
    prometheus_scrapes_every_target()


def prometheus_scrapes_every_target(wait_s=30):
    """Prometheus (when installed) scrapes every process that has metrics:
    the servers, the workers, Patroni, etcd, HAProxy and Redis (through its
    exporter, when installed): each target up within wait_s."""
    if "P_PROMETHEUS" not in PORTS or not os.path.exists(os.path.join(VAR, "prometheus.pid")):
        print("Prometheus: not installed, not checked", flush=True)
        return
    want = {"finsys-server": 2, "finsys-worker": 2, "patroni": 2, "etcd": 1, "haproxy": 1}
    if os.path.exists(os.path.join(VAR, "redis-exporter.pid")):
        want["redis"] = 1
    deadline = time.monotonic() + wait_s
    while True:
        url = f"http://127.0.0.1:{PORTS['P_PROMETHEUS']}/api/v1/targets?state=active"
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                targets = json.loads(r.read())["data"]["activeTargets"]
        except (OSError, ValueError):
            targets = []
        up = {}
        for t in targets:
            if t["health"] == "up":
                job = t["labels"]["job"]
                up[job] = up.get(job, 0) + 1
        if up == want:
            break
        ok(time.monotonic() < deadline, f"Prometheus targets up {up}, want {want}: "
           + "; ".join(f"{t['labels']['job']} {t['health']} {t.get('lastError', '')}"
                       for t in targets if t["health"] != "up"))
        time.sleep(1)
    print(f"Prometheus: every target up ({', '.join(f'{j} {n}' for j, n in sorted(up.items()))})",
          flush=True)


def reads_on_replica(n=10):
    """Lists of a tenant whose last write is older than the staleness bound
    (1 s) run on the Patroni replica (FINSYS_DATABASE_READ_URL,
    docs/operations.md "Reads on the replica"): the servers' counts."""
    def on_replica():
        total = 0
        for name in ("P_SERVER1", "P_SERVER2"):
            with urllib.request.urlopen(f"http://127.0.0.1:{PORTS[name]}/metrics") as r:
                for line in r.read().decode().splitlines():
                    if line.startswith('finsys_reads_total{to="replica",'):
                        total += int(line.rsplit(" ", 1)[1])
        return total
    time.sleep(1.2)
    before = on_replica()
    for _ in range(n):
        st, page = api("GET", "/v1/payments?limit=10")
        ok(st == 200 and len(page["data"]) == 10, f"list: {st} {page}")
    served = on_replica() - before
    print(f"{served} of {n} lists read the replica", flush=True)
    ok(served > 0, "no list read the replica")


def pid_of(name):
    with open(os.path.join(VAR, name + ".pid")) as f:
        return int(f.read().strip())


def kill9(pid):
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def nats_stream_leader():
    for n in (1, 2, 3):
        st, d = request("GET", f"http://127.0.0.1:{PORTS[f'P_NATSMON{n}']}/jsz?accounts=true"
                        "&streams=true", timeout=2)
        if st != 200:
            continue
        for a in d.get("account_details", []):
            for s in a.get("stream_detail", []):
                if s["name"] == "FS_PAYMENTS" or s["name"].endswith("PAYMENTS"):
                    return s.get("cluster", {}).get("leader")
    return None


def pg_primary():
    for n in (1, 2):
        st, _ = request("GET", f"http://127.0.0.1:{PORTS[f'P_PATRONI{n}']}/primary", timeout=1)
        if st == 200:
            return n
    return None


def haproxy(cmd):
    """One command on HAProxy's admin socket; its answer."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(5)
        s.connect(os.path.join(VAR, "haproxy.sock"))
        s.sendall(cmd.encode() + b"\n")
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return out.decode()
            out += chunk


def haproxy_server(name):
    """The backend finsys's row for server NAME in `show stat`, as a dict."""
    lines = haproxy("show stat").splitlines()
    head = lines[0].lstrip("# ").split(",")
    for line in lines[1:]:
        row = dict(zip(head, line.split(",")))
        if row.get("pxname") == "finsys" and row.get("svname") == name:
            return row
    return {}


def cluster_cmd(*args):
    r = subprocess.run(["bash", "scripts/cluster.sh", *args], check=True, capture_output=True,
                       timeout=60,
                       text=True, env=dict(os.environ, FINSYS_CLUSTER_DIR=VAR))
    return r.stdout.strip()


def wait_for(cond, seconds, step=0.2):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(step)
    return False


def drain_and_restart(n, errors, lock, mark):
    """An upgrade's step for server N: drained through HAProxy (no new
    request goes to it), its requests done, stopped with SIGTERM, started
    again, put back: the clients must see nothing but 201s."""
    name = f"s{n}"
    with lock:
        before = len(errors)
    t0 = time.monotonic()
    mark(f"drain server {n} (HAProxy admin socket: set server finsys/{name} state drain)")
    # As the runbook does it (docs/operations.md, "Upgrading with zero
    # downtime"); HAProxy answers nothing when it is done.
    out = cluster_cmd("haproxy", f"set server finsys/{name} state drain")
    ok(out == "", f"set server ... state drain: {out}")
    ok(haproxy_server(name).get("status") == "DRAIN", f"{name} not in drain: {haproxy_server(name)}")
    ok(wait_for(lambda: haproxy_server(name).get("scur") == "0", 10),
       f"{name} still has sessions after 10 s of drain")
    sessions = haproxy_server(name)["stot"]
    pid = pid_of(f"server{n}")
    os.kill(pid, signal.SIGTERM)
    ok(wait_for(lambda: not os.path.exists(f"/proc/{pid}"), 15), f"server {n} did not stop")
    mark(f"server {n} stopped (SIGTERM) after its drain; starting it again")
    cluster_cmd("server", str(n))
    port = PORTS[f"P_SERVER{n}"]
    ok(wait_for(lambda: request("GET", f"http://127.0.0.1:{port}/readyz", timeout=1)[0] == 200,
                30), f"server {n} not ready after its restart")
    out = cluster_cmd("haproxy", f"set server finsys/{name} state ready")
    ok(out == "", f"set server ... state ready: {out}")
    ok(wait_for(lambda: haproxy_server(name).get("status") == "UP", 10),
       f"{name} not UP after ready: {haproxy_server(name)}")
    ok(wait_for(lambda: int(haproxy_server(name).get("stot", 0)) > int(sessions), 10),
       f"{name} gets no requests after ready")
    with lock:
        during = errors[before:]
    mark(f"server {n} back in HAProxy after {time.monotonic() - t0:.1f} s; answers other "
         f"than 201 meanwhile: {len(during)}")
    ok(not during, f"answers other than 201 while server {n} was drained: {during[:5]}")


def pg_rejoined(node):
    """Whether NODE streams from the primary as its synchronous standby
    (Patroni's /patroni on the primary: pg_stat_replication)."""
    p = pg_primary()
    if p is None or p == node:
        return False
    st, d = request("GET", f"http://127.0.0.1:{PORTS[f'P_PATRONI{p}']}/patroni", timeout=2)
    if st != 200 or not isinstance(d, dict):
        return False
    return any(r.get("application_name") == f"pg{node}" and r.get("state") == "streaming"
               and r.get("sync_state") == "sync" for r in d.get("replication", []))


def faults():
    src, dst = accounts()
    lock = threading.Lock()
    made = []        # (payment id, key)
    errors = []      # (time, status) of every answer other than 201
    stop = threading.Event()

    def client(c):
        i = 0
        while not stop.is_set():
            i += 1
            key = f"cluster-fault-{c}-{i}-{uuid.uuid4()}"
            p, others = pay(src, dst, 100 + i % 900, key)
            with lock:
                made.append((p["id"], key))
                errors.extend(others)

    threads = [threading.Thread(target=client, args=(c,), daemon=True) for c in range(4)]
    t_start = time.monotonic()
    for t in threads:
        t.start()
    events = []

    def mark(what):
        events.append((time.monotonic(), what))
        print(f"{time.monotonic() - t_start:6.1f} s  {what}", flush=True)

    def first_write_after(t0, seconds=60):
        """Seconds from t0 until a new payment gets its 201 at once."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            st, _ = api("POST", "/v1/payments", {"from_account": src, "to_account": dst,
                                                 "amount": 1, "currency": "USD"},
                        idem=f"probe-{uuid.uuid4()}")
            if st == 201:
                return time.monotonic() - t0
            time.sleep(0.1)
        return None

    time.sleep(3)
    drain_and_restart(1, errors, lock, mark)
    time.sleep(2)
    mark("kill -9 server 1")
    kill9(pid_of("server1"))
    time.sleep(5)
    mark("kill -9 worker 1")
    kill9(pid_of("worker1"))
    time.sleep(5)
    leader = nats_stream_leader() or "n1"
    n = int(leader[1:])
    mark(f"kill -9 NATS node {n} (the payments stream's leader)")
    t0 = time.monotonic()
    kill9(pid_of(f"nats{n}"))
    while nats_stream_leader() in (None, leader) and time.monotonic() - t0 < 60:
        time.sleep(0.2)
    mark(f"NATS: new stream leader {nats_stream_leader()} after {time.monotonic() - t0:.1f} s")
    time.sleep(5)
    p = pg_primary()
    ok(p is not None, "no PostgreSQL primary before the fault")
    home = open(os.path.join(VAR, "pg-home")).read().strip() if os.path.exists(
        os.path.join(VAR, "pg-home")) else VAR
    postmaster = int(open(os.path.join(home, f"pg{p}", "data", "postmaster.pid")).readline())
    mark(f"kill -9 PostgreSQL primary: patroni and postgres of node {p}")
    t0 = time.monotonic()
    kill9(pid_of(f"patroni{p}"))
    kill9(postmaster)
    while pg_primary() in (None, p) and time.monotonic() - t0 < 90:
        time.sleep(0.2)
    promoted = time.monotonic() - t0
    mark(f"PostgreSQL: node {pg_primary()} primary after {promoted:.1f} s")
    writes = first_write_after(t0)
    mark(f"a new payment got its 201 {writes:.1f} s after the kill" if writes else
         "no 201 within 60 s after the promotion")
    # The killed node back, under load: Patroni rewinds it (pg_rewind) if
    # it must and it streams again as the synchronous standby, so that a
    # second failover is possible.
    mark(f"start node {p}'s Patroni again (cluster.sh patroni {p})")
    t0 = time.monotonic()
    cluster_cmd("patroni", str(p))
    ok(wait_for(lambda: pg_rejoined(p), REJOIN_MAX_S, 0.5),
       f"node {p} does not stream as the synchronous standby {REJOIN_MAX_S} s after its start")
    log = open(os.path.join(VAR, f"patroni{p}.log"), errors="replace").read()
    how = "through pg_rewind" if "running pg_rewind" in log or "pg_rewind: Done" in log \
        else "without pg_rewind"
    mark(f"PostgreSQL: node {p} streams again as the synchronous standby "
         f"{time.monotonic() - t0:.1f} s after its start ({how})")
    time.sleep(2)
    stop.set()
    for t in threads:
        t.join(120)
    dur = time.monotonic() - t_start
    ids = [pid for pid, _ in made]
    print(f"{len(ids)} payments in {dur:.0f} s ({len(ids) / dur:.0f}/s with 4 clients); "
          f"{len(errors)} answers other than 201, retried with the same key", flush=True)
    # The answers other than 201, by the fault they followed.
    for i, (t, what) in enumerate(events):
        t_next = events[i + 1][0] if i + 1 < len(events) else float("inf")
        during = [s for (te, s) in errors if t <= te < t_next]
        if during:
            codes = {}
            for s in during:
                codes[s] = codes.get(s, 0) + 1
            print(f"  after '{what}': {codes}", flush=True)
    status = wait_final(ids, 180)
    ok(len(status) == len(ids), f"201s missing: {len(ids) - len(status)} of {len(ids)}")
    compare(status)
    # One payment per key: the retries made no second one.
    ok(len(set(ids)) == len(ids), "a payment id answered twice for two keys")


if MODE == "smoke":
    smoke(int(sys.argv[3]) if len(sys.argv) > 3 else 40)
elif MODE == "faults":
    faults()
else:
    sys.exit("usage: check.py smoke|faults VAR [N]")
