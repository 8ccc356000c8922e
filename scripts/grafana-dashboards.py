#!/usr/bin/env python3
"""Writes the Grafana dashboards deploy/grafana/dashboards/*.json from the
panels described here (standard library only). Edit this file, run
`python3 scripts/grafana-dashboards.py`, commit both; the integration test
tests/integration/test_dashboards.py fails when the JSON is out of date.

The dashboards target Grafana 10 or later (schemaVersion 38) and name their
data source by uid (DATASOURCE_UID, provisioned by
deploy/grafana/provisioning/datasources/prometheus.yml). Panel types are
only timeseries, stat and gauge. Metric names are the issue 6 contract."""

import json
import os
import sys

DATASOURCE_UID = "finsys-prometheus"
DATASOURCE = {"type": "prometheus", "uid": DATASOURCE_UID}
SCHEMA_VERSION = 38
OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "deploy", "grafana",
                       "dashboards")


def q(expr, legend=""):
    return (expr, legend)


def panel(kind, title, queries, w=8, h=8, unit="short", description="", mappings=None,
          thresholds=None, stack=False, minimum=None, maximum=None, decimals=None):
    """One panel; gridPos and ids are set by dashboard()."""
    defaults = {"unit": unit}
    if mappings:
        defaults["mappings"] = mappings
    if thresholds:
        defaults["thresholds"] = {"mode": "absolute",
                                  "steps": [{"color": c, "value": v} for v, c in thresholds]}
    if minimum is not None:
        defaults["min"] = minimum
    if maximum is not None:
        defaults["max"] = maximum
    if decimals is not None:
        defaults["decimals"] = decimals
    if kind == "timeseries":
        defaults["custom"] = {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10,
                              "showPoints": "never",
                              "stacking": {"mode": "normal" if stack else "none", "group": "A"}}
    p = {"type": kind, "title": title, "description": description, "datasource": DATASOURCE,
         "fieldConfig": {"defaults": defaults, "overrides": []},
         "targets": [{"refId": chr(ord("A") + i), "datasource": DATASOURCE, "expr": e,
                      "legendFormat": legend, "range": True, "instant": False}
                     for i, (e, legend) in enumerate(queries)],
         "_w": w, "_h": h}
    if kind == "timeseries":
        p["options"] = {"legend": {"displayMode": "list", "placement": "bottom",
                                   "showLegend": True},
                        "tooltip": {"mode": "multi", "sort": "desc"}}
    elif kind == "stat":
        p["options"] = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "",
                                          "values": False},
                        "colorMode": "value", "graphMode": "area", "justifyMode": "auto",
                        "orientation": "auto", "textMode": "auto"}
    elif kind == "gauge":
        p["options"] = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "",
                                          "values": False},
                        "showThresholdLabels": False, "showThresholdMarkers": True}
    return p


def dashboard(uid, title, description, panels):
    """Lays the panels out left to right, 24 columns a row, ids from 1."""
    x = y = row_h = 0
    out = []
    for i, p in enumerate(panels, start=1):
        w, h = p.pop("_w"), p.pop("_h")
        if x + w > 24:
            x, y, row_h = 0, y + row_h, 0
        p["id"] = i
        p["gridPos"] = {"x": x, "y": y, "w": w, "h": h}
        x += w
        row_h = max(row_h, h)
        out.append(p)
    return {"uid": uid, "title": title, "description": description, "tags": ["finsys"],
            "schemaVersion": SCHEMA_VERSION, "version": 1, "editable": True,
            "timezone": "browser", "graphTooltip": 1, "refresh": "30s",
            "time": {"from": "now-6h", "to": "now"}, "timepicker": {},
            "templating": {"list": []}, "annotations": {"list": []}, "links": [],
            "panels": out}


def p99(metric, by=""):
    group = f"le, {by}" if by else "le"
    return f"histogram_quantile(0.99, sum by ({group}) (rate({metric}_bucket[5m])))"


def p50(metric, by=""):
    group = f"le, {by}" if by else "le"
    return f"histogram_quantile(0.5, sum by ({group}) (rate({metric}_bucket[5m])))"


BREAKER_MAPPINGS = [{"type": "value", "options": {
    "0": {"text": "closed", "color": "green", "index": 0},
    "1": {"text": "half-open", "color": "orange", "index": 1},
    "2": {"text": "open", "color": "red", "index": 2}}}]
READY_MAPPINGS = [{"type": "value", "options": {
    "0": {"text": "not ready", "color": "red", "index": 0},
    "1": {"text": "ready", "color": "green", "index": 1}}}]
ERROR_RATIO = ('sum(rate(finsys_http_requests_total{status_class="5xx"}[5m]))'
               ' / sum(rate(finsys_http_requests_total[5m]))')


def overview():
    return dashboard("finsys-overview", "FinSys overview",
                     "Traffic, errors, latency and money moved.", [
        panel("stat", "Requests / s", [q("sum(rate(finsys_http_requests_total[5m]))")],
              w=4, h=5, unit="reqps"),
        panel("stat", "5xx ratio", [q(ERROR_RATIO)], w=4, h=5, unit="percentunit",
              thresholds=[(None, "green"), (0.01, "orange"), (0.05, "red")],
              description="Alert FinsysHighErrorRatio fires above 5% for 5 minutes."),
        panel("stat", "p99 latency",
              [q(p99("finsys_http_request_duration_seconds"))], w=4, h=5, unit="s",
              thresholds=[(None, "green"), (0.2, "orange"), (0.5, "red")],
              description="Alert FinsysHighLatencyP99 fires above 500ms for 10 minutes."),
        panel("stat", "Readiness",
              [q("min by (dependency) (finsys_readiness)", "{{dependency}}")], w=6, h=5,
              mappings=READY_MAPPINGS, thresholds=[(None, "red"), (1, "green")]),
        panel("stat", "Version",
              [q("count by (version, commit) (finsys_build_info)", "{{version}} {{commit}}")],
              w=6, h=5, description="Processes running each build."),
        panel("timeseries", "Requests by route and status class",
              [q("sum by (route, status_class) (rate(finsys_http_requests_total[5m]))",
                 "{{route}} {{status_class}}")], w=12, unit="reqps"),
        panel("timeseries", "5xx ratio", [q(ERROR_RATIO, "5xx")], w=12, unit="percentunit"),
        panel("timeseries", "Latency by route (p50, p99)",
              [q(p50("finsys_http_request_duration_seconds", "route"), "p50 {{route}}"),
               q(p99("finsys_http_request_duration_seconds", "route"), "p99 {{route}}")],
              w=12, unit="s"),
        panel("timeseries", "Rate-limited requests (429)",
              [q("sum(rate(finsys_ratelimit_limited_total[5m]))", "limited")], w=12,
              unit="reqps"),
        panel("timeseries", "Payments by outcome",
              [q("sum by (currency) (rate(finsys_payments_created_total[5m]))",
                 "created {{currency}}"),
               q("sum by (currency) (rate(finsys_payments_succeeded_total[5m]))",
                 "succeeded {{currency}}"),
               q("sum by (currency) (rate(finsys_payments_failed_total[5m]))",
                 "failed {{currency}}"),
               q("sum by (currency) (rate(finsys_payments_canceled_total[5m]))",
                 "canceled {{currency}}")], w=12, unit="ops"),
        panel("timeseries", "Money moved (minor units / s)",
              [q("sum by (currency, status) "
                 "(rate(finsys_payments_amount_minor_units_total[5m]))",
                 "{{status}} {{currency}}")], w=12, unit="short",
              description="Minor units of each currency (cents for USD); never summed "
                          "across currencies."),
        panel("stat", "Money succeeded in range (minor units)",
              [q('sum by (currency) (increase(finsys_payments_amount_minor_units_total'
                 '{status="succeeded"}[$__range]))', "{{currency}}")], w=12, h=5,
              decimals=0),
        panel("stat", "Payments created in range",
              [q("sum by (currency) (increase(finsys_payments_created_total[$__range]))",
                 "{{currency}}")], w=12, h=5, decimals=0),
        panel("timeseries", "Risk decisions",
              [q("sum by (decision) (rate(finsys_risk_decisions_total[5m]))", "{{decision}}")],
              w=12, unit="ops", stack=True,
              description="New payments' risk decisions (docs/risk.md); payments of tenants "
                          "without rules have none. Alerts FinsysRiskBlockSpike and "
                          "FinsysRiskReviewSpike fire when blocks or reviews over 5 minutes "
                          "are 3 times the hour before's, at 0.05/s or more."),
        panel("timeseries", "Risk rules: top 10 by matches",
              [q("topk(10, sum by (rule, action, mode) "
                 "(rate(finsys_risk_rule_matches_total[5m])))",
                 "{{rule}} {{action}} {{mode}}")], w=12, unit="ops",
              description="The rules that match the most payments, shadow rules included "
                          "(mode shadow: counted, changes nothing). Rule ids past the "
                          "server's FS_METRICS_RISK_RULES_MAX count as rule \"other\"."),
        panel("timeseries", "Resident memory",
              [q("process_resident_memory_bytes", "{{job}} {{instance}}")], w=8,
              unit="bytes"),
        panel("timeseries", "CPU",
              [q("rate(process_cpu_seconds_total[5m])", "{{job}} {{instance}}")], w=8,
              unit="percentunit"),
        panel("timeseries", "Open file descriptors",
              [q("process_open_fds", "{{job}} {{instance}}")], w=8),
        panel("stat", "Uptime",
              [q("time() - process_start_time_seconds", "{{job}} {{instance}}")], w=24, h=4,
              unit="s"),
    ])


def pipeline():
    return dashboard("finsys-pipeline", "FinSys payment pipeline",
                     "Queue, consumer lag, workers, store and dead letters.", [
        panel("stat", "Dead letters in range",
              [q("sum by (queue) (increase(finsys_queue_dead_letters_total[$__range]))",
                 "{{queue}}")], w=6, h=5, decimals=0,
              thresholds=[(None, "green"), (1, "red")],
              description="Alert FinsysDeadLettersPresent fires on any new dead letter."),
        panel("gauge", "Consumer lag",
              [q("max by (consumer) (finsys_queue_consumer_pending_messages)",
                 "{{consumer}}")], w=6, h=5, minimum=0, maximum=1000,
              thresholds=[(None, "green"), (100, "orange"), (500, "red")]),
        panel("stat", "Publish failures / s",
              [q("sum(rate(finsys_queue_publish_failed_total[5m]))")], w=6, h=5,
              unit="ops", thresholds=[(None, "green"), (0.001, "red")]),
        panel("stat", "Store connections in use",
              [q("sum(finsys_store_connections_in_use)")], w=6, h=5),
        panel("timeseries", "Queue throughput",
              [q("sum(rate(finsys_queue_published_total[5m]))", "published"),
               q("sum(rate(finsys_queue_consumed_total[5m]))", "consumed"),
               q("sum(rate(finsys_queue_publish_failed_total[5m]))", "publish failed")],
              w=12, unit="ops"),
        panel("timeseries", "Consumer lag (pending messages)",
              [q("max by (consumer) (finsys_queue_consumer_pending_messages)",
                 "{{consumer}}")], w=12,
              description="Alert FinsysQueueLagGrowing fires when over 100 and growing "
                          "for 10 minutes."),
        panel("timeseries", "Settlement outcomes",
              [q("sum by (currency) (rate(finsys_payments_succeeded_total[5m]))",
                 "succeeded {{currency}}"),
               q("sum by (currency) (rate(finsys_payments_failed_total[5m]))",
                 "failed {{currency}}"),
               q("sum by (currency) (rate(finsys_payments_canceled_total[5m]))",
                 "canceled {{currency}}")], w=12, unit="ops", stack=True),
        panel("timeseries", "Dead letters",
              [q("sum by (queue) (increase(finsys_queue_dead_letters_total[5m]))",
                 "{{queue}}")], w=12),
        panel("timeseries", "Webhook deliveries by outcome",
              [q("sum by (outcome) (rate(finsys_webhook_deliveries_total[5m]))",
                 "{{outcome}}")], w=12, unit="ops", stack=True),
        panel("timeseries", "Store commit duration (p50, p99)",
              [q(p50("finsys_store_commit_duration_seconds"), "p50"),
               q(p99("finsys_store_commit_duration_seconds"), "p99")], w=12, unit="s"),
        panel("timeseries", "Store batch size (items per transaction)",
              [q("sum(rate(finsys_store_batch_items_sum[5m])) / "
                 "sum(rate(finsys_store_batch_items_count[5m]))", "mean"),
               q(p99("finsys_store_batch_items"), "p99")], w=12),
        panel("timeseries", "Store connections in use",
              [q("finsys_store_connections_in_use", "{{job}} {{instance}}")], w=12),
    ])


def provider():
    return dashboard("finsys-provider", "FinSys payment provider",
                     "Provider latency, outcomes and the circuit breaker.", [
        panel("stat", "Circuit breaker",
              [q("max by (instance) (finsys_breaker_state)", "{{instance}}")], w=8, h=5,
              mappings=BREAKER_MAPPINGS,
              thresholds=[(None, "green"), (1, "orange"), (2, "red")],
              description="Alert FinsysCircuitBreakerOpen fires when open for a minute."),
        panel("stat", "Provider p99",
              [q(p99("finsys_provider_request_duration_seconds"))], w=8, h=5, unit="s"),
        panel("gauge", "Provider error ratio",
              [q('sum(rate(finsys_provider_requests_total{outcome=~"error|timeout|refused"}'
                 '[5m])) / sum(rate(finsys_provider_requests_total[5m]))')], w=8, h=5,
              unit="percentunit", minimum=0, maximum=1,
              thresholds=[(None, "green"), (0.05, "orange"), (0.2, "red")],
              description="Errors, timeouts and breaker refusals over all provider calls "
                          "(declines are answers, not errors)."),
        panel("timeseries", "Provider latency (p50, p99)",
              [q(p50("finsys_provider_request_duration_seconds"), "p50"),
               q(p99("finsys_provider_request_duration_seconds"), "p99")], w=12, unit="s"),
        panel("timeseries", "Provider requests by outcome",
              [q("sum by (outcome) (rate(finsys_provider_requests_total[5m]))",
                 "{{outcome}}")], w=12, unit="ops", stack=True),
        panel("timeseries", "Circuit breaker state",
              [q("max by (instance) (finsys_breaker_state)", "{{instance}}")], w=12,
              mappings=BREAKER_MAPPINGS, minimum=0, maximum=2),
        panel("timeseries", "Circuit breaker transitions",
              [q("sum by (to) (increase(finsys_breaker_transitions_total[5m]))", "to {{to}}")],
              w=12),
    ])


DASHBOARDS = {"overview.json": overview, "pipeline.json": pipeline, "provider.json": provider}


def render():
    """{file name: JSON text} of every dashboard."""
    return {name: json.dumps(fn(), indent=2) + "\n" for name, fn in DASHBOARDS.items()}


def main():
    for name, text in render().items():
        with open(os.path.join(OUT_DIR, name), "w") as f:
            f.write(text)
        print(f"wrote deploy/grafana/dashboards/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
