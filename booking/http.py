"""Routes on plain Starlette: the few parts of FastAPI's ``APIRouter`` this app uses.

An endpoint's parameters are worked out once, when it is registered: the request, a
``Response`` for extra headers and cookies, dependencies (``Annotated[T, Depends(fn)]``,
called once per request however often they are asked for), the raw body (``bytes``), path
and query values (converted and checked by ``booking/lib/schema.py`` as pydantic did for
FastAPI), and a JSON body read by the request model's ``model_validate``. A request only walks
that plan. A sync endpoint runs with its sync dependencies in one worker thread; FastAPI made a
thread-pool trip for each.

The order is FastAPI's, because answers depend on it: an unreadable JSON body is refused
before the dependencies run (a 400 even without login), and the dependencies run before the
values are checked (without login a 401, not a 400 about the query).
"""

from __future__ import annotations

import inspect
import json
import re
import types
import typing
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date
from functools import partial
from typing import Annotated, Any, TypedDict, TypeVar, Unpack, cast

from anyio import to_thread
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ExceptionHandler

from booking.lib import schema

F = TypeVar("F", bound=Callable[..., Any])
E = TypeVar("E", bound=Exception)
Handler = Callable[[Request, E], Awaitable[Response]]
Errors = list[dict[str, Any]]
REQUIRED = inspect.Parameter.empty
NO_BODY: Any = object()


class Depends:
    """``Annotated[T, Depends(fn)]``: the parameter gets ``fn``'s result."""

    def __init__(self, dependency: Callable[..., Any]) -> None:
        self.dependency = dependency


@dataclass(frozen=True)
class Query:
    """``Annotated[T, Query(...)]``: the name in the URL (``alias``) and limits of a value."""

    alias: str | None = None
    max_length: int | None = None
    ge: int | None = None
    le: int | None = None

    def bounds(self) -> dict[str, int]:
        """The limits given, as ``schema.check_for`` takes them."""
        bounds = {"max_length": self.max_length, "ge": self.ge, "le": self.le}
        return {name: bound for name, bound in bounds.items() if bound is not None}


class Path(Query):
    """``Annotated[int, Path(ge=0)]``: limits of a path value."""


class RequestValidationError(Exception):
    """Bad path, query or body values. ``errors()`` has pydantic's shape, with the source
    (``path``, ``query``, ``body``) first in each ``loc``, as FastAPI's had."""

    def __init__(self, errors: Errors) -> None:
        super().__init__(errors)
        self._errors = errors

    def errors(self) -> Errors:
        return self._errors


def _error(kind: str, loc: tuple[Any, ...], msg: str, raw: Any, **ctx: Any) -> dict[str, Any]:
    return {"type": kind, "loc": loc, "msg": msg, "input": raw} | ({"ctx": ctx} if ctx else {})


# --- path and query values ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Value:
    """A path or query parameter of an endpoint."""

    name: str
    loc: tuple[str, str]  # ("path" or "query", the name in the URL)
    check: schema.Check  # a model field's check: limits and validators (WireDate's) included
    default: Any

    @classmethod
    def of(cls, name: str, hint: Any, default: Any, source: str) -> _Value:
        kind, extras = hint, []
        if typing.get_origin(kind) is Annotated:
            kind, *extras = typing.get_args(kind)
        # X | None: an absent value gets the default, a given one is checked as an X.
        if typing.get_origin(kind) in (typing.Union, types.UnionType):
            kind = next(arg for arg in typing.get_args(kind) if arg is not type(None))
        spec = next((extra for extra in extras if isinstance(extra, Query)), Query())
        validators = [extra for extra in extras if not isinstance(extra, Query)]
        # A date in a URL is YYYY-MM-DD only (a validator such as WireDate's may take others).
        field = schema.PlainDate if kind is date else kind
        try:
            if typing.get_origin(kind) is list or hasattr(kind, "model_validate"):
                raise TypeError("a URL has one text per name")
            check = schema.check_for(
                Annotated[(field, *validators)] if validators else field, **spec.bounds()
            )
        except TypeError as exc:
            raise TypeError(
                f"parameter {name!r}: {kind!r} is not a supported {source} type ({exc})"
            ) from exc
        return cls(name, (source, spec.alias or name), check, default)

    def value(self, raw: Any, errors: Errors) -> Any:
        if raw is None:
            if self.default is REQUIRED:
                errors.append(_error("missing", self.loc, "Field required", None))
            return self.default
        try:
            return self.check(raw)
        except schema.ValidationError as exc:
            errors.extend({**error, "loc": (*self.loc, *error["loc"])} for error in exc.errors())
            return None


# --- the plan of an endpoint -------------------------------------------------------------------


@dataclass(frozen=True)
class _Call:
    """A dependency or the endpoint, and what each parameter gets: the value stored under a
    key, which is ``Request``, ``Response``, ``bytes`` or a dependency function (its result)."""

    fn: Callable[..., Any]
    sources: tuple[tuple[str, Any], ...]

    def arguments(self, values: dict[Any, Any]) -> dict[str, Any]:
        return {name: values[key] for name, key in self.sources}


class _Endpoint:
    def __init__(
        self, fn: Callable[..., Any], path: str, status_code: int, dependencies: Sequence[Any]
    ) -> None:
        self.status_code = status_code
        self.calls: list[_Call] = []  # the dependencies, depth first, each once
        for dependency in dependencies:
            self._add(dependency)
        self.values: list[_Value] = []
        self.body: tuple[str, Any] | None = None
        self.endpoint = self._call(fn, set(re.findall(r"{(\w+)", path)))
        self.values.sort(key=lambda value: value.loc[0] != "path")  # FastAPI checks them first
        every = (*self.calls, self.endpoint)
        keys = {key for call in every for _, key in call.sources}
        self.reads_body = self.body is not None or bytes in keys
        self.wants_response = Response in keys
        self.in_thread = not any(inspect.iscoroutinefunction(call.fn) for call in every)

    def _add(self, dependency: Callable[..., Any]) -> Callable[..., Any]:
        if all(call.fn is not dependency for call in self.calls):
            self.calls.append(self._call(dependency, None))  # after its own dependencies
        return dependency

    def _call(self, fn: Callable[..., Any], path_names: set[str] | None) -> _Call:
        """``path_names`` is None for a dependency: it may ask only for the request, the
        response, the raw body and other dependencies."""
        hints = typing.get_type_hints(fn, include_extras=True)
        sources = []
        for name, parameter in inspect.signature(fn).parameters.items():
            hint = hints.get(name)
            extras = typing.get_args(hint)[1:] if typing.get_origin(hint) is Annotated else ()
            depends = next((extra for extra in extras if isinstance(extra, Depends)), None)
            if depends is not None:
                sources.append((name, self._add(depends.dependency)))
            elif hint in (Request, Response, bytes):
                sources.append((name, hint))
            elif path_names is None:
                raise TypeError(f"{fn.__qualname__}: dependency parameter {name!r} unsupported")
            elif isinstance(hint, type) and hasattr(hint, "model_validate"):
                self.body = (name, hint)
            else:
                source = "path" if name in path_names else "query"
                self.values.append(_Value.of(name, hint, parameter.default, source))
        return _Call(fn, tuple(sources))

    async def handle(self, request: Request) -> Response:
        values: dict[Any, Any] = {Request: request}
        if self.wants_response:
            # Its headers and cookies go onto the answer. Status 0 stands for "not set" (and
            # keeps Starlette from adding a content-length header).
            values[Response] = Response(status_code=0)
        body = NO_BODY
        if self.reads_body:
            values[bytes] = await request.body()
            if self.body is not None and values[bytes]:
                body = _decode(request, values[bytes])
        if self.in_thread:
            return await to_thread.run_sync(self._run, values, body)
        for call in self.calls:
            values[call.fn] = await _call(call.fn, call.arguments(values))
        result = await _call(self.endpoint.fn, self._arguments(values, body))
        return self._respond(result, values.get(Response))

    def _run(self, values: dict[Any, Any], body: Any) -> Response:
        for call in self.calls:
            values[call.fn] = call.fn(**call.arguments(values))
        result = self.endpoint.fn(**self._arguments(values, body))
        return self._respond(result, values.get(Response))

    def _arguments(self, values: dict[Any, Any], body: Any) -> dict[str, Any]:
        arguments = self.endpoint.arguments(values)
        request: Request = values[Request]
        errors: Errors = []
        for value in self.values:
            given = request.path_params if value.loc[0] == "path" else request.query_params
            arguments[value.name] = value.value(given.get(value.loc[1]), errors)
        if self.body is not None:
            arguments[self.body[0]] = _validate_body(self.body[1], body, errors)
        if errors:
            raise RequestValidationError(errors)
        return arguments

    def _respond(self, result: Any, scratch: Response | None) -> Response:
        if isinstance(result, Response):
            response = result
        elif result is None and self.status_code == 204:
            response = Response(status_code=204)
        else:
            response = _JSONResponse(result, status_code=self.status_code)
            if scratch is not None and scratch.status_code:
                response.status_code = scratch.status_code
        if scratch is not None:
            response.raw_headers.extend(scratch.raw_headers)
        return response


async def _call(fn: Callable[..., Any], arguments: dict[str, Any]) -> Any:
    if inspect.iscoroutinefunction(fn):
        return await fn(**arguments)
    return await to_thread.run_sync(partial(fn, **arguments))


def _decode(request: Request, raw: bytes) -> Any:
    """JSON if the content type says so (FastAPI's strict content type), else the bytes."""
    media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    main, _, sub = media.partition("/")
    if main != "application" or (sub != "json" and not sub.endswith("+json")):
        return raw
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        error = _error("json_invalid", ("body", exc.pos), "JSON decode error", {}, error=exc.msg)
        raise RequestValidationError([error]) from exc
    except ValueError as exc:  # not UTF-8 (nor -16 or -32)
        raise HTTPException(400, "There was an error parsing the body") from exc


def _validate_body(model: Any, body: Any, errors: Errors) -> Any:
    if body is NO_BODY:
        errors.append(_error("missing", ("body",), "Field required", None))
    elif isinstance(body, bytes):  # not sent as JSON
        text = "Input should be a valid dictionary or object to extract fields from"
        errors.append(_error("model_attributes_type", ("body",), text, body))
    else:
        try:
            return model.model_validate(body)
        except ValueError as exc:  # the model layer's ValidationError, with errors()
            if not hasattr(exc, "errors"):
                raise
            errors.extend({**error, "loc": ("body", *error["loc"])} for error in exc.errors())
    return None


class _JSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        text = json.dumps(
            content, ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=_jsonable
        )
        return text.encode()


def _jsonable(value: Any) -> str:
    """Ids and dates in a returned dict, as FastAPI's encoder wrote them."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


# --- routers -----------------------------------------------------------------------------------


class RouteOptions(TypedDict, total=False):
    status_code: int
    name: str | None
    include_in_schema: bool


class Router:
    """Routes under a prefix (plain Starlette ``Route``s in ``routes``); ``dependencies`` run
    first for each of them. A route's name is its function's (for ``request.url_for``)."""

    def __init__(
        self,
        prefix: str = "",
        *,
        dependencies: Sequence[Callable[..., Any]] = (),
        include_in_schema: bool = True,
    ) -> None:
        self.prefix = prefix
        self.dependencies = dependencies
        self.include_in_schema = include_in_schema
        self.routes: list[Route] = []

    def add_api_route(
        self,
        path: str,
        endpoint: Callable[..., Any],
        *,
        methods: list[str],
        status_code: int = 200,
        name: str | None = None,
        include_in_schema: bool = True,
    ) -> None:
        path = self.prefix + path
        plan = _Endpoint(endpoint, path, status_code, self.dependencies)
        self.routes.append(
            Route(
                path,
                plan.handle,
                methods=methods,  # and HEAD with GET
                name=name or endpoint.__name__,
                include_in_schema=include_in_schema and self.include_in_schema,
            )
        )

    def _route(self, method: str, path: str, options: RouteOptions) -> Callable[[F], F]:
        def register(fn: F) -> F:
            self.add_api_route(path, fn, methods=[method], **options)
            return fn

        return register

    def get(self, path: str, **options: Unpack[RouteOptions]) -> Callable[[F], F]:
        return self._route("GET", path, options)

    def post(self, path: str, **options: Unpack[RouteOptions]) -> Callable[[F], F]:
        return self._route("POST", path, options)

    def put(self, path: str, **options: Unpack[RouteOptions]) -> Callable[[F], F]:
        return self._route("PUT", path, options)

    def patch(self, path: str, **options: Unpack[RouteOptions]) -> Callable[[F], F]:
        return self._route("PATCH", path, options)

    def delete(self, path: str, **options: Unpack[RouteOptions]) -> Callable[[F], F]:
        return self._route("DELETE", path, options)


def exception_handler(app: Starlette, exc_class: type[E]) -> Callable[[Handler[E]], Handler[E]]:
    """``@exception_handler(app, NotFound)``: ``app.add_exception_handler`` for a handler
    typed with its exception class."""

    def register(handler: Handler[E]) -> Handler[E]:
        app.add_exception_handler(exc_class, cast(ExceptionHandler, handler))
        return handler

    return register
