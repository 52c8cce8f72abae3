"""Schemathesis against the app's own OpenAPI document (``/api/openapi.json``): every operation,
as an anonymous caller, as a member and as an administrator (bearer tokens from the real login),
with schema-valid and schema-violating inputs. No answer may be a server error, and every answer
must be documented: its status, its content type and its body's JSON Schema
(booking/api/openapi.json).

In-process (ASGI) rather than a live server: the same app object and database the test built,
no port, no process start, and a crash shows its traceback here. The app code path is the same
(the middlewares, handlers and domain run unchanged); only uvicorn's HTTP parsing is skipped,
which is not what the document describes anyway. Hypothesis shrinking is off: a failure is
reported as found, which keeps a failing run short.

Hypothesis is derandomised and the examples per operation are bounded, so the run is repeatable
and its case count can be quoted: each test prints it (even without ``-s``) and records it as
the ``schemathesis_cases`` property (junit XML).
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.testclient import TestClient

from booking.app import create_app
from booking.domain.context import Context
from tests import factories
from tests.factories import PASSWORD

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Examples per operation and generation mode: 45 operations x 3 callers x (8 + 6) keeps the whole
# file around two minutes on a busy two-core machine.
EXAMPLES = {GenerationMode.POSITIVE: 8, GenerationMode.NEGATIVE: 6}
# Operations that change who the callers are run last, so the others see working tokens longer.
LAST = ("/api/admin/users/{user_id}", "/api/auth/change-password", "/api/auth/profile")


@pytest.fixture
def app(ctx: Context) -> Iterator[Any]:
    application = create_app(ctx.settings, ctx)
    with TestClient(application):  # runs the lifespan like a server would
        yield application


def _login(app: Any, email: str) -> dict[str, str]:
    with TestClient(app) as client:
        response = client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def _document(app: Any) -> dict[str, Any]:
    """The document as the app serves it (booking/api/docs.py)."""
    with TestClient(app) as client:
        response = client.get("/api/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def _operations(schema: Any) -> list[Any]:
    operations = [result.ok() for result in schema.get_all_operations()]
    return sorted(operations, key=lambda op: op.path.startswith(LAST))


def _fuzz(
    operation: Any,
    mode: GenerationMode,
    headers: dict[str, str],
    statuses: Counter[int],
    path_parameters: dict[str, Any] | None = None,
) -> int:
    """Run one operation's examples; return how many cases were sent."""
    sent = 0
    strategy = operation.as_strategy(generation_mode=mode, path_parameters=path_parameters)

    @given(case=strategy)
    @settings(
        max_examples=EXAMPLES[mode],
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: the first failure is reported
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        nonlocal sent
        sent += 1
        response = case.call_and_validate(headers=headers, checks=CHECKS)
        statuses[response.status_code] += 1

    try:
        run()
    except Unsatisfiable:  # nothing to violate: an operation without parameters or body
        assert mode is GenerationMode.NEGATIVE
    return sent


def test_every_operation_documents_its_answers(app):
    """The fuzzing below is only as strict as the document: each operation names its success
    body (or none) and the error shapes, and no 422 (validation errors are 400 problems)."""
    document = _document(app)
    undocumented = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            success = [code for code in responses if code.startswith("2")]
            if "422" in responses or len(success) != 1:
                undocumented.append(f"{method.upper()} {path}: {sorted(responses)}")
                continue
            content = responses[success[0]].get("content", {})
            if success[0] != "204" and content.get("application/json", {}).get("schema") in (
                None,
                {},
            ):
                undocumented.append(f"{method.upper()} {path}: no success schema")
            if "400" not in responses or "404" not in responses:
                undocumented.append(f"{method.upper()} {path}: error shapes missing")
    assert undocumented == []


@pytest.mark.parametrize("caller", ["anonymous", "member", "admin"])
def test_no_server_errors_and_every_answer_matches_the_document(
    app, ctx, caller, record_property, capsys
):
    factories.make_user(ctx, "admin-fuzz@example.com", admin=True)
    member = factories.make_user(ctx, "member-fuzz@example.com")
    place = factories.make_place(ctx, "Fuzz-Zimmer", capacity=4)
    booking = factories.make_booking(ctx, member, [(place, 1)])
    pending = factories.make_user(ctx, "pending-fuzz@example.com", approved=False)
    # Random ids mostly meet a 404; a second pass sends fuzzed bodies to real objects.
    real_ids = {"booking_id": str(booking.id), "place_id": str(place.id), "user_id": pending.id}
    headers = {
        "anonymous": {},
        "member": lambda: _login(app, "member-fuzz@example.com"),
        "admin": lambda: _login(app, "admin-fuzz@example.com"),
    }[caller]
    headers = headers() if callable(headers) else headers
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app)
    operations = _operations(schema)
    assert len(operations) >= 40
    cases, statuses = 0, Counter[int]()
    for operation in operations:
        for mode in EXAMPLES:
            cases += _fuzz(operation, mode, headers, statuses)
        names = {parameter.name for parameter in operation.path_parameters}
        if names and names <= set(real_ids):
            ids = {name: real_ids[name] for name in names}
            cases += _fuzz(operation, GenerationMode.POSITIVE, headers, statuses, ids)
    record_property("schemathesis_cases", cases)
    with capsys.disabled():
        sys.stdout.write(
            f"\nschemathesis ({caller}): {len(operations)} operations, {cases} cases, "
            f"statuses {dict(sorted(statuses.items()))}\n"
        )
    assert statuses[200] + statuses[201] + statuses[204] > 0  # some requests got through


def test_out_of_range_ids_are_client_errors(app, ctx):
    """Hypothesis rarely draws a huge integer; a database overflow (SQLite refuses integers
    beyond 64 bits) was a 500 here. Every integer path or body id of the document gets one."""
    factories.make_user(ctx, "admin-ids@example.com", admin=True)
    headers = _login(app, "admin-ids@example.com")
    huge = 2**70
    document = _document(app)
    sent = []
    with TestClient(app, raise_server_exceptions=False) as client:
        for path, operations in document["paths"].items():
            for method, operation in operations.items():
                names = [
                    p["name"]
                    for p in operation.get("parameters", [])
                    if p["in"] == "path" and p.get("schema", {}).get("type") == "integer"
                ]
                body_ref = (
                    operation.get("requestBody", {})
                    .get("content", {})
                    .get("application/json", {})
                    .get("schema", {})
                    .get("$ref", "")
                )
                model = document["components"]["schemas"].get(body_ref.rsplit("/", 1)[-1], {})
                id_fields = [
                    name
                    for name, schema in model.get("properties", {}).items()
                    if name.endswith("Id") and schema.get("type") == "integer"
                ]
                if not names and not id_fields:
                    continue
                url = path
                for name in names:
                    url = url.replace(f"{{{name}}}", str(huge))
                body = dict.fromkeys(id_fields, huge) if model else None
                response = client.request(method.upper(), url, headers=headers, json=body)
                sent.append(f"{method.upper()} {path}")
                assert response.status_code < 500, (method, path, response.text[:300])
    assert len(sent) >= 6, sent
