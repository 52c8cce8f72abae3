"""booking/http.py on its own: a real Starlette app with a few routes, through the test client."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from datetime import date
from typing import Annotated, Any

import pytest
from anyio import to_thread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.testclient import TestClient

from booking.http import Depends, Path, Query, RequestValidationError, Router, exception_handler
from booking.lib.schema import BeforeValidator

calls: Counter[str] = Counter()
threads: dict[str, int] = {}


class ModelError(ValueError):
    """The model layer's contract: a ValueError with pydantic's ``errors()``."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("invalid")
        self._errors = errors

    def errors(self) -> list[dict[str, Any]]:
        return self._errors


class PairIn:
    def __init__(self, a: int) -> None:
        self.a = a

    @classmethod
    def model_validate(cls, data: Any) -> PairIn:
        if not isinstance(data, dict):
            raise ModelError([{"type": "model_type", "loc": (), "msg": "object", "input": data}])
        if not isinstance(data.get("a"), int):
            raise ModelError([{"type": "int_type", "loc": ("a",), "msg": "int", "input": data}])
        return cls(data["a"])


def _before(value: Any) -> Any:
    """Like WireDate's validator: keeps the date part of a datetime string."""
    return value.partition("T")[0] if isinstance(value, str) else value


def counted() -> str:
    calls["counted"] += 1
    threads["dependency"] = threading.get_ident()
    return "value"


def uses_counted(value: Annotated[str, Depends(counted)], response: Response) -> str:
    response.set_cookie("from_dependency", "1")
    return value + "!"


async def async_dependency(request: Request) -> str:
    threads["async"] = threading.get_ident()
    return request.url.path


def refuses() -> None:
    raise PermissionError("dependencies ran")


router = Router(prefix="/t")


@router.get("/query")
def query(
    text: Annotated[str | None, Query(alias="textValue", max_length=5)] = None,
    number: Annotated[int, Query(ge=1, le=10)] = 3,
    flag: bool = False,
    id: uuid.UUID | None = None,
    day: Annotated[date | None, BeforeValidator(_before)] = None,
) -> dict[str, Any]:
    return {"text": text, "number": number, "flag": flag, "id": id, "day": day}


@router.get("/required")
def required(day: date) -> dict[str, Any]:
    return {"day": day}


@router.get("/items/{item_id:int}")
def item(item_id: Annotated[int, Path(le=99)], request: Request) -> dict[str, Any]:
    return {"id": item_id, "url": str(request.url_for("item", item_id=item_id))}


@router.get("/cached")
def cached(
    first: Annotated[str, Depends(counted)], second: Annotated[str, Depends(uses_counted)]
) -> dict[str, str]:
    threads["endpoint"] = threading.get_ident()
    return {"first": first, "second": second}


@router.get("/mixed")
def mixed(path: Annotated[str, Depends(async_dependency)]) -> dict[str, str]:
    threads["endpoint"] = threading.get_ident()
    return {"path": path}


@router.get("/loop")
async def loop() -> dict[str, int]:
    return {"thread": threading.get_ident()}


@router.post("/status")
def status(response: Response) -> dict[str, str]:
    response.status_code = 202
    response.headers["X-Extra"] = "yes"
    return {"ok": "yes"}


@router.post("/cookie-on-response")
def cookie_on_response(value: Annotated[str, Depends(uses_counted)]) -> Response:
    return JSONResponse({"value": value}, status_code=201)


@router.delete("/gone", status_code=204)
def gone() -> None:
    return None


@router.post("/pairs", status_code=201)
def pairs(_: Annotated[None, Depends(refuses)], body: PairIn) -> dict[str, int]:
    return {"a": body.a}


@router.put("/pairs")
def put_pair(body: PairIn) -> dict[str, int]:
    return {"a": body.a}


def _client() -> TestClient:
    app = Starlette()
    app.router.routes.extend(router.routes)

    @exception_handler(app, RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{**e, "loc": list(e["loc"]), "input": str(e["input"])} for e in exc.errors()]
        return JSONResponse(errors, status_code=422)

    @exception_handler(app, PermissionError)
    async def _refused(_request: Request, exc: PermissionError) -> JSONResponse:
        return JSONResponse({"refused": str(exc)}, status_code=403)

    return TestClient(app)


@pytest.fixture
def client() -> Any:
    calls.clear()
    threads.clear()
    with _client() as test_client:
        yield test_client


def _types(response: Any) -> list[tuple[str, list[Any]]]:
    assert response.status_code == 422, response.text
    return [(error["type"], error["loc"]) for error in response.json()]


def test_query_values_are_converted_like_pydantic_did(client):
    some_id = uuid.uuid4()
    query = f"?textValue=abc&number=+7&flag=Yes&id={some_id.hex}&day=2030-01-02T00:00:00"
    assert client.get("/t/query" + query).json() == {
        "text": "abc",
        "number": 7,
        "flag": True,
        "id": str(some_id),
        "day": "2030-01-02",
    }
    assert client.get("/t/query").json() == {
        "text": None,
        "number": 3,
        "flag": False,
        "id": None,
        "day": None,
    }
    assert client.get("/t/query?number=%205%20&flag=0").json()["number"] == 5
    assert client.get("/t/query?number=1_0").json()["number"] == 10
    assert client.get("/t/query?number=2.0").json()["number"] == 2


@pytest.mark.parametrize(
    ("query", "kind", "key"),
    [
        ("textValue=abcdef", "string_too_long", "textValue"),
        ("number=0", "greater_than_equal", "number"),
        ("number=11", "less_than_equal", "number"),
        ("number=x", "int_parsing", "number"),
        ("number=", "int_parsing", "number"),
        ("number=1.5", "int_parsing", "number"),
        ("number=%EF%BC%91", "int_parsing", "number"),  # a full-width digit: int() takes it
        ("flag=maybe", "bool_parsing", "flag"),
        ("id=abc", "uuid_parsing", "id"),
        ("id=", "uuid_parsing", "id"),
        ("day=2030-02-30", "date_from_datetime_parsing", "day"),
        ("day=20300101", "date_from_datetime_parsing", "day"),  # date.fromisoformat takes it
    ],
)
def test_bad_query_values_are_refused_with_pydantic_error_types(client, query, kind, key):
    assert _types(client.get(f"/t/query?{query}")) == [(kind, ["query", key])]


def test_limits_and_errors_carry_pydantic_context(client):
    (error,) = client.get("/t/query?textValue=abcdef").json()
    assert error["ctx"] == {"max_length": 5}
    (error,) = client.get("/t/query?number=0").json()
    assert error["ctx"] == {"ge": 1}


def test_all_bad_values_are_reported_together_in_parameter_order(client):
    response = client.get("/t/query?flag=x&textValue=abcdef&number=0")
    assert _types(response) == [
        ("string_too_long", ["query", "textValue"]),
        ("greater_than_equal", ["query", "number"]),
        ("bool_parsing", ["query", "flag"]),
    ]
    assert _types(client.get("/t/required")) == [("missing", ["query", "day"])]


def test_path_values_come_converted_and_are_checked(client):
    assert client.get("/t/items/5").json() == {"id": 5, "url": "http://testserver/t/items/5"}
    assert _types(client.get("/t/items/100")) == [("less_than_equal", ["path", "item_id"])]
    assert client.get("/t/items/x").status_code == 404


def test_a_dependency_runs_once_per_request_in_the_endpoints_thread(client, monkeypatch):
    hops = []
    run_sync = to_thread.run_sync

    async def counting(fn: Any, *args: Any) -> Any:
        hops.append(fn)
        return await run_sync(fn, *args)

    monkeypatch.setattr(to_thread, "run_sync", counting)
    response = client.get("/t/cached")
    assert len(hops) == 1  # one trip to the thread pool for both dependencies and endpoint
    assert response.json() == {"first": "value", "second": "value!"}
    assert calls["counted"] == 1
    assert response.cookies["from_dependency"] == "1"
    loop_thread = client.get("/t/loop").json()["thread"]
    # one worker thread for dependency and endpoint, not the event loop's
    assert threads["dependency"] == threads["endpoint"] != loop_thread
    client.get("/t/cached")
    assert calls["counted"] == 2


def test_an_async_dependency_runs_on_the_loop_before_a_sync_endpoint(client):
    assert client.get("/t/mixed").json() == {"path": "/t/mixed"}
    loop_thread = client.get("/t/loop").json()["thread"]
    assert threads["async"] == loop_thread != threads["endpoint"]


def test_the_response_parameter_sets_status_and_headers_of_the_answer(client):
    response = client.post("/t/status")
    assert response.status_code == 202
    assert response.headers["x-extra"] == "yes"
    assert response.json() == {"ok": "yes"}
    response = client.post("/t/cookie-on-response")
    assert response.status_code == 201
    assert response.cookies["from_dependency"] == "1"


def test_none_with_204_is_an_empty_answer_and_get_routes_answer_head(client):
    response = client.delete("/t/gone")
    assert (response.status_code, response.content) == (204, b"")
    assert "content-type" not in response.headers
    head = client.head("/t/query")
    assert (head.status_code, head.content) == (200, b"")
    assert client.post("/t/query").status_code == 405


def test_a_json_body_is_read_by_the_model(client):
    assert client.put("/t/pairs", json={"a": 4}).json() == {"a": 4}
    assert _types(client.put("/t/pairs", json={"a": "x"})) == [("int_type", ["body", "a"])]
    assert _types(client.put("/t/pairs", json=[1])) == [("model_type", ["body"])]
    assert _types(client.put("/t/pairs")) == [("missing", ["body"])]
    json_suffix = {"content-type": "application/vnd.example+json; charset=utf-8"}
    assert client.put("/t/pairs", content=b'{"a": 1}', headers=json_suffix).json() == {"a": 1}


def test_a_body_not_declared_as_json_is_not_an_object(client):
    for headers in ({}, {"content-type": "text/plain"}):
        response = client.put("/t/pairs", content=b'{"a": 1}', headers=headers)
        assert _types(response) == [("model_attributes_type", ["body"])]


def test_unreadable_json_is_refused_before_the_dependencies_run(client):
    response = client.post(
        "/t/pairs", content=b"{bad", headers={"content-type": "application/json"}
    )
    (error,) = response.json()
    assert (error["type"], error["loc"], error["ctx"]) == (
        "json_invalid",
        ["body", 1],
        {"error": "Expecting property name enclosed in double quotes"},
    )
    # a readable body: the dependency refuses before the body is checked
    assert client.post("/t/pairs", json={"a": "x"}).status_code == 403
    response = client.put(
        "/t/pairs", content=b"\xff\xfe{", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400  # not UTF-8: Starlette's HTTPException


def needs_a_query_value(limit: int) -> int:
    return limit


def uses_query_dependency(value: Annotated[int, Depends(needs_a_query_value)]) -> None:
    return None


def takes_a_list(values: list[str]) -> None:
    return None


def test_unsupported_parameters_are_refused_when_the_route_is_registered():
    with pytest.raises(TypeError, match="dependency parameter 'limit'"):
        Router().get("/x")(uses_query_dependency)
    with pytest.raises(TypeError, match="not a supported query type"):
        Router().get("/y")(takes_a_list)
