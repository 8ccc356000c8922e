"""One payment through every step of the design's data flow, in one pipeline
of this test's own (server, nats-server, provider-sim, a worker with its
notifier, indexer and receipt maker): created, settled, then a receipt (JSON
and HTML), a signed webhook checked by the code of docs/webhooks.md, its
events in GET /v1/events, a search hit; then refunded in full, with the
refund's webhook, the payment shown refunded in search, and the ledger
consistent."""

import json
import time
import urllib.parse

from harness import check_ledger
from test_settle_pipeline import Pipeline
from test_webhooks import Receiver, _api, _endpoint, _funded_pair, _stop, _tenant_key


def _until(what, fn, seconds=30):
    deadline = time.monotonic() + seconds
    while True:
        v = fn()
        if v:
            return v
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_a_payment_from_creation_to_refund():
    pl = Pipeline()
    receiver = None
    try:
        key = _tenant_key()
        a, b = _funded_pair(pl, key, 10_000)
        receiver = Receiver()
        e = _endpoint(pl, key, receiver.url, ["*"])
        receiver.secret = e["secret"]
        marker = f"lifecycle{time.monotonic_ns()}"
        status, p = _api(pl, key, "POST", "/v1/payments",
                         {"from_account": a, "to_account": b, "amount": 1234, "currency": "USD",
                          "description": f"Order {marker}",
                          "metadata": {"reference": f"REF-{marker}"}})
        assert status == 201, p

        # Settled, and delivered: payment.created then payment.succeeded,
        # each signed, in the payer's sequence.
        # Deliveries run concurrently and may arrive in any order: the
        # sequence numbers are what orders them for a receiver.
        got = receiver.wait(2)
        events = sorted((json.loads(body) for _, _, body, _ in got), key=lambda x: x["sequence"])
        assert all(ok for _, _, _, ok in got), got
        assert [x["type"] for x in events] == ["payment.created", "payment.succeeded"], events
        assert [x["sequence"] for x in events] == [1, 2], events

        # The same events in the log.
        status, listed = _api(pl, key, "GET", f"/v1/events?account={a}")
        assert status == 200, listed
        assert [x["id"] for x in reversed(listed["data"])] == [x["id"] for x in events], listed

        # A receipt, as JSON and as a printable page.
        def receipt(accept):
            headers = {"Authorization": "Bearer " + key, "Accept": accept}
            import http.client
            c = http.client.HTTPConnection("127.0.0.1", pl.http_port, timeout=30)
            c.request("GET", f"/v1/payments/{p['id']}/receipt", headers=headers)
            r = c.getresponse()
            out = (r.status, r.getheader("Content-Type"), r.read().decode())
            c.close()
            return out if out[0] == 200 else None
        status, ctype, body = _until("the receipt", lambda: receipt("application/json"))
        doc = json.loads(body)
        assert ctype.startswith("application/json"), ctype
        assert doc["payment"] == p["id"] and doc["amount"] == 1234, doc
        assert doc["amount_formatted"] == "12.34 USD", doc
        status, ctype, html = receipt("text/html")
        assert ctype.startswith("text/html") and doc["number"] in html and "12.34" in html, html

        # Found by search: full text on the description, trigram on the reference.
        def search(**params):
            q = urllib.parse.urlencode(params)
            status, out = _api(pl, key, "GET", f"/v1/payments/search?{q}")
            assert status == 200, out
            return [x["id"] for x in out["data"]]
        assert _until("the search hit", lambda: search(q=marker)) == [p["id"]]
        assert search(q=f"REF-{marker}"[:-2], status="succeeded") == [p["id"]]

        # Refunded in full: refund.created and refund.succeeded delivered,
        # the payment refunded everywhere, the money back with the payer.
        status, rf = _api(pl, key, "POST", f"/v1/payments/{p['id']}/refunds", {})
        assert status == 201 and rf["amount"] == 1234, rf
        got = receiver.wait(4)
        types = [x["type"] for x in sorted((json.loads(body) for _, _, body, _ in got),
                                           key=lambda x: x["sequence"])]
        assert types[2:] == ["refund.created", "refund.succeeded"], types
        assert all(ok for _, _, _, ok in got), got
        _, paid = _api(pl, key, "GET", f"/v1/payments/{p['id']}")
        assert paid["status"] == "refunded" and paid["amount_refunded"] == 1234, paid
        assert _until("the refund in search",
                      lambda: search(q=marker, status="refunded")) == [p["id"]]
        _, acct = _api(pl, key, "GET", f"/v1/accounts/{a}")
        assert acct["balance"]["available"] == 10_000, acct
        check_ledger()
    finally:
        if receiver is not None:
            receiver.stop()
        _stop(pl)
