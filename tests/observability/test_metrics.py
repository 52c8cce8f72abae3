"""/metrics: HTTP metrics by route template (never raw ids), database-derived values, the
request id header, and the mail backlog in readiness. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from booking.db.models import AuditEvent, OutboxMail, Throttle
from booking.domain import audit
from booking.domain.availability import CONFIRMED, PENDING
from booking.lib.backup_status import record_success
from booking.lib.timeutil import utcnow
from tests import factories
from tests.conftest import auth


def samples(client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:  # type: ignore[no-untyped-def]
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    found = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found, name: str, **labels: str) -> float:  # type: ignore[no-untyped-def]
    return found[(name, tuple(sorted(labels.items())))]


def test_it_counts_requests_by_route_template_not_raw_path(client, ctx, bob, room):
    headers = auth(ctx, bob)
    booking = factories.make_booking(ctx, bob, [(room, 1)])
    for _ in range(2):
        assert client.get(f"/api/bookings/{booking.id}", headers=headers).status_code == 200
    missing = uuid.uuid4()
    assert client.get(f"/api/bookings/{missing}", headers=headers).status_code == 404
    # The predecessor's mixed-case API paths land on the same template.
    assert client.get(f"/API/Bookings/{booking.id}", headers=headers).status_code == 200
    assert client.get("/no/such/page/12345?token=abc").status_code == 404
    found = samples(client)
    route = "/api/bookings/{booking_id:uuid}"
    assert value(found, "booking_http_requests_total", method="GET", route=route, status="200") == 3
    assert value(found, "booking_http_requests_total", method="GET", route=route, status="404") == 1
    assert (
        value(found, "booking_http_requests_total", method="GET", route="unmatched", status="404")
        == 1
    )
    assert (
        value(found, "booking_http_request_duration_seconds_count", method="GET", route=route) == 4
    )
    assert (
        value(
            found,
            "booking_http_request_duration_seconds_bucket",
            method="GET",
            route=route,
            le="+Inf",
        )
        == 4
    )
    labels = " ".join(str(key) for key in found)
    assert str(booking.id) not in labels and str(missing) not in labels
    assert "12345" not in labels and "token" not in labels
    assert value(found, "booking_http_requests_in_flight") == 1  # this scrape
    assert not any(name.endswith("_created") for name, _ in found)


def test_it_reports_database_values(client, ctx, alice, bob, room, tmp_path: Path):
    factories.make_booking(ctx, bob, [(room, 1)], status=PENDING)
    factories.make_booking(
        ctx, bob, [(room, 1)], status=CONFIRMED, start=ctx.today() + timedelta(days=20)
    )
    factories.make_user(ctx, "waiting@example.com", approved=False)
    factories.make_user(ctx, "unverified@example.com", approved=False, verified=False)
    now = utcnow()
    with ctx.db.write() as session:
        for _ in range(3):
            audit.record(
                session,
                None,
                audit.LOGIN_FAILED,
                "bob@example.com",
                "192.0.2.1",
                {"reason": "invalid_credentials"},
            )
        session.add(
            Throttle(
                key="login:ip:192.0.2.1",
                failures=20,
                window_started_at=now,
                blocked_until=now + timedelta(minutes=5),
                updated_at=now,
            )
        )
        session.add(
            Throttle(
                key="login:account:bob@example.com",
                failures=5,
                window_started_at=now,
                blocked_until=now - timedelta(minutes=5),
                updated_at=now,
            )
        )
        session.add(
            OutboxMail(
                to_address="a@example.com",
                subject="s",
                body_text="b",
                created_at=now - timedelta(hours=2),
                send_after=now,
                attempts=2,
                last_error="refused",
            )
        )
        session.add(
            OutboxMail(
                to_address="b@example.com",
                subject="s",
                body_text="b",
                created_at=now - timedelta(minutes=1),
                send_after=now,
                attempts=0,
            )
        )
        session.add(
            OutboxMail(
                to_address="c@example.com",
                subject="s",
                body_text="b",
                created_at=now - timedelta(minutes=3),
                send_after=now,
                attempts=0,
                sent_at=now,
            )
        )
    record_success(ctx.settings.effective_backup_dir, tmp_path / "x.tar", "0" * 64, 1)
    found = samples(client)
    assert value(found, "booking_database_up") == 1
    assert value(found, "booking_bookings", status="pending") == 1
    assert value(found, "booking_bookings", status="confirmed") == 1
    assert value(found, "booking_bookings", status="rejected") == 0
    assert value(found, "booking_users_pending_approval") == 1
    assert value(found, "booking_login_failures_total") == 3
    assert value(found, "booking_throttle_blocked_keys", action="login", kind="ip") == 1
    assert value(found, "booking_throttle_blocked_keys", action="login", kind="account") == 0
    assert value(found, "booking_mail_outbox_pending") == 2
    assert value(found, "booking_mail_outbox_failing") == 1
    assert 7100 < value(found, "booking_mail_outbox_oldest_pending_seconds") < 7300
    assert value(found, "booking_mail_sent_last_hour") == 1
    backup = value(found, "booking_backup_last_success_timestamp_seconds")
    assert abs(backup - utcnow().timestamp()) < 60 or abs(backup - __import__("time").time()) < 60
    assert value(found, "booking_db_pool_size") >= 1
    assert value(found, "booking_db_pool_checked_out") >= 0
    assert ("process_resident_memory_bytes", ()) in found
    assert ("process_cpu_seconds_total", ()) in found
    with ctx.db.read() as session:
        assert session.query(AuditEvent).count() == 3


def test_it_names_the_build(client, monkeypatch):
    from booking import __version__, observability

    found = samples(client)
    assert value(found, "booking_build_info", version=__version__, commit="unknown") == 1
    monkeypatch.setenv("BOOKING_BUILD_COMMIT", "0123abc")
    assert observability.build_commit() == "0123abc"
    monkeypatch.setenv("BOOKING_BUILD_COMMIT", 'x"} evil{')
    assert observability.build_commit() == "unknown"


def test_it_sends_a_request_id_and_keeps_a_sane_one(client):
    first = client.get("/health").headers["x-request-id"]
    second = client.get("/health").headers["x-request-id"]
    assert first != second and len(first) == 32
    kept = client.get("/health", headers={"X-Request-ID": "nginx-0123456789abcdef"})
    assert kept.headers["x-request-id"] == "nginx-0123456789abcdef"
    for bad in ("short", "x" * 65, "a b c d e f g h", "id\"with'quotes"):
        replaced = client.get("/health", headers={"X-Request-ID": bad}).headers["x-request-id"]
        assert replaced != bad and len(replaced) == 32


def test_readiness_reports_a_mail_backlog_but_stays_ready(client, ctx):
    assert client.get("/health/ready").json()["status"] == "ready"
    now = utcnow()
    with ctx.db.write() as session:
        session.add(
            OutboxMail(
                to_address="a@example.com",
                subject="s",
                body_text="b",
                created_at=now - timedelta(hours=1),
                send_after=now,
                attempts=0,
            )
        )
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert response.json()["checks"]["mail"].startswith("backlog (1 pending, oldest 60 min")
    with ctx.db.write() as session:
        session.query(OutboxMail).update({"attempts": 3, "last_error": "smtp password wrong"})
    body = client.get("/health/ready").json()
    assert body["checks"]["mail"] == "failing (1 unsent after errors)"
    assert "password" not in str(body)


def test_liveness_does_not_touch_the_database(client, ctx):
    ctx.db.engine.dispose()
    checked_out = ctx.db.engine.pool.checkedout()
    assert client.get("/health").status_code == 200
    assert ctx.db.engine.pool.checkedout() == checked_out
