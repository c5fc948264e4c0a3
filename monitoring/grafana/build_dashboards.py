# ruff: noqa: E501  (a table of PromQL queries reads better unbroken)
"""Writes the Grafana dashboards in dashboards/*.json: python monitoring/grafana/build_dashboards.py

The JSON files are what Grafana loads (provisioning/dashboards/mis-bridge.yml); this script is how
they are kept consistent. Edit a panel here, run it, commit both. Every query may use only
metrics the bridge exports (docs/operations.md, «Metrics»): tests/integration/test_prometheus_live.py
runs each query against a real Prometheus scraping a real bridge.

Queries use Grafana's $__rate_interval and $__range and the $instance variable (a regex).
A rare-event counter is written "… or vector(0)" so its panel shows 0, not "No data".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DATASOURCE = {"type": "prometheus", "uid": "mis-bridge-prometheus"}
INST = 'instance=~"$instance"'
R = "$__rate_interval"


def ratio_of(metric: str, bad: str, by: str, extra: str = "") -> str:
    """Share of ``bad`` samples by ``by``; 0 (not "No data") when nothing bad happened."""
    sel = f"{INST}{extra}"
    total = f"sum by ({by}) (rate({metric}{{{sel}}}[{R}]))"
    failed = f"sum by ({by}) (rate({metric}{{{sel},{bad}}}[{R}]))"
    return f"({failed} or {total} * 0) / {total}"


def ts(title: str, exprs: list[tuple[str, str]], unit: str = "short", description: str = "",
       stack: bool = False) -> dict[str, Any]:
    return {"type": "timeseries", "title": title, "description": description,
            "fieldConfig": {"defaults": {"unit": unit, "custom": {"stacking": {"mode": "normal" if stack else "none"}}},
                            "overrides": []},
            "options": {"legend": {"displayMode": "table", "placement": "bottom", "calcs": ["lastNotNull", "max"]}},
            "targets": [{"expr": e, "legendFormat": legend} for e, legend in exprs]}


def stat(title: str, expr: str, unit: str = "short", description: str = "",
         thresholds: list[tuple[float | None, str]] | None = None, legend: str = "") -> dict[str, Any]:
    steps = [{"value": v, "color": c} for v, c in (thresholds or [(None, "green")])]
    return {"type": "stat", "title": title, "description": description,
            "fieldConfig": {"defaults": {"unit": unit, "thresholds": {"mode": "absolute", "steps": steps}},
                            "overrides": []},
            "options": {"reduceOptions": {"calcs": ["lastNotNull"]}, "colorMode": "background"},
            "targets": [{"expr": expr, "legendFormat": legend, "instant": True}]}


def row(title: str) -> dict[str, Any]:
    return {"type": "row", "title": title, "collapsed": False, "panels": []}


def dashboard(uid: str, title: str, description: str, panels: list[dict[str, Any]]) -> dict[str, Any]:
    x = y = 0
    laid: list[dict[str, Any]] = []
    for panel_id, panel in enumerate(panels, start=1):
        if panel["type"] == "row":
            y, x = y + (8 if x else 0), 0
            panel["gridPos"] = {"x": 0, "y": y, "w": 24, "h": 1}
            y += 1
        else:
            w, h = (6, 4) if panel["type"] == "stat" else (12, 8)
            if x + w > 24:
                x, y = 0, y + 8
            panel["gridPos"] = {"x": x, "y": y, "w": w, "h": h}
            panel["datasource"] = DATASOURCE
            for ref, target in zip("ABCDEFGH", panel["targets"], strict=False):
                target["refId"] = ref
                target["datasource"] = DATASOURCE
            x += w
        panel["id"] = panel_id
        laid.append(panel)
    return {
        "uid": uid, "title": title, "description": description, "tags": ["mis-bridge"],
        "timezone": "browser", "schemaVersion": 39, "version": 1, "editable": True, "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"}, "graphTooltip": 1,
        "links": [{"title": "MIS Bridge", "type": "dashboards", "tags": ["mis-bridge"], "asDropdown": True}],
        "templating": {"list": [{
            "name": "instance", "label": "instance", "type": "query", "datasource": DATASOURCE,
            "query": {"query": "label_values(bridge_outbox_oldest_pending_age_seconds, instance)", "refId": "instance"},
            "definition": "label_values(bridge_outbox_oldest_pending_age_seconds, instance)",
            "includeAll": True, "multi": True, "allValue": ".*", "refresh": 2,
            "current": {"text": "All", "value": "$__all"},
        }]},
        "annotations": {"list": [{"name": "Alerts", "datasource": DATASOURCE, "enable": True,
                                  "expr": 'ALERTS{alertstate="firing", alertname!=""}', "iconColor": "red",
                                  "titleFormat": "{{alertname}}", "step": "60s"}]},
        "panels": laid,
    }


def upstream_panels(upstreams: str, label: str) -> list[dict[str, Any]]:
    u = f',upstream=~"{upstreams}"'
    return [
        row(f"{label}: calls from the bridge"),
        ts("Calls per second by endpoint and final status (after retries)",
           [(f"sum by (upstream, endpoint, status) (rate(bridge_upstream_requests_total{{{INST}{u}}}[{R}]))",
             "{{upstream}} {{endpoint}} {{status}}")], "reqps"),
        ts("Share of calls failing after retries",
           [(ratio_of("bridge_upstream_requests_total", 'status=~"5..|timeout|connect_error|tls_error|protocol_error|circuit_open"',
                      "upstream", u), "{{upstream}}")], "percentunit",
           "Alert UpstreamErrorRateHigh at 20% for 5 minutes."),
        ts("Single attempts by status (retries included)",
           [(f"sum by (upstream, status) (rate(bridge_upstream_attempts_total{{{INST}{u}}}[{R}]))",
             "{{upstream}} {{status}}")], "reqps",
           "connect_error: network/DNS/firewall; tls_error: TLS trust or client certificate (docs/operations.md); timeout: slow upstream; 5xx: upstream failing; 429: rate limited."),
        ts("Retries per second",
           [(f"sum by (upstream) (rate(bridge_upstream_attempts_total{{{INST}{u}}}[{R}]))"
             f" - sum by (upstream) (rate(bridge_upstream_requests_total{{{INST}{u}}}[{R}]))", "{{upstream}}")], "reqps"),
        ts("Latency p95 by endpoint (retries and back-off included)",
           [(f"histogram_quantile(0.95, sum by (le, upstream, endpoint) "
             f"(rate(bridge_upstream_request_duration_seconds_bucket{{{INST}{u}}}[{R}])))", "{{upstream}} {{endpoint}}")], "s"),
        ts("Circuit state (0 closed, 1 half-open, 2 open)",
           [(f"max by (upstream) (bridge_upstream_circuit_state{{{INST}{u}}})", "{{upstream}}")], "short",
           "Worst state across instances. Alert CircuitOpen after 2 minutes open."),
    ]


def soap_panels(services: str) -> list[dict[str, Any]]:
    s = f',service=~"{services}"'
    return [
        row("What the МИС calls"),
        ts("SOAP calls per second by operation and outcome",
           [(f"sum by (service, operation, outcome) (rate(bridge_soap_requests_total{{{INST}{s}}}[{R}]))",
             "{{operation}} {{outcome}}")], "reqps"),
        ts("SOAP latency p95 by operation",
           [(f"histogram_quantile(0.95, sum by (le, operation) (rate(bridge_soap_request_duration_seconds_bucket{{{INST}{s}}}[{R}])))",
             "{{operation}}")], "s"),
    ]


def overview() -> dict[str, Any]:
    return dashboard("mis-bridge-overview", "MIS Bridge / Overview",
                     "Traffic, errors and latency per SOAP service; the state of every upstream.", [
        stat("Instances reporting", f"count(bridge_outbox_oldest_pending_age_seconds{{{INST}}})",
             description="Bridge instances Prometheus scraped in the last 5 minutes."),
        stat("SOAP calls per second", f"sum(rate(bridge_soap_requests_total{{{INST}}}[{R}]))", "reqps"),
        stat("Open circuits", f'count(max by (upstream) (bridge_upstream_circuit_state{{{INST}}}) == 2) or vector(0)',
             thresholds=[(None, "green"), (1, "red")]),
        stat("Replies waiting for delivery", f'max(bridge_outbox_messages{{{INST},state="pending"}})',
             thresholds=[(None, "green"), (100, "orange"), (500, "red")]),
        row("SOAP services (the МИС's side)"),
        ts("Calls per second by service",
           [(f"sum by (service) (rate(bridge_soap_requests_total{{{INST}}}[{R}]))", "{{service}}")], "reqps"),
        ts("Calls per second by outcome",
           [(f"sum by (outcome) (rate(bridge_soap_requests_total{{{INST}}}[{R}]))", "{{outcome}}")], "reqps",
           "client_fault: the МИС sent what the contract refuses; server_fault: an upstream was down, or a bug."),
        ts("Fault share by service",
           [(ratio_of("bridge_soap_requests_total", 'outcome!="ok"', "service"), "{{service}}")], "percentunit"),
        ts("Latency p95 by service",
           [(f"histogram_quantile(0.95, sum by (le, service) (rate(bridge_soap_request_duration_seconds_bucket{{{INST}}}[{R}])))",
             "{{service}}")], "s"),
        ts("Calls per second by operation",
           [(f"sum by (service, operation) (rate(bridge_soap_requests_total{{{INST}}}[{R}]))",
             "{{service}}.{{operation}}")], "reqps"),
        ts("Latency p95 by operation",
           [(f"histogram_quantile(0.95, sum by (le, service, operation) "
             f"(rate(bridge_soap_request_duration_seconds_bucket{{{INST}}}[{R}])))", "{{service}}.{{operation}}")], "s"),
        row("Upstreams"),
        ts("Upstream calls failing after retries (share)",
           [(ratio_of("bridge_upstream_requests_total", 'status=~"5..|timeout|connect_error|tls_error|protocol_error|circuit_open"',
                      "upstream"), "{{upstream}}")], "percentunit"),
        ts("Upstream latency p95",
           [(f"histogram_quantile(0.95, sum by (le, upstream) (rate(bridge_upstream_request_duration_seconds_bucket{{{INST}}}[{R}])))",
             "{{upstream}}")], "s"),
        ts("Circuit state (0 closed, 1 half-open, 2 open)",
           [(f"max by (upstream) (bridge_upstream_circuit_state{{{INST}}})", "{{upstream}}")]),
        ts("Mapping errors per second",
           [(f"sum by (mapping, direction) (rate(bridge_mapping_errors_total{{{INST}}}[{R}])) or vector(0)",
             "{{mapping}} {{direction}}")], "short",
           "Values a mapping could not convert; to_mis rising means the upstream changed a format."),
    ])


def esia() -> dict[str, Any]:
    return dashboard("mis-bridge-esia", "MIS Bridge / ЕСИА", "Patient accounts and login through ЕСИА.", [
        stat("Our client certificate (esia-client) ends in",
             f'min(bridge_certificate_expiry_seconds{{{INST},certificate="esia-client"}})', "s",
             thresholds=[(None, "red"), (7 * 86400, "orange"), (30 * 86400, "green")]),
        stat("ЕСИА's certificates: the first ends in",
             f'min(bridge_certificate_expiry_seconds{{{INST},certificate=~"esia-[0-9]+"}})', "s",
             thresholds=[(None, "red"), (7 * 86400, "orange"), (30 * 86400, "green")]),
        stat("ЕСИА mapping errors in range",
             f'sum(increase(bridge_mapping_errors_total{{{INST},mapping=~"esia.*"}}[$__range])) or vector(0)'),
        *upstream_panels("esia|esia-oauth", "ЕСИА"),
        *soap_panels("esia-accounts|esia-login"),
    ])


def egisz() -> dict[str, Any]:
    job = 'job_name="egisz.intake"'
    return dashboard("mis-bridge-egisz", "MIS Bridge / ЕГИСЗ", "Attachment applications: intake, replies, the upstream.", [
        stat("Hours since the intake last succeeded",
             f"(time() - max(bridge_job_last_success_timestamp_seconds{{{INST},{job}}})) / 3600", "h",
             "Per instance memory: empty after a restart until the next run. Alert at 26 h.",
             [(None, "green"), (25, "orange"), (26, "red")]),
        stat("Unanswered over one working day", f'max(bridge_egisz_unanswered_applications{{{INST},age="over_1"}})',
             thresholds=[(None, "green"), (1, "orange")]),
        stat("Past the legal two working days", f'max(bridge_egisz_unanswered_applications{{{INST},age="over_2"}})',
             thresholds=[(None, "green"), (1, "red")]),
        stat("Replies refused by ЕГИСЗ in range",
             f'sum(increase(bridge_egisz_replies_total{{{INST},result="refused"}}[$__range])) or vector(0)',
             thresholds=[(None, "green"), (1, "orange")]),
        row("Intake job"),
        ts("Intake runs by trigger and outcome",
           [(f"sum by (trigger, outcome) (increase(bridge_job_runs_total{{{INST},{job}}}[$__range]))",
             "{{trigger}} {{outcome}}")], "short", stack=True),
        ts("Intake duration p95",
           [(f"histogram_quantile(0.95, sum by (le) (rate(bridge_job_duration_seconds_bucket{{{INST},{job}}}[$__range])))",
             "p95")], "s"),
        ts("Applications taken in, by type",
           [(f"sum by (type) (increase(bridge_egisz_applications_received_total{{{INST}}}[$__range]))", "{{type}}")],
           "short", stack=True),
        *upstream_panels("egisz", "ЕГИСЗ"),
        *soap_panels("egisz-attachments"),
    ])


def max_() -> dict[str, Any]:
    return dashboard("mis-bridge-max", "MIS Bridge / MAX and Сферум",
                     "The MAX bot: webhook, updates, and calls to MAX and Сферум (fed by adapters/tmk).", [
        stat("Webhook calls refused (bad secret) in range",
             f'sum(increase(bridge_max_webhook_requests_total{{{INST},outcome="bad_secret"}}[$__range])) or vector(0)',
             thresholds=[(None, "green"), (1, "orange")],
             description="Someone calls the webhook without MAX's secret: a misconfigured secret, or a probe."),
        stat("Updates failed in range",
             f'sum(increase(bridge_max_updates_total{{{INST},outcome="failed"}}[$__range])) or vector(0)',
             thresholds=[(None, "green"), (1, "orange")]),
        row("Webhook and updates"),
        ts("Webhook requests by outcome",
           [(f"sum by (outcome) (rate(bridge_max_webhook_requests_total{{{INST}}}[{R}]))", "{{outcome}}")], "reqps"),
        ts("Updates by type and outcome",
           [(f"sum by (update_type, outcome) (rate(bridge_max_updates_total{{{INST}}}[{R}]))",
             "{{update_type}} {{outcome}}")], "reqps"),
        ts("Consultation chats by platform and outcome",
           [(f"sum by (platform, outcome) (increase(bridge_tmk_consultation_chats_total{{{INST}}}[$__range]))",
             "{{platform}} {{outcome}}")]),
        ts("Notifications by kind and outcome",
           [(f"sum by (kind, outcome) (increase(bridge_tmk_notifications_total{{{INST}}}[$__range]))",
             "{{kind}} {{outcome}}")]),
        *upstream_panels("max|sferum", "MAX and Сферум"),
    ])


def mis() -> dict[str, Any]:
    return dashboard("mis-bridge-mis", "MIS Bridge / МИС (HubService)",
                     "Calls the bridge makes to the МИС's schedule service (HubService): the booking dialog's steps.", [
        stat("Bookings failed in range",
             f'sum(increase(bridge_tmk_bookings_total{{{INST},outcome="failed"}}[$__range])) or vector(0)',
             thresholds=[(None, "green"), (1, "orange")]),
        row("Booking dialog"),
        ts("Bookings by outcome",
           [(f"sum by (outcome) (increase(bridge_tmk_bookings_total{{{INST}}}[$__range]))", "{{outcome}}")], stack=True),
        ts("Dialog errors by step",
           [(f"sum by (step) (increase(bridge_tmk_dialog_errors_total{{{INST}}}[$__range]))", "{{step}}")],
           description="A step where the МИС or the patient's data stopped the dialog (goal, speciality, МО, "
                       "doctor, date, slot, booking, identity)."),
        *upstream_panels("hubservice", "МИС"),
    ])


def delivery() -> dict[str, Any]:
    return dashboard("mis-bridge-delivery", "MIS Bridge / Delivery", "The outbox: deliveries, retries, dead letters.", [
        stat("Pending", f'max(bridge_outbox_messages{{{INST},state="pending"}})',
             thresholds=[(None, "green"), (100, "orange"), (500, "red")]),
        stat("Oldest pending waits", f"max(bridge_outbox_oldest_pending_age_seconds{{{INST}}})", "s",
             thresholds=[(None, "green"), (600, "orange"), (3600, "red")]),
        stat("Dead letters", f'max(bridge_outbox_messages{{{INST},state="dead"}})',
             thresholds=[(None, "green"), (1, "red")],
             description="bridge outbox list --state dead; bridge outbox replay ID"),
        stat("Rejected by the upstream", f'max(bridge_outbox_messages{{{INST},state="rejected"}})',
             thresholds=[(None, "green"), (1, "orange")]),
        row("Outbox"),
        ts("Messages by state (from the store)",
           [(f"max by (state) (bridge_outbox_messages{{{INST}}})", "{{state}}")]),
        ts("Oldest pending message age",
           [(f"max(bridge_outbox_oldest_pending_age_seconds{{{INST}}})", "oldest")], "s"),
        ts("Delivery attempts by kind and outcome",
           [(f"sum by (kind, outcome) (rate(bridge_outbox_deliveries_total{{{INST}}}[{R}]))", "{{kind}} {{outcome}}")],
           "ops"),
        ts("Retries per second by kind",
           [(f'sum by (kind) (rate(bridge_outbox_deliveries_total{{{INST},outcome="retry"}}[{R}]))'
             f" or sum by (kind) (rate(bridge_outbox_deliveries_total{{{INST}}}[{R}])) * 0", "{{kind}}")], "ops"),
        ts("Delivery duration p95 by kind",
           [(f"histogram_quantile(0.95, sum by (le, kind) (rate(bridge_outbox_delivery_duration_seconds_bucket{{{INST}}}[{R}])))",
             "{{kind}}")], "s"),
        ts("Upstream retries per second (inside one delivery or call)",
           [(f"sum by (upstream) (rate(bridge_upstream_attempts_total{{{INST}}}[{R}]))"
             f" - sum by (upstream) (rate(bridge_upstream_requests_total{{{INST}}}[{R}]))", "{{upstream}}")], "ops"),
    ])


def business() -> dict[str, Any]:
    return dashboard("mis-bridge-business", "MIS Bridge / Business",
                     "Attachment applications and the legal term; telemedicine bookings and reminders.", [
        stat("Applications taken in (range)",
             f"sum(increase(bridge_egisz_applications_received_total{{{INST}}}[$__range]))"),
        stat("Unanswered over one working day", f'max(bridge_egisz_unanswered_applications{{{INST},age="over_1"}})',
             thresholds=[(None, "green"), (1, "orange")]),
        stat("Past the legal two working days", f'max(bridge_egisz_unanswered_applications{{{INST},age="over_2"}})',
             thresholds=[(None, "green"), (1, "red")],
             description="The МО has two working days by law; public holidays are not known to the bridge."),
        stat("Reminders overdue now", f"max(bridge_tmk_reminders_overdue{{{INST}}})",
             thresholds=[(None, "green"), (1, "red")]),
        row("Attachment applications (ЕГИСЗ)"),
        ts("Applications taken in, by type",
           [(f"sum by (type) (increase(bridge_egisz_applications_received_total{{{INST}}}[$__range]))", "{{type}}")],
           stack=True),
        ts("Replies by outcome (queued by the МИС)",
           [(f'sum by (outcome) (increase(bridge_egisz_replies_total{{{INST},result="queued"}}[$__range]))',
             "{{outcome}}")], stack=True),
        ts("Replies acknowledged and refused by ЕГИСЗ",
           [(f'sum by (result) (increase(bridge_egisz_replies_total{{{INST},result=~"acknowledged|refused"}}[$__range]))',
             "{{result}}")]),
        ts("Waiting for an answer (within and past the legal term)",
           [(f"max by (age) (bridge_egisz_unanswered_applications{{{INST}}})", "{{age}}")],
           description="over_1: past one working day (warning); over_2: past the legal two."),
        row("Telemedicine (MAX bot)"),
        ts("Bookings by outcome",
           [(f"sum by (outcome) (increase(bridge_tmk_bookings_total{{{INST}}}[$__range]))", "{{outcome}}")], stack=True),
        ts("Reminders by kind and outcome",
           [(f"sum by (kind, outcome) (increase(bridge_tmk_reminders_total{{{INST}}}[$__range]))", "{{kind}} {{outcome}}")]),
        ts("Reminder lateness p95 by kind",
           [(f"histogram_quantile(0.95, sum by (le, kind) (rate(bridge_tmk_reminder_lateness_seconds_bucket{{{INST}}}[$__range])))",
             "{{kind}}")], "s"),
        ts("Consultation chats by platform and outcome",
           [(f"sum by (platform, outcome) (increase(bridge_tmk_consultation_chats_total{{{INST}}}[$__range]))",
             "{{platform}} {{outcome}}")]),
    ])


DASHBOARDS = {"overview": overview, "esia": esia, "egisz": egisz, "max": max_, "mis": mis,
              "delivery": delivery, "business": business}


def main() -> None:
    for name, build in DASHBOARDS.items():
        text = json.dumps(build(), ensure_ascii=False, indent=2) + "\n"
        (HERE / "dashboards" / f"mis-bridge-{name}.json").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
