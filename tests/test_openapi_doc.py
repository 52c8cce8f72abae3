"""The OpenAPI document (booking/api/openapi.json) is written by hand, so these tests keep it
honest: a valid OpenAPI 3.1 document, one operation for every API route of the app and no
operation the app lacks, and request bodies whose required fields are the ones the app requires.
tests/test_api_fuzz.py checks the answers against it."""

from __future__ import annotations

import json
import re
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import jsonschema_rs
import pytest
import schemathesis

from booking import __version__
from booking.api import docs
from tests.api.test_permission_matrix import api_routes
from tests.conftest import auth

DOCUMENT: dict[str, Any] = json.loads(docs.DOCUMENT.read_text(encoding="utf-8"))
METHODS = {"get", "put", "post", "delete", "patch", "options", "head", "trace"}
SERVED_BY_DOCS = {("GET", docs.OPENAPI_URL), ("GET", docs.DOCS_URL)}
CONVERTER = re.compile(r"\{(\w+):(\w+)\}")


def operations() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in DOCUMENT["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield method, path, operation


def pointer(ref: str) -> list[str]:
    assert ref.startswith("#/"), ref
    return [part.replace("~1", "/").replace("~0", "~") for part in ref[2:].split("/")]


def resolve(node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        target: Any = DOCUMENT
        for part in pointer(node["$ref"]):
            target = target[part]
        node = target
    return node


# --- (a) a valid OpenAPI 3.1 document --------------------------------------------------------


def test_it_is_a_valid_openapi_31_document():
    assert DOCUMENT["openapi"].startswith("3.1.")
    # The OpenAPI 3.1 meta-schema bundled with schemathesis (structure, not the JSON Schemas).
    schemathesis.openapi.from_dict(DOCUMENT).validate()


def test_every_json_schema_in_it_is_valid():
    schemas = [*DOCUMENT["components"]["schemas"].values()]
    for _method, _path, operation in operations():
        schemas += [parameter["schema"] for parameter in operation.get("parameters", [])]
        for response in [operation.get("requestBody", {}), *operation["responses"].values()]:
            schemas += [media["schema"] for media in response.get("content", {}).values()]
    for response in DOCUMENT["components"]["responses"].values():
        schemas += [media["schema"] for media in response.get("content", {}).values()]
    assert len(schemas) > 100
    for schema in schemas:
        jsonschema_rs.meta.validate(schema)  # JSON Schema 2020-12, the dialect of OpenAPI 3.1


def test_every_reference_resolves():
    refs: list[str] = []

    def collect(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                refs.append(node["$ref"])
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    collect(DOCUMENT)
    assert len(refs) > 100
    for ref in set(refs):
        target: Any = DOCUMENT
        for part in pointer(ref):
            assert isinstance(target, dict) and part in target, f"{ref} does not resolve"
            target = target[part]


def test_operation_ids_are_unique_and_path_parameters_declared():
    ids = Counter(operation["operationId"] for _m, _p, operation in operations())
    assert [name for name, count in ids.items() if count > 1] == []
    for method, path, operation in operations():
        in_template = set(re.findall(r"\{(\w+)\}", path))
        declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
        assert in_template == declared, (method, path)


def test_it_is_stored_pretty_printed():
    text = docs.DOCUMENT.read_text(encoding="utf-8")
    assert text == json.dumps(DOCUMENT, indent=2, ensure_ascii=False) + "\n"


# --- served by the app -----------------------------------------------------------------------


def test_the_app_serves_the_document_with_its_version(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    served = response.json()
    assert served["info"]["version"] == __version__
    assert {**served, "info": DOCUMENT["info"]} == DOCUMENT


def test_the_app_serves_swagger_ui_for_it(client):
    response = client.get("/api/docs")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert 'url: "/api/openapi.json"' in response.text
    assert "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js" in response.text


# --- (b) every API route documented, nothing documented that is not a route ------------------


def app_operations(app: Any) -> dict[tuple[str, str], str]:
    """(method, path as the document writes it) -> the route's own path."""
    found = {}
    for method, path in api_routes(app) - SERVED_BY_DOCS:
        template = CONVERTER.sub(r"{\1}", path)
        assert (method.lower(), template) not in found, f"two routes for {method} {template}"
        found[(method.lower(), template)] = path
    return found


def test_every_api_route_has_exactly_one_operation_and_vice_versa(client):
    routes = app_operations(client.app)
    assert len(routes) > 40  # the route listing found the routers
    documented = [(method, path) for method, path, _operation in operations()]
    shapes = Counter((method, re.sub(r"\{\w+\}", "{}", path)) for method, path in documented)
    assert [shape for shape, count in shapes.items() if count > 1] == []
    missing = sorted(f"{m.upper()} {p}" for m, p in set(routes) - set(documented))
    extra = sorted(f"{m.upper()} {p}" for m, p in set(documented) - set(routes))
    assert missing == [], "routes without an operation in booking/api/openapi.json"
    assert extra == [], "operations in booking/api/openapi.json the app does not have"


def test_path_parameter_types_match_the_route_converters(client):
    kinds = {"uuid": {"type": "string", "format": "uuid"}, "int": {"type": "integer"}}
    checked = 0
    for (method, template), path in app_operations(client.app).items():
        operation = DOCUMENT["paths"].get(template, {}).get(method)
        if operation is None:
            continue  # reported by the test above
        schemas = {p["name"]: p["schema"] for p in operation.get("parameters", [])}
        for name, converter in CONVERTER.findall(path):
            expected = kinds.get(converter)
            assert expected is not None, f"no expectation for the {converter} converter"
            schema = schemas[name]
            assert {key: schema.get(key) for key in expected} == expected, (method, template)
            checked += 1
    assert checked > 10


# --- (c) request bodies: the document's required fields are the app's ------------------------


def example(schema: dict[str, Any]) -> Any:
    """A value of the schema's type that passes request validation (the domain may refuse it)."""
    schema = resolve(schema)
    if "anyOf" in schema:
        return example(next(s for s in schema["anyOf"] if s.get("type") != "null"))
    kind = schema.get("type")
    if kind == "object":
        return {name: example(sub) for name, sub in schema.get("properties", {}).items()}
    if kind == "array":
        return [example(schema["items"])]
    if kind == "integer":
        return schema.get("minimum", 1)
    if kind == "boolean":
        return True
    if kind == "string" and schema.get("format") == "date":
        return "2031-03-10"
    if kind == "string" and schema.get("format") == "uuid":
        return str(uuid.uuid4())
    assert kind == "string", schema
    return "abc"[: schema.get("maxLength", 3)]


def members(schema: dict[str, Any], at: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Paths (within the example body) of every member, nested ones included."""
    schema = resolve(schema)
    for name, sub in schema.get("properties", {}).items():
        yield (*at, name)
        sub = resolve(sub)
        if sub.get("type") == "object":
            yield from members(sub, (*at, name))
        elif sub.get("type") == "array":
            yield from members(sub["items"], (*at, name, 0))


def is_required(schema: dict[str, Any], path: tuple[Any, ...]) -> bool:
    for part in path[:-1]:
        schema = resolve(schema)
        schema = schema["items"] if isinstance(part, int) else schema["properties"][part]
    return path[-1] in resolve(schema).get("required", [])


def wire_key(path: tuple[Any, ...]) -> str:
    """``("bookingItems", 0, "personCount")`` -> ``BookingItems[0].PersonCount``, the key of
    the 400's ``errors`` (booking/api/errors.py)."""
    key = ""
    for part in path:
        if isinstance(part, int):
            key += f"[{part}]"
        else:
            key += ("." if key else "") + part[:1].upper() + part[1:]
    return key


def without(body: Any, path: tuple[Any, ...]) -> Any:
    body = json.loads(json.dumps(body))
    target = body
    for part in path[:-1]:
        target = target[part]
    del target[path[-1]]
    return body


def with_json_body() -> list[tuple[str, str]]:
    return [
        (method, path)
        for method, path, operation in operations()
        if "application/json" in operation.get("requestBody", {}).get("content", {})
    ]


def url_for(path: str, operation: dict[str, Any]) -> str:
    """Path parameters that name nothing: validation answers before any lookup."""
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "path":
            value = str(uuid.uuid4()) if parameter["schema"].get("format") == "uuid" else "999999"
            path = path.replace("{" + parameter["name"] + "}", value)
    return path


@pytest.mark.parametrize(("method", "path"), with_json_body())
def test_request_body_required_fields_match_the_app(client, ctx, alice, method, path):
    """Leaving out a member the document requires is a 400 naming it; leaving out one it calls
    optional is not (as an administrator, so authorization passes and validation decides)."""
    operation = DOCUMENT["paths"][path][method]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    headers, url, full = auth(ctx, alice), url_for(path, operation), example(schema)
    wrong = []
    for field in members(schema):
        key = wire_key(field)
        response = client.request(method, url, headers=headers, json=without(full, field))
        errors = response.json().get("errors", {}) if response.status_code == 400 else {}
        refused = f"The {key.rsplit('.', 1)[-1]} field is required." in errors.get(key, [])
        if refused != is_required(schema, field):
            wrong.append(f"{key}: the app {'requires' if refused else 'does not require'} it")
    assert wrong == []
