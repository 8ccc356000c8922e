"""GET /metrics on the server and the worker (src/metrics): a Pipeline of
this test's own makes payments; both endpoints pass `promtool check metrics`
and their payment counters went up by exactly the payments made. Then a real
Prometheus (Debian's, on a free port, its storage under FINSYS_TEST_TMP, its
configuration made from deploy/prometheus/prometheus.yml with this test's
ports) scrapes both: every target is up, and finsys_payments_created_total
went up by the payments made."""

import http.client
import json
import os
import re
import subprocess
import time
import urllib.parse
import urllib.error
import urllib.request
import uuid

from harness import TEST_TMP, Proc, free_port, funded_account, new_account
from test_settle_pipeline import Pipeline, _wait_final

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROMETHEUS_YML = os.path.join(ROOT, "deploy", "prometheus", "prometheus.yml")
PAYMENTS = 7
AMOUNT = 125


def _scrape(port):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("GET", "/metrics")
    r = c.getresponse()
    text = r.read().decode()
    c.close()
    assert r.status == 200, (r.status, text[:500])
    assert r.getheader("Content-Type", "").startswith("text/plain; version=0.0.4"), \
        r.getheader("Content-Type")
    return text


def _value(text, series):
    """A sample's value; 0 when the series is not there (yet)."""
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split(" ")[1])
    return 0.0


def _promtool(text):
    r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]


def _bounded_labels(text):
    """Route templates and names, never raw paths or ids."""
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        assert not re.search(r'"[^"]*(pay|acct|req|re)_[0-9A-Za-z]{24}', line), line
        m = re.search(r'route="([^"]*)"', line)
        if m:
            assert m.group(1) == "other" or m.group(1).startswith("/"), line


def _prom(port, path, **params):
    url = f"http://127.0.0.1:{port}{path}?" + urllib.parse.urlencode(params)
    with urllib.request.urlopen(url, timeout=10) as r:
        body = json.loads(r.read())
    assert body["status"] == "success", body
    return body["data"]


def _prom_sum(port, query):
    result = _prom(port, "/api/v1/query", query=query)["result"]
    return float(result[0]["value"][1]) if result else 0.0


def _start_prometheus(server_port, worker_port):
    """Prometheus with deploy/prometheus/prometheus.yml, this test's targets
    and a 1 s interval (the file's is 5 s)."""
    with open(PROMETHEUS_YML, encoding="utf-8") as f:
        cfg = f.read()
    assert "127.0.0.1:8080" in cfg and "127.0.0.1:8081" in cfg, cfg
    cfg = cfg.replace("127.0.0.1:8080", f"127.0.0.1:{server_port}")
    cfg = cfg.replace("127.0.0.1:8081", f"127.0.0.1:{worker_port}")
    cfg = cfg.replace("interval: 5s", "interval: 1s")
    # The rules stay the repository's (a missing file loads no rules).
    cfg = re.sub(r"^(\s*-\s*)alerts\.yml\s*$",
                 lambda m: m.group(1) + os.path.join(os.path.dirname(PROMETHEUS_YML),
                                                     "alerts.yml"), cfg, flags=re.M)
    d = os.path.join(TEST_TMP, f"prometheus-{uuid.uuid4().hex[:8]}")
    os.makedirs(d)
    path = os.path.join(d, "prometheus.yml")
    with open(path, "w", encoding="utf-8") as f:
        f.write(cfg)
    port = free_port()
    p = Proc("prometheus", ["prometheus", f"--config.file={path}",
                            f"--storage.tsdb.path={os.path.join(d, 'data')}",
                            f"--web.listen-address=127.0.0.1:{port}"], port=port)
    p.port = port
    return p


def test_metrics_count_payments_and_pass_promtool_and_prometheus():
    pl = Pipeline()
    prom = None
    try:
        worker_port = pl.workers[0].port
        server0, worker0 = _scrape(pl.http_port), _scrape(worker_port)
        prom = _start_prometheus(pl.http_port, worker_port)
        deadline = time.monotonic() + 60
        while True:
            try:
                targets = _prom(prom.port, "/api/v1/targets")["activeTargets"]
            except urllib.error.HTTPError as e:
                # 503 until its storage is open and the rules are loaded.
                assert e.code == 503 and time.monotonic() < deadline, (e, prom.text()[-2000:])
                time.sleep(0.2)
                continue
            jobs = {t["labels"]["job"]: t["health"] for t in targets}
            if jobs == {"finsys-server": "up", "finsys-worker": "up"}:
                break
            assert time.monotonic() < deadline, (targets, prom.text()[-2000:])
            time.sleep(0.2)
        created0 = _prom_sum(prom.port, 'sum(finsys_payments_created_total{job="finsys-server"})')

        a = funded_account(10_000)
        b = new_account("USD")
        ids = [pl.pay(a, b, AMOUNT) for _ in range(PAYMENTS)]
        assert set(_wait_final(ids).values()) == {"succeeded"}
        # The worker counts a payment once its settlement is committed,
        # just after the status the test reads: wait for the count.
        deadline = time.monotonic() + 30
        while True:
            server1, worker1 = _scrape(pl.http_port), _scrape(worker_port)
            s = 'finsys_payments_succeeded_total{currency="USD"}'
            if _value(worker1, s) - _value(worker0, s) >= PAYMENTS:
                break
            assert time.monotonic() < deadline, worker1
            time.sleep(0.1)

        def diff(before, after, series):
            return _value(after, series) - _value(before, series)

        assert diff(server0, server1, 'finsys_payments_created_total{currency="USD"}') == PAYMENTS
        assert diff(server0, server1, 'finsys_payments_amount_minor_units_total'
                    '{currency="USD",status="created"}') == PAYMENTS * AMOUNT
        assert diff(worker0, worker1, 'finsys_payments_succeeded_total{currency="USD"}') \
            == PAYMENTS
        assert diff(worker0, worker1, 'finsys_payments_amount_minor_units_total'
                    '{currency="USD",status="succeeded"}') == PAYMENTS * AMOUNT
        assert diff(worker0, worker1, 'finsys_payments_failed_total{currency="USD"}') == 0
        assert diff(server0, server1, 'finsys_http_requests_total'
                    '{route="/v1/payments",method="POST",status_class="2xx"}') == PAYMENTS
        assert diff(worker0, worker1, 'finsys_provider_requests_total{outcome="approved"}') \
            == PAYMENTS
        assert diff(server0, server1, "finsys_queue_published_total") >= PAYMENTS
        assert diff(worker0, worker1, "finsys_queue_consumed_total") >= PAYMENTS
        assert _value(server1, "finsys_store_batch_items_count") > 0
        assert _value(server1, 'finsys_readiness{dependency="database"}') == 1
        assert _value(server1, 'finsys_readiness{dependency="nats"}') == 1
        assert _value(worker1, 'finsys_readiness{dependency="nats"}') == 1
        assert _value(worker1, "finsys_breaker_state") == 0
        assert _value(server1, "process_resident_memory_bytes") > 0
        assert _value(worker1, "process_open_fds") > 0
        for text in (server1, worker1):
            _promtool(text)
            _bounded_labels(text)
            assert "finsys_build_info{" in text

        # Prometheus saw the same payments.
        query = 'sum(finsys_payments_created_total{job="finsys-server"})'
        deadline = time.monotonic() + 60
        while _prom_sum(prom.port, query) - created0 != PAYMENTS:
            assert time.monotonic() < deadline, (_prom_sum(prom.port, query), created0)
            time.sleep(0.5)
        up = _prom(prom.port, "/api/v1/query", query="up")["result"]
        assert {r["metric"]["job"]: r["value"][1] for r in up} \
            == {"finsys-server": "1", "finsys-worker": "1"}, up
    finally:
        if prom is not None:
            prom.stop()
        assert pl.stop()


def test_metrics_need_no_key_and_only_get():
    pl = Pipeline()
    try:
        c = http.client.HTTPConnection("127.0.0.1", pl.http_port, timeout=30)
        c.request("POST", "/metrics", body="{}")
        r = c.getresponse()
        r.read()
        assert r.status == 405 and r.getheader("Allow") == "GET", r.status
        c.close()
        # An unknown path is counted under "other", not under its own name.
        c = http.client.HTTPConnection("127.0.0.1", pl.http_port, timeout=30)
        c.request("GET", "/no/such/path/pay_" + "0" * 24)
        c.getresponse().read()
        c.close()
        # (Counted when the answer is done, on the loop that served it: a
        # scrape on another loop may come first; seen once in CI.)
        deadline = time.monotonic() + 5
        while True:
            text = _scrape(pl.http_port)
            if 'finsys_http_requests_total{route="other",method="GET",status_class="4xx"}' in text:
                break
            assert time.monotonic() < deadline, [x for x in text.splitlines()
                                                 if x.startswith("finsys_http_requests_total")]
            time.sleep(0.1)
        _bounded_labels(text)
        text = _scrape(pl.workers[0].port)
        assert "finsys_breaker_state 0" in text
    finally:
        assert pl.stop()


def test_created_and_canceled_count_once_not_replays():
    """The main server (its payments stay pending: no worker listens to its
    broker): a payment and its cancel count once each; the replays of both
    (the same Idempotency-Keys) do not count again."""
    from harness import URL, pay, post

    port = int(URL.rsplit(":", 1)[1])
    before = _scrape(port)
    a = funded_account(1_000)
    b = new_account("USD")
    idem = str(uuid.uuid4())
    r = pay(a, b, 300, idem=idem)
    assert r.status == 201, r
    assert pay(a, b, 300, idem=idem).status == 201  # a replay
    cancel_idem = str(uuid.uuid4())
    for _ in range(2):
        c = post(f"/v1/payments/{r.json['id']}/cancel", idem=cancel_idem)
        assert c.status == 200 and c.json["status"] == "canceled", c
    after = _scrape(port)
    s = 'finsys_payments_created_total{currency="USD"}'
    assert _value(after, s) - _value(before, s) == 1
    s = 'finsys_payments_canceled_total{currency="USD"}'
    assert _value(after, s) - _value(before, s) == 1
    s = 'finsys_payments_amount_minor_units_total{currency="USD",status="created"}'
    assert _value(after, s) - _value(before, s) == 300
    _promtool(after)


def test_admin_cancel_counts_once_not_replays():
    """An admin's cancel (POST /admin/api/payments/{id}/cancel) counts in
    finsys_payments_canceled_total as a /v1 cancel does; its replay (the
    same Idempotency-Key) does not count again."""
    from harness import URL, pay
    from test_admin_auth import logged_in

    port = int(URL.rsplit(":", 1)[1])
    support = logged_in("support")
    p = pay(funded_account(1_000), new_account("USD"), 300)
    assert p.status == 201, p
    before = _scrape(port)
    h = {"Idempotency-Key": str(uuid.uuid4())}
    for replayed in (False, True):
        st, hd, js = support.call("POST", f"/admin/api/payments/{p.json['id']}/cancel",
                                  {"reason": "customer asked"}, headers=h)
        assert st == 200 and js["status"] == "canceled", js
        assert (hd.get("idempotent-replayed") == "true") == replayed, hd
    after = _scrape(port)
    s = 'finsys_payments_canceled_total{currency="USD"}'
    assert _value(after, s) - _value(before, s) == 1, after[-3000:]


def test_admin_requests_counted_by_the_admin_routes_template():
    """The main server: /admin/api requests are counted in
    finsys_http_requests_total and its duration under the admin table's
    template (src/admin), never the raw path; a path the table does not have
    under "other"."""
    from harness import URL, get, new_api_key

    port = int(URL.rsplit(":", 1)[1])
    admin_key = new_api_key("test-metrics-admin", admin=True)
    before = _scrape(port)
    assert get("/admin/api/tenants", key=admin_key).status == 200
    acct = new_account("USD")
    assert get(f"/admin/api/accounts/{acct}/journal", key=admin_key).status == 200
    assert get("/admin/api/session", key=None).status == 401
    assert get("/admin/api/no/such/route", key=admin_key).status == 404
    after = _scrape(port)
    for series, n in (
            ('{route="/admin/api/tenants",method="GET",status_class="2xx"}', 1),
            ('{route="/admin/api/accounts/{id}/journal",method="GET",status_class="2xx"}', 1),
            ('{route="/admin/api/session",method="GET",status_class="4xx"}', 1),
            ('{route="other",method="GET",status_class="4xx"}', 1)):
        s = "finsys_http_requests_total" + series
        assert _value(after, s) - _value(before, s) == n, (s, after[-3000:])
    s = 'finsys_http_request_duration_seconds_count{route="/admin/api/tenants"}'
    assert _value(after, s) - _value(before, s) == 1, s
    assert acct not in after
    _bounded_labels(after)
    _promtool(after)
