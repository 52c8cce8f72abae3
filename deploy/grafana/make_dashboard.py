"""Writes dashboards/booking.json (run after editing; the JSON is committed):

    python3 deploy/grafana/make_dashboard.py

tests/observability checks the result against Grafana's schema and every expression with
promtool."""

from __future__ import annotations

import json
from pathlib import Path

DS = {"type": "prometheus", "uid": "${datasource}"}
panels: list[dict] = []
_y = 0


def row(title: str) -> None:
    global _y
    panels.append(
        {
            "type": "row",
            "title": title,
            "collapsed": False,
            "id": len(panels) + 1,
            "gridPos": {"h": 1, "w": 24, "x": 0, "y": _y},
            "panels": [],
        }
    )
    _y += 1


def panel(
    title: str,
    exprs: list[tuple[str, str]],
    *,
    unit: str,
    x: int,
    w: int = 12,
    kind: str = "timeseries",
    h: int = 8,
    description: str = "",
) -> None:
    panels.append(
        {
            "type": kind,
            "title": title,
            "description": description,
            "id": len(panels) + 1,
            "datasource": DS,
            "gridPos": {"h": h, "w": w, "x": x, "y": _y},
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
            "options": {},
            "targets": [
                {"refId": chr(65 + i), "datasource": DS, "expr": expr, "legendFormat": legend}
                for i, (expr, legend) in enumerate(exprs)
            ],
        }
    )


def next_row(h: int = 8) -> None:
    global _y
    _y += h


row("Traffic and errors")
panel(
    "Requests per second by status",
    [("sum by (status) (rate(booking_http_requests_total[$__rate_interval]))", "{{status}}")],
    unit="reqps",
    x=0,
)
panel(
    "5xx ratio",
    [
        (
            'sum(rate(booking_http_requests_total{status=~"5.."}[$__rate_interval]))'
            " / sum(rate(booking_http_requests_total[$__rate_interval]))",
            "5xx",
        )
    ],
    unit="percentunit",
    x=12,
)
next_row()
panel(
    "Latency p50 / p95 / p99",
    [
        (
            f"histogram_quantile({q}, sum by (le) (rate(booking_http_request_duration_seconds_bucket"
            '{route!="/metrics"}[$__rate_interval])))',
            f"p{int(q * 100)}",
        )
        for q in (0.5, 0.95, 0.99)
    ],
    unit="s",
    x=0,
)
panel(
    "Slowest routes (p95)",
    [
        (
            "topk(5, histogram_quantile(0.95, sum by (le, route) "
            "(rate(booking_http_request_duration_seconds_bucket[$__rate_interval]))))",
            "{{route}}",
        )
    ],
    unit="s",
    x=12,
)
next_row()
panel(
    "Requests in flight",
    [("sum(booking_http_requests_in_flight)", "in flight")],
    unit="short",
    x=0,
    w=8,
)
panel(
    "Throttled (429) per second",
    [('sum(rate(booking_http_requests_total{status="429"}[$__rate_interval]))', "429")],
    unit="reqps",
    x=8,
    w=8,
)
panel("App up", [('sum(up{job="booking"})', "processes up")], unit="short", x=16, w=8, kind="stat")
next_row()

row("Memory and CPU per service")
panel(
    "App memory (RSS)",
    [('process_resident_memory_bytes{job="booking"}', "{{instance}}")],
    unit="bytes",
    x=0,
    w=8,
)
panel(
    "App CPU",
    [('rate(process_cpu_seconds_total{job="booking"}[$__rate_interval])', "{{instance}}")],
    unit="percentunit",
    x=8,
    w=8,
)
panel(
    "Prometheus memory",
    [('process_resident_memory_bytes{job="prometheus"}', "prometheus")],
    unit="bytes",
    x=16,
    w=8,
)
next_row()
panel(
    "Host memory used",
    [("1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes", "{{instance}}")],
    unit="percentunit",
    x=0,
    w=8,
)
panel(
    "Host CPU busy",
    [
        (
            '1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[$__rate_interval]))',
            "{{instance}}",
        )
    ],
    unit="percentunit",
    x=8,
    w=8,
)
panel(
    "Disk free",
    [
        (
            'node_filesystem_avail_bytes{fstype!~"tmpfs|ramfs|overlay|squashfs|nsfs"}'
            ' / node_filesystem_size_bytes{fstype!~"tmpfs|ramfs|overlay|squashfs|nsfs"}',
            "{{mountpoint}}",
        )
    ],
    unit="percentunit",
    x=16,
    w=8,
)
next_row()
panel(
    "Database pool",
    [("max(booking_db_pool_checked_out)", "in use"), ("max(booking_db_pool_size)", "pool size")],
    unit="short",
    x=0,
    w=8,
)
panel("nginx connections", [("nginx_connections_active", "active")], unit="short", x=8, w=8)
panel(
    "TLS certificate expires in",
    [("min(probe_ssl_earliest_cert_expiry) - time()", "expiry")],
    unit="s",
    x=16,
    w=8,
    kind="stat",
)
next_row()

row("Bookings, logins and mail")
panel(
    "Bookings by status",
    [("max by (status) (booking_bookings)", "{{status}}")],
    unit="short",
    x=0,
    w=8,
)
panel(
    "Users waiting for approval",
    [("max(booking_users_pending_approval)", "pending")],
    unit="short",
    x=8,
    w=8,
    kind="stat",
)
panel(
    "Last good backup",
    [("time() - max(booking_backup_last_success_timestamp_seconds)", "age")],
    unit="s",
    x=16,
    w=8,
    kind="stat",
)
next_row()
panel(
    "Failed logins per minute",
    [("max(rate(booking_login_failures_total[$__rate_interval])) * 60", "failed logins")],
    unit="short",
    x=0,
    w=8,
)
panel(
    "Logins (200) per minute",
    [
        (
            'sum(rate(booking_http_requests_total{route=~"/api/auth/login|/login",status=~"2..|3.."}'
            "[$__rate_interval])) * 60",
            "logins",
        )
    ],
    unit="short",
    x=8,
    w=8,
)
panel(
    "Blocked throttle keys",
    [("max by (action, kind) (booking_throttle_blocked_keys)", "{{action}} {{kind}}")],
    unit="short",
    x=16,
    w=8,
)
next_row()
panel(
    "Mail outbox",
    [
        ("max(booking_mail_outbox_pending)", "pending"),
        ("max(booking_mail_outbox_failing)", "failing"),
    ],
    unit="short",
    x=0,
    w=12,
)
panel(
    "Oldest unsent mail",
    [("max(booking_mail_outbox_oldest_pending_seconds)", "age")],
    unit="s",
    x=12,
    w=12,
)

dashboard = {
    "title": "Booking",
    "uid": "booking-overview",
    "description": "Traffic, latency, errors, memory and CPU, bookings, logins and mail "
    "(docs/observability.md).",
    "tags": ["booking"],
    "schemaVersion": 39,
    "version": 1,
    "editable": True,
    "graphTooltip": 1,
    "time": {"from": "now-6h", "to": "now"},
    "refresh": "1m",
    "timezone": "browser",
    "templating": {
        "list": [
            {
                "name": "datasource",
                "type": "datasource",
                "query": "prometheus",
                "label": "Prometheus",
                "hide": 0,
            }
        ]
    },
    "annotations": {"list": []},
    "links": [],
    "panels": panels,
}
out = Path(__file__).parent / "dashboards" / "booking.json"
out.write_text(json.dumps(dashboard, indent=2) + "\n", encoding="utf-8")
